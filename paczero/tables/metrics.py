"""Reading and checking one run's metrics.json."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MetricsError", "REQUIRED_METRICS_KEYS", "TASK_METRICS", "load_metrics", "recipe_differences"]

REQUIRED_METRICS_KEYS = ("cell", "recipe", "test", "dev", "best_step", "privacy")
# The test metric each task reports.
TASK_METRICS = {"sst2": "accuracy", "squad": "f1"}


class MetricsError(ValueError):
    """A metrics.json that is invalid, incomplete or from another recipe."""


def load_metrics(path: str | Path, expected_recipe: Mapping[str, Any] | None = None) -> dict:
    """Read one metrics.json and check its keys, its test metric and its recipe.

    `expected_recipe` is the cell's current training recipe. A file produced
    under another preset or recipe is rejected with a message to rerun the cell.
    """
    path = Path(path)
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetricsError(f"{path}: not found; train the cell first") from None
    except json.JSONDecodeError as error:
        raise MetricsError(f"{path}: invalid JSON ({error}); delete it and rerun the cell") from None
    if not isinstance(metrics, dict):
        raise MetricsError(f"{path}: must contain a JSON object, got {type(metrics).__name__}")
    missing = [key for key in REQUIRED_METRICS_KEYS if key not in metrics]
    if missing:
        raise MetricsError(
            f"{path}: missing required keys {', '.join(missing)}; the run did not finish "
            "or an older trainer wrote it; rerun the cell"
        )
    if not isinstance(metrics["recipe"], dict) or not isinstance(metrics["test"], dict):
        raise MetricsError(f"{path}: keys 'recipe' and 'test' must be JSON objects")

    task = metrics["recipe"].get("task")
    if task not in TASK_METRICS:
        raise MetricsError(f"{path}: recipe.task is {task!r}; known tasks: {', '.join(TASK_METRICS)}")
    metric = TASK_METRICS[task]
    value = metrics["test"].get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MetricsError(f"{path}: test.{metric} must be a finite number, got {value!r}")

    if expected_recipe is not None:
        differences = recipe_differences(metrics["recipe"], expected_recipe)
        if differences:
            raise MetricsError(
                f"{path}: trained with a different recipe than cell '{expected_recipe.get('cell')}' has now "
                f"({'; '.join(differences)}); rerun the cell: snakemake --forcerun {path} ..., "
                f"or delete {path.parent}"
            )
    return metrics


def recipe_differences(stored: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Return 'field: stored -> expected' for each field of `expected` that `stored` lacks or differs in.

    Fields that `stored` has beyond `expected` (defaults a trainer adds) and
    `table` are ignored.
    """
    differences = []
    for name, value in expected.items():
        if name == "table":
            continue
        if name not in stored:
            differences.append(f"{name}: missing -> {value!r}")
        elif _normalise(stored[name]) != _normalise(value):
            differences.append(f"{name}: {stored[name]!r} -> {value!r}")
    return differences


def _normalise(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
