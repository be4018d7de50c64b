"""Conversions between an MI budget, (epsilon, delta)-DP and an adversary's success-rate bound.

All MI values are in nats; success rates and priors are probabilities.

MI -> success bound (PAC Privacy; Xiao and Devadas, "PAC Privacy: Automatic
Privacy Measurement and Control of Data Processing", CRYPTO 2023,
arXiv:2210.03458). Let the secret X be guessed from the released output Y,
let pi be the best success rate of any guess that ignores Y, and p the
success rate of a guess made from Y. Applying the data-processing
inequality for KL divergence to the indicator "the guess is correct" gives

    KL(Bern(p) || Bern(pi)) <= I(X; Y).

So with MI budget B the success rate is at most the p >= pi that solves
KL(Bern(p) || Bern(pi)) = B, or 1 once B >= -log(pi). For prior 1/2 this is
ln 2 - H(p) = B. For membership of an example that lies in k of the M
subsets, pi = max(k, M - k) / M; for guessing the secret index itself,
pi = 1 / M.

(epsilon, delta)-DP -> success bound (the hypothesis-testing view of DP,
derived here in full). Let the adversary decide whether a given
example is a member (prior probability pi) with any test, and let
alpha and beta be the test's false-positive and false-negative rates.
(epsilon, delta)-DP forces

    (1 - beta) <= e^eps alpha + delta   and   (1 - alpha) <= e^eps beta + delta.

Maximising the success rate pi (1 - beta) + (1 - pi) (1 - alpha) over this
region (a linear program whose vertices are the trivial tests and the
symmetric point alpha = beta) gives

    p <= max( (e^eps + delta) / (1 + e^eps), pi + (1 - pi) delta, 1 - pi + pi delta ),

capped at 1. For prior 1/2 and delta = 0 this is e^eps / (1 + e^eps).

"Matched" values go through the success bound: an MI budget and an epsilon
are matched when they give the same bound at the same prior. Matching needs
prior >= 1/2, because the DP bound describes a binary membership guess,
whose best prior success rate max(pi, 1 - pi) is then the same pi that the
MI bound uses.
"""

from __future__ import annotations

import math

from scipy import optimize, special

__all__ = [
    "dp_to_success_bound",
    "epsilon_to_matched_mi",
    "kl_bernoulli",
    "mi_to_matched_epsilon",
    "mi_to_success_bound",
    "success_bound_to_epsilon",
    "success_bound_to_mi",
]


def _check_prior(prior: float) -> float:
    prior = float(prior)
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be a probability in (0, 1), got {prior!r}")
    return prior


def _check_matching_prior(prior: float) -> float:
    prior = _check_prior(prior)
    if prior < 0.5:
        raise ValueError(
            f"prior must be >= 0.5 to match MI with DP, got {prior!r}; a binary membership guess has best prior "
            "success rate max(k, M - k) / M for an example in k of M subsets"
        )
    return prior


def _check_nonnegative(name: str, value: float, unit: str) -> float:
    value = float(value)
    if math.isnan(value) or value < 0.0:
        raise ValueError(f"{name} must be >= 0 {unit}, got {value!r}")
    return value


def _check_delta(delta: float) -> float:
    delta = float(delta)
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta!r}")
    return delta


def _check_bound(bound: float) -> float:
    bound = float(bound)
    if not 0.0 <= bound <= 1.0:
        raise ValueError(f"bound must be a success rate in [0, 1], got {bound!r}")
    return bound


def kl_bernoulli(p: float, prior: float) -> float:
    """Return KL(Bern(p) || Bern(prior)) in nats.

    Summed from scipy.special.kl_div terms, which are non-negative, so the
    result keeps its relative accuracy when p is close to prior.
    """
    p = _check_bound(p)
    prior = _check_prior(prior)
    return float(special.kl_div(p, prior) + special.kl_div(1.0 - p, 1.0 - prior))


def mi_to_success_bound(mi_nats: float, prior: float = 0.5) -> float:
    """Return the largest success rate p >= prior with KL(Bern(p) || Bern(prior)) <= mi_nats."""
    mi = _check_nonnegative("mi_nats", mi_nats, "nats")
    prior = _check_prior(prior)
    if mi == 0.0:
        return prior
    if mi >= -math.log(prior) or math.isinf(mi):
        return 1.0
    return float(optimize.brentq(lambda p: kl_bernoulli(p, prior) - mi, prior, 1.0, xtol=1e-15, rtol=1e-15))


def success_bound_to_mi(bound: float, prior: float = 0.5) -> float:
    """Return the MI in nats whose success bound is `bound`: KL(Bern(bound) || Bern(prior)), 0 below prior."""
    bound = _check_bound(bound)
    prior = _check_prior(prior)
    if bound <= prior:
        return 0.0
    return kl_bernoulli(bound, prior)


def dp_to_success_bound(epsilon: float, delta: float = 0.0, prior: float = 0.5) -> float:
    """Return the success-rate bound of (epsilon, delta)-DP for a membership bit with P(member) = prior."""
    epsilon = _check_nonnegative("epsilon", epsilon, "")
    delta = _check_delta(delta)
    prior = _check_prior(prior)
    if math.isinf(epsilon):
        return 1.0
    # (e^eps + delta) / (1 + e^eps), written with exp(-eps) so large epsilon cannot overflow.
    decay = math.exp(-epsilon)
    symmetric = (1.0 + delta * decay) / (1.0 + decay)
    trivial = max(prior + (1.0 - prior) * delta, 1.0 - prior + prior * delta)
    return min(1.0, max(symmetric, trivial))


def success_bound_to_epsilon(bound: float, delta: float = 0.0, prior: float = 0.5) -> float:
    """Return the smallest epsilon >= 0 whose DP success bound reaches `bound` (inf if none does).

    Inverts (e^eps + delta) / (1 + e^eps) = bound, i.e.
    eps = log((bound - delta) / (1 - bound)); returns 0 when the bound at
    epsilon = 0 already reaches `bound`.
    """
    bound = _check_bound(bound)
    delta = _check_delta(delta)
    prior = _check_prior(prior)
    if bound <= dp_to_success_bound(0.0, delta, prior):
        return 0.0
    if bound >= 1.0:
        return math.inf
    return math.log((bound - delta) / (1.0 - bound))


def mi_to_matched_epsilon(mi_nats: float, delta: float = 0.0, prior: float = 0.5) -> float:
    """Return the epsilon whose DP success bound equals the MI success bound of `mi_nats` (prior >= 0.5)."""
    prior = _check_matching_prior(prior)
    return success_bound_to_epsilon(mi_to_success_bound(mi_nats, prior), delta, prior)


def epsilon_to_matched_mi(epsilon: float, delta: float = 0.0, prior: float = 0.5) -> float:
    """Return the MI in nats whose success bound equals the DP success bound of (epsilon, delta) (prior >= 0.5)."""
    prior = _check_matching_prior(prior)
    return success_bound_to_mi(dp_to_success_bound(epsilon, delta, prior), prior)
