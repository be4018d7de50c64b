"""Seed aggregation from hand-written metrics.json files."""

from __future__ import annotations

import csv
import json
import math
import statistics

import pandas as pd
import pytest

from paczero.tables import (
    MetricsError,
    aggregate_table,
    load_metrics,
    recipe_differences,
    write_csv,
)


def make_recipe(cell, *, task="sst2", method="pacmi", budget=0.33, seed=0, model="opt-1.3b", steps=2000):
    return {
        "cell": cell,
        "task": task,
        "model": model,
        "model_source": "tiny:opt-small",
        "track": "lora",
        "method": method,
        "budget_nats": budget,
        "lr": 5e-4,
        "clip": 25.0,
        "steps": steps,
        "num_subsets": 128,
        "lora_targets": ["q_proj", "v_proj"],
        "epsilon": None,
        "data_seed": seed,
        "preset": "paper",
        "data": "hub",
    }


def write_metrics(root, recipe, value, **changes):
    metric = "accuracy" if recipe["task"] == "sst2" else "f1"
    metrics = {
        "cell": recipe["cell"],
        "recipe": {**recipe, "table": ["table1"]},
        "test": {metric: value, "loss": 0.5},
        "dev": {metric: value, "loss": 0.4},
        "best_step": 100,
        "privacy": {"method": recipe["method"], "spent_nats": 0.1},
    }
    metrics.update(changes)
    path = root / "runs" / recipe["cell"] / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    return path


@pytest.fixture
def table1_runs(tmp_path):
    """Two seeds of a PAC-MI cell, one seed of a PAC-ZPL cell and one SQuAD cell."""
    recipes = {}
    paths = []
    values = {
        "mi_s0": ("pacmi", 0.33, 0, "sst2", 0.90),
        "mi_s1": ("pacmi", 0.33, 1, "sst2", 0.86),
        "mi_s2": ("pacmi", 0.33, 2, "sst2", 0.88),
        "zpl_s0": ("paczpl", 0.0, 0, "sst2", 0.80),
        "squad_s0": ("paczpl", 0.0, 0, "squad", 0.41),
    }
    for cell, (method, budget, seed, task, value) in values.items():
        recipe = make_recipe(cell, method=method, budget=budget, seed=seed, task=task)
        recipes[cell] = recipe
        paths.append(write_metrics(tmp_path, recipe, value))
    return paths, recipes


def test_aggregate_mean_std_n_seeds(table1_runs):
    paths, recipes = table1_runs
    frame = aggregate_table(paths, recipes)
    assert len(frame) == 3
    row = frame.iloc[0]
    assert row["mean"] == pytest.approx(statistics.fmean([0.90, 0.86, 0.88]))
    assert row["std"] == pytest.approx(statistics.stdev([0.90, 0.86, 0.88]))
    assert row["std"] == pytest.approx(0.02)  # ddof=1
    assert row["n"] == 3
    assert row["seeds"] == "0;1;2"
    assert row["cells"] == "mi_s0;mi_s1;mi_s2"
    assert row["metric"] == "accuracy"


def test_aggregate_single_seed_has_empty_std(table1_runs, tmp_path):
    paths, recipes = table1_runs
    frame = aggregate_table(paths, recipes)
    zpl = frame[frame["method"] == "paczpl"].iloc[0]
    assert zpl["n"] == 1
    assert math.isnan(zpl["std"])
    squad = frame[frame["task"] == "squad"].iloc[0]
    assert squad["metric"] == "f1"
    assert squad["mean"] == pytest.approx(0.41)

    out = tmp_path / "aggregate.csv"
    write_csv(frame, out)
    rows = list(csv.DictReader(out.open()))
    zpl_row = next(row for row in rows if row["cells"] == "zpl_s0")
    assert zpl_row["std"] == ""
    assert zpl_row["mean"] == "0.8"


def test_aggregate_row_excludes_seed_fields(table1_runs):
    paths, recipes = table1_runs
    frame = aggregate_table(paths, recipes)
    for column in ("cell", "table", "data_seed"):
        assert column not in frame.columns
    assert frame.iloc[0]["lora_targets"] == "q_proj,v_proj"


def test_invalid_json_rejected(table1_runs):
    paths, recipes = table1_runs
    paths[0].write_text("{not json")
    with pytest.raises(MetricsError) as info:
        aggregate_table(paths, recipes)
    assert str(paths[0]) in str(info.value)
    assert "invalid JSON" in str(info.value)


def test_truncated_file_rejected(table1_runs):
    paths, recipes = table1_runs
    paths[1].write_text("")
    with pytest.raises(MetricsError, match="invalid JSON"):
        aggregate_table(paths, recipes)


@pytest.mark.parametrize("key", ["cell", "recipe", "test", "dev", "best_step", "privacy"])
def test_missing_key_rejected(tmp_path, key):
    recipe = make_recipe("mi_s0")
    path = write_metrics(tmp_path, recipe, 0.9)
    metrics = json.loads(path.read_text())
    del metrics[key]
    path.write_text(json.dumps(metrics))
    with pytest.raises(MetricsError) as info:
        aggregate_table([path], {"mi_s0": recipe})
    assert str(path) in str(info.value)
    assert f"missing required keys {key}" in str(info.value)


@pytest.mark.parametrize("value", [None, "0.9", float("nan"), True])
def test_non_numeric_metric_rejected(tmp_path, value):
    recipe = make_recipe("mi_s0")
    path = write_metrics(tmp_path, recipe, 0.9)
    metrics = json.loads(path.read_text())
    metrics["test"]["accuracy"] = value
    path.write_text(json.dumps(metrics))
    with pytest.raises(MetricsError, match="test.accuracy must be a finite number"):
        load_metrics(path, recipe)


def test_metric_missing_from_test_rejected(tmp_path):
    recipe = make_recipe("mi_s0")
    path = write_metrics(tmp_path, recipe, 0.9, test={"loss": 0.3})
    with pytest.raises(MetricsError, match="test.accuracy"):
        load_metrics(path, recipe)


def test_recipe_from_other_preset_rejected(tmp_path):
    produced = {**make_recipe("mi_s0"), "preset": "demo", "steps": 40}
    path = write_metrics(tmp_path, produced, 0.9)
    current = make_recipe("mi_s0")
    with pytest.raises(MetricsError) as info:
        aggregate_table([path], {"mi_s0": current})
    message = str(info.value)
    assert str(path) in message
    assert "steps: 40 -> 2000" in message
    assert "preset: 'demo' -> 'paper'" in message
    assert "rerun the cell" in message


def test_recipe_missing_field_rejected(tmp_path):
    recipe = make_recipe("mi_s0")
    stored = {k: v for k, v in recipe.items() if k != "lr"}
    path = write_metrics(tmp_path, recipe, 0.9)
    metrics = json.loads(path.read_text())
    metrics["recipe"] = stored
    path.write_text(json.dumps(metrics))
    with pytest.raises(MetricsError, match="lr: missing"):
        load_metrics(path, recipe)


def test_recipe_differences_ignore_extra_fields_and_table():
    expected = make_recipe("a")
    stored = {**expected, "table": ["x"], "resume": True, "clip": 25}
    assert recipe_differences(stored, {**expected, "table": ["table1"]}) == []


def test_metrics_of_other_cell_rejected(tmp_path):
    recipe = make_recipe("mi_s0")
    path = write_metrics(tmp_path, recipe, 0.9, cell="mi_s1")
    with pytest.raises(MetricsError, match="belongs to cell 'mi_s1'"):
        aggregate_table([path], {"mi_s0": recipe})


def test_cell_outside_table_rejected(table1_runs):
    paths, recipes = table1_runs
    del recipes["zpl_s0"]
    with pytest.raises(MetricsError, match="'zpl_s0' is not part of this table"):
        aggregate_table(paths, recipes)


def test_write_csv_leaves_no_temporary_files(tmp_path, table1_runs):
    paths, recipes = table1_runs
    out = tmp_path / "out" / "table1.csv"
    write_csv(aggregate_table(paths, recipes), out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["table1.csv"]
    assert pd.read_csv(out)["n"].tolist() == [3, 1, 1]
