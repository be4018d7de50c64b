"""Checks of a DP baseline run's privacy accounting (DPZero, DP-AggZO).

These runs have no PAC-MI ledger: no secret subset index, no posterior and
no MI spend. What their files do record is checked against the recipe:

* the `privacy` block of metrics.json: method, dp_noise, epsilon, delta and
  sample_rate equal the recipe's, epsilon_gaussian = 0.95 epsilon and
  epsilon_batch_size = 0.05 epsilon, the noisy batch size n~ is at least
  the sample rate q (the Laplace count is clamped to >= 1 example), and
  realised_epsilon does not exceed epsilon_gaussian. When opacus is
  installed, realised_epsilon is also recomputed from (noise_multiplier,
  delta, q, steps) with Opacus's RDP accountant and must match within
  1e-9 relative.
* each diagnostics line: steps run 0, 1, 2, ... up to privacy.steps_run,
  `coefficients` and `direction_seeds` hold K values, and `noise_std`
  equals noise_multiplier * clip / n~.
* without noise (dp_noise false) the run is the non-private reference:
  noise_multiplier and every noise_std are 0, q is 1 and realised_epsilon
  is null. The verdict line states that such a run is not private.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from paczero.privacy import dp

logger = logging.getLogger(__name__)

__all__ = ["DP_METHODS", "DpChecker"]

DP_METHODS = ("dpzero", "dpaggzo")
RELATIVE_TOLERANCE = 1e-9


def _close(logged: Any, expected: float) -> bool:
    if not isinstance(logged, (int, float)) or isinstance(logged, bool):
        return False
    return abs(float(logged) - expected) <= max(1e-15, RELATIVE_TOLERANCE * abs(expected))


class DpChecker:
    """Collects the problems of one DP baseline run; `describe()` returns the verdict details."""

    def __init__(self, recipe: dict[str, Any], metrics: dict[str, Any] | None) -> None:
        self.recipe = recipe
        self.metrics = metrics
        self.problems: list[str] = []
        self.first_bad_step: int | None = None
        self.steps = 0
        self.releases = 0
        self.directions = int(recipe.get("directions", 1))
        self.privacy = metrics.get("privacy") if isinstance(metrics, dict) else None

    def problem(self, step: int | None, message: str) -> None:
        if self.first_bad_step is None and step is not None:
            self.first_bad_step = step
        self.problems.append(f"step {step}: {message}" if step is not None else message)

    def check(self, records: list[dict[str, Any]]) -> None:
        """Check the privacy block, then every diagnostics line."""
        if not isinstance(self.privacy, dict):
            self.problem(None, "metrics.json has no privacy block; the run did not finish or predates DP accounting")
            return
        self._check_privacy_block()
        noise_std = self._expected_noise_std()
        for index, record in enumerate(records):
            self._check_line(index, record, noise_std)
        steps_run = self.privacy.get("steps_run")
        if steps_run != self.steps:
            self.problem(None, f"privacy.steps_run is {steps_run!r} but diagnostics.jsonl has {self.steps} steps")

    def describe(self) -> str:
        """Return the run's accounting in one clause, for the verdict line."""
        privacy = self.privacy if isinstance(self.privacy, dict) else {}
        if not privacy.get("dp_noise", True):
            return "DP baseline without noise (dp_noise false): not private, no accounting to check"
        return (
            f"DP baseline, no PAC-MI ledger: noise multiplier {privacy.get('noise_multiplier')!r}, "
            f"realised Gaussian epsilon {_format(privacy.get('realised_epsilon'))} <= "
            f"{_format(privacy.get('epsilon_gaussian'))} (0.95 of epsilon {_format(privacy.get('epsilon'))}), "
            f"delta {privacy.get('delta')!r}"
        )

    # -- internals -------------------------------------------------------------

    def _check_privacy_block(self) -> None:
        privacy, recipe = self.privacy, self.recipe
        if privacy.get("method") != recipe["method"]:
            self.problem(None, f"privacy.method is {privacy.get('method')!r}, recipe method {recipe['method']!r}")
        dp_noise = bool(recipe.get("dp_noise", True))
        if privacy.get("dp_noise") != dp_noise:
            self.problem(None, f"privacy.dp_noise is {privacy.get('dp_noise')!r}, recipe dp_noise {dp_noise!r}")
            return
        if not dp_noise:
            self._check_noiseless_block()
            return

        epsilon = recipe.get("epsilon")
        for name, expected in (("epsilon", epsilon), ("delta", recipe.get("delta")), ("sample_rate", recipe.get("sample_rate"))):
            if expected is None or not _close(privacy.get(name), float(expected)):
                self.problem(None, f"privacy.{name} is {privacy.get(name)!r}, recipe {name} {expected!r}")
        if isinstance(epsilon, (int, float)):
            for name, share in (("epsilon_gaussian", dp.GAUSSIAN_SHARE), ("epsilon_batch_size", dp.BATCH_SIZE_SHARE)):
                if not _close(privacy.get(name), share * epsilon):
                    self.problem(None, f"privacy.{name} is {privacy.get(name)!r}, expected {share} * epsilon = {share * epsilon!r}")

        sigma = privacy.get("noise_multiplier")
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            self.problem(None, f"privacy.noise_multiplier is {sigma!r}, expected a finite number > 0")
        noisy_batch = privacy.get("noisy_batch_size")
        rate = privacy.get("sample_rate")
        if not (isinstance(noisy_batch, (int, float)) and isinstance(rate, (int, float)) and noisy_batch >= rate * (1 - 1e-12)):
            self.problem(None, f"privacy.noisy_batch_size is {noisy_batch!r}, expected at least the sample rate {rate!r}")

        realised = privacy.get("realised_epsilon")
        target = privacy.get("epsilon_gaussian")
        if not isinstance(realised, (int, float)) or not isinstance(target, (int, float)):
            self.problem(None, f"privacy.realised_epsilon is {realised!r}, expected a number <= epsilon_gaussian")
            return
        if realised > target * (1.0 + RELATIVE_TOLERANCE):
            self.problem(None, f"privacy.realised_epsilon {realised!r} exceeds epsilon_gaussian {target!r}")
        self._recompute_realised_epsilon(realised)

    def _check_noiseless_block(self) -> None:
        privacy = self.privacy
        if privacy.get("noise_multiplier") != 0.0:
            self.problem(None, f"privacy.noise_multiplier is {privacy.get('noise_multiplier')!r}, expected 0 without noise")
        if privacy.get("sample_rate") != 1.0:
            self.problem(None, f"privacy.sample_rate is {privacy.get('sample_rate')!r}, expected 1 without noise")
        if privacy.get("realised_epsilon") is not None:
            self.problem(None, f"privacy.realised_epsilon is {privacy.get('realised_epsilon')!r}, expected null without noise")

    def _recompute_realised_epsilon(self, realised: float) -> None:
        privacy = self.privacy
        try:
            recomputed = dp.realised_epsilon(
                float(privacy["noise_multiplier"]), float(privacy["delta"]), float(privacy["sample_rate"]),
                int(privacy["steps"]),
            )
        except ImportError:
            logger.info("opacus is not installed; realised_epsilon is checked against epsilon_gaussian only")
            return
        except (KeyError, TypeError, ValueError) as error:
            self.problem(None, f"cannot recompute realised_epsilon from the privacy block: {error}")
            return
        if not _close(realised, recomputed):
            self.problem(None, f"privacy.realised_epsilon is {realised!r}, Opacus's RDP accountant gives {recomputed!r}")

    def _expected_noise_std(self) -> float | None:
        privacy = self.privacy
        try:
            return float(privacy["noise_multiplier"]) * float(self.recipe["clip"]) / float(privacy["noisy_batch_size"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None

    def _check_line(self, index: int, record: dict[str, Any], noise_std: float | None) -> None:
        self.steps += 1
        if record.get("step") != index:
            self.problem(index, f"step is {record.get('step')!r}, expected {index} (steps must run 0, 1, 2, ... without gaps)")
        for name in ("coefficients", "direction_seeds"):
            values = record.get(name)
            if not isinstance(values, list) or len(values) != self.directions:
                self.problem(index, f"field {name!r} must be a list of {self.directions} values (one per direction)")
        coefficients = record.get("coefficients")
        if isinstance(coefficients, list):
            self.releases += len(coefficients)
        if noise_std is not None and not _close(record.get("noise_std"), noise_std):
            self.problem(index, f"noise_std is {record.get('noise_std')!r}, expected noise_multiplier * clip / n~ = {noise_std!r}")


def _format(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
