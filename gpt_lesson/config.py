"""Model and training configurations (``GPTConfig``, ``PRESETS``, ``TrainConfig``,
``TRAINING``) and run profiles (``GPT_LESSON_PROFILE``).

A ``GPTConfig`` is everything ``build_gpt`` needs to know; it refuses, with a message
that says what to change, any combination that cannot work. A profile sizes the
chapters' computations: ``quick`` is what CI runs, the default is what the stored
notebook outputs were produced with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_VARIABLE = "GPT_LESSON_PROFILE"
GPT2_VOCAB_SIZE = 50_260  # GPT-2's 50,257 tokens + the seed's pad, start and end
PAPER_VOCAB_SIZE = 40_478  # GPT-1's own BPE vocabulary (40,000 merges)


@dataclass(frozen=True)
class GPTConfig:
    """The shape of a GPT-1-style decoder-only Transformer."""

    vocab_size: int = GPT2_VOCAB_SIZE
    sequence_length: int = 512  # the context k: positions the model can see
    hidden_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_dim: int = 3072  # width of the feed-forward block
    dropout: float = 0.1  # on embeddings, attention weights and residual branches
    normalize_first: bool = False  # False: post-LN as in GPT-1; True: pre-LN as in GPT-2
    activation: str = "gelu"  # exact; "gelu_approximate": the tanh form of the released models
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02  # weights ~ N(0, 0.02), as in the paper

    def __post_init__(self) -> None:
        positive = ("vocab_size", "sequence_length", "hidden_dim", "num_layers", "num_heads")
        for name in (*positive, "intermediate_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be at least 1, got {getattr(self, name)}.")
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                f"GPTConfig.hidden_dim={self.hidden_dim} must be divisible by "
                f"num_heads={self.num_heads}: each head gets hidden_dim / num_heads dimensions."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}.")

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads


PRESETS: dict[str, GPTConfig] = {
    # The blog's sizes: context 64, width 512, 12 layers of 8 heads, FFN 1024.
    "blog": GPTConfig(
        sequence_length=64, hidden_dim=512, num_layers=12, num_heads=8, intermediate_dim=1024
    ),
    # The paper's model: 12 layers, 768 wide, 12 heads, FFN 3072, context 512, post-LN.
    "gpt1": GPTConfig(),
    # The best model found for 15 minutes on 2 CPU cores (chapter 3 measures it). Its
    # training recipe trims vocab_size to the ids the corpus uses, the 256 bytes and the
    # tokens GPT-2's merges need to reach them (13,259 in all).
    "lesson": GPTConfig(
        sequence_length=128,
        hidden_dim=192,
        num_layers=4,
        num_heads=4,
        intermediate_dim=768,
        dropout=0.1,
        normalize_first=True,
    ),
    # Seconds per step on a CPU: for CI and for trying things out.
    "quick": GPTConfig(
        sequence_length=32, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64
    ),
}


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the paper's choices where they fit a laptop."""

    batch_size: int = 32
    learning_rate: float = 2.5e-4  # peak, reached after the warmup (paper: 2.5e-4)
    warmup_steps: int = 2000  # linear warmup, then cosine decay to 0 (paper: 2000)
    epochs: int = 100
    weight_decay: float = 0.01  # decoupled (AdamW), on weight matrices only
    clipnorm: float = 1.0  # gradient clipping by global norm
    seed: int = 0
    jit_compile: bool = True  # XLA: fuses the step into fewer, faster kernels
    max_minutes: float | None = None  # stop at the first batch past this; the epoch closes
    max_steps_per_epoch: int | None = None  # cap for quick runs; None: whole corpus
    trim_vocabulary: bool = False  # output units only for the ids the corpus uses
    # Each epoch cuts the text into windows at a new random offset, so the windows change from
    # epoch to epoch (GPT-1 sampled random contiguous spans); fixed cuts repeat every window.
    shift_windows: bool = True
    save_every: int = 200  # batches between saves of the resume state (and every epoch end)


TRAINING: dict[str, TrainConfig] = {
    "blog": TrainConfig(batch_size=16, epochs=3),
    "gpt1": TrainConfig(batch_size=64, epochs=100),
    "lesson": TrainConfig(
        batch_size=16,
        learning_rate=1e-3,
        warmup_steps=100,
        epochs=7,
        max_minutes=15.0,
        trim_vocabulary=True,
    ),
    "quick": TrainConfig(
        batch_size=8,
        learning_rate=3e-3,
        warmup_steps=4,
        epochs=2,
        max_steps_per_epoch=8,
        jit_compile=False,
        trim_vocabulary=True,
    ),
}


def get_preset(name: str) -> GPTConfig:
    """The preset called ``name``; an unknown name lists the known ones."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; known presets: {', '.join(PRESETS)}.")
    return PRESETS[name]


@dataclass(frozen=True)
class Profile:
    """What changes between a quick check and the book's real run."""

    name: str
    pretrain_preset: str  # the preset chapter 3 trains


PROFILES: dict[str, Profile] = {
    "default": Profile(name="default", pretrain_preset="lesson"),
    "quick": Profile(name="quick", pretrain_preset="quick"),
}


def current_profile() -> Profile:
    """The profile named by ``GPT_LESSON_PROFILE`` (``default`` when unset)."""
    name = os.environ.get(PROFILE_VARIABLE, "default").strip() or "default"
    if name not in PROFILES:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(
            f"{PROFILE_VARIABLE}={name!r} is not a known profile; use one of: {known}."
        )
    return PROFILES[name]


def parameter_count(config: GPTConfig) -> int:
    """The number of weights of ``gpt_lesson.gpt1.build_gpt(config)``, from the config alone.

    Embeddings V*d + T*d; per block: attention 4(d*d + d), feed-forward
    d*f + f + f*d + d, two layer norms 2(2d); a final layer norm 2d for pre-LN.
    The output projection is tied to the token embedding, so it adds nothing.
    """
    d, f = config.hidden_dim, config.intermediate_dim
    embeddings = (config.vocab_size + config.sequence_length) * d
    attention = 4 * (d * d + d)
    feed_forward = d * f + f + f * d + d
    layer_norms = 2 * (2 * d)
    final_norm = 2 * d if config.normalize_first else 0
    return embeddings + config.num_layers * (attention + feed_forward + layer_norms) + final_norm
