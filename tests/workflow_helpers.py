"""Helpers of the workflow tests: the repository root and a copy of the workflow."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "rules", "workflow", "config", "envs")


def copy_workflow(destination: Path) -> Path:
    """Copy the Snakefile, rules, scripts, schemas, config and envs into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / part)
    return destination
