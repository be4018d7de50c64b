"""Dry runs of the Snakemake workflow on a temporary copy of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from workflow_helpers import REPO, copy_workflow
from paczero.cells import cells_by_table, load_cells, load_config, training_recipe

pytest.importorskip("snakemake")


def snakemake(workdir, *arguments, timeout=180):
    """Run Snakemake in `workdir` with this checkout's paczero on the path; return its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"),
         *arguments],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def planned_train_cells(output):
    """Return the cell of every train job in a dry run's output, one entry per job."""
    return re.findall(r"^\s+wildcards: cell=(\S+)$", output, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("workflow")
    copy_workflow(root)
    data = root / "local-sst2"
    data.mkdir()
    return root, str(data)


def expected_cells(root, data):
    config = load_config(root / "config" / "config.yaml")
    config["data"] = {"sst2": data}
    return load_cells(config, preset="paper", cells_file=root / "config" / "cells.yaml")


def test_dry_run_plans_one_job_per_table1_cell(workflow_copy):
    root, data = workflow_copy
    cells = expected_cells(root, data)
    table1 = cells_by_table(cells)["table1"]
    sst2_cells = [c for c in table1 if cells[c]["task"] == "sst2"]
    assert len(sst2_cells) == 41

    output = snakemake(root, "-n", "results/table1.csv", "--config", "preset=paper", f"data={{sst2: {data}}}")
    planned = planned_train_cells(output)
    assert len(planned) == len(set(planned))
    assert set(planned) == set(table1)  # 41 SST-2 cells and 14 SQuAD cells
    assert set(sst2_cells) <= set(planned)
    assert re.search(r"^train\s+55$", output, flags=re.MULTILINE), output


def test_dry_run_table3_plans_dp_and_paczero_cells(workflow_copy):
    root, data = workflow_copy
    cells = expected_cells(root, data)
    table3 = cells_by_table(cells)["table3"]
    assert len(table3) == 12
    table1 = cells_by_table(cells)["table1"]
    paczero = [
        cell for cell in table1
        if (cells[cell]["task"], cells[cell]["model"], cells[cell]["track"]) == ("sst2", "opt-1.3b", "ft")
    ]
    assert len(paczero) == 11

    output = snakemake(root, "-n", "results/table3.tex", "--config", "preset=paper", f"data={{sst2: {data}}}")
    planned = planned_train_cells(output)
    assert sorted(planned) == sorted(table3 + paczero)
    assert re.search(r"^train\s+23$", output, flags=re.MULTILINE), output
    assert re.search(r"^render_table\s+1$", output, flags=re.MULTILINE), output


@pytest.mark.parametrize(("table", "count"), [("table2", 15), ("appendix/dpaggzo-parity", 6)])
def test_dry_run_plans_table_cells(workflow_copy, table, count):
    root, data = workflow_copy
    cells = expected_cells(root, data)
    table_cells = cells_by_table(cells)[table]
    assert len(table_cells) == count

    output = snakemake(root, "-n", f"results/{table}.md", "--config", "preset=paper", f"data={{sst2: {data}}}")
    assert sorted(planned_train_cells(output)) == sorted(table_cells)
    assert re.search(rf"^train\s+{count}$", output, flags=re.MULTILINE), output


def test_dry_run_all_builds_every_table(workflow_copy):
    root, data = workflow_copy
    cells = expected_cells(root, data)
    output = snakemake(root, "-n", "--config", "preset=paper", f"data={{sst2: {data}}}")
    assert re.search(r"^render_table\s+16$", output, flags=re.MULTILINE), output
    assert re.search(r"^train\s+137$", output, flags=re.MULTILINE), output
    for table in cells_by_table(cells):
        assert f"results/{table}.tex" in output, table


def test_dry_run_skips_finished_cell(workflow_copy):
    """A cell whose metrics.json and diagnostics.jsonl exist is not planned again.

    The files are written by hand, so Snakemake has no metadata record for
    them (.snakemake/metadata) and judges the cell by its files alone.
    """
    root, data = workflow_copy
    cells = expected_cells(root, data)
    finished = "sst2_opt-1.3b_lora_pacmi_mi0.33_s0"
    run_dir = root / "results" / "runs" / finished
    run_dir.mkdir(parents=True)
    recipe = training_recipe(cells[finished])
    assert recipe["data"] == data
    (run_dir / "diagnostics.jsonl").write_text(json.dumps({"step": 1}) + "\n")
    (run_dir / "metrics.json").write_text(json.dumps({
        "cell": finished, "recipe": recipe, "test": {"accuracy": 0.9, "loss": 0.3},
        "dev": {"accuracy": 0.9, "loss": 0.3}, "best_step": 100, "privacy": {},
    }))

    output = snakemake(root, "-n", "results/table1.csv", "--config", "preset=paper", f"data={{sst2: {data}}}")
    planned = planned_train_cells(output)
    assert finished not in planned
    assert len(planned) == 54
    assert "sst2_opt-1.3b_lora_pacmi_mi0.33_s1" in planned


def test_dry_run_rejects_invalid_cells_file(workflow_copy, tmp_path):
    root, _ = workflow_copy
    bad = tmp_path / "cells.yaml"
    bad.write_text((root / "config" / "cells.yaml").read_text().replace("lr: 5e-4, clip: 25, steps: 2000", "lr: '5e-4', clip: 25, steps: 2000", 1))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--directory", str(root), "--snakefile", str(root / "Snakefile"),
         "results/table1.csv", "--config", f"cells_file={bad}"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "group 'table1-sst2-opt-1.3b-lora-pacmi': field 'recipe.lr'" in output
    assert str(bad) in output


def test_lint_is_clean(workflow_copy):
    root, _ = workflow_copy
    output = snakemake(root, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in output
