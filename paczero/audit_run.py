"""Membership-inference audit of a finished PAC-MI or PAC-ZPL run.

The trainer logs the released values but not the M per-subset signs of
each release, so `record_sign_stream` rebuilds them. It loads the run's
recipe, data, model and membership matrix exactly as `paczero.train` does.
For every logged step it recomputes the per-example two-point estimates at
each logged direction seed, clips them, takes the subset means and records
their signs. Then it applies the step's logged update (direction seeds and
coefficients), so the next step starts from the weights the run had. This
costs the run's forward passes again (two per direction per step), without
its evaluations. The recomputed number of +1 signs is compared with the
`num_plus` logged at every release. A different thread count or device can
change float rounding and flip a sign whose subset mean is near 0, so such
mismatches are counted and reported rather than fatal.

`audit_run` then runs `paczero.privacy.audit.run_audit` on that stream with
the run's mechanism settings, at the run's budget and optionally at other
budgets, and `plot_audit` draws the success rates with their confidence
intervals against the bound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from paczero.privacy.audit import AuditResult, MechanismSpec, run_audit
from paczero.privacy.conversions import mi_to_success_bound
from paczero.privacy.ledger import load_diagnostics, load_recipe
from paczero.privacy.mechanism import subset_signs

logger = logging.getLogger(__name__)

__all__ = ["RunSignStream", "audit_run", "plot_audit", "record_sign_stream"]

AUDITABLE_METHODS = ("pacmi", "paczpl")


@dataclass
class RunSignStream:
    """The per-subset signs of a run's releases (T*K, M), its membership matrix (N, M) and recipe.

    `mismatches` counts releases whose recomputed number of +1 signs differs
    from the logged `num_plus`.
    """

    signs: np.ndarray
    members: np.ndarray
    recipe: dict[str, Any]
    mismatches: int


def record_sign_stream(run_dir: str | Path, device: str | None = None) -> RunSignStream:
    """Rebuild the sign stream of a finished pacmi or paczpl run by replaying its logged steps."""
    import torch

    from paczero import zo
    from paczero.journal import apply_updates
    from paczero.models import prepare_model
    from paczero.recipe import resolve_recipe
    from paczero.subsets import membership_matrix, subset_means
    from paczero.tasks import get_task
    from paczero.train import Seeds, clip_scalars

    run_dir = Path(run_dir)
    recipe, _ = load_recipe(run_dir)
    recipe = resolve_recipe(recipe)
    if recipe["method"] not in AUDITABLE_METHODS:
        raise ValueError(
            f"run {run_dir} has method {recipe['method']!r}; the sign stream exists only for "
            f"{', '.join(AUDITABLE_METHODS)} runs"
        )
    records = load_diagnostics(run_dir / "diagnostics.jsonl")

    task = get_task(recipe["task"])
    splits = task.load(recipe)
    seeds = Seeds.from_train_seed(recipe["train_seed"])
    loaded = prepare_model(
        recipe["model_source"], recipe["track"], dtype=recipe["dtype"], lora_r=recipe["lora_r"],
        lora_alpha=recipe["lora_alpha"], lora_targets=recipe["lora_targets"],
        init_seed=recipe["train_seed"], device=device,
    )
    prepared = task.prepare(loaded.tokenizer, splits.train, recipe)
    members = membership_matrix(
        len(splits.train), recipe["num_subsets"], seeds.membership, recipe["membership"], recipe["subsets_per_example"],
    )

    def train_losses() -> torch.Tensor:
        return task.example_losses(loaded.model, loaded.tokenizer, prepared)

    rows: list[np.ndarray] = []
    mismatches = 0
    for record in records:
        logged_plus = record["num_plus"] if isinstance(record["num_plus"], list) else [record["num_plus"]]
        for k, seed in enumerate(record["direction_seeds"]):
            plus, minus = zo.two_point_losses(loaded.trainable, seed, recipe["zo_eps"], train_losses)
            estimates = ((plus - minus) / (2.0 * recipe["zo_eps"])).double().numpy()
            clipped, _ = clip_scalars(estimates, recipe["clip"])
            signs = subset_signs(subset_means(clipped, members))
            recomputed = int(np.count_nonzero(signs > 0))
            if recomputed != logged_plus[k]:
                mismatches += 1
                logger.warning(
                    "run %s step %d direction %d: %d subset signs are +1 on replay, %d were logged",
                    run_dir, record["step"], k, recomputed, logged_plus[k],
                )
            rows.append(signs)
        apply_updates(loaded.trainable, record, recipe["weight_decay"])

    if not rows:
        raise ValueError(f"{run_dir / 'diagnostics.jsonl'} has no steps; the run released nothing to audit")
    logger.info(
        "sign stream of %s: %d releases over %d subsets, %d examples, %d sign-count mismatches",
        run_dir, len(rows), members.shape[1], members.shape[0], mismatches,
    )
    return RunSignStream(np.vstack(rows), members, recipe, mismatches)


def audit_run(
    run_dir: str | Path,
    replays: int = 200,
    seed: int = 0,
    budgets: Iterable[float] = (),
    confidence: float = 0.95,
    workers: int = 1,
    device: str | None = None,
) -> tuple[list[AuditResult], RunSignStream]:
    """Audit a finished pacmi or paczpl run; returns the results and the rebuilt sign stream.

    The first result uses the run's own mechanism and budget. For pacmi
    runs, `budgets` (nats) adds one result per extra budget on the same
    stream; a paczpl run ignores it, because it spends no budget.
    """
    stream = record_sign_stream(run_dir, device=device)
    recipe = stream.recipe
    source = f"{recipe['cell']} (replayed run)"
    spec = MechanismSpec.from_recipe(recipe)
    results = [run_audit(stream.signs, stream.members, spec, replays, seed, confidence, source, workers)]
    if spec.method == "pacmi":
        for budget in budgets:
            if float(budget) == spec.budget_nats:
                continue
            swept = MechanismSpec.from_recipe(recipe, budget_nats=float(budget))
            results.append(run_audit(stream.signs, stream.members, swept, replays, seed, confidence, source, workers))
    return results, stream


def plot_audit(results: list[AuditResult], path: str | Path, title: str | None = None) -> None:
    """Draw each result's success rate with its confidence interval against the bound, as PNG or PDF.

    The x axis is the MI budget in nats, and the bound curve is
    mi_to_success_bound(B, prior) for the mean prior success rate of the
    results. A dashed line marks the first result's budget (the run's own
    in `audit_run`). A PAC-ZPL result sits at 0 nats, where the bound
    equals the prior.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("plot_audit needs at least one AuditResult")
    prior = float(np.mean([result.prior_success for result in results]))
    budgets = np.array([result.budget_nats for result in results])
    ordered = sorted(results, key=lambda result: result.budget_nats)

    figure, axes = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    top = max(1.0, float(budgets.max()) * 1.15)
    grid = np.linspace(0.0, top, 200)
    axes.plot(grid, [mi_to_success_bound(b, prior) for b in grid], color="tab:red", label="MI bound (KL inequality)")
    axes.axhline(prior, color="grey", linestyle=":", label=f"prior success {prior:.2f}")
    if results[0].method == "pacmi":
        axes.axvline(
            results[0].budget_nats, color="tab:green", linestyle="--", linewidth=1,
            label=f"main budget {results[0].budget_nats:g} nats",
        )

    x = np.array([result.budget_nats for result in ordered])
    y = np.array([result.success_rate for result in ordered])
    errors = np.array([[r.success_rate - r.success_ci_low for r in ordered], [r.success_ci_high - r.success_rate for r in ordered]])
    confidence = ordered[0].confidence
    axes.errorbar(
        x, y, yerr=errors, fmt="o", color="tab:blue", capsize=4,
        label=f"adversary success ({100 * confidence:.0f}% CI, {ordered[0].replays} replays)",
    )
    for result in ordered:
        axes.annotate(
            f"{result.success_rate:.3f}", (result.budget_nats, result.success_ci_high),
            textcoords="offset points", xytext=(0, 5), ha="center", fontsize=8,
        )
    axes.set_xlabel("MI budget B (nats)")
    axes.set_ylabel("membership success rate")
    axes.set_xlim(-0.03 * top, top)
    axes.set_ylim(min(0.45, prior - 0.05), 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    methods = sorted({result.method for result in results})
    axes.set_title(title or f"{ordered[0].source}: {', '.join(methods)}", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    plt.close(figure)
