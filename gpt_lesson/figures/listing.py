"""The package's own code, shown in a chapter from the source itself so that it cannot drift.

A chapter that displays ``source(build_gpt)`` shows the function as it is in the package:
highlighted in JupyterLab and the book, as plain text to nbval, which then compares it with
the stored output, so an edit of the code that is not re-run into the chapter fails the tests.
"""

from __future__ import annotations

import html
import inspect
from dataclasses import dataclass
from pathlib import Path

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds gpt_lesson/


@dataclass(frozen=True)
class Listing:
    """Code read from the package, as a chapter shows it: where it lives and its text."""

    where: str  # e.g. "gpt_lesson/gpt1/backbone.py, build_gpt"
    code: str

    def _repr_html_(self) -> str:
        formatter = HtmlFormatter(noclasses=True, nowrap=False, style="friendly")
        caption = f"<p style='margin-bottom: 0.2em'><code>{html.escape(self.where)}</code></p>"
        box = "<div style='max-width: 100%; overflow-x: auto; font-size: 0.9em'>"
        return f"{caption}{box}{highlight(self.code, PythonLexer(), formatter)}</div>"

    def __repr__(self) -> str:
        return f"# {self.where}\n{self.code.rstrip()}"


def source(*objects: object) -> Listing:
    """The source of functions or classes of the package, one after the other."""
    if not objects:
        raise ValueError("source() needs at least one function or class to show.")
    files = {Path(inspect.getfile(obj)).resolve() for obj in objects}
    names = ", ".join(obj.__qualname__ for obj in objects)
    where = ", ".join(str(path.relative_to(ROOT)) for path in sorted(files))
    code = "\n\n".join(inspect.getsource(obj).rstrip() for obj in objects)
    return Listing(f"{where}: {names}", code + "\n")
