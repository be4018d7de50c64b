"""`paczero status`: the state of every cell's run and the estimated compute left."""

from __future__ import annotations

import argparse
import sys

from paczero.commands.options import add_cells_options
from paczero.cells import cells_by_table, load_cells, load_config
from paczero.status import collect_status, format_csv, format_json, format_table

DEFAULT_LOGS = "logs/train"
FORMATTERS = {"table": format_table, "csv": format_csv, "json": format_json}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="list each cell as done, stale, failed, incomplete or missing, with the estimated hours left",
        description=(
            "Read results/runs/<cell>/ and the job logs of every cell and print its state: done (a valid "
            "metrics.json of the current recipe and a diagnostics.jsonl), stale (metrics.json of another "
            "recipe), failed (an invalid metrics.json, or no metrics.json and a job log whose last attempt "
            "ends in a traceback), incomplete (a journal or partial diagnostics without metrics.json, or "
            "metrics.json without diagnostics.jsonl) or missing. For unfinished cells it estimates the "
            "device hours left from the measured steps_per_s of finished cells of the same model, track "
            "and task, or else from a default per-model guess; the output says which."
        ),
    )
    add_cells_options(parser)
    parser.add_argument(
        "--results",
        metavar="DIR",
        help="root folder of the outputs, holding runs/<cell>/ (default: the config's `results`)",
    )
    parser.add_argument(
        "--logs",
        default=DEFAULT_LOGS,
        metavar="DIR",
        help=f"folder of the train jobs' logs, <cell>.log (default: {DEFAULT_LOGS})",
    )
    parser.add_argument(
        "--table",
        metavar="T",
        help="list only the cells of one table, e.g. table1 or appendix/ablation",
    )
    parser.add_argument(
        "--format",
        choices=tuple(FORMATTERS),
        default="table",
        help="output format: aligned text columns with a summary, CSV (one row per cell), "
        "or JSON with the totals (default: table)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    cells = load_cells(config, preset=args.preset, cells_file=args.cells)
    selected = None
    if args.table is not None:
        tables = cells_by_table(cells)
        if args.table not in tables:
            raise ValueError(f"unknown table '{args.table}'; known: {', '.join(tables)}")
        selected = tables[args.table]
    results = args.results if args.results is not None else config["results"]
    # Every cell can serve as a reference for the estimates, also outside the table.
    report = collect_status(cells, results, args.logs, select=selected)
    sys.stdout.write(FORMATTERS[args.format](report))
    return 0
