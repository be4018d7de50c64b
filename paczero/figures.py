"""Figures of the PACZero results, drawn from the runs' metrics.json and diagnostics.jsonl.

Summary figures (`FIGURE_NAMES`):
- `plateau`: test accuracy against the PAC-MI budget (log scale), OPT-1.3B
  LoRA and full fine-tuning, with the membership-inference success bound of
  each budget on a second x axis;
- `dp_cliff`: test accuracy against the membership-inference success bound
  for the DP baselines (DPZero, DP-AggZO) and PACZero (PAC-MI, PAC-ZPL);
- `unanimity`: the fraction of free (unanimous) releases per cell group;
- `t_ladder`: test accuracy against the number of steps T of the PAC-ZPL ladders.

`draw_run` draws one cell's training curves from its diagnostics.

Every figure uses matplotlib's object API on the Agg canvas (no pyplot, no
global backend switch) and fonts of at least 8 pt at the saved size. Colours
come from the Okabe-Ito palette, which stays distinct under colour-vision
deficiencies, and each series has its own marker, so series stay apart in
greyscale print. `save_figure` writes PDF and PNG
through a temporary file and a rename. Points with several data seeds show
the mean and the sample standard deviation (ddof=1) as error bars.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator, PercentFormatter
from matplotlib.transforms import offset_copy

from paczero.figure_data import (
    DP_METHODS,
    FIGURE_NAMES,
    FigureInputError,
    LADDER_TABLES,
    RunSet,
    pac_groups,
    dp_cliff_cells,
    free_fraction,
    ladder_cells,
    load_runs,
    plateau_cells,
    read_diagnostics,
    run_paths,
    metric_value,
    unanimity_cells,
)
from paczero.io import atomic_write_bytes
from paczero.privacy.conversions import (
    dp_to_success_bound,
    mi_to_success_bound,
    success_bound_to_epsilon,
    success_bound_to_mi,
)
from paczero.tables import TASK_METRICS, MetricsError, load_metrics
from paczero.cells import training_recipe

log = logging.getLogger(__name__)

__all__ = [
    "FIGURE_NAMES",
    "FigureInputError",
    "PNG_DPI",
    "RUN_PNG_DPI",
    "draw_dp_cliff",
    "draw_plateau",
    "draw_run",
    "draw_t_ladder",
    "draw_unanimity",
    "make_figure",
    "make_run_figure",
    "save_figure",
]

PNG_DPI = 200
# Per-cell curves are many and mostly read on screen; a lower resolution keeps the
# HTML report, which embeds every PNG, small. Their PDF stays vector.
RUN_PNG_DPI = 120
# Width of a two-column figure in a paper, in inches.
FULL_WIDTH = 6.5
MIN_FONT_PT = 8
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.labelsize": 9,
    "axes.titlesize": 9,
    "figure.titlesize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "0.88",
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.3,
    "lines.markersize": 5,
    "errorbar.capsize": 2.5,
    # TrueType fonts in the PDF, so text stays selectable and editable.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": PNG_DPI,
}

# Okabe and Ito's palette for colour-vision deficiencies.
BLUE, VERMILLION, ORANGE, GREEN, PURPLE, SKY, BLACK = (
    "#0072B2", "#D55E00", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000",
)
METHOD_LABELS = {
    "pacmi": "PAC-MI",
    "paczpl": "PAC-ZPL",
    "nonprivate": "non-private",
    "dpzero": "DPZero",
    "dpaggzo": "DP-AggZO",
    "zeroshot": "zero-shot",
}
TRACK_LABELS = {"lora": "LoRA", "ft": "full FT"}
# (colour, marker, line style) per series, assigned in order of first appearance.
SERIES_STYLES = (
    (BLUE, "o", "-"),
    (VERMILLION, "s", "--"),
    (GREEN, "D", "-."),
    (ORANGE, "^", ":"),
    (PURPLE, "v", "-"),
    (SKY, "P", "--"),
    (BLACK, "X", "-."),
)
METHOD_STYLES = {
    "pacmi": (BLUE, "o", "-"),
    "paczpl": (VERMILLION, "s", "--"),
    "dpzero": (ORANGE, "^", ":"),
    "dpaggzo": (GREEN, "D", "-."),
}
ALTERNATE_MARKERS = ("v", "P", "X")
# Success-bound ticks tried on the plateau's second axis; those inside the x range are shown.
BOUND_TICKS = (0.505, 0.51, 0.52, 0.55, 0.6, 0.7, 0.8, 0.9, 0.99)
# Horizontal distance between single-T ladders drawn at the same T, in points.
LADDER_SHIFT_POINTS = 7.0
# Smallest gap between two epsilon ticks on the DP cliff's second axis, in success-bound units.
MIN_EPSILON_TICK_GAP = 0.035


# ---------------------------------------------------------------- shared helpers


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, outputs: Sequence[str | Path], *, dpi: int = PNG_DPI) -> list[Path]:
    """Write `figure` to each output path in the format of its suffix (.pdf or .png), atomically.

    Each file is rendered in memory, then written through a temporary file
    and a rename, so a killed job never leaves a truncated figure. The size
    is the figure's size in inches (PNG: times `dpi` pixels).
    """
    paths = [Path(output) for output in outputs]
    for path in paths:
        if path.suffix not in (".pdf", ".png"):
            raise ValueError(f"figure output {path}: unsupported suffix {path.suffix!r}; use .pdf or .png")
    with _style():
        for path in paths:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=path.suffix[1:], dpi=dpi, metadata=_metadata(path.suffix))
            atomic_write_bytes(path, buffer.getvalue())
            log.info("wrote %s", path)
    return paths


def _metadata(suffix: str) -> dict[str, Any]:
    # No creation date, so an unchanged figure gives an unchanged PDF.
    return {"CreationDate": None} if suffix == ".pdf" else {}


def _model_label(recipe: Mapping[str, Any]) -> str:
    return str(recipe["model"]).upper()


def _metric_label(recipes: Sequence[Mapping[str, Any]]) -> str:
    metrics = sorted({TASK_METRICS[recipe["task"]] for recipe in recipes})
    name = " / ".join("F1" if metric == "f1" else metric for metric in metrics)
    return f"test {name} (%)"


def _preset_note(recipes: Sequence[Mapping[str, Any]]) -> str | None:
    """Return a note naming the preset and model sources when the runs are not the paper's."""
    presets = sorted({recipe.get("preset", "paper") for recipe in recipes})
    if presets == ["paper"]:
        return None
    sources = sorted({f"{recipe['model']} as {recipe['model_source']}" for recipe in recipes
                      if recipe["model_source"] != recipe["model"] and ":" in recipe["model_source"]})
    note = f"preset {', '.join(presets)}"
    if sources:
        note += " (" + "; ".join(sources) + ")"
    return note


def _add_notes(figure: Figure, notes: Sequence[str | None]) -> None:
    """Write the notes above the axes, wrapped to the figure width."""
    text = "; ".join(note for note in notes if note)
    if text:
        # About 15 characters of 8 pt text fit in an inch.
        width = int(figure.get_figwidth() * 15)
        figure.suptitle(textwrap.fill(text, width), x=0.01, ha="left", fontsize=MIN_FONT_PT, color="0.35")


def _seed_summary(points: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """Return x, mean, std (ddof=1, 0 for one seed) and n of the y values at each x, sorted by x."""
    frame = pd.DataFrame(points, columns=["x", "y"])
    summary = frame.groupby("x", sort=True)["y"].agg(["mean", "std", "count"]).reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    return summary.rename(columns={"count": "n"})


def _plot_series(axes, points: Sequence[tuple[float, float]], style: tuple[str, str, str], label: str,
                 *, hollow: bool = False, shift_points: float = 0.0) -> None:
    """Plot the seed mean and standard deviation at each x, drawn `shift_points` to the right."""
    summary = _seed_summary(points)
    colour, marker, line = style
    extra = {}
    if shift_points:
        # The data stay at their x; only the drawing moves, whatever the axis range.
        extra["transform"] = offset_copy(axes.transData, fig=axes.figure, x=shift_points, units="points")
    axes.errorbar(
        summary["x"], summary["mean"], yerr=summary["std"], color=colour, marker=marker,
        markerfacecolor="white" if hollow else colour,
        linestyle=line if len(summary) > 1 else "none", label=label, **extra,
    )
    if shift_points:
        # Autoscaling skips artists drawn with another transform, so add their extent by hand.
        for sign in (-1.0, 1.0):
            axes.update_datalim(np.column_stack([summary["x"], summary["mean"] + sign * summary["std"]]))
        axes.autoscale_view()


def _recipes(runs: RunSet) -> list[dict]:
    return [metrics["recipe"] for metrics in runs.metrics.values()]


def _prior(recipe: Mapping[str, Any]) -> float:
    """Return a membership-inference adversary's prior success rate max(k, M - k) / M."""
    subsets = recipe["num_subsets"]
    per_example = recipe.get("subsets_per_example") or subsets // 2
    return max(per_example, subsets - per_example) / subsets


def _common_prior(recipes: Sequence[Mapping[str, Any]], figure: str) -> float:
    priors = sorted({_prior(recipe) for recipe in recipes})
    if len(priors) != 1:
        raise FigureInputError(
            f"figure {figure}: the cells have different membership priors {priors} (from num_subsets and "
            "subsets_per_example); one success-bound axis needs a single prior"
        )
    return priors[0]


# ---------------------------------------------------------------- (a) plateau


def draw_plateau(cells: Mapping[str, Mapping], results: str | Path, *, partial: bool = False) -> Figure:
    """Draw test accuracy against the PAC-MI budget, one series per model and track.

    The bottom axis is the budget B in nats (log scale), the top axis the
    membership-inference success bound of B at the cells' prior
    (`paczero.privacy.conversions.mi_to_success_bound`).
    """
    runs = load_runs(results, cells, plateau_cells(cells), figure="plateau", partial=partial)
    recipes = _recipes(runs)
    prior = _common_prior(recipes, "plateau")

    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for metrics in runs.metrics.values():
        recipe = metrics["recipe"]
        series.setdefault((recipe["model"], recipe["track"]), []).append(
            (recipe["budget_nats"], metric_value(metrics)))

    with _style():
        figure = _new_figure(FULL_WIDTH, 3.4)
        axes = figure.add_subplot()
        for index, ((model, track), points) in enumerate(series.items()):
            label = f"{model.upper()} {TRACK_LABELS[track]}"
            _plot_series(axes, points, SERIES_STYLES[index % len(SERIES_STYLES)], label)
        axes.set_xscale("log")
        axes.set_xlabel("MI budget B (nats, log scale)")
        axes.set_ylabel(_metric_label(recipes))
        axes.legend(title="PAC-MI", loc="best")
        _add_bound_axis(axes, prior)
        _add_notes(figure, [_preset_note(recipes), runs.note()])
    return figure


def _add_bound_axis(axes, prior: float) -> None:
    """Label the top of a log-scale MI axis with the success bound of each budget."""
    low, high = axes.get_xlim()
    ticks = [bound for bound in BOUND_TICKS if bound > prior and low <= success_bound_to_mi(bound, prior) <= high]
    top = axes.secondary_xaxis("top")
    top.set_xticks([success_bound_to_mi(bound, prior) for bound in ticks], labels=[f"{b:g}" for b in ticks])
    top.xaxis.set_minor_locator(NullLocator())
    top.set_xlabel(f"membership-inference success bound (prior {prior:g})")


# ---------------------------------------------------------------- (b) DP cliff


def _success_bound(metrics: Mapping[str, Any]) -> float:
    """Return the membership-inference success bound of a run's privacy guarantee.

    PAC-MI: the bound of its MI budget at the prior max(k, M - k) / M;
    PAC-ZPL: the prior itself (no MI spent); DP: the (epsilon, delta) bound at prior 1/2.
    """
    recipe = metrics["recipe"]
    if recipe["method"] in DP_METHODS:
        return dp_to_success_bound(recipe["epsilon"], recipe["delta"], 0.5)
    if recipe["method"] == "pacmi":
        return mi_to_success_bound(recipe["budget_nats"], _prior(recipe))
    if recipe["method"] == "paczpl":
        return _prior(recipe)
    raise FigureInputError(f"cell {recipe['cell']}: method {recipe['method']!r} has no privacy guarantee to plot")


def _dp_cliff_series(metrics: Mapping[str, Any]) -> tuple[str, str]:
    recipe = metrics["recipe"]
    method = recipe["method"]
    if method in DP_METHODS:
        return method, f"{METHOD_LABELS[method]} (K={recipe['directions']}, T={recipe['steps']})"
    return method, METHOD_LABELS[method]


def draw_dp_cliff(cells: Mapping[str, Mapping], results: str | Path, *, partial: bool = False) -> Figure:
    """Draw test accuracy against the membership-inference success bound of DP and PACZero runs.

    DP points use the (epsilon, delta) bound at prior 1/2; PAC-MI points the
    bound of their budget; PAC-ZPL sits at the prior. The top axis names the
    DP epsilon at each bound.
    """
    runs = load_runs(results, cells, dp_cliff_cells(cells), figure="dp_cliff", partial=partial)
    recipes = _recipes(runs)

    series: dict[str, list[tuple[float, float]]] = {}
    methods: dict[str, str] = {}
    budgets: dict[float, float] = {}  # PAC-MI success bound -> budget in nats, for the point labels
    for metrics in runs.metrics.values():
        method, label = _dp_cliff_series(metrics)
        bound = _success_bound(metrics)
        series.setdefault(label, []).append((bound, metric_value(metrics)))
        methods[label] = method
        if method == "pacmi":
            budgets[bound] = metrics["recipe"]["budget_nats"]

    with _style():
        figure = _new_figure(FULL_WIDTH, 3.6)
        axes = figure.add_subplot()
        series_per_method: dict[str, int] = {}
        for label, points in series.items():
            method = methods[label]
            colour, marker, line = METHOD_STYLES[method]
            # Another series of the same method (another K or T) keeps the colour, not the marker.
            count = series_per_method.get(method, 0)
            series_per_method[method] = count + 1
            if count:
                marker, line = ALTERNATE_MARKERS[(count - 1) % len(ALTERNATE_MARKERS)], ":"
            _plot_series(axes, points, (colour, marker, line), label, hollow=count > 0)
            if method == "pacmi":
                _label_budgets(axes, points, budgets)
        axes.set_xlim(0.49, 1.01)
        priors = {0.5 if recipe["method"] in DP_METHODS else _prior(recipe) for recipe in recipes}
        chance = " (0.5 = chance)" if priors == {0.5} else ""
        axes.set_xlabel(f"membership-inference success bound{chance}")
        axes.set_ylabel(_metric_label(recipes))
        axes.legend(loc="best")
        dp_recipes = [recipe for recipe in recipes if recipe["method"] in DP_METHODS]
        if dp_recipes:
            _add_epsilon_axis(axes, dp_recipes)
        _add_notes(figure, [_preset_note(recipes), runs.note()])
    return figure


def _label_budgets(axes, points: Sequence[tuple[float, float]], budgets: Mapping[float, float]) -> None:
    """Write each PAC-MI point's budget beside it, at the mean of its seeds."""
    for row in _seed_summary(points).itertuples():
        axes.annotate(
            f"B={budgets[row.x]:g} nats", (row.x, row.mean), xytext=(-6, 6), textcoords="offset points",
            ha="right", fontsize=MIN_FONT_PT, color=METHOD_STYLES["pacmi"][0],
        )


def _add_epsilon_axis(axes, dp_recipes: Sequence[Mapping[str, Any]]) -> None:
    """Mark the bounds of the DP runs' epsilons on the top axis, thinning ticks that would overlap."""
    deltas = sorted({recipe["delta"] for recipe in dp_recipes})
    delta = deltas[0]
    ticks: list[tuple[float, float]] = []
    for epsilon in sorted({recipe["epsilon"] for recipe in dp_recipes}):
        bound = dp_to_success_bound(epsilon, delta, 0.5)
        if not ticks or bound - ticks[-1][0] >= MIN_EPSILON_TICK_GAP:
            ticks.append((bound, epsilon))
    top = axes.secondary_xaxis("top")
    top.set_xticks([bound for bound, _ in ticks], labels=[f"{epsilon:g}" for _, epsilon in ticks])
    top.xaxis.set_minor_locator(NullLocator())
    note = f"δ={delta:g}" if len(deltas) == 1 else f"δ={', '.join(f'{d:g}' for d in deltas)}"
    top.set_xlabel(f"DP ε with this bound ({note})")


# ---------------------------------------------------------------- (d) unanimity


def draw_unanimity(
    cells: Mapping[str, Mapping],
    groups: Mapping[str, Sequence[str]],
    results: str | Path,
    *,
    partial: bool = False,
) -> Figure:
    """Draw the fraction of free releases per PAC cell group: a bar for the mean, a dot per cell.

    A release is free when PAC-MI's posterior already fixes the secret sign
    or when all of PAC-ZPL's subset signs agree (`free_fraction`).
    """
    runs = load_runs(results, cells, unanimity_cells(cells, groups), figure="unanimity", partial=partial)
    recipes = _recipes(runs)
    rows = []
    for name, members in pac_groups(cells, groups).items():
        fractions = [100.0 * free_fraction(runs.metrics[cell]) for cell in members if cell in runs.metrics]
        if fractions:
            rows.append((name, cells[members[0]]["method"], fractions))

    with _style():
        figure = _new_figure(FULL_WIDTH, 0.9 + 0.2 * len(rows))
        axes = figure.add_subplot()
        positions = np.arange(len(rows))[::-1]
        seen: set[str] = set()
        for position, (name, method, fractions) in zip(positions, rows):
            colour = METHOD_STYLES[method][0]
            label = METHOD_LABELS[method] if method not in seen else None
            seen.add(method)
            axes.barh(position, np.nanmean(fractions), height=0.7, color=colour, alpha=0.35, label=label)
            axes.plot(fractions, [position] * len(fractions), linestyle="none", marker="o",
                      markersize=3, color=colour)
        axes.set_yticks(positions, labels=[name for name, _, _ in rows])
        axes.set_ylim(-0.6, len(rows) - 0.4)
        # A little room past 100 % so dots at 100 % are drawn whole.
        axes.set_xlim(0, 102)
        axes.set_xticks(range(0, 101, 20))
        axes.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        axes.set_xlabel("free releases (% of all releases; bar: group mean, dot: one cell)")
        axes.grid(axis="y", visible=False)
        figure.legend(loc="outside lower center", ncols=2)
        _add_notes(figure, [_preset_note(recipes), runs.note()])
    return figure


# ---------------------------------------------------------------- (e) T ladder


def _ladder_label(table: str, recipes: Sequence[Mapping[str, Any]]) -> str:
    recipe = recipes[0]
    clip = "no clip" if recipe["clip"] >= 1e9 else f"clip {recipe['clip']:g}"
    steps = {r["steps"] for r in recipes}
    kind = "one run per T" if len(steps) > 1 else "one T"
    return f"{_model_label(recipe)} {TRACK_LABELS[recipe['track']]}, {clip} ({kind})"


def draw_t_ladder(cells: Mapping[str, Mapping], results: str | Path, *, partial: bool = False) -> Figure:
    """Draw PAC-ZPL test accuracy against the number of steps T, one series per ladder table.

    A ladder trained as one run per T is a line; a ladder trained at a single
    T is one point with its seeds' spread. Single-T ladders at the same T are
    drawn side by side, LADDER_SHIFT_POINTS apart. A cell in two ladder
    tables is plotted once, under the first.
    """
    runs = load_runs(results, cells, ladder_cells(cells), figure="t_ladder", partial=partial)
    recipes = _recipes(runs)
    series: dict[str, list[dict]] = {}
    plotted: set[str] = set()
    for table in LADDER_TABLES:
        members = [cell for cell in runs.metrics if table in cells[cell]["table"] and cell not in plotted]
        plotted.update(members)
        if members:
            series[table] = [runs.metrics[cell] for cell in members]

    singles_at: dict[int, int] = {}
    with _style():
        figure = _new_figure(FULL_WIDTH, 3.2)
        axes = figure.add_subplot()
        for index, (table, members) in enumerate(series.items()):
            label = _ladder_label(table, [metrics["recipe"] for metrics in members])
            points = [(metrics["recipe"]["steps"], metric_value(metrics)) for metrics in members]
            steps = {x for x, _ in points}
            shift = 0.0
            if len(steps) == 1:
                only = steps.pop()
                shift = singles_at.get(only, 0) * LADDER_SHIFT_POINTS
                singles_at[only] = singles_at.get(only, 0) + 1
            _plot_series(axes, points, SERIES_STYLES[index % len(SERIES_STYLES)], label, shift_points=shift)
        axes.set_xlabel("training steps T")
        axes.set_ylabel(_metric_label(recipes))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.legend(title="PAC-ZPL", loc="best")
        _add_notes(figure, [_preset_note(recipes), runs.note()])
    return figure


# ---------------------------------------------------------------- (c) one run


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

    with _style():
        figure = _new_figure(FULL_WIDTH, 0.6 + 1.9 * rows)
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


def _metric_name(recipe: Mapping[str, Any]) -> str:
    metric = TASK_METRICS[recipe["task"]]
    return "F1" if metric == "f1" else metric


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
    name = _metric_name(recipe)
    title = f"{cell}: {METHOD_LABELS.get(recipe['method'], recipe['method'])}, test {name} {metric_value(metrics):.1f}%"
    best_step = metrics.get("best_step")
    if best_step is not None:
        value = (metrics.get("dev") or {}).get(TASK_METRICS[recipe["task"]])
        detail = f" (dev {name} {value:.1f}%)" if isinstance(value, (int, float)) else ""
        title += f"\ndotted line: dev-best step {best_step}{detail}, the model that was tested"
    return title


# ---------------------------------------------------------------- entry points


def make_figure(
    name: str,
    cells: Mapping[str, Mapping],
    results: str | Path,
    outputs: Sequence[str | Path],
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    partial: bool = False,
) -> list[Path]:
    """Draw the summary figure `name` (one of FIGURE_NAMES) and write it to `outputs`.

    `cells` maps cell ids to resolved recipes (`paczero.cells.load_cells`);
    `groups` maps cells.yaml group names to cell ids (`cell_groups`) and is
    required for `unanimity`. With `partial`, cells without a usable
    metrics.json are skipped, and a note above the axes counts them. Without
    it, such cells raise FigureInputError naming them.
    """
    if name == "plateau":
        figure = draw_plateau(cells, results, partial=partial)
    elif name == "dp_cliff":
        figure = draw_dp_cliff(cells, results, partial=partial)
    elif name == "t_ladder":
        figure = draw_t_ladder(cells, results, partial=partial)
    elif name == "unanimity":
        if groups is None:
            raise ValueError("figure unanimity needs `groups` (group name -> cell ids, from cell_groups)")
        figure = draw_unanimity(cells, groups, results, partial=partial)
    else:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(FIGURE_NAMES)}")
    return save_figure(figure, outputs)


def make_run_figure(cell: str, recipe: Mapping[str, Any], results: str | Path, outputs: Sequence[str | Path]) -> list[Path]:
    """Draw one cell's training curves (`draw_run`) and write them to `outputs` (PNG at RUN_PNG_DPI)."""
    return save_figure(draw_run(cell, recipe, results), outputs, dpi=RUN_PNG_DPI)
