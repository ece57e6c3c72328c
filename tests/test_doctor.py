"""``python -m gpt_lesson doctor``: [OK] on a ready machine, [FAIL] with what to do where
something is missing (each lack simulated)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gpt_lesson import data, doctor

ROOT = Path(__file__).resolve().parents[1]


def test_this_machine_is_ready_and_the_command_says_so_line_by_line():
    result = subprocess.run(
        [sys.executable, "-m", "gpt_lesson", "doctor"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(line.startswith("[OK]   ") for line in lines), result.stdout
    named = " ".join(lines)
    for requirement in ("Python", "tensorflow:", "keras:", "keras-hub", "tensorflow-text"):
        assert requirement in named
    for requirement in ("platform", "free disk", "memory", "oneDNN", "Chromium", "kernel"):
        assert requirement in named
    assert sum(line.startswith("[OK]   data: ") for line in lines) == len(data.SOURCES)
    assert result.stderr == ""


def test_a_machine_without_chromium_fails_with_how_to_install_it():
    finding = doctor.check_chromium(which=lambda name: None, named="")
    assert not finding.ok
    assert finding.line().startswith("[FAIL] Chromium: no chromium on PATH")
    assert "apt-get install -y chromium" in finding.line()
    assert doctor.check_chromium(which=lambda name: f"/usr/bin/{name}", named="").ok
    missing = doctor.check_chromium(named="/nowhere/chrome")
    assert not missing.ok and "GPT_LESSON_CHROMIUM=/nowhere/chrome is no file" in missing.line()


def test_too_little_disk_fails_and_enough_passes(tmp_path):
    def usage(free_gib):
        return lambda folder: (100 * doctor.GIB, 0, int(free_gib * doctor.GIB))

    low = doctor.check_disk(tmp_path, usage(0.3))
    assert not low.ok and "0.3 GiB free" in low.found and "TMPDIR" in low.fix
    assert doctor.check_disk(tmp_path, usage(50)).ok


def test_a_wrong_or_missing_version_fails_and_names_the_pin(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# pins\ntensorflow==2.21.0\nkeras==3.15.1\nkeras_hub==0.32.0\ntensorflow-text==2.21.1\n"
    )
    versions = {"tensorflow": "2.21.0", "keras": "3.0.0", "keras-hub": "0.32.0"}
    findings = {f.requirement: f for f in doctor.check_versions(requirements, versions.get)}
    assert findings["tensorflow"].ok and findings["keras-hub"].ok  # keras_hub normalised
    assert not findings["keras"].ok
    assert findings["keras"].line() == (
        "[FAIL] keras: 3.0.0 installed, requirements.txt pins 3.15.1. "
        "Run `make install` (a fresh .venv from requirements.txt)."
    )
    assert "not installed" in findings["tensorflow-text"].found


def test_python_and_platform_outside_the_pins_fail_with_the_way_out():
    assert doctor.check_python((3, 11, 9)).ok
    old = doctor.check_python((3, 9, 18))
    assert not old.ok and "make install PYTHON=python3.11" in old.fix
    windows = doctor.check_platform("Windows", "AMD64")
    assert not windows.ok and "WSL2" in windows.fix
    assert not doctor.check_platform("Darwin", "arm64").ok
    assert doctor.check_platform("Linux", "x86_64").ok


def test_data_is_found_in_the_cache_or_the_mirror_and_a_bad_mirror_fails(tmp_path):
    source = data.SOURCES["gpt2-merges"]
    real = data.fetch("gpt2-merges")
    cache, mirror = tmp_path / "cache", tmp_path / "mirror"
    cache.mkdir()
    mirror.mkdir()
    assert doctor.check_data_file(source, cache, None).ok  # downloadable
    gap = doctor.check_data_file(source, cache, str(mirror))
    assert not gap.ok and f"has no {source.filename}" in gap.found
    (mirror / source.filename).write_text("not the merges")
    wrong = doctor.check_data_file(source, cache, str(mirror))
    assert not wrong.ok and "wrong sha256" in wrong.found and source.url in wrong.fix
    (mirror / source.filename).write_bytes(real.read_bytes())
    assert "in the mirror" in doctor.check_data_file(source, cache, str(mirror)).found
    (cache / source.filename).write_bytes(real.read_bytes())
    assert "sha256 checked" in doctor.check_data_file(source, cache, None).found


def test_memory_onednn_and_the_kernel_fail_where_the_tests_would():
    assert not doctor.check_memory(memory=2 * doctor.GIB, cores=1).ok
    assert doctor.check_memory(memory=24 * doctor.GIB, cores=2).ok
    off = doctor.check_onednn(enabled=lambda: False, variable="0")
    assert not off.ok and "Unset TF_ENABLE_ONEDNN_OPTS" in off.fix
    assert doctor.check_onednn(enabled=lambda: False, variable="").ok  # a build without it

    def other_versions() -> bool:
        raise ImportError("install keras-hub 0.32 (requirements.txt)")

    unknown = doctor.check_onednn(enabled=other_versions, variable="")
    assert not unknown.ok and "keras-hub 0.32" in unknown.line()
    assert not doctor.check_kernel(lambda: None).ok
    assert not doctor.check_kernel(lambda: ["/usr/bin/python2", "-m", "ipykernel"]).ok
    assert doctor.check_kernel(lambda: [sys.executable, "-m", "ipykernel_launcher"]).ok


def test_the_report_fails_if_any_finding_fails():
    good, bad = doctor.Finding("a", True, "fine"), doctor.Finding("b", False, "gone", "Fix it.")
    assert doctor.report([good]) == ("[OK]   a: fine", True)
    assert doctor.report([good, bad]) == ("[OK]   a: fine\n[FAIL] b: gone. Fix it.", False)
