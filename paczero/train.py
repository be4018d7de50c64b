"""Train one cell: the zeroth-order step loop, evaluation, dev-best selection, outputs.

Each step t, for each of the K directions: draw a direction seed, compute every
training example's loss at theta + zo_eps*z and theta - zo_eps*z (exactly two
forward passes over the training set), form the per-example two-point
estimates g_i = (l+ - l-) / (2 zo_eps) in float32, clip them to [-clip, clip],
average them over each candidate subset and hand the subset means to the
privacy engine, which returns the released coefficient. The update is
theta <- theta - lr_t * ((1/K) sum_k Y_k z_k + weight_decay * theta), applied
one direction at a time from the directions' seeds.
"""

from __future__ import annotations

from paczero.errors import TrainingDiverged  # noqa: F401 (re-exported)

import json
import logging
import platform
import resource
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from paczero import __version__, zo
from paczero.io import atomic_write_json, atomic_write_text
from paczero.journal import RunJournal, StopRequest, apply_updates
from paczero.models import LoadedModel, prepare_model
from paczero.privacy.mechanism import PrivacyEngine
from paczero.recipe import resolve_recipe
from paczero.subsets import membership_matrix, subset_means
from paczero.tasks import get_task

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
DIAGNOSTICS_FILE = "diagnostics.jsonl"




def learning_rate(recipe: dict[str, Any], step: int) -> float:
    """lr at 0-based `step`: linear decay from lr to lr_end over `steps` (no warm-up), or constant."""
    if recipe["lr_schedule"] == "constant":
        return recipe["lr"]
    fraction = 1.0 - step / recipe["steps"]
    return recipe["lr_end"] + (recipe["lr"] - recipe["lr_end"]) * fraction


def clip_scalars(values: np.ndarray, clip: float) -> tuple[np.ndarray, float]:
    """g_i * min(1, clip/|g_i|) for scalars; returns the clipped values and the clipped fraction."""
    clipped = np.clip(values, -clip, clip)
    return clipped, float(np.mean(np.abs(values) > clip))


@dataclass
class Seeds:
    """Independent random streams derived from the training seed."""

    membership: np.random.Generator
    mechanism: np.random.Generator
    directions: np.random.Generator
    # Poisson sampling of the DP baselines. SeedSequence.spawn numbers its children, so the
    # first three streams are the same as when only three were spawned.
    sampling: np.random.Generator

    @classmethod
    def from_train_seed(cls, train_seed: int) -> "Seeds":
        children = np.random.SeedSequence(train_seed).spawn(4)
        return cls(*(np.random.default_rng(c) for c in children))

    def streams(self) -> dict[str, np.random.Generator]:
        """Return every stream by name, for saving and restoring their states."""
        return {
            "membership": self.membership,
            "mechanism": self.mechanism,
            "directions": self.directions,
            "sampling": self.sampling,
        }


@dataclass
class BestState:
    step: int | None = None
    dev: dict[str, float] = field(default_factory=dict)
    tensors: list[torch.Tensor] = field(default_factory=list)

    def better(self, result: dict[str, float], select: str, metric: str) -> bool:
        if self.step is None:
            return True
        if select == "min_loss":
            return result["loss"] < self.dev["loss"]
        return result[metric] > self.dev[metric]

    def save(self, step: int, result: dict[str, float], trainable) -> None:
        self.step, self.dev = step, dict(result)
        self.tensors = [p.detach().to("cpu", copy=True) for _, p in trainable]

    def load(self, step: int | None, dev: dict[str, float], tensors: list[torch.Tensor]) -> None:
        self.step, self.dev, self.tensors = step, dict(dev), list(tensors)

    def restore(self, trainable) -> None:
        with torch.no_grad():
            for (_, param), saved in zip(trainable, self.tensors):
                param.copy_(saved.to(param.device))


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    import numpy
    import peft
    import transformers

    return {
        "paczero": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "numpy": numpy.__version__,
    }


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check_finite(losses: torch.Tensor, step: int, cell: str) -> None:
    if not torch.isfinite(losses).all():
        bad = int((~torch.isfinite(losses)).sum())
        raise TrainingDiverged(
            f"cell {cell!r}: {bad} per-example losses are NaN or infinite at step {step}; "
            "lower lr, use dtype float32 or bfloat16, or lower zo_eps' effect by raising it above fp16 resolution"
        )


DEFAULT_CHECKPOINT_EVERY = 100


def run_cell(
    recipe: dict[str, Any],
    out_dir: str | Path,
    device: str | None = None,
    checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY,
) -> dict[str, Any]:
    """Train the cell described by `recipe` and write metrics.json and diagnostics.jsonl to `out_dir`.

    Progress is journalled in `out_dir/journal/` (see `paczero.journal`): a run that
    finds a journal resumes from it. Weights are checkpointed every `checkpoint_every`
    steps (None or 0: only on SIGTERM/SIGUSR1), and on those signals the run writes a
    checkpoint and raises `Preempted`.
    """
    recipe = resolve_recipe(recipe)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cell = recipe["cell"]
    logger.info("run start: cell %s, recipe %s", cell, json.dumps(recipe, sort_keys=True))
    started = time.perf_counter()

    task = get_task(recipe["task"])
    splits = task.load(recipe)
    seeds = Seeds.from_train_seed(recipe["train_seed"])
    loaded = prepare_model(
        recipe["model_source"], recipe["track"], dtype=recipe["dtype"], lora_r=recipe["lora_r"],
        lora_alpha=recipe["lora_alpha"], lora_targets=recipe["lora_targets"],
        init_seed=recipe["train_seed"], device=device,
    )
    torch_device = next(loaded.model.parameters()).device
    if torch_device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch_device)
    prepared = {
        name: task.prepare(loaded.tokenizer, examples, recipe)
        for name, examples in (("train", splits.train), ("dev", splits.dev), ("eval", splits.eval))
    }
    logger.info(
        "data: %d train, %d dev, %d eval examples; %d trainable parameters on %s",
        len(splits.train), len(splits.dev), len(splits.eval), loaded.num_trainable, torch_device,
    )

    journal = None
    with StopRequest() as stop:
        if recipe["method"] == "zeroshot":
            outcome = _no_training(recipe, task, loaded, prepared)
        elif recipe["method"] in ("dpzero", "dpaggzo"):
            from paczero.dp_train import train_dp  # imported here because dp_train imports this module

            outcome = train_dp(recipe, task, loaded, prepared, len(splits.train), seeds, out_dir, checkpoint_every, stop)
        else:
            outcome = _train_zo(recipe, task, loaded, prepared, len(splits.train), seeds, out_dir, checkpoint_every, stop)
        journal = outcome.get("journal")

    test = task.evaluate(loaded.model, loaded.tokenizer, prepared["eval"])
    wall = time.perf_counter() - started
    metrics = {
        "cell": cell,
        "recipe": recipe,
        "metric": task.metric,
        "test": test,
        "dev": outcome["best"].dev,
        "best_step": outcome["best"].step,
        "privacy": outcome["privacy"],
        "steps_run": outcome["steps_run"],
        "resumed_from_step": outcome.get("resumed_from_step", 0),
        "train_time_s": outcome["train_time_s"],
        "steps_per_s": outcome["steps_timed"] / outcome["train_time_s"] if outcome["train_time_s"] > 0 else None,
        "wall_time_s": wall,
        "peak_memory_mb": _peak_memory_mb(torch_device),
        "num_trainable": loaded.num_trainable,
        "versions": _versions(),
        "git_revision": _git_revision(),
        "device": torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda" else platform.processor() or "cpu",
    }
    # Order matters for crash safety: the final diagnostics, then metrics.json (written
    # last, so it marks a finished cell), then the journal is deleted. A crash before the
    # last step leaves the journal, and a rerun resumes from it without training again.
    if journal is not None:
        journal.export(out_dir / DIAGNOSTICS_FILE)
    elif recipe["method"] == "zeroshot":
        atomic_write_text(out_dir / DIAGNOSTICS_FILE, "")
    # The DP loop (train_dp) writes diagnostics.jsonl itself, step by step.
    atomic_write_json(out_dir / METRICS_FILE, metrics)
    if journal is not None:
        journal.remove()
    logger.info("run end: cell %s, test %s %.2f, best dev step %s", cell, task.metric, test[task.metric], outcome["best"].step)
    return metrics


def _no_training(recipe, task, loaded: LoadedModel, prepared) -> dict[str, Any]:
    best = BestState()
    best.save(0, task.evaluate(loaded.model, loaded.tokenizer, prepared["dev"]), [])
    return {
        "best": best,
        "privacy": {"method": "zeroshot", "budget_nats": 0.0, "spent_nats": 0.0, "steps_run": 0},
        "steps_run": 0,
        "steps_timed": 0,
        "train_time_s": 0.0,
    }


def evaluation_due(recipe: dict[str, Any], steps_done: int, stopping: bool) -> bool:
    """Return whether a dev evaluation runs after `steps_done` steps (every eval_every steps and at the end)."""
    return steps_done % recipe["eval_every"] == 0 or steps_done == recipe["steps"] or stopping


def evaluate_dev(recipe, task, loaded: LoadedModel, prepared, best: BestState, steps_done: int) -> None:
    result = task.evaluate(loaded.model, loaded.tokenizer, prepared["dev"])
    improved = best.better(result, task.select, task.metric)
    if improved:
        best.save(steps_done, result, loaded.trainable)
    logger.info(
        "eval step %d: dev loss %.4f, dev %s %.2f%s",
        steps_done, result["loss"], task.metric, result[task.metric], " (best)" if improved else "",
    )


def _train_zo(
    recipe, task, loaded: LoadedModel, prepared, num_train: int, seeds: Seeds, out_dir: Path,
    checkpoint_every: int | None, stop: StopRequest,
) -> dict[str, Any]:
    cell = recipe["cell"]
    trainable = loaded.trainable
    members = membership_matrix(
        num_train, recipe["num_subsets"], seeds.membership, recipe["membership"], recipe["subsets_per_example"],
    )
    engine = PrivacyEngine(
        method=recipe["method"],
        num_subsets=recipe["num_subsets"],
        budget_nats=recipe["budget_nats"],
        total_steps=recipe["steps"],
        directions=recipe["directions"],
        budget_schedule=recipe["budget_schedule"],
        ablation=recipe["ablation"],
        secret_index=recipe["secret_index"],
        rng=seeds.mechanism,
    )
    directions = recipe["directions"]

    def train_losses() -> torch.Tensor:
        return task.example_losses(loaded.model, loaded.tokenizer, prepared["train"])

    def replay_evaluation(step: int) -> None:
        if evaluation_due(recipe, step + 1, False):
            evaluate_dev(recipe, task, loaded, prepared, best, step + 1)

    best = BestState()
    journal = RunJournal(out_dir, recipe, members, checkpoint_every)
    start = journal.resume(seeds.streams(), trainable, best, engine.load_state_dict, replay_evaluation)
    if start and engine.exhausted and not evaluation_due(recipe, start, False):
        # The budget ran out at the last logged step, so the original run stopped and evaluated
        # there. The replay above evaluates only the regular steps.
        evaluate_dev(recipe, task, loaded, prepared, best, start)

    steps_done = start
    train_started = time.perf_counter()
    try:
        progress = tqdm(range(start, recipe["steps"]), desc=cell, disable=None, mininterval=5)
        for step in progress:
            if engine.exhausted:
                break
            engine.begin_step(step)
            lr = learning_rate(recipe, step)
            seeds_used: list[int] = []
            loss_sum, clip_sum = 0.0, 0.0
            for _ in range(directions):
                seed = int(seeds.directions.integers(2**31 - 1))
                plus, minus = zo.two_point_losses(trainable, seed, recipe["zo_eps"], train_losses)
                _check_finite(plus, step, cell)
                _check_finite(minus, step, cell)
                estimates = ((plus - minus) / (2.0 * recipe["zo_eps"])).double().numpy()
                clipped, clip_fraction = clip_scalars(estimates, recipe["clip"])
                engine.release(subset_means(clipped, members), float(clipped.mean()))
                seeds_used.append(seed)
                loss_sum += 0.5 * float(plus.mean() + minus.mean())
                clip_sum += clip_fraction
            record = engine.end_step()
            released = record["released"] if isinstance(record["released"], list) else [record["released"]]
            record.update(
                lr=lr,
                train_loss=loss_sum / directions,
                clip_fraction=clip_sum / directions,
                direction_seeds=seeds_used,
                coefficients=[float(y) / directions for y in released],
            )
            # The release is persisted before the model uses it.
            journal.commit(step, record, seeds.streams(), engine.state_dict(), engine.spent)
            apply_updates(trainable, record, recipe["weight_decay"])
            steps_done = step + 1

            if evaluation_due(recipe, steps_done, engine.exhausted):
                evaluate_dev(recipe, task, loaded, prepared, best, steps_done)
            if engine.exhausted:
                logger.info("budget exhausted after step %d: %.6g of %.6g nats spent", steps_done, engine.spent, recipe["budget_nats"])
            finished = steps_done == recipe["steps"] or engine.exhausted
            journal.checkpoint_if_due(steps_done, finished, stop, trainable, best)
    finally:
        journal.close()
    train_time = time.perf_counter() - train_started
    best.restore(trainable)
    return {
        "best": best,
        "privacy": engine.summary(),
        "steps_run": steps_done,
        "steps_timed": steps_done - start,
        "resumed_from_step": start,
        "train_time_s": train_time,
        "journal": journal,
    }
