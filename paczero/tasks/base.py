"""The interface every task implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch


@dataclass
class Splits:
    """Examples (plain dicts) of one cell: training, dev (for dev-best selection) and evaluation."""

    train: list[dict[str, Any]]
    dev: list[dict[str, Any]]
    eval: list[dict[str, Any]]


class Task(Protocol):
    """A task. Besides the methods below, a task may implement
    `subset(prepared, indices, micro_batch) -> prepared`, which selects examples from a prepared
    split without tokenizing again. The DP baselines use it to run forward passes on the Poisson
    sample only. Without it they compute every training example's loss and index the result."""

    name: str
    metric: str  # main test metric, reported in percent: "accuracy" or "f1"
    select: str  # dev-best rule: "min_loss" or "max_metric"

    def load(self, recipe: dict[str, Any]) -> Splits:
        """Load and sample the splits named by the recipe's `data` ('hub', 'demo' or a local
        folder), `num_train`, `num_dev`, `num_eval` and `data_seed`."""

    def prepare(self, tokenizer, examples: list[dict[str, Any]], recipe: dict[str, Any]) -> Any:
        """Tokenize `examples` once into length-sorted micro-batches (size `recipe['micro_batch']`),
        reused at every step."""

    def example_losses(self, model, tokenizer, prepared: Any) -> torch.Tensor:
        """Per-example training losses in float32, in the order of the examples given to `prepare`."""

    def evaluate(self, model, tokenizer, prepared: Any) -> dict[str, float]:
        """Evaluate: returns {'loss': mean loss, self.metric: value in percent, ...}."""


def sample_indices(pool_size: int, count: int, seed: int) -> np.ndarray:
    """Indices of `count` examples drawn without replacement by a permutation seeded with `seed`.

    When `count` exceeds `pool_size` the whole pool is returned (permuted)."""
    order = np.random.default_rng(seed).permutation(pool_size)
    return order[: min(count, pool_size)]


def length_sorted_batches(lengths: list[int], micro_batch: int) -> list[np.ndarray]:
    """Group example indices into micro-batches of similar length, so padding stays small."""
    if micro_batch < 1:
        raise ValueError(f"micro_batch must be >= 1, got {micro_batch}")
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + micro_batch] for i in range(0, len(order), micro_batch)]
