"""Calibration and aggregation for the differentially private zeroth-order baselines.

DPZero (Zhang et al., "DPZero: Private Fine-Tuning of Language Models without
Backpropagation") privatises a single-direction zeroth-order step: each
example's two-point estimate along the shared random direction is a scalar, so
clipping it and adding Gaussian noise to the batch mean privatises the whole
update. DP-AggZO (Bao et al.) uses K directions per step: each example's
K-vector of estimates, divided by K, is clipped in L2 norm to C, and
Gaussian noise is added to every coordinate. DPZero is the case K = 1.

The total budget (epsilon, delta) is split in two parts:

- 5% of epsilon buys a noisy training-set size from the Laplace mechanism
  (sensitivity 1): n~ = (N + Laplace(1 / (0.05 * epsilon))) * q, drawn once per
  run, so dividing by n~ reveals nothing beyond that release.
- 95% of epsilon, with all of delta, covers T Poisson-subsampled Gaussian
  releases of the clipped sum. Their noise multiplier sigma comes from Opacus's
  RDP accountant (`opacus.accountants.RDPAccountant`, Opacus 1.6), and the
  noise on each coordinate of sum / n~ has standard deviation sigma * C / n~.

The accountant's functions import opacus, and with it torch, only when called,
so importing this module needs only NumPy.
"""

from __future__ import annotations

import logging
import math

import numpy as np

logger = logging.getLogger(__name__)

GAUSSIAN_SHARE = 0.95  # share of epsilon spent on the T Gaussian releases
BATCH_SIZE_SHARE = 0.05  # share of epsilon spent on the Laplace release of the training-set size
MIN_NOISY_COUNT = 1.0  # lower clamp on N + Laplace noise, in examples


def _check_accounting_inputs(delta: float, sample_rate: float, steps: int) -> None:
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")


def noise_multiplier(
    epsilon: float, delta: float, sample_rate: float, steps: int, epsilon_tolerance: float = 0.01
) -> float:
    """Return the Gaussian noise multiplier sigma for (0.95 * epsilon, delta) over `steps` releases.

    Each release is the Gaussian mechanism on a Poisson sample with rate
    `sample_rate`. The value is `opacus.accountants.utils.get_noise_multiplier`
    with the RDP accountant: a binary search that returns the smallest sigma it
    visits whose epsilon is at most the target and within `epsilon_tolerance`
    of it (Opacus's default tolerance is 0.01).

    NOTE: Opacus's default RDP orders stop at 63. For very large sigma (long
    runs at small epsilon) the best order lies above that, so the bound and the
    noise are somewhat larger than a wider order range would give. Opacus then
    emits a UserWarning.
    """
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    _check_accounting_inputs(delta, sample_rate, steps)
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=GAUSSIAN_SHARE * epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=int(steps),
            accountant="rdp",
            epsilon_tolerance=epsilon_tolerance,
        )
    )


def realised_epsilon(noise_multiplier: float, delta: float, sample_rate: float, steps: int) -> float:
    """Return the epsilon that Opacus's RDP accountant reports after `steps` Gaussian releases.

    The accountant is stepped once per training step with (noise_multiplier,
    sample_rate), then converted to (epsilon, delta)-DP at `delta`. The result
    covers only the Gaussian releases, so the run's total epsilon adds
    0.05 * epsilon for the noisy training-set size.
    """
    if not (math.isfinite(noise_multiplier) and noise_multiplier > 0):
        raise ValueError(f"noise_multiplier must be a finite number > 0, got {noise_multiplier!r}")
    _check_accounting_inputs(delta, sample_rate, steps)
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(int(steps)):
        accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
    return float(accountant.get_epsilon(delta=delta))


def noisy_batch_size(num_examples: int, epsilon: float, sample_rate: float, rng: np.random.Generator) -> float:
    """Draw the noisy expected batch size n~ = (N + Laplace(0, 1 / (0.05 * epsilon))) * q.

    The Laplace term is the Laplace mechanism for the count N (sensitivity 1)
    at budget 0.05 * epsilon. When the noisy count falls below one example it is
    clamped to one, so n~ >= q > 0. The clamp is post-processing of the Laplace
    release and costs no privacy, and it keeps the division by n~ from flipping
    the update's sign or blowing it up.
    """
    if num_examples < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples!r}")
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    noisy_count = num_examples + rng.laplace(0.0, 1.0 / (BATCH_SIZE_SHARE * epsilon))
    if noisy_count < MIN_NOISY_COUNT:
        logger.warning(
            "noisy training-set size %.3f is below %.0f example(s); clamped to %.0f (N = %d, epsilon = %g)",
            noisy_count, MIN_NOISY_COUNT, MIN_NOISY_COUNT, num_examples, epsilon,
        )
        noisy_count = MIN_NOISY_COUNT
    return float(noisy_count * sample_rate)


def clip_rows(matrix: np.ndarray, clip: float) -> np.ndarray:
    """Scale each row r of `matrix` by min(1, clip / ||r||_2), in float64; zero rows stay zero."""
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip!r}")
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D array (examples, directions), got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # min(1, C / norm) written as C / max(norm, C), which needs no division by zero.
    return matrix * (clip / np.maximum(norms, clip))


def clipped_fraction(estimates: np.ndarray, clip: float) -> float:
    """Return the share of rows of `estimates` / K whose L2 norm exceeds `clip` (0 for no rows)."""
    estimates = np.asarray(estimates, dtype=np.float64)
    if estimates.shape[0] == 0:
        return 0.0
    norms = np.linalg.norm(estimates / estimates.shape[1], axis=1)
    return float(np.mean(norms > clip))


def aggregate(
    estimates: np.ndarray,
    clip: float,
    noisy_batch: float,
    noise_multiplier: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the K released coefficients of one step from the per-example two-point estimates.

    `estimates` has shape (n, K): row i contains the sampled example i's two-point
    estimates g_{i,k} along the K directions. The result is

        ghat = (sum_i clip_C(g_i / K)) / n~ + N(0, (sigma * C / n~)^2 I_K),

    where clip_C scales a vector to L2 norm at most C. With noise_multiplier 0
    no noise is drawn and `rng` is not used. An empty sample (n = 0) gives pure
    noise. The update is theta <- theta - lr * sum_k ghat_k z_k.
    """
    estimates = np.asarray(estimates, dtype=np.float64)
    if estimates.ndim != 2 or estimates.shape[1] < 1:
        raise ValueError(f"estimates must have shape (examples, directions) with directions >= 1, got {estimates.shape}")
    if not (math.isfinite(noisy_batch) and noisy_batch > 0):
        raise ValueError(f"noisy_batch must be a finite number > 0, got {noisy_batch!r}")
    if not (math.isfinite(noise_multiplier) and noise_multiplier >= 0):
        raise ValueError(f"noise_multiplier must be a finite number >= 0, got {noise_multiplier!r}")
    directions = estimates.shape[1]
    coefficients = clip_rows(estimates / directions, clip).sum(axis=0) / noisy_batch
    if noise_multiplier > 0:
        coefficients = coefficients + rng.normal(0.0, noise_multiplier * clip / noisy_batch, size=directions)
    return coefficients
