import numpy as np
import pytest
import torch

from paczero import zo
from paczero.subsets import membership_matrix, subset_means


@pytest.mark.parametrize("mode", ["random", "disjoint_pairs"])
def test_membership_every_example_in_half(mode):
    members = membership_matrix(50, 16, np.random.default_rng(0), mode=mode)
    assert members.shape == (50, 16)
    assert (members.sum(axis=1) == 8).all()


def test_membership_custom_count():
    members = membership_matrix(40, 10, np.random.default_rng(1), subsets_per_example=3)
    assert (members.sum(axis=1) == 3).all()


def test_membership_is_seeded():
    a = membership_matrix(30, 8, np.random.default_rng(5))
    b = membership_matrix(30, 8, np.random.default_rng(5))
    c = membership_matrix(30, 8, np.random.default_rng(6))
    assert (a == b).all()
    assert not (a == c).all()


def test_membership_disjoint_pairs_complement():
    members = membership_matrix(20, 6, np.random.default_rng(2), mode="disjoint_pairs")
    for pair in range(3):
        assert (members[:, 2 * pair] ^ members[:, 2 * pair + 1]).all()


@pytest.mark.parametrize("num_subsets", [0, 3, 7])
def test_membership_rejects_odd_or_small(num_subsets):
    with pytest.raises(ValueError, match="even"):
        membership_matrix(10, num_subsets, np.random.default_rng(0))


def test_subset_means_match_loop():
    rng = np.random.default_rng(3)
    members = membership_matrix(25, 6, rng)
    values = rng.normal(size=25)
    means = subset_means(values, members)
    for m in range(6):
        assert means[m] == pytest.approx(values[members[:, m]].mean())


def test_subset_means_rejects_empty_subset():
    members = np.zeros((4, 2), dtype=bool)
    members[:, 0] = True
    with pytest.raises(ValueError, match="no members"):
        subset_means(np.ones(4), members)


def _params():
    torch.manual_seed(0)
    return [("w", torch.nn.Parameter(torch.randn(5, 3))), ("b.bias", torch.nn.Parameter(torch.randn(3)))]


def test_perturb_restores_exactly_in_float32_roundtrip():
    params = _params()
    before = [p.detach().clone() for _, p in params]
    zo.perturb(params, seed=11, scale=1e-3)
    zo.perturb(params, seed=11, scale=-1e-3)
    for (_, p), b in zip(params, before):
        assert torch.allclose(p, b, atol=1e-6)


def test_two_point_losses_equal_manual_difference():
    params = _params()
    before = [p.detach().clone() for _, p in params]
    loss = lambda: (params[0][1] ** 2).sum().reshape(1)  # noqa: E731
    plus, minus = zo.two_point_losses(params, seed=4, zo_eps=1e-2, loss_fn=loss)
    generator = torch.Generator().manual_seed(4)
    z = torch.randn(5, 3, generator=generator)
    assert plus.item() == pytest.approx(((before[0] + 1e-2 * z) ** 2).sum().item(), rel=1e-5)
    assert minus.item() == pytest.approx(((before[0] - 1e-2 * z) ** 2).sum().item(), rel=1e-5)
    assert torch.allclose(params[0][1], before[0], atol=1e-6)


def test_update_applies_direction_and_skips_bias_decay():
    params = _params()
    before = [p.detach().clone() for _, p in params]
    zo.update(params, seed=9, coefficient=2.0, lr=0.1, weight_decay=0.5)
    generator = torch.Generator().manual_seed(9)
    z_w = torch.randn(5, 3, generator=generator)
    z_b = torch.randn(3, generator=generator)
    expected_w = before[0] * (1 - 0.1 * 0.5) - 0.1 * 2.0 * z_w
    expected_b = before[1] - 0.1 * 2.0 * z_b
    assert torch.allclose(params[0][1], expected_w, atol=1e-6)
    assert torch.allclose(params[1][1], expected_b, atol=1e-6)
