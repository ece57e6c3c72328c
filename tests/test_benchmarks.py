"""The benchmarks' arithmetic (never their timings): FLOPs per token, MFU, the estimates and
the parsing of pytest's durations and of the CPU's description."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import estimate, flops
from benchmarks.machine import cpu_info
from benchmarks.suite import seconds_per_file
from gpt_lesson.config import PRESETS, parameter_count
from gpt_lesson.gpt1.causal_lm import build_gpt
from gpt_lesson.tasks.fine_tuning import FinetuneConfig


def test_matmul_parameters_are_the_model_kernels_and_the_tied_output():
    """Every kernel of build_gpt takes part in a product per token, and so does the token
    embedding as the tied output projection; biases, norms and positions do not."""
    config = PRESETS["quick"]
    model = build_gpt(config)
    kernels = sum(int(np.prod(v.shape)) for v in model.weights if v.path.endswith("/kernel"))
    output = config.vocab_size * config.hidden_dim
    assert flops.matmul_parameters(config) == kernels + output


def test_training_flops_of_the_blog_preset():
    """6·N_matmul + 12·L·d·T, worked by hand for d=512, f=1024, L=12, T=64, V=50,260."""
    per_layer = 4 * 512 * 512 + 2 * 512 * 1024
    n_matmul = 12 * per_layer + 50_260 * 512
    attention = 12 * 12 * 512 * 64
    assert flops.training_flops_per_token(PRESETS["blog"]) == 6 * n_matmul + attention


def test_mfu_is_model_flops_over_the_measured_peak():
    assert flops.model_flops_utilisation(50.0, 2e9, 200.0) == pytest.approx(0.5)
    assert flops.matmul_gflops(1000, 2.0) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_nonpositive_peak_or_time_is_refused(bad):
    with pytest.raises(ValueError, match="positive"):
        flops.model_flops_utilisation(1.0, 1.0, bad)
    with pytest.raises(ValueError, match="positive"):
        flops.matmul_gflops(8, bad)


def test_memory_estimate_adds_optimizer_state_and_activations():
    config = PRESETS["gpt1"]
    assert estimate.optimizer_state_bytes(config) == 16 * parameter_count(config)
    logits = 2 * 64 * 512 * config.vocab_size * 4
    layers = estimate.activation_bytes(config, 64) - logits
    # Korthikanti et al.: T·B·d·(34 + 5·a·T/d) bytes per layer at 16 bits, doubled for float32.
    assert layers == pytest.approx(12 * 512 * 64 * 768 * (34 + 5 * 12 * 512 / 768) * 2)
    assert estimate.training_memory_bytes(config, 64) == estimate.optimizer_state_bytes(
        config
    ) + estimate.activation_bytes(config, 64)


def test_step_seconds_is_flops_over_throughput():
    config = PRESETS["gpt1"]
    seconds = estimate.step_seconds(config, 64, sustained_tflops=100.0)
    expected = 64 * 512 * flops.training_flops_per_token(config) / 100e12
    assert math.isclose(seconds, expected)


def test_durations_are_summed_per_file():
    report = """
    12.50s call     notebooks/03_pretraining.ipynb::Cell 4
    0.50s setup    notebooks/03_pretraining.ipynb::Cell 0
    3.00s call     tests/test_model.py::test_shapes[quick]
    (1 durations < 0.005s hidden.)
    """
    assert seconds_per_file(report) == {
        "notebooks/03_pretraining.ipynb": 13.0,
        "tests/test_model.py": 3.0,
    }


def test_a_runner_that_times_itself_is_taken_at_its_word():
    """interleaved_medians uses a float a runner returns (a training runner's StepClock),
    and times any other call whole."""
    import time

    from benchmarks.training_step import interleaved_medians

    def slow_set_up_then_timed_work() -> float:
        time.sleep(0.05)  # set-up and tear-down that a StepClock leaves out
        return 0.001

    medians = interleaved_medians({"self-timed": slow_set_up_then_timed_work}, repeats=3)
    assert medians["self-timed"] == 0.001
    medians = interleaved_medians({"timed whole": lambda: time.sleep(0.02)}, repeats=3)
    assert medians["timed whole"] >= 0.02


def test_step_clock_counts_from_the_first_step_to_the_last():
    """Work before the first step is left out; work in every step is counted."""
    import time

    import keras

    from benchmarks.training_step import StepClock

    class SlowSetUpAndSteps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            time.sleep(3.0)  # like fit's set-up: not a step

        def on_train_batch_end(self, batch, logs=None):
            time.sleep(0.1)  # like a step's own work

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    clock = StepClock()
    callbacks = [SlowSetUpAndSteps(), clock]
    model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, verbose=0, callbacks=callbacks)
    assert 0.4 <= clock.seconds < 3.0  # four steps of at least 0.1 s, without the set-up


def test_cpu_info_reads_the_first_processor_only(tmp_path):
    """/proc/cpuinfo repeats a block per processor; the first is read, split at the first
    colon; a missing file gives nothing rather than an error."""
    cpuinfo = tmp_path / "cpuinfo"
    first = "processor\t: 0\ncpu family\t: 23\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n"
    cpuinfo.write_text(first + "\nprocessor\t: 1\ncpu family\t: 25\n", encoding="utf-8")
    info = cpu_info(cpuinfo)
    assert info == {
        "processor": "0",
        "cpu family": "23",
        "model name": "AMD EPYC",
        "flags": "fpu avx2 fma",
    }
    assert cpu_info(tmp_path / "missing") == {}


def test_finetune_seconds_train_and_score_at_a_third_of_the_cost():
    config = estimate.released_gpt1(12)
    per_token = flops.training_flops_per_token(config)
    seconds = estimate.finetune_seconds(config, 3000, 600, sustained_tflops=2.0)
    assert math.isclose(seconds, (3000 + 200) * per_token / 2e12)
    assert config.vocab_size == 40_478 + 5 and config.sequence_length == 12


def test_cola_tokens_count_every_pass_of_fine_tuning():
    lengths = {"train": [3, 5], "validation": [4], "dev": [1, 1, 1], "dev_out_of_domain": [7]}
    recipe = FinetuneConfig(epochs=2, evaluations_per_epoch=3)
    train, scored = estimate.cola_tokens(lengths, recipe)
    assert train == 2 * (5 + 7)  # each sentence with its start and extract tokens
    assert scored == (2 * 3 + 1) * 6 + 9 + 9  # the curve's points, the end, both dev sets


def test_the_real_weights_page_quotes_the_estimate_and_the_counts_the_code_gives():
    page = (Path(__file__).resolve().parents[1] / "book" / "real_weights.md").read_text()
    numbers = estimate.gpt1_on_cola()
    for name in ("train_tokens", "scored_tokens", "training_flops_per_token"):
        assert f"{numbers[name]:,}" in page, name
    assert f"{numbers['sentences']['train']:,}" in page
    assert f"{numbers['mean_tokens_per_training_sequence']:.1f} on average" in page
    assert f"about {numbers['cpu_hours']:.1f} hours" in page
    released = dataclasses.replace(estimate.released_gpt1(512), vocab_size=40_478)
    gpt2 = dataclasses.replace(
        PRESETS["gpt1"], vocab_size=50_257, sequence_length=1024, normalize_first=True
    )
    assert f"| {parameter_count(released):,} | {parameter_count(gpt2):,} |" in page
