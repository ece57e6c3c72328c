"""A class attribute whose class is imported only when it is first read.

KerasHub finds a task's preprocessor and a preprocessor's tokenizer through the class
attributes ``preprocessor_cls`` and ``tokenizer_cls``. This book's tokenizers need
TensorFlow (``tf.data`` and TensorFlow Text), while its models run on any Keras backend.
:class:`Deferred` lets a model class name its preprocessor without importing it: the
import happens when KerasHub (or anyone) reads the attribute, for example when a preset's
preprocessor is loaded, and never when only the model is used.
"""

from __future__ import annotations

import importlib


class Deferred:
    """``module.name``, imported on first read of the attribute that holds it."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __get__(self, instance: object, owner: type) -> type:
        return getattr(importlib.import_module(self.module), self.name)
