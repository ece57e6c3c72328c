"""Back-of-the-envelope memory and time of a training step, from the config alone.

Memory (float32, Adam): weights, gradients and Adam's two moments are 4 copies of the N
parameters, 16·N bytes. Activations kept for the backward pass follow Korthikanti et al.
(2022, "Reducing activation recomputation in large transformer models"): per layer,
T·B·d·(34 + 5·a·T/d) bytes with 16-bit activations, about twice that in float32; on top
of that the logits and their gradient, B·T·V values each. Time: FLOPs per step
(``benchmarks.flops``) divided by the throughput the device sustains.
"""

from __future__ import annotations

from benchmarks.flops import training_flops_per_token
from gpt_lesson.config import GPTConfig
from gpt_lesson.model import parameter_count


def optimizer_state_bytes(config: GPTConfig) -> int:
    """Weights, gradients and Adam's first and second moments: 4 float32 copies of N."""
    return 4 * 4 * parameter_count(config)


def activation_bytes(config: GPTConfig, batch_size: int, bytes_per_value: int = 4) -> int:
    """Activations saved for backward: Korthikanti et al.'s per-layer count, scaled from
    their 16-bit figure to ``bytes_per_value``, plus the logits and their gradient."""
    t, d = config.sequence_length, config.hidden_dim
    per_layer_16bit = t * batch_size * d * (34 + 5 * config.num_heads * t / d)
    layers = config.num_layers * per_layer_16bit * bytes_per_value / 2
    logits = 2 * batch_size * t * config.vocab_size * bytes_per_value
    return round(layers + logits)


def training_memory_bytes(config: GPTConfig, batch_size: int) -> int:
    """Float32 training: optimizer state plus activations of one batch."""
    return optimizer_state_bytes(config) + activation_bytes(config, batch_size)


def step_seconds(config: GPTConfig, batch_size: int, sustained_tflops: float) -> float:
    """Seconds per step at ``sustained_tflops`` (peak × the MFU the device reaches)."""
    tokens = batch_size * config.sequence_length
    return tokens * training_flops_per_token(config) / (sustained_tflops * 1e12)
