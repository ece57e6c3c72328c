"""Training under ``tf.distribute``: two replicas learn what one device learns.

Both tests start fresh processes: logical CPU devices can only be configured before
TensorFlow initialises, and each worker of a multi-worker cluster is its own process.
Every child is bounded by a timeout.

Run as a script (``python tests/pretraining/test_distribute.py FOLDER``) this file is
the child of the MirroredStrategy test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

TIMEOUT = 300  # seconds, for each child process


def child_output(command: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def weights(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path) as file:
        file.visititems(
            lambda name, item: (
                arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def assert_same_weights(actual: Path, expected: Path, rtol: float) -> None:
    want, got = weights(expected), weights(actual)
    assert got.keys() == want.keys()
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=rtol, atol=rtol / 10, err_msg=name)


def test_mirrored_on_two_cpus_follows_the_one_device_loss_curve(tmp_path):
    output = child_output([sys.executable, __file__, "mirrored", str(tmp_path)])
    curves = json.loads(output.splitlines()[-1])
    assert curves["replicas"] == 2
    one, two = np.array(curves["one"]), np.array(curves["mirrored"])
    assert len(one) == 12 and one[-1] < one[0]  # it learns
    np.testing.assert_allclose(two, one, rtol=1e-5)
    assert_same_weights(
        tmp_path / "mirrored" / "model.weights.h5", tmp_path / "one" / "model.weights.h5", 1e-4
    )


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("localhost", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def test_two_workers_on_localhost_train_the_same_model(tmp_path):
    workers = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                [sys.executable, __file__, "multiworker", str(tmp_path)],
                env={**os.environ, "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        results = [process.communicate(timeout=TIMEOUT) for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-3000:]

    curves = [json.loads(stdout.splitlines()[-1]) for stdout, _ in results]
    assert curves[0]["replicas"] == curves[1]["replicas"] == 2
    assert len(curves[0]["multiworker"]) == 12
    np.testing.assert_allclose(curves[1]["multiworker"], curves[0]["multiworker"], rtol=1e-6)
    chief, other = tmp_path / "multiworker", tmp_path / "multiworker" / "worker-1"
    assert_same_weights(other / "model.weights.h5", chief / "model.weights.h5", 1e-6)


def test_strategy_names_are_checked_with_what_to_do(monkeypatch):
    from gpt_lesson.pretraining.distribute import make_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG, which is not set.*--strategy mirrored"):
        make_strategy("multiworker")
    with pytest.raises(ValueError, match="use one of: default, mirrored, multiworker"):
        make_strategy("tpu-pod")


def child(mode: str, folder: Path) -> None:
    """Train a small model under the strategies of ``mode`` and print their loss curves.

    ``mirrored``: one CPU, then two logical CPUs. ``multiworker``: this process is one
    worker of the cluster in ``TF_CONFIG``.
    """
    import dataclasses

    import keras
    import tensorflow as tf

    from gpt_lesson.config import PRESETS, TrainConfig
    from gpt_lesson.pretraining.distribute import make_strategy
    from gpt_lesson.pretraining.train import LMData, pretrain
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    if mode == "mirrored":  # before anything else runs in TensorFlow
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        strategies = {
            "one": tf.distribute.OneDeviceStrategy("/cpu:0"),
            "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
        }
    else:
        strategies = {"multiworker": make_strategy("multiworker")}

    class BatchLosses(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.losses: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(float(logs["loss"]))

    # Dropout off: each replica draws its own masks, so with dropout the curves agree only
    # on average. 48 whole windows, batches of 8: no padding, no short batch, so every
    # replica's mean loss is over the same number of tokens.
    config = dataclasses.replace(PRESETS["quick"], dropout=0.0)
    train = TrainConfig(
        batch_size=8,
        learning_rate=3e-3,
        warmup_steps=3,
        epochs=2,
        jit_compile=False,
        trim_vocabulary=True,
    )
    ids = np.random.default_rng(0).integers(0, 300, 48 * 32 + 1 + 200).astype(np.int32)
    data = LMData(ids[: 48 * 32 + 1], ids[48 * 32 + 1 :], validation_characters=600)
    curves: dict[str, object] = {}
    for name, strategy in strategies.items():
        losses = BatchLosses()
        pretrain(
            config, train, data, load_gpt2_tokenizer(), folder / name, verbose=0,
            callbacks=[losses], strategy=strategy,
        )  # fmt: skip
        curves[name] = losses.losses
        curves["replicas"] = strategy.num_replicas_in_sync
    print(json.dumps(curves))


if __name__ == "__main__":
    child(sys.argv[1], Path(sys.argv[2]))
