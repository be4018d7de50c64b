"""Entry point of the `paczero` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from paczero import __version__
from paczero.commands import COMMAND_MODULES
from paczero.errors import CheckpointError, Preempted, TrainingDiverged


# Exit status of a run stopped by SIGTERM/SIGUSR1 after writing its checkpoint (EX_TEMPFAIL).
PREEMPTED_EXIT_CODE = 75


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paczero",
        description="PAC-private zeroth-order fine-tuning: run cells, list them, check their privacy.",
    )
    parser.add_argument("--version", action="version", version=f"paczero {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Preempted as error:
        print(f"paczero {args.command}: {error}", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    except (ValueError, FileNotFoundError, CheckpointError, TrainingDiverged) as error:
        # Input errors get one clear line instead of a traceback.
        print(f"paczero {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
