"""A train job killed with SIGKILL mid-training leaves no finished-looking output and resumes on rerun.

Snakemake trains one tiny cell of the shipped SST-2 sample. The test kills
Snakemake's whole process group once the run journal contains a few steps,
then checks that no metrics.json exists, that a dry run plans the cell
again, and that the rerun resumes from the journal and finishes the cell.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from workflow_helpers import REPO, copy_workflow

pytest.importorskip("snakemake")

CELL = "sst2_opt-1.3b_lora_paczpl_s0"
STEPS = 120
CELLS = """\
groups:
  - name: killed
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: paczpl, lr: 1e-3, clip: 25, steps: 120,
             num_subsets: 8}
    seeds: [0]
"""
SETTINGS = """\
preset: killtest
cells_file: config/kill-cells.yaml
checkpoint_every: 20
presets:
  killtest:
    models: {opt-1.3b: "tiny:opt-small"}
    data: {sst2: demo}
    recipe: {dtype: float32, num_train: 16, num_dev: 8, num_eval: 16, eval_every: 1000, micro_batch: 16}
"""


def snakemake_command(root, *arguments):
    return [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(root),
            "--snakefile", str(root / "Snakefile"), f"results/runs/{CELL}/metrics.json",
            "--configfile", str(root / "config" / "kill-settings.yaml"), *arguments]


def environment():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def logged_steps(run_dir):
    path = run_dir / "journal" / "diagnostics.jsonl"
    return path.read_text().count("\n") if path.is_file() else 0


@pytest.mark.slow
def test_killed_job_reruns_and_resumes(tmp_path):
    root = copy_workflow(tmp_path / "workflow")
    (root / "config" / "kill-cells.yaml").write_text(CELLS)
    (root / "config" / "kill-settings.yaml").write_text(SETTINGS)
    run_dir = root / "results" / "runs" / CELL
    state = run_dir / "journal" / "privacy_state.json"

    # The first run, in a process group of its own so that one SIGKILL reaches Snakemake and the job.
    first = subprocess.Popen(snakemake_command(root), cwd=root, env=environment(), start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while not (state.is_file() and logged_steps(run_dir) >= 25):
        assert first.poll() is None, f"the run ended before it could be killed:\n{first.stdout.read()}"
        assert time.monotonic() < deadline, "no journal after 180 s"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    steps_at_kill = logged_steps(run_dir)
    time.sleep(1.0)
    assert logged_steps(run_dir) == steps_at_kill, "a process of the killed run is still training"

    # (a) Nothing that looks finished.
    assert not (run_dir / "metrics.json").exists()
    assert not (run_dir / "diagnostics.jsonl").exists()
    assert steps_at_kill < STEPS

    # (b) A dry run plans the cell again, without an exception.
    dry = subprocess.run(snakemake_command(root, "-n", "--rerun-incomplete"), cwd=root, env=environment(),
                         capture_output=True, text=True, timeout=180)
    dry_output = dry.stdout + dry.stderr
    assert dry.returncode == 0, dry_output
    assert re.findall(r"^\s+wildcards: cell=(\S+)$", dry_output, flags=re.MULTILINE) == [CELL], dry_output
    assert "Exception" not in dry_output

    # (c) The rerun resumes from the journal and finishes the cell.
    unlock = subprocess.run(snakemake_command(root, "--unlock"), cwd=root, env=environment(),
                            capture_output=True, text=True, timeout=180)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    rerun = subprocess.run(snakemake_command(root, "--rerun-incomplete"), cwd=root, env=environment(),
                           capture_output=True, text=True, timeout=600)
    log = (root / "logs" / "train" / f"{CELL}.log").read_text()
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:] + log[-3000:]
    assert re.search(rf"resume cell {CELL}: checkpoint at step \d+, replaying \d+ logged steps to step \d+", log), log
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps_run"] == STEPS
    assert steps_at_kill <= metrics["resumed_from_step"] < STEPS
    diagnostics = (run_dir / "diagnostics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in diagnostics] == list(range(STEPS))
    assert not (run_dir / "journal").exists()
