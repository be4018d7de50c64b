"""Tasks: data loading, prompts, per-example losses and evaluation metrics."""

from __future__ import annotations

import importlib

from paczero.tasks.base import Splits, Task

TASK_MODULES = {
    "sst2": "paczero.tasks.sst2",
    "squad": "paczero.tasks.squad",
}


def get_task(name: str) -> Task:
    """Return the task object registered under `name`."""
    if name not in TASK_MODULES:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASK_MODULES))}")
    return importlib.import_module(TASK_MODULES[name]).TASK


__all__ = ["Splits", "Task", "get_task", "TASK_MODULES"]
