"""Release of the per-direction update coefficient: PAC-MI, PAC-ZPL and non-private ablations.

Setting. The training set is covered by M candidate subsets (M even); a
secret index m* in {0, ..., M-1} picks the subset that actually trains. For
each direction k of step t the trainer computes the M subset means
gbar_m of the clipped per-example ZO scalars and the full-batch mean. The
signs are s_m = +1 if gbar_m >= 0 else -1. The released coefficient Y
multiplies z_k in the update theta <- theta - lr * (1/K) * sum_k Y_k z_k.

The adversary's posterior over m* is p (uniform 1/M at the start), and
q_plus = sum_m p_m [s_m = +1] is the posterior probability that the
secret sign s_{m*} is +1.

* ``pacmi``: if q_plus <= 1e-12 or q_plus >= 1 - 1e-12 the posterior
  already fixes the sign (a "free" release): Y = s_{m*}, no spend, the
  posterior is unchanged. Otherwise the release budget beta is capped at
  0.999 * H(q_plus) and at the remaining budget, sigma solves
  I(S; S + sigma N) = beta, the mechanism publishes
  r = s_{m*} + sigma * xi with xi ~ N(0, 1), updates
  p_m ∝ p_m * exp(-(s_m - r)^2 / (2 sigma^2)) and releases Y = sign(r)
  (+1 when r >= 0). The spend is beta. With no budget left the release is
  a fair coin (the sigma -> inf limit) and costs nothing.
* ``paczpl``: if all M signs agree, Y is that sign; otherwise Y is a fair
  coin drawn independently of the data. The posterior stays uniform and
  nothing is spent.
* ``nonprivate``: Y follows the ablation (`raw_full`, also `none`: the
  full-batch mean, which is MeZO; `quant_full`: its sign; `raw_half`:
  gbar_{m*}; `quant_half`: s_{m*}; `random_sign`: a fair coin).

The release functions are pure: they take the posterior as log
probabilities and return a `Release`. `PrivacyEngine` wraps them with the
step loop, the budget schedule, the spend account and a seeded rng.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
from scipy import special

from paczero.privacy.budget import SCHEDULES, SpendAccount, release_budget, step_budget
from paczero.privacy.channel import binary_entropy, sigma_for_mi

logger = logging.getLogger(__name__)

__all__ = [
    "ABLATIONS",
    "ENTROPY_CAP_FRACTION",
    "METHODS",
    "PER_RELEASE_FIELDS",
    "UNANIMITY_THRESHOLD",
    "PrivacyEngine",
    "Release",
    "is_unanimous",
    "posterior_entropy",
    "q_plus_of",
    "release_nonprivate",
    "release_pacmi",
    "release_paczpl",
    "subset_signs",
    "update_log_posterior",
]

METHODS = ("pacmi", "paczpl", "nonprivate")
ABLATIONS = ("none", "raw_full", "quant_full", "raw_half", "quant_half", "random_sign")
UNANIMITY_THRESHOLD = 1e-12
ENTROPY_CAP_FRACTION = 0.999

# Fields of one release; in a step record they are scalars when K = 1 and lists of length K when K > 1.
PER_RELEASE_FIELDS = (
    "q_plus",
    "num_plus",
    "unanimous_posterior",
    "unanimous_all",
    "release",
    "sigma",
    "beta",
    "beta_cap",
    "spent",
    "noisy_value",
    "released",
    "cumulative_mi",
    "free_steps",
    "posterior_entropy",
)


class Release(NamedTuple):
    """Outcome of one release: coefficient Y, posterior after it, spend in nats, record."""

    coefficient: float
    log_posterior: np.ndarray
    spend: float
    record: dict[str, Any]


# ---------------------------------------------------------------------------
# Helpers on signs and posteriors
# ---------------------------------------------------------------------------


def subset_signs(subset_means: np.ndarray) -> np.ndarray:
    """Return s_m = +1 if gbar_m >= 0 else -1, as float64."""
    means = np.asarray(subset_means, dtype=np.float64)
    return np.where(means >= 0.0, 1.0, -1.0)


def q_plus_of(signs: np.ndarray, log_posterior: np.ndarray) -> float:
    """Return q_plus = sum_m p_m [s_m = +1], clipped to [0, 1]."""
    posterior = np.exp(log_posterior)
    q = float(np.sum(posterior[signs > 0]))
    return min(max(q, 0.0), 1.0)


def is_unanimous(q_plus: float) -> bool:
    """True when the posterior already fixes the sign: q_plus <= 1e-12 or q_plus >= 1 - 1e-12."""
    return q_plus <= UNANIMITY_THRESHOLD or q_plus >= 1.0 - UNANIMITY_THRESHOLD


def posterior_entropy(log_posterior: np.ndarray) -> float:
    """Return the Shannon entropy -sum_m p_m log p_m of the posterior, in nats."""
    return float(np.sum(special.entr(np.exp(log_posterior))))


def update_log_posterior(log_posterior: np.ndarray, signs: np.ndarray, noisy_value: float, sigma: float) -> np.ndarray:
    """Return the Bayes update log p_m + log N(r; s_m, sigma^2), normalised.

    Terms that do not depend on m cancel in the normalisation, so only
    -(s_m - r)^2 / (2 sigma^2) is added.
    """
    log_likelihood = -((signs - noisy_value) ** 2) / (2.0 * sigma * sigma)
    updated = log_posterior + log_likelihood
    return updated - special.logsumexp(updated)


def _sign(value: float) -> float:
    """Return +1.0 for value >= 0, else -1.0 (the sign convention of every release)."""
    return 1.0 if value >= 0.0 else -1.0


def _fair_coin(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def _sign_summary(signs: np.ndarray | None, log_posterior: np.ndarray) -> dict[str, Any]:
    """Return the public sign statistics of a release (None where no signs were given)."""
    if signs is None:
        return {"q_plus": None, "num_plus": None, "unanimous_posterior": None, "unanimous_all": None}
    q = q_plus_of(signs, log_posterior)
    num_plus = int(np.count_nonzero(signs > 0))
    return {
        "q_plus": q,
        "num_plus": num_plus,
        "unanimous_posterior": is_unanimous(q),
        "unanimous_all": num_plus in (0, signs.size),
    }


def _record(summary: dict[str, Any], **fields: Any) -> dict[str, Any]:
    record = dict(summary)
    record.update(
        {
            "release": None,
            "sigma": None,
            "beta": None,
            "beta_cap": None,
            "spent": 0.0,
            "noisy_value": None,
            "released": None,
            "posterior_entropy": None,
        }
    )
    record.update(fields)
    return record


# ---------------------------------------------------------------------------
# Pure release functions
# ---------------------------------------------------------------------------


def release_pacmi(
    signs: np.ndarray,
    log_posterior: np.ndarray,
    secret_index: int,
    beta: float,
    rng: np.random.Generator,
    remaining_nats: float = math.inf,
) -> Release:
    """Release one PAC-MI coefficient.

    `beta` is this release's budget in nats before the entropy cap, and
    `remaining_nats` the budget left in the run; the spend is
    min(beta, 0.999 * H(q_plus), remaining_nats). Draws one standard normal
    from `rng` for a noisy release, one uniform for a coin, nothing for a
    free release.
    """
    summary = _sign_summary(signs, log_posterior)
    q = summary["q_plus"]
    secret_sign = float(signs[secret_index])

    if summary["unanimous_posterior"]:
        return Release(
            secret_sign,
            log_posterior,
            0.0,
            _record(
                summary,
                release="free",
                beta=float(beta),
                released=secret_sign,
                posterior_entropy=posterior_entropy(log_posterior),
            ),
        )

    beta_cap = ENTROPY_CAP_FRACTION * binary_entropy(q)
    spend = max(0.0, min(float(beta), beta_cap, float(remaining_nats)))
    if spend <= 0.0:
        coin = _fair_coin(rng)
        return Release(
            coin,
            log_posterior,
            0.0,
            _record(
                summary,
                release="coin",
                beta=float(beta),
                beta_cap=beta_cap,
                released=coin,
                posterior_entropy=posterior_entropy(log_posterior),
            ),
        )

    sigma = sigma_for_mi(q, spend)
    noisy_value = secret_sign + sigma * float(rng.standard_normal())
    new_log_posterior = update_log_posterior(log_posterior, signs, noisy_value, sigma)
    released = _sign(noisy_value)
    return Release(
        released,
        new_log_posterior,
        spend,
        _record(
            summary,
            release="noisy",
            sigma=sigma,
            beta=float(beta),
            beta_cap=beta_cap,
            spent=spend,
            noisy_value=noisy_value,
            released=released,
            posterior_entropy=posterior_entropy(new_log_posterior),
        ),
    )


def release_paczpl(
    signs: np.ndarray, log_posterior: np.ndarray, secret_index: int, rng: np.random.Generator
) -> Release:
    """Release one PAC-ZPL coefficient: the common sign if all M signs agree, else a fair coin.

    The coin is one uniform draw from `rng`, made only when the signs
    disagree, so it is independent of the secret index and of the signs.
    The posterior is returned unchanged (uniform in a PAC-ZPL run) and the
    spend is 0.
    """
    summary = _sign_summary(signs, log_posterior)
    if summary["unanimous_all"]:
        released = float(signs[secret_index])
        kind = "free"
    else:
        released = _fair_coin(rng)
        kind = "coin"
    record = _record(summary, release=kind, released=released, posterior_entropy=posterior_entropy(log_posterior))
    return Release(released, log_posterior, 0.0, record)


def release_nonprivate(
    ablation: str,
    subset_means: np.ndarray | None,
    full_mean: float | None,
    log_posterior: np.ndarray,
    secret_index: int,
    rng: np.random.Generator,
) -> Release:
    """Release one non-private coefficient as the ablation prescribes; the spend is 0.

    `raw_full`/`none` return `full_mean` itself (a real number), `quant_full`
    its sign, `raw_half` gbar_{m*}, `quant_half` s_{m*}, `random_sign` a fair
    coin from `rng`. Signs are +1 for values >= 0.
    """
    if ablation not in ABLATIONS:
        raise ValueError(f"ablation must be one of {ABLATIONS}, got {ablation!r}")
    signs = None if subset_means is None else subset_signs(subset_means)
    summary = _sign_summary(signs, log_posterior)

    if ablation in ("none", "raw_full", "quant_full"):
        if full_mean is None:
            raise ValueError(f"ablation {ablation!r} needs full_mean, the full-batch mean of the clipped ZO scalars")
        value = float(full_mean)
    elif ablation in ("raw_half", "quant_half"):
        if subset_means is None:
            raise ValueError(f"ablation {ablation!r} needs subset_means, the M subset means")
        value = float(np.asarray(subset_means, dtype=np.float64)[secret_index])
    else:
        value = _fair_coin(rng)

    if ablation in ("quant_full", "quant_half"):
        released = _sign(value)
    else:
        released = value

    record = _record(
        summary, release="nonprivate", released=released, posterior_entropy=posterior_entropy(log_posterior)
    )
    return Release(released, log_posterior, 0.0, record)


# ---------------------------------------------------------------------------
# Stateful engine
# ---------------------------------------------------------------------------


class PrivacyEngine:
    """Seeded, stateful wrapper around the release functions for one training run.

    Call order per step: ``begin_step(t)``, then ``release(...)`` exactly
    `directions` times, then ``end_step()``. For ``pacmi`` the trainer must
    stop once ``exhausted`` is True; ``begin_step`` raises after that.

    Arguments:
        method: ``pacmi``, ``paczpl`` or ``nonprivate``.
        num_subsets: M, even and >= 2.
        budget_nats: total MI budget B in nats (> 0 for pacmi, unused otherwise).
        total_steps: T, the number of training steps.
        directions: K, releases per step.
        budget_schedule: ``adaptive`` or ``uniform`` (pacmi only).
        ablation: ``none`` unless method is ``nonprivate``.
        secret_index: m*; None draws it with ``rng.integers(M)``.
        rng: the generator for the secret index, noise and coins.
    """

    def __init__(
        self,
        method: str,
        num_subsets: int,
        budget_nats: float,
        total_steps: int,
        directions: int = 1,
        budget_schedule: str = "adaptive",
        ablation: str = "none",
        secret_index: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS} for PrivacyEngine, got {method!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy.random.Generator, e.g. np.random.default_rng(train_seed)")
        num_subsets = int(num_subsets)
        if num_subsets < 2 or num_subsets % 2:
            raise ValueError(f"num_subsets must be even and >= 2, got {num_subsets}")
        total_steps = int(total_steps)
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        directions = int(directions)
        if directions < 1:
            raise ValueError(f"directions must be >= 1, got {directions}")
        if budget_schedule not in SCHEDULES:
            raise ValueError(f"budget_schedule must be one of {SCHEDULES}, got {budget_schedule!r}")
        if ablation not in ABLATIONS:
            raise ValueError(f"ablation must be one of {ABLATIONS}, got {ablation!r}")
        if method != "nonprivate" and ablation != "none":
            raise ValueError(f"ablation {ablation!r} applies to method 'nonprivate' only; use 'none' for {method!r}")
        budget_nats = float(budget_nats)
        if method == "pacmi" and not (math.isfinite(budget_nats) and budget_nats > 0.0):
            raise ValueError(f"budget_nats must be a finite number of nats > 0 for pacmi, got {budget_nats!r}")

        self.method = method
        self.num_subsets = num_subsets
        self.budget_nats = budget_nats
        self.total_steps = total_steps
        self.directions = directions
        self.budget_schedule = budget_schedule
        self.ablation = ablation
        self.rng = rng

        if secret_index is None:
            secret_index = int(rng.integers(num_subsets))
        secret_index = int(secret_index)
        if not 0 <= secret_index < num_subsets:
            raise ValueError(f"secret_index must be in [0, {num_subsets}), got {secret_index}")
        self.secret_index = secret_index

        self._log_posterior = np.full(num_subsets, -math.log(num_subsets))
        self._account = SpendAccount(budget_nats if method == "pacmi" else 0.0)
        self._last_step = -1
        self._steps_run = 0
        self._stop_step: int | None = None
        self._counts = {"free": 0, "noisy": 0, "coin": 0, "nonprivate": 0}
        self._current_step: int | None = None
        self._step_beta: float | None = None
        self._step_records: list[dict[str, Any]] = []

    # -- public state -------------------------------------------------------

    @property
    def posterior(self) -> np.ndarray:
        """Posterior probabilities over the secret index (a copy)."""
        return np.exp(self._log_posterior)

    @property
    def log_posterior(self) -> np.ndarray:
        """Posterior log probabilities over the secret index (a copy)."""
        return self._log_posterior.copy()

    @property
    def spent(self) -> float:
        """Total MI spent so far, in nats (0 for methods other than pacmi)."""
        return self._account.spent

    @property
    def exhausted(self) -> bool:
        """True once a pacmi run has spent its budget (within 1e-12 relative); always False otherwise."""
        return self.method == "pacmi" and self._account.exhausted

    # -- step loop ------------------------------------------------------------

    def begin_step(self, step: int) -> None:
        """Start 0-based step `step` and compute its budget beta_t from public quantities."""
        if self._current_step is not None:
            raise RuntimeError(f"step {self._current_step} is still open; call end_step() before begin_step()")
        step = int(step)
        if not 0 <= step < self.total_steps:
            raise ValueError(f"step must be in [0, {self.total_steps}), got {step}")
        if step <= self._last_step:
            raise ValueError(f"steps must increase: got {step} after {self._last_step}")
        if self.exhausted:
            raise RuntimeError(
                f"privacy budget exhausted (spent {self.spent!r} of {self.budget_nats!r} nats); "
                "stop training when engine.exhausted is True"
            )
        self._current_step = step
        self._step_records = []
        if self.method == "pacmi":
            self._step_beta = step_budget(
                self.budget_schedule, self.budget_nats, self._account.spent, step, self.total_steps
            )
        else:
            self._step_beta = None

    def release(self, subset_means: np.ndarray | None, full_mean: float | None) -> tuple[float, dict[str, Any]]:
        """Release the coefficient of the next direction; returns (coefficient, release record).

        `subset_means` is the length-M array of subset means gbar_m (it may be
        None only for non-private ablations that ignore it); `full_mean` is
        the full-batch mean (needed by `raw_full`/`quant_full`).
        """
        if self._current_step is None:
            raise RuntimeError("release() called outside a step; call begin_step(step) first")
        if len(self._step_records) >= self.directions:
            raise RuntimeError(
                f"step {self._current_step} already has {self.directions} releases (directions={self.directions})"
            )
        means = self._check_subset_means(subset_means)
        if full_mean is not None:
            full_mean = float(full_mean)
            if not math.isfinite(full_mean):
                raise ValueError(f"full_mean must be finite, got {full_mean!r}; check the clipped ZO scalars")

        result = self._dispatch(means, full_mean)
        self._log_posterior = result.log_posterior
        if result.spend > 0.0:
            self._account.charge(result.spend)
        self._counts[result.record["release"]] += 1

        record = dict(result.record)
        record["cumulative_mi"] = self._account.spent
        record["free_steps"] = self._counts["free"]
        self._step_records.append(record)
        return result.coefficient, record

    def end_step(self) -> dict[str, Any]:
        """Close the step and return its JSON-serialisable diagnostics record.

        Fields in PER_RELEASE_FIELDS are scalars when directions is 1 and
        lists of length K otherwise. The step-level fields are `step`,
        `directions`, `beta_step` (beta_t, null unless pacmi), `step_spent`
        (nats spent in this step) and `budget_remaining` (nats, null unless
        pacmi).
        """
        if self._current_step is None:
            raise RuntimeError("end_step() called outside a step; call begin_step(step) first")
        if len(self._step_records) != self.directions:
            raise RuntimeError(
                f"step {self._current_step} has {len(self._step_records)} releases, expected {self.directions}"
            )
        step = self._current_step
        spends = [record["spent"] for record in self._step_records]
        step_record: dict[str, Any] = {
            "step": step,
            "directions": self.directions,
            "beta_step": self._step_beta,
            "step_spent": math.fsum(spends),
            "budget_remaining": self._account.remaining() if self.method == "pacmi" else None,
        }
        for field in PER_RELEASE_FIELDS:
            values = [record[field] for record in self._step_records]
            step_record[field] = values[0] if self.directions == 1 else values

        self._last_step = step
        self._steps_run += 1
        self._current_step = None
        self._step_beta = None
        self._step_records = []
        if self.exhausted and self._stop_step is None:
            self._stop_step = step
            logger.info("privacy budget of %.6g nats exhausted at step %d", self.budget_nats, step)
        return step_record

    # -- reporting and checkpoints --------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Return the privacy block of metrics.json.

        `free_steps`, `noisy_steps` and `coin_steps` count releases, so with
        directions K > 1 they add up to K * steps_run. `stop_step` is the step
        during which a pacmi budget ran out, or None.
        """
        return {
            "method": self.method,
            "budget_nats": self.budget_nats,
            "spent_nats": self.spent,
            "free_steps": self._counts["free"],
            "noisy_steps": self._counts["noisy"],
            "coin_steps": self._counts["coin"],
            "stop_step": self._stop_step,
            "steps_run": self._steps_run,
            "total_steps": self.total_steps,
            "secret_index": self.secret_index,
            "budget_schedule": self.budget_schedule,
            "directions": self.directions,
            "num_subsets": self.num_subsets,
            "ablation": self.ablation,
            "posterior_entropy": posterior_entropy(self._log_posterior),
        }

    def state_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable checkpoint that resumes the engine bit-identically."""
        if self._current_step is not None:
            raise RuntimeError(f"step {self._current_step} is open; call state_dict() between steps")
        return {
            "config": self._config(),
            "secret_index": self.secret_index,
            "log_posterior": [float(value) for value in self._log_posterior],
            "spent_exact": self._account.to_string(),
            "last_step": self._last_step,
            "steps_run": self._steps_run,
            "stop_step": self._stop_step,
            "counts": dict(self._counts),
            "rng_state": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint from `state_dict()`; the engine's configuration must match it."""
        if self._current_step is not None:
            raise RuntimeError(f"step {self._current_step} is open; call load_state_dict() between steps")
        saved = state["config"]
        current = self._config()
        mismatched = sorted(key for key in current if saved.get(key) != current[key])
        if mismatched:
            details = ", ".join(f"{key}: checkpoint {saved.get(key)!r} vs engine {current[key]!r}" for key in mismatched)
            raise ValueError(f"checkpoint does not match this engine ({details}); build the engine with the same recipe")
        log_posterior = np.asarray(state["log_posterior"], dtype=np.float64)
        if log_posterior.shape != (self.num_subsets,):
            raise ValueError(f"log_posterior has shape {log_posterior.shape}, expected ({self.num_subsets},)")

        self.secret_index = int(state["secret_index"])
        self._log_posterior = log_posterior
        self._account = SpendAccount(self._account.budget_nats, Fraction(state["spent_exact"]))
        self._last_step = int(state["last_step"])
        self._steps_run = int(state["steps_run"])
        self._stop_step = state["stop_step"]
        self._counts = {key: int(state["counts"][key]) for key in self._counts}
        self.rng.bit_generator.state = state["rng_state"]

    # -- internals -------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "num_subsets": self.num_subsets,
            "budget_nats": self.budget_nats,
            "total_steps": self.total_steps,
            "directions": self.directions,
            "budget_schedule": self.budget_schedule,
            "ablation": self.ablation,
        }

    def _check_subset_means(self, subset_means: np.ndarray | None) -> np.ndarray | None:
        needs_means = self.method != "nonprivate" or self.ablation in ("raw_half", "quant_half")
        if subset_means is None:
            if needs_means:
                raise ValueError(f"subset_means is required for method {self.method!r} (ablation {self.ablation!r})")
            return None
        means = np.asarray(subset_means, dtype=np.float64)
        if means.shape != (self.num_subsets,):
            raise ValueError(f"subset_means has shape {means.shape}, expected ({self.num_subsets},)")
        bad = np.flatnonzero(~np.isfinite(means))
        if bad.size:
            raise ValueError(
                f"subset_means[{bad[0]}] is {float(means[bad[0]])!r}; subset means must be finite (check the clipped ZO scalars)"
            )
        return means

    def _dispatch(self, means: np.ndarray | None, full_mean: float | None) -> Release:
        if self.method == "pacmi":
            beta = release_budget(self._step_beta, self.directions)
            return release_pacmi(
                subset_signs(means),
                self._log_posterior,
                self.secret_index,
                beta,
                self.rng,
                remaining_nats=self._account.remaining(),
            )
        if self.method == "paczpl":
            return release_paczpl(subset_signs(means), self._log_posterior, self.secret_index, self.rng)
        return release_nonprivate(self.ablation, means, full_mean, self._log_posterior, self.secret_index, self.rng)
