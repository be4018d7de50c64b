"""Per-step MI budget schedules and exact spend accounting for PAC-MI.

Notation: B is the total budget in nats, T the number of steps, t the
0-based step index and K the number of directions (releases) per step.

* ``uniform``: beta_t = B / T.
* ``adaptive``: beta_t = (B - spent) / (T - t), where spent is the total
  charged before step t. Budget left unused by free or entropy-capped
  releases is spread over the remaining steps.

Each of the K releases of step t gets beta_t / K before its entropy cap.
Both schedules read only public quantities (B, T, t and the running spend),
so a verifier can recompute them from the logged spends.

`SpendAccount` keeps the running spend as an exact rational number, so the
exact sum of all charged spends never exceeds B, whatever the rounding of
the individual float spends.
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = [
    "SCHEDULES",
    "EXHAUSTION_TOLERANCE",
    "SpendAccount",
    "release_budget",
    "step_budget",
]

SCHEDULES = ("uniform", "adaptive")

# Relative to the budget: the account counts as exhausted once less than this fraction is left.
EXHAUSTION_TOLERANCE = 1e-12


def step_budget(schedule: str, budget_nats: float, spent_nats: float, step: int, total_steps: int) -> float:
    """Return the step budget beta_t in nats for 0-based `step` of `total_steps`.

    `spent_nats` is the spend charged before this step; only the adaptive
    schedule reads it. The result is never negative.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"budget_schedule must be one of {SCHEDULES}, got {schedule!r}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps}), got {step}")
    if not (math.isfinite(budget_nats) and budget_nats >= 0.0):
        raise ValueError(f"budget_nats must be a finite number of nats >= 0, got {budget_nats!r}")
    if schedule == "uniform":
        return budget_nats / total_steps
    remaining = budget_nats - spent_nats
    if remaining <= 0.0:
        return 0.0
    return remaining / (total_steps - step)


def release_budget(step_budget_nats: float, directions: int) -> float:
    """Return the budget of one release, beta_t / K, in nats."""
    if directions < 1:
        raise ValueError(f"directions must be >= 1, got {directions}")
    return step_budget_nats / directions


class SpendAccount:
    """Running MI spend against a total budget, summed exactly.

    The exact sum of the charged float spends is kept as a Fraction.
    `remaining()` returns the largest float r such that the exact sum plus r
    stays within the budget, so charging at most `remaining()` each time
    can never overspend.
    """

    def __init__(self, budget_nats: float, spent: Fraction | None = None) -> None:
        if not (math.isfinite(budget_nats) and budget_nats >= 0.0):
            raise ValueError(f"budget_nats must be a finite number of nats >= 0, got {budget_nats!r}")
        self.budget_nats = float(budget_nats)
        self._budget = Fraction(self.budget_nats)
        self._spent = Fraction(0) if spent is None else Fraction(spent)

    @property
    def spent(self) -> float:
        """Total spend in nats (the exact sum, correctly rounded to float)."""
        return float(self._spent)

    @property
    def spent_exact(self) -> Fraction:
        """Total spend in nats as an exact rational number."""
        return self._spent

    def remaining(self) -> float:
        """Return the largest float r >= 0 with spent + r <= budget exactly."""
        exact = self._budget - self._spent
        if exact <= 0:
            return 0.0
        r = float(exact)
        if Fraction(r) > exact:
            r = math.nextafter(r, 0.0)
        return r

    @property
    def exhausted(self) -> bool:
        """True once the remaining budget is at most EXHAUSTION_TOLERANCE * budget_nats."""
        return self.remaining() <= EXHAUSTION_TOLERANCE * self.budget_nats

    def clamp(self, nats: float) -> float:
        """Return min(nats, remaining()), never below 0."""
        return max(0.0, min(float(nats), self.remaining()))

    def charge(self, nats: float) -> None:
        """Add a spend of `nats`; raises ValueError if it would exceed the budget."""
        nats = float(nats)
        if not (math.isfinite(nats) and nats >= 0.0):
            raise ValueError(f"a spend must be a finite number of nats >= 0, got {nats!r}")
        if self._spent + Fraction(nats) > self._budget:
            raise ValueError(
                f"a spend of {nats!r} nats would exceed the budget of {self.budget_nats!r} nats "
                f"(spent so far {self.spent!r}); clamp it with SpendAccount.clamp first"
            )
        self._spent += Fraction(nats)

    def to_string(self) -> str:
        """Return the exact spend as 'numerator/denominator' (for state dicts)."""
        return f"{self._spent.numerator}/{self._spent.denominator}"
