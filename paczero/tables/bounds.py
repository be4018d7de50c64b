"""The privacy columns of a table row: membership-inference bound and matched MI or epsilon.

The bound is the highest success rate that any membership-inference
adversary can reach against the row's release, from
`paczero.privacy.conversions`:

- PAC-MI: the MI budget `budget_nats` turned into a success bound at the
  membership prior max(k, M - k) / M of an example in k of the M subsets
  (1/2 for the default k = M/2).
- PAC-ZPL: the release carries zero MI, so the bound is the prior itself.
- DPZero and DP-AggZO: the (epsilon, delta)-DP bound at prior 1/2 with the
  recipe's epsilon and delta; none for the noise-free reference
  (`dp_noise: false`).
- Zero-shot: no training example reaches the model, so the bound is 1/2.
- Non-private runs: no bound.

Matched values go through the bound: the MI in nats whose bound equals a
DP row's bound, and the epsilon whose DP bound (with the recipe's delta)
equals a PAC-MI row's bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paczero.privacy.conversions import (
    dp_to_success_bound,
    epsilon_to_matched_mi,
    mi_to_matched_epsilon,
    mi_to_success_bound,
)
from paczero.recipe_fields import DP_METHODS

__all__ = ["matched_epsilon", "matched_mi_nats", "membership_prior", "mia_bound"]


def membership_prior(recipe: Mapping[str, Any]) -> float:
    """Return max(k, M - k) / M, the success rate of guessing membership in the secret subset blind."""
    subsets = recipe["num_subsets"]
    per_example = recipe.get("subsets_per_example") or subsets // 2
    return max(per_example, subsets - per_example) / subsets


def _is_dp(recipe: Mapping[str, Any]) -> bool:
    return recipe["method"] in DP_METHODS and bool(recipe.get("dp_noise", True)) and recipe.get("epsilon") is not None


def mia_bound(recipe: Mapping[str, Any]) -> float | None:
    """Return the membership-inference success bound of a recipe as a probability, or None for a non-private run."""
    method = recipe["method"]
    if method == "pacmi":
        return mi_to_success_bound(recipe["budget_nats"], membership_prior(recipe))
    if method == "paczpl":
        return membership_prior(recipe)
    if _is_dp(recipe):
        return dp_to_success_bound(recipe["epsilon"], recipe["delta"])
    if method == "zeroshot":
        return 0.5
    return None


def matched_mi_nats(recipe: Mapping[str, Any]) -> float | None:
    """Return the MI in nats whose success bound equals a DP recipe's bound, or None for other recipes."""
    if not _is_dp(recipe):
        return None
    return epsilon_to_matched_mi(recipe["epsilon"], recipe["delta"])


def matched_epsilon(recipe: Mapping[str, Any]) -> float | None:
    """Return the epsilon whose DP bound equals a PAC recipe's bound, or None for other recipes."""
    if recipe["method"] == "pacmi":
        return mi_to_matched_epsilon(recipe["budget_nats"], recipe["delta"], membership_prior(recipe))
    if recipe["method"] == "paczpl":
        return 0.0
    return None
