"""Draft tables through Snakemake: built from the finished cells, without training the others."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from workflow_helpers import REPO, copy_workflow
from paczero.cells import cells_by_table, load_cells, load_config, training_recipe

pytest.importorskip("snakemake")


def run_snakemake(root, data, target):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(root),
         "--snakefile", str(root / "Snakefile"), target, "--config", "preset=paper", f"data={{sst2: {data}}}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def write_metrics(root, recipe, accuracy):
    run_dir = root / "results" / "runs" / recipe["cell"]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps({
        "cell": recipe["cell"], "recipe": recipe, "test": {"accuracy": accuracy, "loss": 0.3},
        "dev": {"accuracy": accuracy}, "best_step": 100, "privacy": {"method": recipe["method"]},
    }))


def test_partial_table_follows_finished_cells(tmp_path):
    root = copy_workflow(tmp_path / "workflow")
    data = tmp_path / "sst2"
    data.mkdir()
    config = load_config(root / "config" / "config.yaml")
    config["data"] = {"sst2": str(data)}
    cells = load_cells(config, preset="paper", cells_file=root / "config" / "cells.yaml")
    table2 = cells_by_table(cells)["table2"]
    for cell, accuracy in zip(table2[:2], (60.0, 70.0)):
        write_metrics(root, training_recipe(cells[cell]), accuracy)

    output = run_snakemake(root, data, "results/partial/table2.csv")
    assert "rule train" not in output
    rows = list(csv.DictReader((root / "results" / "partial" / "table2.csv").open()))
    assert len(rows) == 15
    assert [row["mean"] for row in rows[:3]] == ["60.00", "70.00", ""]
    assert [row["missing"] for row in rows[:3]] == ["", "", "0"]
    markdown = (root / "results" / "partial" / "table2.md").read_text()
    assert "## Missing cells (13 of 15)" in markdown

    write_metrics(root, training_recipe(cells[table2[2]]), 80.0)
    run_snakemake(root, data, "results/partial/table2.csv")
    rows = list(csv.DictReader((root / "results" / "partial" / "table2.csv").open()))
    assert rows[2]["mean"] == "80.00"
    assert "## Missing cells (12 of 15)" in (root / "results" / "partial" / "table2.md").read_text()
    assert not (root / "results" / "table2.csv").exists()
