"""Membership-inference audit: Bayes posterior, power, ZPL at chance, PAC-MI within its bound."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from paczero import cli
from paczero.privacy.audit import (
    COIN,
    EXACT,
    NOISY,
    MechanismSpec,
    Transcript,
    adversary_posterior,
    guess_membership,
    mean_interval,
    membership_bound,
    membership_prior,
    membership_probabilities,
    read_audit_csv,
    replay_transcript,
    run_audit,
    run_budget_sweep,
    synthetic_signs,
    wilson_interval,
    worst_case_signs,
    write_audit_csv,
)
from paczero.privacy.conversions import mi_to_success_bound
from paczero.privacy.mechanism import PrivacyEngine
from paczero.subsets import membership_matrix


def stream(kind: str, releases: int, subsets: int, examples: int, seed: int = 0, agreement: float = 0.7):
    rng = np.random.default_rng(seed)
    if kind == "worst":
        signs = worst_case_signs(releases, subsets, rng)
    else:
        signs = synthetic_signs(releases, subsets, agreement, rng)
    return signs, membership_matrix(examples, subsets, rng)


def brute_force_posterior(signs: np.ndarray, transcript: Transcript) -> np.ndarray:
    """P(m | transcript) by multiplying each release's density or probability for every m, then normalising."""
    num_subsets = signs.shape[1]
    joint = np.ones(num_subsets)
    for m in range(num_subsets):
        for t in range(len(transcript)):
            kind = transcript.kinds[t]
            if kind == NOISY:
                joint[m] *= stats.norm.pdf(transcript.values[t], loc=signs[t, m], scale=transcript.sigmas[t])
            elif kind == EXACT:
                joint[m] *= 1.0 if signs[t, m] == transcript.values[t] else 0.0
            else:
                joint[m] *= 0.5
    return joint / joint.sum()


# ---------------------------------------------------------------------------
# The adversary's posterior
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [0.3, 3.0])
@pytest.mark.parametrize("secret", [0, 3])
def test_posterior_equals_brute_force_bayes(budget, secret):
    signs, members = stream("worst", 10, 6, 12, seed=secret)
    transcript = replay_transcript(signs, MechanismSpec("pacmi", budget), secret, np.random.default_rng(1))
    assert np.any(transcript.kinds == NOISY)

    posterior = adversary_posterior(signs, transcript)
    expected = brute_force_posterior(signs, transcript)
    np.testing.assert_allclose(posterior, expected, rtol=1e-9, atol=1e-15)

    by_enumeration = [sum(expected[m] for m in range(6) if members[i, m]) for i in range(12)]
    np.testing.assert_allclose(membership_probabilities(posterior, members), by_enumeration, rtol=1e-9, atol=1e-15)


def test_posterior_with_free_releases_matches_brute_force():
    # A huge budget resolves m* within the first M releases; later releases are free (exact).
    signs, _ = stream("worst", 16, 4, 8)
    transcript = replay_transcript(signs, MechanismSpec("pacmi", 20.0), 2, np.random.default_rng(5))
    assert np.any(transcript.kinds == EXACT)
    posterior = adversary_posterior(signs, transcript)
    np.testing.assert_allclose(posterior, brute_force_posterior(signs, transcript), rtol=1e-9, atol=1e-15)
    assert posterior[2] > 0.999


def test_posterior_equals_engine_posterior():
    signs, _ = stream("random", 12, 8, 8, agreement=0.6)
    engine = PrivacyEngine("pacmi", 8, 0.5, 12, rng=np.random.default_rng(9), secret_index=5)
    for step in range(12):
        engine.begin_step(step)
        engine.release(signs[step], None)
        engine.end_step()
    transcript = replay_transcript(signs, MechanismSpec("pacmi", 0.5), 5, np.random.default_rng(9))
    assert not np.any(transcript.kinds == EXACT)
    np.testing.assert_allclose(adversary_posterior(signs, transcript), engine.posterior, rtol=1e-9, atol=1e-15)


def test_zpl_posterior_stays_uniform():
    signs, _ = stream("random", 30, 8, 8, agreement=0.9)
    transcript = replay_transcript(signs, MechanismSpec("paczpl"), 4, np.random.default_rng(0))
    assert set(np.unique(transcript.kinds)) == {EXACT, COIN}
    np.testing.assert_allclose(adversary_posterior(signs, transcript), np.full(8, 1 / 8), rtol=1e-12)


def test_ties_are_broken_by_coin():
    rng = np.random.default_rng(0)
    guesses = guess_membership(np.full(4000, 0.5), rng)
    assert 0.45 < guesses.mean() < 0.55
    assert list(guess_membership(np.array([0.5 + 1e-6, 0.5 - 1e-6]), rng)) == [True, False]


def test_contradicting_transcript_is_rejected():
    signs = np.ones((1, 4))
    transcript = Transcript(np.array([EXACT], dtype=np.int8), np.array([-1.0]), np.array([math.nan]), 0.0)
    with pytest.raises(ValueError, match="contradicts every subset"):
        adversary_posterior(signs, transcript)


# ---------------------------------------------------------------------------
# Power, chance level and the bound
# ---------------------------------------------------------------------------


def test_attack_has_power_without_privacy():
    signs, members = stream("worst", 32, 8, 40)
    result = run_audit(signs, members, MechanismSpec("pacmi", 50.0), replays=60, seed=3)
    assert result.success_rate > 0.9
    assert result.success_ci_low > 0.5
    assert result.index_success_rate > 0.9

    leaky = run_audit(signs, members, MechanismSpec("nonprivate", ablation="quant_half"), replays=30, seed=3)
    assert leaky.success_rate == 1.0
    assert leaky.bound == 1.0


def test_attack_beats_chance_at_moderate_budget():
    # At 0.33 nats the attack is measurably above chance, so the bound check is not vacuous.
    signs, members = stream("worst", 16, 8, 32)
    result = run_audit(signs, members, MechanismSpec("pacmi", 0.33), replays=80, seed=2)
    assert result.success_ci_low > 0.5
    assert result.within_bound
    assert result.bound == pytest.approx(mi_to_success_bound(0.33, 0.5), rel=1e-12)


@pytest.mark.parametrize("kind", ["random", "worst"])
def test_zpl_rate_is_chance(kind):
    signs, members = stream(kind, 24, 8, 40, agreement=0.85)
    result = run_audit(signs, members, MechanismSpec("paczpl"), replays=100, seed=4)
    assert result.success_ci_low <= 0.5 <= result.success_ci_high
    assert result.contains_prior
    assert result.bound == 0.5
    assert result.index_ci_low <= 1 / 8 <= result.index_ci_high
    assert result.mean_spent_nats == 0.0


def test_random_sign_ablation_is_chance():
    signs, members = stream("worst", 16, 8, 40)
    result = run_audit(signs, members, MechanismSpec("nonprivate", ablation="random_sign"), replays=60, seed=4)
    assert result.contains_prior
    assert result.mean_coin_releases == 16


@pytest.mark.parametrize("kind", ["random", "worst"])
@pytest.mark.parametrize("budget", [0.05, 0.68])
def test_pacmi_rate_within_bound(kind, budget):
    signs, members = stream(kind, 16, 8, 32)
    result = run_audit(signs, members, MechanismSpec("pacmi", budget), replays=60, seed=5)
    assert result.success_ci_low <= result.bound
    assert result.within_bound
    assert result.index_ci_low <= result.index_bound
    assert result.index_within_bound
    assert result.mean_spent_nats <= budget * (1 + 1e-12)


def test_bound_uses_each_example_prior():
    rng = np.random.default_rng(0)
    members = membership_matrix(20, 8, rng, subsets_per_example=2)
    np.testing.assert_allclose(membership_prior(members), 0.75)
    spec = MechanismSpec("pacmi", 0.1)
    assert membership_bound(spec, members) == pytest.approx(mi_to_success_bound(0.1, 0.75), rel=1e-12)
    assert membership_bound(MechanismSpec("paczpl"), members) == pytest.approx(0.75)


def test_budget_sweep_is_monotone_in_bound():
    signs, members = stream("worst", 8, 4, 16)
    results = run_budget_sweep(signs, members, MechanismSpec("pacmi", 0.1), [0.01, 0.1, 1.0], replays=20, seed=0)
    assert [r.budget_nats for r in results] == [0.01, 0.1, 1.0]
    assert results[0].bound < results[1].bound < results[2].bound
    assert all(r.within_bound for r in results)


# ---------------------------------------------------------------------------
# Statistics, determinism, streams, input checks
# ---------------------------------------------------------------------------


def test_mean_interval_matches_scipy():
    values = np.random.default_rng(0).random(25)
    expected = stats.t.interval(0.95, 24, loc=values.mean(), scale=stats.sem(values))
    assert mean_interval(values, 0.95) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [(5, 10, (0.2366, 0.7634)), (0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0))],
)
def test_wilson_interval_known_values(successes, trials, expected):
    assert wilson_interval(successes, trials, 0.95) == pytest.approx(expected, abs=1e-4)


def test_audit_is_deterministic_across_workers():
    signs, members = stream("random", 8, 4, 10)
    spec = MechanismSpec("pacmi", 0.2)
    first = run_audit(signs, members, spec, replays=12, seed=7)
    assert run_audit(signs, members, spec, replays=12, seed=7) == first
    assert run_audit(signs, members, spec, replays=12, seed=7, workers=2) == first
    assert run_audit(signs, members, spec, replays=12, seed=8) != first


def test_worst_case_stream_has_one_dissent():
    signs = worst_case_signs(24, 8, np.random.default_rng(0))
    plus = (signs > 0).sum(axis=1)
    assert set(plus) <= {1, 7}
    dissenters = [int(np.flatnonzero(row != np.sign(row.sum()))[0]) for row in signs]
    assert np.bincount(dissenters, minlength=8).tolist() == [3] * 8


def test_synthetic_agreement_rate():
    rng = np.random.default_rng(0)
    assert np.all(np.abs(synthetic_signs(50, 8, 1.0, rng).sum(axis=1)) == 8)
    signs = synthetic_signs(2000, 8, 0.75, rng)
    common = np.where(signs.sum(axis=1, keepdims=True) >= 0, 1.0, -1.0)
    assert 0.70 < np.mean(signs == common) < 0.80


def test_input_checks():
    signs, members = stream("random", 4, 4, 6)
    with pytest.raises(ValueError, match="only \\+1.0 and -1.0"):
        run_audit(signs * 0.5, members, MechanismSpec("paczpl"))
    with pytest.raises(ValueError, match="shape \\(N, 4\\)"):
        run_audit(signs, members[:, :2], MechanismSpec("paczpl"))
    with pytest.raises(ValueError, match="at least 2 replays|replays must be >= 2"):
        run_audit(signs, members, MechanismSpec("paczpl"), replays=1)
    with pytest.raises(ValueError, match="cannot be audited"):
        MechanismSpec("dpzero")
    with pytest.raises(ValueError, match="releases more than the subset signs"):
        MechanismSpec("nonprivate", ablation="raw_half")
    with pytest.raises(ValueError, match="budget_nats must be"):
        MechanismSpec("pacmi", 0.0)


def test_csv_round_trip(tmp_path):
    signs, members = stream("random", 4, 4, 6)
    result = run_audit(signs, members, MechanismSpec("pacmi", 0.2), replays=5, seed=0, source="unit")
    write_audit_csv([result], tmp_path / "audit.csv", extra={"cell": "c1"})
    (row,) = read_audit_csv(tmp_path / "audit.csv")
    assert row["cell"] == "c1"
    assert row["success_rate"] == result.success_rate
    assert row["within_bound"] is result.within_bound
    assert row["replays"] == 5


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


@pytest.fixture
def privacy_cli(monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["paczero.commands.privacy"])

    def run(*argv):
        code = cli.main(["privacy", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_cli_synthetic_audit(privacy_cli, tmp_path):
    code, out, _ = privacy_cli(
        "audit", "--synthetic", "worst-case", "--steps", "8", "--subsets", "4", "--examples", "12",
        "--replays", "10", "--budget", "0.2", "--budgets", "1.0", "--csv", str(tmp_path / "a.csv"),
        "--figure", str(tmp_path / "a.png"),
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    bound = f"{mi_to_success_bound(0.2, 0.5):.4f}"
    assert re.search(rf"B=0\.2 nats, 10 replays x 12 examples: success \S+ \[\S+, \S+\] vs bound {bound}", lines[0])
    assert len(read_audit_csv(tmp_path / "a.csv")) == 2
    assert (tmp_path / "a.png").stat().st_size > 10_000


def test_cli_audit_needs_one_source(privacy_cli):
    code, _, err = privacy_cli("audit")
    assert code == 2
    assert "either RUN_DIR or --synthetic" in err
