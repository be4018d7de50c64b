"""config/paper_values.yaml: every entry matches a row of the expanded cells, and bad entries are rejected."""

from __future__ import annotations

import copy

import pytest

from paczero.cells import load_config
from paczero.tables import (
    PaperValuesError,
    check_paper_values,
    load_layouts,
    load_paper_values,
    match_paper_values,
    paper_value_problems,
    parse_paper_values,
)

ZPL_ENTRY = {
    "table": "table1",
    "row": {"task": "sst2", "model": "opt-1.3b", "track": "ft", "method": "paczpl", "budget_nats": 0},
    "mean": 88.99,
    "std": 0.91,
    "n": 3,
    "source": "arXiv 2605.06505 abstract",
}


@pytest.fixture(scope="module")
def layouts(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    config["cells_file"] = str(repo_root / "config" / "cells.yaml")
    return load_layouts(config, "paper")


@pytest.fixture(scope="module")
def shipped(repo_root):
    return load_paper_values(repo_root / "config" / "paper_values.yaml")


def test_shipped_values_match_rows(shipped, layouts):
    assert paper_value_problems(shipped, layouts) == []
    check_paper_values(shipped, layouts)
    for table, layout in layouts.items():
        values, references = shipped.for_table(table)
        matched = match_paper_values(shipped, layout)
        assert len(matched.values) == len(values), table
        assert matched.references == references, table


def test_shipped_values_name_sources(shipped):
    for entry in [*shipped.values, *shipped.references]:
        assert entry.source.strip(), entry.where


def test_shipped_zpl_headline(shipped, layouts):
    matches = match_paper_values(shipped, layouts["table1"]).values
    assert len(matches) == 1
    (index, entry), = matches.items()
    row = layouts["table1"].rows[index]
    assert row.key == {"task": "sst2", "model": "opt-1.3b", "track": "ft", "method": "paczpl", "budget_nats": 0.0}
    assert row.seeds == (0, 1, 2)
    assert (entry.mean, entry.std, entry.n) == (88.99, 0.91, 3)
    assert "2605.06505" in entry.source


def test_unverified_summary_value_absent(shipped):
    # A third-party summary reports 89.51 ± 1.12 for PAC-MI at 0.33 nats without naming the cell.
    for entry in [*shipped.values, *shipped.references]:
        assert entry.mean != 89.51 or entry.unverified, entry.where


def test_orphan_value_rejected(layouts):
    entry = copy.deepcopy(ZPL_ENTRY)
    entry["row"]["model"] = "opt-2.7b"
    paper_values = parse_paper_values({"values": [entry]}, source="values.yaml")
    with pytest.raises(PaperValuesError) as info:
        check_paper_values(paper_values, layouts)
    assert "values.yaml: values[0]" in str(info.value)
    assert "no row of table1 has" in str(info.value)


def test_orphan_value_reported_as_problem(layouts):
    entry = copy.deepcopy(ZPL_ENTRY)
    entry["row"]["budget_nats"] = 0.5
    problems = paper_value_problems(parse_paper_values({"values": [entry]}, source="values.yaml"), layouts)
    assert len(problems) == 1
    assert problems[0].startswith("values.yaml: values[0]: no row of table1 has")
    assert match_paper_values(parse_paper_values({"values": [entry]}), layouts["table1"]).values == {}


def test_missing_key_column_is_orphan(layouts):
    entry = copy.deepcopy(ZPL_ENTRY)
    del entry["row"]["track"]
    with pytest.raises(PaperValuesError, match="no row of table1"):
        check_paper_values(parse_paper_values({"values": [entry]}), layouts)


def test_field_outside_keys_rejected(layouts):
    entry = copy.deepcopy(ZPL_ENTRY)
    entry["row"]["lr"] = 1e-4
    with pytest.raises(PaperValuesError, match="row field 'lr' is not a key column of table1"):
        check_paper_values(parse_paper_values({"values": [entry]}), layouts)


def test_unknown_table_rejected(layouts):
    entry = {**ZPL_ENTRY, "table": "table9"}
    with pytest.raises(PaperValuesError, match="unknown table 'table9'"):
        check_paper_values(parse_paper_values({"values": [entry]}), layouts)


def test_two_values_for_one_row_rejected(layouts):
    paper_values = parse_paper_values({"values": [ZPL_ENTRY, {**ZPL_ENTRY, "mean": 88.0}]})
    with pytest.raises(PaperValuesError, match="already has a published value"):
        check_paper_values(paper_values, layouts)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mean": "88.99"}, "'mean' must be a finite number"),
        ({"std": float("nan")}, "'std' must be a finite number"),
        ({"n": 0}, "'n' must be an integer >= 1"),
        ({"source": " "}, "'source' must be a non-empty string"),
        ({"unverified": "yes"}, "'unverified' must be true or false"),
        ({"row": {}}, "'row' must be a non-empty mapping"),
        ({"value": 1}, "unknown key 'value'"),
    ],
)
def test_invalid_entry_rejected(change, message):
    with pytest.raises(PaperValuesError, match=message):
        parse_paper_values({"values": [{**ZPL_ENTRY, **change}]})


def test_missing_source_rejected():
    entry = {key: value for key, value in ZPL_ENTRY.items() if key != "source"}
    with pytest.raises(PaperValuesError, match="missing key 'source'"):
        parse_paper_values({"values": [entry]})


def test_reference_needs_label():
    with pytest.raises(PaperValuesError, match="missing key 'label'"):
        parse_paper_values({"references": [ZPL_ENTRY]})
