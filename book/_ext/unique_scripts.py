"""Sphinx extension: each ``<script>`` of a page is emitted once.

``sphinx_thebe`` (which jupyter-book always loads) registers its inline configuration
script from ``env-before-read-docs``, and Sphinx ends up with two copies that do not
compare equal (``filename=None`` and ``filename=''``). Every page then declares
``const THEBE_JS_URL`` twice, a SyntaxError on every page that tests/test_browser.py
found. Repeated scripts are dropped from each page's context, keeping the first of each,
so the order is unchanged.
"""

from __future__ import annotations


def _identity(script) -> tuple[str, str]:
    """A script file is itself by its file name, an inline script by its body."""
    filename = getattr(script, "filename", None) or ""
    if filename:
        return "file", str(filename)
    return "inline", getattr(script, "attributes", {}).get("body", "")


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        identity = _identity(script)
        if identity not in seen:
            seen.add(identity)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
