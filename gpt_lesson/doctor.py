"""``python -m gpt_lesson doctor``: is this machine ready for the book and its tests?

One line per requirement, ``[OK]`` or ``[FAIL]``, and for a failure what to do. Each check
is a function of what it inspects (a version lookup, a path, a disk), so that the tests can
simulate a machine that lacks something. Every requirement here is one whose absence makes
``make test`` fail for a reason that has nothing to do with the code, which is why
``make test`` runs the doctor first and stops on a failure.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from gpt_lesson import data

ROOT = Path(__file__).resolve().parent.parent
PINNED = ("tensorflow", "keras", "keras-hub", "tensorflow-text")  # the model's stack
PYTHON = (3, 11)  # requirements.txt's pins are made for it
GIB = 2**30
MIN_FREE_GIB = 2.0  # TensorFlow's AutoGraph writes converted code to the temporary folder
MIN_MEMORY_GIB = 6.0  # make test: two workers, each peaking near 2.8 GiB (the suite benchmark)
CHROMIUM_VARIABLE = "GPT_LESSON_CHROMIUM"


@dataclass(frozen=True)
class Finding:
    """One requirement: met or not, what was found, and what to do if it is not met."""

    requirement: str
    ok: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        """``[OK]   requirement: found`` or ``[FAIL] requirement: found. fix``."""
        if self.ok:
            return f"[OK]   {self.requirement}: {self.found}"
        return f"[FAIL] {self.requirement}: {self.found}. {self.fix}"


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Finding:
    """The interpreter the pins were made for."""
    found = ".".join(map(str, version))
    if tuple(version[:2]) == PYTHON:
        return Finding("Python", True, found)
    wanted = ".".join(map(str, PYTHON))
    return Finding(
        "Python",
        False,
        f"{found}, but requirements.txt is pinned for Python {wanted}",
        f"Install Python {wanted} and run `make install PYTHON=python{wanted}`.",
    )


def pins(requirements: Path) -> dict[str, str]:
    """The exact pins (``name==version``) of a requirements file, by normalised name."""
    pinned = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        name, separator, version = line.split("#")[0].strip().partition("==")
        if separator:
            pinned[name.strip().lower().replace("_", "-")] = version.strip()
    return pinned


def installed_version(name: str) -> str | None:
    """The installed distribution's version, or None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_versions(
    requirements: Path = ROOT / "requirements.txt",
    installed: Callable[[str], str | None] = installed_version,
) -> list[Finding]:
    """TensorFlow, Keras, KerasHub and tensorflow-text at exactly their pinned versions."""
    pinned = pins(requirements) if requirements.is_file() else {}
    findings = []
    for name in PINNED:
        version, wanted = installed(name), pinned.get(name)
        if version is not None and wanted in (None, version):
            findings.append(Finding(name, True, version))
            continue
        what = "not installed" if version is None else f"{version} installed"
        findings.append(
            Finding(
                name,
                False,
                f"{what}, requirements.txt pins {wanted}",
                "Run `make install` (a fresh .venv from requirements.txt).",
            )
        )
    return findings


def check_platform(system: str = platform.system(), machine: str = platform.machine()) -> Finding:
    """Linux on x86_64, what the pins and CI are made for."""
    found = f"{system} on {machine}"
    if system == "Linux" and machine in ("x86_64", "AMD64"):
        return Finding("platform", True, found)
    fix = {
        "Windows": "Use WSL2 (Ubuntu) and run the book inside it: TensorFlow has no "
        "Windows build since 2.11, and tensorflow-text none at all.",
        "Darwin": "Use a Linux x86_64 machine or container (docker run -it python:3.11): "
        "the pins are Linux wheels.",
    }.get(system, "Use a Linux x86_64 machine or container: the pins are Linux wheels.")
    return Finding("platform", False, f"{found}, but the pins are for Linux on x86_64", fix)


def check_data_file(source: data.Source, cache: Path, mirror: str | None) -> Finding:
    """One data file: cached with its sha256, in the mirror with it, or downloadable."""
    requirement = f"data: {source.filename}"
    cached = cache / source.filename
    if cached.is_file() and data.sha256_of(cached) == source.sha256:
        return Finding(requirement, True, f"in {cache}, sha256 checked")
    if mirror:
        copy = Path(mirror) / source.filename
        if not copy.is_file():
            return Finding(
                requirement,
                False,
                f"{data.MIRROR_VARIABLE}={mirror} has no {source.filename}",
                f"Put a copy of {source.url} there, or unset {data.MIRROR_VARIABLE}.",
            )
        if data.sha256_of(copy) != source.sha256:
            return Finding(
                requirement,
                False,
                f"{copy} has the wrong sha256 (expected {source.sha256[:12]}…)",
                f"Replace it with a fresh copy of {source.url}.",
            )
        return Finding(requirement, True, f"in the mirror {mirror}, sha256 checked")
    return Finding(
        requirement,
        True,
        f"not cached; downloaded from {source.url} on first use (offline: set "
        f"{data.MIRROR_VARIABLE} to a folder holding it)",
    )


def check_data(cache: Path | None = None, mirror: str | None = None) -> list[Finding]:
    """Every data file the book reads."""
    cache = data.data_dir() if cache is None else cache
    mirror = os.environ.get(data.MIRROR_VARIABLE) if mirror is None else mirror
    return [check_data_file(source, cache, mirror) for source in data.SOURCES.values()]


def check_disk(
    folder: Path | None = None, usage: Callable[[Path], tuple] = shutil.disk_usage
) -> Finding:
    """Free space in the temporary folder, where TensorFlow writes while it traces."""
    folder = Path(tempfile.gettempdir()) if folder is None else folder
    free = usage(folder)[2] / GIB
    found = f"{free:.1f} GiB free in {folder}"
    if free >= MIN_FREE_GIB:
        return Finding("free disk", True, found)
    return Finding(
        "free disk",
        False,
        f"{found}, under {MIN_FREE_GIB:g} GiB; a full disk makes AutoGraph fail quietly",
        "Free some space there, or point TMPDIR at a folder with room.",
    )


def total_memory_bytes() -> int:
    """The machine's physical memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(memory: int | None = None, cores: int | None = None) -> Finding:
    """Enough memory for the test command's two workers; the cores are reported."""
    memory = total_memory_bytes() if memory is None else memory
    cores = (os.cpu_count() or 1) if cores is None else cores
    found = f"{memory / GIB:.1f} GiB, {cores} core{'s' if cores != 1 else ''}"
    if memory / GIB >= MIN_MEMORY_GIB:
        return Finding("memory and cores", True, found)
    return Finding(
        "memory and cores",
        False,
        f"{found}; make test's two workers need about {MIN_MEMORY_GIB:g} GiB",
        "Run the tests on a larger machine, or one file at a time "
        "(`.venv/bin/python -m pytest tests/test_data.py`).",
    )


def check_onednn(enabled: Callable[[], bool] | None = None, variable: str | None = None) -> Finding:
    """oneDNN on, as when the chapters' stored outputs were made."""
    if enabled is None:
        from gpt_lesson.runtime import onednn_enabled as enabled
    variable = os.environ.get("TF_ENABLE_ONEDNN_OPTS") if variable is None else variable
    try:
        on = enabled()
    except ImportError as error:  # the adapter refuses library versions it was not written for
        return Finding("oneDNN", False, "cannot tell", str(error))
    if on:
        return Finding("oneDNN", True, "TensorFlow uses oneDNN's kernels")
    if variable == "0":
        return Finding(
            "oneDNN",
            False,
            "TF_ENABLE_ONEDNN_OPTS=0 turned it off; the stored outputs were made with it",
            "Unset TF_ENABLE_ONEDNN_OPTS.",
        )
    return Finding("oneDNN", True, "not used by this TensorFlow build (no x86 oneDNN)")


def check_chromium(
    which: Callable[[str], str | None] = shutil.which, named: str | None = None
) -> Finding:
    """The Chromium that the browser test drives."""
    named = os.environ.get(CHROMIUM_VARIABLE) if named is None else named
    if named:
        if Path(named).is_file():
            return Finding("Chromium", True, f"{named} ({CHROMIUM_VARIABLE})")
        return Finding(
            "Chromium",
            False,
            f"{CHROMIUM_VARIABLE}={named} is no file",
            "Point it at a Chromium or Chrome binary, or unset it.",
        )
    found = which("chromium") or which("chromium-browser")
    if found:
        return Finding("Chromium", True, found)
    return Finding(
        "Chromium",
        False,
        "no chromium on PATH; tests/test_browser.py reads the built book with it",
        f"Install it (`sudo apt-get install -y chromium`) or set {CHROMIUM_VARIABLE}.",
    )


def kernel_argv() -> list[str] | None:
    """The ``python3`` Jupyter kernel's command, or None if there is no such kernel."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec("python3").argv
    except NoSuchKernel:
        return None


def check_kernel(argv: Callable[[], list[str] | None] = kernel_argv) -> Finding:
    """A ``python3`` kernel that runs this environment's Python (JupyterLab's chapters)."""
    command = argv()
    fix = "Run `make install`, which installs ipykernel into .venv, and start Lab from there."
    if command is None:
        return Finding("JupyterLab kernel", False, "no python3 kernel", fix)
    python = command[0]
    # Jupyter runs a spec's "python" as the interpreter that serves JupyterLab.
    if python in ("python", "python3") or Path(python).resolve() == Path(sys.executable).resolve():
        return Finding("JupyterLab kernel", True, f"python3 runs {sys.executable}")
    return Finding("JupyterLab kernel", False, f"python3 runs {python}, not {sys.executable}", fix)


def examine() -> list[Finding]:
    """Every check, on this machine."""
    return [
        check_python(),
        *check_versions(),
        check_platform(),
        *check_data(),
        check_disk(),
        check_memory(),
        check_onednn(),
        check_chromium(),
        check_kernel(),
    ]


def report(findings: list[Finding]) -> tuple[str, bool]:
    """The findings one a line, and whether all of them are met."""
    return "\n".join(finding.line() for finding in findings), all(f.ok for f in findings)
