"""The rows and key columns of every table, derived from the expanded cells.

A row is a set of cells that differ only in their data seed. Rows are
distinguished by the recipe as cells.yaml states it, before the preset's
recipe overrides: the demo preset sets every cell to 40 steps, and the T=1000 and
T=2000 rows of a table must stay two rows that show T=1000 and T=2000.

The key columns of a table are the fields that vary between its rows, left
out where the key columns before them already determine the value (in Table 1
the learning rate follows from task, model, track and method). Table 1 and
Table 3 have fixed key columns. Table 3 also lists the Table 1 runs of its
task, model and track with PAC-MI and PAC-ZPL, so that the DP baselines sit
beside PACZero at matched membership-inference bounds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paczero.cells import CellsError, cells_by_table, expand_cells, load_yaml, resolve_settings, training_recipe
from paczero.recipe_fields import DP_METHODS, FIELD_NAMES, REQUIRED, RECIPE_FIELDS

log = logging.getLogger(__name__)

__all__ = ["LayoutRow", "ReferenceRows", "TableLayout", "build_layouts", "load_layouts"]

# Fields that differ between the cells of one row, or that name the cell rather than the run.
NON_ROW_FIELDS = ("cell", "table", "data_seed")
# Fields that describe where a run came from; the caption lists them instead of key columns.
SOURCE_FIELDS = ("model_source", "data", "preset")
# Order in which varying fields become key columns; the other fields follow in recipe order.
KEY_PRIORITY = (
    "task", "model", "track", "method", "ablation", "budget_nats", "directions", "steps", "epsilon",
    "clip", "lora_r", "lr", "num_subsets",
)
FIXED_KEYS = {
    "table1": ("task", "model", "track", "method", "budget_nats"),
    "table3": ("method", "directions", "steps", "epsilon", "budget_nats"),
}
PAC_METHODS = ("pacmi", "paczpl")
DEFAULTS = {spec.name: spec.default for spec in RECIPE_FIELDS if spec.default is not REQUIRED}


@dataclass(frozen=True)
class ReferenceRows:
    """Rows of another table appended to a table for comparison."""

    source_table: str
    match_fields: tuple[str, ...]  # the appended rows share these fields with the table's own rows
    methods: tuple[str, ...]
    note: str


REFERENCE_ROWS = {
    "table3": ReferenceRows("table1", ("task", "model", "track"), PAC_METHODS, "PACZero, table1 cells"),
}


@dataclass(frozen=True)
class LayoutRow:
    """One row of a table: its key values, its cells and the recipe they were trained with."""

    key: dict[str, Any]  # key column -> value as cells.yaml states it; None where the field does not apply
    cells: tuple[str, ...]  # in seed order
    seeds: tuple[int, ...]
    recipe: dict[str, Any]  # training recipe of the first cell, without cell and data_seed
    note: str = ""  # e.g. "PACZero, table1 cells" for a reference row
    as_stated: bool = True  # False when the preset's overrides changed the recipe of its cells


@dataclass(frozen=True)
class TableLayout:
    """Rows, key columns and caption facts of one table."""

    table: str
    keys: tuple[str, ...]
    rows: tuple[LayoutRow, ...]
    fixed: dict[str, Any] = field(default_factory=dict)  # fields with one stated value in every own row
    preset: str = "paper"
    preset_changes: dict[str, list] = field(default_factory=dict)  # field -> values the preset set
    models: dict[str, str] = field(default_factory=dict)  # model name -> source
    data: dict[str, str] = field(default_factory=dict)  # task -> data source

    @property
    def cells(self) -> list[str]:
        """Return every cell id of the table, reference rows included, in row order."""
        return [cell for row in self.rows for cell in row.cells]

    def to_dict(self) -> dict[str, Any]:
        """Return the layout as plain JSON values, e.g. for a Snakemake rule's params."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableLayout:
        rows = tuple(
            LayoutRow(
                key=dict(row["key"]),
                cells=tuple(row["cells"]),
                seeds=tuple(row["seeds"]),
                recipe=dict(row["recipe"]),
                note=row.get("note", ""),
                as_stated=row.get("as_stated", True),
            )
            for row in data["rows"]
        )
        return cls(
            table=data["table"],
            keys=tuple(data["keys"]),
            rows=rows,
            fixed=dict(data.get("fixed", {})),
            preset=data.get("preset", "paper"),
            preset_changes={name: list(values) for name, values in data.get("preset_changes", {}).items()},
            models=dict(data.get("models", {})),
            data=dict(data.get("data", {})),
        )


def load_layouts(
    config: Mapping[str, Any],
    preset: str | None = None,
    cells: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, TableLayout]:
    """Expand the cells of a config twice, with and without the preset's recipe overrides, and lay out every table.

    `cells` are the config's cells already expanded under `preset` (the
    workflow passes its own); they are expanded here when omitted.
    """
    settings = resolve_settings(config, preset)
    path = Path(settings.cells_file)
    document = load_yaml(path)
    if cells is None:
        cells = expand_cells(document, settings, source=str(path))
    stated_settings = dataclasses.replace(settings, overrides={}, task_overrides={})
    stated = expand_cells(document, stated_settings, source=str(path))
    return build_layouts(cells, stated)


def build_layouts(
    cells: Mapping[str, Mapping[str, Any]],
    stated: Mapping[str, Mapping[str, Any]],
) -> dict[str, TableLayout]:
    """Lay out every table of `cells`, the resolved recipes, using `stated`, the same cells without preset overrides.

    Raise CellsError when the two sets of cells differ or when a table's fixed
    key columns do not tell its rows apart.
    """
    if list(cells) != list(stated):
        raise CellsError("the cells with and without the preset's recipe overrides differ; expand both from one config")
    tables = cells_by_table(cells)
    rows_by_table = {table: _group_rows(ids, cells, stated) for table, ids in tables.items()}

    layouts = {}
    for table, own_rows in rows_by_table.items():
        reference_rows = _reference_rows(table, own_rows, rows_by_table)
        all_rows = own_rows + reference_rows
        keys = FIXED_KEYS.get(table) or _derive_keys([row.key for row in own_rows])
        _check_keys_distinct(table, keys, all_rows)
        row_cells = [cell for row in all_rows for cell in row.cells]
        layouts[table] = TableLayout(
            table=table,
            keys=tuple(keys),
            rows=tuple(
                dataclasses.replace(row, key={name: row.key[name] for name in keys})
                for row in all_rows
            ),
            fixed=_fixed_fields([row.key for row in own_rows], keys),
            preset=cells[row_cells[0]]["preset"],
            preset_changes=_preset_changes(row_cells, cells, stated),
            models={cells[cell]["model"]: cells[cell]["model_source"] for cell in row_cells},
            data={cells[cell]["task"]: cells[cell]["data"] for cell in row_cells},
        )
    return layouts


def key_value(name: str, recipe: Mapping[str, Any]) -> Any:
    """Return a recipe field as a key column shows it: None where it does not apply to the method."""
    method = recipe["method"]
    if name == "budget_nats" and method not in PAC_METHODS:
        return None
    if name in ("epsilon", "delta", "sample_rate") and method not in DP_METHODS:
        return None
    if name == "ablation" and method != "nonprivate":
        return None
    value = recipe[name]
    return ",".join(value) if isinstance(value, list) else value


def _group_rows(
    ids: Sequence[str], cells: Mapping[str, Mapping], stated: Mapping[str, Mapping]
) -> list[LayoutRow]:
    """Group a table's cells into rows by their stated recipe, in order of each row's first cell."""
    groups: dict[str, list[str]] = {}
    for cell in ids:
        fields = {name: value for name, value in stated[cell].items() if name not in NON_ROW_FIELDS}
        groups.setdefault(json.dumps(fields, sort_keys=True), []).append(cell)

    rows = []
    for members in groups.values():
        first = stated[members[0]]
        key = {
            name: key_value(name, first)
            for name in FIELD_NAMES
            if name not in NON_ROW_FIELDS and name not in SOURCE_FIELDS
        }
        recipe = {name: value for name, value in training_recipe(cells[members[0]]).items()
                  if name not in ("cell", "data_seed")}
        seeds = tuple(cells[cell]["data_seed"] for cell in members)
        as_stated = not _preset_changes(members, cells, stated)
        rows.append(LayoutRow(key, tuple(members), seeds, recipe, as_stated=as_stated))
    return rows


def _reference_rows(
    table: str, own_rows: list[LayoutRow], rows_by_table: Mapping[str, list[LayoutRow]]
) -> list[LayoutRow]:
    spec = REFERENCE_ROWS.get(table)
    if spec is None:
        return []
    if spec.source_table not in rows_by_table:
        log.info("table %s: no %s cells to compare with, so it lists only its own rows", table, spec.source_table)
        return []
    own_combinations = {tuple(row.key[name] for name in spec.match_fields) for row in own_rows}
    return [
        dataclasses.replace(row, note=spec.note)
        for row in rows_by_table[spec.source_table]
        if row.key["method"] in spec.methods and tuple(row.key[name] for name in spec.match_fields) in own_combinations
    ]


def _hashable(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _derive_keys(keys: list[dict[str, Any]]) -> list[str]:
    """Pick the key columns: each varying field that the fields picked before it do not determine."""
    candidates = list(KEY_PRIORITY) + [name for name in keys[0] if name not in KEY_PRIORITY]
    picked: list[str] = []
    for name in candidates:
        if len({_hashable(row[name]) for row in keys}) <= 1:
            continue
        determined: dict[str, str] = {}
        is_function = True
        for row in keys:
            key_values = _hashable([row[key] for key in picked])
            if determined.setdefault(key_values, _hashable(row[name])) != _hashable(row[name]):
                is_function = False
                break
        if not is_function:
            picked.append(name)
    # A table with one recipe (seeds of a single run) still needs a column to show.
    return picked or ["method"]


def _check_keys_distinct(table: str, keys: Sequence[str], rows: list[LayoutRow]) -> None:
    seen: dict[str, LayoutRow] = {}
    for row in rows:
        identity = _hashable([row.key[name] for name in keys])
        other = seen.setdefault(identity, row)
        if other is not row:
            differing = [name for name in row.key if _hashable(row.key[name]) != _hashable(other.key[name])]
            raise CellsError(
                f"table {table}: cells {other.cells[0]} and {row.cells[0]} share the key columns "
                f"({', '.join(keys)}) but differ in {', '.join(differing)}; give the table one recipe per key"
            )


def _fixed_fields(keys: list[dict[str, Any]], key_columns: Sequence[str]) -> dict[str, Any]:
    """Return the stated fields that have one value in every row, other than defaults and key columns."""
    fixed = {}
    for name in keys[0]:
        values = {_hashable(row[name]) for row in keys}
        value = keys[0][name]
        if name in key_columns or len(values) > 1 or value is None:
            continue
        default = DEFAULTS.get(name, REQUIRED)
        if isinstance(default, list):
            default = ",".join(default)
        if value != default:
            fixed[name] = value
    return fixed


def _preset_changes(
    ids: Sequence[str], cells: Mapping[str, Mapping], stated: Mapping[str, Mapping]
) -> dict[str, list]:
    """Return field -> the values that the preset's overrides gave the table's cells."""
    changes: dict[str, list] = {}
    for cell in ids:
        for name, value in cells[cell].items():
            if name in NON_ROW_FIELDS or name in SOURCE_FIELDS or value == stated[cell][name]:
                continue
            values = changes.setdefault(name, [])
            if value not in values:
                values.append(value)
    return changes
