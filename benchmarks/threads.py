"""Thread settings and oneDNN: the one lever that needs a fresh process per setting.

TensorFlow reads its thread pools' sizes (``tf.config.threading``) and whether to use
oneDNN's kernels (``TF_ENABLE_ONEDNN_OPTS``; TensorFlow turns them on by itself only on
CPUs with some instruction sets, the package always: ``gpt_lesson.runtime``) once, when it
starts. So each setting runs in its own interpreter
(``python -m benchmarks.threads INTRA INTER STEPS``), which times the book's step (chapter
3's trimmed vocabulary at the blog's shapes) and TensorFlow's dense float32 matmul,
interleaved, median of 5 after a warm-up. The settings run one after another, so the load
average is stored with each of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    """TensorFlow's intra-op and inter-op pool sizes (0: its default) and oneDNN on or off."""

    name: str
    intra: int = 0
    inter: int = 0
    onednn: bool = True


SETTINGS = (
    Setting("the book's default: oneDNN on, a thread per core in each pool"),
    Setting("oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)", onednn=False),
    Setting("one thread (intra 1, inter 1)", intra=1, inter=1),
    Setting("intra 2, inter 1", intra=2, inter=1),
)
MATMUL_SIZE = 2048


def measure_here(intra: int, inter: int, steps: int) -> dict[str, object]:
    """In this fresh process: set the pools, then time the steps and the matmul."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)

    from benchmarks import training_step
    from benchmarks.flops import matmul_gflops, model_flops_utilisation, training_flops_per_token
    from benchmarks.matmul import matmul_runners
    from gpt_lesson.config import PRESETS
    from gpt_lesson.runtime import onednn_enabled
    from gpt_lesson.seed import blog

    config, batch = PRESETS["blog"], blog.SEED_BATCH_SIZE
    ids = training_step.corpus_ids()
    book = training_step.Variant("book's step", book=True, trimmed=True)
    train, trimmed = training_step.make_runner(book, config, ids, batch, steps)
    train(1)  # traces and compiles
    matmul = matmul_runners(MATMUL_SIZE)
    tf_matmul = {name: run for name, run in matmul.items() if name.startswith("TensorFlow")}
    for run in tf_matmul.values():
        run()
    seconds = training_step.interleaved_medians({book.name: train, **tf_matmul}, repeats=5)
    gflops = matmul_gflops(MATMUL_SIZE, seconds[next(iter(tf_matmul))])
    rate = batch * config.sequence_length * steps / seconds[book.name]
    mfu = model_flops_utilisation(rate, training_flops_per_token(trimmed), gflops)
    return {
        "oneDNN": onednn_enabled(),
        "book's step tokens/s": round(rate),
        "TensorFlow matmul GFLOP/s": round(gflops, 1),
        "MFU against that matmul": round(mfu, 3),
        "load average after": [round(x, 2) for x in os.getloadavg()],
    }


def measure_in_subprocess(setting: Setting, steps: int) -> dict[str, object]:
    """``measure_here`` in a fresh interpreter started with ``setting``."""
    command = [sys.executable, "-m", "benchmarks.threads"]
    command += [str(setting.intra), str(setting.inter), str(steps)]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if setting.onednn else "0"}
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def tensorflow_default() -> bool:
    """Whether TensorFlow turns oneDNN on by itself on this CPU: a fresh interpreter that
    imports TensorFlow, not the package, with the variable unset."""
    check = (  # the package sets the variable at its import: unset it before TensorFlow starts
        "import os, gpt_lesson.runtime as r; os.environ.pop('TF_ENABLE_ONEDNN_OPTS', None); "
        "print(r.onednn_enabled())"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env)
    return result.stdout.strip().splitlines()[-1] == "True"


def run(quick: bool) -> dict[str, object]:
    """Every setting in turn; ``quick`` times one step per repeat instead of two."""
    steps = 1 if quick else 2
    rows = []
    for setting in SETTINGS:
        load = [round(x, 2) for x in os.getloadavg()]
        rows.append({"setting": setting.name, "load average before": load})
        rows[-1].update(measure_in_subprocess(setting, steps))
    for row in rows:
        row["× default"] = round(row["book's step tokens/s"] / rows[0]["book's step tokens/s"], 2)
    return {
        "rows": rows,
        "steps per repeat": steps,
        "matmul size": MATMUL_SIZE,
        "TensorFlow's own oneDNN default on this CPU": tensorflow_default(),
    }


if __name__ == "__main__":
    intra, inter, steps = (int(a) for a in sys.argv[1:4])
    print(json.dumps(measure_here(intra, inter, steps)))
