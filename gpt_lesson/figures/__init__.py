"""What the book shows (every chapter): figures drawn from results (``plots``), diagrams drawn
from a config (``diagrams``), tables that fit the page (``tables``), and the package's own
code shown from source (``listing``)."""

from gpt_lesson._lazy import lazy_exports

_PUBLIC = {
    "Table": "tables",
    "source": "listing",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
