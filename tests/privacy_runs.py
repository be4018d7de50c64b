"""Synthetic run folders for the ledger and CLI tests, written with the real PrivacyEngine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from paczero.privacy.mechanism import PrivacyEngine


def make_recipe(method: str = "pacmi", steps: int = 30, directions: int = 1, num_subsets: int = 8,
                budget_nats: float = 0.2, budget_schedule: str = "adaptive") -> dict:
    return {
        "cell": f"synthetic_{method}",
        "method": method,
        "budget_nats": budget_nats,
        "budget_schedule": budget_schedule,
        "steps": steps,
        "directions": directions,
        "num_subsets": num_subsets,
        "ablation": "none",
        "train_seed": 7,
    }


def write_run(run_dir: Path, recipe: dict, seed: int = 0, unanimous_every: int = 5,
              recipe_file: str = "metrics") -> list[dict]:
    """Run the engine on random subset means and write diagnostics.jsonl plus metrics.json or recipe.json.

    Every `unanimous_every`-th step gets subset means of one sign, so free
    releases appear in pacmi runs and common-sign releases in paczpl runs.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed + 1000)
    engine = PrivacyEngine(
        recipe["method"], recipe["num_subsets"], recipe["budget_nats"], recipe["steps"], recipe["directions"],
        recipe["budget_schedule"], recipe.get("ablation", "none"), None, np.random.default_rng(seed),
    )
    records = []
    for step in range(recipe["steps"]):
        if engine.exhausted:
            break
        engine.begin_step(step)
        for _ in range(recipe["directions"]):
            means = data.normal(0.05, 1.0, recipe["num_subsets"])
            if unanimous_every and step % unanimous_every == 0:
                means = np.abs(means) + 0.01
            engine.release(means, float(np.mean(means)))
        record = engine.end_step()
        record.update({"lr": 1e-3, "train_loss": 0.5, "clip_fraction": 0.0})
        records.append(record)
    write_diagnostics(run_dir, records)
    if recipe_file == "metrics":
        metrics = {"cell": recipe["cell"], "recipe": recipe, "privacy": engine.summary()}
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False))
    else:
        (run_dir / "recipe.json").write_text(json.dumps(recipe, indent=2, allow_nan=False))
    return records


def write_diagnostics(run_dir: Path, records: list[dict]) -> None:
    lines = [json.dumps(record, allow_nan=False) for record in records]
    (run_dir / "diagnostics.jsonl").write_text("\n".join(lines) + "\n")


def read_diagnostics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "diagnostics.jsonl").read_text().splitlines() if line.strip()]
