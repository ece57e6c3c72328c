"""Shared fixtures: the real GPT-2 tokenizer and corpus, fetched once per test session."""

import pytest

from gpt_lesson.data import read_text
from gpt_lesson.tokenizer import GPT2Tokenizer, load_gpt2_tokenizer


@pytest.fixture(scope="session")
def tokenizer() -> GPT2Tokenizer:
    return load_gpt2_tokenizer()


@pytest.fixture(scope="session")
def shakespeare() -> str:
    return read_text("shakespeare")
