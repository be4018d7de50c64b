"""Training curves of one cell, drawn from its metrics.json and diagnostics.jsonl."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from paczero.cells import training_recipe
from paczero.figure_data import DP_METHODS, FigureInputError, metric_value, read_diagnostics, run_paths
from paczero.figure_style import (
    BLACK,
    BLUE,
    FULL_WIDTH,
    GREEN,
    METHOD_LABELS,
    MIN_FONT_PT,
    ORANGE,
    PURPLE,
    RUN_PNG_DPI,
    SKY,
    VERMILLION,
    figure_style,
    metric_name,
    new_figure,
    save_figure,
)
from paczero.tables import TASK_METRICS, MetricsError, load_metrics

__all__ = ["draw_run", "load_run", "make_run_figure"]


def _rolling(values: pd.Series) -> pd.Series:
    window = max(1, len(values) // 50)
    return values.rolling(window, min_periods=1, center=True).mean()


def _run_panels(method: str, diagnostics: pd.DataFrame) -> list[str]:
    if method in ("pacmi", "paczpl"):
        panels = ["train_loss", "lr", "cumulative_mi", "free_fraction", "posterior_entropy", "clip_fraction"]
    elif method in DP_METHODS:
        panels = ["train_loss", "lr", "batch_size", "clip_fraction"]
    else:
        panels = ["train_loss", "lr", "clip_fraction"]
    available = set(diagnostics.columns) | ({"free_fraction"} if "free_releases" in diagnostics else set())
    return [panel for panel in panels if panel in available]


def load_run(cell: str, recipe: Mapping[str, Any], results: str | Path) -> tuple[dict, pd.DataFrame]:
    """Load one cell's metrics.json (checked against its recipe) and diagnostics.jsonl."""
    metrics_path, diagnostics_path = run_paths(results, cell)
    try:
        metrics = load_metrics(metrics_path, training_recipe(dict(recipe)))
    except MetricsError as error:
        raise FigureInputError(f"training curves of cell {cell}: {error}") from None
    if not diagnostics_path.is_file():
        raise FigureInputError(
            f"training curves of cell {cell}: {diagnostics_path} not found; rerun the cell "
            f"(snakemake --forcerun {metrics_path})"
        )
    return metrics, read_diagnostics(diagnostics_path)


def draw_run(cell: str, recipe: Mapping[str, Any], results: str | Path) -> Figure:
    """Draw one cell's training curves from its diagnostics.jsonl, with the dev-best step.

    PAC-MI and PAC-ZPL: train loss, lr, cumulative MI (with the budget),
    cumulative fraction of free releases, posterior entropy (with its maximum
    ln M) and clip fraction. DP baselines: train loss, lr, Poisson batch size
    and clip fraction. Non-private runs: train loss, lr and clip fraction.
    The x axis counts finished steps, the unit of metrics.json's `best_step`.
    """
    metrics, diagnostics = load_run(cell, recipe, results)
    recipe = metrics["recipe"]
    method = recipe["method"]
    panels = _run_panels(method, diagnostics)
    rows = max(1, math.ceil(len(panels) / 2))

    with figure_style():
        figure = new_figure(FULL_WIDTH, 0.6 + 1.9 * rows)
        figure.suptitle(_run_title(cell, metrics), fontsize=MIN_FONT_PT + 1)
        if diagnostics.empty:
            axes = figure.add_subplot()
            axes.set_axis_off()
            axes.text(0.5, 0.5, f"no training steps logged (method {method})", ha="center", va="center")
            return figure
        grid = figure.subplots(rows, 2, sharex=True, squeeze=False)
        steps = diagnostics["step"] + 1
        for axes, panel in zip(grid.flat, panels):
            _draw_panel(axes, panel, steps, diagnostics, metrics)
            if metrics.get("best_step") is not None:
                axes.axvline(metrics["best_step"], color="0.3", linestyle=":", linewidth=1.0)
        for axes in grid.flat[len(panels):]:
            axes.set_visible(False)
        for axes in grid[-1]:
            axes.set_xlabel("training step")
        if len(panels) % 2:
            grid[-2, 1].xaxis.set_tick_params(labelbottom=True)
            grid[-2, 1].set_xlabel("training step")
    return figure


def _draw_panel(axes, panel: str, steps: pd.Series, diagnostics: pd.DataFrame, metrics: Mapping[str, Any]) -> None:
    recipe = metrics["recipe"]
    if panel == "train_loss":
        losses = diagnostics["train_loss"]
        if len(losses) >= 100:
            axes.plot(steps, losses, color=SKY, linewidth=0.6, label="per step")
            axes.plot(steps, _rolling(losses), color=BLUE, label="rolling mean")
        else:
            axes.plot(steps, losses, color=BLUE)
        axes.set_ylabel("train loss (nats/example)")
    elif panel == "lr":
        axes.plot(steps, diagnostics["lr"], color=BLACK)
        axes.set_ylabel("learning rate")
        axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    elif panel == "cumulative_mi":
        spent = "spent (none by design)" if recipe["method"] == "paczpl" else "spent"
        axes.plot(steps, diagnostics["cumulative_mi"], color=BLUE, label=spent)
        if recipe["method"] == "pacmi":
            axes.axhline(recipe["budget_nats"], color=VERMILLION, linestyle="--", label=f"budget {recipe['budget_nats']:g}")
        axes.set_ylabel("cumulative MI (nats)")
        axes.legend(loc="lower right")
    elif panel == "free_fraction":
        fraction = diagnostics["free_releases"].cumsum() / diagnostics["releases"].cumsum()
        axes.plot(steps, 100.0 * fraction, color=GREEN)
        axes.set_ylim(-3, 103)
        axes.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        axes.set_ylabel("free releases\n(cumulative %)")
    elif panel == "posterior_entropy":
        axes.plot(steps, diagnostics["posterior_entropy"], color=PURPLE, label="posterior")
        axes.axhline(math.log(recipe["num_subsets"]), color="0.4", linestyle=":", label=f"ln M (M={recipe['num_subsets']})")
        axes.set_ylabel("posterior entropy (nats)")
        axes.legend(loc="lower left")
    elif panel == "clip_fraction":
        percent = 100.0 * diagnostics["clip_fraction"]
        axes.plot(steps, percent, color=ORANGE)
        top = max(1.0, 1.1 * float(np.nanmax(percent)))
        # Start a little below zero so a line at 0 % is not hidden by the axis.
        axes.set_ylim(-0.03 * top, top)
        axes.yaxis.set_major_formatter(PercentFormatter())
        axes.set_ylabel("clipped estimates (%)")
    elif panel == "batch_size":
        axes.plot(steps, diagnostics["batch_size"], color=SKY, linewidth=0.6)
        axes.set_ylabel("Poisson batch size\n(examples)")


def _run_title(cell: str, metrics: Mapping[str, Any]) -> str:
    """Return the run figure's title: cell, method, test metric and the dev-best step."""
    recipe = metrics["recipe"]
    name = metric_name(recipe)
    title = f"{cell}: {METHOD_LABELS.get(recipe['method'], recipe['method'])}, test {name} {metric_value(metrics):.1f}%"
    best_step = metrics.get("best_step")
    if best_step is not None:
        value = (metrics.get("dev") or {}).get(TASK_METRICS[recipe["task"]])
        detail = f" (dev {name} {value:.1f}%)" if isinstance(value, (int, float)) else ""
        title += f"\ndotted line: dev-best step {best_step}{detail}, the model that was tested"
    return title


def make_run_figure(cell: str, recipe: Mapping[str, Any], results: str | Path, outputs: Sequence[str | Path]) -> list[Path]:
    """Draw one cell's training curves (`draw_run`) and write them to `outputs` (PNG at RUN_PNG_DPI)."""
    return save_figure(draw_run(cell, recipe, results), outputs, dpi=RUN_PNG_DPI)
