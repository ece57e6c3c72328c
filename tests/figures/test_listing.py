"""Code shown in the chapters is read from the package itself."""

import inspect

import pytest

from gpt_lesson.figures import listing, plots
from gpt_lesson.figures.listing import Listing, source


def test_the_shown_code_is_the_package_s_own_source():
    shown = source(plots.moving_average)
    assert isinstance(shown, Listing)
    assert shown.where == "gpt_lesson/figures/plots.py: moving_average"
    assert shown.code == inspect.getsource(plots.moving_average)
    assert repr(shown).splitlines()[0] == "# gpt_lesson/figures/plots.py: moving_average"
    assert repr(shown).splitlines()[1].startswith("def moving_average(values, window: int)")


def test_several_objects_are_shown_in_order_and_highlighted_as_html():
    shown = source(listing.source, listing.Listing)
    assert shown.where == "gpt_lesson/figures/listing.py: source, Listing"
    assert shown.code.index("def source") < shown.code.index("class Listing")
    page = shown._repr_html_()
    assert page.startswith("<p style='margin-bottom: 0.2em'><code>gpt_lesson/figures/listing.py")
    assert "<span" in page and "Listing" in page


def test_nothing_to_show_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        source()
