"""Chapter 6's experiments: what generative pre-training buys, on tasks cut from the play.

python -m experiments.what_pretraining_buys pretrain     # chapter 3's recipe, with snapshots
python -m experiments.what_pretraining_buys zero-shot    # Figure 2 (right): each snapshot
python -m experiments.what_pretraining_buys scores       # the last model's score per example
python -m experiments.what_pretraining_buys rates        # each arm's learning rate, per task
python -m experiments.what_pretraining_buys curves       # the label-efficiency curves
python -m experiments.what_pretraining_buys layers       # Figure 2 (left): blocks transferred
python -m experiments.what_pretraining_buys longer       # stuck or slow? 10 times the steps
python -m experiments.what_pretraining_buys all          # the five in order
python -m experiments.what_pretraining_buys curves --tasks follows --threads 1  # a share

Every step stores its results in ``experiments/results/what_pretraining_buys/`` (or
``--out``) as small JSON, rewritten after every run, and skips what is stored, so an
interrupted command carries on where it stopped. ``--quick`` runs the same code on the
quick preset with a few examples (seconds; what CI and the chapter's quick profile run).
The pre-trained model and its snapshots live in ``runs/chapter6-<preset>/`` (not
committed; ``pretrain`` makes them again, to the same weights on the same CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from gpt_lesson.tasks.fine_tuning import FinetuneConfig

RESULTS = Path(__file__).resolve().parent / "results" / "what_pretraining_buys"
STEPS = ("pretrain", "zero-shot", "scores", "rates", "curves", "layers", "longer")
RUNS = Path(__file__).resolve().parent.parent / "runs"


@dataclasses.dataclass(frozen=True)
class Plan:
    """The sizes of chapter 6's experiments under one profile."""

    preset: str  # the pre-trained model: chapter 3's recipe for this preset
    early_snapshots: tuple[int, ...]  # steps saved before the first epoch ends
    sizes: tuple[int | None, ...]  # labelled-set sizes of the curves (None: all)
    curve_tasks: tuple[str, ...]  # tasks with a whole curve; the others at all labels only
    seeds: tuple[int, ...]  # seeds of every point of the curves
    all_only_seeds: tuple[int, ...]  # seeds of the tasks fine-tuned on all labels only
    rates: tuple[float, ...]  # learning rates tried for each arm and task
    rate_size: int  # the labelled-set size at which the rates are chosen
    rate_seeds: tuple[int, ...]
    layer_tasks: tuple[str, ...]  # Figure 2 (left): the tasks, on all labelled examples
    layer_seeds: tuple[int, ...]
    longer_task: str  # both arms on all labels for many more steps: stuck, or slow?
    longer_steps: int
    longer_seeds: tuple[int, ...]
    finetune: FinetuneConfig  # the recipe, but for the rate and the seed
    tasks: tuple[str, ...] = ("next line", "follows", "corrupted")

    @property
    def run_folder(self) -> Path:
        return RUNS / f"chapter6-{self.preset}"


ARMS = {  # both with the auxiliary L1 (lambda = 0.5), as chapter 5's rows (a) and (c)
    "pre-trained": {"pretrained": True},
    "random": {"pretrained": False},
}
PLANS = {
    "default": Plan(
        preset="lesson",
        early_snapshots=(0, 10, 25, 50, 100),
        sizes=(32, 128, 512, None),
        # next line runs 2 sequences an example, so twice the time: all labels only
        curve_tasks=("follows", "corrupted"),
        seeds=(0, 1, 2, 3, 4),
        all_only_seeds=(0, 1, 2),
        rates=(2.5e-4, 1e-3),  # chapter 5's choices for random and pre-trained weights
        rate_size=512,
        rate_seeds=(0,),
        layer_tasks=("corrupted",),
        layer_seeds=(0, 1),
        longer_task="corrupted",
        longer_steps=600,
        longer_seeds=(0,),
        # 3 epochs as in the paper, but at least 60 steps: 32 examples make 1 step an epoch
        finetune=FinetuneConfig(min_steps=60),
    ),
    "quick": Plan(  # the same code on the quick model, in a few minutes (CI)
        preset="quick",
        early_snapshots=(0,),
        sizes=(16, None),
        curve_tasks=("corrupted",),
        seeds=(0, 1),
        all_only_seeds=(0, 1),
        rates=(1e-3,),
        rate_size=16,
        rate_seeds=(0,),
        layer_tasks=("corrupted",),
        layer_seeds=(0,),
        longer_task="corrupted",
        longer_steps=6,
        longer_seeds=(0,),
        finetune=FinetuneConfig(max_steps=3, epochs=1),
        tasks=("corrupted",),
    ),
}


def pretrain_with_snapshots(plan: Plan, out: Path) -> None:
    """Chapter 3's recipe for ``plan.preset``, run to its last epoch (no time limit, so the
    weights do not depend on the machine's speed), with the weights saved at the early
    steps and after every epoch; its summary, history and sha256 go to ``pretraining.json``."""
    from gpt_lesson.config import TRAINING, get_preset
    from gpt_lesson.data import sha256_of
    from gpt_lesson.pretraining.train import WeightSnapshots, load_shakespeare, pretrain
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    tokenizer = load_gpt2_tokenizer()
    recipe = dataclasses.replace(TRAINING[plan.preset], max_minutes=None)
    folder = plan.run_folder
    snapshots = WeightSnapshots(folder / "snapshots", plan.early_snapshots)
    start = time.monotonic()
    summary = pretrain(
        get_preset(plan.preset),
        recipe,
        load_shakespeare(tokenizer),
        tokenizer,
        folder,
        verbose=2,
        callbacks=[snapshots],
    )
    history = (folder / "history.csv").read_text(encoding="utf-8")
    record = {
        "preset": plan.preset,
        "recipe": dataclasses.asdict(recipe),
        "summary": summary,
        "history_csv": history,
        "snapshots": sorted(p.name for p in (folder / "snapshots").glob("step-*.weights.h5")),
        "weights_sha256": sha256_of(folder / "model.weights.h5"),
        "wall_minutes": (time.monotonic() - start) / 60.0,
        "machine": machine(),
    }
    write_json(out / "pretraining.json", record)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=(*STEPS, "all"))
    parser.add_argument("--quick", action="store_true", help="the quick preset, seconds")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--tasks", nargs="*", default=None, help="only these tasks")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: all)")
    args = parser.parse_args(argv)
    if args.threads:  # e.g. two processes of one thread each on two cores
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    plan = PLANS["quick" if args.quick else "default"]
    out = args.out or (RESULTS.with_name(RESULTS.name + "-quick") if args.quick else RESULTS)
    if args.tasks:
        plan = dataclasses.replace(plan, tasks=tuple(args.tasks))
    actions = {
        "pretrain": pretrain_with_snapshots,
        "zero-shot": zero_shot_over_pretraining,
        "scores": example_scores,
        "rates": choose_rates,
        "curves": label_efficiency,
        "layers": blocks_transferred,
        "longer": longer_training,
    }
    for step in STEPS if args.step == "all" else (args.step,):
        start = time.monotonic()
        actions[step](plan, out)
        print(f"{step}: done in {(time.monotonic() - start) / 60:.1f} min", flush=True)


# --- The store: one JSON file per step (and task), rewritten after every run ---------------


def machine() -> dict:
    from benchmarks.machine import describe_machine

    return describe_machine()


def write_json(path: Path, record: object) -> None:
    from gpt_lesson._files import write_json as write

    write(path, record, indent=1)


class Store:
    """Runs of one file, keyed by what makes them different; each run records the CPU it
    ran on, and the file the description of every CPU that contributed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.record = (
            json.loads(path.read_text()) if path.exists() else {"runs": [], "machines": {}}
        )

    def has(self, key: dict) -> bool:
        return any(all(run.get(k) == v for k, v in key.items()) for run in self.record["runs"])

    def find(self, key: dict) -> list[dict]:
        return [run for run in self.record["runs"] if all(run.get(k) == v for k, v in key.items())]

    def add(self, key: dict, run: dict) -> None:
        description = machine()
        self.record["machines"][description["cpu"]] = description
        self.record["runs"].append({**key, **run, "cpu": description["cpu"]})
        write_json(self.path, self.record)


def load_pretrained(plan: Plan):
    from gpt_lesson.gpt1.presets import load_checkpoint

    if not (plan.run_folder / "summary.json").exists():
        raise SystemExit(
            f"No finished pre-training in {plan.run_folder}: run the pretrain step first."
        )
    return load_checkpoint(plan.run_folder)


def task_data(plan: Plan, name: str):
    from gpt_lesson.tasks.transfer import prepare_play_task
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    return prepare_play_task(load_pretrained(plan), load_gpt2_tokenizer(), name)


class TaskRuns:
    """Fine-tuning runs of one task into one store: each key run once, the task's data
    prepared only when a run is missing, and one line printed per run."""

    def __init__(self, plan: Plan, name: str, path: Path) -> None:
        self.plan, self.name, self.store, self.data = plan, name, Store(path), None

    def run(self, key: dict, config: FinetuneConfig, size: int | None, split: str = "test") -> None:
        from gpt_lesson.tasks.transfer import run_once

        if self.store.has(key):
            return
        self.data = self.data or task_data(self.plan, self.name)
        run = run_once(self.data, config, size)
        self.store.add(key, run)
        where = ", ".join(f"{k} {v}" for k, v in key.items())
        print(f"{self.name}, {where}: {split} {run[split]['accuracy']:.3f}", flush=True)


def config_for(plan: Plan, arm: str, rate: float, seed: int, **changes) -> FinetuneConfig:
    return dataclasses.replace(plan.finetune, **ARMS[arm], learning_rate=rate, seed=seed, **changes)


def size_name(size: int | None) -> str:
    return "all" if size is None else str(size)


# --- The steps ---------------------------------------------------------------------------


def zero_shot_over_pretraining(plan: Plan, out: Path) -> None:
    """Figure 2 (right): every snapshot's validation bits per character and the zero-shot
    accuracy of each task's heuristic (``zero_shot.json``)."""
    from gpt_lesson.gpt1.causal_lm import build_gpt
    from gpt_lesson.pretraining.train import load_shakespeare, text_nats_and_bits
    from gpt_lesson.tasks.play_tasks import READERS, read_task
    from gpt_lesson.tasks.transfer import Encoder, held_out_text, zero_shot
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    checkpoint = load_pretrained(plan)
    store = Store(out / "zero_shot.json")
    encode = Encoder(checkpoint.tokenizer)
    data = load_shakespeare(load_gpt2_tokenizer())
    ids = checkpoint.to_model_ids(data.validation_ids)
    examples = {name: read_task(name, held_out_text()) for name in READERS}
    for path in sorted((plan.run_folder / "snapshots").glob("step-*.weights.h5")):
        step = int(path.name.split(".")[0].split("-")[1])
        if store.has({"step": step}):
            continue
        model = build_gpt(checkpoint.config)
        model.load_weights(path)
        _, bits = text_nats_and_bits(model, ids, data.validation_characters, encode.pad_id)
        tasks = {name: zero_shot(model, encode, name, examples[name]) for name in READERS}
        store.add({"step": step}, {"val_bits_per_char": bits, "tasks": tasks})
        accuracies = ", ".join(f"{n} {t['test']['accuracy']:.3f}" for n, t in tasks.items())
        print(f"step {step}: {bits:.3f} bits/char; test accuracy {accuracies}", flush=True)


def example_scores(plan: Plan, out: Path) -> None:
    """The pre-trained model's zero-shot score of every training and test example of each
    task, with its label (``scores.json``): what a threshold chosen on a few labels makes
    of the language model alone (chapter 6 draws it beside the fine-tuning curves)."""
    from gpt_lesson.tasks.play_tasks import READERS, read_task
    from gpt_lesson.tasks.transfer import Encoder, held_out_text, zero_shot_scores

    checkpoint = load_pretrained(plan)
    encode, record = Encoder(checkpoint.tokenizer), {"tasks": {}}
    for name in READERS:
        examples = read_task(name, held_out_text())
        record["tasks"][name] = {
            split: {
                "scores": zero_shot_scores(
                    checkpoint.model, encode, name, examples[split]
                ).tolist(),
                "labels": [example.label for example in examples[split]],
            }
            for split in ("train", "test")
        }
    write_json(out / "scores.json", {**record, "machine": machine()})


def choose_rates(plan: Plan, out: Path) -> None:
    """Each arm's learning rate for each task: the best mean validation accuracy at
    ``plan.rate_size`` labelled examples (``rates-<task>.json``)."""
    for name in plan.tasks:
        runs = TaskRuns(plan, name, out / f"rates-{name.replace(' ', '_')}.json")
        for arm in ARMS:
            for rate in plan.rates:
                for seed in plan.rate_seeds:
                    key = {"arm": arm, "learning_rate": rate, "seed": seed}
                    runs.run(key, config_for(plan, arm, rate, seed), plan.rate_size, "validation")


def chosen_rate(plan: Plan, out: Path, name: str, arm: str) -> float:
    """The rate ``choose_rates`` found best for ``arm`` on task ``name``."""
    store = Store(out / f"rates-{name.replace(' ', '_')}.json")

    def mean_accuracy(rate: float) -> float:
        runs = store.find({"arm": arm, "learning_rate": rate})
        if not runs:
            raise SystemExit(f"No rate runs for {name}, {arm}, {rate:g}: run the rates step first.")
        return sum(run["validation"]["accuracy"] for run in runs) / len(runs)

    return max(plan.rates, key=mean_accuracy)


def label_efficiency(plan: Plan, out: Path) -> None:
    """The label-efficiency curves: both arms at every size with every seed, each arm at its
    own rate (``curves-<task>.json``)."""
    for name in plan.tasks:
        runs = TaskRuns(plan, name, out / f"curves-{name.replace(' ', '_')}.json")
        whole = name in plan.curve_tasks
        for size in plan.sizes if whole else (None,):
            for arm in ARMS:
                rate = chosen_rate(plan, out, name, arm)
                for seed in plan.seeds if whole else plan.all_only_seeds:
                    key = {"arm": arm, "labelled": size_name(size), "seed": seed}
                    runs.run(key, config_for(plan, arm, rate, seed), size)


def blocks_transferred(plan: Plan, out: Path) -> None:
    """Figure 2 (left): the embeddings and the lowest 0..L blocks transferred, the rest from
    random weights, on all labelled examples, at the pre-trained arm's rate
    (``layers-<task>.json``); "none" is the random arm at its own rate."""
    layers = plan_layers(plan)
    for name in plan.layer_tasks:
        runs = TaskRuns(plan, name, out / f"layers-{name.replace(' ', '_')}.json")
        for blocks in ("none", *range(layers + 1)):
            arm = "random" if blocks == "none" else "pre-trained"
            rate = chosen_rate(plan, out, name, arm)
            changes = {} if blocks == "none" else {"transfer_blocks": blocks}
            for seed in plan.layer_seeds:
                config = config_for(plan, arm, rate, seed, **changes)
                runs.run({"blocks": blocks, "seed": seed}, config, None)


def longer_training(plan: Plan, out: Path) -> None:
    """Both arms on all labelled examples of ``plan.longer_task`` for ``plan.longer_steps``
    steps, each at its rate (``longer-<task>.json``): whether a flat curve is stuck or slow.
    The validation curve of each run shows the way there."""
    name = plan.longer_task
    runs = TaskRuns(plan, name, out / f"longer-{name.replace(' ', '_')}.json")
    steps = {"min_steps": plan.longer_steps, "max_steps": plan.longer_steps}
    for arm in ARMS:
        rate = chosen_rate(plan, out, name, arm)
        for seed in plan.longer_seeds:
            runs.run({"arm": arm, "seed": seed}, config_for(plan, arm, rate, seed, **steps), None)


def plan_layers(plan: Plan) -> int:
    from gpt_lesson.config import get_preset

    return get_preset(plan.preset).num_layers


if __name__ == "__main__":
    sys.exit(main())
