"""Published values (config/paper_values.yaml), checked against the tables' rows.

The file has two lists:

- `values`: published results of rows that this workflow trains. Each entry
  names its `table`, its `row` (the key columns of that table that apply to
  the row, e.g. task, model, track, method and budget_nats for table1),
  `mean`, optionally `std` and `n`, and its `source`. The table shows it
  beside the row with the difference ours - published. An entry that
  matches no row is left out with a warning (a cells file of your own may
  lack the row), and `check_paper_values` rejects it.
- `references`: cited results that no cell reproduces, e.g. a non-private
  baseline. Each names `table`, a `label`, a `row` made of that table's key
  columns, `mean`, optionally `std` and `n`, and `source`. The table appends
  it as an extra row marked "cited".

An entry may set `unverified: true`; the table then marks the value as
unverified next to its source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paczero.cells import load_yaml
from paczero.tables.layout import TableLayout

__all__ = [
    "PaperValue",
    "PaperValues",
    "PaperValuesError",
    "TableMatch",
    "check_paper_values",
    "load_paper_values",
    "match_paper_values",
    "paper_value_problems",
    "parse_paper_values",
]

ENTRY_KEYS = {
    "values": {"table", "row", "mean", "std", "n", "source", "unverified", "note"},
    "references": {"table", "label", "row", "mean", "std", "n", "source", "unverified", "note"},
}
REQUIRED_KEYS = {
    "values": ("table", "row", "mean", "source"),
    "references": ("table", "label", "row", "mean", "source"),
}


class PaperValuesError(ValueError):
    """An invalid paper_values.yaml entry, or one that matches no row."""


@dataclass(frozen=True)
class PaperValue:
    """One published value: a row of a table and its mean, std and n as published."""

    table: str
    row: dict[str, Any]
    mean: float
    std: float | None
    n: int | None
    source: str
    unverified: bool = False
    label: str = ""  # references only: what the cited row is, e.g. "MeZO, non-private"
    note: str = ""
    where: str = ""  # file and entry, for error messages


@dataclass(frozen=True)
class PaperValues:
    values: tuple[PaperValue, ...] = ()
    references: tuple[PaperValue, ...] = ()

    def for_table(self, table: str) -> tuple[list[PaperValue], list[PaperValue]]:
        """Return the values and the references of one table."""
        return (
            [entry for entry in self.values if entry.table == table],
            [entry for entry in self.references if entry.table == table],
        )


def load_paper_values(path: str | Path) -> PaperValues:
    """Read and check paper_values.yaml; raise PaperValuesError naming the entry and field."""
    return parse_paper_values(load_yaml(Path(path)), source=str(path))


def parse_paper_values(document: Any, source: str = "paper_values.yaml") -> PaperValues:
    """Check a parsed paper_values.yaml and return its entries."""
    if document is None:
        return PaperValues()
    if not isinstance(document, Mapping):
        raise PaperValuesError(
            f"{source}: must be a mapping with 'values' and 'references', got {type(document).__name__}"
        )
    unknown = sorted(set(document) - set(ENTRY_KEYS))
    if unknown:
        raise PaperValuesError(f"{source}: unknown key '{unknown[0]}'; known keys: values, references")
    sections = {}
    for section in ENTRY_KEYS:
        entries = document.get(section) or []
        if not isinstance(entries, list):
            raise PaperValuesError(f"{source}: '{section}' must be a list of entries, got {type(entries).__name__}")
        sections[section] = tuple(
            _parse_entry(entry, section, f"{source}: {section}[{index}]") for index, entry in enumerate(entries)
        )
    return PaperValues(values=sections["values"], references=sections["references"])


def _parse_entry(entry: Any, section: str, where: str) -> PaperValue:
    if not isinstance(entry, Mapping):
        raise PaperValuesError(f"{where}: must be a mapping, got {type(entry).__name__}")
    unknown = sorted(set(entry) - ENTRY_KEYS[section])
    if unknown:
        known = ", ".join(sorted(ENTRY_KEYS[section]))
        raise PaperValuesError(f"{where}: unknown key '{unknown[0]}'; known keys: {known}")
    missing = [key for key in REQUIRED_KEYS[section] if key not in entry]
    if missing:
        raise PaperValuesError(f"{where}: missing key '{missing[0]}'")

    for key in ("table", "source") + (("label",) if section == "references" else ()):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise PaperValuesError(f"{where}: '{key}' must be a non-empty string, got {entry[key]!r}")
    row = entry["row"]
    if not isinstance(row, Mapping) or not row:
        raise PaperValuesError(f"{where}: 'row' must be a non-empty mapping of key columns to values, got {row!r}")
    for name, value in row.items():
        if isinstance(value, (list, dict)):
            raise PaperValuesError(f"{where}: row field '{name}' must be a single value, got {value!r}")

    n = entry.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise PaperValuesError(f"{where}: 'n' must be an integer >= 1 or absent, got {n!r}")
    unverified = entry.get("unverified", False)
    if not isinstance(unverified, bool):
        raise PaperValuesError(f"{where}: 'unverified' must be true or false, got {unverified!r}")

    return PaperValue(
        table=entry["table"],
        row=dict(row),
        mean=_number(entry["mean"], "mean", where),
        std=None if entry.get("std") is None else _number(entry["std"], "std", where),
        n=n,
        source=entry["source"].strip(),
        unverified=unverified,
        label=entry.get("label", ""),
        note=entry.get("note", "") or "",
        where=where,
    )


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PaperValuesError(f"{where}: '{key}' must be a finite number (unquoted), got {value!r}")
    return float(value)


def _same(left: Any, right: Any) -> bool:
    """Compare key values, numbers by value: budget_nats 0 equals 0.0."""
    def is_number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if is_number(left) and is_number(right):
        return math.isclose(float(left), float(right), rel_tol=1e-12, abs_tol=0.0)
    return left == right


def _field_problem(entry: PaperValue, layout: TableLayout) -> str | None:
    extra = [name for name in entry.row if name not in layout.keys]
    if not extra:
        return None
    return (
        f"{entry.where}: row field '{extra[0]}' is not a key column of {layout.table}; "
        f"its key columns are {', '.join(layout.keys)}"
    )


@dataclass(frozen=True)
class TableMatch:
    """The published values and cited rows of one table, and the entries left out."""

    values: dict[int, PaperValue]  # row index -> published value
    references: list[PaperValue]
    problems: list[str]  # one message per entry that matches no row or names a field outside the key columns


def match_paper_values(paper_values: PaperValues, layout: TableLayout) -> TableMatch:
    """Match the entries of one table to its rows.

    A row matches an entry when every key column equals the entry's value for
    it, and the key columns the entry leaves out are empty (not applicable)
    in the row. An entry that matches no row is left out and reported in
    `problems`. Raise PaperValuesError when two entries match one row.
    """
    values, references = paper_values.for_table(layout.table)
    matches: dict[int, PaperValue] = {}
    problems: list[str] = []
    for entry in values:
        problem = _field_problem(entry, layout)
        if problem:
            problems.append(problem)
            continue
        found = [
            index for index, row in enumerate(layout.rows)
            if all(_same(entry.row.get(name), row.key[name]) for name in layout.keys)
        ]
        if not found:
            problems.append(
                f"{entry.where}: no row of {layout.table} has {_describe(entry.row)}; "
                f"list the rows with: paczero cells --table {layout.table}"
            )
        for index in found:
            if index in matches:
                raise PaperValuesError(
                    f"{entry.where}: the row {_describe(layout.rows[index].key)} of {layout.table} "
                    f"already has a published value from {matches[index].where}; keep one of them"
                )
            matches[index] = entry

    kept_references = []
    for entry in references:
        problem = _field_problem(entry, layout)
        if problem:
            problems.append(problem)
        else:
            kept_references.append(entry)
    return TableMatch(matches, kept_references, problems)


def paper_value_problems(paper_values: PaperValues, layouts: Mapping[str, TableLayout]) -> list[str]:
    """Return one message per entry that names an unknown table, a non-key field, or no existing row."""
    problems = [
        f"{entry.where}: unknown table '{entry.table}'; known tables: {', '.join(layouts)}"
        for entry in [*paper_values.values, *paper_values.references]
        if entry.table not in layouts
    ]
    for layout in layouts.values():
        problems += match_paper_values(paper_values, layout).problems
    return problems


def check_paper_values(paper_values: PaperValues, layouts: Mapping[str, TableLayout]) -> None:
    """Raise PaperValuesError unless every entry names a known table, key columns only, and (values) an existing row."""
    problems = paper_value_problems(paper_values, layouts)
    if problems:
        raise PaperValuesError("\n".join(problems))


def _describe(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in row.items() if value is not None) or "no key values"


def format_published(entry: PaperValue) -> str:
    """Format a published value as written: '88.99 ± 0.91 (n=3)'."""
    text = f"{entry.mean:g}"
    if entry.std is not None:
        text += f" ± {entry.std:g}"
    if entry.n is not None:
        text += f" (n={entry.n})"
    return text


def describe_sources(entries: Sequence[PaperValue]) -> list[str]:
    """Return one line per entry: its row, its value and its source, marked when unverified."""
    lines = []
    for entry in entries:
        what = entry.label or _describe(entry.row)
        flag = " (unverified)" if entry.unverified else ""
        note = f"; {entry.note}" if entry.note else ""
        lines.append(f"{what}: {format_published(entry)}, source: {entry.source}{flag}{note}")
    return lines
