"""End-to-end run of the workflow under the demo preset on a few SST-2 cells.

It trains tiny models with paczero.train.run_cell on the GLUE SST-2 files in
SST2_DIR (train.tsv, dev.tsv), and skips when they are absent.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import pytest

from workflow_helpers import REPO, copy_workflow

SST2_DIR = REPO.parent / "shared" / "data" / "sst2"

CELLS = """\
groups:
  - name: e2e-pacmi
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: pacmi, budget_nats: 0.33,
             lr: 5e-4, clip: 25, steps: 2000, num_subsets: 8}
    seeds: [0, 1]
  - name: e2e-paczpl
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: paczpl,
             lr: 1e-3, clip: 25, steps: 1000, num_subsets: 8}
    seeds: [0]
  - name: e2e-nonprivate
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: nonprivate, ablation: raw_full,
             lr: 1e-4, clip: 1000, steps: 1000, num_subsets: 8}
    seeds: [0]
"""


@pytest.mark.slow
def test_demo_workflow_builds_table1(tmp_path):
    if not (SST2_DIR / "train.tsv").is_file():
        pytest.skip(f"SST-2 files not found in {SST2_DIR}; the end-to-end run needs train.tsv and dev.tsv")
    root = copy_workflow(tmp_path / "workflow")
    (root / "config" / "e2e-cells.yaml").write_text(CELLS)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [
        sys.executable, "-m", "snakemake", "--cores", "2", "--directory", str(root),
        "--snakefile", str(root / "Snakefile"), "results/table1.csv",
        "--config", "preset=demo", "cells_file=config/e2e-cells.yaml", f"data={{sst2: {SST2_DIR}}}",
    ]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((root / "logs").rglob("*.log")))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:] + logs

    for cell in ("sst2_opt-1.3b_lora_pacmi_mi0.33_s0", "sst2_opt-1.3b_lora_pacmi_mi0.33_s1",
                 "sst2_opt-1.3b_lora_paczpl_s0", "sst2_opt-1.3b_ft_nonprivate_raw_full_s0"):
        assert (root / "results" / "runs" / cell / "metrics.json").is_file(), cell
        assert (root / "results" / "runs" / cell / "diagnostics.jsonl").is_file(), cell

    with open(root / "results" / "table1.csv", newline="") as handle:
        all_rows = list(csv.DictReader(handle))
    # config/paper_values.yaml appends non-private MeZO to table1 as a cited row.
    cited = [row for row in all_rows if row["note"].startswith("cited: ")]
    assert [row["published_mean"] for row in cited] == ["91.1"]
    rows = [row for row in all_rows if not row["note"]]
    by_method = {row["method"]: row for row in rows}
    assert len(rows) == 3
    assert set(by_method) == {"pacmi", "paczpl", "nonprivate"}
    assert by_method["pacmi"]["n"] == "2"
    assert by_method["pacmi"]["seeds"] == "0;1"
    assert by_method["paczpl"]["n"] == "1"
    assert by_method["paczpl"]["std"] == ""
    for row in rows:
        assert row["task"] == "sst2"
        assert row["metric"] == "accuracy"
        assert math.isfinite(float(row["mean"])), row
    assert math.isfinite(float(by_method["pacmi"]["std"]))

    markdown = (root / "results" / "table1.md").read_text()
    assert markdown.startswith("# table1\n")
    assert markdown.count("|  | sst2 |") == 3
