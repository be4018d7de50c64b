"""Seed aggregation and table rendering from the runs' metrics.json files.

`aggregate_table` reads the metrics.json of every cell of one table, checks
each against the cell's current recipe, and groups the cells that differ only
in their data seed into one row: mean, sample standard deviation (ddof=1,
empty for a single seed), n and the seeds. `render_table` selects the columns
a reader needs, one row per table key (Table 1: task, model, track, method,
budget). Metric values are reported in the unit metrics.json stores.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from paczero.io import atomic_write_text

__all__ = [
    "MetricsError",
    "REQUIRED_METRICS_KEYS",
    "TASK_METRICS",
    "aggregate_table",
    "load_metrics",
    "recipe_differences",
    "render_markdown",
    "render_table",
    "write_csv",
    "write_markdown",
]

REQUIRED_METRICS_KEYS = ("cell", "recipe", "test", "dev", "best_step", "privacy")
# The test metric each task reports.
TASK_METRICS = {"sst2": "accuracy", "squad": "f1"}
# Recipe fields that differ between the seeds of one row, or that do not describe the run.
NON_ROW_FIELDS = ("cell", "table", "data_seed")
SUMMARY_COLUMNS = ("metric", "mean", "std", "n", "seeds", "cells")
# Columns that identify a row of the rendered table; other tables use the
# base columns plus every recipe field that varies between their rows.
TABLE_KEYS = {
    "table1": ("task", "model", "track", "method", "budget_nats"),
    "table2": ("task", "model", "track", "method", "budget_nats"),
    "table3": ("task", "model", "track", "method", "directions", "steps", "epsilon"),
}
BASE_KEYS = ("task", "model", "track", "method")


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


def aggregate_table(
    metrics_paths: Sequence[str | Path],
    recipes: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """Aggregate the seeds of one table's cells into one row per recipe.

    `metrics_paths` are `.../runs/{cell}/metrics.json` files, and `recipes` maps
    each cell id to its current training recipe. Rows are in the order of their
    first cell. The columns are the recipe fields except cell, table and
    data_seed, followed by metric, mean, std, n, seeds and cells.
    """
    rows: dict[str, dict[str, Any]] = {}
    for path in map(Path, metrics_paths):
        cell = path.parent.name
        if cell not in recipes:
            raise MetricsError(f"{path}: cell '{cell}' is not part of this table")
        recipe = recipes[cell]
        metrics = load_metrics(path, recipe)
        if metrics["cell"] != cell:
            raise MetricsError(
                f"{path}: belongs to cell '{metrics['cell']}', not '{cell}'; rerun cell '{cell}'"
            )
        fields = {name: value for name, value in recipe.items() if name not in NON_ROW_FIELDS}
        key = json.dumps(fields, sort_keys=True)
        row = rows.setdefault(key, {"fields": fields, "values": [], "seeds": [], "cells": []})
        row["values"].append(float(metrics["test"][TASK_METRICS[recipe["task"]]]))
        row["seeds"].append(recipe["data_seed"])
        row["cells"].append(cell)

    records = []
    for row in rows.values():
        values = row["values"]
        record = {name: _cell_value(value) for name, value in row["fields"].items()}
        record.update(
            metric=TASK_METRICS[row["fields"]["task"]],
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else math.nan,
            n=len(values),
            seeds=";".join(str(seed) for seed in row["seeds"]),
            cells=";".join(row["cells"]),
        )
        records.append(record)
    return pd.DataFrame.from_records(records)


def _cell_value(value: Any) -> Any:
    return ",".join(value) if isinstance(value, list) else value


def render_table(aggregate: pd.DataFrame, table: str) -> pd.DataFrame:
    """Select one row per table key and the reader's columns: key, metric, mean, std, n, seeds.

    Raise ValueError when two aggregated rows share a key, naming the fields in
    which their recipes differ.
    """
    if aggregate.empty:
        raise ValueError(f"table {table}: no rows to render")
    keys = list(TABLE_KEYS.get(table) or _varying_keys(aggregate))
    duplicated = aggregate.duplicated(subset=keys, keep=False)
    if duplicated.any():
        clash = aggregate[duplicated]
        recipe_columns = [c for c in aggregate.columns if c not in SUMMARY_COLUMNS]
        differing = [c for c in recipe_columns if clash[c].astype(str).nunique() > 1]
        raise ValueError(
            f"table {table}: {int(duplicated.sum())} rows share the key ({', '.join(keys)}) "
            f"but differ in {', '.join(differing)}; give the table's cells one recipe per key"
        )
    columns = keys + ["metric", "mean", "std", "n", "seeds"]
    return aggregate.loc[:, columns].reset_index(drop=True)


def _varying_keys(aggregate: pd.DataFrame) -> list[str]:
    recipe_columns = [c for c in aggregate.columns if c not in SUMMARY_COLUMNS]
    varying = [
        c for c in recipe_columns
        if c not in BASE_KEYS and aggregate[c].astype(str).nunique(dropna=False) > 1
    ]
    return list(BASE_KEYS) + varying


def render_markdown(table: pd.DataFrame, title: str) -> str:
    """Format a rendered table as a Markdown pipe table with `mean ± std` (4 significant digits)."""
    keys = [c for c in table.columns if c not in ("metric", "mean", "std", "n", "seeds")]
    header = keys + ["metric", "mean ± std", "n", "seeds"]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples(index=False):
        values = row._asdict()
        summary = f"{values['mean']:.4g}"
        if not _is_missing(values["std"]):
            summary += f" ± {values['std']:.4g}"
        cells = [_markdown_value(values[k]) for k in keys]
        cells += [str(values["metric"]), summary, str(values["n"]), str(values["seeds"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _markdown_value(value: Any) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a frame as CSV through a temporary file and rename (missing values are empty)."""
    atomic_write_text(path, frame.to_csv(index=False))


def write_markdown(text: str, path: str | Path) -> None:
    """Write Markdown through a temporary file and rename."""
    atomic_write_text(path, text)
