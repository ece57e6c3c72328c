"""Presets saved by an earlier layout of the package still load and compute what they did.

``tests/fixtures/presets`` was written by ``tests/fixtures/make_presets.py`` at commit 313f939,
before the package was laid out by idea; ``expected.json`` holds what its models computed then.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from gpt_lesson import GPT1CausalLM, load_checkpoint, load_classifier

PRESETS = Path(__file__).parents[1] / "fixtures" / "presets"


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((PRESETS / "expected.json").read_text(encoding="utf-8"))


def test_the_causal_lm_loads_with_its_trimmed_tokenizer_and_computes_the_same_logits(expected):
    checkpoint = load_checkpoint(PRESETS / "causal_lm")
    assert checkpoint.tokenizer.encode(expected["prompt"]) == expected["prompt_ids"]
    backbone = checkpoint.model.backbone
    hidden = backbone(np.asarray([expected["prompt_ids"]], dtype="int32"))
    logits = np.asarray(backbone.token_embedding(hidden, reverse=True))[0]
    np.testing.assert_allclose(logits, expected["logits"], atol=1e-5)
    ids = checkpoint.to_gpt2_ids(expected["prompt_ids"])
    assert checkpoint.to_model_ids(ids).tolist() == expected["prompt_ids"]


def test_the_causal_lm_s_vocabulary_is_read_from_its_gpt2_ids_json():
    """Before the tokenizer held its GPT-2 ids, a preset kept them in ``gpt2_ids.json``."""
    folder = PRESETS / "causal_lm"
    saved = json.loads((folder / "gpt2_ids.json").read_text(encoding="utf-8"))
    assert load_checkpoint(folder).vocabulary.gpt2_ids == tuple(saved)


def test_the_causal_lm_loads_through_keras_hub_alone():
    model = GPT1CausalLM.from_preset(str(PRESETS / "causal_lm"))
    assert model.preprocessor is not None
    assert model.generate("First", max_length=8)  # the cached loop runs on the old weights


def test_the_classifier_loads_and_gives_the_same_probabilities(expected):
    classifier = load_classifier(PRESETS / "classifier")
    probabilities = classifier.probabilities(expected["sentences"])
    np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-5)
    assert classifier.labels == ("unacceptable", "acceptable")
