"""Draft tables from the cells that have finished, for a look while the others train."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paczero.tables.aggregate import aggregate_loaded, load_available_metrics
from paczero.tables.layout import TableLayout
from paczero.tables.paper_values import PaperValues
from paczero.tables.render import TableDocument, build_document

log = logging.getLogger(__name__)

__all__ = ["build_partial_document", "finished_metrics"]


def build_partial_document(
    layout: TableLayout,
    runs_dir: str | Path,
    recipes: Mapping[str, Mapping[str, Any]],
    paper_values: PaperValues | None = None,
) -> TableDocument:
    """Build the draft of one table from the valid metrics.json files under `runs_dir`/{cell}/.

    Every row of the full table appears; a row without finished cells has
    n 0 and an empty mean. The document's `missing` maps each cell left out
    to the reason.
    """
    loaded, missing = load_available_metrics(layout.cells, runs_dir, recipes)
    log.info("table %s draft: %d of %d cells finished", layout.table, len(loaded), len(layout.cells))
    aggregate = aggregate_loaded(loaded, recipes, layout)
    if aggregate.empty:
        aggregate = aggregate.reindex(columns=["row", "cells"])
    return build_document(aggregate, layout, paper_values, missing=missing)


def finished_metrics(cells: list[str], runs_dir: str | Path) -> list[list[Any]]:
    """Return [cell, modification time in ns, size] of every existing metrics.json of `cells`.

    The draft rule passes this as a param, so Snakemake reruns the draft
    whenever a cell finishes or a metrics.json changes.
    """
    signature = []
    for cell in cells:
        path = Path(runs_dir) / cell / "metrics.json"
        try:
            status = os.stat(path)
        except FileNotFoundError:
            continue
        signature.append([cell, status.st_mtime_ns, status.st_size])
    return signature
