"""Table pages of the Snakemake report, and the report itself on a small workflow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from paczero.cells import load_cells, load_config
from paczero.report import table_html
from run_fixtures import pac_diagnostics, write_run
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
        write_run(root / "results", recipe, 60.0, diagnostics=pac_diagnostics(recipe, recipe["steps"]))

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
