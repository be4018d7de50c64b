"""Budget schedules and exact spend accounting."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paczero.privacy.budget import EXHAUSTION_TOLERANCE, SpendAccount, release_budget, step_budget


def test_uniform_schedule_ignores_spend():
    for spent in [0.0, 0.3, 1.0]:
        assert step_budget("uniform", 1.0, spent, 3, 10) == 0.1


def test_adaptive_schedule_spreads_remaining():
    assert step_budget("adaptive", 1.0, 0.0, 0, 10) == 0.1
    assert step_budget("adaptive", 1.0, 0.4, 4, 10) == pytest.approx(0.6 / 6, rel=1e-15)
    assert step_budget("adaptive", 1.0, 0.5, 9, 10) == 0.5


def test_adaptive_schedule_clamps_at_zero():
    assert step_budget("adaptive", 1.0, 1.0, 5, 10) == 0.0
    assert step_budget("adaptive", 1.0, 1.5, 5, 10) == 0.0


def test_release_budget_divides_by_directions():
    assert release_budget(0.3, 3) == pytest.approx(0.1, rel=1e-15)
    with pytest.raises(ValueError, match="directions"):
        release_budget(0.3, 0)


def test_step_budget_rejects_bad_inputs():
    with pytest.raises(ValueError, match="budget_schedule"):
        step_budget("linear", 1.0, 0.0, 0, 10)
    with pytest.raises(ValueError, match="step must be in"):
        step_budget("uniform", 1.0, 0.0, 10, 10)
    with pytest.raises(ValueError, match="step must be in"):
        step_budget("uniform", 1.0, 0.0, -1, 10)
    with pytest.raises(ValueError, match="total_steps"):
        step_budget("uniform", 1.0, 0.0, 0, 0)
    with pytest.raises(ValueError, match="budget_nats"):
        step_budget("uniform", math.nan, 0.0, 0, 10)


def test_account_remaining_is_exact():
    account = SpendAccount(0.3)
    for _ in range(3):
        account.charge(account.clamp(0.1))
    assert account.spent_exact <= Fraction(0.3)
    assert account.remaining() >= 0.0
    assert account.spent_exact + Fraction(account.remaining()) <= Fraction(0.3)


def test_account_charge_rejects_overspend():
    account = SpendAccount(1.0)
    account.charge(0.75)
    with pytest.raises(ValueError, match="would exceed the budget"):
        account.charge(0.5)
    with pytest.raises(ValueError, match="finite number of nats"):
        account.charge(-0.1)
    with pytest.raises(ValueError, match="finite number of nats"):
        account.charge(math.nan)


def test_account_exhaustion_tolerance():
    account = SpendAccount(1.0)
    account.charge(1.0 - 0.5 * EXHAUSTION_TOLERANCE)
    assert account.exhausted
    fresh = SpendAccount(1.0)
    fresh.charge(1.0 - 10 * EXHAUSTION_TOLERANCE)
    assert not fresh.exhausted


def test_account_string_round_trip():
    account = SpendAccount(1.0)
    for value in [0.1, 0.2, 1e-17, 0.3]:
        account.charge(value)
    restored = SpendAccount(1.0, Fraction(account.to_string()))
    assert restored.spent_exact == account.spent_exact
    assert restored.remaining() == account.remaining()


@settings(max_examples=60, deadline=None)
@given(
    budget=st.floats(min_value=1e-6, max_value=10.0),
    requests=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=60),
)
def test_account_never_overspends(budget, requests):
    account = SpendAccount(budget)
    charged = []
    for request in requests:
        spend = account.clamp(request)
        account.charge(spend)
        charged.append(spend)
    assert sum(Fraction(value) for value in charged) <= Fraction(budget)
    assert math.fsum(charged) <= budget
    assert account.spent <= budget
