"""The reader's table: one row per layout row, every value formatted as text.

`build_document` joins the aggregated seeds with the layout and the
published values. Its frame contains the CSV columns:

- `note`: marks appended rows ("PACZero, table1 cells", "cited: ..."),
  present only when a table has such rows;
- the table's key columns, empty where a field does not apply (the MI budget
  of a DP run);
- `metric`, `mean`, `std` (sample std over seeds, empty for one seed), `n`
  and `seeds`; a draft table adds `missing`, the seeds not trained yet;
- `mia_bound_pct`: the membership-inference success bound in percent,
  empty for non-private runs (see `paczero.tables.bounds`);
- with PAC-MI rows, `matched_epsilon`; with DP rows, `matched_mi_nats`,
  `delta`, `noise_multiplier` and `realised_epsilon` from metrics.json;
- with published values or cited rows, `published_mean`, `published_std`,
  `published_n`, `diff` (ours - published), `published_source` and
  `published_unverified`.

Means, standard deviations, bounds and differences have 2 decimals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from paczero.cells import format_number
from paczero.privacy.dp import GAUSSIAN_SHARE
from paczero.recipe_fields import DP_METHODS
from paczero.tables.bounds import matched_epsilon, matched_mi_nats, mia_bound
from paczero.tables.layout import TableLayout
from paczero.tables.metrics import TASK_METRICS
from paczero.tables.paper_values import PaperValue, PaperValues, describe_sources, match_paper_values

log = logging.getLogger(__name__)

__all__ = ["TableDocument", "build_document", "format_decimal", "format_key"]

PUBLISHED_COLUMNS = (
    "published_mean", "published_std", "published_n", "diff", "published_source", "published_unverified",
)


@dataclass
class TableDocument:
    """A rendered table and the text around it, ready for the CSV, Markdown and LaTeX writers."""

    table: str
    frame: pd.DataFrame  # the CSV columns, every value a string
    caption: list[str] = field(default_factory=list)  # sentences that describe the table
    sources: list[str] = field(default_factory=list)  # one line per published value or cited row
    draft: bool = False  # built from the cells that have finished so far
    missing: dict[str, str] = field(default_factory=dict)  # draft tables: cell -> why it is missing
    total_cells: int = 0


def format_decimal(value: Any, digits: int = 2) -> str:
    """Format a number with `digits` decimals; None and NaN become an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.{digits}f}"


def _format_significant(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.{digits}g}"


def format_key(value: Any) -> str:
    """Format a key value as cell ids do: 0.33, 25, 5e-4, 1e9; None becomes an empty string."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def build_document(
    aggregate: pd.DataFrame,
    layout: TableLayout,
    paper_values: PaperValues | None = None,
    *,
    missing: Mapping[str, str] | None = None,
) -> TableDocument:
    """Build the reader's table of `layout` from its aggregated rows (`aggregate_table` output).

    Without `missing` every row must be complete: all its seeds aggregated.
    With `missing` (cell -> reason) the table is a draft: rows show the seeds
    that exist, and the `missing` column lists the others.
    """
    draft = missing is not None
    paper_values = paper_values or PaperValues()
    matched = match_paper_values(paper_values, layout)
    for problem in matched.problems:
        log.warning("table %s: published value left out: %s", layout.table, problem)
    published, references = matched.values, matched.references
    summaries = _summaries_by_row(aggregate, layout, draft)

    recipes = [row.recipe for row in layout.rows]
    has_notes = any(row.note for row in layout.rows) or bool(references)
    has_pacmi = any(recipe["method"] == "pacmi" for recipe in recipes)
    has_dp = any(recipe["method"] in DP_METHODS for recipe in recipes)
    has_published = bool(published) or bool(references)

    records = []
    for index, row in enumerate(layout.rows):
        summary = summaries.get(index, {})
        record: dict[str, str] = {}
        if has_notes:
            record["note"] = row.note
        record.update({name: format_key(row.key[name]) for name in layout.keys})
        mean = summary.get("mean")
        record.update(
            metric=TASK_METRICS[row.recipe["task"]],
            mean=format_decimal(mean),
            std=format_decimal(summary.get("std")),
            n=str(summary.get("n", 0)),
            seeds=str(summary.get("seeds", "")),
        )
        if draft:
            record["missing"] = ";".join(
                str(seed) for seed, cell in zip(row.seeds, row.cells) if cell in missing
            )
        bound = mia_bound(row.recipe)
        record["mia_bound_pct"] = format_decimal(None if bound is None else 100.0 * bound)
        if has_pacmi:
            record["matched_epsilon"] = _format_significant(matched_epsilon(row.recipe), 3)
        if has_dp:
            is_dp = row.recipe["method"] in DP_METHODS
            record["matched_mi_nats"] = _format_significant(matched_mi_nats(row.recipe), 3)
            record["delta"] = format_key(row.recipe["delta"]) if is_dp else ""
            record["noise_multiplier"] = _format_significant(summary.get("noise_multiplier"), 4) if is_dp else ""
            record["realised_epsilon"] = _format_significant(summary.get("realised_epsilon"), 4) if is_dp else ""
        if has_published:
            # A difference to a published value only compares like with like on the stated recipe.
            record.update(_published_columns(published.get(index), mean if row.as_stated else None))
        records.append(record)

    for entry in references:
        records.append(_reference_record(entry, layout, records[0] if records else {}))

    columns = list(records[0]) if records else []
    frame = pd.DataFrame.from_records(records, columns=columns)
    caption = describe_layout(layout)
    if published and any(not row.as_stated for row in layout.rows):
        caption.append("Ours - published stays empty where the preset changed the stated recipe.")
    return TableDocument(
        table=layout.table,
        frame=frame,
        caption=caption,
        sources=describe_sources([*published.values(), *references]),
        draft=draft,
        missing=dict(missing or {}),
        total_cells=len(layout.cells),
    )


def _summaries_by_row(aggregate: pd.DataFrame, layout: TableLayout, draft: bool) -> dict[int, dict[str, Any]]:
    """Return row index -> aggregated values, checking that the aggregate belongs to this layout."""
    summaries: dict[int, dict[str, Any]] = {}
    for record in aggregate.to_dict("records"):
        index = int(record["row"])
        if not 0 <= index < len(layout.rows):
            raise ValueError(
                f"table {layout.table}: the aggregate has row {index}, but the table has {len(layout.rows)} rows; "
                "rebuild the aggregate from the current cells"
            )
        cells = str(record["cells"]).split(";")
        row = layout.rows[index]
        if not set(cells) <= set(row.cells) or (not draft and set(cells) != set(row.cells)):
            raise ValueError(
                f"table {layout.table}: row {index} aggregates cells {', '.join(cells)}, "
                f"but the table expects {', '.join(row.cells)}; rebuild the aggregate from the current cells"
            )
        summaries[index] = record
    if not draft:
        absent = [index for index in range(len(layout.rows)) if index not in summaries]
        if absent:
            row = layout.rows[absent[0]]
            raise ValueError(
                f"table {layout.table}: no aggregated values for the row of cells {', '.join(row.cells)}; "
                "train them, or build the draft table under partial/"
            )
    return summaries


def _published_columns(entry: PaperValue | None, mean: Any) -> dict[str, str]:
    if entry is None:
        return dict.fromkeys(PUBLISHED_COLUMNS, "")
    has_mean = mean is not None and not (isinstance(mean, float) and math.isnan(mean))
    return {
        "published_mean": f"{entry.mean:g}",
        "published_std": "" if entry.std is None else f"{entry.std:g}",
        "published_n": "" if entry.n is None else str(entry.n),
        "diff": format_decimal(float(mean) - entry.mean) if has_mean else "",
        "published_source": entry.source,
        "published_unverified": "yes" if entry.unverified else "no",
    }


def _reference_record(entry: PaperValue, layout: TableLayout, template: Mapping[str, str]) -> dict[str, str]:
    """Return a cited row: its key values and published value, with every measured column empty."""
    record = dict.fromkeys(template, "")
    record["note"] = f"cited: {entry.label}"
    for name in layout.keys:
        record[name] = format_key(entry.row.get(name))
    tasks = {entry.row["task"]} if "task" in entry.row else {row.recipe["task"] for row in layout.rows}
    if len(tasks) == 1 and next(iter(tasks)) in TASK_METRICS:
        record["metric"] = TASK_METRICS[next(iter(tasks))]
    record.update(_published_columns(entry, None))
    return record


def describe_layout(layout: TableLayout) -> list[str]:
    """Return the caption sentences: fixed recipe fields, preset, sources and how to read the columns."""
    own_rows = [row for row in layout.rows if not row.note]
    sentences = [
        f"{len(own_rows)} rows from {sum(len(row.cells) for row in own_rows)} cells; "
        "mean ± sample standard deviation over data seeds of the test metric in %."
    ]
    if layout.fixed:
        fixed = ", ".join(f"{name} {format_key(value)}" for name, value in layout.fixed.items())
        sentences.append(f"Recipe of every row: {fixed}.")
    if layout.preset_changes:
        changes = ", ".join(
            f"{name} {'/'.join(format_key(value) for value in values)}"
            for name, values in layout.preset_changes.items()
        )
        sentences.append(f"Preset {layout.preset}, which overrides the stated recipes: {changes}.")
    else:
        sentences.append(f"Preset {layout.preset}: the recipes as stated in the cells file.")
    models = ", ".join(f"{name} = {source}" for name, source in layout.models.items())
    data = ", ".join(f"{task} = {source}" for task, source in layout.data.items())
    sentences.append(f"Models: {models}. Data: {data}.")
    notes = sorted({row.note for row in layout.rows if row.note})
    for note in notes:
        sentences.append(
            f"Rows marked '{note}' repeat those runs for comparison at the same membership-inference bound."
        )
    sentences.append(
        "MIA bound: the highest success rate of a membership-inference adversary (prior 50%), "
        "from the MI budget (PAC-MI), the prior itself (PAC-ZPL) or (epsilon, delta) (DP); "
        "empty for non-private runs."
    )
    methods = {row.recipe["method"] for row in layout.rows}
    if "pacmi" in methods:
        sentences.append("Matched epsilon: the epsilon whose DP bound, at the row's delta, equals the row's bound.")
    if methods & set(DP_METHODS):
        sentences.append(
            "Matched MI: the MI in nats whose bound equals the DP row's bound. Noise multiplier and realised "
            f"epsilon come from metrics.json: the Gaussian releases get {GAUSSIAN_SHARE:g} of epsilon "
            "(realised per Opacus's RDP accountant) and the noisy batch size the rest."
        )
    return sentences
