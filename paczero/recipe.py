"""The resolved recipe of one cell: its fields, defaults and validation.

A recipe is a flat dict of JSON values; everything a training run does
follows from it. The fields, their types, defaults and allowed values are
defined once, in `paczero.recipe_fields.RECIPE_FIELDS`; the tables below are
derived from it. `resolve_recipe` fills in defaults and rejects unknown
fields, wrong types and impossible values with an error that names the cell
and the field, applying the same checks as the expansion of cells.yaml.
"""

from __future__ import annotations

from typing import Any

from paczero.recipe_fields import (
    ABLATIONS,
    DTYPES,
    METHODS,
    RECIPE_FIELDS,
    REQUIRED as _REQUIRED_MARK,
    TASKS,
    TRACKS,
    check_recipe,
    check_value_type,
    closest_name,
    default_recipe,
)

__all__ = [
    "ABLATIONS",
    "BOOL_FIELDS",
    "CHOICES",
    "DEFAULTS",
    "DTYPES",
    "FIELD_HELP",
    "FLOAT_FIELDS",
    "INT_FIELDS",
    "KNOWN_FIELDS",
    "METHODS",
    "REQUIRED",
    "RecipeError",
    "TASKS",
    "TRACKS",
    "resolve_recipe",
]

REQUIRED: tuple[str, ...] = tuple(f.name for f in RECIPE_FIELDS if f.default is _REQUIRED_MARK)
DEFAULTS: dict[str, Any] = default_recipe()
FLOAT_FIELDS: tuple[str, ...] = tuple(f.name for f in RECIPE_FIELDS if f.kind == "float")
INT_FIELDS: tuple[str, ...] = tuple(f.name for f in RECIPE_FIELDS if f.kind == "int")
BOOL_FIELDS: tuple[str, ...] = tuple(f.name for f in RECIPE_FIELDS if f.kind == "bool")
CHOICES: dict[str, tuple[str, ...]] = {f.name: f.choices for f in RECIPE_FIELDS if f.choices}
KNOWN_FIELDS: set[str] = {f.name for f in RECIPE_FIELDS}
# One line per field, in field order, for `paczero train --help`: meaning, unit.
FIELD_HELP: dict[str, str] = {f.name: f.help for f in RECIPE_FIELDS}


class RecipeError(ValueError):
    """An invalid recipe field."""


def _message(cell: str, field: str, problem: str) -> str:
    return f"cell {cell!r}, field {field!r}: {problem}"


def resolve_recipe(raw: dict[str, Any]) -> dict[str, Any]:
    """Return a complete, validated copy of `raw` with defaults filled in.

    Raise RecipeError with one line per problem, each of the form
    `cell 'X', field 'Y': problem`.
    """
    cell = str(raw.get("cell", "<unnamed>"))
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        raise RecipeError("\n".join(
            _message(cell, name, f"unknown field{closest_name(name, sorted(KNOWN_FIELDS))}") for name in unknown
        ))
    missing = [name for name in REQUIRED if raw.get(name) in (None, "")]
    if missing:
        raise RecipeError("\n".join(_message(cell, name, "missing required field") for name in missing))

    recipe = {**DEFAULTS, **raw}
    if recipe["model_source"] in (None, ""):
        recipe["model_source"] = recipe["model"]
    problems = []
    for spec in RECIPE_FIELDS:
        try:
            recipe[spec.name] = check_value_type(spec, recipe[spec.name])
        except ValueError as error:
            problems.append(_message(cell, spec.name, str(error)))
    if problems:
        raise RecipeError("\n".join(problems))
    problems = [_message(cell, name, problem) for name, problem in check_recipe(recipe)]
    if problems:
        raise RecipeError("\n".join(problems))
    return {spec.name: recipe[spec.name] for spec in RECIPE_FIELDS}
