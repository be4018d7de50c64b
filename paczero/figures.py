"""Figures of the PACZero results, drawn from the runs' metrics.json and diagnostics.jsonl.

Summary figures (`FIGURE_NAMES`):
- `plateau`: test accuracy against the PAC-MI budget (log scale), OPT-1.3B
  LoRA and full fine-tuning, with the membership-inference success bound of
  each budget on a second x axis;
- `dp_cliff`: test accuracy against the membership-inference success bound
  for the DP baselines (DPZero, DP-AggZO) and PACZero (PAC-MI, PAC-ZPL);
- `unanimity`: the fraction of free (unanimous) releases per cell group;
- `t_ladder`: test accuracy against the number of steps T of the PAC-ZPL ladders.

`paczero.run_figure` draws one cell's training curves (re-exported here as
`draw_run` and `make_run_figure`), and `paczero.figure_style` contains the
shared style and `save_figure`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator, PercentFormatter

from paczero.figure_data import (
    DP_METHODS,
    FIGURE_NAMES,
    LADDER_TABLES,
    FigureInputError,
    RunSet,
    dp_cliff_cells,
    free_fraction,
    ladder_cells,
    load_runs,
    metric_value,
    pac_groups,
    plateau_cells,
    unanimity_cells,
)
from paczero.figure_style import (
    ALTERNATE_MARKERS,
    FULL_WIDTH,
    METHOD_LABELS,
    METHOD_STYLES,
    MIN_FONT_PT,
    PNG_DPI,
    RUN_PNG_DPI,
    SERIES_STYLES,
    TRACK_LABELS,
    add_notes,
    figure_style,
    metric_label,
    model_label,
    new_figure,
    plot_series,
    preset_note,
    save_figure,
    seed_summary,
)
from paczero.privacy.conversions import dp_to_success_bound, mi_to_success_bound, success_bound_to_mi
from paczero.run_figure import draw_run, make_run_figure

log = logging.getLogger(__name__)

__all__ = [
    "FIGURE_NAMES",
    "FigureInputError",
    "MIN_FONT_PT",
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

# Success-bound ticks tried on the plateau's second axis; those inside the x range are shown.
BOUND_TICKS = (0.505, 0.51, 0.52, 0.55, 0.6, 0.7, 0.8, 0.9, 0.99)
# Horizontal distance between single-T ladders drawn at the same T, in points.
LADDER_SHIFT_POINTS = 7.0
# Smallest gap between two epsilon ticks on the DP cliff's second axis, in success-bound units.
MIN_EPSILON_TICK_GAP = 0.035


def _recipes(runs: RunSet) -> list[dict]:
    return [metrics["recipe"] for metrics in runs.metrics.values()]


def _membership_prior(recipe: Mapping[str, Any]) -> float:
    """Return a membership-inference adversary's prior success rate max(k, M - k) / M."""
    subsets = recipe["num_subsets"]
    per_example = recipe.get("subsets_per_example") or subsets // 2
    return max(per_example, subsets - per_example) / subsets


def _common_prior(recipes: Sequence[Mapping[str, Any]], figure: str) -> float:
    priors = sorted({_membership_prior(recipe) for recipe in recipes})
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

    with figure_style():
        figure = new_figure(FULL_WIDTH, 3.4)
        axes = figure.add_subplot()
        for index, ((model, track), points) in enumerate(series.items()):
            label = f"{model.upper()} {TRACK_LABELS[track]}"
            plot_series(axes, points, SERIES_STYLES[index % len(SERIES_STYLES)], label)
        axes.set_xscale("log")
        axes.set_xlabel("MI budget B (nats, log scale)")
        axes.set_ylabel(metric_label(recipes))
        axes.legend(title="PAC-MI", loc="best")
        _add_bound_axis(axes, prior)
        add_notes(figure, [preset_note(recipes), runs.note()])
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
        return mi_to_success_bound(recipe["budget_nats"], _membership_prior(recipe))
    if recipe["method"] == "paczpl":
        return _membership_prior(recipe)
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

    with figure_style():
        figure = new_figure(FULL_WIDTH, 3.6)
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
            plot_series(axes, points, (colour, marker, line), label, hollow=count > 0)
            if method == "pacmi":
                _label_budgets(axes, points, budgets)
        axes.set_xlim(0.49, 1.01)
        priors = {0.5 if recipe["method"] in DP_METHODS else _membership_prior(recipe) for recipe in recipes}
        chance = " (0.5 = chance)" if priors == {0.5} else ""
        axes.set_xlabel(f"membership-inference success bound{chance}")
        axes.set_ylabel(metric_label(recipes))
        axes.legend(loc="best")
        dp_recipes = [recipe for recipe in recipes if recipe["method"] in DP_METHODS]
        if dp_recipes:
            _add_epsilon_axis(axes, dp_recipes)
        add_notes(figure, [preset_note(recipes), runs.note()])
    return figure


def _label_budgets(axes, points: Sequence[tuple[float, float]], budgets: Mapping[float, float]) -> None:
    """Write each PAC-MI point's budget beside it, at the mean of its seeds."""
    for row in seed_summary(points).itertuples():
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

    with figure_style():
        figure = new_figure(FULL_WIDTH, 0.9 + 0.2 * len(rows))
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
        add_notes(figure, [preset_note(recipes), runs.note()])
    return figure


# ---------------------------------------------------------------- (e) T ladder


def _ladder_label(table: str, recipes: Sequence[Mapping[str, Any]]) -> str:
    recipe = recipes[0]
    clip = "no clip" if recipe["clip"] >= 1e9 else f"clip {recipe['clip']:g}"
    steps = {r["steps"] for r in recipes}
    kind = "one run per T" if len(steps) > 1 else "one T"
    return f"{model_label(recipe)} {TRACK_LABELS[recipe['track']]}, {clip} ({kind})"


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
    with figure_style():
        figure = new_figure(FULL_WIDTH, 3.2)
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
            plot_series(axes, points, SERIES_STYLES[index % len(SERIES_STYLES)], label, shift_points=shift)
        axes.set_xlabel("training steps T")
        axes.set_ylabel(metric_label(recipes))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.legend(title="PAC-ZPL", loc="best")
        add_notes(figure, [preset_note(recipes), runs.note()])
    return figure


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
