"""DPZero and DP-AggZO training: recipe checks, sampled-example losses and whole runs through run_cell."""

import json

import numpy as np
import pytest
import torch
from opacus.accountants.utils import get_noise_multiplier

from paczero import zo
from paczero.models import prepare_model
from paczero.recipe import RecipeError, resolve_recipe
from paczero.tasks import get_task
from paczero.tasks.sst2 import CANDIDATES
from paczero.train import Seeds, run_cell
from tests.conftest import tiny_recipe


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "diagnostics.jsonl").read_text().splitlines()]


def _dp_recipe(**overrides):
    base = dict(method="dpaggzo", directions=4, epsilon=2.0, lr_schedule="constant", steps=3, eval_every=3)
    base.update(overrides)
    return tiny_recipe(**base)


# Recipe validation


def test_dpzero_rejects_several_directions():
    with pytest.raises(RecipeError, match=r"field 'directions': DPZero uses one direction"):
        resolve_recipe(_dp_recipe(method="dpzero", directions=2))


def test_dpaggzo_accepts_any_directions():
    assert resolve_recipe(_dp_recipe(directions=7))["directions"] == 7


def test_dp_noise_defaults_true():
    assert resolve_recipe(_dp_recipe())["dp_noise"] is True


def test_dp_noise_false_needs_no_epsilon():
    recipe = resolve_recipe(_dp_recipe(epsilon=None, dp_noise=False))
    assert recipe["dp_noise"] is False


def test_dp_noise_true_needs_epsilon():
    with pytest.raises(RecipeError, match=r"field 'epsilon'.*dp_noise"):
        resolve_recipe(_dp_recipe(epsilon=None))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"dp_noise": "false"}, "dp_noise"),
        ({"dp_noise": 0}, "dp_noise"),
        ({"method": "pacmi", "budget_nats": 0.1, "dp_noise": False}, "dp_noise"),
        ({"delta": 0.0}, "delta"),
        ({"sample_rate": 1.5}, "sample_rate"),
    ],
)
def test_dp_fields_rejected(overrides, field):
    with pytest.raises(RecipeError, match=f"field '{field}'"):
        resolve_recipe(_dp_recipe(**overrides))


# Random streams


def test_seeds_keep_first_three_streams():
    seeds = Seeds.from_train_seed(42)
    old = [np.random.default_rng(c) for c in np.random.SeedSequence(42).spawn(3)]
    for stream, reference in zip((seeds.membership, seeds.mechanism, seeds.directions), old):
        assert np.array_equal(stream.integers(2**31 - 1, size=8), reference.integers(2**31 - 1, size=8))
    assert not np.array_equal(seeds.sampling.random(4), np.random.default_rng(np.random.SeedSequence(42).spawn(3)[0]).random(4))


# Task subsets


class _TwoTokenCandidates:
    """A tokenizer wrapper that spells each candidate as two tokens, to reach the multi-token scoring path."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.pad_token_id = tokenizer.pad_token_id

    def __call__(self, text, **kwargs):
        encoded = self.tokenizer(text, **kwargs)
        if text in CANDIDATES and kwargs.get("add_special_tokens") is False:
            ids = encoded["input_ids"]
            return {"input_ids": ids + ids}
        return encoded


@pytest.mark.parametrize("two_token", [False, True])
def test_subset_losses_match_full_losses(tiny_lora, two_token):
    task = get_task("sst2")
    recipe = dict(data="demo", num_train=40, num_dev=4, num_eval=4, data_seed=0, micro_batch=6)
    splits = task.load(recipe)
    tokenizer = _TwoTokenCandidates(tiny_lora.tokenizer) if two_token else tiny_lora.tokenizer
    prepared = task.prepare(tokenizer, splits.train, recipe)
    assert prepared.single_token is not two_token

    full = task.example_losses(tiny_lora.model, tokenizer, prepared)
    indices = np.array([33, 2, 17, 5, 39, 0, 21, 12])
    subset = task.subset(prepared, indices, micro_batch=3)
    assert subset.num_examples == len(indices)
    assert [len(b.indices) for b in subset.batches] == ([3, 3, 2] if not two_token else [3, 3, 3, 3, 3, 1])
    assert torch.equal(subset.labels, prepared.labels[torch.as_tensor(indices)])
    losses = task.example_losses(tiny_lora.model, tokenizer, subset)
    assert torch.allclose(losses, full[torch.as_tensor(indices)], atol=1e-5)
    assert task.subset(prepared, np.arange(40), micro_batch=6).num_tokens == prepared.num_tokens


def test_subset_rejects_bad_indices(tiny_lora):
    task = get_task("sst2")
    recipe = dict(data="demo", num_train=10, num_dev=2, num_eval=2, data_seed=0, micro_batch=4)
    prepared = task.prepare(tiny_lora.tokenizer, task.load(recipe).train, recipe)
    with pytest.raises(ValueError, match="indices must be in"):
        task.subset(prepared, [10], 4)
    with pytest.raises(ValueError, match="repeat"):
        task.subset(prepared, [1, 1], 4)
    assert task.subset(prepared, [], 4).num_examples == 0


# Whole runs


def test_dpaggzo_cell_on_real_sst2(tmp_path, sst2_folder, monkeypatch):
    task = get_task("sst2")
    sizes = []
    original = type(task).example_losses

    def counting(self, model, tokenizer, prepared):
        sizes.append(prepared.num_examples)
        return original(self, model, tokenizer, prepared)

    monkeypatch.setattr(type(task), "example_losses", counting)
    recipe = _dp_recipe(data=str(sst2_folder), num_train=64, steps=3, sample_rate=0.1)
    metrics = run_cell(recipe, tmp_path)

    saved = json.loads((tmp_path / "metrics.json").read_text())
    privacy = saved["privacy"]
    for key in ("method", "epsilon", "delta", "sample_rate", "steps", "noise_multiplier", "noisy_batch_size",
                "realised_epsilon", "directions", "dp_noise"):
        assert key in privacy, key
    assert privacy["method"] == "dpaggzo"
    assert privacy["directions"] == 4
    assert privacy["dp_noise"] is True
    assert saved["steps_run"] == 3
    assert metrics["privacy"] == privacy

    expected_sigma = get_noise_multiplier(target_epsilon=1.9, target_delta=1e-5, sample_rate=0.1, steps=3, accountant="rdp")
    assert privacy["noise_multiplier"] == expected_sigma
    assert privacy["realised_epsilon"] <= 1.9 + 1e-9

    # The Laplace draw comes first from the mechanism stream, the samples from the sampling stream.
    seeds = Seeds.from_train_seed(42)
    expected_batch = (64 + seeds.mechanism.laplace(0.0, 1.0 / (0.05 * 2.0))) * 0.1
    assert privacy["noisy_batch_size"] == pytest.approx(expected_batch, rel=1e-12)
    expected_sizes = [int((seeds.sampling.random(64) < 0.1).sum()) for _ in range(3)]

    rows = _rows(tmp_path)
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert [r["batch_size"] for r in rows] == expected_sizes
    for row in rows:
        assert len(row["coefficients"]) == 4
        assert row["lr"] == recipe["lr"]
        assert row["noise_std"] == pytest.approx(expected_sigma * recipe["clip"] / expected_batch, rel=1e-12)
        assert 0.0 <= row["clip_fraction"] <= 1.0
    # Two forward passes per direction, each over the sampled examples only.
    sampled = [size for size in expected_sizes if size > 0]
    assert sizes == [size for size in sampled for _ in range(2 * 4)]


def test_dp_noise_false_is_clipped_average(tmp_path):
    recipe = _dp_recipe(dp_noise=False, epsilon=None, steps=1, eval_every=1, num_train=24, clip=0.5, track="lora")
    metrics = run_cell(recipe, tmp_path)
    privacy = metrics["privacy"]
    assert privacy["dp_noise"] is False
    assert privacy["noise_multiplier"] == 0.0
    assert privacy["noisy_batch_size"] == 24.0
    assert privacy["sample_rate"] == 1.0
    row = _rows(tmp_path)[0]
    assert row["batch_size"] == 24
    assert row["noise_std"] == 0.0

    # Recompute step 0 from the initial weights: K-vectors of two-point estimates over all
    # training examples, each divided by K, clipped to L2 norm C and averaged.
    resolved = resolve_recipe(recipe)
    task = get_task("sst2")
    loaded = prepare_model(
        resolved["model_source"], resolved["track"], dtype="float32", lora_r=resolved["lora_r"],
        lora_alpha=resolved["lora_alpha"], lora_targets=resolved["lora_targets"], init_seed=resolved["train_seed"],
    )
    prepared = task.prepare(loaded.tokenizer, task.load(resolved).train, resolved)
    columns = []
    for seed in row["direction_seeds"]:
        plus, minus = zo.two_point_losses(
            loaded.trainable, seed, resolved["zo_eps"],
            lambda: task.example_losses(loaded.model, loaded.tokenizer, prepared),
        )
        columns.append(((plus - minus) / (2 * resolved["zo_eps"])).double().numpy())
    vectors = np.stack(columns, axis=1) / 4
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    assert (norms > 0.5).any(), "clip 0.5 should bind for some examples, or the test checks no clipping"
    expected = (vectors * np.minimum(1.0, 0.5 / norms)).mean(axis=0)
    assert np.allclose(row["coefficients"], expected, rtol=1e-6, atol=1e-9)


def test_dpzero_empty_samples_release_noise(tmp_path):
    # With 16 examples at rate 0.03 about 60% of the steps sample no example.
    recipe = _dp_recipe(method="dpzero", directions=1, num_train=16, sample_rate=0.03, steps=6, eval_every=6)
    metrics = run_cell(recipe, tmp_path)
    rows = _rows(tmp_path)
    empty = [r for r in rows if r["batch_size"] == 0]
    assert empty, "no empty sample in 6 steps; pick another rate"
    for row in empty:
        assert row["train_loss"] is None
        assert row["clip_fraction"] == 0.0
        assert len(row["coefficients"]) == 1
        assert row["coefficients"][0] != 0.0  # pure noise
    assert metrics["privacy"]["method"] == "dpzero"
    assert metrics["privacy"]["directions"] == 1
