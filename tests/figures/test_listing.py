"""Code shown in the chapters is read from the package itself."""

import inspect

import pytest

from gpt_lesson.figures.listing import source
from gpt_lesson.gpt1 import backbone as model
from gpt_lesson.pretraining import objectives


def test_the_shown_code_is_the_package_s_own_source():
    shown = source(model.build_gpt)
    assert shown.where == "gpt_lesson/gpt1/backbone.py: build_gpt"
    assert shown.code == inspect.getsource(model.build_gpt)
    assert repr(shown).splitlines()[0] == "# gpt_lesson/gpt1/backbone.py: build_gpt"
    assert repr(shown).splitlines()[1].startswith("def build_gpt(config: GPTConfig)")


def test_several_objects_are_shown_in_order_and_highlighted_as_html():
    shown = source(objectives.masked_lm_loss, objectives.MaskedLMLoss)
    assert shown.where == "gpt_lesson/pretraining/objectives.py: masked_lm_loss, MaskedLMLoss"
    assert shown.code.index("def masked_lm_loss") < shown.code.index("class MaskedLMLoss")
    page = shown._repr_html_()
    assert "gpt_lesson/pretraining/objectives.py" in page and "<span" in page
    assert "masked_lm_loss" in page


def test_nothing_to_show_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        source()
