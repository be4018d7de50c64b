"""The step loop of the differentially private zeroth-order baselines DPZero and DP-AggZO.

Each step t (0-based) Poisson-samples every training example independently
with rate q. For each of the K directions it draws a direction seed and runs
exactly two forward passes over the sampled examples, at theta + zo_eps*z_k and
theta - zo_eps*z_k, giving the float32 two-point estimates g_{i,k}.
`paczero.privacy.dp.aggregate` turns the (n, K) estimates into K released
coefficients ghat_k: it clips g_i / K to L2 norm C, sums over the sample,
divides by the run's noisy batch size n~ and adds Gaussian noise. The update
theta <- theta - lr_t * (sum_k ghat_k z_k + weight_decay * theta) is applied
one direction at a time from the seeds, with the weight decay applied once per
step. DPZero is the case K = 1.

With `dp_noise: false` the run is the non-private reference: every step uses
the whole training set (q = 1, n~ = N) and adds no noise, so ghat is the
average of the clipped K-vectors.

Random streams (`paczero.train.Seeds`): `sampling` draws the Poisson samples,
`mechanism` draws the Laplace and Gaussian noise, `directions` the direction
seeds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from paczero import zo
from paczero.models import LoadedModel
from paczero.privacy import dp
from paczero.journal import RunJournal, StopRequest, apply_updates
from paczero.train import BestState, Seeds, _check_finite, evaluate_dev, evaluation_due, learning_rate

logger = logging.getLogger(__name__)

DP_METHODS = ("dpzero", "dpaggzo")


@dataclass(frozen=True)
class Calibration:
    """Per-run privacy quantities of a DP baseline, which add no noise when `dp_noise` is False."""

    dp_noise: bool
    sample_rate: float  # Poisson rate q actually used (1.0 without noise)
    noise_multiplier: float  # sigma (0.0 without noise)
    noisy_batch_size: float  # n~, the divisor of the clipped sum
    realised_epsilon: float | None  # epsilon of the T Gaussian releases per Opacus's RDP accountant

    def summary(self, recipe: dict[str, Any], steps_run: int) -> dict[str, Any]:
        epsilon = recipe["epsilon"] if self.dp_noise else None
        return {
            "method": recipe["method"],
            "dp_noise": self.dp_noise,
            "epsilon": epsilon,
            "delta": recipe["delta"] if self.dp_noise else None,
            "epsilon_gaussian": dp.GAUSSIAN_SHARE * epsilon if self.dp_noise else None,
            "epsilon_batch_size": dp.BATCH_SIZE_SHARE * epsilon if self.dp_noise else None,
            "sample_rate": self.sample_rate,
            "steps": recipe["steps"],
            "steps_run": steps_run,
            "directions": recipe["directions"],
            "clip": recipe["clip"],
            "noise_multiplier": self.noise_multiplier,
            "noisy_batch_size": self.noisy_batch_size,
            "realised_epsilon": self.realised_epsilon,
        }


def calibrate(recipe: dict[str, Any], num_train: int, rng: np.random.Generator) -> Calibration:
    """Compute sigma and the realised epsilon from the accountant, and draw n~ once from `rng`."""
    if not recipe["dp_noise"]:
        return Calibration(False, 1.0, 0.0, float(num_train), None)
    epsilon, delta, rate, steps = recipe["epsilon"], recipe["delta"], recipe["sample_rate"], recipe["steps"]
    sigma = dp.noise_multiplier(epsilon, delta, rate, steps)
    realised = dp.realised_epsilon(sigma, delta, rate, steps)
    noisy_batch = dp.noisy_batch_size(num_train, epsilon, rate, rng)
    logger.info(
        "DP calibration: epsilon %g (%.4g Gaussian + %.4g batch size), delta %g, q %g, T %d -> noise multiplier %.6g, "
        "realised Gaussian epsilon %.6g, noisy batch size %.4g (expected %.4g)",
        epsilon, dp.GAUSSIAN_SHARE * epsilon, dp.BATCH_SIZE_SHARE * epsilon, delta, rate, steps, sigma,
        realised, noisy_batch, num_train * rate,
    )
    return Calibration(True, rate, sigma, noisy_batch, realised)


class SampledLosses:
    """Per-example training losses of the current Poisson sample.

    A task with `subset` prepares the sampled rows from the already tokenized
    training split, so each call runs forward passes on the sample only.
    Otherwise every training example's loss is computed and indexed.
    """

    def __init__(self, task, loaded: LoadedModel, prepared_train, micro_batch: int):
        self.task, self.loaded, self.full, self.micro_batch = task, loaded, prepared_train, micro_batch
        self.has_subset = callable(getattr(task, "subset", None))
        if not self.has_subset:
            logger.warning(
                "task %s has no subset(); DP steps compute every training example's loss and keep the sampled ones",
                getattr(task, "name", task),
            )
        self.indices: np.ndarray | None = None
        self.batch = prepared_train

    def select(self, indices: np.ndarray | None) -> None:
        """Use the examples at `indices` from now on; None means the whole training split."""
        self.indices = indices
        if indices is None:
            self.batch = self.full
        elif self.has_subset:
            self.batch = self.task.subset(self.full, indices, self.micro_batch)

    def __call__(self) -> torch.Tensor:
        if self.indices is not None and not self.has_subset:
            losses = self.task.example_losses(self.loaded.model, self.loaded.tokenizer, self.full)
            return losses[torch.as_tensor(self.indices)]
        return self.task.example_losses(self.loaded.model, self.loaded.tokenizer, self.batch)


def train_dp(
    recipe, task, loaded: LoadedModel, prepared, num_train: int, seeds: Seeds, out_dir: Path,
    checkpoint_every: int | None = None, stop: StopRequest | None = None,
) -> dict[str, Any]:
    """Train with DPZero or DP-AggZO and return best, privacy, steps_run and train_time_s, as `_train_zo` does.

    Writes one diagnostics.jsonl line per step with step, lr, batch_size (the
    sampled count), clip_fraction, train_loss (null for an empty sample),
    noise_std, coefficients and direction_seeds. Dev-best selection, the
    journal (crash-safe resume) and the restored weights follow
    `paczero.train._train_zo`.
    """
    if recipe["method"] not in DP_METHODS:
        raise ValueError(f"train_dp runs methods {', '.join(DP_METHODS)}, got {recipe['method']!r}")
    stop = stop or StopRequest()
    cell = recipe["cell"]
    trainable = loaded.trainable
    directions = recipe["directions"]
    zo_eps, clip = recipe["zo_eps"], recipe["clip"]
    calibration = calibrate(recipe, num_train, seeds.mechanism)
    # Standard deviation of the Gaussian noise on each released coefficient.
    noise_std = calibration.noise_multiplier * clip / calibration.noisy_batch_size
    losses = SampledLosses(task, loaded, prepared["train"], recipe["micro_batch"])

    def replay_evaluation(step: int) -> None:
        if evaluation_due(recipe, step + 1, False):
            evaluate_dev(recipe, task, loaded, prepared, best, step + 1)

    best = BestState()
    journal = RunJournal(out_dir, recipe, None, checkpoint_every)
    # The DP accounting covers all T steps up front, so there is no privacy state to restore.
    start = journal.resume(seeds.streams(), trainable, best, lambda state: None, replay_evaluation)
    steps_done = start
    train_started = time.perf_counter()
    try:
        progress = tqdm(range(start, recipe["steps"]), desc=cell, disable=None, mininterval=5)
        for step in progress:
            lr = learning_rate(recipe, step)
            if calibration.dp_noise:
                sample = np.flatnonzero(seeds.sampling.random(num_train) < calibration.sample_rate)
                losses.select(sample)
            else:
                sample = np.arange(num_train)
                losses.select(None)

            estimates = np.zeros((sample.size, directions), dtype=np.float64)
            direction_seeds: list[int] = []
            loss_sum = 0.0
            for k in range(directions):
                seed = int(seeds.directions.integers(2**31 - 1))
                direction_seeds.append(seed)
                if sample.size == 0:
                    continue  # nothing to evaluate: the release is pure noise
                plus, minus = zo.two_point_losses(trainable, seed, zo_eps, losses)
                _check_finite(plus, step, cell)
                _check_finite(minus, step, cell)
                estimates[:, k] = ((plus - minus) / (2.0 * zo_eps)).double().numpy()
                loss_sum += 0.5 * float(plus.mean() + minus.mean())

            coefficients = dp.aggregate(
                estimates, clip, calibration.noisy_batch_size, calibration.noise_multiplier, seeds.mechanism
            )
            record = {
                "step": step,
                "lr": lr,
                "batch_size": int(sample.size),
                "clip_fraction": dp.clipped_fraction(estimates, clip),
                "train_loss": loss_sum / directions if sample.size else None,
                "noise_std": noise_std,
                "coefficients": [float(c) for c in coefficients],
                "direction_seeds": direction_seeds,
            }
            # The noisy release is persisted before the model uses it.
            journal.commit(step, record, seeds.streams(), {}, None)
            apply_updates(trainable, record, recipe["weight_decay"])
            steps_done = step + 1

            if evaluation_due(recipe, steps_done, False):
                evaluate_dev(recipe, task, loaded, prepared, best, steps_done)
            journal.checkpoint_if_due(steps_done, steps_done == recipe["steps"], stop, trainable, best)
    finally:
        journal.close()
    train_time = time.perf_counter() - train_started
    best.restore(trainable)
    return {
        "best": best,
        "privacy": calibration.summary(recipe, steps_done),
        "steps_run": steps_done,
        "steps_timed": steps_done - start,
        "resumed_from_step": start,
        "train_time_s": train_time,
        "journal": journal,
    }
