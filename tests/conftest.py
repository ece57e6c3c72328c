"""Shared fixtures: the real GPT-2 tokenizer and corpus, fetched once per test session, and
an editor of a preset's backbone config."""

import json
from pathlib import Path

import pytest

from gpt_lesson.data import read_text
from gpt_lesson.tokenizer import GPT2Tokenizer, load_gpt2_tokenizer


@pytest.fixture(scope="session")
def tokenizer() -> GPT2Tokenizer:
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
