"""`paczero figure`: draw one figure from the runs on disk, optionally from the finished cells only."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from paczero.commands.options import add_cells_options
from paczero.cells import load_cells, load_config

RUN_FIGURE = "run"

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    from paczero.figure_data import FIGURE_NAMES

    parser = subparsers.add_parser(
        "figure",
        help="draw a summary figure or one cell's training curves as PDF and PNG",
        description=(
            "Draw one figure from results/runs/ without Snakemake: a summary figure "
            f"({', '.join(FIGURE_NAMES)}) or, with NAME 'run' and --cell, one cell's training curves. "
            "Without --partial every cell the figure needs must have a metrics.json of its current "
            "recipe; with --partial the missing cells are skipped and counted in a note on the figure."
        ),
    )
    parser.add_argument("name", choices=(*FIGURE_NAMES, RUN_FIGURE), help="the figure to draw")
    parser.add_argument("--cell", metavar="ID", help="the cell whose training curves to draw (NAME 'run')")
    add_cells_options(parser)
    parser.add_argument(
        "--results",
        metavar="DIR",
        help="root folder of the outputs, holding runs/<cell>/ (default: the config's `results`)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder for NAME.pdf and NAME.png, or CELL.pdf and CELL.png (default: RESULTS/figures)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="draw the finished cells only, instead of failing on missing or stale ones",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that other subcommands do not load matplotlib.
    from paczero.figure_data import cell_groups
    from paczero.figures import make_figure, make_run_figure

    # fontTools logs every glyph subset of a PDF at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)

    config = load_config(args.config)
    cells = load_cells(config, preset=args.preset, cells_file=args.cells)
    results = Path(args.results if args.results is not None else config["results"])
    out = Path(args.out) if args.out is not None else results / "figures"

    if args.name == RUN_FIGURE:
        if args.cell is None:
            raise ValueError("figure 'run' needs --cell ID; list the cells with: paczero cells")
        if args.cell not in cells:
            raise ValueError(f"unknown cell '{args.cell}'; list the cells with: paczero cells")
        paths = make_run_figure(args.cell, cells[args.cell], results, [out / f"{args.cell}.pdf", out / f"{args.cell}.png"])
    else:
        if args.cell is not None:
            raise ValueError(f"--cell applies to figure 'run' only, not '{args.name}'")
        groups = cell_groups(config, preset=args.preset, cells_file=args.cells)
        paths = make_figure(
            args.name, cells, results, [out / f"{args.name}.pdf", out / f"{args.name}.png"],
            groups=groups, partial=args.partial,
        )
    log.info("wrote %s", ", ".join(str(path) for path in paths))
    return 0
