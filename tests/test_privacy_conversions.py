"""Conversions between MI, (epsilon, delta)-DP and the adversary success-rate bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from paczero.privacy.conversions import (
    dp_to_success_bound,
    epsilon_to_matched_mi,
    kl_bernoulli,
    mi_to_matched_epsilon,
    mi_to_success_bound,
    success_bound_to_epsilon,
    success_bound_to_mi,
)


def test_reference_values_mi_to_bound():
    assert round(100 * mi_to_success_bound(0.33), 2) == 88.19
    assert round(100 * mi_to_success_bound(0.68), 2) == 99.82
    assert round(100 * mi_to_success_bound(1e-4), 2) == 50.71


def test_reference_values_epsilon_to_mi():
    assert round(epsilon_to_matched_mi(2.0), 3) == 0.328
    assert round(epsilon_to_matched_mi(6.0), 3) == 0.676
    assert round(epsilon_to_matched_mi(1.0), 4) == 0.1109
    assert round(100 * dp_to_success_bound(0.2), 2) == 54.98
    assert round(epsilon_to_matched_mi(0.2), 4) == 0.0050


def test_prior_half_bound_solves_entropy_equation():
    for mi in [1e-6, 0.01, 0.2, 0.6]:
        p = mi_to_success_bound(mi)
        entropy = stats.entropy([p, 1.0 - p])
        assert math.log(2.0) - entropy == pytest.approx(mi, rel=1e-9)
        assert p >= 0.5


def test_bound_is_capped_at_one():
    assert mi_to_success_bound(math.log(2.0)) == 1.0
    assert mi_to_success_bound(5.0) == 1.0
    assert mi_to_success_bound(math.inf) == 1.0
    assert mi_to_success_bound(-math.log(0.25), prior=0.25) == 1.0


def test_zero_mi_gives_prior():
    assert mi_to_success_bound(0.0) == 0.5
    assert mi_to_success_bound(0.0, prior=1 / 128) == 1 / 128


def test_general_prior_bound_solves_kl():
    for prior in [1 / 128, 0.1, 0.5, 0.9]:
        for mi in [1e-4, 0.05, 0.5]:
            p = mi_to_success_bound(mi, prior)
            if p == 1.0:
                assert mi >= -math.log(prior)
                continue
            direct = p * math.log(p / prior) + (1.0 - p) * math.log((1.0 - p) / (1.0 - prior))
            assert direct == pytest.approx(mi, rel=1e-8)
            assert p > prior


def test_kl_bernoulli_small_gap_accuracy():
    # KL(p || 1/2) = 2 d^2 + (4/3) d^4 + ... for p = 1/2 + d.
    d = 1e-7
    assert kl_bernoulli(0.5 + d, 0.5) == pytest.approx(2 * d * d, rel=1e-7)


def test_mi_bound_round_trip():
    for prior in [0.5, 0.7, 1 / 16]:
        for mi in [1e-5, 0.01, 0.3]:
            bound = mi_to_success_bound(mi, prior)
            if bound < 1.0:
                assert success_bound_to_mi(bound, prior) == pytest.approx(mi, rel=1e-8)


def test_bound_below_prior_gives_zero_mi():
    assert success_bound_to_mi(0.4) == 0.0
    assert success_bound_to_mi(0.5) == 0.0


def test_dp_bound_prior_half():
    for epsilon in [0.0, 0.1, 1.0, 3.0]:
        assert dp_to_success_bound(epsilon) == pytest.approx(math.exp(epsilon) / (1 + math.exp(epsilon)), rel=1e-14)
    assert dp_to_success_bound(2.0, 1e-5) == pytest.approx((math.exp(2.0) + 1e-5) / (1 + math.exp(2.0)), rel=1e-14)
    assert dp_to_success_bound(800.0) == 1.0
    assert dp_to_success_bound(math.inf) == 1.0


def test_dp_bound_matches_linear_program():
    # Maximise pi (1 - beta) + (1 - pi) (1 - alpha) over the (epsilon, delta)-DP region on a fine grid.
    grid = np.linspace(0.0, 1.0, 1001)
    alpha, beta = np.meshgrid(grid, grid)
    for epsilon, delta, prior in [(0.5, 0.0, 0.5), (1.0, 0.01, 0.5), (0.3, 0.05, 0.8), (2.0, 0.0, 0.2)]:
        feasible = ((1 - beta) <= math.exp(epsilon) * alpha + delta + 1e-12) & (
            (1 - alpha) <= math.exp(epsilon) * beta + delta + 1e-12
        )
        success = prior * (1 - beta) + (1 - prior) * (1 - alpha)
        best = success[feasible].max()
        assert dp_to_success_bound(epsilon, delta, prior) == pytest.approx(best, abs=1e-3)
        assert dp_to_success_bound(epsilon, delta, prior) >= best - 1e-12


def test_epsilon_bound_round_trip():
    for delta in [0.0, 1e-5]:
        for epsilon in [0.05, 1.0, 6.0]:
            bound = dp_to_success_bound(epsilon, delta)
            assert success_bound_to_epsilon(bound, delta) == pytest.approx(epsilon, rel=1e-9)


def test_epsilon_edges():
    assert success_bound_to_epsilon(0.5) == 0.0
    assert success_bound_to_epsilon(0.3) == 0.0
    assert success_bound_to_epsilon(1.0) == math.inf
    assert success_bound_to_epsilon(0.85, prior=0.9) == 0.0


def test_matched_conversions_are_inverse():
    for mi in [0.005, 0.1109, 0.328]:
        epsilon = mi_to_matched_epsilon(mi)
        assert epsilon_to_matched_mi(epsilon) == pytest.approx(mi, rel=1e-8)
    assert mi_to_matched_epsilon(0.1109) == pytest.approx(1.0, abs=1e-3)


def test_conversions_reject_bad_inputs():
    with pytest.raises(ValueError, match="mi_nats must be >= 0"):
        mi_to_success_bound(-0.1)
    with pytest.raises(ValueError, match="prior must be a probability"):
        mi_to_success_bound(0.1, prior=1.0)
    with pytest.raises(ValueError, match="delta must be in"):
        dp_to_success_bound(1.0, delta=1.0)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        dp_to_success_bound(-1.0)
    with pytest.raises(ValueError, match="bound must be a success rate"):
        success_bound_to_mi(1.2)


def test_matching_rejects_prior_below_half():
    with pytest.raises(ValueError, match="prior must be >= 0.5 to match MI with DP"):
        mi_to_matched_epsilon(0.3, prior=1 / 128)
    with pytest.raises(ValueError, match="prior must be >= 0.5 to match MI with DP"):
        epsilon_to_matched_mi(1.0, prior=0.25)


def test_matching_with_prior_above_half():
    # At prior 0.75 the DP bound stays at the trivial 0.75 until (e^eps) / (1 + e^eps) passes it, at eps = log 3.
    assert epsilon_to_matched_mi(math.log(3.0) - 1e-9, prior=0.75) == pytest.approx(0.0, abs=1e-9)
    epsilon = 2.0
    mi = epsilon_to_matched_mi(epsilon, prior=0.75)
    assert mi_to_matched_epsilon(mi, prior=0.75) == pytest.approx(epsilon, rel=1e-8)
