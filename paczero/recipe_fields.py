"""Fields of a resolved recipe: their order, types, defaults and allowed values.

A recipe is a flat dict of JSON values describing one training run (a cell).
`paczero.cells` builds recipes from cells.yaml and config.yaml and checks them
against this table, both the JSON schema it generates for cells.yaml and the
cross-field rules in `check_recipe`.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

TASKS = ("sst2", "squad")
TRACKS = ("lora", "ft")
METHODS = ("pacmi", "paczpl", "nonprivate", "dpzero", "dpaggzo", "zeroshot")
DP_METHODS = ("dpzero", "dpaggzo")
ABLATIONS = ("none", "raw_full", "quant_full", "raw_half", "quant_half", "random_sign")
DTYPES = ("float16", "bfloat16", "float32")

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One recipe field. `kind` is one of "str", "int", "float" and "str_list"."""

    name: str
    kind: str
    default: Any = REQUIRED
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    # Source of the value when cells.yaml may not set the field. None means cells.yaml may set it.
    set_by: str | None = None


RECIPE_FIELDS: tuple[Field, ...] = (
    Field("cell", "str", set_by="the group's `id` template"),
    Field("table", "str_list", default=[], set_by="the group's `tables`"),
    Field("task", "str", choices=TASKS),
    Field("model", "str"),
    Field("model_source", "str", set_by="`models` in config.yaml (or the preset's `models`)"),
    Field("track", "str", choices=TRACKS),
    Field("method", "str", choices=METHODS),
    Field("ablation", "str", default="none", choices=ABLATIONS),
    Field("budget_nats", "float", default=0.0),
    Field("budget_schedule", "str", default="adaptive", choices=("adaptive", "uniform")),
    Field("lr", "float"),
    Field("lr_schedule", "str", default="linear", choices=("linear", "constant")),
    Field("lr_end", "float", default=1e-7),
    Field("weight_decay", "float", default=0.0),
    Field("clip", "float"),
    Field("steps", "int"),
    Field("num_subsets", "int", default=128),
    Field("subsets_per_example", "int", default=None, nullable=True),
    Field("membership", "str", default="random", choices=("random", "disjoint_pairs")),
    Field("secret_index", "int", default=None, nullable=True),
    Field("directions", "int", default=1),
    Field("zo_eps", "float", default=1e-3),
    Field("lora_r", "int", default=8),
    Field("lora_alpha", "int", default=16),
    Field("lora_targets", "str_list", default=["q_proj", "v_proj"]),
    Field("num_train", "int", default=1000),
    Field("num_dev", "int", default=500),
    Field("num_eval", "int", default=1000),
    Field("eval_every", "int", default=100),
    Field("data_seed", "int", set_by="the group's `seeds`"),
    Field("train_seed", "int", default=42),
    Field("dtype", "str", default="float16", choices=DTYPES),
    Field("micro_batch", "int", default=64),
    Field("max_new_tokens", "int", default=50),
    Field("epsilon", "float", default=None, nullable=True),
    Field("delta", "float", default=1e-5),
    Field("sample_rate", "float", default=0.064),
    Field("data", "str", set_by="`data` in config.yaml (or the preset's `data`)"),
    Field("preset", "str", set_by="`preset` in config.yaml"),
)

FIELDS_BY_NAME: dict[str, Field] = {field.name: field for field in RECIPE_FIELDS}
FIELD_NAMES: tuple[str, ...] = tuple(FIELDS_BY_NAME)
SETTABLE_FIELDS: tuple[str, ...] = tuple(f.name for f in RECIPE_FIELDS if f.set_by is None)
# Fields that define what a cell is; a preset may not change them.
IDENTITY_FIELDS = ("task", "model", "track", "method")
# Fields that a training run does not read: the tables a cell feeds.
NON_TRAINING_FIELDS = ("table",)


def closest_name(name: str, known: list[str] | tuple[str, ...]) -> str:
    """Return " (did you mean 'x'?)" for the known name closest to `name`, or ""."""
    matches = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def field_json_schema(field: Field) -> dict:
    """Return the JSON schema of one value of `field`."""
    if field.kind == "str":
        schema: dict = {"type": "string", "minLength": 1}
        if field.choices:
            schema["enum"] = list(field.choices)
    elif field.kind == "int":
        schema = {"type": "integer"}
    elif field.kind == "float":
        schema = {"type": "number"}
    elif field.kind == "str_list":
        schema = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
    else:
        raise AssertionError(f"unknown field kind {field.kind!r}")
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def check_value_type(field: Field, value: Any, *, coerce_strings: bool = False) -> Any:
    """Return `value` typed for `field` (ints stay ints, floats become float).

    Raise ValueError with a message that starts with the problem, because the
    caller adds where it happened. Numeric strings such as "1e-5" are parsed
    only when `coerce_strings` is true. Preset overrides use that, because
    Snakemake's `--config` delivers nested values as strings.
    """
    if value is None:
        if field.nullable:
            return None
        raise ValueError("is empty; give it a value")
    if coerce_strings and isinstance(value, str) and field.kind in ("int", "float"):
        value = _parse_number(value, field.kind)
    if field.kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {value!r}")
        if not value:
            raise ValueError("is empty; give it a value")
        if field.choices and value not in field.choices:
            raise ValueError(
                f"unknown {field.name} '{value}'{closest_name(value, field.choices)}; "
                f"known: {', '.join(field.choices)}"
            )
        return value
    if field.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        return value
    if field.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = "; remove the quotes" if isinstance(value, str) else ""
            raise ValueError(f"must be a number, got {value!r}{hint}")
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        return float(value)
    if field.kind == "str_list":
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"must be a non-empty list of strings, got {value!r}")
        if not all(isinstance(item, str) and item for item in value):
            raise ValueError(f"must contain only non-empty strings, got {value!r}")
        return list(value)
    raise AssertionError(f"unknown field kind {field.kind!r}")


def _parse_number(text: str, kind: str) -> int | float | str:
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        return text  # the type check below reports it


def check_recipe(recipe: dict) -> list[tuple[str, str]]:
    """Check the cross-field rules of a complete recipe.

    Return a list of (field, problem) pairs, empty when the recipe is valid.
    """
    problems: list[tuple[str, str]] = []

    def require(condition: bool, field: str, problem: str) -> None:
        if not condition:
            problems.append((field, problem))

    method = recipe["method"]
    num_subsets = recipe["num_subsets"]
    require(
        num_subsets >= 2 and num_subsets % 2 == 0,
        "num_subsets",
        f"must be even and >= 2 (each example joins half of the subsets), got {num_subsets}",
    )
    per_example = recipe["subsets_per_example"]
    if per_example is not None:
        require(
            1 <= per_example < num_subsets,
            "subsets_per_example",
            f"must be between 1 and num_subsets - 1 = {num_subsets - 1}, got {per_example}",
        )
    secret = recipe["secret_index"]
    if secret is not None:
        require(
            0 <= secret < num_subsets,
            "secret_index",
            f"must be between 0 and num_subsets - 1 = {num_subsets - 1}, got {secret}",
        )

    for name in ("lr", "clip", "zo_eps"):
        require(recipe[name] > 0, name, f"must be > 0, got {recipe[name]}")
    for name in ("lr_end", "weight_decay"):
        require(recipe[name] >= 0, name, f"must be >= 0, got {recipe[name]}")
    if recipe["lr_schedule"] == "linear":
        require(
            recipe["lr_end"] <= recipe["lr"],
            "lr_end",
            f"must not exceed lr = {recipe['lr']} for a linear decay, got {recipe['lr_end']}",
        )
    for name in ("steps", "directions", "lora_r", "lora_alpha", "num_train", "num_dev",
                 "num_eval", "eval_every", "micro_batch", "max_new_tokens"):
        require(recipe[name] >= 1, name, f"must be >= 1, got {recipe[name]}")
    for name in ("data_seed", "train_seed"):
        require(recipe[name] >= 0, name, f"must be >= 0 (a NumPy seed), got {recipe[name]}")
    require(0 < recipe["delta"] < 1, "delta", f"must be in (0, 1), got {recipe['delta']}")
    require(
        0 < recipe["sample_rate"] <= 1,
        "sample_rate",
        f"must be in (0, 1], got {recipe['sample_rate']}",
    )

    budget = recipe["budget_nats"]
    if method == "pacmi":
        require(budget > 0, "budget_nats", f"must be > 0 for method pacmi, got {budget}")
    else:
        require(
            budget == 0,
            "budget_nats",
            f"applies to method pacmi only; remove it (method {method}, got {budget})",
        )
    epsilon = recipe["epsilon"]
    if method in DP_METHODS:
        require(
            epsilon is not None and epsilon > 0,
            "epsilon",
            f"must be a number > 0 for method {method}, got {epsilon}",
        )
    else:
        require(
            epsilon is None,
            "epsilon",
            f"applies to methods {', '.join(DP_METHODS)} only; remove it (method {method})",
        )
    if method == "dpzero":
        require(
            recipe["directions"] == 1,
            "directions",
            f"must be 1 for method dpzero (use dpaggzo for K > 1), got {recipe['directions']}",
        )
    if recipe["ablation"] != "none":
        require(
            method == "nonprivate",
            "ablation",
            f"applies to method nonprivate only, got '{recipe['ablation']}' with method {method}",
        )
    return problems


def default_recipe() -> dict:
    """Return the defaults of every field that has one, in field order."""
    return {
        field.name: (list(field.default) if isinstance(field.default, list) else field.default)
        for field in RECIPE_FIELDS
        if field.default is not REQUIRED
    }


def training_recipe(recipe: dict) -> dict:
    """Return the recipe without the fields that training does not read (`table`).

    This is what the `train` rule passes to the trainer and what metrics.json
    records, so that tagging a cell with another table never retrains it.
    """
    return {name: value for name, value in recipe.items() if name not in NON_TRAINING_FIELDS}
