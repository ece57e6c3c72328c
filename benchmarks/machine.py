"""A description of the machine a benchmark ran on, stored with every result."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The CPU features that decide which kernels oneDNN and NumPy's BLAS can use.
VECTOR_EXTENSIONS = ("avx", "fma", "amx")


def describe_machine() -> dict[str, object]:
    """CPU model and features, core count, library versions and the load average (1, 5 and
    15 minutes): what a reader needs to compare, and how busy the machine was when it was
    measured. "AMD EPYC" alone names CPUs of several generations whose speed differs
    several-fold, so the family, model and vector extensions are stored too."""
    import keras
    import keras_hub
    import tensorflow as tf

    cpu = cpu_info()
    return {
        "cpu": cpu.get("model name") or platform.processor() or "unknown",
        "cpu family and model": [cpu.get("cpu family", "?"), cpu.get("model", "?")],
        "vector extensions": sorted(
            flag for flag in cpu.get("flags", "").split() if flag.startswith(VECTOR_EXTENSIONS)
        ),
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "load average (1, 5, 15 min)": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_info(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields in Linux's ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        first = path.read_text(encoding="utf-8").split("\n\n", 1)[0]
    except OSError:
        return {}
    fields = (line.split(":", 1) for line in first.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in fields}
