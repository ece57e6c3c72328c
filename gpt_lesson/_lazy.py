"""Public names of a package, each imported from its module on first use.

``import gpt_lesson`` (or ``gpt_lesson.gpt1``) stays light, and code that never touches a
tokenizer never starts TensorFlow: the model runs on any Keras backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(
    package: str, public: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose name ``n`` lives in its
    module ``public[n]`` (a path relative to the package)."""

    def __getattr__(name: str) -> object:
        if name in public:
            return getattr(importlib.import_module(f"{package}.{public[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*public, *importlib.import_module(package).__dict__})

    return __getattr__, __dir__
