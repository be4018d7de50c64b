"""Cell groups (cells.yaml) expanded into cell ids and resolved recipes.

cells.yaml lists groups of training runs that share a recipe. A group sets
recipe fields under `recipe`, varies fields under `grid` (every combination)
and `cases` (explicit combinations), and lists its data seeds under `seeds`.
Each combination and seed is one cell, named by the group's `id` template, e.g.
`{task}_{model}_{track}_pacmi_mi{budget_nats}_s{data_seed}`. The settings of
config.yaml (`paczero.settings`) then apply the preset and the sources.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from paczero.cells_schema import CellsError, cells_schema, group_label, load_yaml, schema_problems
from paczero.recipe_fields import (
    FIELD_NAMES,
    FIELDS_BY_NAME,
    SETTABLE_FIELDS,
    check_recipe,
    check_value_type,
    closest_name,
    default_recipe,
    training_recipe,
)
from paczero.settings import CONFIG_DEFAULTS, Settings, load_config, resolve_settings

log = logging.getLogger(__name__)

__all__ = [
    "CONFIG_DEFAULTS",
    "CellsError",
    "Settings",
    "cells_by_table",
    "cells_schema",
    "expand_cells",
    "format_cell_id",
    "format_number",
    "load_cells",
    "load_config",
    "load_yaml",
    "resolve_cell",
    "resolve_settings",
    "training_recipe",
]

CELL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Default id template per method, used when a group gives no `id`.
DEFAULT_ID_TEMPLATES = {
    "pacmi": "{task}_{model}_{track}_pacmi_mi{budget_nats}_s{data_seed}",
    "paczpl": "{task}_{model}_{track}_paczpl_s{data_seed}",
    "nonprivate": "{task}_{model}_{track}_nonprivate_{ablation}_s{data_seed}",
    "dpzero": "{task}_{model}_{track}_dpzero_eps{epsilon}_s{data_seed}",
    "dpaggzo": "{task}_{model}_{track}_dpaggzo_eps{epsilon}_s{data_seed}",
    "zeroshot": "{task}_{model}_{track}_zeroshot_s{data_seed}",
}


def format_number(value: int | float) -> str:
    """Format a number for a cell id: 0.33, 25, 5e-4, 1e9 (no '+', no trailing zeros)."""
    if isinstance(value, bool):
        return str(value).lower()
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    if 1e-2 <= abs(value) < 1e6:
        return repr(float(value))
    mantissa, exponent = f"{float(value):e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def format_cell_id(template: str, recipe: Mapping[str, Any]) -> str:
    """Fill an id template such as `{task}_{model}_mi{budget_nats}_s{data_seed}` from a recipe."""
    values = {}
    for name in _template_fields(template):
        value = recipe[name]
        if value is None:
            values[name] = "none"
        elif isinstance(value, (int, float)):
            values[name] = format_number(value)  # bools become "true" and "false"
        else:
            values[name] = str(value)
    return template.format_map(values)


def _template_fields(template: str) -> list[str]:
    """Return the field names of an id template; raise ValueError on anything but plain `{name}`."""
    names = []
    for _, name, format_spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if format_spec or conversion or not name:
            raise ValueError(f"placeholder {{{name}}} must be a plain field name such as {{lr}}")
        if name not in FIELDS_BY_NAME or name == "table":
            raise ValueError(f"unknown field {{{name}}}{closest_name(name, FIELD_NAMES)}")
        if FIELDS_BY_NAME[name].kind == "str_list":
            raise ValueError(f"field {{{name}}} is a list and cannot be part of an id")
        names.append(name)
    return names


@dataclass
class _Cell:
    recipe: dict
    tables: list[str]
    groups: list[str]
    seed_rank: int  # smallest position of the seed in a producing group's `seeds`


def load_cells(
    config: Mapping | str | Path,
    preset: str | None = None,
    cells_file: str | Path | None = None,
) -> dict[str, dict]:
    """Expand the cells of a config (a mapping, or the path of config.yaml).

    Return an ordered dict cell id -> resolved recipe (flat JSON values, with
    `table`). `cells_file` replaces the config's `cells_file`.
    """
    source = "config.yaml"
    if not isinstance(config, Mapping):
        source = str(config)
        config = load_config(config)
    settings = resolve_settings(config, preset, source=source)
    path = Path(cells_file) if cells_file is not None else Path(settings.cells_file)
    return expand_cells(load_yaml(path), settings, source=str(path))


def resolve_cell(
    cell_id: str,
    cells_file: str | Path | None = None,
    config_file: str | Path = "config/config.yaml",
    preset: str | None = None,
) -> dict:
    """Return the training recipe of one cell (the recipe without `table`).

    This is the recipe the workflow's train rule passes to the trainer, so a
    cell trained by hand records the same recipe in its metrics.json.
    """
    settings = resolve_settings(load_config(config_file), preset, source=str(config_file))
    path = Path(cells_file) if cells_file is not None else Path(settings.cells_file)
    cells = expand_cells(load_yaml(path), settings, source=str(path))
    if cell_id not in cells:
        limit = f", which keeps {settings.max_seeds} seeds per group" if settings.max_seeds else ""
        raise CellsError(
            f"{path}: cell '{cell_id}' not found{closest_name(cell_id, list(cells))} under preset "
            f"'{settings.preset}'{limit}; list the cells with: paczero cells --preset {settings.preset}"
        )
    return training_recipe(cells[cell_id])


def expand_cells(document: Any, settings: Settings, *, source: str = "cells.yaml") -> dict[str, dict]:
    """Validate a parsed cells.yaml and expand it into cell id -> resolved recipe.

    A cell that two groups produce is listed once with the tables of both,
    provided both recipes are equal. Raise CellsError naming `source`, the group
    or cell and the field for every invalid input.
    """
    problems = schema_problems(document, source)
    if problems:
        raise CellsError(_join(problems))
    groups = document["groups"]
    problems = _group_problems(groups, source)
    if problems:
        raise CellsError(_join(problems))

    cells: dict[str, _Cell] = {}
    for index, group in enumerate(groups):
        for rank, cell_id, recipe in _expand_group(group, index, settings, source):
            _add_cell(cells, cell_id, recipe, group, rank, source)
    _check_distinct_recipes(cells, source)

    resolved: dict[str, dict] = {}
    for cell_id, cell in cells.items():
        if settings.max_seeds is not None and cell.seed_rank >= settings.max_seeds:
            continue
        resolved[cell_id] = _apply_settings(cell_id, cell, settings, source)
    log.debug("expanded %d cells from %s under preset %s", len(resolved), source, settings.preset)
    return resolved


def _join(problems: list[str]) -> str:
    shown = problems[:20]
    more = f"\n... and {len(problems) - 20} more problems" if len(problems) > 20 else ""
    return "\n".join(shown) + more


def _group_problems(groups: list[dict], source: str) -> list[str]:
    """Check what the schema cannot: unique names, strict types, id templates."""
    problems = []
    first_index: dict[str, int] = {}
    for index, group in enumerate(groups):
        where = f"{source}: {group_label(group, index)}"
        name = group["name"]
        if name in first_index:
            problems.append(
                f"{where}: field 'name': duplicate group name, also used by group #{first_index[name] + 1}"
            )
        first_index.setdefault(name, index)
        problems += [f"{where}: {problem}" for problem in _value_problems(group)]
        problems += [f"{where}: {problem}" for problem in _template_problems(group)]
    return problems


def _value_problems(group: dict) -> list[str]:
    """Return integer seeds, typed values and fields set in two places of one group."""
    problems = []
    for position, seed in enumerate(group["seeds"]):
        try:
            check_value_type(FIELDS_BY_NAME["data_seed"], seed)
        except ValueError as error:
            problems.append(f"field 'seeds[{position}]': {error}")
    for path, name, value in _settable_values(group):
        try:
            check_value_type(FIELDS_BY_NAME[name], value)
        except ValueError as error:
            problems.append(f"field '{path}': {error}")

    grid_fields = set(group.get("grid", {}))
    case_fields = {name for case in group.get("cases", []) for name in case}
    for name in sorted((grid_fields | case_fields) & set(group["recipe"])):
        problems.append(f"field '{name}': set in both 'recipe' and 'grid'/'cases'; set it in one place")
    for name in sorted(grid_fields & case_fields):
        problems.append(f"field '{name}': set in both 'grid' and 'cases'; set it in one place")
    return problems


def _template_problems(group: dict) -> list[str]:
    """Return the problems of a group's `id` template: fields, {data_seed}, varying fields."""
    template = group.get("id")
    if template is None:
        return []
    try:
        names = _template_fields(template)
    except ValueError as error:
        return [f"field 'id': {error}"]
    problems = []
    if "data_seed" not in names:
        problems.append("field 'id': must contain {data_seed} so that seeds get distinct ids")
    varied = set(group.get("grid", {})) | {name for case in group.get("cases", []) for name in case}
    for name in sorted(varied - set(names)):
        problems.append(f"field 'id': '{name}' varies within the group but is not in the id; add {{{name}}}")
    return problems


def _settable_values(group: dict):
    """Yield (path, field name, value) for every recipe value of a group, one list item at a time."""
    for name, value in group["recipe"].items():
        yield f"recipe.{name}", name, value
    for name, values in group.get("grid", {}).items():
        for position, value in enumerate(values):
            yield f"grid.{name}[{position}]", name, value
    for position, case in enumerate(group.get("cases", [])):
        for name, value in case.items():
            yield f"cases[{position}].{name}", name, value


def _expand_group(group: dict, index: int, settings: Settings, source: str):
    """Yield (seed rank, cell id, base recipe) for every cell of one group."""
    where = f"{source}: {group_label(group, index)}"
    grid = group.get("grid", {})
    grid_names = list(grid)
    cases = group.get("cases") or [{}]
    for case in cases:
        for combination in product(*(grid[name] for name in grid_names)):
            varied = {**case, **dict(zip(grid_names, combination))}
            for rank, seed in enumerate(group["seeds"]):
                recipe = _build_recipe(group["recipe"], varied, seed, where)
                template = group.get("id") or DEFAULT_ID_TEMPLATES[recipe["method"]]
                cell_id = format_cell_id(template, recipe)
                cell_where = f"{where}, cell '{cell_id}'"
                if not CELL_ID_PATTERN.match(cell_id):
                    raise CellsError(
                        f"{cell_where}: field 'id': the id may contain only letters, digits, '.', '_' and '-'"
                    )
                problems = check_recipe(recipe)
                if recipe["model"] not in settings.models:
                    known = list(settings.models)
                    problems.append((
                        "model",
                        f"unknown model '{recipe['model']}'{closest_name(recipe['model'], known)}; "
                        f"known: {', '.join(known) or 'none'} (add it under 'models' in config.yaml)",
                    ))
                if problems:
                    raise CellsError(_join([f"{cell_where}: field '{f}': {p}" for f, p in problems]))
                yield rank, cell_id, recipe


def _build_recipe(base: dict, varied: dict, seed: int, where: str) -> dict:
    recipe = default_recipe()
    recipe.update(base)
    recipe.update(varied)
    recipe["data_seed"] = check_value_type(FIELDS_BY_NAME["data_seed"], seed)
    missing = [
        spec.name for spec in FIELDS_BY_NAME.values()
        if spec.set_by is None and spec.name not in recipe
    ]
    if missing:
        raise CellsError(_join([
            f"{where}: field '{name}': missing required field; set it under 'recipe', 'grid' or 'cases'"
            for name in missing
        ]))
    for name in SETTABLE_FIELDS:
        recipe[name] = check_value_type(FIELDS_BY_NAME[name], recipe[name])
    return recipe


def _add_cell(
    cells: dict[str, _Cell], cell_id: str, recipe: dict, group: dict, rank: int, source: str
) -> None:
    """Add a cell, or merge it into an equal cell of another group with the same id."""
    existing = cells.get(cell_id)
    if existing is None:
        cells[cell_id] = _Cell(recipe, list(group["tables"]), [group["name"]], rank)
        return
    where = f"{source}: group '{group['name']}', cell '{cell_id}'"
    if group["name"] in existing.groups:
        raise CellsError(
            f"{where}: field 'id': the group produces this id twice; "
            "list each combination once or add the varying field to the id template"
        )
    differing = [name for name in recipe if recipe[name] != existing.recipe.get(name)]
    if differing:
        details = ", ".join(f"{n}: {existing.recipe.get(n)!r} vs {recipe[n]!r}" for n in differing)
        raise CellsError(
            f"{where}: field '{differing[0]}': duplicate id with a different recipe than group "
            f"'{existing.groups[0]}' ({details}); give one of them another id template"
        )
    existing.groups.append(group["name"])
    existing.tables.extend(t for t in group["tables"] if t not in existing.tables)
    existing.seed_rank = min(existing.seed_rank, rank)


def _check_distinct_recipes(cells: dict[str, _Cell], source: str) -> None:
    """Reject two ids for one recipe: the same training run would run twice."""
    by_recipe: dict[str, str] = {}
    for cell_id, cell in cells.items():
        key = repr(sorted(cell.recipe.items()))
        other = by_recipe.setdefault(key, cell_id)
        if other != cell_id:
            raise CellsError(
                f"{source}: group '{cell.groups[0]}', cell '{cell_id}': field 'id': same recipe as "
                f"cell '{other}' of group '{cells[other].groups[0]}'; use one id template for both "
                "so the run is trained once"
            )


def _apply_settings(cell_id: str, cell: _Cell, settings: Settings, source: str) -> dict:
    """Return the resolved recipe of one cell: preset overrides, sources, id and tables."""
    values = {**cell.recipe, **settings.overrides, **settings.task_overrides.get(cell.recipe["task"], {})}
    values.update(
        cell=cell_id,
        table=list(cell.tables),
        model_source=settings.models[cell.recipe["model"]],
        data=settings.data[cell.recipe["task"]],
        preset=settings.preset,
    )
    problems = check_recipe(values)
    if problems:
        where = f"{source}: cell '{cell_id}' under preset '{settings.preset}'"
        raise CellsError(_join([f"{where}: field '{name}': {problem}" for name, problem in problems]))
    return {name: values[name] for name in FIELD_NAMES}


def cells_by_table(cells: Mapping[str, Mapping]) -> dict[str, list[str]]:
    """Return table name -> cell ids in expansion order, tables in order of first use."""
    tables: dict[str, list[str]] = {}
    for cell_id, recipe in cells.items():
        for table in recipe["table"]:
            tables.setdefault(table, []).append(cell_id)
    return tables
