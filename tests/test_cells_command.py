"""The `paczero cells` command."""

from __future__ import annotations

import argparse
import csv
import io
import json

import pytest

from workflow_helpers import REPO
from paczero.cells import CellsError
from paczero.commands import COMMAND_MODULES
from paczero.commands import cells as cells_command
from paczero.recipe_fields import FIELD_NAMES

CONFIG = str(REPO / "config" / "config.yaml")
CELLS = str(REPO / "config" / "cells.yaml")


def run_cells(capsys, *options):
    parser = argparse.ArgumentParser(prog="paczero")
    cells_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["cells", "--config", CONFIG, "--cells", CELLS, *options])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_command_registered():
    assert "paczero.commands.cells" in COMMAND_MODULES


def test_csv_lists_every_cell(capsys):
    rows = list(csv.reader(io.StringIO(run_cells(capsys, "--format", "csv"))))
    assert rows[0] == list(FIELD_NAMES)
    assert rows[0][:2] == ["cell", "table"]
    assert len(rows) - 1 == 137
    first = dict(zip(rows[0], rows[1]))
    assert first["cell"] == "sst2_opt-1.3b_lora_pacmi_mi0.33_s0"
    assert first["table"] == "table1,table2"
    assert first["lora_targets"] == "q_proj,v_proj"


def test_table_filter_and_preset(capsys):
    rows = list(csv.DictReader(io.StringIO(run_cells(capsys, "--format", "csv", "--table", "table1", "--preset", "demo"))))
    assert len(rows) == 37
    assert {row["preset"] for row in rows} == {"demo"}
    assert all("table1" in row["table"].split(",") for row in rows)


def test_json_output(capsys):
    recipes = json.loads(run_cells(capsys, "--format", "json", "--table", "appendix/rank-ablation"))
    by_rank = {r["lora_r"]: r for r in recipes}
    assert sorted(by_rank) == [4, 8, 16]
    assert by_rank[8]["table"] == ["appendix/clip-ablation-67b", "appendix/rank-ablation"]
    assert by_rank[4]["table"] == ["appendix/rank-ablation"]


def test_aligned_table_output(capsys):
    lines = run_cells(capsys, "--table", "appendix/squad-nonpriv").splitlines()
    assert lines[0].split()[:3] == ["cell", "table", "task"]
    assert len(lines) == 3
    assert lines[1].split()[0] == "squad_opt-1.3b_lora_nonprivate_raw_full_s0"
    assert lines[0].index("table") == lines[1].index("appendix/squad-nonpriv")


def test_unknown_table(capsys):
    with pytest.raises(ValueError, match="unknown table 'table9'"):
        run_cells(capsys, "--table", "table9")


def test_invalid_preset_is_a_value_error(capsys):
    with pytest.raises(CellsError, match="unknown preset"):
        run_cells(capsys, "--preset", "nope")


def test_help_documents_options(capsys):
    parser = argparse.ArgumentParser(prog="paczero")
    cells_command.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["cells", "--help"])
    text = capsys.readouterr().out
    for option in ("--preset", "--cells", "--config", "--table", "--format"):
        assert option in text
    assert "{table,csv,json}" in text
