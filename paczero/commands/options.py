"""Options shared by the subcommands that expand cells.yaml under a preset."""

from __future__ import annotations

import argparse

DEFAULT_CONFIG = "config/config.yaml"


def add_cells_options(parser: argparse.ArgumentParser) -> None:
    """Add --config, --preset and --cells, which select the expanded cells."""
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"config.yaml with the preset, model registry and data sources (default: {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--preset",
        metavar="P",
        help="preset the cells are resolved under, e.g. paper, smoke or demo (default: the config's `preset`)",
    )
    parser.add_argument("--cells", metavar="FILE", help="cells.yaml to expand (default: the config's `cells_file`)")
