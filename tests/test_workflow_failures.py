"""Failing train jobs under Snakemake: one clear line on the console and in the log, and no metrics.json.

One tiny SST-2 cell diverges (lr 1e30 makes every loss infinite after the
first update), and one SQuAD cell reads a data folder without SQuAD files.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workflow_helpers import REPO, copy_workflow

pytest.importorskip("snakemake")

DIVERGING = "sst2_opt-1.3b_lora_paczpl_s0"
NO_DATA = "squad_opt-1.3b_lora_paczpl_s0"
CELLS = """\
groups:
  - name: diverging
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: paczpl, lr: 1e30, clip: 25, steps: 4,
             num_subsets: 8}
    seeds: [0]
  - name: no-data
    tables: [table1]
    recipe: {task: squad, model: opt-1.3b, track: lora, method: paczpl, lr: 1e-3, clip: 25, steps: 4,
             num_subsets: 8}
    seeds: [0]
"""
SETTINGS = """\
preset: failing
cells_file: config/failing-cells.yaml
presets:
  failing:
    models: {opt-1.3b: "tiny:opt-small"}
    data: {sst2: demo}
    recipe: {dtype: float32, num_train: 16, num_dev: 8, num_eval: 16, eval_every: 100, micro_batch: 16}
"""


def run_snakemake(root, *arguments, **environment):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **environment}
    env.pop("SLURM_JOB_ID", None)
    command = [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(root),
               "--snakefile", str(root / "Snakefile"), *arguments]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.slow
def test_failed_jobs_report_one_line(tmp_path):
    root = copy_workflow(tmp_path / "workflow")
    (root / "config" / "failing-cells.yaml").write_text(CELLS)
    (root / "config" / "failing-settings.yaml").write_text(SETTINGS)
    empty = tmp_path / "no-squad-files"
    empty.mkdir()

    code, output = run_snakemake(
        root, "--keep-going", f"results/runs/{DIVERGING}/metrics.json", f"results/runs/{NO_DATA}/metrics.json",
        "--configfile", str(root / "config" / "failing-settings.yaml"), "--config", f"data={{squad: {empty}}}",
    )
    assert code != 0, output
    expected = {
        DIVERGING: f"paczero: cell {DIVERGING} failed: TrainingDiverged: cell '{DIVERGING}': 16 per-example "
                   "losses are NaN or infinite at step 1",
        NO_DATA: f"paczero: cell {NO_DATA} failed: FileNotFoundError: no SQuAD train file in {empty}",
    }
    for cell, message in expected.items():
        assert message in output, output
        log = (root / "logs" / "train" / f"{cell}.log").read_text()
        assert message.removeprefix("paczero: ") in log, log
        assert "Traceback" not in log, log
        assert not (root / "results" / "runs" / cell / "metrics.json").exists()
        assert not (root / "results" / "runs" / cell / "diagnostics.jsonl").exists()
    assert "Traceback" not in output


def test_invalid_cells_file_stops_parse_without_traceback(tmp_path):
    root = copy_workflow(tmp_path / "workflow")
    bad = root / "config" / "bad-cells.yaml"
    bad.write_text(CELLS.replace("steps: 4,", "steps: 2.5,", 1).replace("seeds: [0]", "seeds: [0]\n    sede: [1]", 1))
    code, output = run_snakemake(root, "-n", "--config", f"cells_file={bad}")
    assert code != 0
    assert f"{bad}: group 'diverging': unknown key 'sede' (did you mean 'seeds'?)" in output, output
    assert f"{bad}: group 'diverging': field 'recipe.steps': expected an integer, got 2.5" in output, output
    assert "Traceback" not in output


def test_invalid_config_key_stops_parse_in_one_line(tmp_path):
    root = copy_workflow(tmp_path / "workflow")
    code, output = run_snakemake(root, "-n", "--config", "result=out")
    assert code != 0
    assert "config.yaml: unknown key 'result' (did you mean 'results'?)" in output, output
    assert "Failed validating" not in output
    assert "Traceback" not in output


def test_gpu_job_without_gpus_fails_in_one_line(tmp_path):
    root = copy_workflow(tmp_path / "workflow")
    (root / "config" / "failing-cells.yaml").write_text(CELLS)
    (root / "config" / "failing-settings.yaml").write_text(SETTINGS)
    code, output = run_snakemake(
        root, f"results/runs/{DIVERGING}/metrics.json", "--resources", "gpu=1", "--set-resources", "train:gpu=1",
        "--configfile", str(root / "config" / "failing-settings.yaml"),
        CUDA_VISIBLE_DEVICES="", PACZERO_GPU_LOCK_DIR=str(tmp_path / "locks"),
    )
    message = (f"paczero: cell {DIVERGING} failed: DeviceError: cell {DIVERGING}: requests 1 GPU(s) "
               "but 0 are visible (devices: none)")
    assert code != 0
    assert message in output, output
    assert "Traceback" not in (root / "logs" / "train" / f"{DIVERGING}.log").read_text()
