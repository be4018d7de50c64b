"""Inputs of the figures: the cells each figure needs, and their metrics and diagnostics.

This module does not import matplotlib, so the Snakefile can use the cell
selections to declare each figure's inputs without loading a plotting stack.
Every selection takes the resolved recipes of `paczero.cells.load_cells`
(cell id -> recipe with `table`) and returns cell ids in expansion order.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from paczero.cells import expand_cells, load_config, load_yaml, resolve_settings, training_recipe
from paczero.tables import TASK_METRICS, MetricsError, load_metrics

log = logging.getLogger(__name__)

__all__ = [
    "DP_CLIFF_TABLE",
    "FIGURE_NAMES",
    "FigureInputError",
    "LADDER_TABLES",
    "PAC_METHODS",
    "PLATEAU_TABLES",
    "RunSet",
    "cell_groups",
    "dp_cliff_cells",
    "figure_cells",
    "free_fraction",
    "ladder_cells",
    "load_runs",
    "pac_groups",
    "plateau_cells",
    "read_diagnostics",
    "run_paths",
    "metric_value",
    "unanimity_cells",
]

# Summary figures, each written as results/figures/<name>.pdf and .png.
FIGURE_NAMES = ("plateau", "dp_cliff", "unanimity", "t_ladder")
# Accuracy against the MI budget: OPT-1.3B LoRA (table2) and full fine-tuning.
PLATEAU_TABLES = ("table2", "appendix/ft-plateau-adaptive")
# The DP baselines; the PACZero points come from table1 (SST-2, OPT-1.3B FT).
DP_CLIFF_TABLE = "table3"
DP_CLIFF_PAC_SELECTION = {"task": "sst2", "model": "opt-1.3b", "track": "ft"}
# PAC-ZPL step ladders: one run per T, or one run per seed at a single T.
LADDER_TABLES = ("appendix/zpl-ft-ladder", "appendix/zpl-67b-ladder", "appendix/zpl-67b-ft-ladder")
PAC_METHODS = ("pacmi", "paczpl")
DP_METHODS = ("dpzero", "dpaggzo")

METRICS_FILE = "metrics.json"
DIAGNOSTICS_FILE = "diagnostics.jsonl"
# Cells named in a message; the rest are counted as "and N more".
MAX_LISTED_CELLS = 10


class FigureInputError(ValueError):
    """A figure's input cells are missing, invalid or from another recipe."""


# ---------------------------------------------------------------- cell selections


def _in_tables(recipe: Mapping, tables: Iterable[str]) -> bool:
    return any(table in recipe["table"] for table in tables)


def plateau_cells(cells: Mapping[str, Mapping]) -> list[str]:
    """Return the PAC-MI cells of the privacy-utility plateau (table2 and the FT plateau appendix)."""
    return [
        cell for cell, recipe in cells.items()
        if _in_tables(recipe, PLATEAU_TABLES) and recipe["method"] == "pacmi"
    ]


def dp_cliff_cells(cells: Mapping[str, Mapping]) -> list[str]:
    """Return the DP baselines of table3 and the table1 PACZero cells on SST-2 OPT-1.3B FT."""
    selected = []
    for cell, recipe in cells.items():
        if DP_CLIFF_TABLE in recipe["table"] and recipe["method"] in DP_METHODS:
            selected.append(cell)
        elif (
            "table1" in recipe["table"]
            and recipe["method"] in PAC_METHODS
            and all(recipe[name] == value for name, value in DP_CLIFF_PAC_SELECTION.items())
        ):
            selected.append(cell)
    return selected


def ladder_cells(cells: Mapping[str, Mapping]) -> list[str]:
    """Return the cells of the PAC-ZPL step ladders."""
    return [cell for cell, recipe in cells.items() if _in_tables(recipe, LADDER_TABLES)]


def unanimity_cells(cells: Mapping[str, Mapping], groups: Mapping[str, Sequence[str]]) -> list[str]:
    """Return the cells of every group whose cells all use PAC-MI or PAC-ZPL."""
    selected: dict[str, None] = {}
    for members in pac_groups(cells, groups).values():
        selected.update(dict.fromkeys(members))
    return [cell for cell in cells if cell in selected]


def pac_groups(cells: Mapping[str, Mapping], groups: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Return group name -> cells for the groups whose cells are all PAC-MI or PAC-ZPL."""
    pac = {}
    for name, members in groups.items():
        present = [cell for cell in members if cell in cells]
        if present and all(cells[cell]["method"] in PAC_METHODS for cell in present):
            pac[name] = present
    return pac


def figure_cells(cells: Mapping[str, Mapping], groups: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Return figure name -> the cells it reads, for every summary figure."""
    return {
        "plateau": plateau_cells(cells),
        "dp_cliff": dp_cliff_cells(cells),
        "unanimity": unanimity_cells(cells, groups),
        "t_ladder": ladder_cells(cells),
    }


def cell_groups(
    config: Mapping | str | Path,
    preset: str | None = None,
    cells_file: str | Path | None = None,
) -> dict[str, list[str]]:
    """Return group name -> cell ids, for the groups of cells.yaml in file order.

    Arguments are those of `paczero.cells.load_cells`. A cell that two groups
    produce is listed under both. Each group is expanded on its own, so under
    `max_seeds` a shared cell is listed only under the groups where its seed
    is among the first `max_seeds`.
    """
    source = "config.yaml"
    if not isinstance(config, Mapping):
        source = str(config)
        config = load_config(config)
    settings = resolve_settings(config, preset, source=source)
    path = Path(cells_file) if cells_file is not None else Path(settings.cells_file)
    document = load_yaml(path)
    # Validate the whole file first: its errors name groups and cross-group clashes.
    expand_cells(document, settings, source=str(path))
    return {
        group["name"]: list(expand_cells({"groups": [group]}, settings, source=str(path)))
        for group in document["groups"]
    }


# ---------------------------------------------------------------- runs on disk


def run_paths(results: str | Path, cell: str) -> tuple[Path, Path]:
    """Return the metrics.json and diagnostics.jsonl paths of one cell under `results`."""
    folder = Path(results) / "runs" / cell
    return folder / METRICS_FILE, folder / DIAGNOSTICS_FILE


@dataclass
class RunSet:
    """Metrics of the cells a figure could load, and the cells it skipped with the reason."""

    metrics: dict[str, dict]
    skipped: dict[str, str]

    def note(self) -> str | None:
        """Return a one-line note on the skipped cells for the figure, or None when none were skipped."""
        if not self.skipped:
            return None
        total = len(self.metrics) + len(self.skipped)
        return f"partial: {len(self.skipped)} of {total} cells not plotted (missing or stale)"


def load_runs(
    results: str | Path,
    cells: Mapping[str, Mapping],
    cell_ids: Sequence[str],
    *,
    figure: str,
    partial: bool = False,
) -> RunSet:
    """Load the metrics.json of `cell_ids`, each checked against the cell's current recipe.

    Without `partial`, a missing, invalid or stale metrics.json raises
    FigureInputError naming the cells and how to train them. With `partial`,
    such cells are skipped with a warning and listed in `RunSet.skipped`; the
    error is raised only when no cell can be loaded.
    """
    if not cell_ids:
        raise FigureInputError(
            f"figure {figure}: the cells file defines none of its cells; "
            "check the tables and methods that config/cells.yaml assigns"
        )
    loaded: dict[str, dict] = {}
    problems: dict[str, str] = {}
    for cell in cell_ids:
        if cell not in cells:
            raise FigureInputError(f"figure {figure}: unknown cell '{cell}'; list the cells with: paczero cells")
        metrics_path, _ = run_paths(results, cell)
        try:
            metrics = load_metrics(metrics_path, training_recipe(dict(cells[cell])))
        except MetricsError as error:
            problems[cell] = str(error)
            continue
        if metrics["cell"] != cell:
            problems[cell] = f"{metrics_path}: belongs to cell '{metrics['cell']}'; rerun cell '{cell}'"
            continue
        loaded[cell] = metrics

    if problems and (not partial or not loaded):
        raise FigureInputError(_missing_message(figure, results, problems, partial))
    if problems:
        log.warning("figure %s: %s", figure, _skipped_message(problems))
    return RunSet(loaded, problems)


def _skipped_message(problems: Mapping[str, str]) -> str:
    names = list(problems)
    return (
        f"skipping {len(names)} cells without a usable metrics.json: {_listed(names)}; "
        f"first problem: {problems[names[0]]}"
    )


def _listed(names: Sequence[str]) -> str:
    listed = ", ".join(names[:MAX_LISTED_CELLS])
    if len(names) > MAX_LISTED_CELLS:
        listed += f" and {len(names) - MAX_LISTED_CELLS} more"
    return listed


def _missing_message(figure: str, results: str | Path, problems: Mapping[str, str], partial: bool) -> str:
    names = list(problems)
    first = problems[names[0]]
    if partial:
        return (
            f"figure {figure}: none of its {len(names)} cells has a usable metrics.json "
            f"({_listed(names)}); first problem: {first}"
        )
    return (
        f"figure {figure}: {len(names)} cells lack a usable metrics.json under {results}/runs: {_listed(names)}. "
        f"First problem: {first}. Train them (snakemake {results}/figures/{figure}.pdf trains what is "
        "missing), or draw the finished cells only with partial=True"
    )


def metric_value(metrics: Mapping[str, Any]) -> float:
    """Return the test value of the task's metric (accuracy or F1, in the unit metrics.json stores)."""
    return float(metrics["test"][TASK_METRICS[metrics["recipe"]["task"]]])


def free_fraction(metrics: Mapping[str, Any]) -> float:
    """Return the fraction of releases that were free (unanimous), from the privacy block.

    PAC-MI counts a release as free when the posterior already fixes the
    secret sign, PAC-ZPL when all M subset signs agree. `free_steps` counts
    releases, so the denominator is steps_run times the number of directions.
    """
    privacy = metrics["privacy"]
    releases = privacy["steps_run"] * privacy.get("directions", 1)
    if releases <= 0:
        return math.nan
    return privacy["free_steps"] / releases


# ---------------------------------------------------------------- diagnostics


def _last(value: Any) -> Any:
    """Return the value after the last release of a step (per-release fields are lists when K > 1)."""
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _release_kinds(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def read_diagnostics(path: str | Path) -> pd.DataFrame:
    """Read a diagnostics.jsonl into one row per step.

    Columns: `step`, `lr`, `train_loss` (NaN for a DP step with an empty
    sample) and `clip_fraction`. Where the run logged them, also
    `cumulative_mi` and `posterior_entropy` (in nats, after the step's last
    release), `releases` and `free_releases` (counts in the step), and
    `batch_size` and `noise_std` (DP baselines). Raise FigureInputError on a
    line that is not a JSON object with a `step`.
    """
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise FigureInputError(f"{path}:{number}: invalid JSON ({error}); rerun the cell") from None
            if not isinstance(record, dict) or "step" not in record:
                raise FigureInputError(f"{path}:{number}: expected a JSON object with a 'step' field; rerun the cell")
            rows.append(_step_row(record))
    frame = pd.DataFrame.from_records(rows)
    if frame.empty:
        return pd.DataFrame(columns=["step", "lr", "train_loss", "clip_fraction"])
    return frame.dropna(axis="columns", how="all").astype({"step": int}).sort_values("step", kind="stable")


def _step_row(record: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"step": record["step"]}
    for name in ("lr", "train_loss", "clip_fraction", "batch_size", "noise_std"):
        value = record.get(name)
        row[name] = math.nan if value is None else value
    for name in ("cumulative_mi", "posterior_entropy"):
        value = _last(record.get(name))
        row[name] = math.nan if value is None else value
    kinds = _release_kinds(record.get("release"))
    if kinds:
        row["releases"] = len(kinds)
        row["free_releases"] = sum(kind == "free" for kind in kinds)
    return row
