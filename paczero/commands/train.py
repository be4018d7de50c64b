"""`paczero train`: run exactly one cell."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from paczero.recipe import BOOL_FIELDS, DEFAULTS, FIELD_HELP, FLOAT_FIELDS, INT_FIELDS, REQUIRED


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one cell and write metrics.json and diagnostics.jsonl",
        description=(
            "Train one cell. Give a cell id from cells.yaml (--cell), a recipe file (--recipe), "
            "or --cell with the recipe fields as options (--task and the other required fields). "
            "Options given explicitly override the cell's or the file's values."
        ),
    )
    parser.add_argument("--cell", help="cell id from the cells file; resolved under --preset and --config")
    parser.add_argument("--cells", default="config/cells.yaml", help="cells file (with --cell; default: %(default)s)")
    parser.add_argument("--config", default="config/config.yaml", help="workflow config file (with --cell; default: %(default)s)")
    parser.add_argument("--preset", default=None, help="preset: paper, smoke or demo (with --cell; default: the config's)")
    parser.add_argument("--recipe", type=Path, help="JSON or YAML file holding a recipe")
    parser.add_argument("--out", type=Path, help="output folder (default: results/runs/<cell>)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda:0 or cpu (default: cuda if available)")
    parser.add_argument(
        "--checkpoint-every", type=int, default=100, metavar="STEPS",
        help="training steps between weight checkpoints; 0 checkpoints only on SIGTERM/SIGUSR1 (default: %(default)s)",
    )
    fields = parser.add_argument_group("recipe fields")
    for name, text in FIELD_HELP.items():
        if name in ("cell", "preset"):
            continue
        option = "--" + name.replace("_", "-")
        default = DEFAULTS.get(name)
        suffix = " (required)" if name in REQUIRED and name != "cell" else f" (default: {default})"
        if name in FLOAT_FIELDS:
            kind = float
        elif name in INT_FIELDS:
            kind = int
        elif name in BOOL_FIELDS:
            kind = _parse_bool
        else:
            kind = str
        if name in ("lora_targets", "table"):
            fields.add_argument(option, dest=name, nargs="+", default=None, help=text + suffix)
        else:
            fields.add_argument(option, dest=name, type=kind, default=None, help=text + suffix)
    parser.set_defaults(func=run)


def _load_recipe_file(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"recipe file {path} not found")
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"recipe file {path} must hold a mapping of recipe fields, got {type(data).__name__}")
    return data


def build_recipe(args: argparse.Namespace) -> dict:
    recipe: dict = {}
    explicit = args.task is not None
    if args.recipe is not None:
        recipe = _load_recipe_file(args.recipe)
    elif args.cell and not explicit:
        from paczero.cells import resolve_cell

        recipe = dict(resolve_cell(args.cell, cells_file=args.cells, config_file=args.config, preset=args.preset))
    for name in FIELD_HELP:
        if name == "preset":
            continue
        value = getattr(args, name, None)
        if value is not None:
            recipe[name] = value
    if args.cell:
        recipe["cell"] = args.cell
    if "cell" not in recipe:
        raise ValueError("no cell id: give --cell ID (with a cells file) or a recipe that has a 'cell' field")
    return recipe


def run(args: argparse.Namespace) -> int:
    from paczero.train import run_cell

    recipe = build_recipe(args)
    out = args.out or Path("results") / "runs" / recipe["cell"]
    metrics = run_cell(recipe, out, device=args.device, checkpoint_every=args.checkpoint_every)
    test = metrics["test"]
    print(f"{metrics['cell']}: test {metrics['metric']} {test[metrics['metric']]:.2f} -> {out / 'metrics.json'}")
    return 0
