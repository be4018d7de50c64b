"""The resolved recipe of one cell: its fields, defaults and validation.

A recipe is a flat dict of JSON values; everything a training run does
follows from it. `resolve_recipe` fills in defaults and rejects unknown
fields, wrong types and impossible values with an error that names the cell
and the field.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

METHODS = ("pacmi", "paczpl", "nonprivate", "dpzero", "dpaggzo", "zeroshot")
ABLATIONS = ("none", "raw_full", "quant_full", "raw_half", "quant_half", "random_sign")
TRACKS = ("lora", "ft")
TASKS = ("sst2", "squad")
DTYPES = ("float16", "bfloat16", "float32")

REQUIRED = ("cell", "task", "model", "track", "method", "lr", "clip", "steps", "data_seed")

DEFAULTS: dict[str, Any] = {
    "table": [],
    "model_source": None,  # None: the same as `model`
    "ablation": "none",
    "budget_nats": 0.0,
    "budget_schedule": "adaptive",
    "lr_schedule": "linear",
    "lr_end": 1e-7,
    "weight_decay": 0.0,
    "num_subsets": 128,
    "subsets_per_example": None,
    "membership": "random",
    "secret_index": None,
    "directions": 1,
    "zo_eps": 1e-3,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_targets": ["q_proj", "v_proj"],
    "num_train": 1000,
    "num_dev": 500,
    "num_eval": 1000,
    "eval_every": 100,
    "train_seed": 42,
    "dtype": "float16",
    "micro_batch": 64,
    "max_new_tokens": 50,
    "epsilon": None,
    "delta": 1e-5,
    "sample_rate": 0.064,
    "dp_noise": True,
    "data": "hub",
    "preset": "paper",
}

FLOAT_FIELDS = ("budget_nats", "lr", "lr_end", "weight_decay", "clip", "zo_eps", "epsilon", "delta", "sample_rate")
INT_FIELDS = (
    "steps", "num_subsets", "subsets_per_example", "secret_index", "directions", "lora_r", "lora_alpha",
    "num_train", "num_dev", "num_eval", "eval_every", "data_seed", "train_seed", "micro_batch", "max_new_tokens",
)
BOOL_FIELDS = ("dp_noise",)
CHOICES = {
    "task": TASKS,
    "track": TRACKS,
    "method": METHODS,
    "ablation": ABLATIONS,
    "budget_schedule": ("adaptive", "uniform"),
    "lr_schedule": ("linear", "constant"),
    "membership": ("random", "disjoint_pairs"),
    "dtype": DTYPES,
}
KNOWN_FIELDS = set(REQUIRED) | set(DEFAULTS)


class RecipeError(ValueError):
    """An invalid recipe field."""


def _fail(cell: str, field: str, message: str) -> RecipeError:
    return RecipeError(f"cell {cell!r}, field {field!r}: {message}")


def resolve_recipe(raw: dict[str, Any]) -> dict[str, Any]:
    """Return a complete, validated copy of `raw` with defaults filled in."""
    cell = str(raw.get("cell", "<unnamed>"))
    unknown = sorted(set(raw) - KNOWN_FIELDS)
    if unknown:
        field = unknown[0]
        close = difflib.get_close_matches(field, sorted(KNOWN_FIELDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _fail(cell, field, f"unknown field{hint}")
    missing = [f for f in REQUIRED if raw.get(f) in (None, "")]
    if missing:
        raise _fail(cell, missing[0], "missing required field")
    recipe = {**DEFAULTS, **raw}
    if recipe["model_source"] in (None, ""):
        recipe["model_source"] = recipe["model"]
    for field in FLOAT_FIELDS:
        value = recipe[field]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(cell, field, f"expected a number, got {value!r} ({type(value).__name__}); "
                        "write floats like 1.0e-5 so YAML reads them as numbers")
        if not math.isfinite(value):
            raise _fail(cell, field, f"expected a finite number, got {value!r}")
        recipe[field] = float(value)
    for field in INT_FIELDS:
        value = recipe[field]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise _fail(cell, field, f"expected an integer, got {value!r}")
        recipe[field] = value
    for field in BOOL_FIELDS:
        if not isinstance(recipe[field], bool):
            raise _fail(cell, field, f"expected true or false, got {recipe[field]!r}")
    for field, choices in CHOICES.items():
        if recipe[field] not in choices:
            raise _fail(cell, field, f"invalid value {recipe[field]!r}; use one of {', '.join(choices)}")
    _check_ranges(cell, recipe)
    return recipe


def _check_ranges(cell: str, recipe: dict[str, Any]) -> None:
    positive = ("lr", "clip", "zo_eps", "steps", "directions", "num_train", "eval_every", "micro_batch")
    for field in positive:
        if recipe[field] <= 0:
            raise _fail(cell, field, f"must be > 0, got {recipe[field]!r}")
    for field in ("num_dev", "num_eval", "lr_end", "weight_decay", "budget_nats"):
        if recipe[field] < 0:
            raise _fail(cell, field, f"must be >= 0, got {recipe[field]!r}")
    m = recipe["num_subsets"]
    if m < 2 or m % 2:
        raise _fail(cell, "num_subsets", f"must be even and >= 2, got {m}")
    if recipe["method"] == "pacmi" and recipe["budget_nats"] <= 0:
        raise _fail(cell, "budget_nats", f"PAC-MI needs a budget > 0 nats, got {recipe['budget_nats']!r}; "
                    "use method paczpl for a zero budget")
    if recipe["secret_index"] is not None and not 0 <= recipe["secret_index"] < m:
        raise _fail(cell, "secret_index", f"must be in [0, {m - 1}], got {recipe['secret_index']}")
    _check_dp(cell, recipe)
    if recipe["ablation"] != "none" and recipe["method"] != "nonprivate":
        raise _fail(cell, "ablation", f"ablation {recipe['ablation']!r} applies only to method nonprivate")
    if not isinstance(recipe["lora_targets"], list) or not all(isinstance(t, str) for t in recipe["lora_targets"]):
        raise _fail(cell, "lora_targets", f"expected a list of module names, got {recipe['lora_targets']!r}")


def _check_dp(cell: str, recipe: dict[str, Any]) -> None:
    method = recipe["method"]
    if method not in ("dpzero", "dpaggzo"):
        if not recipe["dp_noise"]:
            raise _fail(cell, "dp_noise", f"applies only to methods dpzero and dpaggzo, not {method!r}; remove it")
        return
    if method == "dpzero" and recipe["directions"] != 1:
        raise _fail(cell, "directions", f"DPZero uses one direction per step, got {recipe['directions']}; "
                    "set directions to 1 or use method dpaggzo for K > 1")
    if not recipe["dp_noise"]:
        return  # the non-private reference: full batch, no noise, so epsilon, delta and sample_rate are unused
    if recipe["epsilon"] is None or recipe["epsilon"] <= 0:
        raise _fail(cell, "epsilon", f"DP methods need epsilon > 0, got {recipe['epsilon']!r}; "
                    "set dp_noise to false for the non-private reference")
    if not 0 < recipe["delta"] < 1:
        raise _fail(cell, "delta", f"must be in (0, 1), got {recipe['delta']!r}")
    if not 0 < recipe["sample_rate"] <= 1:
        raise _fail(cell, "sample_rate", f"must be in (0, 1], got {recipe['sample_rate']!r}")


# One line per field for `paczero train --help` and `paczero cells`: meaning, unit.
FIELD_HELP = {
    "cell": "cell id, used in output paths and logs",
    "table": "paper tables the cell feeds (informational)",
    "task": "task: sst2 or squad",
    "model": "model registry name, e.g. opt-1.3b",
    "model_source": "where the weights come from: Hub id, local folder, tiny:opt-small, tiny:opt-medium, gguf:FILE or gguf-package:NAME (default: the model name)",
    "track": "lora (peft adapters only) or ft (every parameter)",
    "method": "pacmi, paczpl, nonprivate, dpzero, dpaggzo or zeroshot",
    "ablation": "nonprivate only: raw_full (MeZO), quant_full, raw_half, quant_half, random_sign",
    "budget_nats": "total mutual-information budget B in nats (pacmi)",
    "budget_schedule": "per-step budget: adaptive (remaining/steps left) or uniform (B/T)",
    "lr": "peak learning rate",
    "lr_schedule": "linear (decay to lr_end over steps, no warm-up) or constant",
    "lr_end": "final learning rate of the linear schedule",
    "weight_decay": "weight decay on weights that are not biases or norms",
    "clip": "per-example clip C on the zeroth-order scalar (1e9: no clip)",
    "steps": "number of training steps T",
    "num_subsets": "number of candidate subsets M (even)",
    "subsets_per_example": "subsets each example joins (default M/2; prior k/M)",
    "membership": "random (k random subsets per example) or disjoint_pairs (halves and complements)",
    "secret_index": "secret subset index (default: drawn from train_seed)",
    "directions": "directions K per step",
    "zo_eps": "zeroth-order perturbation scale",
    "lora_r": "LoRA rank",
    "lora_alpha": "LoRA alpha",
    "lora_targets": "LoRA target module names",
    "num_train": "training examples N (full batch)",
    "num_dev": "dev examples for dev-best selection",
    "num_eval": "test examples (capped at the validation split's size)",
    "eval_every": "dev evaluation interval in steps",
    "data_seed": "seed that selects the train/dev/test sample",
    "train_seed": "seed of membership, secret index, directions, coins and noise",
    "dtype": "model weights: float16, bfloat16 or float32",
    "micro_batch": "examples per forward pass",
    "max_new_tokens": "generation length limit in tokens (squad)",
    "epsilon": "DP epsilon (dpzero, dpaggzo)",
    "delta": "DP delta (dpzero, dpaggzo)",
    "sample_rate": "Poisson sampling rate per step (dpzero, dpaggzo)",
    "dp_noise": "true: DP noise and Poisson sampling; false: non-private reference, full batch, no noise (dpzero, dpaggzo)",
    "data": "data source: hub, demo or a local folder",
    "preset": "preset that produced the recipe",
}
