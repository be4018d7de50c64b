"""Job resources derived from a cell's model, track and budget."""

from __future__ import annotations

import pytest

from workflow_helpers import REPO
from paczero.cells import load_cells
from paczero.resources import job_resources, model_billions


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
