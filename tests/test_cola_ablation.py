"""The ablation script's bookkeeping: finished runs are saved at once and never run twice."""

import dataclasses
import json
from types import SimpleNamespace

from experiments import cola_ablation
from gpt_lesson.tasks.cola import EVALUATION_SPLITS, ablation_configs
from gpt_lesson.tasks.fine_tuning import FinetuneConfig


def test_saved_runs_reuse_what_any_partial_file_holds_and_save_each_new_run(tmp_path, monkeypatch):
    done = FinetuneConfig(seed=0)
    other = tmp_path / "other.partial.json"
    record = {"config": dataclasses.asdict(done), "minutes": 3.0}
    other.write_text(json.dumps({"runs": [record, record]}))  # the same run twice
    calls = []

    def run_once(data, config):
        calls.append(config)
        return {"config": dataclasses.asdict(config), "minutes": 1.0}

    monkeypatch.setattr(cola_ablation, "run_once", run_once)
    partial = tmp_path / "out.partial.json"
    run = cola_ablation.SavedRuns(partial, [other])
    assert len(run.records) == 1  # duplicates are read once
    assert run(None, done)["minutes"] == 3.0 and not calls
    assert run(None, FinetuneConfig(seed=1))["minutes"] == 1.0 and len(calls) == 1
    saved = json.loads(partial.read_text())["runs"]
    assert [r["config"]["seed"] for r in saved] == [0, 1]
    again = cola_ablation.SavedRuns(partial, [])  # a restart: nothing is run again
    assert again(None, FinetuneConfig(seed=1))["minutes"] == 1.0 and len(calls) == 1


def test_a_finished_files_learning_rate_check_serves_the_check_but_never_a_full_run(
    tmp_path, monkeypatch
):
    chosen, other_rate = FinetuneConfig(seed=0), FinetuneConfig(seed=0, learning_rate=1e-3)
    finished = tmp_path / "finished.json"  # a finished file: checks keep validation only
    full = {"config": dataclasses.asdict(chosen), "minutes": 3.0, "dev": {"mcc": 0.1}}
    check = {"config": dataclasses.asdict(other_rate), "minutes": 2.0, "validation": {"mcc": 0}}
    finished.write_text(json.dumps({"runs": [full], "learning_rate_check": [check]}))
    calls = []

    def run_once(data, config):
        calls.append(config)
        return {"config": dataclasses.asdict(config), "minutes": 1.0}

    monkeypatch.setattr(cola_ablation, "run_once", run_once)
    run = cola_ablation.SavedRuns(tmp_path / "out.partial.json", [finished])
    assert run(None, other_rate, validation_only=True)["minutes"] == 2.0 and not calls
    assert run(None, chosen, validation_only=True)["minutes"] == 3.0 and not calls
    assert run(None, other_rate)["minutes"] == 1.0 and len(calls) == 1  # a full run is run


def test_reused_rows_take_only_those_rows_runs_from_other_files(tmp_path, monkeypatch):
    rows = ablation_configs(FinetuneConfig(seed=0))
    row_a, row_c = rows["(a) no pre-training, λ = 0.5"], rows["(c) pre-trained, λ = 0.5"]
    other = tmp_path / "other_checkpoint.json"
    saved = [{"config": dataclasses.asdict(config), "minutes": 3.0} for config in (row_a, row_c)]
    other.write_text(json.dumps({"runs": saved}))
    calls = []

    def run_once(data, config):
        calls.append(config)
        return {"config": dataclasses.asdict(config), "minutes": 1.0}

    monkeypatch.setattr(cola_ablation, "run_once", run_once)
    run = cola_ablation.SavedRuns(tmp_path / "out.partial.json", [other], rows="a")
    assert run(None, row_a)["minutes"] == 3.0 and not calls  # row (a): reused
    assert run(None, row_c)["minutes"] == 1.0 and calls == [row_c]  # row (c): run again


def test_the_ablation_runs_every_row_with_every_seed_and_the_baselines(monkeypatch):
    data = SimpleNamespace(
        added_ids=3,
        tokens_added={},
        sentences_with_added={},
        holds_added={name: (True, False) for name in EVALUATION_SPLITS},
        truncated=0,
    )
    monkeypatch.setattr(cola_ablation, "majority_baseline", lambda data: "majority")
    monkeypatch.setattr(cola_ablation, "zero_shot", lambda data: "zero-shot")
    configs = ablation_configs(FinetuneConfig())

    def run(data, config):
        return {"config": dataclasses.asdict(config), "minutes": 0.0, "dev": {"mcc": 0.1}}

    results = cola_ablation.run_ablation(data, configs, seeds=(0, 1), run=run)
    assert [(r["row"], r["seed"]) for r in results["runs"]] == [
        (row, seed) for row in configs for seed in (0, 1)
    ]
    assert [r["config"]["seed"] for r in results["runs"]] == [0, 1] * len(configs)
    assert (results["majority"], results["zero_shot"]) == ("majority", "zero-shot")
    assert results["vocabulary"]["holds_added"]["dev"] == [1, 0]


def test_a_run_in_a_fresh_process_gives_what_it_gives_here(tmp_path):
    from experiments.fresh_process import ColaSetup, FreshProcessRuns
    from gpt_lesson.config import PRESETS, TRAINING
    from gpt_lesson.gpt1.causal_lm import build_gpt
    from gpt_lesson.gpt1.presets import load_checkpoint, save_preset
    from gpt_lesson.pretraining.train import save_run_config, with_preprocessor
    from gpt_lesson.tasks.cola import prepare_cola, run_once
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    folder, config = tmp_path / "lm", PRESETS["quick"]
    save_run_config(folder, config, TRAINING["quick"])
    save_preset(with_preprocessor(build_gpt(config), load_gpt2_tokenizer()), folder)
    tuning = FinetuneConfig(max_steps=3, evaluations_per_epoch=1)
    data = prepare_cola(load_checkpoint(folder), load_gpt2_tokenizer())
    here = run_once(data, tuning)
    there = FreshProcessRuns(ColaSetup(str(folder)))(None, tuning)
    for key in ("config", "steps", "curve", "validation", "dev", "dev_out_of_domain"):
        assert there[key] == here[key], key
