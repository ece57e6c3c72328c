"""The model on JAX, on the CPU, with TensorFlow out of reach.

Keras picks its backend when it is first imported, and this process runs TensorFlow's;
so the JAX side runs in a child process (``tests/gpt1/jax_worker.py``) with
``KERAS_BACKEND=jax``, in which importing TensorFlow fails, as on a machine that does not
have it. The child loads a preset this process saved with TensorFlow and reports what it
measured: the logits and class logits against TensorFlow's, KerasHub's cached generation
against a full forward pass per token, and a few training steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.gpt1.classifier import build_classifier
from gpt_lesson.gpt1.presets import save_preset

REPO = Path(__file__).resolve().parents[2]
CONFIG = GPTConfig(
    vocab_size=97, sequence_length=16, hidden_dim=32, num_layers=2, num_heads=4,
    intermediate_dim=64, normalize_first=True,
)  # fmt: skip
EXTRACT_ID = 96


@pytest.fixture(scope="module")
def jax_report(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(0)
    model = build_gpt(CONFIG)
    # Layer norms away from their initial (1, 0), so a mix-up of scale and shift would show.
    for weight in model.weights:
        if "layer_norm" in weight.path:
            weight.assign(np.random.default_rng(1).normal(1.0, 0.3, weight.shape))
    save_preset(model, folder / "preset")
    rng = np.random.default_rng(0)
    token_ids = rng.integers(0, EXTRACT_ID, size=(4, CONFIG.sequence_length)).astype("int32")
    classifier_ids = token_ids.copy()
    classifier_ids[:, 9] = EXTRACT_ID  # the extract token, where the head reads
    classifier = build_classifier(model, CONFIG, EXTRACT_ID, num_classes=3)
    head = classifier.head.w_y  # W_y
    head_kernel, head_bias = head.get_weights()
    head.set_weights([head_kernel, head_bias + 0.5])  # a bias that must be carried over
    np.savez(
        folder / "inputs.npz",
        token_ids=token_ids,
        logits=np.asarray(model(token_ids)),
        classifier_ids=classifier_ids,
        class_logits=np.asarray(classifier(classifier_ids)["label"]),
        extract_id=EXTRACT_ID,
        head_kernel=head_kernel,
        head_bias=head_bias + 0.5,
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    child = subprocess.run(
        [sys.executable, str(REPO / "tests" / "gpt1" / "jax_worker.py"), str(folder)],
        capture_output=True, text=True, timeout=600, env=env, cwd=REPO,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-4000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_the_model_core_runs_on_jax_with_tensorflow_unimportable(jax_report):
    assert jax_report["backend"] == "jax"
    assert jax_report["tensorflow_imported"] == []


def test_a_preset_saved_under_tensorflow_gives_the_same_logits_under_jax(jax_report):
    assert jax_report["logits_difference"] < 1e-5


def test_the_classifier_head_gives_the_same_class_logits_under_jax(jax_report):
    assert jax_report["class_logits_difference"] < 1e-5


def test_cached_generation_equals_a_full_forward_pass_per_token_under_jax(jax_report):
    cached, uncached = jax_report["cached_ids"], jax_report["uncached_ids"]
    assert np.shape(cached) == (2, 12)
    assert cached == uncached


def test_a_few_training_steps_lower_the_loss_under_jax(jax_report):
    losses = jax_report["losses"]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0]
