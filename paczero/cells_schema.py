"""Reading and checking cells.yaml: YAML 1.2 numbers, the JSON schema, error messages.

cells.yaml is read with YAML 1.2 float rules, so `1e-5` is a float (YAML 1.1,
PyYAML's default, reads it as a string). A quoted number stays a string and
the schema rejects it. Duplicate keys are rejected too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from paczero.recipe_fields import FIELDS_BY_NAME, SETTABLE_FIELDS, closest_name, field_json_schema

GROUP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
TABLE_PATTERN = r"^(table[0-9]+|appendix/[a-z0-9][a-z0-9._-]*)$"


class CellsError(ValueError):
    """Invalid cells.yaml or config.yaml; the message names file, group or cell, and field."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats (`1e-5`) that rejects duplicate keys."""


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file with YAML 1.2 floats, rejecting duplicate keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found; check the path") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise CellsError(f"{path}: invalid YAML: {error}") from None


def cells_schema() -> dict:
    """Return the JSON schema of cells.yaml, generated from the recipe fields."""
    settable = {name: field_json_schema(FIELDS_BY_NAME[name]) for name in SETTABLE_FIELDS}
    grid = {
        name: {"type": "array", "minItems": 1, "uniqueItems": True, "items": schema}
        for name, schema in settable.items()
    }
    group = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "tables", "recipe", "seeds"],
        "properties": {
            "name": {"type": "string", "pattern": GROUP_NAME_PATTERN},
            "description": {"type": "string"},
            "tables": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": TABLE_PATTERN},
            },
            "id": {"type": "string", "minLength": 1},
            "recipe": {"type": "object", "additionalProperties": False, "properties": settable},
            "grid": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "properties": grid,
            },
            "cases": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "minProperties": 1,
                    "properties": settable,
                },
            },
            "seeds": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "integer", "minimum": 0},
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["groups"],
        "properties": {"groups": {"type": "array", "minItems": 1, "items": group}},
    }


_TYPE_NAMES = {
    "boolean": "true or false",
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
}


def _describe_schema_error(error: jsonschema.ValidationError) -> str:
    """Translate one jsonschema error into a problem statement without its location."""
    value = error.instance
    if error.validator == "additionalProperties":
        return _describe_extra_keys(error)
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in value]
        return "missing required key " + ", ".join(f"'{key}'" for key in missing)
    if value is None:
        return "is empty; give it a value"

    if error.validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else [t for t in expected if t != "null"]
        expected_types = " or ".join(_TYPE_NAMES.get(name, name) for name in names)
        hint = "; remove the quotes" if isinstance(value, str) else ""
        return f"expected {expected_types}, got {value!r}{hint}"
    if error.validator == "enum":
        path = [part for part in error.absolute_path if isinstance(part, str)]
        noun = path[-1] if path else "value"
        return (
            f"unknown {noun} '{value}'{closest_name(str(value), error.validator_value)}; "
            f"known: {', '.join(map(str, error.validator_value))}"
        )

    if error.validator in ("minItems", "minProperties", "minLength"):
        return "is empty; give it at least one value"
    if error.validator == "uniqueItems":
        return f"contains a value twice: {value!r}"
    if error.validator == "pattern":
        return f"invalid value {value!r}: must match {error.validator_value}"
    if error.validator == "minimum":
        return f"must be >= {error.validator_value}, got {value!r}"
    return error.message


def _describe_extra_keys(error: jsonschema.ValidationError) -> str:
    """Name each key the schema does not allow, with the closest known key or where it is set."""
    known = sorted(error.schema.get("properties", {}))
    in_recipe = set(known) == set(SETTABLE_FIELDS)
    parts = []
    for key in sorted(set(error.instance) - set(known)):
        spec = FIELDS_BY_NAME.get(key)
        if in_recipe and spec is not None and spec.set_by is not None:
            parts.append(f"'{key}' cannot be set here: it is set by {spec.set_by}")
        else:
            parts.append(f"unknown key '{key}'{closest_name(key, known)}")
    return "; ".join(parts)


def schema_problems(document: Any, source: str) -> list[str]:
    """Return one message per schema violation of a parsed cells.yaml.

    Each message names `source`, the group and the field.
    """
    validator = jsonschema.Draft202012Validator(cells_schema())
    errors = sorted(validator.iter_errors(document), key=_error_order)
    problems = []
    for error in errors:
        path = list(error.absolute_path)
        where = source
        if len(path) >= 2 and path[0] == "groups" and isinstance(path[1], int):
            where += ": " + group_label(document["groups"][path[1]], path[1])
            path = path[2:]
        if path:
            where += f": field '{_format_path(path)}'"
        problems.append(f"{where}: {_describe_schema_error(error)}")
    return problems


def _error_order(error: jsonschema.ValidationError) -> list[str]:
    return [f"{part:09d}" if isinstance(part, int) else part for part in error.absolute_path]


def _format_path(path: list) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text


def group_label(group: Any, index: int) -> str:
    if isinstance(group, Mapping) and isinstance(group.get("name"), str) and group["name"]:
        return f"group '{group['name']}'"
    return f"group #{index + 1}"
