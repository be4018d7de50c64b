"""Seed aggregation: one row per recipe from the runs' metrics.json files.

Each row gets the mean, the sample standard deviation (ddof=1, empty for a
single seed), n and the seeds of the test metric, in the unit metrics.json
stores (percent). Given a table layout, the cells are grouped by its rows;
otherwise by their training recipe without the data seed.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from paczero.io import atomic_write_text
from paczero.tables.layout import NON_ROW_FIELDS, TableLayout
from paczero.tables.metrics import TASK_METRICS, MetricsError, load_metrics

log = logging.getLogger(__name__)

__all__ = ["SUMMARY_COLUMNS", "aggregate_loaded", "aggregate_table", "load_available_metrics", "write_csv"]

SUMMARY_COLUMNS = ("metric", "mean", "std", "n", "seeds", "cells")
# Numbers from the privacy block of metrics.json, averaged over a row's seeds.
# The DP calibration depends only on the recipe, so its seeds agree.
PRIVACY_COLUMNS = ("spent_nats", "noise_multiplier", "realised_epsilon")


def aggregate_table(
    metrics_paths: Sequence[str | Path],
    recipes: Mapping[str, Mapping[str, Any]],
    layout: TableLayout | None = None,
) -> pd.DataFrame:
    """Aggregate the seeds of one table's cells into one row per recipe.

    `metrics_paths` are `.../runs/{cell}/metrics.json` files, and `recipes` maps
    each cell id to its current training recipe. Each file is checked against
    its recipe. The columns are `row` (the row's index in `layout`, or -1
    without one), the recipe fields except cell, table and data_seed, then
    metric, mean, std, n, seeds, cells, spent_nats, noise_multiplier and
    realised_epsilon.
    """
    loaded = {}
    for path in map(Path, metrics_paths):
        cell = path.parent.name
        if cell not in recipes:
            raise MetricsError(f"{path}: cell '{cell}' is not part of this table")
        metrics = load_metrics(path, recipes[cell])
        if metrics["cell"] != cell:
            raise MetricsError(
                f"{path}: belongs to cell '{metrics['cell']}', not '{cell}'; rerun cell '{cell}'"
            )
        loaded[cell] = metrics
    return aggregate_loaded(loaded, recipes, layout)


def load_available_metrics(
    cells: Sequence[str],
    runs_dir: str | Path,
    recipes: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, dict], dict[str, str]]:
    """Read the metrics.json of every listed cell that has a valid one under `runs_dir`/{cell}/.

    Return (cell -> metrics, cell -> why it is missing) for a draft table.
    A file that is absent, invalid or from another recipe counts as missing.
    """
    loaded: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for cell in cells:
        path = Path(runs_dir) / cell / "metrics.json"
        if not path.is_file():
            missing[cell] = "not trained yet"
            continue
        try:
            metrics = load_metrics(path, recipes[cell])
        except MetricsError as error:
            log.warning("cell %s left out of the draft table: %s", cell, error)
            missing[cell] = f"unusable metrics.json: {error}"
            continue
        if metrics["cell"] != cell:
            missing[cell] = f"unusable metrics.json: {path} belongs to cell '{metrics['cell']}'"
            continue
        loaded[cell] = metrics
    return loaded, missing


def aggregate_loaded(
    loaded: Mapping[str, Mapping[str, Any]],
    recipes: Mapping[str, Mapping[str, Any]],
    layout: TableLayout | None = None,
) -> pd.DataFrame:
    """Aggregate already checked metrics (cell -> metrics.json content); see `aggregate_table`.

    With a layout, rows follow the layout's order and a row without any loaded
    cell is left out.
    """
    groups = _group(list(loaded), recipes, layout)
    records = []
    for index, cells in groups:
        recipe = recipes[cells[0]]
        metric = TASK_METRICS[recipe["task"]]
        values = [float(loaded[cell]["test"][metric]) for cell in cells]
        record: dict[str, Any] = {"row": index}
        record.update({
            name: ",".join(value) if isinstance(value, list) else value
            for name, value in recipe.items()
            if name not in NON_ROW_FIELDS
        })
        record.update(
            metric=metric,
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else math.nan,
            n=len(values),
            seeds=";".join(str(recipes[cell]["data_seed"]) for cell in cells),
            cells=";".join(cells),
        )
        for name in PRIVACY_COLUMNS:
            numbers = [
                float(value)
                for value in (loaded[cell]["privacy"].get(name) for cell in cells)
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            ]
            record[name] = statistics.fmean(numbers) if numbers else math.nan
        records.append(record)
    return pd.DataFrame.from_records(records)


def _group(
    cells: list[str], recipes: Mapping[str, Mapping[str, Any]], layout: TableLayout | None
) -> list[tuple[int, list[str]]]:
    """Return (row index, cells in seed order) per row; row index -1 without a layout."""
    if layout is None:
        groups: dict[str, list[str]] = {}
        for cell in cells:
            fields = {name: value for name, value in recipes[cell].items() if name not in NON_ROW_FIELDS}
            groups.setdefault(json.dumps(fields, sort_keys=True), []).append(cell)
        return [(-1, members) for members in groups.values()]

    present = set(cells)
    outside = present - set(layout.cells)
    if outside:
        raise MetricsError(f"table {layout.table}: cell '{sorted(outside)[0]}' is not part of this table")
    rows = []
    for index, row in enumerate(layout.rows):
        members = [cell for cell in row.cells if cell in present]
        if members:
            rows.append((index, members))
    return rows


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a frame as CSV through a temporary file and rename (missing values are empty)."""
    atomic_write_text(path, frame.to_csv(index=False))
