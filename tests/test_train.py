import json
import math

import pytest

from paczero.train import TrainingDiverged, learning_rate, run_cell
from tests.conftest import tiny_recipe


def _read_diagnostics(run_dir):
    return [json.loads(line) for line in (run_dir / "diagnostics.jsonl").read_text().splitlines()]


def test_linear_schedule_endpoints():
    recipe = {"lr": 1e-3, "lr_end": 1e-7, "steps": 10, "lr_schedule": "linear"}
    assert learning_rate(recipe, 0) == pytest.approx(1e-3)
    assert learning_rate(recipe, 5) == pytest.approx(0.5 * (1e-3 - 1e-7) + 1e-7)
    assert learning_rate({**recipe, "lr_schedule": "constant"}, 9) == 1e-3


def test_nonprivate_run_writes_outputs(tmp_path):
    metrics = run_cell(tiny_recipe(), tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["cell"] == "test_cell"
    assert saved["recipe"]["steps"] == 6
    assert 0.0 <= saved["test"]["accuracy"] <= 100.0
    assert saved["best_step"] in (3, 6)
    assert saved["steps_run"] == 6
    assert len(_read_diagnostics(tmp_path)) == 6
    assert metrics["test"] == saved["test"]


def test_pacmi_spend_matches_diagnostics(tmp_path, sst2_folder):
    recipe = tiny_recipe(method="pacmi", budget_nats=0.05, steps=8, data=str(sst2_folder), num_subsets=16)
    metrics = run_cell(recipe, tmp_path)
    rows = _read_diagnostics(tmp_path)
    spent = sum(r["step_spent"] for r in rows)
    assert metrics["privacy"]["spent_nats"] == pytest.approx(spent, abs=1e-12)
    assert spent <= 0.05 + 1e-12
    assert rows[-1]["cumulative_mi"] == pytest.approx(spent, abs=1e-12)
    assert metrics["privacy"]["free_steps"] + metrics["privacy"]["noisy_steps"] == metrics["steps_run"]


def test_pacmi_uniform_budget_never_exceeded(tmp_path):
    recipe = tiny_recipe(method="pacmi", budget_nats=1e-6, budget_schedule="uniform", steps=6, num_train=16, num_subsets=64)
    metrics = run_cell(recipe, tmp_path)
    rows = _read_diagnostics(tmp_path)
    assert metrics["privacy"]["spent_nats"] <= 1e-6
    assert all(r["step_spent"] <= 1e-6 / 6 * (1 + 1e-9) for r in rows)
    assert metrics["steps_run"] == 6


def test_paczpl_spends_nothing(tmp_path):
    metrics = run_cell(tiny_recipe(method="paczpl", directions=2), tmp_path)
    rows = _read_diagnostics(tmp_path)
    assert metrics["privacy"]["spent_nats"] == 0.0
    assert all(r["step_spent"] == 0 for r in rows)


def test_runs_are_deterministic(tmp_path):
    recipe = tiny_recipe(method="pacmi", budget_nats=0.1, track="lora")
    run_cell(recipe, tmp_path / "a")
    run_cell(recipe, tmp_path / "b")
    a = (tmp_path / "a" / "diagnostics.jsonl").read_text()
    b = (tmp_path / "b" / "diagnostics.jsonl").read_text()
    assert a == b


def test_divergence_stops_without_metrics(tmp_path):
    with pytest.raises(TrainingDiverged, match="NaN or infinite"):
        run_cell(tiny_recipe(lr=1e30, steps=5, eval_every=100), tmp_path)
    assert not (tmp_path / "metrics.json").exists()


def test_zeroshot_evaluates_without_training(tmp_path):
    metrics = run_cell(tiny_recipe(method="zeroshot"), tmp_path)
    assert metrics["steps_run"] == 0
    assert math.isfinite(metrics["test"]["loss"])


def test_squad_cell_on_real_rows(tmp_path, squad_folder):
    recipe = tiny_recipe(
        task="squad", method="pacmi", budget_nats=0.33, data=str(squad_folder), num_train=8, num_dev=4,
        num_eval=8, steps=2, eval_every=2, num_subsets=4, max_new_tokens=4, micro_batch=8, track="lora",
    )
    metrics = run_cell(recipe, tmp_path)
    assert metrics["metric"] == "f1"
    assert 0.0 <= metrics["test"]["f1"] <= 100.0
    assert 0.0 <= metrics["test"]["exact_match"] <= 100.0
    assert metrics["test"]["num_examples"] == 8
    assert len(_read_diagnostics(tmp_path)) == 2
