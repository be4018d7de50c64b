"""Hand-written runs for the figure and status tests: a small config, cells and run folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

from paczero.cells import load_cells, training_recipe

CONFIG = """\
preset: paper
cells_file: {cells}
results: {results}
models:
  opt-1.3b: facebook/opt-1.3b
  opt-6.7b: facebook/opt-6.7b
presets:
  paper: {{}}
"""

# Every figure's inputs, shrunk: two plateau series, the DP cliff's baselines and PACZero
# points (the 0.33-nats seed-0 cell is shared with the FT plateau), a step ladder with two rungs and one single-T ladder, and a non-private group.
CELLS = """\
groups:
  - name: t1-ft-pacmi
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: pacmi,
             lr: 1e-4, clip: 1000, steps: 20, num_subsets: 8, num_train: 100}
    grid: {budget_nats: [0.33]}
    seeds: [0, 1]
  - name: t1-ft-paczpl
    tables: [table1]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: paczpl,
             lr: 1e-4, clip: 1000, steps: 20, num_subsets: 8, num_train: 100}
    seeds: [0]
  - name: plateau-lora
    tables: [table2]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: pacmi,
             lr: 5e-4, clip: 25, steps: 20, num_subsets: 8, num_train: 100}
    grid: {budget_nats: [1e-3, 0.33]}
    seeds: [0]
  - name: plateau-ft
    tables: [appendix/ft-plateau-adaptive]
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: pacmi,
             lr: 1e-4, clip: 1000, steps: 20, num_subsets: 8, num_train: 100}
    grid: {budget_nats: [1e-3, 0.33]}
    seeds: [0]
  - name: dp-zero
    tables: [table3]
    id: "{task}_{model}_{track}_dpzero_eps{epsilon}_s{data_seed}"
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: dpzero, directions: 1,
             lr: 5e-6, lr_schedule: constant, clip: 25, steps: 20, num_train: 100}
    grid: {epsilon: [0.5, 2.0]}
    seeds: [0]
  - name: dp-aggzo
    tables: [table3]
    id: "{task}_{model}_{track}_dpaggzo_eps{epsilon}_s{data_seed}"
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: dpaggzo, directions: 4,
             lr: 5e-6, lr_schedule: constant, clip: 25, steps: 20, num_train: 100}
    grid: {epsilon: [1.0]}
    seeds: [0]
  - name: ladder-ft
    tables: [appendix/zpl-ft-ladder]
    id: "{task}_{model}_{track}_paczpl_t{steps}_s{data_seed}"
    recipe: {task: sst2, model: opt-1.3b, track: ft, method: paczpl,
             lr: 1e-4, clip: 1e9, num_subsets: 8, num_train: 100}
    grid: {steps: [10, 30]}
    seeds: [0]
  - name: ladder-67b
    tables: [appendix/zpl-67b-ladder]
    id: "{task}_{model}_{track}_paczpl_t{steps}_s{data_seed}"
    recipe: {task: sst2, model: opt-6.7b, track: lora, method: paczpl,
             lr: 1e-3, clip: 25, steps: 15, num_subsets: 8, num_train: 100}
    seeds: [0, 1]
  - name: ablation
    tables: [appendix/ablation]
    recipe: {task: sst2, model: opt-1.3b, track: lora, method: nonprivate, ablation: raw_full,
             lr: 5e-4, clip: 25, steps: 20, num_subsets: 8, num_train: 100}
    seeds: [0]
"""


def write_config(root: Path, cells_text: str = CELLS) -> Path:
    """Write config.yaml and cells.yaml under `root`; return the config's path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cells.yaml").write_text(cells_text)
    config = root / "config.yaml"
    config.write_text(CONFIG.format(cells=root / "cells.yaml", results=root / "results"))
    return config


def load_test_cells(root: Path, cells_text: str = CELLS) -> tuple[Path, dict[str, dict]]:
    """Write the config under `root` and return (config path, resolved cells)."""
    config = write_config(root, cells_text)
    return config, load_cells(config)


def privacy_block(recipe: dict, steps_run: int, free_steps: int) -> dict:
    """Return a metrics.json privacy block for a PAC, non-private or DP recipe."""
    if recipe["method"] in ("dpzero", "dpaggzo"):
        return {"method": recipe["method"], "epsilon": recipe["epsilon"], "delta": recipe["delta"],
                "steps_run": steps_run, "directions": recipe["directions"]}
    return {
        "method": recipe["method"], "budget_nats": recipe["budget_nats"], "spent_nats": recipe["budget_nats"],
        "free_steps": free_steps, "noisy_steps": steps_run * recipe["directions"] - free_steps,
        "steps_run": steps_run, "directions": recipe["directions"], "num_subsets": recipe["num_subsets"],
    }


def pac_diagnostics(recipe: dict, steps: int, free_every: int = 4) -> list[dict]:
    """Return PAC diagnostics records: every `free_every`-th release is free, MI grows linearly."""
    records = []
    directions = recipe["directions"]
    per_step = recipe["budget_nats"] / steps
    free = 0
    for step in range(steps):
        kinds, cumulative, entropies, frees = [], [], [], []
        for k in range(directions):
            index = step * directions + k
            kind = "free" if index % free_every == 0 else "noisy"
            free += kind == "free"
            kinds.append(kind)
            cumulative.append(per_step * step + per_step * (k + 1) / directions)
            entropies.append(math.log(recipe["num_subsets"]) - 0.01 * index)
            frees.append(free)
        value = (lambda items: items[0]) if directions == 1 else (lambda items: items)
        records.append({
            "step": step, "lr": recipe["lr"] * (1 - step / steps), "train_loss": 0.7 - 0.001 * step,
            "clip_fraction": 0.1, "release": value(kinds), "cumulative_mi": value(cumulative),
            "posterior_entropy": value(entropies), "free_steps": value(frees),
            "coefficients": [1.0] * directions, "direction_seeds": list(range(directions)),
        })
    return records


def dp_diagnostics(recipe: dict, steps: int) -> list[dict]:
    """Return DP diagnostics records; step 3 has an empty Poisson sample (train_loss null)."""
    return [
        {"step": step, "lr": recipe["lr"], "batch_size": 0 if step == 3 else 6, "clip_fraction": 0.5,
         "train_loss": None if step == 3 else 0.69, "noise_std": 0.2,
         "coefficients": [0.0] * recipe["directions"], "direction_seeds": list(range(recipe["directions"]))}
        for step in range(steps)
    ]


def write_run(
    results: Path,
    recipe: dict,
    accuracy: float,
    *,
    steps_run: int | None = None,
    free_steps: int = 0,
    diagnostics: list[dict] | None = None,
    **extra,
) -> Path:
    """Write runs/<cell>/metrics.json (and diagnostics.jsonl unless it is None) for a resolved recipe."""
    steps_run = recipe["steps"] if steps_run is None else steps_run
    folder = results / "runs" / recipe["cell"]
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {
        "cell": recipe["cell"],
        "recipe": training_recipe(recipe),
        "metric": "accuracy",
        "test": {"accuracy": accuracy, "loss": 0.6},
        "dev": {"accuracy": accuracy + 1.0, "loss": 0.6},
        "best_step": min(10, steps_run),
        "privacy": privacy_block(recipe, steps_run, free_steps),
        "steps_run": steps_run,
        "steps_per_s": 2.0,
        "train_time_s": steps_run / 2.0,
        "wall_time_s": steps_run / 2.0 + 30.0,
    }
    metrics.update(extra)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if diagnostics is not None:
        (folder / "diagnostics.jsonl").write_text("".join(json.dumps(record) + "\n" for record in diagnostics))
    return folder
