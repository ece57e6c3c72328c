"""Training FLOPs per token and model FLOPs utilisation (MFU): how close a step is to the
machine's limit.

A training step multiplies every weight matrix by the activations three times per token
(forward, and two products backward), two FLOPs (a multiply and an add) each: 6 FLOPs per
matmul weight per token. Attention adds products that have no weights: per layer and token,
q·kᵀ and the weighted sum of values each cost 2·T·d FLOPs forward over a context of T (full
T×T matrices, as the kernels compute them, although the causal mask discards half), so
12·L·d·T for forward and backward. Embedding lookups are gathers (no FLOPs); biases,
layer norms, softmax and the optimizer are element-wise and left out, as in the usual
6·N + attention estimate (PaLM, appendix B).
"""

from __future__ import annotations

from gpt_lesson.config import GPTConfig


def matmul_parameters(config: GPTConfig) -> int:
    """Weights that take part in a matrix product per token: per layer q, k, v and the
    output projection (4·d²) and the two feed-forward matrices (2·d·f), plus the output
    projection to the vocabulary (V·d, tied or not). The token and position embeddings are
    looked up, not multiplied, and are not counted."""
    d, f = config.hidden_dim, config.intermediate_dim
    return config.num_layers * (4 * d * d + 2 * d * f) + config.vocab_size * d


def attention_flops_per_token(config: GPTConfig) -> int:
    """12·L·d·T: q·kᵀ and attention·v, 2·T·d FLOPs each forward, three times for training."""
    return 12 * config.num_layers * config.hidden_dim * config.sequence_length


def training_flops_per_token(config: GPTConfig) -> int:
    """6·N_matmul + 12·L·d·T: FLOPs of one training step (forward and backward) per token."""
    return 6 * matmul_parameters(config) + attention_flops_per_token(config)


def model_flops_utilisation(
    tokens_per_second: float, flops_per_token: float, peak_gflops: float
) -> float:
    """The fraction of the machine's measured dense matmul throughput a step turns into
    model FLOPs: tokens/s · FLOPs/token ÷ peak FLOP/s."""
    if peak_gflops <= 0:
        raise ValueError(f"peak_gflops must be positive, got {peak_gflops}.")
    return tokens_per_second * flops_per_token / (peak_gflops * 1e9)


def matmul_gflops(n: int, seconds: float) -> float:
    """GFLOP/s of one n×n by n×n product (2·n³ FLOPs: n³ multiplies and adds) in ``seconds``."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}.")
    return 2 * n**3 / seconds / 1e9
