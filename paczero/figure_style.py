"""Shared look of the PACZero figures: style, palette, labels, series and atomic saving.

Every figure uses matplotlib's object API on the Agg canvas (no pyplot, no
global backend switch) and fonts of at least 8 pt at the saved size. Colours
come from the Okabe-Ito palette, which stays distinct under colour-vision
deficiencies, and each series has its own marker, so series stay apart in
greyscale print. `save_figure` writes PDF and PNG through a temporary file
and a rename. Points with several data seeds show the mean and the sample
standard deviation (ddof=1) as error bars.
"""

from __future__ import annotations

import contextlib
import io
import logging
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import offset_copy

from paczero.io import atomic_write_bytes
from paczero.tables import TASK_METRICS

log = logging.getLogger(__name__)

__all__ = [
    "FULL_WIDTH",
    "METHOD_LABELS",
    "METHOD_STYLES",
    "MIN_FONT_PT",
    "PNG_DPI",
    "RUN_PNG_DPI",
    "SERIES_STYLES",
    "STYLE",
    "TRACK_LABELS",
    "add_notes",
    "figure_style",
    "metric_label",
    "metric_name",
    "model_label",
    "new_figure",
    "plot_series",
    "preset_note",
    "save_figure",
    "seed_summary",
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


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply STYLE to the figures drawn and saved inside the block."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float, height: float) -> Figure:
    """Return an empty figure of `width` x `height` inches on an Agg canvas, with constrained layout."""
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
    with figure_style():
        for path in paths:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=path.suffix[1:], dpi=dpi, metadata=_metadata(path.suffix))
            atomic_write_bytes(path, buffer.getvalue())
            log.info("wrote %s", path)
    return paths


def _metadata(suffix: str) -> dict[str, Any]:
    # No creation date, so an unchanged figure gives an unchanged PDF.
    return {"CreationDate": None} if suffix == ".pdf" else {}


def model_label(recipe: Mapping[str, Any]) -> str:
    return str(recipe["model"]).upper()


def metric_label(recipes: Sequence[Mapping[str, Any]]) -> str:
    metrics = sorted({TASK_METRICS[recipe["task"]] for recipe in recipes})
    name = " / ".join("F1" if metric == "f1" else metric for metric in metrics)
    return f"test {name} (%)"


def preset_note(recipes: Sequence[Mapping[str, Any]]) -> str | None:
    """Return a note naming the preset and the model sources it swapped in, or None under `paper`."""
    presets = sorted({recipe.get("preset", "paper") for recipe in recipes})
    if presets == ["paper"]:
        return None
    sources = sorted({f"{recipe['model']} as {recipe['model_source']}" for recipe in recipes
                      if recipe["model_source"] != recipe["model"] and ":" in recipe["model_source"]})
    note = f"preset {', '.join(presets)}"
    if sources:
        note += " (" + "; ".join(sources) + ")"
    return note


def add_notes(figure: Figure, notes: Sequence[str | None]) -> None:
    """Write the notes above the axes, wrapped to the figure width."""
    text = "; ".join(note for note in notes if note)
    if text:
        # About 15 characters of 8 pt text fit in an inch.
        width = int(figure.get_figwidth() * 15)
        figure.suptitle(textwrap.fill(text, width), x=0.01, ha="left", fontsize=MIN_FONT_PT, color="0.35")


def seed_summary(points: Sequence[tuple[float, float]]) -> pd.DataFrame:
    """Return x, mean, std (ddof=1, 0 for one seed) and n of the y values at each x, sorted by x."""
    frame = pd.DataFrame(points, columns=["x", "y"])
    summary = frame.groupby("x", sort=True)["y"].agg(["mean", "std", "count"]).reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    return summary.rename(columns={"count": "n"})


def plot_series(axes, points: Sequence[tuple[float, float]], style: tuple[str, str, str], label: str,
                *, hollow: bool = False, shift_points: float = 0.0) -> None:
    """Plot the seed mean and standard deviation at each x, drawn `shift_points` to the right."""
    summary = seed_summary(points)
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


def metric_name(recipe: Mapping[str, Any]) -> str:
    metric = TASK_METRICS[recipe["task"]]
    return "F1" if metric == "f1" else metric
