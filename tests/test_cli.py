"""The command line pre-trains the quick preset and generates from what it wrote."""

import json
import subprocess
import sys


def run_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gpt_lesson", *args], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_pretrain_then_generate(tmp_path):
    run = tmp_path / "run"
    output = run_cli("pretrain", "--preset", "quick", "--out", str(run), "--epochs", "1")
    summary = json.loads(output[output.index("{") :])
    assert summary["epochs_run"] == 1 and summary["val_bits_per_char"] > 0
    for name in ("config.json", "vocabulary.json", "model.weights.h5", "history.csv"):
        assert (run / name).exists(), name

    text = run_cli(
        "generate",
        "--checkpoint",
        str(run),
        "--prompt",
        "ROMEO:",
        "--max-new-tokens",
        "5",
        "--sampler",
        "greedy",
    )
    assert text.startswith("ROMEO:") and len(text.strip()) > len("ROMEO:")
