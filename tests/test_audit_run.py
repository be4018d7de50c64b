"""Ledger verification and the membership audit on real tiny-model runs, and their workflow targets."""

from __future__ import annotations

import csv
import inspect
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from paczero import cli
from paczero.audit_run import audit_run, plot_audit, record_sign_stream
from paczero.privacy.audit import MechanismSpec, run_audit
from paczero.privacy.conversions import mi_to_success_bound
from paczero.privacy.ledger import verify_run
from paczero.train import run_cell
from tests.conftest import tiny_recipe
from workflow_helpers import REPO, copy_workflow

RUNS = {
    "pacmi": dict(method="pacmi", budget_nats=0.2, steps=6),
    "paczpl": dict(method="paczpl", steps=4, directions=2),
    "nonprivate": dict(method="nonprivate", ablation="quant_half", steps=3),
    "zeroshot": dict(method="zeroshot"),
}
DP_RUN = dict(method="dpzero", epsilon=2.0, steps=3, eval_every=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One finished tiny run per PAC-ledger method and zeroshot, trained with the real trainer."""
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for name, overrides in RUNS.items():
        folders[name] = root / name
        run_cell(tiny_recipe(cell=f"audit_{name}", **overrides), folders[name])
    return folders


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    """A finished tiny DPZero run."""
    from paczero.dp_train import train_dp

    if "checkpoint_every" not in inspect.signature(train_dp).parameters:
        # NOTE: run_cell passes checkpoint_every and stop to train_dp, so a train_dp without them cannot run.
        pytest.skip("train_dp on this revision lacks the checkpoint_every and stop arguments that run_cell passes")
    folder = tmp_path_factory.mktemp("dp") / "dpzero"
    run_cell(tiny_recipe(cell="audit_dpzero", **DP_RUN), folder)
    return folder


def copy_run(runs, name, tmp_path):
    target = tmp_path / name
    shutil.copytree(runs[name], target)
    return target


def read_lines(run_dir):
    return [json.loads(line) for line in (run_dir / "diagnostics.jsonl").read_text().splitlines() if line.strip()]


def write_lines(run_dir, records):
    (run_dir / "diagnostics.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))


def first_noisy_step(records, skip=0):
    return [record["step"] for record in records if record["release"] == "noisy"][skip]


# ---------------------------------------------------------------------------
# Verification of real runs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pacmi", "paczpl", "nonprivate"])
def test_real_run_passes_verification(runs, name):
    result = verify_run(runs[name])
    assert result.ok, result.problems
    assert result.status == "OK"
    assert result.steps_checked == RUNS[name]["steps"]


def test_real_pacmi_spend_equals_metrics(runs):
    result = verify_run(runs["pacmi"])
    metrics = json.loads((runs["pacmi"] / "metrics.json").read_text())
    records = read_lines(runs["pacmi"])
    assert result.spent_nats == pytest.approx(metrics["privacy"]["spent_nats"], rel=1e-12)
    assert result.spent_nats == pytest.approx(records[-1]["cumulative_mi"], rel=1e-12)
    assert 0.0 < result.spent_nats <= 0.2


def test_real_dp_run_passes_verification(dp_run):
    result = verify_run(dp_run)
    assert result.ok, result.problems
    assert result.steps_checked == DP_RUN["steps"]
    line = result.summary_line()
    assert line.startswith("OK ")
    assert "DP baseline, no PAC-MI ledger" in line
    assert "realised Gaussian epsilon" in line


def test_real_zeroshot_run_is_skipped(runs):
    result = verify_run(runs["zeroshot"])
    assert result.status == "SKIPPED"
    assert result.ok


def test_altered_sigma_fails(runs, tmp_path):
    run_dir = copy_run(runs, "pacmi", tmp_path)
    records = read_lines(run_dir)
    target = first_noisy_step(records, skip=1)
    records[target]["sigma"] *= 1.0001
    write_lines(run_dir, records)

    result = verify_run(run_dir)
    assert not result.ok
    assert result.first_bad_step == target
    assert "sigma" in result.problems[0]


def test_altered_spend_fails(runs, tmp_path):
    run_dir = copy_run(runs, "pacmi", tmp_path)
    records = read_lines(run_dir)
    target = first_noisy_step(records, skip=2)
    records[target]["spent"] *= 0.999
    write_lines(run_dir, records)

    result = verify_run(run_dir)
    assert not result.ok
    assert result.first_bad_step == target
    assert "spent" in result.problems[0]


def test_altered_metrics_spent_fails(runs, tmp_path):
    run_dir = copy_run(runs, "pacmi", tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["privacy"]["spent_nats"] *= 1.001
    (run_dir / "metrics.json").write_text(json.dumps(metrics))

    result = verify_run(run_dir)
    assert not result.ok
    assert "privacy.spent_nats" in result.problems[0]


def test_altered_coefficient_fails(runs, tmp_path):
    run_dir = copy_run(runs, "paczpl", tmp_path)
    records = read_lines(run_dir)
    records[1]["coefficients"][1] = -records[1]["coefficients"][1]
    write_lines(run_dir, records)

    result = verify_run(run_dir)
    assert result.first_bad_step == 1
    assert "coefficient applied" in result.problems[0]


def test_altered_dp_noise_fails(dp_run, tmp_path):
    run_dir = shutil.copytree(dp_run, tmp_path / "dpzero")
    records = read_lines(run_dir)
    records[2]["noise_std"] *= 0.5
    write_lines(run_dir, records)

    result = verify_run(run_dir)
    assert result.first_bad_step == 2
    assert "noise_std" in result.problems[0]


def test_altered_dp_epsilon_fails(dp_run, tmp_path):
    run_dir = shutil.copytree(dp_run, tmp_path / "dpzero")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["privacy"]["realised_epsilon"] *= 0.9
    (run_dir / "metrics.json").write_text(json.dumps(metrics))

    result = verify_run(run_dir)
    assert not result.ok
    assert "RDP accountant" in result.problems[0]


def test_cli_verify_exit_codes(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["paczero.commands.privacy"])
    folders = [str(runs[name]) for name in RUNS]
    assert cli.main(["privacy", "verify", *folders]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["OK", "OK", "OK", "SKIPPED"]

    broken = copy_run(runs, "pacmi", tmp_path)
    records = read_lines(broken)
    records[first_noisy_step(records)]["sigma"] *= 2.0
    write_lines(broken, records)
    assert cli.main(["privacy", "verify", str(broken), folders[0]]) == 1
    assert capsys.readouterr().out.startswith("FAILED ")


# ---------------------------------------------------------------------------
# Sign stream and audit of real runs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def streams(runs):
    """The rebuilt sign streams of the PAC-MI and PAC-ZPL runs."""
    return {name: record_sign_stream(runs[name]) for name in ("pacmi", "paczpl")}


@pytest.mark.parametrize("name", ["pacmi", "paczpl"])
def test_sign_stream_matches_logged_counts(runs, streams, name):
    stream = streams[name]
    directions = RUNS[name].get("directions", 1)
    records = read_lines(runs[name])
    assert stream.signs.shape == (RUNS[name]["steps"] * directions, 8)
    assert stream.members.shape == (32, 8)
    assert stream.mismatches == 0

    logged = [record["num_plus"] for record in records]
    logged = [count for entry in logged for count in (entry if isinstance(entry, list) else [entry])]
    assert (stream.signs > 0).sum(axis=1).tolist() == logged


def test_sign_stream_rejects_other_methods(runs):
    with pytest.raises(ValueError, match="only for pacmi, paczpl runs"):
        record_sign_stream(runs["nonprivate"])


def test_audit_real_pacmi_within_bound(runs, tmp_path):
    results, stream = audit_run(runs["pacmi"], replays=60, seed=1, budgets=[0.2, 5.0])
    assert [result.budget_nats for result in results] == [0.2, 5.0]
    own = results[0]
    assert own.bound == pytest.approx(mi_to_success_bound(0.2, 0.5), rel=1e-12)
    assert own.success_ci_low <= own.bound
    assert own.within_bound
    assert own.num_releases == 6
    assert results[1].within_bound

    plot_audit(results, tmp_path / "audit.png")
    assert (tmp_path / "audit.png").stat().st_size > 10_000


def test_audit_real_zpl_is_chance(streams):
    stream = streams["paczpl"]
    spec = MechanismSpec.from_recipe(stream.recipe)
    assert spec.directions == 2
    result = run_audit(stream.signs, stream.members, spec, replays=80, seed=2)
    assert result.method == "paczpl"
    assert result.success_ci_low <= 0.5 <= result.success_ci_high
    assert result.bound == 0.5


# ---------------------------------------------------------------------------
# Workflow targets
# ---------------------------------------------------------------------------

CELLS = """\
groups:
  - name: verify-pacmi
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: pacmi, budget_nats: 0.2,
             lr: 1e-3, clip: 25, steps: 6, num_subsets: 8}
    seeds: [0]
  - name: verify-nonprivate
    tables: [appendix/ablation]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: nonprivate, ablation: quant_half,
             lr: 1e-3, clip: 25, steps: 3, num_subsets: 8}
    seeds: [0]
"""
WORKFLOW_CELLS = {"pacmi": "sst2_opt-1.3b_ft_pacmi_mi0.2_s0", "nonprivate": "sst2_opt-1.3b_ft_nonprivate_quant_half_s0"}


def run_snakemake(root, *arguments):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [
        sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(root),
        "--snakefile", str(root / "Snakefile"), *arguments,
        "--config", "preset=demo", "cells_file=config/verify-cells.yaml",
    ]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def workflow(runs, tmp_path):
    """A copy of the workflow whose two cells are already trained (the tiny runs above)."""
    root = copy_workflow(tmp_path / "workflow")
    (root / "config" / "verify-cells.yaml").write_text(CELLS)
    for name, cell in WORKFLOW_CELLS.items():
        shutil.copytree(runs[name], root / "results" / "runs" / cell)
    return root


def test_verify_target_on_tiny_runs(workflow):
    result = run_snakemake(workflow, "results/verify.csv", "--allowed-rules", "verify", "verify_summary")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    with open(workflow / "results" / "verify.csv", newline="") as handle:
        rows = {row["cell"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(WORKFLOW_CELLS.values())
    pacmi = rows[WORKFLOW_CELLS["pacmi"]]
    assert pacmi["status"] == "OK"
    assert pacmi["method"] == "pacmi"
    assert pacmi["steps_checked"] == "6"
    assert 0.0 < float(pacmi["spent_nats"]) <= 0.2
    assert rows[WORKFLOW_CELLS["nonprivate"]]["status"] == "OK"
    report = (workflow / "results" / "verify" / f"{WORKFLOW_CELLS['pacmi']}.txt").read_text()
    assert report.startswith("status: OK\n")


def test_verify_target_fails_on_altered_sigma(workflow):
    run_dir = workflow / "results" / "runs" / WORKFLOW_CELLS["pacmi"]
    records = read_lines(run_dir)
    records[first_noisy_step(records)]["sigma"] *= 1.01
    write_lines(run_dir, records)

    result = run_snakemake(workflow, f"results/verify/{WORKFLOW_CELLS['pacmi']}.txt", "--allowed-rules", "verify")
    assert result.returncode != 0
    assert not (workflow / "results" / "verify" / f"{WORKFLOW_CELLS['pacmi']}.txt").exists()
    log = (workflow / "logs" / "verify" / f"{WORKFLOW_CELLS['pacmi']}.log").read_text()
    assert "status: FAILED" in log


def test_audit_target_only_for_pac_cells(workflow):
    pacmi = run_snakemake(workflow, "-n", f"results/audit/{WORKFLOW_CELLS['pacmi']}.csv")
    assert pacmi.returncode == 0, pacmi.stdout[-3000:] + pacmi.stderr[-3000:]
    assert "rule audit:" in pacmi.stdout

    nonprivate = run_snakemake(workflow, "-n", f"results/audit/{WORKFLOW_CELLS['nonprivate']}.csv")
    assert nonprivate.returncode != 0
    assert "MissingRuleException" in nonprivate.stdout + nonprivate.stderr

