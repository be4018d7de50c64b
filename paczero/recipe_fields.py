"""Fields of a resolved recipe: their order, types, defaults, allowed values and help.

A recipe is a flat dict of JSON values describing one training run (a cell).
`RECIPE_FIELDS` is the single definition of its fields. `paczero.cells`
builds recipes from cells.yaml and config.yaml and checks them against it,
through the JSON schema generated for cells.yaml, `check_value_type` and
the cross-field rules of `check_recipe`. `paczero.recipe.resolve_recipe`
applies the same checks to a recipe given to the trainer directly.

Integer fields accept a float with an integral value (`10.0`, `1e3`) and
store it as an int; a fractional float (`10.5`) is rejected.
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
    """One recipe field. `kind` is one of "str", "int", "float", "bool" and "str_list"."""

    name: str
    kind: str
    default: Any = REQUIRED
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    # Source of the value when cells.yaml may not set the field. None means cells.yaml may set it.
    set_by: str | None = None
    # One line for `paczero train --help`: what the field sets, in which unit.
    help: str = ""
    # Minimum number of items of a "str_list" value.
    min_items: int = 1


RECIPE_FIELDS: tuple[Field, ...] = (
    Field("cell", "str", set_by="the group's `id` template",
          help="cell id, used in output paths and logs"),
    Field("table", "str_list", default=[], set_by="the group's `tables`", min_items=0,
          help="tables the cell feeds (not read by training)"),
    Field("task", "str", choices=TASKS, help="task: sst2 or squad"),
    Field("model", "str", help="model registry name, e.g. opt-1.3b"),
    # None means the same as `model`; resolve_recipe fills it in.
    Field("model_source", "str", default=None, nullable=True,
          set_by="`models` in config.yaml (or the preset's `models`)",
          help="where the weights come from: Hub id, local folder, tiny:opt-small, tiny:opt-medium, "
               "gguf:FILE or gguf-package:NAME (default: the model name)"),
    Field("track", "str", choices=TRACKS, help="lora (peft adapters only) or ft (every parameter)"),
    Field("method", "str", choices=METHODS, help="pacmi, paczpl, nonprivate, dpzero, dpaggzo or zeroshot"),
    Field("ablation", "str", default="none", choices=ABLATIONS,
          help="nonprivate only: raw_full (MeZO), quant_full, raw_half, quant_half, random_sign"),
    Field("budget_nats", "float", default=0.0, help="total mutual-information budget B in nats (pacmi)"),
    Field("budget_schedule", "str", default="adaptive", choices=("adaptive", "uniform"),
          help="per-step budget: adaptive (remaining/steps left) or uniform (B/T)"),
    Field("lr", "float", help="peak learning rate"),
    Field("lr_schedule", "str", default="linear", choices=("linear", "constant"),
          help="linear (decay to lr_end over steps, no warm-up) or constant"),
    Field("lr_end", "float", default=1e-7, help="final learning rate of the linear schedule"),
    Field("weight_decay", "float", default=0.0, help="weight decay on weights that are not biases or norms"),
    Field("clip", "float", help="per-example clip C on the zeroth-order scalar (1e9: no clip)"),
    Field("steps", "int", help="number of training steps T"),
    Field("num_subsets", "int", default=128, help="number of candidate subsets M (even)"),
    Field("subsets_per_example", "int", default=None, nullable=True,
          help="subsets each example joins (default M/2; prior k/M)"),
    Field("membership", "str", default="random", choices=("random", "disjoint_pairs"),
          help="random (k random subsets per example) or disjoint_pairs (halves and complements)"),
    Field("secret_index", "int", default=None, nullable=True,
          help="secret subset index (default: drawn from train_seed)"),
    Field("directions", "int", default=1, help="directions K per step"),
    Field("zo_eps", "float", default=1e-3, help="zeroth-order perturbation scale"),
    Field("lora_r", "int", default=8, help="LoRA rank"),
    Field("lora_alpha", "int", default=16, help="LoRA alpha"),
    Field("lora_targets", "str_list", default=["q_proj", "v_proj"], help="LoRA target module names"),
    Field("num_train", "int", default=1000, help="training examples N (full batch)"),
    Field("num_dev", "int", default=500, help="dev examples for dev-best selection"),
    Field("num_eval", "int", default=1000, help="test examples (capped at the validation split's size)"),
    Field("eval_every", "int", default=100, help="dev evaluation interval in steps"),
    Field("data_seed", "int", set_by="the group's `seeds`", help="seed that selects the train/dev/test sample"),
    Field("train_seed", "int", default=42, help="seed of membership, secret index, directions, coins and noise"),
    Field("dtype", "str", default="float16", choices=DTYPES, help="model weights: float16, bfloat16 or float32"),
    Field("micro_batch", "int", default=64, help="examples per forward pass"),
    Field("max_new_tokens", "int", default=50, help="generation length limit in tokens (squad)"),
    Field("epsilon", "float", default=None, nullable=True, help="DP epsilon (dpzero, dpaggzo)"),
    Field("delta", "float", default=1e-5, help="DP delta (dpzero, dpaggzo)"),
    Field("sample_rate", "float", default=0.064, help="Poisson sampling rate per step (dpzero, dpaggzo)"),
    Field("dp_noise", "bool", default=True,
          help="true: DP noise and Poisson sampling; false: non-private reference, full batch, "
               "no noise (dpzero, dpaggzo)"),
    Field("data", "str", default="hub", set_by="`data` in config.yaml (or the preset's `data`)",
          help="data source: hub, demo or a local folder"),
    Field("preset", "str", default="paper", set_by="`preset` in config.yaml",
          help="preset that produced the recipe"),
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
        # JSON Schema's "integer" also matches 10.0, as check_value_type does.
        schema = {"type": "integer"}
    elif field.kind == "float":
        schema = {"type": "number"}
    elif field.kind == "bool":
        schema = {"type": "boolean"}
    elif field.kind == "str_list":
        schema = {"type": "array", "minItems": field.min_items, "items": {"type": "string", "minLength": 1}}
    else:
        raise AssertionError(f"unknown field kind {field.kind!r}")
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def check_value_type(field: Field, value: Any, *, coerce_strings: bool = False) -> Any:
    """Return `value` typed for `field`: ints (also from integral floats), floats, bools, strings, lists.

    Raise ValueError with a message that starts with the problem, because the
    caller adds where it happened. Numeric and boolean strings such as "1e-5"
    and "false" are parsed only when `coerce_strings` is true. Preset
    overrides use that, because Snakemake's `--config` delivers nested values
    as strings.
    """
    if value is None:
        if field.nullable:
            return None
        raise ValueError("is empty; give it a value")
    if coerce_strings and isinstance(value, str):
        value = _parse_string(value, field.kind)
    if field.kind == "str":
        return _check_string(field, value)
    if field.kind == "int":
        return _check_int(value)
    if field.kind == "float":
        return _check_float(value)
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if field.kind == "str_list":
        return _check_string_list(field, value)
    raise AssertionError(f"unknown field kind {field.kind!r}")


def _check_string(field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    if not value:
        raise ValueError("is empty; give it a value")
    if field.choices and value not in field.choices:
        raise ValueError(
            f"unknown {field.name} '{value}'{closest_name(value, field.choices)}; "
            f"known: {', '.join(field.choices)}"
        )
    return value


def _check_int(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        hint = "; remove the quotes" if isinstance(value, str) else ""
        raise ValueError(f"expected an integer, got {value!r}{hint}")
    return value


def _check_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = " (a string); remove the quotes so that YAML reads it as a number" if isinstance(value, str) else ""
        raise ValueError(f"expected a number, got {value!r}{hint}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _check_string_list(field: Field, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of strings, got {value!r}")
    if len(value) < field.min_items:
        raise ValueError("is empty; give it at least one value")
    if not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"expected only non-empty strings, got {value!r}")
    return list(value)


def _parse_string(text: str, kind: str) -> Any:
    """Parse a numeric or boolean string for an int, float or bool field; return other text unchanged."""
    if kind == "bool":
        return {"true": True, "false": False}.get(text.strip().lower(), text)
    if kind not in ("int", "float"):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # the type check reports it


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
        require(
            budget > 0,
            "budget_nats",
            f"must be > 0 for method pacmi, got {budget}; use method paczpl for a zero budget",
        )
    else:
        require(
            budget == 0,
            "budget_nats",
            f"applies to method pacmi only; remove it (method {method}, got {budget})",
        )
    problems += _dp_problems(recipe)
    if recipe["ablation"] != "none":
        require(
            method == "nonprivate",
            "ablation",
            f"applies to method nonprivate only, got '{recipe['ablation']}' with method {method}",
        )
    return problems


def _dp_problems(recipe: dict) -> list[tuple[str, str]]:
    """Return the problems of the DP fields: epsilon, dp_noise and DPZero's single direction."""
    method = recipe["method"]
    epsilon = recipe["epsilon"]
    if method not in DP_METHODS:
        problems = []
        if epsilon is not None:
            problems.append(("epsilon", f"applies to methods {', '.join(DP_METHODS)} only; remove it (method {method})"))
        if not recipe["dp_noise"]:
            problems.append(("dp_noise", f"applies to methods {', '.join(DP_METHODS)} only; remove it (method {method})"))
        return problems
    problems = []
    if method == "dpzero" and recipe["directions"] != 1:
        problems.append(("directions", f"DPZero uses one direction per step, got {recipe['directions']}; "
                                       "set directions to 1 or use method dpaggzo for K > 1"))
    # Without noise (the non-private reference: full batch, no noise) epsilon is unused.
    if recipe["dp_noise"] and (epsilon is None or epsilon <= 0):
        problems.append(("epsilon", f"must be a number > 0 for method {method}, got {epsilon}; "
                                    "set dp_noise to false for the non-private reference"))
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
