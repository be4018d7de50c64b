"""Release functions and PrivacyEngine: budget safety, posterior updates, ZPL independence, resume."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from paczero.privacy.channel import binary_entropy, binary_gaussian_mi, sigma_for_mi
from paczero.privacy.mechanism import (
    ENTROPY_CAP_FRACTION,
    PER_RELEASE_FIELDS,
    PrivacyEngine,
    release_nonprivate,
    release_pacmi,
    release_paczpl,
    subset_signs,
)


def uniform_log_posterior(num_subsets: int) -> np.ndarray:
    return np.full(num_subsets, -math.log(num_subsets))


def subset_mean_stream(seed: int, num_subsets: int, unanimous_fraction: float, bias: float = 0.0):
    """Yield random subset means; a `unanimous_fraction` of them share one sign."""
    rng = np.random.default_rng(seed)
    while True:
        means = rng.normal(bias, 1.0, num_subsets)
        if rng.random() < unanimous_fraction:
            means = np.abs(means) * (1.0 if rng.random() < 0.5 else -1.0)
        yield means


def run_engine(engine: PrivacyEngine, stream, steps: int | None = None):
    """Run the engine until its last step or exhaustion; returns step records and per-release traces."""
    step_records, traces = [], []
    for step in range(engine.total_steps if steps is None else steps):
        if engine.exhausted:
            break
        engine.begin_step(step)
        for _ in range(engine.directions):
            means = next(stream)
            before = engine.log_posterior
            coefficient, record = engine.release(means, float(np.mean(means)))
            traces.append({"means": means, "before": before, "after": engine.log_posterior,
                           "coefficient": coefficient, "record": record})
        step_records.append(engine.end_step())
    return step_records, traces


# ---------------------------------------------------------------------------
# Pure release functions
# ---------------------------------------------------------------------------


def test_subset_signs_zero_is_plus():
    signs = subset_signs(np.array([-0.5, 0.0, 2.0, -0.0]))
    assert signs.tolist() == [-1.0, 1.0, 1.0, 1.0]


def test_pacmi_free_release_when_posterior_unanimous():
    signs = np.array([1.0, 1.0, -1.0, -1.0])
    log_posterior = np.log(np.array([0.5, 0.5, 1e-14, 1e-14]))
    log_posterior -= special.logsumexp(log_posterior)
    rng = np.random.default_rng(0)
    state_before = json.dumps(rng.bit_generator.state)

    result = release_pacmi(signs, log_posterior, 2, 0.1, rng)

    assert result.coefficient == -1.0
    assert result.spend == 0.0
    assert result.log_posterior is log_posterior
    assert result.record["release"] == "free"
    assert result.record["unanimous_posterior"] is True
    assert result.record["sigma"] is None
    assert json.dumps(rng.bit_generator.state) == state_before


def test_pacmi_noisy_release_values():
    signs = np.array([1.0, -1.0, 1.0, 1.0])
    log_posterior = uniform_log_posterior(4)
    result = release_pacmi(signs, log_posterior, 1, 0.05, np.random.default_rng(1))
    record = result.record

    assert record["q_plus"] == pytest.approx(0.75, rel=1e-15)
    assert record["num_plus"] == 3
    assert record["release"] == "noisy"
    assert result.spend == 0.05
    assert record["sigma"] == sigma_for_mi(0.75, 0.05)
    assert result.coefficient == (1.0 if record["noisy_value"] >= 0.0 else -1.0)
    expected_noise = np.random.default_rng(1).standard_normal()
    assert record["noisy_value"] == pytest.approx(-1.0 + record["sigma"] * expected_noise, rel=1e-15)


def test_pacmi_entropy_cap_binds():
    signs = np.array([1.0, -1.0, -1.0, -1.0])
    result = release_pacmi(signs, uniform_log_posterior(4), 0, 10.0, np.random.default_rng(2))
    cap = ENTROPY_CAP_FRACTION * binary_entropy(0.25)
    assert result.spend == cap
    assert result.record["beta"] == 10.0
    assert result.record["beta_cap"] == cap
    assert binary_gaussian_mi(0.25, result.record["sigma"]) <= cap


def test_pacmi_coin_without_remaining_budget():
    signs = np.array([1.0, -1.0])
    log_posterior = uniform_log_posterior(2)
    result = release_pacmi(signs, log_posterior, 0, 0.1, np.random.default_rng(3), remaining_nats=0.0)
    assert result.record["release"] == "coin"
    assert result.spend == 0.0
    assert result.coefficient in (-1.0, 1.0)
    assert result.log_posterior is log_posterior


def test_paczpl_common_sign_when_unanimous():
    for sign in (1.0, -1.0):
        signs = np.full(6, sign)
        result = release_paczpl(signs, uniform_log_posterior(6), 4, np.random.default_rng(0))
        assert result.coefficient == sign
        assert result.record["release"] == "free"
        assert result.spend == 0.0


def test_paczpl_coin_when_signs_disagree():
    signs = np.array([1.0, 1.0, 1.0, -1.0])
    coins = {release_paczpl(signs, uniform_log_posterior(4), 0, np.random.default_rng(seed)).coefficient
             for seed in range(20)}
    assert coins == {-1.0, 1.0}


def test_nonprivate_ablation_table():
    means = np.array([0.3, -0.2, 0.5, -0.7])
    full_mean = -0.05
    log_posterior = uniform_log_posterior(4)
    expected = {
        "none": -0.05,
        "raw_full": -0.05,
        "quant_full": -1.0,
        "raw_half": -0.2,
        "quant_half": -1.0,
    }
    for ablation, value in expected.items():
        result = release_nonprivate(ablation, means, full_mean, log_posterior, 1, np.random.default_rng(0))
        assert result.coefficient == value, ablation
        assert result.spend == 0.0
        assert result.record["release"] == "nonprivate"
    coins = {release_nonprivate("random_sign", means, full_mean, log_posterior, 1, np.random.default_rng(seed)).coefficient
             for seed in range(20)}
    assert coins == {-1.0, 1.0}


def test_nonprivate_rejects_missing_inputs():
    log_posterior = uniform_log_posterior(4)
    with pytest.raises(ValueError, match="needs full_mean"):
        release_nonprivate("raw_full", None, None, log_posterior, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs subset_means"):
        release_nonprivate("raw_half", None, 0.1, log_posterior, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="ablation must be one of"):
        release_nonprivate("half", None, 0.1, log_posterior, 0, np.random.default_rng(0))


# ---------------------------------------------------------------------------
# Properties over random sign streams
# ---------------------------------------------------------------------------

engine_cases = st.fixed_dictionaries({
    "num_subsets": st.sampled_from([2, 4, 8, 16]),
    "steps": st.integers(min_value=1, max_value=25),
    "directions": st.integers(min_value=1, max_value=4),
    "budget": st.floats(min_value=1e-4, max_value=5.0),
    "schedule": st.sampled_from(["uniform", "adaptive"]),
    "seed": st.integers(min_value=0, max_value=2**32 - 1),
    "unanimous_fraction": st.sampled_from([0.0, 0.3, 0.8]),
    "bias": st.sampled_from([0.0, 0.5]),
})


@settings(max_examples=40, deadline=None)
@given(case=engine_cases)
def test_pacmi_never_exceeds_budget(case):
    engine = PrivacyEngine("pacmi", case["num_subsets"], case["budget"], case["steps"], case["directions"],
                           case["schedule"], "none", None, np.random.default_rng(case["seed"]))
    stream = subset_mean_stream(case["seed"], case["num_subsets"], case["unanimous_fraction"], case["bias"])
    step_records, traces = run_engine(engine, stream)

    spends = [trace["record"]["spent"] for trace in traces]
    assert sum(Fraction(spend) for spend in spends) <= Fraction(case["budget"])
    assert math.fsum(spends) <= case["budget"]
    assert engine.spent <= case["budget"]
    for record in step_records:
        cumulative = record["cumulative_mi"] if case["directions"] == 1 else record["cumulative_mi"][-1]
        assert cumulative <= case["budget"]
    for trace in traces:
        record = trace["record"]
        if record["release"] != "noisy":
            continue
        assert record["spent"] <= record["beta"]
        assert record["spent"] <= ENTROPY_CAP_FRACTION * binary_entropy(record["q_plus"])
        assert binary_gaussian_mi(record["q_plus"], record["sigma"]) <= record["spent"]


@settings(max_examples=30, deadline=None)
@given(case=engine_cases)
def test_unanimous_releases_cost_nothing(case):
    engine = PrivacyEngine("pacmi", case["num_subsets"], case["budget"], case["steps"], case["directions"],
                           case["schedule"], "none", None, np.random.default_rng(case["seed"]))
    stream = subset_mean_stream(case["seed"], case["num_subsets"], max(case["unanimous_fraction"], 0.5))
    _, traces = run_engine(engine, stream)
    for trace in traces:
        record = trace["record"]
        if not record["unanimous_posterior"]:
            continue
        assert record["release"] == "free"
        assert record["spent"] == 0.0
        assert np.array_equal(trace["before"], trace["after"])
        assert trace["coefficient"] == subset_signs(trace["means"])[engine.secret_index]


@settings(max_examples=30, deadline=None)
@given(case=engine_cases)
def test_paczpl_posterior_stays_uniform(case):
    engine = PrivacyEngine("paczpl", case["num_subsets"], 0.0, case["steps"], case["directions"],
                           case["schedule"], "none", None, np.random.default_rng(case["seed"]))
    stream = subset_mean_stream(case["seed"], case["num_subsets"], case["unanimous_fraction"], case["bias"])
    _, traces = run_engine(engine, stream)
    uniform = np.full(case["num_subsets"], 1.0 / case["num_subsets"])
    assert np.array_equal(engine.log_posterior, uniform_log_posterior(case["num_subsets"]))
    np.testing.assert_allclose(engine.posterior, uniform, rtol=1e-15)
    assert engine.spent == 0.0
    for trace in traces:
        assert trace["record"]["spent"] == 0.0
        assert trace["record"]["q_plus"] == pytest.approx(trace["record"]["num_plus"] / case["num_subsets"])


@settings(max_examples=25, deadline=None)
@given(
    num_subsets=st.sampled_from([2, 4, 6]),
    steps=st.integers(min_value=1, max_value=12),
    directions=st.integers(min_value=1, max_value=3),
    budget=st.floats(min_value=0.05, max_value=3.0),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_posterior_equals_brute_force_bayes(num_subsets, steps, directions, budget, seed):
    engine = PrivacyEngine("pacmi", num_subsets, budget, steps, directions, "adaptive", "none", None,
                           np.random.default_rng(seed))
    _, traces = run_engine(engine, subset_mean_stream(seed, num_subsets, 0.2))

    # Bayes over m* from scratch: uniform prior times the Gaussian likelihood of every published noisy value.
    log_joint = np.zeros(num_subsets)
    for trace in traces:
        record = trace["record"]
        if record["release"] != "noisy":
            continue
        signs = np.where(trace["means"] >= 0.0, 1.0, -1.0)
        for m in range(num_subsets):
            log_joint[m] += stats.norm.logpdf(record["noisy_value"], loc=signs[m], scale=record["sigma"])
    bayes = np.exp(log_joint - special.logsumexp(log_joint))
    np.testing.assert_allclose(engine.posterior, bayes, rtol=1e-9, atol=1e-12)


def test_noise_is_standard_normal():
    engine = PrivacyEngine("pacmi", 4, 0.5, 2000, 1, "uniform", "none", 1, np.random.default_rng(11))
    stream = subset_mean_stream(5, 4, 0.0)
    standardized = []
    for step in range(2000):
        engine.begin_step(step)
        means = next(stream)
        _, record = engine.release(means, 0.0)
        engine.end_step()
        if record["release"] == "noisy":
            secret_sign = 1.0 if means[1] >= 0.0 else -1.0
            standardized.append((record["noisy_value"] - secret_sign) / record["sigma"])
        if engine.exhausted:
            break
    assert len(standardized) > 1000
    # Kolmogorov-Smirnov test against N(0, 1) with fixed seeds; reject only below p = 1e-3.
    assert stats.kstest(standardized, "norm").pvalue > 1e-3


# ---------------------------------------------------------------------------
# PAC-ZPL independence
# ---------------------------------------------------------------------------


def zpl_contingency(release, trials: int = 6000, num_subsets: int = 8):
    """Tabulate released bit vs secret sign, secret index and number of +1 signs on non-unanimous releases."""
    data = np.random.default_rng(21)
    mechanism_rng = np.random.default_rng(22)
    by_secret_sign = np.zeros((2, 2))
    by_secret_index = np.zeros((2, num_subsets))
    by_num_plus = np.zeros((2, num_subsets - 1))
    for _ in range(trials):
        secret_index = int(data.integers(num_subsets))
        num_plus = int(data.integers(1, num_subsets))
        signs = np.array([1.0] * num_plus + [-1.0] * (num_subsets - num_plus))
        data.shuffle(signs)
        bit = int(release(signs, secret_index, mechanism_rng) > 0)
        by_secret_sign[bit, int(signs[secret_index] > 0)] += 1
        by_secret_index[bit, secret_index] += 1
        by_num_plus[bit, num_plus - 1] += 1
    return by_secret_sign, by_secret_index, by_num_plus


def test_paczpl_bit_independent_of_secret():
    def zpl(signs, secret_index, rng):
        return release_paczpl(signs, uniform_log_posterior(signs.size), secret_index, rng).coefficient

    # Chi-square tests of independence with fixed seeds; independence is rejected only below p = 1e-3.
    for table in zpl_contingency(zpl):
        assert stats.chi2_contingency(table).pvalue > 1e-3


def test_independence_test_detects_leak():
    def leaky(signs, secret_index, rng):
        # One release in ten leaks the secret subset's sign; the rest are fair coins.
        if rng.random() < 0.1:
            return signs[secret_index]
        if rng.random() < 0.5:
            return 1.0
        return -1.0

    by_secret_sign, _, _ = zpl_contingency(leaky)
    assert stats.chi2_contingency(by_secret_sign).pvalue < 1e-6


# ---------------------------------------------------------------------------
# Engine behaviour
# ---------------------------------------------------------------------------


def test_adaptive_schedule_reuses_free_budget():
    engine = PrivacyEngine("pacmi", 4, 0.04, 4, 1, "adaptive", "none", 0, np.random.default_rng(0))
    engine.begin_step(0)
    engine.release(np.array([1.0, 2.0, 3.0, 4.0]), 2.5)
    first = engine.end_step()
    engine.begin_step(1)
    engine.release(np.array([1.0, -2.0, 3.0, -4.0]), -0.5)
    second = engine.end_step()

    assert first["release"] == "free"
    assert first["spent"] == 0.0
    assert second["beta_step"] == pytest.approx(0.04 / 3, rel=1e-15)
    assert second["spent"] == second["beta"]


def test_uniform_schedule_spends_budget_over_steps():
    engine = PrivacyEngine("pacmi", 8, 0.01, 10, 2, "uniform", "none", 3, np.random.default_rng(4))
    stream = subset_mean_stream(9, 8, 0.0)
    run_engine(engine, stream)
    # Balanced signs keep every release below its entropy cap, so each spends B / (T K).
    assert engine.spent == pytest.approx(0.01, rel=1e-12)
    assert engine.summary()["noisy_steps"] == 20


def test_exhaustion_stops_steps():
    engine = PrivacyEngine("pacmi", 8, 0.01, 5, 1, "adaptive", "none", 3, np.random.default_rng(4))
    run_engine(engine, subset_mean_stream(9, 8, 0.0))
    assert engine.exhausted
    assert engine.summary()["stop_step"] == 4
    assert engine.summary()["steps_run"] == 5

    longer = PrivacyEngine("pacmi", 8, 0.01, 50, 1, "adaptive", "none", 3, np.random.default_rng(4))
    state = longer.state_dict()
    state["spent_exact"] = str(Fraction(0.01))
    longer.load_state_dict(state)
    assert longer.exhausted
    with pytest.raises(RuntimeError, match="budget exhausted"):
        longer.begin_step(0)


def test_engine_rejects_bad_configuration():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="num_subsets must be even"):
        PrivacyEngine("pacmi", 5, 1.0, 10, rng=rng)
    with pytest.raises(ValueError, match="method must be one of"):
        PrivacyEngine("dpzero", 4, 1.0, 10, rng=rng)
    with pytest.raises(ValueError, match="budget_nats must be a finite number of nats > 0"):
        PrivacyEngine("pacmi", 4, 0.0, 10, rng=rng)
    with pytest.raises(ValueError, match="applies to method 'nonprivate' only"):
        PrivacyEngine("pacmi", 4, 1.0, 10, ablation="raw_half", rng=rng)
    with pytest.raises(ValueError, match="secret_index must be in"):
        PrivacyEngine("pacmi", 4, 1.0, 10, secret_index=4, rng=rng)
    with pytest.raises(ValueError, match="budget_schedule"):
        PrivacyEngine("pacmi", 4, 1.0, 10, budget_schedule="linear", rng=rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        PrivacyEngine("pacmi", 4, 1.0, 10)


def test_engine_enforces_call_order():
    engine = PrivacyEngine("pacmi", 4, 1.0, 10, 2, rng=np.random.default_rng(0))
    means = np.array([1.0, -1.0, 2.0, -2.0])
    with pytest.raises(RuntimeError, match="outside a step"):
        engine.release(means, 0.0)
    engine.begin_step(0)
    with pytest.raises(RuntimeError, match="still open"):
        engine.begin_step(1)
    engine.release(means, 0.0)
    with pytest.raises(RuntimeError, match="expected 2"):
        engine.end_step()
    engine.release(means, 0.0)
    with pytest.raises(RuntimeError, match="already has 2 releases"):
        engine.release(means, 0.0)
    engine.end_step()
    with pytest.raises(ValueError, match="steps must increase"):
        engine.begin_step(0)
    with pytest.raises(ValueError, match="step must be in"):
        engine.begin_step(10)


def test_engine_rejects_bad_subset_means():
    engine = PrivacyEngine("pacmi", 4, 1.0, 10, rng=np.random.default_rng(0))
    engine.begin_step(0)
    with pytest.raises(ValueError, match=r"subset_means\[2\] is nan"):
        engine.release(np.array([1.0, -1.0, np.nan, 0.5]), 0.0)
    with pytest.raises(ValueError, match="shape"):
        engine.release(np.array([1.0, -1.0]), 0.0)
    with pytest.raises(ValueError, match="subset_means is required"):
        engine.release(None, 0.0)
    with pytest.raises(ValueError, match="full_mean must be finite"):
        engine.release(np.array([1.0, -1.0, 2.0, 0.5]), math.inf)


def test_secret_index_drawn_from_rng():
    drawn = PrivacyEngine("pacmi", 16, 1.0, 10, rng=np.random.default_rng(123)).secret_index
    assert drawn == int(np.random.default_rng(123).integers(16))


@pytest.mark.parametrize("method,ablation", [("pacmi", "none"), ("paczpl", "none"), ("nonprivate", "raw_full"),
                                              ("nonprivate", "quant_half"), ("nonprivate", "random_sign")])
@pytest.mark.parametrize("directions", [1, 3])
def test_step_records_are_json(method, ablation, directions):
    engine = PrivacyEngine(method, 8, 0.3, 12, directions, "adaptive", ablation, None, np.random.default_rng(0))
    step_records, _ = run_engine(engine, subset_mean_stream(1, 8, 0.3))
    for record in step_records:
        json.dumps(record, allow_nan=False)
        for field in PER_RELEASE_FIELDS:
            if directions == 1:
                assert not isinstance(record[field], list), field
            else:
                assert len(record[field]) == directions, field
    summary = engine.summary()
    json.dumps(summary, allow_nan=False)
    assert summary["steps_run"] == 12
    assert summary["free_steps"] + summary["noisy_steps"] + summary["coin_steps"] + (
        12 * directions if method == "nonprivate" else 0) == 12 * directions


def test_engine_raises_no_floating_point_warnings():
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for method in ("pacmi", "paczpl"):
            engine = PrivacyEngine(method, 16, 2.0, 40, 2, "adaptive", "none", None, np.random.default_rng(5))
            run_engine(engine, subset_mean_stream(2, 16, 0.3, bias=1.0))
            assert np.all(np.isfinite(engine.log_posterior))


def test_same_seed_same_releases():
    def releases(seed):
        engine = PrivacyEngine("pacmi", 8, 0.5, 20, 2, "adaptive", "none", None, np.random.default_rng(seed))
        step_records, _ = run_engine(engine, subset_mean_stream(4, 8, 0.2))
        return step_records

    assert releases(7) == releases(7)
    assert releases(7) != releases(8)


@pytest.mark.parametrize("method", ["pacmi", "paczpl"])
def test_resume_is_bit_identical(method):
    def make(seed):
        return PrivacyEngine(method, 8, 0.5, 20, 2, "adaptive", "none", None, np.random.default_rng(seed))

    full = make(7)
    full_records, _ = run_engine(full, subset_mean_stream(4, 8, 0.2))

    first = make(7)
    stream = subset_mean_stream(4, 8, 0.2)
    head, _ = run_engine(first, stream, steps=8)
    checkpoint = json.loads(json.dumps(first.state_dict()))

    resumed = make(999)
    resumed.load_state_dict(checkpoint)
    tail = []
    for step in range(8, 20):
        resumed.begin_step(step)
        for _ in range(2):
            means = next(stream)
            resumed.release(means, float(np.mean(means)))
        tail.append(resumed.end_step())

    assert head + tail == full_records
    assert np.array_equal(resumed.log_posterior, full.log_posterior)
    assert resumed.summary() == full.summary()
    assert resumed.secret_index == full.secret_index


def test_load_state_rejects_other_configuration():
    engine = PrivacyEngine("pacmi", 8, 0.5, 20, rng=np.random.default_rng(0))
    other = PrivacyEngine("pacmi", 8, 0.7, 20, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="budget_nats: checkpoint 0.5 vs engine 0.7"):
        other.load_state_dict(engine.state_dict())


@settings(max_examples=20, deadline=None)
@given(
    num_subsets=st.sampled_from([2, 4, 8]),
    steps=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_entropy_cap_binds_for_large_budget(num_subsets, steps, seed):
    # With 50 nats per run every non-unanimous release hits its cap 0.999 * H(q_plus).
    engine = PrivacyEngine("pacmi", num_subsets, 50.0, steps, 1, "uniform", "none", None, np.random.default_rng(seed))
    _, traces = run_engine(engine, subset_mean_stream(seed, num_subsets, 0.0))
    for trace in traces:
        record = trace["record"]
        if record["release"] == "noisy":
            assert record["spent"] == ENTROPY_CAP_FRACTION * binary_entropy(record["q_plus"])
            assert record["sigma"] > 0.0


def test_privacy_package_imports_without_torch():
    code = (
        "import sys\n"
        "import paczero.privacy.channel, paczero.privacy.budget, paczero.privacy.mechanism\n"
        "import paczero.privacy.conversions, paczero.privacy.ledger\n"
        "assert 'torch' not in sys.modules, 'paczero.privacy imported torch'\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
