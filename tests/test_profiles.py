"""The SLURM and local Snakemake profiles, and the sbatch calls the installed SLURM plugin builds from them.

The sbatch test runs Snakemake with `--profile profiles/slurm` and puts fake
`sbatch`, `sinfo`, `sacct`, `squeue`, `scontrol`, `sacctmgr` and `sshare`
programs first on PATH. The fake sbatch records its arguments and fails, so
no job runs and no cluster is contacted; Snakemake, the profile and
snakemake-executor-plugin-slurm build the call exactly as on a cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from workflow_helpers import REPO, copy_workflow
from paczero.cells import load_cells
from paczero.resources import job_resources

slurm_plugin = pytest.importorskip("snakemake_executor_plugin_slurm")
from snakemake_executor_plugin_slurm.validation import get_forbidden_slurm_options  # noqa: E402

SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
LOCAL_PROFILE = REPO / "profiles" / "local" / "config.yaml"
SMALL_CELL = "sst2_opt-1.3b_lora_paczpl_s0"
LARGE_CELL = "sst2_opt-6.7b_ft_paczpl_s0"
CELLS = """\
groups:
  - name: small
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: paczpl, lr: 1e-3, clip: 25, steps: 1000,
             num_subsets: 126}
    seeds: [0]
  - name: large
    tables: [table1]
    recipe: {task: sst2, model: opt-6.7b, track: ft, method: paczpl, lr: 1e-4, clip: 1000, steps: 1000,
             num_subsets: 126}
    seeds: [0]
"""
FAKE_SBATCH = """\
#!{python}
import json, os, sys
with open(os.environ["FAKE_SBATCH_LOG"], "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
sys.stderr.write("sbatch: error: this test's sbatch records the call and submits nothing\\n")
sys.exit(1)
"""
QUIET_TOOLS = ("sinfo", "sacct", "squeue", "scontrol", "sacctmgr", "sshare")


def test_slurm_profile_settings():
    profile = yaml.safe_load(SLURM_PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["rerun-incomplete"] is True
    assert profile["keep-going"] is True
    assert profile["latency-wait"] == 60
    assert profile["retries"] >= 1
    assert profile["jobs"] >= 1
    resources = {**profile.get("default-resources", {}), **profile.get("set-resources", {}).get("train", {})}
    assert not {"tasks", "tasks_per_gpu", "gres"} & set(resources)
    for pattern in get_forbidden_slurm_options():
        assert not re.search(pattern, resources.get("slurm_extra", "")), pattern


def test_local_profile_settings():
    profile = yaml.safe_load(LOCAL_PROFILE.read_text())
    assert "executor" not in profile
    assert profile["resources"]["gpu"] >= 1
    assert profile["rerun-incomplete"] is True


def fake_slurm_tools(folder):
    folder.mkdir()
    (folder / "sbatch").write_text(FAKE_SBATCH.format(python=sys.executable))
    for name in QUIET_TOOLS:
        (folder / name).write_text("#!/bin/sh\nexit 0\n")
    for path in folder.iterdir():
        path.chmod(0o755)
    return folder


def sbatch_calls(root, tools, *arguments):
    """Run Snakemake with the SLURM profile; return the fake sbatch's argument lists by cell."""
    log = root / "sbatch-calls.jsonl"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "FAKE_SBATCH_LOG": str(log),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    for name in [name for name in env if name.startswith("SLURM_")]:
        env.pop(name)
    command = [
        sys.executable, "-m", "snakemake", "--profile", str(REPO / "profiles" / "slurm"),
        "--directory", str(root), "--snakefile", str(root / "Snakefile"),
        "--slurm-init-seconds-before-status-checks", "1", *arguments,
    ]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output  # every submission fails by design
    assert log.is_file(), output
    calls: dict[str, list[list[str]]] = {}
    for line in log.read_text().splitlines():
        arguments = json.loads(line)
        comment = arguments[arguments.index("--comment") + 1]
        calls.setdefault(comment.removeprefix("rule_train_wildcards_"), []).append(arguments)
    return calls, output


def option_values(arguments, *names):
    """Return the values of options given as `--name value` or `--name=value`."""
    values = []
    for index, argument in enumerate(arguments):
        for name in names:
            if argument == name:
                values.append(arguments[index + 1])
            elif argument.startswith(name + "="):
                values.append(argument[len(name) + 1:])
    return values


@pytest.fixture(scope="module")
def slurm_workflow(tmp_path_factory):
    root = copy_workflow(tmp_path_factory.mktemp("slurm-workflow"))
    (root / "config" / "two-cells.yaml").write_text(CELLS)
    tools = fake_slurm_tools(root / "fake-slurm")
    recipes = load_cells({"models": {"opt-1.3b": "facebook/opt-1.3b", "opt-6.7b": "facebook/opt-6.7b"}},
                         cells_file=root / "config" / "two-cells.yaml")
    return root, tools, recipes


def check_one_task_call(arguments, resources, gpus):
    assert option_values(arguments, "--gpus") == [gpus]
    assert not option_values(arguments, "--gres")
    # No task count: sbatch starts one task, and every GPU of the job is visible to it.
    assert not option_values(arguments, "--ntasks", "-n", "--ntasks-per-gpu", "--ntasks-per-node")
    assert option_values(arguments, "--cpus-per-gpu") == [str(resources["cpus_per_gpu"])]
    assert option_values(arguments, "--mem") == [str(resources["mem_mb"])]
    assert option_values(arguments, "-t") == [str(resources["runtime"])]
    assert any(argument.startswith("--wrap=") and "--target-jobs 'train:cell=" in argument for argument in arguments)


def test_sbatch_for_one_gpu_cells(slurm_workflow):
    root, tools, recipes = slurm_workflow
    calls, output = sbatch_calls(
        root, tools, "results/table1.csv", "--config", "cells_file=config/two-cells.yaml",
        "gpu_models={16: v100, 40: a100}",
    )
    assert set(calls) == {SMALL_CELL, LARGE_CELL}, output
    profile_retries = yaml.safe_load(SLURM_PROFILE.read_text())["retries"]
    gpu_models = {16: "v100", 40: "a100"}
    for cell, expected_model in ((SMALL_CELL, "v100"), (LARGE_CELL, "a100")):
        assert len(calls[cell]) == 1 + profile_retries, cell
        resources = job_resources(recipes[cell], gpu_models)
        assert resources["gpu_model"] == expected_model
        check_one_task_call(calls[cell][0], resources, f"{expected_model}:1")
    assert "SLURM sbatch failed" in output


def test_sbatch_for_two_gpu_cell(slurm_workflow):
    root, tools, recipes = slurm_workflow
    calls, output = sbatch_calls(
        root, tools, f"results/runs/{LARGE_CELL}/metrics.json", "--retries", "0",
        "--set-resources", "train:gpu=2", "--config", "cells_file=config/two-cells.yaml",
    )
    assert list(calls) == [LARGE_CELL], output
    assert len(calls[LARGE_CELL]) == 1
    check_one_task_call(calls[LARGE_CELL][0], job_resources(recipes[LARGE_CELL]), "2")


class _Resources(dict):
    """Job resources with the attribute access the plugins use (`job.resources.gpu`)."""

    __getattr__ = dict.__getitem__


def test_job_step_asks_for_every_gpu(slurm_workflow):
    """Inside the allocation, the jobstep plugin runs the rule as one srun step with all GPUs of the job."""
    jobstep = pytest.importorskip("snakemake_executor_plugin_slurm_jobstep")
    _, _, recipes = slurm_workflow
    resources = _Resources({**job_resources(recipes[LARGE_CELL]), "gpu": 2})
    job = type("Job", (), {"resources": resources, "threads": resources["threads"]})()
    assert jobstep.get_gpu_setting(job) == "--gpus=2"
    assert jobstep.get_cpu_setting(job, True) == f"--cpus-per-gpu={resources['cpus_per_gpu']}"
    assert jobstep.get_node_setting(job) == "--nodes=1"
