"""Dry runs of the figure rules: each figure trains exactly the cells it reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from paczero.cells import load_cells, load_config
from paczero.figure_data import plateau_cells
from workflow_helpers import REPO, copy_workflow

pytest.importorskip("snakemake")


def planned(root, target):
    """Return the cells of the train jobs and the rule names that a dry run of `target` plans."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--directory", str(root), "--snakefile", str(root / "Snakefile"),
         target, "--config", "preset=demo"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    cells = re.findall(r"^\s+wildcards: cell=(\S+)$", output, flags=re.MULTILINE)
    rules = set(re.findall(r"^(?:local)?rule (\w+):$", output, flags=re.MULTILINE))
    return cells, rules


def test_figure_targets_train_only_their_cells(tmp_path):
    root = copy_workflow(tmp_path / "workflow")
    cells = load_cells(load_config(root / "config" / "config.yaml"), preset="demo",
                       cells_file=root / "config" / "cells.yaml")

    train_cells, rules = planned(root, "results/figures/plateau.pdf")
    assert sorted(train_cells) == sorted(plateau_cells(cells))
    assert rules == {"train", "figure_plateau"}

    cell = "sst2_opt-1.3b_ft_paczpl_s0"
    train_cells, rules = planned(root, f"results/figures/runs/{cell}.png")
    assert train_cells == [cell, cell]  # the train job, then the figure job of the same cell
    assert rules == {"train", "run_figure"}

    train_cells, rules = planned(root, "results/status.csv")
    assert train_cells == []
    assert rules == {"status"}
