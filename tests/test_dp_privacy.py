"""Calibration, clipping and aggregation of the DP zeroth-order baselines (paczero.privacy.dp)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from paczero.privacy import dp

DELTA = 1e-5
RATE = 0.064
# (epsilon, steps): every epsilon at T = 1000, and the smaller ones at T = 20000.
RECIPES = [(eps, 1000) for eps in (0.2, 0.3, 0.5, 1.0, 2.0, 6.0)] + [(eps, 20000) for eps in (0.2, 0.3, 0.5, 1.0, 2.0)]


def _accountant_epsilon(sigma: float, steps: int) -> float:
    accountant = RDPAccountant()
    accountant.history = [(sigma, RATE, steps)]
    return accountant.get_epsilon(delta=DELTA)


@pytest.fixture(autouse=True)
def _quiet_largest_order_warning():
    # Opacus warns when the best RDP order is its largest one (long runs at small epsilon).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


@pytest.mark.parametrize("epsilon, steps", RECIPES)
def test_noise_multiplier_matches_opacus(epsilon, steps):
    expected = get_noise_multiplier(
        target_epsilon=0.95 * epsilon, target_delta=DELTA, sample_rate=RATE, steps=steps, accountant="rdp"
    )
    sigma = dp.noise_multiplier(epsilon, DELTA, RATE, steps)
    assert sigma == expected

    # An accountant built independently of paczero: one history entry of T steps.
    spent = _accountant_epsilon(sigma, steps)
    assert spent <= 0.95 * epsilon + 1e-9
    assert spent >= 0.95 * epsilon - 0.01  # within Opacus's default search tolerance


@pytest.mark.parametrize("epsilon, steps", [(2.0, 1000), (0.5, 20000)])
def test_realised_epsilon_matches_accountant(epsilon, steps):
    sigma = dp.noise_multiplier(epsilon, DELTA, RATE, steps)
    assert dp.realised_epsilon(sigma, DELTA, RATE, steps) == pytest.approx(_accountant_epsilon(sigma, steps), rel=1e-12)


def test_realised_epsilon_grows_with_steps():
    assert dp.realised_epsilon(2.0, DELTA, RATE, 100) < dp.realised_epsilon(2.0, DELTA, RATE, 1000)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"delta": 0.0}, "delta"),
        ({"delta": 1.0}, "delta"),
        ({"sample_rate": 0.0}, "sample_rate"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"steps": 0}, "steps"),
        ({"steps": 10.5}, "steps"),
    ],
)
def test_noise_multiplier_rejects_bad_input(kwargs, message):
    args = {"epsilon": 1.0, "delta": DELTA, "sample_rate": RATE, "steps": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        dp.noise_multiplier(**args)


def test_noisy_batch_size_is_seeded_laplace():
    a = dp.noisy_batch_size(1000, 2.0, RATE, np.random.default_rng(7))
    b = dp.noisy_batch_size(1000, 2.0, RATE, np.random.default_rng(7))
    c = dp.noisy_batch_size(1000, 2.0, RATE, np.random.default_rng(8))
    assert a == b
    assert a != c
    expected = (1000 + np.random.default_rng(7).laplace(0.0, 1.0 / (0.05 * 2.0))) * RATE
    assert a == pytest.approx(expected, rel=1e-15)


def test_noisy_batch_size_spread_matches_laplace_scale():
    rng = np.random.default_rng(0)
    counts = np.array([dp.noisy_batch_size(1000, 1.0, 1.0, rng) for _ in range(4000)])
    # Laplace(b) has mean 0 and standard deviation sqrt(2) * b; here b = 1 / 0.05 = 20.
    assert counts.mean() == pytest.approx(1000.0, abs=2.0)
    assert counts.std() == pytest.approx(np.sqrt(2.0) * 20.0, rel=0.05)


def test_noisy_batch_size_clamps_negative_count():
    # Laplace scale 1 / (0.05 * 1e-3) = 20000 makes N + noise negative about half the time.
    rng = np.random.default_rng(1)
    values = [dp.noisy_batch_size(3, 1e-3, RATE, rng) for _ in range(50)]
    assert min(values) == pytest.approx(RATE)
    assert all(v > 0 for v in values)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(0, 12), st.integers(1, 6)), elements=st.floats(-1e6, 1e6)),
    st.floats(1e-3, 1e3),
)
def test_clip_rows_bounds_every_row(matrix, clip):
    clipped = dp.clip_rows(matrix, clip)
    norms = np.linalg.norm(matrix, axis=1)
    clipped_norms = np.linalg.norm(clipped, axis=1)
    assert clipped.shape == matrix.shape
    assert (clipped_norms <= clip * (1 + 1e-12)).all()
    # Rows inside the ball are unchanged; rows outside keep their direction at norm C.
    inside = norms <= clip
    assert np.array_equal(clipped[inside], matrix[inside])
    outside = ~inside
    assert np.allclose(clipped_norms[outside], clip, rtol=1e-12)
    assert np.allclose(clipped[outside] * norms[outside, None], matrix[outside] * clip, rtol=1e-9, atol=1e-9)


def test_clip_rows_rejects_bad_clip():
    with pytest.raises(ValueError, match="clip"):
        dp.clip_rows(np.ones((2, 2)), 0.0)


@pytest.mark.parametrize("directions", [1, 4])
def test_aggregate_without_noise_is_clipped_mean(directions):
    rng = np.random.default_rng(3)
    # Row norms spread over three decades, so some rows are clipped and some are not.
    estimates = rng.normal(size=(40, directions)) * np.logspace(-1, 2, 40)[:, None]
    clip = 5.0

    expected = np.zeros(directions)
    clipped_rows = 0
    for row in estimates:
        scaled = row / directions
        norm = np.sqrt(np.sum(scaled**2))
        clipped_rows += norm > clip
        expected += scaled * min(1.0, clip / norm)
    expected /= len(estimates)
    assert 0 < clipped_rows < len(estimates)

    untouched = np.random.default_rng(99)
    state = untouched.bit_generator.state
    coefficients = dp.aggregate(estimates, clip, float(len(estimates)), 0.0, untouched)
    assert coefficients.shape == (directions,)
    assert np.allclose(coefficients, expected, rtol=1e-12, atol=1e-14)
    assert untouched.bit_generator.state == state  # no noise is drawn


def test_aggregate_noise_is_seeded():
    estimates = np.random.default_rng(4).normal(size=(10, 3))
    a = dp.aggregate(estimates, 1.0, 6.4, 2.5, np.random.default_rng(11))
    b = dp.aggregate(estimates, 1.0, 6.4, 2.5, np.random.default_rng(11))
    c = dp.aggregate(estimates, 1.0, 6.4, 2.5, np.random.default_rng(12))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_aggregate_noise_has_calibrated_std():
    rng = np.random.default_rng(5)
    sigma, clip, noisy_batch = 3.0, 2.0, 8.0
    empty = np.zeros((0, 4))
    draws = np.stack([dp.aggregate(empty, clip, noisy_batch, sigma, rng) for _ in range(5000)])
    assert np.abs(draws.mean(axis=0)).max() < 0.05
    assert np.allclose(draws.std(axis=0), sigma * clip / noisy_batch, rtol=0.05)


def test_aggregate_rejects_bad_batch():
    with pytest.raises(ValueError, match="noisy_batch"):
        dp.aggregate(np.ones((2, 1)), 1.0, 0.0, 1.0, np.random.default_rng(0))


def test_clipped_fraction_counts_scaled_rows():
    estimates = np.array([[4.0, 0.0], [30.0, 0.0], [0.0, 0.0]])
    # Rows divided by K = 2 have norms 2, 15 and 0; one of three exceeds clip 10.
    assert dp.clipped_fraction(estimates, 10.0) == pytest.approx(1 / 3)
    assert dp.clipped_fraction(np.zeros((0, 2)), 10.0) == 0.0
