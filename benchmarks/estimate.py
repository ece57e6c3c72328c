"""Back-of-the-envelope memory and time of a training step, from the config alone.

Memory (float32, Adam): weights, gradients and Adam's two moments are 4 copies of the N
parameters, 16·N bytes. Activations kept for the backward pass follow Korthikanti et al.
(2022, "Reducing activation recomputation in large transformer models"): per layer,
T·B·d·(34 + 5·a·T/d) bytes with 16-bit activations, about twice that in float32; on top
of that the logits and their gradient, B·T·V values each. Time: FLOPs per step
(``benchmarks.flops``) divided by the throughput the device sustains.

``python -m benchmarks.estimate`` prints the time to fine-tune the released GPT-1 on CoLA
on a CPU (the book's page "The real weights"), every input and assumption with it.
"""

from __future__ import annotations

import dataclasses
import json

from benchmarks.flops import training_flops_per_token
from gpt_lesson.config import PAPER_VOCAB_SIZE, PRESETS, GPTConfig, parameter_count
from gpt_lesson.tasks.fine_tuning import FinetuneConfig

# book/scaling.md's CPU: 2 cores at about 0.16 TFLOP/s peak (float32, AVX2 FMA at 2.5 GHz),
# of which a training step is assumed to sustain 30%.
CPU_PEAK_TFLOPS, CPU_UTILISATION = 0.16, 0.30
APPENDED_ROWS = 5  # <unk>, pad, start, delimiter, extract (gpt_lesson.tokenizer.gpt1)


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


def finetune_seconds(
    config: GPTConfig, train_tokens: float, scored_tokens: float, sustained_tflops: float
) -> float:
    """Seconds to train on ``train_tokens`` (6·N + attention FLOPs per token, the LM head
    included, as L1 needs its logits) and score ``scored_tokens`` (forward only: a third),
    at ``sustained_tflops``. ``config.sequence_length`` is the length of the batches, which
    the attention term grows with."""
    per_token = training_flops_per_token(config)
    return (train_tokens + scored_tokens / 3) * per_token / (sustained_tflops * 1e12)


def cola_tokens(lengths: dict[str, list[int]], config: FinetuneConfig) -> tuple[int, int]:
    """Tokens fine-tuning on CoLA trains on and scores: every training sentence with its
    start and extract tokens, each epoch; the validation split at every point of the curve
    and once at the end, with both dev sets (``gpt_lesson.tasks.cola.run_once``)."""
    tokens = {name: sum(length + 2 for length in split) for name, split in lengths.items()}
    curve_points = config.evaluations_per_epoch * config.epochs
    scored = (curve_points + 1) * tokens["validation"] + tokens["dev"] + tokens["dev_out_of_domain"]
    return config.epochs * tokens["train"], scored


def released_gpt1(sequence_length: int) -> GPTConfig:
    """The released GPT-1's shape, its vocabulary with the rows the book appends."""
    return dataclasses.replace(
        PRESETS["gpt1"],
        vocab_size=PAPER_VOCAB_SIZE + APPENDED_ROWS,
        sequence_length=sequence_length,
    )


def gpt1_on_cola() -> dict:
    """The estimate for the paper's recipe (3 epochs, batches of 32) on the book's CoLA
    splits. GPT-1's own vocabulary is not on the data mirror, so its token counts are
    assumed to be GPT-2's (whose BPE has 50,000 merges to GPT-1's 40,000)."""
    from gpt_lesson.data import read_cola
    from gpt_lesson.tasks.cola import carve_validation
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    tokenizer = load_gpt2_tokenizer()
    train, validation = carve_validation(read_cola("train"))
    splits = {"train": train, "validation": validation}
    splits |= {name: read_cola(name) for name in ("dev", "dev_out_of_domain")}
    lengths = {
        n: [len(tokenizer.encode(s)) for s in split.sentences] for n, split in splits.items()
    }
    recipe = FinetuneConfig()
    train_tokens, scored_tokens = cola_tokens(lengths, recipe)
    mean_length = train_tokens / recipe.epochs / len(lengths["train"])
    config = released_gpt1(round(mean_length))
    sustained = CPU_PEAK_TFLOPS * CPU_UTILISATION
    seconds = finetune_seconds(config, train_tokens, scored_tokens, sustained)
    return {
        "sentences": {name: len(split) for name, split in lengths.items()},
        "mean_tokens_per_training_sequence": mean_length,
        "train_tokens": train_tokens,
        "scored_tokens": scored_tokens,
        "parameters": parameter_count(released_gpt1(512)),  # with its 512 positions
        "training_flops_per_token": training_flops_per_token(config),
        "sustained_tflops": sustained,
        "cpu_hours": seconds / 3600,
    }


if __name__ == "__main__":
    print(json.dumps(gpt1_on_cola(), indent=2))
