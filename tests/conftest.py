"""Shared fixtures: paths to the repository and to the real data samples beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sst2_folder() -> Path:
    folder = SHARED_DATA / "sst2"
    if not (folder / "train.tsv").is_file():
        pytest.skip(f"real SST-2 files not found at {folder}; they sit beside the repository in shared/data/sst2")
    return folder


@pytest.fixture(scope="session")
def tiny_lora():
    from paczero.models import prepare_model

    return prepare_model("tiny:opt-small", "lora", dtype="float32")


def tiny_recipe(**overrides) -> dict:
    """A complete small recipe on the tiny model and the shipped demo data."""
    recipe = dict(
        cell="test_cell", task="sst2", model="tiny", model_source="tiny:opt-small", track="ft",
        method="nonprivate", lr=1e-3, clip=25.0, steps=6, data_seed=0, num_train=32, num_dev=16,
        num_eval=32, eval_every=3, dtype="float32", data="demo", num_subsets=8, micro_batch=16,
    )
    recipe.update(overrides)
    return recipe


@pytest.fixture(scope="session")
def squad_folder() -> Path:
    folder = SHARED_DATA / "squad"
    if not (folder / "dev-v1.1.json").is_file():
        pytest.skip(f"real SQuAD files not found at {folder}; they sit beside the repository in shared/data/squad")
    return folder
