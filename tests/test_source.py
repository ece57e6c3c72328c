"""Code shown in the chapters is read from the package itself."""

import inspect

import pytest

from gpt_lesson import model, objectives
from gpt_lesson.source import source


def test_the_shown_code_is_the_package_s_own_source():
    shown = source(model.build_gpt)
    assert shown.where == "gpt_lesson/model.py: build_gpt"
    assert shown.code == inspect.getsource(model.build_gpt)
    assert repr(shown).splitlines()[0] == "# gpt_lesson/model.py: build_gpt"
    assert repr(shown).splitlines()[1].startswith("def build_gpt(config: GPTConfig)")


def test_several_objects_are_shown_in_order_and_highlighted_as_html():
    shown = source(objectives.masked_lm_loss, objectives.MaskedLMLoss)
    assert shown.where == "gpt_lesson/objectives.py: masked_lm_loss, MaskedLMLoss"
    assert shown.code.index("def masked_lm_loss") < shown.code.index("class MaskedLMLoss")
    page = shown._repr_html_()
    assert "gpt_lesson/objectives.py" in page and "<span" in page
    assert "masked_lm_loss" in page


def test_nothing_to_show_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        source()
