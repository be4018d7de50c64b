"""Binary entropy and binary-input Gaussian channel MI, checked against independent integration."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import integrate, stats

from paczero.privacy.channel import binary_entropy, binary_gaussian_mi, sigma_for_mi

Q_GRID = [1e-6, 1e-4, 0.01, 0.1, 0.3, 0.5, 0.77, 0.99, 1 - 1e-6]
SIGMA_GRID = sorted(set(np.logspace(-3, 4, 22).tolist() + [0.15, 0.25, 0.35, 0.5, 0.7, 0.99, 1.0, 1.01, 1.5, 3.0]))


def mi_by_quadrature(q: float, sigma: float) -> float:
    """Return I(S; Y) = sum_s p_s KL(N(s, sigma^2) || mixture), integrated over y with scipy.integrate.quad.

    The mixture density q N(1, sigma^2) + (1 - q) N(-1, sigma^2) is evaluated
    in log space; each KL term is integrated over s +- 14 sigma, outside
    which the Gaussian weight is below 1e-44.
    """
    log_q, log_one_minus_q = math.log(q), math.log1p(-q)
    log_norm = -math.log(sigma) - 0.5 * math.log(2.0 * math.pi)

    def log_gauss(y: float, mean: float) -> float:
        u = (y - mean) / sigma
        return log_norm - 0.5 * u * u

    total = 0.0
    for s, p_s in ((1.0, q), (-1.0, 1.0 - q)):

        def integrand(y: float, s: float = s) -> float:
            log_conditional = log_gauss(y, s)
            log_mixture = np.logaddexp(log_q + log_gauss(y, 1.0), log_one_minus_q + log_gauss(y, -1.0))
            return math.exp(log_conditional) * (log_conditional - log_mixture)

        lo, hi = s - 14.0 * sigma, s + 14.0 * sigma
        points = [0.0] if lo < 0.0 < hi else None
        value, _ = integrate.quad(integrand, lo, hi, points=points, limit=500, epsabs=1e-14, epsrel=1e-12)
        total += p_s * value
    return total


def test_binary_entropy_matches_scipy():
    for q in [1e-6, 0.01, 0.3, 0.5, 0.8, 1 - 1e-6]:
        assert binary_entropy(q) == pytest.approx(stats.entropy([q, 1.0 - q]), rel=1e-9)


def test_binary_entropy_tiny_q_matches_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for q in [1e-300, 1e-100, 1e-12, 1e-9]:
        exact = -mpmath.mpf(q) * mpmath.log(q) - (1 - mpmath.mpf(q)) * mpmath.log1p(-mpmath.mpf(q))
        assert binary_entropy(q) == pytest.approx(float(exact), rel=1e-14)


def test_binary_entropy_edges_and_symmetry():
    assert binary_entropy(0.0) == 0.0
    assert binary_entropy(1.0) == 0.0
    assert binary_entropy(0.5) == pytest.approx(math.log(2.0), rel=1e-15)
    for x in [1e-9, 0.2, 0.4999]:
        # q_high - 1 is exact for q_high in [0.5, 1], so the pair sums to exactly 1.
        q_high = 1.0 - x
        q_low = 1.0 - q_high
        assert binary_entropy(q_low) == binary_entropy(q_high)


def test_binary_entropy_rejects_non_probability():
    for bad in [-0.1, 1.1, float("nan")]:
        with pytest.raises(ValueError, match="q must be a probability"):
            binary_entropy(bad)


def test_mi_matches_quadrature_grid():
    worst = 0.0
    for q in Q_GRID:
        for sigma in SIGMA_GRID:
            difference = abs(binary_gaussian_mi(q, sigma) - mi_by_quadrature(q, sigma))
            worst = max(worst, difference)
            assert difference <= 1e-9, (q, sigma, difference)
    assert worst <= 1e-9


def test_mi_relative_accuracy_at_huge_sigma():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40

    def mi_mpmath(q: float, sigma: float) -> float:
        q, sigma = mpmath.mpf(q), mpmath.mpf(sigma)

        def density(y, mean):
            return mpmath.npdf(y, mean, sigma)

        total = mpmath.mpf(0)
        for s, p_s in ((1, q), (-1, 1 - q)):
            def integrand(y, s=s):
                mixture = q * density(y, 1) + (1 - q) * density(y, -1)
                return density(y, s) * mpmath.log(density(y, s) / mixture)

            total += p_s * mpmath.quad(integrand, [s - 12 * sigma, s, s + 12 * sigma])
        return float(total)

    for q in [1e-6, 0.3, 0.5]:
        for sigma in [5.0, 100.0, 1e4]:
            expected = mi_mpmath(q, sigma)
            assert binary_gaussian_mi(q, sigma) == pytest.approx(expected, rel=1e-8), (q, sigma)


def test_mi_limits():
    for q in [1e-6, 0.3, 0.5]:
        entropy = binary_entropy(q)
        assert binary_gaussian_mi(q, 0.0) == entropy
        assert binary_gaussian_mi(q, 1e-3) == pytest.approx(entropy, abs=1e-15)
        assert binary_gaussian_mi(q, math.inf) == 0.0
        # Large-noise limit: I ~ Var(S) / (2 sigma^2) with Var(S) = 4 q (1 - q).
        assert binary_gaussian_mi(q, 1e6) == pytest.approx(2.0 * q * (1.0 - q) / 1e12, rel=1e-6)


def test_mi_decreases_in_sigma():
    sigmas = np.logspace(-2, 5, 200)
    for q in [1e-5, 0.2, 0.5]:
        values = [binary_gaussian_mi(q, sigma) for sigma in sigmas]
        assert all(later <= earlier for earlier, later in zip(values, values[1:]))


def test_mi_symmetric_in_q():
    for sigma in [0.1, 0.7, 1.0, 20.0]:
        for x in [1e-6, 0.1, 0.45]:
            q_high = 1.0 - x
            assert binary_gaussian_mi(1.0 - q_high, sigma) == binary_gaussian_mi(q_high, sigma)


def test_mi_constant_sign_is_zero():
    for sigma in [0.0, 1e-3, 1.0, 1e4, math.inf]:
        assert binary_gaussian_mi(0.0, sigma) == 0.0
        assert binary_gaussian_mi(1.0, sigma) == 0.0


def test_mi_rejects_bad_inputs():
    with pytest.raises(ValueError, match="sigma must be a non-negative"):
        binary_gaussian_mi(0.5, -1.0)
    with pytest.raises(ValueError, match="sigma must be a non-negative"):
        binary_gaussian_mi(0.5, float("nan"))
    with pytest.raises(ValueError, match="q_plus must be a probability"):
        binary_gaussian_mi(1.5, 1.0)


def test_sigma_for_mi_inverts_mi():
    for q in [1e-6, 1e-3, 0.1, 0.5, 0.8, 1 - 1e-6]:
        entropy = binary_entropy(q)
        for fraction in [1e-9, 1e-6, 1e-3, 0.05, 0.3, 0.7, 0.95, 0.999]:
            budget = fraction * entropy
            sigma = sigma_for_mi(q, budget)
            achieved = binary_gaussian_mi(q, sigma)
            assert 0.0 < sigma < math.inf
            assert achieved <= budget, (q, fraction)
            assert budget - achieved <= 1e-7
            assert budget - achieved <= 1e-10 * budget, (q, fraction, budget - achieved)


def test_sigma_for_mi_matches_quadrature():
    for q, budget in [(0.5, 0.01), (0.2, 0.3), (1e-4, 5e-4), (0.9, 1e-5)]:
        sigma = sigma_for_mi(q, budget)
        assert mi_by_quadrature(q, sigma) == pytest.approx(budget, abs=1e-9)


def test_sigma_for_mi_edges():
    assert sigma_for_mi(0.0, 0.1) == 0.0
    assert sigma_for_mi(1.0, 0.1) == 0.0
    assert sigma_for_mi(1.0, 0.0) == 0.0
    assert sigma_for_mi(0.5, 0.0) == math.inf
    assert sigma_for_mi(0.5, -1.0) == math.inf
    assert sigma_for_mi(0.5, math.log(2.0)) == 0.0
    assert sigma_for_mi(0.5, 10.0) == 0.0
    assert sigma_for_mi(0.5, math.inf) == 0.0
    with pytest.raises(ValueError, match="budget_nats"):
        sigma_for_mi(0.5, float("nan"))


def test_edges_raise_no_floating_point_warnings():
    q_values = [0.0, 1e-300, 1e-12, 1e-6, 0.5, 1 - 1e-12, 1.0]
    sigma_values = [0.0, 1e-300, 1e-3, 0.02, 0.021, 1.0, 1e4, 1e150, 1e300, math.inf]
    budgets = [-1.0, 0.0, 1e-300, 1e-12, 0.1, 0.69, 1.0, math.inf]
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for q in q_values:
            for sigma in sigma_values:
                value = binary_gaussian_mi(q, sigma)
                assert math.isfinite(value)
                assert 0.0 <= value <= binary_entropy(q)
            for budget in budgets:
                sigma = sigma_for_mi(q, budget)
                assert not math.isnan(sigma)
                assert sigma >= 0.0
