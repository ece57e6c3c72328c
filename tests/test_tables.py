"""Result tables: HTML for notebooks and the book, aligned text for the terminal and nbval."""

import pytest

from gpt_lesson.tables import Table


def test_a_table_renders_as_html_and_as_aligned_text():
    table = Table(("name", "value"), [("a <b>", "1.0"), ("longer name", "22")])
    html = table._repr_html_()
    assert html.startswith('<table style="font-size: 0.9em"><thead><tr><th>name</th><th>value</th>')
    assert "<td>a &lt;b&gt;</td>" in html and html.count("<tr>") == 3
    assert repr(table).splitlines() == [
        "name         value",
        "-----------  -----",
        "a <b>        1.0",
        "longer name  22",
    ]


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="A row has 1 cells, the header 2"):
        Table(("a", "b"), [("only one",)])
