"""Sphinx extension: label bibliography entries "Author et al., Year".

In-text citations use sphinxcontrib-bibtex's ``author_year`` reference style,
e.g. "(Radford et al., 2018)"; pybtex's stock styles would still label the
bibliography list with alpha keys such as "[RNSS18]". This registers a pybtex
formatting style, ``plain_author_year``, that is pybtex's ``plain`` with
"Radford et al., 2018" labels, so the list matches the citations. The book's
_config.yml selects it with ``bibtex_default_style: plain_author_year``.
"""

from __future__ import annotations

from collections import Counter
from string import ascii_lowercase

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _plain(latex: str) -> str:
    return Text.from_latex(latex).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels like "Vaswani et al., 2017", "Loshchilov and Hutter, 2019"."""

    def _label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        lasts = [_plain(" ".join(p.last_names)) for p in persons]
        if not lasts:
            names = _plain(entry.fields.get("title", entry.key))
        elif len(lasts) == 1:
            names = lasts[0]
        elif len(lasts) == 2:
            names = f"{lasts[0]} and {lasts[1]}"
        else:
            names = f"{lasts[0]} et al."
        return f"{names}, {entry.fields.get('year', 'n.d.')}"

    def format_labels(self, sorted_entries):
        labels = [self._label(entry) for entry in sorted_entries]
        counts = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if counts[label] > 1:  # "Smith, 2020a", "Smith, 2020b"
                suffix = ascii_lowercase[seen[label]]
                seen[label] += 1
                label += suffix
            yield label


class PlainAuthorYearStyle(PlainStyle):
    default_label_style = "author_year"


def setup(app):
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", "plain_author_year", PlainAuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
