"""Empirical membership-inference audit of the PAC-MI and PAC-ZPL releases.

Threat model. The training set of N examples is covered by M candidate
subsets, given by the membership matrix X (N, M) with X[i, m] True when
example i is in subset m. A secret index m*, uniform on {0, ..., M-1},
picks the subset that trains. The adversary knows the data, X and every
subset's sign s[t, m] at every release t (a fixed sign stream of shape
(T*K, M) for T steps of K directions), but not m*. It observes exactly the
mechanism's public output of each release, whose likelihood given m* = m is:

* noisy (PAC-MI): r = s[t, m*] + sigma_t * xi with xi ~ N(0, 1). sigma_t is
  public because it is a function of the public posterior and the budget.
  The likelihood is proportional to exp(-(r - s[t, m])^2 / (2 sigma_t^2)).
* exact (PAC-MI free release, PAC-ZPL release of a common sign, the
  non-private ablation `quant_half`): y = s[t, m*], with likelihood
  1[s[t, m] = y].
* coin (PAC-MI once the budget is spent, PAC-ZPL when the signs disagree,
  the ablation `random_sign`): a fair coin drawn independently of m*, so
  the likelihood is 1/2 for every m and the release carries no information.

The adversary's posterior is the exact Bayes posterior
p(m | transcript) ∝ prod_t likelihood_t(m) under the uniform prior. For
each example it forms P_i = sum_m p(m) X[i, m], the posterior probability
that example i is in the secret subset S_{m*}, and guesses "member" when
P_i > 1/2, "non-member" when P_i < 1/2 and flips a fair coin when
|P_i - 1/2| <= 1e-12. This MAP rule maximises the expected number of
correct guesses, whatever the prior k_i / M of example i (k_i is the number
of subsets that contain it). It also guesses m* itself as the posterior's
mode, ties broken uniformly.

Bounds (see `paczero.privacy.conversions`). Each release leaks at most its
spend beta_t about m* given the earlier releases, so by the chain rule
I(m*; transcript) <= B, the run's budget in nats, and the membership bit
X[i, m*] is a function of m*, so I(X[i, m*]; transcript) <= B. The success
rate of any guess of example i's membership is then at most
mi_to_success_bound(B, pi_i) with pi_i = max(k_i, M - k_i) / M, and the
reported membership bound is the mean of these over the examples (1/2-prior
bound mi_to_success_bound(B, 0.5) when every example is in M/2 subsets).
PAC-ZPL and `random_sign` leak 0 nats, so their bound is the prior success
rate itself; `quant_half` has no bound (1). The secret-index guess is
bounded by mi_to_success_bound(B, 1/M).

Statistics. Replays are independent (fresh secret index, noise and coins on
the same sign stream), but the N guesses within one replay share m* and are
not. The membership success rate is therefore the mean of the per-replay
success rates, with a two-sided Student-t confidence interval over the
replays: mean ± t_{(1+c)/2, R-1} * sd / sqrt(R) for R replays at
confidence c. The secret-index success is one Bernoulli trial per replay,
with a Wilson score interval.

The audit treats the sign stream as fixed. In training the stream depends
on m* through the released updates, which the privacy analysis covers as
well, so a fixed stream audits one realisation of the data-dependent
quantities. The adversary uses the likelihoods documented above, so the
audit tests the calibration of the noise and of the budget, not a
deviation of the release functions from that documented behaviour.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from scipy import special, stats

from paczero.privacy.conversions import mi_to_success_bound
from paczero.privacy.mechanism import ABLATIONS, PrivacyEngine

logger = logging.getLogger(__name__)

__all__ = [
    "AUDITED_ABLATIONS",
    "AUDITED_METHODS",
    "AuditResult",
    "MechanismSpec",
    "Transcript",
    "adversary_posterior",
    "guess_membership",
    "guess_secret_index",
    "log_likelihood",
    "mean_interval",
    "membership_prior",
    "membership_probabilities",
    "read_audit_csv",
    "replay_transcript",
    "run_audit",
    "run_budget_sweep",
    "synthetic_signs",
    "wilson_interval",
    "worst_case_signs",
    "write_audit_csv",
]

AUDITED_METHODS = ("pacmi", "paczpl", "nonprivate")
# Non-private ablations whose release is a function of the signs alone.
AUDITED_ABLATIONS = ("quant_half", "random_sign")
TIE_TOLERANCE = 1e-12

# Kinds of public output in a transcript.
NOISY = 0
EXACT = 1
COIN = 2


# ---------------------------------------------------------------------------
# Sign streams
# ---------------------------------------------------------------------------


def synthetic_signs(num_releases: int, num_subsets: int, agreement: float, rng: np.random.Generator) -> np.ndarray:
    """Return a random sign stream of shape (num_releases, num_subsets), values +-1.0.

    Each release draws a fair common sign c, and each subset's sign equals c
    independently with probability `agreement` (1: every release unanimous;
    1/2: independent fair signs).
    """
    _check_positive_int("num_releases", num_releases)
    _check_subsets(num_subsets)
    agreement = float(agreement)
    if not 0.0 <= agreement <= 1.0:
        raise ValueError(f"agreement must be a probability in [0, 1], got {agreement!r}")
    common = np.where(rng.random((num_releases, 1)) < 0.5, 1.0, -1.0)
    agrees = rng.random((num_releases, num_subsets)) < agreement
    return np.where(agrees, common, -common)


def worst_case_signs(num_releases: int, num_subsets: int, rng: np.random.Generator) -> np.ndarray:
    """Return a sign stream in which exactly one subset disagrees with all others at every release.

    The dissenting subset runs through a random permutation of the M
    subsets, repeated, and the common sign is a fair coin per release. Each
    release then tests whether m* is the dissenting subset, the question
    whose answer identifies m* fastest, so a budget buys the most
    membership information on this stream.
    """
    _check_positive_int("num_releases", num_releases)
    _check_subsets(num_subsets)
    common = np.where(rng.random(num_releases) < 0.5, 1.0, -1.0)
    signs = np.repeat(common[:, None], num_subsets, axis=1)
    order = np.concatenate([rng.permutation(num_subsets) for _ in range(-(-num_releases // num_subsets))])
    rows = np.arange(num_releases)
    signs[rows, order[:num_releases]] = -common
    return signs


# ---------------------------------------------------------------------------
# The mechanism under audit
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MechanismSpec:
    """The release mechanism to replay: the PrivacyEngine arguments other than M, m* and rng.

    `total_steps` None means the stream's length divided by `directions`.
    `budget_nats` is read only by pacmi.
    """

    method: str
    budget_nats: float = 0.0
    total_steps: int | None = None
    directions: int = 1
    budget_schedule: str = "adaptive"
    ablation: str = "none"

    def __post_init__(self) -> None:
        if self.method not in AUDITED_METHODS:
            raise ValueError(
                f"method {self.method!r} cannot be audited; use one of {', '.join(AUDITED_METHODS)} "
                "(the DP baselines have no secret subset index)"
            )
        if self.ablation not in ABLATIONS:
            raise ValueError(f"ablation must be one of {ABLATIONS}, got {self.ablation!r}")
        if self.method == "nonprivate" and self.ablation not in AUDITED_ABLATIONS:
            raise ValueError(
                f"ablation {self.ablation!r} releases more than the subset signs; the audit covers the "
                f"non-private ablations {', '.join(AUDITED_ABLATIONS)}"
            )
        if self.method == "pacmi" and not (math.isfinite(self.budget_nats) and self.budget_nats > 0.0):
            raise ValueError(f"budget_nats must be a finite number of nats > 0 for pacmi, got {self.budget_nats!r}")
        _check_positive_int("directions", self.directions)
        if self.total_steps is not None:
            _check_positive_int("total_steps", self.total_steps)

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any], budget_nats: float | None = None) -> "MechanismSpec":
        """Return the spec of a run's recipe; `budget_nats` replaces the recipe's budget (pacmi)."""
        budget = recipe.get("budget_nats", 0.0) if budget_nats is None else budget_nats
        return cls(
            method=recipe["method"],
            budget_nats=float(budget or 0.0),
            total_steps=int(recipe["steps"]),
            directions=int(recipe.get("directions", 1)),
            budget_schedule=recipe.get("budget_schedule", "adaptive"),
            ablation=recipe.get("ablation", "none") or "none",
        )

    def steps_for(self, num_releases: int) -> int:
        """Return the number of steps the engine is configured for on a stream of `num_releases`."""
        if self.total_steps is not None:
            return self.total_steps
        return max(1, num_releases // self.directions)


@dataclass
class Transcript:
    """The public output of one replay, one entry per release made, and the spend it cost.

    `kinds` contains NOISY, EXACT or COIN. `values` is r for a noisy
    release, y for an exact one and NaN for a coin. `sigmas` is sigma_t for
    noisy releases and NaN otherwise. `spent_nats` is the replay's total
    spend.
    """

    kinds: np.ndarray
    values: np.ndarray
    sigmas: np.ndarray
    spent_nats: float

    def __len__(self) -> int:
        return int(self.kinds.size)


def _public_output(record: dict[str, Any], ablation: str) -> tuple[int, float, float]:
    """Return (kind, value, sigma) of one engine release record: only what the mechanism publishes."""
    kind = record["release"]
    if kind == "noisy":
        return NOISY, float(record["noisy_value"]), float(record["sigma"])
    if kind == "free":
        return EXACT, float(record["released"]), math.nan
    if kind == "coin":
        return COIN, math.nan, math.nan
    if kind == "nonprivate":
        # MechanismSpec admits two ablations: quant_half releases s_{m*}, random_sign a coin.
        if ablation == "quant_half":
            return EXACT, float(record["released"]), math.nan
        return COIN, math.nan, math.nan
    raise ValueError(f"release kind {kind!r} is unknown; expected noisy, free, coin or nonprivate")


@contextlib.contextmanager
def _quiet_engine_log():
    """Hide the engine's per-run INFO messages (budget exhausted), which every replay would repeat."""
    engine_logger = logging.getLogger(PrivacyEngine.__module__)
    level = engine_logger.level
    engine_logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        engine_logger.setLevel(level)


def replay_transcript(
    signs: np.ndarray, spec: MechanismSpec, secret_index: int, rng: np.random.Generator
) -> Transcript:
    """Run the real PrivacyEngine on a fixed sign stream with secret index m*; return its transcript.

    The signs are passed to `PrivacyEngine.release` as the subset means, so
    the engine's signs are the stream's. Steps run until the stream ends or,
    for pacmi, until the budget is exhausted, as in training.
    """
    signs = _check_signs(signs)
    num_releases, num_subsets = signs.shape
    total_steps = spec.steps_for(num_releases)
    engine = PrivacyEngine(
        method=spec.method,
        num_subsets=num_subsets,
        budget_nats=spec.budget_nats if spec.method == "pacmi" else 0.0,
        total_steps=total_steps,
        directions=spec.directions,
        budget_schedule=spec.budget_schedule,
        ablation=spec.ablation,
        secret_index=int(secret_index),
        rng=rng,
    )
    outputs: list[tuple[int, float, float]] = []
    with _quiet_engine_log():
        for step in range(min(total_steps, num_releases // spec.directions)):
            if engine.exhausted:
                break
            engine.begin_step(step)
            for k in range(spec.directions):
                row = signs[step * spec.directions + k]
                _, record = engine.release(row, None)
                outputs.append(_public_output(record, spec.ablation))
            engine.end_step()
    if outputs:
        kinds, values, sigmas = (np.asarray(column) for column in zip(*outputs))
    else:
        kinds, values, sigmas = np.zeros(0, dtype=int), np.zeros(0), np.zeros(0)
    return Transcript(kinds.astype(np.int8), values.astype(np.float64), sigmas.astype(np.float64), engine.spent)


# ---------------------------------------------------------------------------
# The adversary
# ---------------------------------------------------------------------------


def log_likelihood(signs: np.ndarray, transcript: Transcript) -> np.ndarray:
    """Return log P(transcript | m* = m) for every m, up to a constant that does not depend on m.

    Noisy releases add -(r - s[t, m])^2 / (2 sigma_t^2), exact releases add
    -inf where s[t, m] differs from y, and coins add nothing. Release t of
    the transcript corresponds to row t of `signs`.
    """
    signs = _check_signs(signs)
    if len(transcript) > signs.shape[0]:
        raise ValueError(f"the transcript has {len(transcript)} releases but the sign stream only {signs.shape[0]}")
    used = signs[: len(transcript)]
    result = np.zeros(signs.shape[1])

    noisy = transcript.kinds == NOISY
    if np.any(noisy):
        residual = transcript.values[noisy, None] - used[noisy]
        result -= np.sum(residual**2 / (2.0 * transcript.sigmas[noisy, None] ** 2), axis=0)

    exact = transcript.kinds == EXACT
    if np.any(exact):
        contradicted = np.any(used[exact] != transcript.values[exact, None], axis=0)
        result[contradicted] = -np.inf
    return result


def adversary_posterior(signs: np.ndarray, transcript: Transcript) -> np.ndarray:
    """Return the Bayes posterior over m* given the transcript, under the uniform prior."""
    log_like = log_likelihood(signs, transcript)
    if np.all(np.isneginf(log_like)):
        raise ValueError(
            "the transcript contradicts every subset's signs; the transcript and the sign stream do not belong together"
        )
    return np.exp(log_like - special.logsumexp(log_like))


def membership_probabilities(posterior: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Return P_i = sum_m p(m) X[i, m], the posterior probability that example i is in S_{m*}."""
    members = _check_members(members, np.asarray(posterior).size)
    return members.astype(np.float64) @ np.asarray(posterior, dtype=np.float64)


def guess_membership(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return the MAP membership guesses: P_i > 1/2 member, P_i < 1/2 non-member, a fair coin within 1e-12 of 1/2."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    guesses = probabilities > 0.5
    ties = np.abs(probabilities - 0.5) <= TIE_TOLERANCE
    guesses[ties] = rng.random(int(np.count_nonzero(ties))) < 0.5
    return guesses


def guess_secret_index(posterior: np.ndarray, rng: np.random.Generator) -> int:
    """Return the posterior's mode, ties (within 1e-12 relative) broken uniformly."""
    posterior = np.asarray(posterior, dtype=np.float64)
    top = posterior.max()
    candidates = np.flatnonzero(posterior >= top * (1.0 - TIE_TOLERANCE))
    return int(candidates[rng.integers(candidates.size)])


def membership_prior(members: np.ndarray) -> np.ndarray:
    """Return each example's best success rate without observations, max(k_i, M - k_i) / M."""
    members = np.asarray(members, dtype=bool)
    counts = members.sum(axis=1)
    num_subsets = members.shape[1]
    return np.maximum(counts, num_subsets - counts) / num_subsets


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Return the two-sided Student-t interval mean ± t_{(1+c)/2, n-1} * sd / sqrt(n) of independent values."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        raise ValueError(f"a confidence interval needs at least 2 replays, got {values.size}")
    _check_confidence(confidence)
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + 0.5 * confidence, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean - half, mean + half


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion successes / trials."""
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    _check_confidence(confidence)
    z = float(stats.norm.ppf(0.5 + 0.5 * confidence))
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # The exact interval ends at 0 (no successes) and 1 (no failures); rounding would miss them by ~1e-18.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


# ---------------------------------------------------------------------------
# The audit
# ---------------------------------------------------------------------------


@dataclass
class AuditResult:
    """Outcome of `run_audit`: one CSV row. Rates are probabilities, budgets and spends nats.

    `within_bound` is success_ci_low <= bound, `contains_prior` is
    success_ci_low <= prior_success <= success_ci_high, and
    `index_within_bound` is index_ci_low <= index_bound.
    """

    source: str
    method: str
    ablation: str
    budget_nats: float
    budget_schedule: str
    directions: int
    num_subsets: int
    num_examples: int
    num_releases: int
    replays: int
    seed: int
    confidence: float
    success_rate: float
    success_ci_low: float
    success_ci_high: float
    prior_success: float
    bound: float
    within_bound: bool
    contains_prior: bool
    mean_spent_nats: float
    bound_at_mean_spent: float
    index_success_rate: float
    index_ci_low: float
    index_ci_high: float
    index_bound: float
    index_within_bound: bool
    mean_releases_seen: float
    mean_noisy_releases: float
    mean_exact_releases: float
    mean_coin_releases: float

    def summary_line(self) -> str:
        """Return a one-line verdict with the success rate, its interval and the bound."""
        verdict = "within bound" if self.within_bound else "ABOVE BOUND"
        return (
            f"{self.source}: {self.method} B={self.budget_nats:.4g} nats, {self.replays} replays x "
            f"{self.num_examples} examples: success {self.success_rate:.4f} "
            f"[{self.success_ci_low:.4f}, {self.success_ci_high:.4f}] vs bound {self.bound:.4f} "
            f"(prior {self.prior_success:.4f}): {verdict}"
        )


def membership_bound(spec: MechanismSpec, members: np.ndarray, mi_nats: float | None = None) -> float:
    """Return the mean over examples of the success-rate bound of the membership guess.

    pacmi: mi_to_success_bound(mi_nats, pi_i) with mi_nats defaulting to the
    budget; paczpl and random_sign: the prior pi_i (0 nats leak); quant_half: 1.
    """
    priors = membership_prior(members)
    if spec.method == "nonprivate" and spec.ablation == "quant_half":
        return 1.0
    if spec.method == "pacmi":
        mi = spec.budget_nats if mi_nats is None else float(mi_nats)
        bounds = [_bound_at_prior(mi, prior) for prior in priors]
        return float(np.mean(bounds))
    return float(np.mean(priors))


def index_bound(spec: MechanismSpec, num_subsets: int, mi_nats: float | None = None) -> float:
    """Return the success-rate bound of guessing m* itself (prior 1/M)."""
    if spec.method == "nonprivate" and spec.ablation == "quant_half":
        return 1.0
    if spec.method == "pacmi":
        return mi_to_success_bound(spec.budget_nats if mi_nats is None else mi_nats, 1.0 / num_subsets)
    return 1.0 / num_subsets


def run_audit(
    signs: np.ndarray,
    members: np.ndarray,
    spec: MechanismSpec,
    replays: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    source: str = "",
    workers: int = 1,
) -> AuditResult:
    """Replay the mechanism `replays` times with fresh secret indices and attack each transcript.

    Replay j uses np.random.SeedSequence(seed).spawn(replays)[j], split into
    the secret index draw, the engine's noise and coins, and the adversary's
    tie-breaking coins. So a result is a deterministic function of `seed`,
    whatever the number of worker processes (`workers` > 1 runs replays in
    a process pool).
    """
    signs = _check_signs(signs)
    members = _check_members(members, signs.shape[1])
    if replays < 2:
        raise ValueError(f"replays must be >= 2 to give a confidence interval, got {replays}")
    if signs.shape[0] < spec.directions:
        raise ValueError(
            f"the sign stream has {signs.shape[0]} releases, fewer than one step of {spec.directions} directions"
        )
    num_subsets = signs.shape[1]

    children = np.random.SeedSequence(seed).spawn(replays)
    tasks = [(signs, members, spec, child) for child in children]
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(_attack_one_replay, tasks, chunksize=max(1, replays // (4 * workers))))
    else:
        outcomes = [_attack_one_replay(task) for task in tasks]
    rates = np.array([outcome[0] for outcome in outcomes])
    index_hits = sum(outcome[1] for outcome in outcomes)
    spends = np.array([outcome[2] for outcome in outcomes])
    counts = np.array([outcome[3] for outcome in outcomes])

    low, high = mean_interval(rates, confidence)
    index_low, index_high = wilson_interval(index_hits, replays, confidence)
    prior = float(np.mean(membership_prior(members)))
    bound = membership_bound(spec, members)
    secret_bound = index_bound(spec, num_subsets)
    result = AuditResult(
        source=source,
        method=spec.method,
        ablation=spec.ablation,
        budget_nats=spec.budget_nats if spec.method == "pacmi" else 0.0,
        budget_schedule=spec.budget_schedule,
        directions=spec.directions,
        num_subsets=num_subsets,
        num_examples=members.shape[0],
        num_releases=signs.shape[0],
        replays=replays,
        seed=seed,
        confidence=confidence,
        success_rate=float(rates.mean()),
        success_ci_low=low,
        success_ci_high=high,
        prior_success=prior,
        bound=bound,
        within_bound=bool(low <= bound),
        contains_prior=bool(low <= prior <= high),
        mean_spent_nats=float(spends.mean()),
        bound_at_mean_spent=membership_bound(spec, members, float(spends.mean())),
        index_success_rate=index_hits / replays,
        index_ci_low=index_low,
        index_ci_high=index_high,
        index_bound=secret_bound,
        index_within_bound=bool(index_low <= secret_bound),
        mean_releases_seen=float(counts.sum(axis=1).mean()),
        mean_noisy_releases=float(counts[:, NOISY].mean()),
        mean_exact_releases=float(counts[:, EXACT].mean()),
        mean_coin_releases=float(counts[:, COIN].mean()),
    )
    logger.info("audit %s", result.summary_line())
    return result


def _attack_one_replay(task: tuple) -> tuple[float, int, float, np.ndarray]:
    """Run one replay and attack it; returns (membership success rate, index hit, spend, release counts)."""
    signs, members, spec, child = task
    secret_rng, mechanism_rng, adversary_rng = (np.random.default_rng(s) for s in child.spawn(3))
    secret = int(secret_rng.integers(signs.shape[1]))
    transcript = replay_transcript(signs, spec, secret, mechanism_rng)
    posterior = adversary_posterior(signs, transcript)
    guesses = guess_membership(membership_probabilities(posterior, members), adversary_rng)
    rate = float(np.mean(guesses == members[:, secret]))
    hit = int(guess_secret_index(posterior, adversary_rng) == secret)
    counts = np.bincount(transcript.kinds, minlength=3)[:3]
    return rate, hit, transcript.spent_nats, counts


def run_budget_sweep(
    signs: np.ndarray,
    members: np.ndarray,
    spec: MechanismSpec,
    budgets: Iterable[float],
    replays: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    source: str = "",
    workers: int = 1,
) -> list[AuditResult]:
    """Run `run_audit` for a pacmi spec at each budget (nats), with the same seed for every budget."""
    if spec.method != "pacmi":
        raise ValueError(f"a budget sweep needs method 'pacmi', got {spec.method!r}")
    return [
        run_audit(
            signs, members, dataclasses.replace(spec, budget_nats=float(budget)), replays, seed, confidence, source, workers
        )
        for budget in budgets
    ]


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

CSV_FIELDS = tuple(field.name for field in dataclasses.fields(AuditResult))


def write_audit_csv(results: Iterable[AuditResult], path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write one row per result; `extra` adds the same leading columns (e.g. the cell id) to every row."""
    extra = dict(extra or {})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*extra, *CSV_FIELDS])
        writer.writeheader()
        for result in results:
            writer.writerow({**extra, **dataclasses.asdict(result)})


def read_audit_csv(path: str | Path) -> list[dict[str, Any]]:
    """Return the rows of an audit CSV with numbers and booleans converted back."""
    types = {field.name: field.type for field in dataclasses.fields(AuditResult)}
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                kind = types.get(key)
                if kind == "bool":
                    row[key] = value == "True"
                elif kind == "int":
                    row[key] = int(value)
                elif kind == "float":
                    row[key] = float(value)
                else:
                    row[key] = value
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def _bound_at_prior(mi_nats: float, prior: float) -> float:
    return 1.0 if prior >= 1.0 else mi_to_success_bound(mi_nats, prior)


def _check_positive_int(name: str, value: int) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_subsets(num_subsets: int) -> None:
    if int(num_subsets) != num_subsets or num_subsets < 2 or num_subsets % 2:
        raise ValueError(f"num_subsets must be even and >= 2, got {num_subsets!r}")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")


def _check_signs(signs: np.ndarray) -> np.ndarray:
    signs = np.asarray(signs, dtype=np.float64)
    if signs.ndim != 2 or signs.shape[0] < 1:
        raise ValueError(f"signs must be a (releases, M) matrix with at least one release, got shape {signs.shape}")
    _check_subsets(signs.shape[1])
    if not np.all(np.abs(signs) == 1.0):
        raise ValueError("signs must contain only +1.0 and -1.0; map subset means m to +1 if m >= 0 else -1")
    return signs


def _check_members(members: np.ndarray, num_subsets: int) -> np.ndarray:
    members = np.asarray(members)
    if members.dtype != bool:
        raise ValueError(f"members must be a boolean (N, M) matrix, got dtype {members.dtype}")
    if members.ndim != 2 or members.shape[1] != num_subsets or members.shape[0] < 1:
        raise ValueError(f"members must have shape (N, {num_subsets}) with N >= 1, got {members.shape}")
    return members
