"""The package's TensorFlow settings (oneDNN on by default, off when the user says so) and
its public API."""

import os
import subprocess
import sys

import pytest

from gpt_lesson import runtime

CHECK = "import gpt_lesson, gpt_lesson.runtime as r; print(r.onednn_enabled())"


def onednn_in_fresh_process(**variables: str) -> bool:
    env = {k: v for k, v in os.environ.items() if k not in runtime.DEFAULTS}
    result = subprocess.run(
        [sys.executable, "-c", CHECK], env={**env, **variables}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1] == "True"


def test_onednn_is_on_after_importing_the_package():
    assert onednn_in_fresh_process()


def test_the_user_can_turn_onednn_off():
    assert not onednn_in_fresh_process(TF_ENABLE_ONEDNN_OPTS="0")


def test_this_suite_runs_with_onednn_on():
    # Determinism, exact resume and every stored output are checked in this process.
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        pytest.skip("the user turned oneDNN off")
    assert runtime.onednn_enabled()


def test_the_public_api_resolves_and_importing_it_is_light():
    import gpt_lesson

    for name in gpt_lesson.__all__:
        assert getattr(gpt_lesson, name) is not None, name
    check = "import sys, gpt_lesson; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr[-2000:]
