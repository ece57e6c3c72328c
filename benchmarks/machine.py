"""A description of the machine a benchmark ran on, stored with every result."""

from __future__ import annotations

import os
import platform


def describe_machine() -> dict[str, object]:
    """CPU model, core count, library versions and the load average (1, 5 and 15 minutes):
    what a reader needs to compare, and how busy the machine was when it was measured."""
    import keras
    import keras_hub
    import tensorflow as tf

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "load average (1, 5, 15 min)": [round(x, 2) for x in os.getloadavg()],
    }
