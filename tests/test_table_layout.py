"""Table layouts of the shipped cells.yaml: cell counts, key columns, rows and reference rows."""

from __future__ import annotations

import pytest

from paczero.cells import CellsError, cells_by_table, load_cells, load_config
from paczero.tables import TableLayout, load_layouts

# Cells per table under the paper preset (one training run per cell), written
# out by hand from the published list of runs per table.
EXPECTED_CELLS = {
    "table1": 55,
    "table2": 15,
    "table3": 12,
    "appendix/ft-plateau-adaptive": 15,
    "appendix/dpaggzo-parity": 6,
    "appendix/ablation": 8,
    "appendix/clip-ablation-67b": 4,
    "appendix/rank-ablation": 3,
    "appendix/zpl-lr-sweep": 10,
    "appendix/zpl-ft-ladder": 5,
    "appendix/zpl-67b-ladder": 3,
    "appendix/zpl-67b-ft-ladder": 3,
    "appendix/zpl-67b-ft-multiseed": 3,
    "appendix/k-ablation": 4,
    "appendix/k-ablation-67b": 4,
    "appendix/squad-nonpriv": 2,
}
EXPECTED_KEYS = {
    "table1": ("task", "model", "track", "method", "budget_nats"),
    "table2": ("budget_nats",),
    "table3": ("method", "directions", "steps", "epsilon", "budget_nats"),
    "appendix/ft-plateau-adaptive": ("budget_nats",),
    "appendix/dpaggzo-parity": ("epsilon",),
    "appendix/ablation": ("ablation", "steps"),
    "appendix/clip-ablation-67b": ("budget_nats", "clip"),
    "appendix/rank-ablation": ("lora_r",),
    "appendix/zpl-lr-sweep": ("track", "clip", "lr"),
    "appendix/zpl-ft-ladder": ("steps",),
    "appendix/k-ablation": ("track", "directions"),
    "appendix/k-ablation-67b": ("track", "directions"),
    "appendix/squad-nonpriv": ("model",),
}


@pytest.fixture(scope="module")
def config(repo_root):
    config = load_config(repo_root / "config" / "config.yaml")
    config["cells_file"] = str(repo_root / "config" / "cells.yaml")
    return config


@pytest.fixture(scope="module")
def paper(config):
    cells = load_cells(config, preset="paper")
    return cells, load_layouts(config, "paper", cells=cells)


@pytest.fixture(scope="module")
def demo(config):
    return load_layouts(config, "demo")


def test_cell_counts_per_table(paper):
    cells, _ = paper
    counts = {table: len(ids) for table, ids in cells_by_table(cells).items()}
    assert counts == EXPECTED_CELLS
    assert len(cells) == 137


def test_table1_counts_per_task(paper):
    cells, _ = paper
    table1 = cells_by_table(cells)["table1"]
    assert sum(cells[cell]["task"] == "sst2" for cell in table1) == 41
    assert sum(cells[cell]["task"] == "squad" for cell in table1) == 14


def test_layout_cells_match_table_cells(paper):
    cells, layouts = paper
    tables = cells_by_table(cells)
    assert set(layouts) == set(tables)
    for table, layout in layouts.items():
        own = [cell for row in layout.rows if not row.note for cell in row.cells]
        assert own == tables[table], table
        if table != "table3":
            assert layout.cells == tables[table], table


@pytest.mark.parametrize("table", sorted(EXPECTED_KEYS))
def test_key_columns(paper, table):
    _, layouts = paper
    assert layouts[table].keys == EXPECTED_KEYS[table]


def test_table1_rows_group_seeds(paper):
    _, layouts = paper
    rows = {tuple(row.key.values()): row for row in layouts["table1"].rows}
    assert len(rows) == 24
    zpl = rows[("sst2", "opt-1.3b", "ft", "paczpl", 0.0)]
    assert zpl.seeds == (0, 1, 2)
    assert zpl.as_stated
    mi = rows[("sst2", "opt-6.7b", "ft", "pacmi", 0.33)]
    assert mi.seeds == (0, 1, 2, 42)


def test_table3_reference_rows(paper):
    _, layouts = paper
    layout = layouts["table3"]
    references = [row for row in layout.rows if row.note]
    assert len(layout.rows) == 15
    assert [(row.key["method"], row.key["budget_nats"]) for row in references] == [
        ("pacmi", 0.33), ("pacmi", 0.68), ("paczpl", 0.0),
    ]
    assert sum(len(row.cells) for row in references) == 11
    for row in references:
        assert row.note == "PACZero, table1 cells"
        assert (row.recipe["task"], row.recipe["model"], row.recipe["track"]) == ("sst2", "opt-1.3b", "ft")
    dp_rows = [row for row in layout.rows if not row.note]
    assert all(row.key["budget_nats"] is None for row in dp_rows)
    assert all(row.key["epsilon"] is None for row in references)


def test_demo_keeps_rows_with_equal_overrides_apart(demo):
    ablation = demo["appendix/ablation"]
    assert len(ablation.rows) == 8
    assert {row.recipe["steps"] for row in ablation.rows} == {40}
    assert sorted({row.key["steps"] for row in ablation.rows}) == [1000, 2000]
    assert ablation.preset_changes["steps"] == [40]
    assert not any(row.as_stated for row in ablation.rows)

    table3 = demo["table3"]
    dpaggzo = [row.key["steps"] for row in table3.rows if row.key["method"] == "dpaggzo" and row.key["epsilon"] == 0.2]
    assert dpaggzo == [1000, 2000]


def test_demo_keeps_two_seeds(demo):
    assert demo["table1"].rows[0].seeds == (0, 1)
    assert demo["appendix/zpl-67b-ladder"].rows[0].seeds == (0, 1)


def test_layout_dict_round_trip(paper):
    _, layouts = paper
    layout = layouts["table3"]
    assert TableLayout.from_dict(layout.to_dict()) == layout


def test_fixed_keys_must_separate_rows(tmp_path):
    cells_file = tmp_path / "cells.yaml"
    cells_file.write_text("""\
groups:
  - name: clash
    tables: [table1]
    id: "{task}_{model}_{track}_pacmi_lr{lr}_s{data_seed}"
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: pacmi, budget_nats: 0.33,
             clip: 25, steps: 100}
    grid: {lr: [1e-4, 1e-3]}
    seeds: [0]
""")
    config = {"cells_file": str(cells_file), "models": {"opt-1.3b": "tiny:opt-small"}}
    with pytest.raises(CellsError) as info:
        load_layouts(config)
    assert "table table1" in str(info.value)
    assert "differ in lr" in str(info.value)
