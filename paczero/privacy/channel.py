"""Binary entropy and the binary-input Gaussian channel.

The PAC-MI release adds Gaussian noise to a sign: S in {-1, +1} with
P(S = +1) = q, and the output is Y = S + sigma * N with N ~ N(0, 1)
independent of S. This module computes, in nats,

    I(S; Y) = H(q) - E_Y[ H(P(S = +1 | Y)) ]

and inverts it in sigma.

Derivation used by the code. Write p_s = P(S = s), a = 2 / sigma^2 and
b = 2 / sigma. Conditioning on S = s and substituting Y = s + sigma * n
(the sign of n can be absorbed because N is symmetric) gives

    I = -sum_s p_s E_n[ log(p_s + p_{-s} exp(-a - b n)) ]                 (1)

Two evaluations of (1) keep the absolute error far below 1e-7 over
q in [1e-6, 1 - 1e-6] and sigma in [1e-3, 1e4] (checked against adaptive
quadrature of the mixture density in tests/test_privacy_channel.py):

* sigma < 1: (1) equals H(q) - sum_s p_s E[softplus(X_s)] with
  X_s ~ N(c_s, b^2) and c_s = log(p_{-s} / p_s) - a. The expectation splits
  into E[max(X, 0)] = c Phi(c / b) + b phi(c / b) (closed form) plus
  E[log1p(exp(-|X|))], a smooth bump supported on |x| < 40 that is
  integrated with Gauss-Legendre on each side of its kink at x = 0. A fixed
  Gauss-Hermite rule would miss the sharp kink that the integrand of (1)
  has when sigma is small.
* sigma >= 1: with x_s = p_{-s} * expm1(-a - b n), E_n[x_s] = 0 exactly,
  so I = sum_s p_s E_n[x_s - log1p(x_s)], a sum of non-negative terms
  evaluated with Gauss-Hermite nodes. There is no cancellation, so the
  result keeps its relative accuracy as I -> 0 for huge sigma.

For sigma <= 0.02 the code returns H(q): by Fano's inequality for a binary
input, H(q) - I <= h(Phi(-1/sigma)) < 1e-300 there.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss
from scipy import optimize, special

__all__ = ["binary_entropy", "binary_gaussian_mi", "sigma_for_mi"]

# Gauss-Hermite rule for E[g(N)], N ~ N(0, 1) (probabilists' weight exp(-n^2 / 2)).
_HERMITE_ORDER = 100
_HERMITE_NODES, _HERMITE_WEIGHTS = hermegauss(_HERMITE_ORDER)
_HERMITE_WEIGHTS = _HERMITE_WEIGHTS / math.sqrt(2.0 * math.pi)

# Gauss-Legendre rule on [-1, 1], mapped onto each piece of the bump integral.
_LEGENDRE_ORDER = 64
_LEGENDRE_NODES, _LEGENDRE_WEIGHTS = leggauss(_LEGENDRE_ORDER)

# log1p(exp(-|x|)) < 5e-18 beyond this, and Gaussian mass beyond 10 standard deviations is < 2e-23.
_BUMP_HALF_WIDTH = 40.0
_GAUSS_TAIL_SD = 10.0

_SMALL_SIGMA = 0.02
_FORM_SWITCH_SIGMA = 1.0
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return value


def binary_entropy(q: float) -> float:
    """Return H(q) = -q log q - (1 - q) log(1 - q) in nats, with H(0) = H(1) = 0.

    Computed on min(q, 1 - q), so H(q) == H(1 - q) exactly and tiny q keep
    full relative accuracy.
    """
    q = _check_probability("q", q)
    r = min(q, 1.0 - q)
    return float(-special.xlogy(r, r) - special.xlog1py(1.0 - r, -r))


def _x_minus_log1p(x: np.ndarray, log_one_plus_x: np.ndarray) -> np.ndarray:
    """Return x - log1p(x) given log1p(x), switching to its Taylor series where |x| < 0.01."""
    result = x - log_one_plus_x
    small = np.abs(x) < 1e-2
    if np.any(small):
        xs = x[small]
        # sum_{k=2}^{11} (-1)^k x^k / k in Horner form; the first omitted term is < 1e-17 relative.
        series = np.zeros_like(xs)
        for k in range(11, 1, -1):
            series = series * xs + ((-1.0) ** k) / k
        result[small] = series * xs * xs
    return result


def _mi_large_sigma(p: np.ndarray, sigma: float) -> float:
    """Evaluate sum_s p_s E_n[x_s - log1p(x_s)] with Gauss-Hermite nodes (accurate for sigma >= 1)."""
    a = 2.0 / (sigma * sigma)
    b = 2.0 / sigma
    exponent = -a - b * _HERMITE_NODES
    expm1_term = np.expm1(exponent)
    total = 0.0
    for p_s, p_other in ((p[0], p[1]), (p[1], p[0])):
        x = p_other * expm1_term
        # Near x = -1 (p_other rounds to 1), log1p(x) = log(p_s + p_other exp(exponent)) is taken in log space.
        near_minus_one = x < -0.5
        log_one_plus_x = np.log1p(np.where(near_minus_one, 0.0, x))
        log_one_plus_x[near_minus_one] = np.logaddexp(
            math.log(p_s), math.log(p_other) + exponent[near_minus_one]
        )
        terms = _x_minus_log1p(x, log_one_plus_x)
        total += p_s * float(np.dot(_HERMITE_WEIGHTS, terms))
    return total


def _expected_softplus(c: float, b: float) -> float:
    """Return E[log(1 + exp(X))] for X ~ N(c, b^2), b > 0."""
    z = c / b
    hinge = c * special.ndtr(z) + b * math.exp(-0.5 * z * z) / _SQRT_2PI

    bump = 0.0
    lo_gauss = c - _GAUSS_TAIL_SD * b
    hi_gauss = c + _GAUSS_TAIL_SD * b
    # The bump log1p(exp(-|x|)) has a kink at 0, so each side gets its own rule.
    for lo, hi in ((-_BUMP_HALF_WIDTH, 0.0), (0.0, _BUMP_HALF_WIDTH)):
        lo = max(lo, lo_gauss)
        hi = min(hi, hi_gauss)
        if hi <= lo:
            continue
        half = 0.5 * (hi - lo)
        x = 0.5 * (hi + lo) + half * _LEGENDRE_NODES
        u = (x - c) / b
        density = np.exp(-0.5 * u * u) / (b * _SQRT_2PI)
        bump += half * float(np.dot(_LEGENDRE_WEIGHTS, np.log1p(np.exp(-np.abs(x))) * density))
    return hinge + bump


def _mi_small_sigma(p: np.ndarray, sigma: float, entropy: float) -> float:
    """Evaluate H(q) - sum_s p_s E[softplus(X_s)] (accurate for sigma < 1)."""
    a = 2.0 / (sigma * sigma)
    b = 2.0 / sigma
    log_ratio = math.log(p[1]) - math.log(p[0])
    loss = p[0] * _expected_softplus(log_ratio - a, b) + p[1] * _expected_softplus(-log_ratio - a, b)
    return entropy - loss


def binary_gaussian_mi(q_plus: float, sigma: float) -> float:
    """Return I(S; S + sigma N) in nats for S in {-1, +1} with P(S = +1) = q_plus.

    Edge values: 0 when q_plus is 0 or 1 (S is constant) or sigma is inf;
    H(q_plus) when sigma is 0. The result is clipped to [0, H(q_plus)]. See
    the module docstring for the two evaluation formulas and their accuracy.
    """
    q = _check_probability("q_plus", q_plus)
    sigma = float(sigma)
    if math.isnan(sigma) or sigma < 0.0:
        raise ValueError(f"sigma must be a non-negative noise scale, got {sigma!r}")
    entropy = binary_entropy(q)
    if entropy == 0.0 or math.isinf(sigma):
        return 0.0
    if sigma <= _SMALL_SIGMA:
        return entropy

    # MI is symmetric in q <-> 1 - q; using the smaller one makes it exactly symmetric.
    r = min(q, 1.0 - q)
    p = np.array([r, 1.0 - r])
    with np.errstate(under="ignore"):
        if sigma >= _FORM_SWITCH_SIGMA:
            value = _mi_large_sigma(p, sigma)
        else:
            value = _mi_small_sigma(p, sigma, entropy)
    return float(min(max(value, 0.0), entropy))


def sigma_for_mi(q_plus: float, budget_nats: float) -> float:
    """Return the noise scale sigma with I(S; S + sigma N) = budget_nats.

    The returned sigma is conservative: binary_gaussian_mi(q_plus, sigma) is
    at most budget_nats and, away from the edge cases, below it by at most
    1e-10 relative (tests/test_privacy_channel.py checks this on a grid). Edge results:

    * q_plus is 0 or 1: 0.0, because S is constant and no noise is needed
      (the MI is 0 for every sigma);
    * budget_nats <= 0: inf (no information may be released);
    * budget_nats >= H(q_plus): 0.0 (the budget covers releasing S itself).

    Method: Brent's method on log(sigma), bracketed above by
    sigma_hi = sqrt(4 q (1 - q) / expm1(2 budget)), where the Gaussian-input
    bound I <= log(1 + Var(S) / sigma^2) / 2 guarantees MI <= budget, and
    below by halving sigma until MI >= budget.
    """
    q = _check_probability("q_plus", q_plus)
    budget = float(budget_nats)
    if math.isnan(budget):
        raise ValueError("budget_nats must be a number of nats, got nan")
    entropy = binary_entropy(q)
    if entropy == 0.0:
        return 0.0
    if budget <= 0.0:
        return math.inf
    if budget >= entropy:
        return 0.0

    def excess(log_sigma: float) -> float:
        return binary_gaussian_mi(q, math.exp(log_sigma)) - budget

    variance = 4.0 * q * (1.0 - q)
    log_hi = 0.5 * math.log(variance / math.expm1(2.0 * budget))
    excess_hi = excess(log_hi)
    # The bound is nearly tight for tiny budgets, so rounding can leave MI slightly above budget.
    while excess_hi > 0.0:
        log_hi += 0.01
        excess_hi = excess(log_hi)
    if excess_hi == 0.0:
        return math.exp(log_hi)

    log_lo = log_hi
    excess_lo = excess_hi
    log_floor = math.log(_SMALL_SIGMA)
    # The loop ends because MI = H(q) > budget at sigma = _SMALL_SIGMA.
    while excess_lo < 0.0:
        log_lo = max(log_lo - math.log(2.0), log_floor)
        excess_lo = excess(log_lo)
    if excess_lo == 0.0:
        return math.exp(log_lo)

    log_sigma = optimize.brentq(excess, log_lo, log_hi, xtol=1e-14, rtol=4.0 * np.finfo(float).eps)
    # Step up until MI <= budget, so that the spend charged for this sigma is never below its MI.
    step = 1e-14
    while excess(log_sigma) > 0.0:
        log_sigma += step
        step *= 2.0
    return math.exp(log_sigma)
