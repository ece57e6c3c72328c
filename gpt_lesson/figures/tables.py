"""Tables of results: HTML in a notebook and the rendered book, aligned text elsewhere."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TEXT_WIDTH = 100  # the widest line of a table's text form (nbval and the terminal show it)
NARROWEST = 8  # no column is wrapped narrower than this (chapter 4 has nine columns)
SHORT_CELL = 16  # characters: an HTML cell up to this long is never broken across lines


@dataclass(frozen=True)
class Table:
    """Rows of already formatted cells under a header; a notebook shows it as a table."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"A row has {len(row)} cells, the header {len(self.header)}.")

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, object]]) -> Table:
        """Dicts with the same keys as rows under those keys, formatted by ``_formatted``."""
        header = list(records[0])
        return cls(header, [[_formatted(record[key]) for key in header] for record in records])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in self.header)
        body = "".join("<tr>" + "".join(map(_html_cell, row)) + "</tr>" for row in self.rows)
        table = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        # Its own sideways scroll: a wide table never widens the page on a narrow screen.
        return (
            f'<div style="overflow-x: auto"><table style="font-size: 0.9em">{table}</table></div>'
        )

    def __repr__(self) -> str:
        columns = [[str(cell) for cell in row] for row in (self.header, *self.rows)]
        widths = _column_widths(columns)
        lines = []
        for number, row in enumerate(columns):
            wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(row, widths, strict=True)]
            for i in range(max(len(cell) for cell in wrapped)):
                parts = [cell[i] if i < len(cell) else "" for cell in wrapped]
                lines.append("  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)))
            if number == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(line.rstrip() for line in lines)


def _html_cell(cell: object) -> str:
    """A cell; a short one (a number, a name) is kept on one line, a long one may wrap."""
    text = str(cell)
    keep = ' style="white-space: nowrap"' if len(text) <= SHORT_CELL else ""
    return f"<td{keep}>{html.escape(text)}</td>"


def _formatted(value: object) -> str:
    """Integers with thousands commas; a list or tuple (a load average) without brackets."""
    if isinstance(value, list | tuple):
        return ", ".join(map(_formatted, value))
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _column_widths(columns: list[list[str]]) -> list[int]:
    """Each column's width: its longest cell, the widest narrowed one by one until lines fit."""
    widths = [max(len(row[i]) for row in columns) for i in range(len(columns[0]))]
    while sum(widths) + 2 * (len(widths) - 1) > TEXT_WIDTH and max(widths) > NARROWEST:
        widths[widths.index(max(widths))] -= 1
    return widths
