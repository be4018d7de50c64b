"""Compute resources of one training job, derived from its resolved recipe.

The `train` rule requests these from Snakemake (and through a profile from
SLURM): `gpu` (count), `mem_mb` (host memory), `disk_mb` (checkpoints) and
`runtime` (minutes), plus `threads`.

NOTE: the runtimes are order-of-magnitude estimates for one A100-class GPU,
not measurements. Adjust them with `--set-resources train:runtime=MINUTES`
or in a profile when a cluster's limits or speed differ.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

# Estimated seconds for one example's forward pass per billion parameters:
# SST-2 is one short prompt; SQuAD is a greedy generation of up to 50 tokens.
FORWARD_SECONDS_PER_BILLION = {"sst2": 6e-4, "squad": 8e-2}
STARTUP_MINUTES = 15
SAFETY_FACTOR = 1.5
TINY_PREFIX = "tiny:"
# Size assumed for a model whose name does not state one, such as a local folder.
FALLBACK_BILLIONS = 7.0


def model_billions(recipe: Mapping) -> float:
    """Return the parameter count in billions, read from names such as `opt-1.3b` or `opt-350m`."""
    for name in (recipe["model"], recipe["model_source"]):
        match = re.search(r"(\d+(?:\.\d+)?)\s*([bm])\b", name.lower())
        if match:
            size = float(match.group(1))
            return size if match.group(2) == "b" else size / 1000
    return FALLBACK_BILLIONS


def is_tiny(recipe: Mapping) -> bool:
    """Return whether the cell runs a tiny model built in code (CPU only)."""
    return recipe["model_source"].startswith(TINY_PREFIX)


def job_resources(recipe: Mapping) -> dict[str, int]:
    """Return `gpu`, `threads`, `mem_mb`, `disk_mb` and `runtime` (minutes) for one cell.

    Runtime counts two forward passes per example, direction and step (the
    full batch, or the expected Poisson batch of the DP baselines), one dev
    pass per evaluation and one test pass.
    """
    if is_tiny(recipe):
        return {"gpu": 0, "threads": 1, "mem_mb": 4000, "disk_mb": 1000, "runtime": 60}

    billions = model_billions(recipe)
    if recipe["method"] in ("dpzero", "dpaggzo"):
        batch = max(1, round(recipe["sample_rate"] * recipe["num_train"]))
    else:
        batch = recipe["num_train"]
    train_forwards = recipe["steps"] * recipe["directions"] * 2 * batch
    evaluations = recipe["steps"] // recipe["eval_every"] + 1
    eval_forwards = evaluations * recipe["num_dev"] + recipe["num_eval"]
    seconds = (train_forwards + eval_forwards) * FORWARD_SECONDS_PER_BILLION[recipe["task"]] * billions
    runtime = STARTUP_MINUTES + math.ceil(SAFETY_FACTOR * seconds / 60)

    # Host memory for the float16 weights while loading, with room for the tokenizer and data.
    mem_mb = max(16000, math.ceil(6000 * billions))
    # Full fine-tuning checkpoints every weight (float16), twice over while a new one is written.
    disk_mb = math.ceil(2 * 2 * 1000 * billions) + 1000 if recipe["track"] == "ft" else 1000
    return {"gpu": 1, "threads": 4, "mem_mb": mem_mb, "disk_mb": disk_mb, "runtime": runtime}
