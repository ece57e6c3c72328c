"""The built book, read as a reader reads it: in a real browser, from disk, offline.

The module builds the book with the same command as ``make book`` (into ``book/_build``;
Sphinx rebuilds only what changed), then opens every HTML page in headless Chromium
(Debian's ``chromium`` package, driven by Playwright) with every request that is not a
``file://`` URL aborted. For each page it records whether the page loaded, whether
MathJax typeset all its math, whether every image decoded, where each link points and
what the page tried to fetch, and saves a full-page screenshot under
``book/_build/screenshots/`` (CI keeps them as artefacts). The tests below then judge
those records, one property each.

No browser is a failure, not a skip: ``.ci/run`` installs Chromium, and a test of what
the reader sees that silently does not run would be worse than none.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "book" / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
CHROMIUM_VARIABLE = "GPT_LESSON_CHROMIUM"
BUILD_COMMAND = [
    "build",
    ".",
    "--config",
    "book/_config.yml",
    "--toc",
    "book/_toc.yml",
    "--path-output",
    "book",
]
PAGE_TIMEOUT_MS = 30_000

# TeX that reached the reader as text: delimiters MathJax never saw (it did not run, or
# the parser missed them), and math flattened to its source, as a title with "$L_1$"
# becomes "L_1" where Sphinx uses it as link text.
RAW_MATH = re.compile(
    r"\\\(|\\\)|\\\[|\\\]|\$\$|(?<![\w$])\$[^$\s][^$\n]*\$(?![\w$])"
    r"|\b[A-Za-z]_\{?[A-Za-z0-9]"
)

# The page's title (the browser tab) and its visible text, without code, outputs and
# typeset math: where raw TeX would be a bug.
PROSE_TEXT = """() => {
  const skip = "pre, code, script, style, mjx-container, .cell_output, .highlight, .math";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent.closest(skip) && parent.checkVisibility()) texts.push(node.textContent);
  }
  return [document.title, ...texts].join("\\n");
}"""

MATH_STATE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const blocks = Array.from(document.querySelectorAll("div.math, span.math"));
  return {
    blocks: blocks.length,
    untypeset: blocks.filter((b) => !b.querySelector("mjx-container")).length,
    containers: document.querySelectorAll("mjx-container").length,
    errors: Array.from(document.querySelectorAll("mjx-merror")).map((e) => e.textContent),
  };
}"""

# Markdown table rows that reached the reader as text (a Markdown output the book did not
# render as a table), anywhere outside code blocks.
MARKDOWN_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")
VISIBLE_TEXT = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (!parent.closest("pre, code, script, style") && parent.checkVisibility()) {
      texts.push(walker.currentNode.textContent);
    }
  }
  return texts.join("\\n");
}"""

# Tables, figures and output blocks that stick out past the right edge of the content
# column, unless they sit inside a box that scrolls sideways on its own.
OVERFLOWING = """() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main");
  if (!column) return ["no content column"];
  const edge = column.getBoundingClientRect().right + 1;
  const scrolls = (element) => {
    for (let e = element.parentElement; e && e !== column; e = e.parentElement) {
      const overflow = getComputedStyle(e).overflowX;
      if (overflow === "auto" || overflow === "scroll") return true;
    }
    return false;
  };
  const found = [];
  for (const element of column.querySelectorAll("table, img, .cell_output pre, .cell_output")) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.right > edge && !scrolls(element)) {
      const text = (element.textContent || element.getAttribute("src") || "").trim();
      const wide = Math.round(box.right - edge);
      found.push(`${element.tagName.toLowerCase()} ${wide} px too wide: ${text.slice(0, 60)}`);
    }
  }
  return found;
}"""

NARROW = 400  # px: a phone held upright

# At a narrow width: how far the page scrolls sideways, and the outermost elements that
# stick out past the window without a box of their own that scrolls.
SIDEWAYS = """() => {
  const width = window.innerWidth;
  const scrolls = (element) => {
    for (let e = element.parentElement; e && e !== document.body; e = e.parentElement) {
      const overflow = getComputedStyle(e).overflowX;
      if (overflow === "auto" || overflow === "scroll" || overflow === "hidden") return true;
    }
    return false;
  };
  const culprits = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1 && !scrolls(element)) {
      const name = [element.tagName.toLowerCase(), element.className].filter(Boolean).join(".");
      culprits.push(`${name} ends at ${Math.round(box.right)} px`);
    }
  }
  return {scroll: document.documentElement.scrollWidth - width, culprits: culprits.slice(0, 3)};
}"""

IMAGES = """() => Array.from(document.images).map((img) => ({
  src: img.getAttribute("src"),
  loaded: img.complete && img.naturalWidth > 0,
}))"""

LINKS = """() => Array.from(document.querySelectorAll("a[href]")).map((a) => a.href)"""

# Each code cell's source, and how many loaded images its output shows at 150 px or wider.
CELL_FIGURES = """() => Array.from(document.querySelectorAll("div.cell")).map((cell) => ({
  code: (cell.querySelector(".cell_input") || {}).innerText || "",
  figures: Array.from(cell.querySelectorAll(".cell_output img")).filter(
    (img) => img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().width >= 150
  ).length,
}))"""

# The pictures each chapter is written around: the call that draws each one.
PICTURES = {
    "notebooks/01_tokenization.html": ["plots.plot_token_statistics("],
    "notebooks/02_model.html": [
        "diagrams.plot_layer_norm_placement(",  # the decoder block, its shapes, post/pre-LN
        "plots.plot_causal_mask(",
        "plots.plot_attention(",
    ],
    "notebooks/03_pretraining.html": [
        "plots.plot_training_curves(",  # per step
        "plots.plot_attention_maps(",  # the trained model, on a line of Shakespeare
        "plots.plot_generation_speed(",  # the key/value cache
    ],
    "notebooks/04_stuck_accuracy.html": [
        "diagrams.plot_layer_norm_placement(",
        "plots.plot_recipe_curves(",
        "plots.plot_held_out_curves(",  # every run judged on the same text
        "plots.plot_step0_gradients(",  # Xiong et al.'s sqrt(L), block by block
        "plots.plot_probe_lines(",  # the output change, the first block's gradient
        "plots.plot_effects(",
    ],
    "notebooks/05_finetuning_cola.html": [
        "diagrams.plot_input_transformations(",  # the paper's Figure 1
        "plots.plot_ablation(",
        "plots.plot_confusion_matrix(",
    ],
    "notebooks/A1_benchmarks.html": ["plots.plot_generation_speed("],
}


@dataclass
class PageReport:
    """What the browser saw on one page."""

    name: str
    loaded: bool = False
    error: str = ""
    math: dict = field(default_factory=dict)
    raw_math: list[str] = field(default_factory=list)
    markdown_tables: list[str] = field(default_factory=list)
    overflowing: list[str] = field(default_factory=list)
    sideways: dict = field(default_factory=dict)
    images: list[dict] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    cell_figures: list[dict] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def _chromium() -> Path:
    """Debian's Chromium, or the one named by GPT_LESSON_CHROMIUM; fails if there is none."""
    named = os.environ.get(CHROMIUM_VARIABLE)
    found = named or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).is_file():
        pytest.fail(
            "No Chromium to test the book in. Install Debian's package "
            "(`apt-get install -y chromium`, as .ci/run does) or point "
            f"{CHROMIUM_VARIABLE} at a Chromium or Chrome binary."
        )
    return Path(found)


def _build_book() -> None:
    """``make book``'s build command, run by this interpreter's jupyter-book."""
    script = Path(sys.executable).with_name("jupyter-book")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "jupyter_book"]
    result = subprocess.run(
        [*command, *BUILD_COMMAND],
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"book build failed:\n{(result.stdout + result.stderr)[-4000:]}"


def _pages() -> list[Path]:
    skipped = {"_static", "_sources", "_images"}
    return sorted(
        page for page in HTML.rglob("*.html") if not skipped & set(page.relative_to(HTML).parts)
    )


def _screenshot_path(name: str) -> Path:
    return SCREENSHOTS / (name.replace("/", "__").removesuffix(".html") + ".png")


def _watch(page: Page, report: PageReport) -> None:
    """Cut the network for ``page`` and note what it requests, fails to load, or throws."""

    def cut_the_network(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            report.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def note_failure(request) -> None:
        if request.url.startswith("file:"):
            report.failed.append(request.url)

    page.route("**/*", cut_the_network)
    page.on("requestfailed", note_failure)
    page.on("pageerror", lambda error: report.script_errors.append(str(error)))


def _visit(page: Page, path: Path, report: PageReport) -> None:
    """Load one page, wait for MathJax, record what the reader would see, screenshot it."""
    page.goto(path.as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
    report.loaded = True
    page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
    report.math = page.evaluate(MATH_STATE)
    report.raw_math = RAW_MATH.findall(page.evaluate(PROSE_TEXT))
    report.markdown_tables = MARKDOWN_TABLE.findall(page.evaluate(VISIBLE_TEXT))
    report.overflowing = page.evaluate(OVERFLOWING)
    report.images = page.evaluate(IMAGES)
    report.links = page.evaluate(LINKS)
    report.cell_figures = page.evaluate(CELL_FIGURES)
    report.screenshot = _screenshot_path(report.name)
    page.screenshot(path=report.screenshot, full_page=True)
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.wait_for_timeout(200)  # the theme's layout settles on resize
    report.sideways = page.evaluate(SIDEWAYS)


def _browse(chromium: Path) -> dict[str, PageReport]:
    """Open every page of the built book in Chromium with the network cut."""
    reports: dict[str, PageReport] = {}
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start its sandbox as root (CI runs as root).
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        for path in _pages():
            report = PageReport(name=path.relative_to(HTML).as_posix())
            reports[report.name] = report
            page = context.new_page()
            _watch(page, report)
            try:
                _visit(page, path, report)
            except PlaywrightError as error:
                report.error = str(error).splitlines()[0]
            page.close()
        browser.close()
    return reports


@pytest.fixture(scope="module")
def reports() -> dict[str, PageReport]:
    chromium = _chromium()
    _build_book()
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    found = _browse(chromium)
    assert found, f"no HTML pages found under {HTML}"
    return found


class _Anchors(HTMLParser):
    """The ids (and old-style names) a page defines: the targets of #fragment links."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.anchors.add(value or "")


def _anchors(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        parser = _Anchors()
        parser.feed(path.read_text(encoding="utf8"))
        cache[path] = parser.anchors
    return cache[path]


def _broken(link: str, cache: dict[Path, set[str]]) -> str | None:
    """Why an internal link does not resolve, or None if it does."""
    parts = urlsplit(link)
    target = Path(unquote(parts.path))
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"{link}: no file {target}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in _anchors(target, cache):
        return f"{link}: no element with id {fragment!r} in {target.name}"
    return None


def _problems(reports: dict[str, PageReport], check) -> list[str]:
    return [f"{name}: {problem}" for name, r in reports.items() for problem in check(r)]


def test_every_chapter_and_appendix_was_opened(reports):
    names = set(reports)
    for expected in (
        "book/intro.html",
        "notebooks/01_tokenization.html",
        "notebooks/02_model.html",
        "notebooks/03_pretraining.html",
        "notebooks/04_stuck_accuracy.html",
        "notebooks/05_finetuning_cola.html",
        "book/real_weights.html",
        "notebooks/A1_benchmarks.html",
        "book/notation.html",
        "book/presets.html",
        "book/checklist.html",
        "book/scaling.html",
        "book/references.html",
    ):
        assert expected in names, f"{expected} is not in the built book: {sorted(names)}"


def test_every_page_loads_without_script_errors(reports):
    problems = _problems(
        reports,
        lambda r: (
            [r.error or "did not load"] * (not r.loaded)
            + [f"script error: {e}" for e in r.script_errors]
        ),
    )
    assert not problems, "\n".join(problems)


def test_no_page_reaches_for_the_network(reports):
    problems = _problems(reports, lambda r: [f"requested {url}" for url in r.blocked])
    assert not problems, "pages that need the network:\n" + "\n".join(problems)


def test_every_local_file_a_page_requests_exists(reports):
    problems = _problems(reports, lambda r: [f"failed to load {url}" for url in r.failed])
    assert not problems, "\n".join(problems)


def test_math_is_typeset_by_mathjax(reports):
    def check(r: PageReport) -> list[str]:
        found = []
        if r.math.get("untypeset"):
            found.append(f"{r.math['untypeset']} of {r.math['blocks']} math blocks not typeset")
        found += [f"MathJax error: {error}" for error in r.math.get("errors", [])]
        found += [f"raw TeX left in the text: {raw!r}" for raw in r.raw_math]
        return found

    problems = _problems(reports, check)
    assert not problems, "\n".join(problems)
    # The pages known to carry math really were typeset (a broken MathJax leaves zero).
    for name in ("book/intro.html", "book/notation.html", "notebooks/02_model.html"):
        assert reports[name].math.get("containers", 0) > 10, f"{name}: {reports[name].math}"


def test_every_image_loads(reports):
    problems = _problems(
        reports, lambda r: [f"image did not load: {i['src']}" for i in r.images if not i["loaded"]]
    )
    assert not problems, "\n".join(problems)
    assert reports["notebooks/02_model.html"].images, "chapter 2 shows no figure"


def test_every_chapter_shows_its_pictures(reports):
    missing = []
    for page, calls in PICTURES.items():
        cells = reports[page].cell_figures
        for call in calls:
            drawn = [cell["figures"] for cell in cells if call in cell["code"]]
            if not drawn or not any(drawn):
                missing.append(f"{page}: no picture under the cell that calls {call}")
    assert not missing, "\n".join(missing)


def test_every_internal_link_resolves(reports):
    cache: dict[Path, set[str]] = {}

    def check(r: PageReport) -> list[str]:
        internal = [link for link in r.links if link.startswith("file:")]
        return [problem for link in internal if (problem := _broken(link, cache))]

    problems = _problems(reports, check)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_a_screenshot_of_every_page_is_saved(reports):
    for name, report in reports.items():
        assert report.screenshot and report.screenshot.is_file(), f"no screenshot of {name}"
        assert report.screenshot.stat().st_size > 10_000, f"{report.screenshot} looks empty"


def test_no_page_shows_markdown_table_syntax_as_text(reports):
    problems = _problems(
        reports, lambda r: [f"Markdown table row as text: {row!r}" for row in r.markdown_tables]
    )
    assert not problems, "\n".join(problems)


def test_no_table_figure_or_output_overflows_the_content_column(reports):
    problems = _problems(reports, lambda r: r.overflowing)
    assert not problems, "at 1400 px:\n" + "\n".join(problems)


def test_the_layout_checks_catch_what_they_look_for():
    """A page built to fail both: Markdown table text, and a table wider than its column."""
    page_html = """<html><body><main><article class="bd-article" style="width: 300px">
      <p>| step | time |</p><p>| --- | --- |</p>
      <table style="width: 900px"><tr><td>wide</td></tr></table>
      <div style="overflow-x: auto">
        <table style="width: 900px"><tr><td>boxed</td></tr></table>
      </div>
    </article></main></body></html>"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(_chromium()), args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_content(page_html)
        text, overflowing = page.evaluate(VISIBLE_TEXT), page.evaluate(OVERFLOWING)
        browser.close()
    assert MARKDOWN_TABLE.findall(text) == ["| --- |"]
    assert len(overflowing) == 1 and "wide" in overflowing[0] and "boxed" not in overflowing[0]


def test_at_a_phone_s_width_no_page_scrolls_sideways(reports):
    problems = _problems(
        reports,
        lambda r: (
            [f"scrolls {r.sideways['scroll']} px sideways: {r.sideways['culprits']}"]
            * (r.sideways.get("scroll", 0) > 1)
        ),
    )
    assert not problems, f"at {NARROW} px:\n" + "\n".join(problems)
