"""The blog's model, and why its accuracy did not move (chapter 4): the seed's code path,
faithfully, with its one-factor recipes (``blog``); checks for a metric that does not move
(``diagnostics``); per-layer gradients, Adam's steps and the output change during ``fit``
(``layer_probe``); every run judged on the same held-out text (``held_out``); and chapter 4's
grid of runs, read back (``study``)."""

from gpt_lesson._lazy import lazy_exports

_PUBLIC = {
    "BLOG": "blog",
    "Recipe": "blog",
    "LayerProbe": "layer_probe",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
