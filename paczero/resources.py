"""Compute resources of one training job, derived from its resolved recipe.

The `train` rule requests these from Snakemake (and through a profile from
SLURM): `gpu` (count), `gpu_model` (a SLURM GPU type, only when config.yaml
lists `gpu_models`), `cpus_per_gpu`, `mem_mb` (host memory), `disk_mb`
(checkpoints) and `runtime` (minutes), plus `threads`.

Training runs on one device, so a cell requests one GPU (none for the tiny
models built in code). The GPU memory it needs decides which GPU type it
requests: OPT-1.3B in float16 fits a 16 GB GPU, OPT-6.7B needs a 40 GB one.

NOTE: the runtimes and memory sizes are estimates (runtimes for one
A100-class GPU), not measurements. Adjust them with
`--set-resources train:runtime=MINUTES` or in a profile when a cluster's
limits or speed differ.
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
BYTES_PER_PARAMETER = {"float16": 2, "bfloat16": 2, "float32": 4}
# Estimated GPU memory beyond the weights, in GB per billion parameters at 64 examples per
# forward pass: activations, the key/value cache of SQuAD generation and float32 logits.
ACTIVATION_GB_PER_BILLION = 3.5
REFERENCE_MICRO_BATCH = 64
# Host memory besides the weights: Python, tokenizer, data and CUDA context.
HOST_OVERHEAD_MB = 8000
MIN_HOST_MB = 16000
THREADS_PER_GPU_JOB = 4
CPU_JOB_THREADS = 64


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


def gpu_memory_gb(recipe: Mapping) -> int:
    """Return the estimated GPU memory (GB, rounded up) that one cell needs; 0 for tiny models.

    Weights in the recipe's dtype plus activations that grow with `micro_batch`.
    Zeroth-order training keeps no gradients or optimizer state.
    """
    if is_tiny(recipe):
        return 0
    billions = model_billions(recipe)
    activations = ACTIVATION_GB_PER_BILLION * recipe["micro_batch"] / REFERENCE_MICRO_BATCH
    return math.ceil(billions * (BYTES_PER_PARAMETER[recipe["dtype"]] + activations))


def select_gpu_model(recipe: Mapping, gpu_models: Mapping[int, str]) -> str | None:
    """Return the GPU type with the least memory that covers the cell's need, or None without `gpu_models`.

    `gpu_models` maps GPU memory in GB to a SLURM GPU type name. Raise
    ValueError naming the cell when no listed type has enough memory.
    """
    if not gpu_models or is_tiny(recipe):
        return None
    need = gpu_memory_gb(recipe)
    fitting = sorted(memory for memory in gpu_models if memory >= need)
    if not fitting:
        largest = max(gpu_models)
        raise ValueError(
            f"cell '{recipe['cell']}' needs an estimated {need} GB of GPU memory, but the largest type in "
            f"gpu_models ({gpu_models[largest]}) has {largest} GB; list a larger GPU type under gpu_models "
            "in config.yaml or lower the cell's micro_batch"
        )
    return gpu_models[fitting[0]]


def job_resources(
    recipe: Mapping, gpu_models: Mapping[int, str] | None = None, cpu_only: bool = False
) -> dict[str, int | str | None]:
    """Return the job resources of one cell.

    Keys: `gpu`, `gpu_model` (None unless `gpu_models` is given), `gpu_mem_gb`
    (the estimate behind `gpu_model`), `cpus_per_gpu` (None for CPU jobs),
    `threads`, `mem_mb`, `disk_mb` and `runtime` (minutes). Runtime counts two
    forward passes per example, direction and step (the full batch, or the
    expected Poisson batch of the DP baselines), one dev pass per evaluation
    and one test pass.
    """
    if is_tiny(recipe):
        return {"gpu": 0, "gpu_model": None, "gpu_mem_gb": 0, "cpus_per_gpu": None, "threads": 1,
                "mem_mb": 4000, "disk_mb": 1000, "runtime": 60}
    if cpu_only:
        # A real model on the CPU: one job at a time uses every core (Snakemake scales
        # the thread count down to --cores). NOTE: the runtime is a guess for small models.
        return {"gpu": 0, "gpu_model": None, "gpu_mem_gb": 0, "cpus_per_gpu": None, "threads": CPU_JOB_THREADS,
                "mem_mb": MIN_HOST_MB, "disk_mb": 2000, "runtime": 24 * 60}

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

    # Host memory: the weights while loading; full fine-tuning also keeps the dev-best
    # weights on the host and serialises a checkpoint of every weight.
    weights_mb = 1000 * billions * BYTES_PER_PARAMETER[recipe["dtype"]]
    copies = 3 if recipe["track"] == "ft" else 1
    mem_mb = max(MIN_HOST_MB, math.ceil(copies * weights_mb) + HOST_OVERHEAD_MB)
    # Full fine-tuning checkpoints every weight (float16), twice over while a new one is written.
    disk_mb = math.ceil(2 * 2 * 1000 * billions) + 1000 if recipe["track"] == "ft" else 1000
    return {
        "gpu": 1,
        "gpu_model": select_gpu_model(recipe, gpu_models or {}),
        "gpu_mem_gb": gpu_memory_gb(recipe),
        "cpus_per_gpu": THREADS_PER_GPU_JOB,
        "threads": THREADS_PER_GPU_JOB,
        "mem_mb": mem_mb,
        "disk_mb": disk_mb,
        "runtime": runtime,
    }
