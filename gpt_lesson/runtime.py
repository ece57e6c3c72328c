"""TensorFlow's process-wide settings, chosen by the package before TensorFlow starts.

TensorFlow reads these environment variables once, when it is first imported, so the
package sets them at its own import (``gpt_lesson/__init__.py``): the command line, the
tests and the chapters import ``gpt_lesson`` before TensorFlow. A variable already set is
left alone, so ``TF_ENABLE_ONEDNN_OPTS=0 make lab`` (or ``export`` before Python starts)
turns oneDNN off.
"""

from __future__ import annotations

import os

DEFAULTS = {
    # C++ start-up chatter (CUDA probes, CPU feature notes) would fill every notebook.
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # oneDNN's kernels: the book's step 1.12x faster on the 2-core CPU this book was
    # written on (benchmarks/threads.py); TensorFlow turns them on by itself only on CPUs
    # with some instruction sets.
    "TF_ENABLE_ONEDNN_OPTS": "1",
}


def apply_defaults() -> dict[str, str]:
    """Set every variable of ``DEFAULTS`` that the environment does not set already, and
    return the values in effect. Too late once TensorFlow is imported."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in DEFAULTS}


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs oneDNN's kernels (decided at its start).

    Imports TensorFlow (through the version-checked adapter, since only a private
    TensorFlow module tells), so call it after :func:`apply_defaults`."""
    from gpt_lesson import _keras_hub

    return _keras_hub.onednn_enabled()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow, and let it probe its devices, with standard error closed meanwhile.

    Its C++ start-up lines (CUDA probes, CPU notes) are written before its logging reads
    ``TF_CPP_MIN_LOG_LEVEL``, so the setting cannot hold them back; the command line starts
    TensorFlow this way so that an error message is the only thing it prints. Python's own
    errors are raised after standard error is back.
    """
    saved = os.dup(2)
    silent = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(silent, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()  # the CUDA probe happens here
    finally:
        os.dup2(saved, 2)
        os.close(silent)
        os.close(saved)
