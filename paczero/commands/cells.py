"""`paczero cells`: print the expanded cells and their resolved recipes."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from paczero.commands.options import add_cells_options
from paczero.cells import cells_by_table, load_cells



def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cells",
        help="print the expanded cells and their resolved recipes",
        description=(
            "Expand config/cells.yaml under a preset and print one row per cell: "
            "the cell id, the tables it feeds, then every resolved recipe field."
        ),
    )
    add_cells_options(parser)
    parser.add_argument(
        "--table",
        metavar="T",
        help="print only the cells of one table, e.g. table1 or appendix/ablation",
    )
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="output format: aligned text columns, CSV, or a JSON list of recipes (default: table)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cells = load_cells(args.config, preset=args.preset, cells_file=args.cells)
    if args.table is not None:
        tables = cells_by_table(cells)
        if args.table not in tables:
            raise ValueError(f"unknown table '{args.table}'; known: {', '.join(tables)}")
        cells = {cell: cells[cell] for cell in tables[args.table]}
    recipes = list(cells.values())

    if args.format == "json":
        sys.stdout.write(json.dumps(recipes, indent=2) + "\n")
        return 0
    columns = list(recipes[0]) if recipes else ["cell", "table"]
    rows = [[_text(recipe[column]) for column in columns] for recipe in recipes]
    if args.format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        sys.stdout.write(_aligned(columns, rows))
    return 0


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _aligned(columns: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(column)] + [len(row[i]) for row in rows]) for i, column in enumerate(columns)]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip()
             for line in [columns, *rows]]
    return "\n".join(lines) + "\n"
