"""Job resources derived from a cell's model, track and budget."""

from __future__ import annotations

import re

import pytest

from workflow_helpers import REPO
from paczero.cells import CellsError, load_cells, load_config, resolve_settings
from paczero.resources import gpu_memory_gb, job_resources, model_billions


@pytest.fixture(scope="module")
def paper_cells():
    return load_cells(REPO / "config" / "config.yaml", preset="paper", cells_file=REPO / "config" / "cells.yaml")


def test_tiny_models_need_no_gpu():
    cells = load_cells(REPO / "config" / "config.yaml", preset="demo", cells_file=REPO / "config" / "cells.yaml")
    for cell, recipe in cells.items():
        resources = job_resources(recipe)
        assert resources["gpu"] == 0, cell
        assert resources["threads"] == 1, cell


def test_paper_models_need_one_gpu(paper_cells):
    for cell, recipe in paper_cells.items():
        assert job_resources(recipe)["gpu"] == 1, cell


def test_model_size_from_name():
    assert model_billions({"model": "opt-1.3b", "model_source": "facebook/opt-1.3b"}) == 1.3
    assert model_billions({"model": "opt-350m", "model_source": "/models/x"}) == pytest.approx(0.35)
    assert model_billions({"model": "mine", "model_source": "/models/llama-7b"}) == 7.0


def test_bigger_model_needs_more(paper_cells):
    small = job_resources(paper_cells["sst2_opt-1.3b_ft_pacmi_mi0.33_s0"])
    large = job_resources(paper_cells["sst2_opt-6.7b_ft_pacmi_mi0.33_s0"])
    assert large["mem_mb"] > small["mem_mb"]
    assert large["runtime"] > small["runtime"]
    assert large["disk_mb"] > small["disk_mb"]


def test_full_fine_tuning_needs_more_disk(paper_cells):
    lora = job_resources(paper_cells["sst2_opt-6.7b_lora_paczpl_s0"])
    ft = job_resources(paper_cells["sst2_opt-6.7b_ft_paczpl_s0"])
    assert ft["disk_mb"] > lora["disk_mb"]


def test_runtime_grows_with_steps_and_task(paper_cells):
    short = job_resources(paper_cells["sst2_opt-1.3b_ft_paczpl_lr1e-4_c1e9_t1000_m128_s0"])
    long = job_resources(paper_cells["sst2_opt-1.3b_ft_paczpl_lr1e-4_c1e9_t5000_m128_s0"])
    squad = job_resources(paper_cells["squad_opt-1.3b_ft_paczpl_s0"])
    sst2 = job_resources(paper_cells["sst2_opt-1.3b_ft_paczpl_s0"])
    assert long["runtime"] > short["runtime"]
    assert squad["runtime"] > sst2["runtime"]


def test_gpu_memory_per_model(paper_cells):
    small = paper_cells["sst2_opt-1.3b_lora_pacmi_mi0.33_s0"]
    large = paper_cells["sst2_opt-6.7b_lora_pacmi_mi0.33_s0"]
    assert gpu_memory_gb(small) <= 16
    assert 24 < gpu_memory_gb(large) <= 40
    assert gpu_memory_gb({**large, "dtype": "float32"}) > gpu_memory_gb(large)
    assert gpu_memory_gb({**large, "micro_batch": 16}) <= 24


def test_gpu_model_is_smallest_that_fits(paper_cells):
    gpu_models = {80: "h100", 16: "v100", 40: "a100"}
    assert job_resources(paper_cells["sst2_opt-1.3b_ft_paczpl_s0"], gpu_models)["gpu_model"] == "v100"
    assert job_resources(paper_cells["sst2_opt-6.7b_ft_paczpl_s0"], gpu_models)["gpu_model"] == "a100"
    assert job_resources(paper_cells["sst2_opt-6.7b_ft_paczpl_s0"])["gpu_model"] is None


def test_gpu_model_too_small(paper_cells):
    with pytest.raises(ValueError, match=r"cell 'sst2_opt-6.7b_ft_paczpl_s0' needs an estimated \d+ GB .* \(v100\) has 16 GB"):
        job_resources(paper_cells["sst2_opt-6.7b_ft_paczpl_s0"], {16: "v100"})


def test_gpu_jobs_request_cpus_per_gpu(paper_cells):
    resources = job_resources(paper_cells["sst2_opt-1.3b_ft_paczpl_s0"])
    assert resources["cpus_per_gpu"] == resources["threads"] >= 1


def test_full_fine_tuning_needs_more_host_memory(paper_cells):
    lora = job_resources(paper_cells["sst2_opt-6.7b_lora_paczpl_s0"])
    ft = job_resources(paper_cells["sst2_opt-6.7b_ft_paczpl_s0"])
    assert ft["mem_mb"] > lora["mem_mb"]


@pytest.mark.parametrize(
    ("gpu_models", "message"),
    [
        ({"big": "a100"}, "entry 'big' must be a GPU memory size in GB"),
        ({0: "a100"}, "entry 0 must be a GPU memory size in GB"),
        ({40: "a100 80gb"}, "entry 40 must be a SLURM GPU type such as a100"),
        ({40: ""}, "entry 40 must be a SLURM GPU type"),
    ],
)
def test_invalid_gpu_models(gpu_models, message):
    config = load_config(REPO / "config" / "config.yaml")
    config["gpu_models"] = gpu_models
    with pytest.raises(CellsError, match=re.escape(f"config.yaml: key 'gpu_models': {message}")):
        resolve_settings(config)


def test_gpu_models_from_command_line_strings():
    config = load_config(REPO / "config" / "config.yaml")
    config["gpu_models"] = {"40": "a100", 16: "v100"}
    assert resolve_settings(config).gpu_models == {40: "a100", 16: "v100"}
