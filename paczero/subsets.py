"""Membership of training examples in the M candidate subsets, and subset means."""

from __future__ import annotations

import numpy as np

MEMBERSHIP_MODES = ("random", "disjoint_pairs")


def membership_matrix(
    num_examples: int,
    num_subsets: int,
    rng: np.random.Generator,
    mode: str = "random",
    subsets_per_example: int | None = None,
) -> np.ndarray:
    """Boolean matrix (N, M): entry (i, m) is True when example i belongs to subset m.

    `random`: each example joins exactly k of the M subsets (k = M/2 unless
    `subsets_per_example` is given), chosen uniformly without replacement and
    independently per example, so a membership-inference adversary's prior that
    an example is in the secret subset is k/M.
    `disjoint_pairs`: M/2 independent uniformly random halves of the examples,
    each followed by its complement (subsets 2j and 2j+1), so again every example
    is in exactly M/2 subsets.
    """
    if num_subsets < 2 or num_subsets % 2:
        raise ValueError(f"num_subsets must be even and >= 2, got {num_subsets}")
    if num_examples < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples}")
    members = np.zeros((num_examples, num_subsets), dtype=bool)
    if mode == "random":
        k = num_subsets // 2 if subsets_per_example is None else int(subsets_per_example)
        if not 1 <= k < num_subsets:
            raise ValueError(f"subsets_per_example must be in [1, {num_subsets - 1}], got {k}")
        # A random permutation per row; its first k entries are the example's subsets.
        order = np.argsort(rng.random((num_examples, num_subsets)), axis=1)
        np.put_along_axis(members, order[:, :k], True, axis=1)
    elif mode == "disjoint_pairs":
        if subsets_per_example not in (None, num_subsets // 2):
            raise ValueError("disjoint_pairs puts every example in exactly M/2 subsets; leave subsets_per_example unset")
        for pair in range(num_subsets // 2):
            half = rng.permutation(num_examples) < num_examples // 2
            members[:, 2 * pair] = half
            members[:, 2 * pair + 1] = ~half
    else:
        raise ValueError(f"unknown membership mode {mode!r}; use one of {', '.join(MEMBERSHIP_MODES)}")
    return members


def subset_means(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Mean of `values` (N,) over the members of each subset: returns (M,), float64."""
    counts = members.sum(axis=0)
    if np.any(counts == 0):
        empty = np.flatnonzero(counts == 0)[:5].tolist()
        raise ValueError(f"subsets {empty} have no members; use more training examples or fewer subsets")
    return (np.asarray(values, dtype=np.float64) @ members) / counts
