"""Table pages of the Snakemake report, and the report itself on a small workflow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from paczero.cells import load_cells, load_config
from paczero.privacy.mechanism import PrivacyEngine
from paczero.report import table_html
from run_fixtures import write_run
from workflow_helpers import REPO, copy_workflow

pytest.importorskip("snakemake")

REPORT_CELLS = """\
groups:
  - name: report-pacmi
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: pacmi, budget_nats: 0.33,
             lr: 5e-4, clip: 25, steps: 20, num_subsets: 8}
    seeds: [0, 1]
"""


def test_table_html_rows_and_numbers(tmp_path):
    path = tmp_path / "table1.csv"
    path.write_text("task,method,mean,std,n,seeds\nsst2,pacmi,91.23456,0.5,2,0;1\nsst2,<zpl>,88.0,,1,0\n")
    page = table_html(path, "table1")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<tr>") == 3  # header and two rows
    assert "<td>91.23</td>" in page
    assert "<td>0.5</td>" in page
    assert '<td class="text">&lt;zpl&gt;</td>' in page  # escaped text, left aligned
    assert "<td></td>" in page  # the single seed's empty std
    assert "2 rows; source" in page
    assert str(path) in page


def _engine_diagnostics(recipe):
    """Diagnostics records and privacy summary of the real PrivacyEngine on random subset means."""
    directions = recipe["directions"]
    engine = PrivacyEngine(
        recipe["method"], recipe["num_subsets"], recipe["budget_nats"], recipe["steps"], directions,
        recipe["budget_schedule"], recipe["ablation"], None, np.random.default_rng(0),
    )
    data = np.random.default_rng(1)
    records = []
    for step in range(recipe["steps"]):
        engine.begin_step(step)
        for _ in range(directions):
            means = data.normal(0.05, 1.0, recipe["num_subsets"])
            engine.release(means, float(means.mean()))
        record = engine.end_step()
        released = record["released"] if isinstance(record["released"], list) else [record["released"]]
        record.update(
            lr=recipe["lr"], train_loss=0.5, clip_fraction=0.0,
            direction_seeds=list(range(directions)), coefficients=[y / directions for y in released],
        )
        records.append(record)
    return records, engine.summary()


def test_snakemake_report_collects_outputs(tmp_path):
    """Build tables and figures from hand-written runs, then `snakemake --report`.

    The runs have no Snakemake metadata, so Snakemake judges them by their
    files alone and does not train (about 15 s on 2 cores).
    """
    root = copy_workflow(tmp_path / "workflow")
    (root / "config" / "report-cells.yaml").write_text(REPORT_CELLS)
    config = load_config(root / "config" / "config.yaml")
    config["cells_file"] = str(root / "config" / "report-cells.yaml")
    cells = load_cells(config, preset="demo")
    for recipe in cells.values():
        # `rule all` also verifies each cell's privacy ledger, so the runs' releases come from the real engine.
        records, privacy = _engine_diagnostics(recipe)
        write_run(root / "results", recipe, 60.0, diagnostics=records, privacy=privacy)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "snakemake", "--directory", str(root), "--snakefile", str(root / "Snakefile")]
    settings = ["--config", "preset=demo", "cells_file=config/report-cells.yaml"]
    build = subprocess.run(command + ["--cores", "2"] + settings, cwd=root, env=env, capture_output=True,
                           text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-5000:]
    assert not any("rule train" in line for line in build.stderr.splitlines())
    report = subprocess.run(command + ["--report", "report.html"] + settings, cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-5000:]

    page = (root / "report.html").read_text()
    assert "PACZero fine-tunes causal language models" in page  # the workflow description
    assert "Fraction of free releases" in page  # the unanimity caption
    assert page.count("Training curves of cell") == 2  # one caption per cell, wildcards filled in
    assert "rendered from" in page  # the table caption
    for name in ("unanimity.png", "table1.html", "sst2_opt-1.3b_lora_pacmi_mi0.33_s0.png"):
        assert f"Adding {name}" in report.stderr
