"""Tables of results: HTML in a notebook and the rendered book, aligned text elsewhere."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """Rows of already formatted cells under a header; a notebook shows it as a table."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"A row has {len(row)} cells, the header {len(self.header)}.")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
            for row in self.rows
        )
        table = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        return f'<table style="font-size: 0.9em">{table}</table>'

    def __repr__(self) -> str:
        columns = [self.header, *self.rows]
        widths = [max(len(str(row[i])) for row in columns) for i in range(len(self.header))]
        lines = [
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in columns
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(line.rstrip() for line in lines)
