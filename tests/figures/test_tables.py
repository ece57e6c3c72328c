"""Result tables: HTML for notebooks and the book, aligned text for the terminal and nbval."""

import pytest

from gpt_lesson.figures.tables import TEXT_WIDTH, Table


def test_a_table_renders_as_html_and_as_aligned_text():
    table = Table(("name", "value"), [("a <b>", "1.0"), ("longer name", "22")])
    html = table._repr_html_()
    assert html.startswith('<div style="overflow-x: auto"><table style="font-size: 0.9em"><thead>')
    assert "<th>name</th><th>value</th>" in html
    assert '<td style="white-space: nowrap">a &lt;b&gt;</td>' in html and html.count("<tr>") == 3
    assert repr(table).splitlines() == [
        "name         value",
        "-----------  -----",
        "a <b>        1.0",
        "longer name  22",
    ]


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="A row has 1 cells, the header 2"):
        Table(("a", "b"), [("only one",)])


def test_long_cells_wrap_so_that_no_text_line_is_wider_than_the_limit():
    evidence = "hides 2,108 real tokens (0 '!' x2,108); compute the mask as inputs != pad_id " * 2
    table = Table(("check", "verdict", "evidence"), [("padding mask", "FAIL", evidence)])
    lines = repr(table).splitlines()
    assert max(len(line) for line in lines) <= TEXT_WIDTH < len(evidence)
    assert lines[0].split() == ["check", "verdict", "evidence"]
    assert lines[2].startswith("padding mask  FAIL     hides 2,108")
    # The wrapped cell keeps every word, in order, in its own column.
    column = lines[0].index("evidence")
    assert " ".join(line[column:].strip() for line in lines[2:]) == evidence.strip()


def test_nine_columns_of_long_cells_still_fit_the_text_width():
    header = [f"column {i}" for i in range(9)]
    table = Table(header, [["4.797 ± 0.001"] * 9, ["left at 1481, 1880, 2022"] * 9])
    assert max(len(line) for line in repr(table).splitlines()) <= TEXT_WIDTH


def test_a_table_of_short_cells_is_not_wrapped():
    table = Table(("a", "b"), [("x" * 40, "y" * 40)])
    assert len(repr(table).splitlines()) == 3


def test_records_become_rows_under_their_keys():
    table = Table.from_records(
        [
            {"step": 1200, "fast": True, "name": "xla", "load": [1.16, 1.69, 1.58]},
            {"step": 3, "fast": False, "name": "eager", "load": (2, 1500)},
        ]
    )
    assert list(table.header) == ["step", "fast", "name", "load"]
    assert [list(row) for row in table.rows] == [
        ["1,200", "True", "xla", "1.16, 1.69, 1.58"],
        ["3", "False", "eager", "2, 1,500"],
    ]


def test_long_html_cells_may_wrap_and_short_ones_stay_on_one_line():
    html = Table(("a", "b"), [("4.797 ± 0.001", "left it at steps 1481, 1880, 2022")])._repr_html_()
    assert '<td style="white-space: nowrap">4.797 ± 0.001</td>' in html
    assert "<td>left it at steps 1481, 1880, 2022</td>" in html
