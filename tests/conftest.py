"""Shared fixtures: the real GPT-2 tokenizer and corpus, fetched once per test session, and
an editor of a preset's backbone config."""

import json
from pathlib import Path

import pytest
from tokenizers import pre_tokenizers

from gpt_lesson.data import read_text
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer, load_gpt2_tokenizer


@pytest.fixture(scope="session")
def tokenizer() -> BookGPT2Tokenizer:
    return load_gpt2_tokenizer()


@pytest.fixture(scope="session")
def shakespeare() -> str:
    return read_text("shakespeare")


@pytest.fixture
def edit_backbone_config():
    """A function that applies ``change`` (a function of the backbone's config dict) to a
    preset's backbone in both files that describe it: ``config.json`` and ``task.json``."""
    return _edit_backbone_config


def _edit_backbone_config(folder: Path, change) -> None:
    for name in ("config.json", "task.json"):
        record = json.loads((folder / name).read_text(encoding="utf-8"))
        backbone = record if name == "config.json" else record["config"]["backbone"]
        change(backbone["config"])
        (folder / name).write_text(json.dumps(record), encoding="utf-8")


# Hand-made vocabularies in Hugging Face's format. GPT-1's: letters, digits and a few marks,
# each alone and ending a word (</w>), then merges in the order they apply. GPT-2's: its 256
# byte symbols and a few merges.
GPT1_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789,.!?'"
MERGES = {
    "openai-gpt": ["t h", "th e</w>", "c a", "ca t</w>", "s a", "sa t</w>", "o n</w>"],
    "gpt2": ["Ġ t", "h e", "Ġt he", "Ġ c", "a t", "Ġc at"],
}


def _write_tokenizer_files(folder: Path, model_type: str) -> int:
    """Writes a tiny ``vocab.json`` and ``merges.txt`` of ``model_type`` ("openai-gpt" or
    "gpt2") into ``folder``, the merges after their ``#version`` line; returns the number
    of tokens."""
    if model_type == "gpt2":
        tokens = sorted(pre_tokenizers.ByteLevel.alphabet())
    else:
        tokens = [t for c in GPT1_CHARACTERS for t in (c, c + "</w>")]
    merges = MERGES[model_type]
    tokens += [merge.replace(" ", "") for merge in merges]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return len(tokens)


@pytest.fixture(scope="session")
def write_tokenizer_files():
    """A function that writes a tiny GPT-1 or GPT-2 tokenizer's files into a folder."""
    return _write_tokenizer_files


@pytest.fixture(scope="session")
def gpt1_files(tmp_path_factory) -> tuple[Path, Path]:
    """``vocab.json`` and ``merges.txt`` of a tiny GPT-1 tokenizer."""
    folder = tmp_path_factory.mktemp("gpt1-tokenizer")
    _write_tokenizer_files(folder, "openai-gpt")
    return folder / "vocab.json", folder / "merges.txt"
