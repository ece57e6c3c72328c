"""The book builds offline to static HTML, that HTML needs no network to read, and the
book has the shape the reader is promised: every chapter opens with its goals, what it
builds on and how long it takes, and ends with a summary and exercises; every reference
is cited; the appendices show what the code computes.

One build (about 10 s) is shared by every test in this module. It runs the same
command as ``make book`` but writes into a temporary folder:

    jupyter-book build . --config book/_config.yml --toc book/_toc.yml \
        --path-output <tmp>

The build is from the repository root so that the chapters are the notebooks in
``notebooks/`` themselves; nothing is executed (``execute_notebooks: "off"``).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml

from benchmarks import chapters

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "book" / "_config.yml"
TOC = REPO / "book" / "_toc.yml"
NOTEBOOKS = REPO / "notebooks"

# Pages Sphinx writes besides the toc's pages.
GENERATED_PAGES = {"index.html", "genindex.html", "search.html"}

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Sphinx prints "path:line: WARNING: ...", and "ERROR:"/"CRITICAL:" alike;
# jupyter-book prints "Validation errors in config" for a bad _config.yml.
PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):|Validation errors in config")
REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(
    r"""@import\s+(url\()?\s*['"]?(https?:)?//|url\(\s*['"]?(https?:)?//""", re.IGNORECASE
)


def _jupyter_book() -> list[str]:
    """The jupyter-book command of the interpreter running the tests."""
    script = Path(sys.executable).with_name("jupyter-book")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def _toc_docnames() -> list[str]:
    """Every page the toc lists (root first), as paths without suffix."""
    toc = yaml.safe_load(TOC.read_text(encoding="utf8"))
    names = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)

    walk(toc)
    return names


def _source_of(docname: str) -> Path | None:
    for suffix in (".md", ".ipynb", ".rst"):
        path = REPO / f"{docname}{suffix}"
        if path.exists():
            return path
    return None


class _Resources(HTMLParser):
    """Collects what a page loads: scripts, stylesheets, images, frames, inline CSS."""

    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.preloads: list[str] = []
        self.images: list[str] = []
        self.frames: list[str] = []
        self.inline_css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        rel = a.get("rel", "").lower().split()
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and "stylesheet" in rel:
            self.stylesheets.append(a.get("href", ""))
        elif tag == "link" and ({"preload", "modulepreload", "icon"} & set(rel)):
            self.preloads.append(a.get("href", ""))
        elif tag == "img" and a.get("src"):
            self.images.append(a["src"])
        elif tag in ("iframe", "embed", "source", "audio", "video") and a.get("src"):
            self.frames.append(a["src"])
        elif tag == "style":
            self._in_style = True
        if a.get("style"):
            self.inline_css.append(a["style"])

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.inline_css.append(data)


def _parse(page: Path) -> _Resources:
    parser = _Resources()
    parser.feed(page.read_text(encoding="utf8"))
    return parser


def _local_target(page: Path, url: str) -> Path:
    """The file a relative URL in `page` points at."""
    return (page.parent / unquote(urlsplit(url).path)).resolve()


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    missing = [name for name in _toc_docnames() if _source_of(name) is None]
    if missing:
        pytest.fail(
            "book/_toc.yml lists pages with no source file (.md/.ipynb): " + ", ".join(missing)
        )
    out = tmp_path_factory.mktemp("book")
    command = [
        *_jupyter_book(),
        "build",
        str(REPO),
        "--config",
        str(CONFIG),
        "--toc",
        str(TOC),
        "--path-output",
        str(out),
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    start = time.monotonic()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    log = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"book build failed ({seconds:.0f} s):\n{log[-6000:]}"
    html = out / "_build" / "html"
    assert (html / "index.html").exists(), log[-3000:]
    return {"html": html, "log": log, "seconds": seconds}


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts)


def test_build_prints_no_warnings(book):
    problems = [line for line in book["log"].splitlines() if PROBLEM.search(line)]
    assert not problems, "the book build printed warnings:\n" + "\n".join(problems)


def test_every_toc_page_has_html_and_nothing_else_is_built(book):
    html = book["html"]
    expected = {f"{name}.html" for name in _toc_docnames()}
    built = {p.relative_to(html).as_posix() for p in _pages(html)}
    missing = expected - built
    assert not missing, f"toc pages without HTML: {sorted(missing)}"
    extra = built - expected - GENERATED_PAGES
    assert not extra, f"pages built that are not in the toc: {sorted(extra)}"


def test_mathjax_is_served_locally_with_its_fonts(book):
    html = book["html"]
    intro = html / "book" / "intro.html"
    scripts = [s for s in _parse(intro).scripts if "mathjax" in s.lower()]
    assert scripts, "the intro page loads no MathJax script"
    for src in scripts:
        assert not REMOTE.match(src), f"MathJax comes from the network: {src}"
        target = _local_target(intro, src)
        assert target.is_file(), f"MathJax script {src} is not in the build ({target})"
        assert html / "_static" in target.parents
    # tex-chtml.js fetches its web fonts from [mathjax]/output/chtml/fonts/woff-v2.
    fonts = html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert (fonts / "MathJax_Main-Regular.woff").is_file()
    assert (fonts / "MathJax_Math-Italic.woff").is_file()


def test_no_page_loads_anything_from_the_network(book):
    html = book["html"]
    offenders = []
    for page in _pages(html):
        found = _parse(page)
        loaded = found.scripts + found.stylesheets + found.preloads + found.frames
        loaded += found.images
        for url in loaded:
            if REMOTE.match(url.strip()):
                offenders.append(f"{page.relative_to(html)}: {url}")
        for css in found.inline_css:
            if CSS_REMOTE.search(css):
                offenders.append(f"{page.relative_to(html)}: inline CSS {css[:120]!r}")
    for sheet in html.rglob("*.css"):
        if CSS_REMOTE.search(sheet.read_text(encoding="utf8", errors="replace")):
            offenders.append(f"{sheet.relative_to(html)}: remote @import/url()")
    assert not offenders, "remote resources:\n" + "\n".join(offenders)


def test_intro_page_carries_its_math(book):
    text = (book["html"] / "book" / "intro.html").read_text(encoding="utf8")
    # Display math is written out as \[ ... \] inside a "math" block for MathJax.
    assert re.search(r'class="math[^"]*".*?\\\[.*?L_1\(\\mathcal\{U\}\)', text, re.S), (
        "the L1 objective is missing from the intro page's display math"
    )
    assert re.search(r"\\\[.*?L_3\(\\mathcal\{C\}\)", text, re.S)
    assert r"\(" in text, "no inline math on the intro page"


def test_every_image_exists(book):
    html = book["html"]
    missing = []
    for page in _pages(html):
        for src in _parse(page).images:
            if src.startswith("data:"):
                continue
            if not _local_target(page, src).is_file():
                missing.append(f"{page.relative_to(html)}: {src}")
    assert not missing, "images referenced but not in the build:\n" + "\n".join(missing)


def test_bibliography_lists_the_gpt1_paper(book):
    text = (book["html"] / "book" / "references.html").read_text(encoding="utf8")
    assert "Improving language understanding by generative pre-training" in text


def _chapter_notebooks() -> list[Path]:
    """The notebooks of the toc's "Chapters" part (appendices have no exercises)."""
    toc = yaml.safe_load(TOC.read_text(encoding="utf8"))
    (chapters,) = [part for part in toc["parts"] if part["caption"] == "Chapters"]
    names = [entry["file"] for entry in chapters["chapters"]]
    paths = [_source_of(name) for name in names]
    return [path for path in paths if path is not None and path.suffix == ".ipynb"]


def _book_text() -> str:
    """The prose of every page the toc lists: markdown files and notebooks' markdown cells."""
    texts = []
    for name in _toc_docnames():
        path = _source_of(name)
        if path.suffix == ".ipynb":
            notebook = nbformat.read(path, as_version=4)
            texts += [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
        else:
            texts.append(path.read_text(encoding="utf8"))
    return "\n".join(texts)


def test_every_reference_is_cited_from_the_text():
    keys = re.findall(r"^@\w+\{([^,]+),", (REPO / "book" / "references.bib").read_text(), re.M)
    cited = set()
    for roles in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", _book_text()):
        cited.update(key.strip() for key in roles.split(","))
    assert keys, "book/references.bib has no entries"
    uncited = sorted(set(keys) - cited)
    assert not uncited, f"references.bib entries no page cites with {{cite:p}}: {uncited}"
    unknown = sorted(cited - set(keys))
    assert not unknown, f"cited keys missing from references.bib: {unknown}"


@pytest.mark.parametrize("notebook", _chapter_notebooks(), ids=lambda path: path.stem)
def test_every_chapter_opens_with_goals_and_time_and_ends_with_exercises(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    opening = cells[0].source
    for part in ("**Learning goals.**", "**Builds on:**", "**Time on a 2-core CPU:**"):
        assert part in opening, f"{notebook.name}'s first cell has no {part}"
    assert "GPT_LESSON_PROFILE" in opening, f"{notebook.name} does not say how to switch profile"
    assert "book/notation.md" in opening, f"{notebook.name} does not link the notation table"
    headings = [
        line for cell in cells for line in cell.source.splitlines() if line.startswith("## ")
    ]
    assert headings[-2:] == ["## Summary", "## Exercises"], (
        f"{notebook.name} should end with '## Summary' then '## Exercises', not {headings[-2:]}"
    )


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_stored_outputs_hold_no_start_up_messages(notebook):
    """TensorFlow's C++ start-up lines and tqdm's notice, which no setting silences, are
    removed when ``make notebooks`` (``python -m benchmarks.chapters --in-place``) stores
    a chapter."""
    stored = nbformat.read(notebook, as_version=4)
    noisy = [
        index
        for index, cell in enumerate(stored.cells)
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr" and chapters.NOISE.search(output["text"])
    ]
    assert not noisy, f"{notebook.name}: cells {noisy} store start-up messages"


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_stored_prints_are_one_output_per_run_of_prints(notebook):
    """``make notebooks`` joins neighbouring stream outputs of one name, so the book draws a
    cell's consecutive prints as one box, not one box per kernel message."""
    stored = nbformat.read(notebook, as_version=4)
    split = [
        index
        for index, cell in enumerate(stored.cells)
        for first, second in itertools.pairwise(cell.get("outputs", []))
        if first.get("output_type") == second.get("output_type") == "stream"
        and first.get("name") == second.get("name")
    ]
    assert not split, f"{notebook.name}: cells {split} store one print in several outputs"


def test_merging_streams_keeps_their_order_against_other_outputs():
    def stream(text: str, name: str = "stdout") -> dict:
        return nbformat.v4.new_output("stream", name=name, text=text)

    figure = nbformat.v4.new_output("display_data", data={"text/plain": "<Figure>"})
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")])
    notebook.cells[0].outputs = [
        stream("a\n"), stream("b\n"), stream("warn\n", "stderr"), stream("c\n"), figure,
        stream("d\n"), stream("e\n"),
    ]  # fmt: skip
    chapters.merge_adjacent_streams(notebook)
    kept = [(o.get("name"), o.get("text")) for o in notebook.cells[0].outputs]
    assert kept == [
        ("stdout", "a\nb\n"), ("stderr", "warn\n"), ("stdout", "c\n"), (None, None),
        ("stdout", "d\ne\n"),
    ]  # fmt: skip


def test_presets_appendix_shows_what_the_code_computes(book):
    from gpt_lesson.config import PRESETS, TRAINING, parameter_count

    text = (book["html"] / "book" / "presets.html").read_text(encoding="utf8")
    cells = re.findall(r"<td><p>([^<]*)</p></td>", text)
    for name, config in PRESETS.items():
        assert f"{parameter_count(config):,}" in cells, f"{name}'s parameter count is not shown"
    for name in TRAINING:
        assert cells.count(name) >= 2, f"{name} is missing from the model or training table"


def test_introduction_shows_the_measured_chapter_times(book):
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import chapter_times

    text = (book["html"] / "book" / "intro.html").read_text(encoding="utf8")
    cells = re.findall(r"<td><p>([^<]*)</p></td>", text)
    times = chapter_times.read_times()
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        seconds = times["quick"].get(notebook.stem)
        assert seconds is not None, f"{notebook.name} has no quick time in chapters-quick.json"
        assert f"{notebook.name}" in cells and chapter_times.duration(seconds) in cells
    assert chapter_times.duration(75.4) == "75 s" and chapter_times.duration(400) == "6.7 min"


def test_notation_table_has_the_papers_symbols(book):
    text = (book["html"] / "book" / "notation.html").read_text(encoding="utf8")
    for symbol in (
        r"\mathcal{U}",
        r"\mathcal{C}",
        "W_e",
        "W_p",
        "W_y",
        "h_l",
        r"\lambda",
        r"\Theta",
    ):
        assert symbol in text, f"the notation table has no {symbol}"
