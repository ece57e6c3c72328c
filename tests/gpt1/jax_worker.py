"""The JAX side of ``tests/gpt1/test_backends.py``, run in a child process.

Started with ``KERAS_BACKEND=jax`` and the folder the parent wrote (a preset saved under
TensorFlow, token ids, and the TensorFlow backend's logits and class logits). TensorFlow
is made unimportable first, as on a machine without it. Prints one line of JSON: what it
measured.
"""

from __future__ import annotations

import sys

for _name in ("tensorflow", "tensorflow_text"):
    sys.modules[_name] = None  # ``import tensorflow`` now fails as if it were not installed

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from gpt_lesson.gpt1.causal_lm import GPT1CausalLM  # noqa: E402
from gpt_lesson.gpt1.classifier import build_classifier  # noqa: E402


def largest_difference(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64")).max())


def greedy_without_cache(model: GPT1CausalLM, prompt: np.ndarray, length: int) -> np.ndarray:
    """Greedy decoding by a full forward pass over the sequence so far, per new token."""
    ids = prompt
    while ids.shape[1] < length:
        logits = np.asarray(model(ids, training=False))
        ids = np.concatenate([ids, logits[:, -1:].argmax(axis=-1).astype(ids.dtype)], axis=1)
    return ids


def main(folder: Path) -> dict:
    inputs = np.load(folder / "inputs.npz")
    ids = inputs["token_ids"]
    model = GPT1CausalLM.from_preset(str(folder / "preset"), preprocessor=None)
    report = {"backend": keras.backend.backend()}
    report["logits_difference"] = largest_difference(model(ids), inputs["logits"])

    config = model.backbone.gpt_config
    classifier = build_classifier(model, config, int(inputs["extract_id"]), num_classes=3)
    head = classifier.head.w_y  # W_y
    head.set_weights([inputs["head_kernel"], inputs["head_bias"]])
    class_logits = classifier(inputs["classifier_ids"], training=False)["label"]
    report["class_logits_difference"] = largest_difference(class_logits, inputs["class_logits"])

    # KerasHub's generate, compiled by JAX, through call_with_cache; against no cache.
    prompt, length = ids[:2, :5], 12
    model.compile(sampler="greedy")
    padded = np.zeros((2, length), dtype="int32")
    padded[:, :5] = prompt
    mask = np.zeros((2, length), dtype=bool)
    mask[:, :5] = True
    cached = model.generate(
        {"token_ids": padded, "padding_mask": mask}, max_length=length, stop_token_ids=None
    )
    report["cached_ids"] = np.asarray(cached["token_ids"]).tolist()
    report["uncached_ids"] = greedy_without_cache(model, prompt, length).tolist()

    # KerasHub's Task.fit builds its input pipeline with tf.data or Grain; the same layers
    # as a plain Keras model train from NumPy arrays on any backend.
    language_model = keras.Model(model.inputs, model.outputs)
    language_model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = language_model.fit(ids[:, :-1], ids[:, 1:], epochs=10, batch_size=len(ids), verbose=0)
    report["losses"] = [float(loss) for loss in history.history["loss"]]
    report["tensorflow_imported"] = sorted(
        name for name, module in sys.modules.items() if name.startswith("tensorflow") and module
    )
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
