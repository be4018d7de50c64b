"""Verification of a run's privacy ledger (diagnostics.jsonl) against its recipe.

`verify_run(run_dir)` reads the recipe (key ``recipe`` of metrics.json, or
recipe.json when metrics.json is absent) and the per-step records of
diagnostics.jsonl, and recomputes from public quantities everything that
the logged posterior probability q_plus determines:

* pacmi: the step budget beta_t from the schedule, each release's budget
  beta_t / K, the entropy cap 0.999 * H(q_plus), the spend
  min(beta, cap, remaining budget), the noise scale sigma_for_mi(q_plus,
  spend), the release kind (free when q_plus <= 1e-12 or >= 1 - 1e-12,
  coin when no budget is left, noisy otherwise), the running spend
  (summed exactly), the free-release count and the remaining budget. It
  also checks that the channel MI of the logged sigma does not exceed the
  logged spend, that the exact total spend stays within budget_nats and
  that no step follows the exhaustion of the budget.
* paczpl: every spend is 0, sigma is null, the release is free exactly
  when all M signs agree (coin otherwise) and q_plus = num_plus / M.
* nonprivate: every spend is 0 and the release kind is nonprivate.

Where the trainer adds `coefficients` and `direction_seeds` to a line,
each of the K coefficients applied to the model must equal the released
value divided by K, and a PAC-MI noisy release must be the sign of its
noisy value (the model never receives the noiseless sign). When metrics.json
exists, its privacy block must agree with the replay: method, spent_nats
(the recomputed cumulative MI), steps_run, the counts of free, noisy and
coin releases and, for pacmi, the step at which the budget ran out.

q_plus itself cannot be recomputed because the subset signs are not
logged, so it is trusted.

DP baseline runs (dpzero, dpaggzo) have no PAC-MI ledger; `verify_run`
checks their DP accounting fields instead (see `paczero.privacy.dp_ledger`).
A zeroshot run releases nothing, so its result is SKIPPED.

Tolerances: logged and recomputed values of beta, sigma, spends,
cumulative MI and remaining budget must agree within a relative 1e-9
(absolute 1e-15 nats near 0). The MI of a logged sigma may exceed the
logged spend by at most 1e-9 nats plus 1e-6 relative.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from paczero.privacy.budget import SCHEDULES, SpendAccount, release_budget, step_budget
from paczero.privacy.channel import binary_entropy, binary_gaussian_mi, sigma_for_mi
from paczero.privacy.dp_ledger import DP_METHODS, DpChecker
from paczero.privacy.mechanism import ENTROPY_CAP_FRACTION, PER_RELEASE_FIELDS, is_unanimous

logger = logging.getLogger(__name__)

__all__ = [
    "LedgerError",
    "REPORT_FIELDS",
    "VerificationResult",
    "load_diagnostics",
    "load_recipe",
    "parse_report",
    "verify_run",
]

RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE_NATS = 1e-15
MI_ABSOLUTE_TOLERANCE_NATS = 1e-9
MI_RELATIVE_TOLERANCE = 1e-6
MAX_PROBLEMS = 50
VERIFIED_METHODS = ("pacmi", "paczpl", "nonprivate")
UNTRAINED_METHODS = ("zeroshot",)
RECIPE_KEYS = ("method", "budget_nats", "budget_schedule", "steps", "directions", "num_subsets")


class LedgerError(ValueError):
    """A run directory whose files cannot be read as a privacy ledger."""


@dataclass
class VerificationResult:
    """Outcome of `verify_run`: `ok` is True when no problem was found.

    `skipped` marks a run with nothing to verify (zeroshot); `note` contains
    the accounting summary of a DP baseline run.
    """

    ok: bool
    run_dir: str
    method: str
    steps_checked: int
    releases_checked: int
    spent_nats: float
    budget_nats: float
    first_bad_step: int | None = None
    problems: list[str] = field(default_factory=list)
    skipped: bool = False
    note: str = ""

    @property
    def status(self) -> str:
        """OK, FAILED or SKIPPED."""
        if not self.ok:
            return "FAILED"
        return "SKIPPED" if self.skipped else "OK"

    def summary_line(self) -> str:
        """Return a one-line human-readable verdict."""
        if not self.ok:
            where = f"step {self.first_bad_step}" if self.first_bad_step is not None else "run summary"
            more = f" (+{len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
            return f"FAILED {self.run_dir}: first offending {where}: {self.problems[0]}{more}"
        if self.skipped:
            return f"SKIPPED {self.run_dir}: {self.method}: {self.note}"
        if self.note:
            return f"OK {self.run_dir}: {self.method}, {self.steps_checked} steps, {self.note}"
        return (
            f"OK {self.run_dir}: {self.method}, {self.steps_checked} steps, {self.releases_checked} releases, "
            f"spent {self.spent_nats:.6g} of {self.budget_nats:.6g} nats"
        )

    def to_report(self) -> str:
        """Return the text of a verification report: `key: value` lines, a blank line, the verdict and problems."""
        values = {
            "status": self.status,
            "run_dir": self.run_dir,
            "method": self.method,
            "steps_checked": self.steps_checked,
            "releases_checked": self.releases_checked,
            "spent_nats": repr(self.spent_nats),
            "budget_nats": repr(self.budget_nats),
            "first_bad_step": "" if self.first_bad_step is None else self.first_bad_step,
            "problems": len(self.problems),
        }
        lines = [f"{key}: {values[key]}" for key in REPORT_FIELDS]
        lines += ["", self.summary_line(), *(f"  {problem}" for problem in self.problems)]
        return "\n".join(lines) + "\n"


REPORT_FIELDS = (
    "status",
    "run_dir",
    "method",
    "steps_checked",
    "releases_checked",
    "spent_nats",
    "budget_nats",
    "first_bad_step",
    "problems",
)


def parse_report(text: str) -> dict[str, str]:
    """Return the `key: value` header of a report written by `VerificationResult.to_report`, plus `summary`.

    Raises LedgerError naming the first missing key.
    """
    header, _, rest = text.partition("\n\n")
    values = {}
    for line in header.splitlines():
        key, separator, value = line.partition(": ")
        if not separator:
            key, value = line.rstrip(":"), ""
        values[key.strip()] = value.strip()
    missing = [key for key in REPORT_FIELDS if key not in values]
    if missing:
        raise LedgerError(f"verification report lacks {missing[0]!r}; regenerate it with `paczero privacy verify`")
    values["summary"] = rest.splitlines()[0] if rest else ""
    return values


def load_recipe(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return (recipe, metrics) of a run: the recipe from metrics.json, else from recipe.json."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    recipe_path = run_dir / "recipe.json"
    if metrics_path.exists():
        metrics = _read_json_object(metrics_path)
        if "recipe" not in metrics:
            raise LedgerError(f"{metrics_path} has no 'recipe' key; the run did not finish writing its metrics")
        return metrics["recipe"], metrics
    if recipe_path.exists():
        return _read_json_object(recipe_path), None
    raise FileNotFoundError(f"neither {metrics_path} nor {recipe_path} exists; pass the folder of one run")


def load_diagnostics(path: str | Path) -> list[dict[str, Any]]:
    """Return the JSON objects of a diagnostics.jsonl file, one per non-empty line.

    Raises LedgerError naming the line when a line is not a JSON object; a
    broken last line is reported as a truncated write.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; the run wrote no per-step diagnostics")
    lines = path.read_text(encoding="utf-8").splitlines()
    last_content = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if index == last_content:
                raise LedgerError(
                    f"{path} line {index + 1} (the last line) is not valid JSON ({error.msg}); the write was "
                    "probably truncated. Remove that line or rerun the cell"
                ) from error
            raise LedgerError(f"{path} line {index + 1} is not valid JSON ({error.msg})") from error
        if not isinstance(record, dict):
            raise LedgerError(f"{path} line {index + 1} is a JSON {type(record).__name__}, expected an object")
        records.append(record)
    return records


def verify_run(run_dir: str | Path) -> VerificationResult:
    """Recompute and check the privacy ledger of one run folder (see the module docstring)."""
    run_dir = Path(run_dir)
    recipe, metrics = load_recipe(run_dir)
    method = recipe.get("method")
    if method in UNTRAINED_METHODS:
        return VerificationResult(
            ok=True, run_dir=str(run_dir), method=method, steps_checked=0, releases_checked=0,
            spent_nats=0.0, budget_nats=0.0, skipped=True,
            note="no training steps and no releases, so there is no privacy ledger to verify",
        )
    records = load_diagnostics(run_dir / "diagnostics.jsonl")
    if method in DP_METHODS:
        return _verify_dp_run(run_dir, recipe, metrics, records)

    config = _recipe_config(recipe, run_dir)
    checker = _LedgerChecker(config)
    for record in records:
        checker.check_step(record)
    checker.check_end(metrics)
    result = VerificationResult(
        ok=not checker.problems,
        run_dir=str(run_dir),
        method=config["method"],
        steps_checked=checker.steps,
        releases_checked=checker.releases,
        spent_nats=checker.account.spent,
        budget_nats=config["budget_nats"],
        first_bad_step=checker.first_bad_step,
        problems=checker.problems,
    )
    logger.debug("ledger of %s: %s", run_dir, result.summary_line())
    return result


def _verify_dp_run(
    run_dir: Path, recipe: dict[str, Any], metrics: dict[str, Any] | None, records: list[dict[str, Any]]
) -> VerificationResult:
    checker = DpChecker(recipe, metrics)
    checker.check(records)
    return VerificationResult(
        ok=not checker.problems,
        run_dir=str(run_dir),
        method=recipe["method"],
        steps_checked=checker.steps,
        releases_checked=checker.releases,
        spent_nats=0.0,
        budget_nats=0.0,
        first_bad_step=checker.first_bad_step,
        problems=checker.problems[:MAX_PROBLEMS],
        note=checker.describe(),
    )


# ---------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise LedgerError(f"{path} is not valid JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(value, dict):
        raise LedgerError(f"{path} contains a JSON {type(value).__name__}, expected an object")
    return value


def _recipe_config(recipe: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    missing = [key for key in RECIPE_KEYS if key not in recipe]
    if missing:
        raise LedgerError(f"recipe of {run_dir} lacks {', '.join(missing)}; verification needs {', '.join(RECIPE_KEYS)}")
    method = recipe["method"]
    if method not in VERIFIED_METHODS:
        raise LedgerError(
            f"method {method!r} has no MI ledger; verify_run covers {', '.join(VERIFIED_METHODS)}, "
            f"the DP baselines {', '.join(DP_METHODS)} and {', '.join(UNTRAINED_METHODS)}"
        )
    if recipe["budget_schedule"] not in SCHEDULES:
        raise LedgerError(f"recipe budget_schedule {recipe['budget_schedule']!r} is not one of {SCHEDULES}")
    config = {
        "method": method,
        "budget_nats": float(recipe["budget_nats"]),
        "budget_schedule": recipe["budget_schedule"],
        "steps": int(recipe["steps"]),
        "directions": int(recipe["directions"]),
        "num_subsets": int(recipe["num_subsets"]),
    }
    if config["steps"] < 1 or config["directions"] < 1 or config["num_subsets"] < 2:
        raise LedgerError(f"recipe of {run_dir} has steps, directions or num_subsets out of range: {config}")
    if method == "pacmi" and not (math.isfinite(config["budget_nats"]) and config["budget_nats"] > 0.0):
        raise LedgerError(f"recipe budget_nats must be > 0 for pacmi, got {config['budget_nats']!r}")
    return config


def _close(logged: Any, expected: float) -> bool:
    if not isinstance(logged, (int, float)) or isinstance(logged, bool):
        return False
    return abs(float(logged) - expected) <= max(ABSOLUTE_TOLERANCE_NATS, RELATIVE_TOLERANCE * abs(expected))


class _LedgerChecker:
    """Replays the public part of the mechanism step by step and collects problems."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.method = config["method"]
        self.directions = config["directions"]
        self.account = SpendAccount(config["budget_nats"] if self.method == "pacmi" else 0.0)
        self.problems: list[str] = []
        self.first_bad_step: int | None = None
        self.steps = 0
        self.releases = 0
        self.free_count = 0
        self.kind_counts = {"free": 0, "noisy": 0, "coin": 0, "nonprivate": 0}
        self.exhausted_at: int | None = None

    def problem(self, step: int | None, message: str) -> None:
        if self.first_bad_step is None and step is not None:
            self.first_bad_step = step
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"step {step}: {message}" if step is not None else message)

    def check_step(self, record: dict[str, Any]) -> None:
        # Budgets are recomputed from the line's position, which equals its step index in a valid ledger.
        index = self.steps
        step = record.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            self.problem(index, f"field 'step' is {step!r}, expected the integer {index}")
        elif step != index:
            self.problem(index, f"step is {step}, expected {index} (steps must run 0, 1, 2, ... without gaps)")
        self.steps += 1
        if index >= self.config["steps"]:
            self.problem(index, f"line {index + 1} is beyond the recipe's {self.config['steps']} steps")
            return
        if self.exhausted_at is not None:
            self.problem(index, f"logged after the budget was exhausted at step {self.exhausted_at}")

        releases = self._per_release(record, index)
        if releases is None:
            return
        self.releases += len(releases)
        for release in releases:
            if release["release"] in self.kind_counts:
                self.kind_counts[release["release"]] += 1
        if self.method == "pacmi":
            self._check_pacmi(index, record, releases)
        elif self.method == "paczpl":
            self._check_paczpl(index, releases)
        else:
            self._check_nonprivate(index, releases)
        self._check_applied(index, record, releases)

    def check_end(self, metrics: dict[str, Any] | None) -> None:
        if self.account.spent_exact > Fraction(self.account.budget_nats):
            self.problem(None, f"total spend {self.account.spent!r} exceeds budget_nats {self.config['budget_nats']!r}")
        if metrics is None:
            return
        privacy = metrics.get("privacy")
        if not isinstance(privacy, dict):
            self.problem(None, "metrics.json has no privacy block; rerun the cell with the current trainer")
            return
        if privacy.get("method") != self.method:
            self.problem(None, f"metrics.json privacy.method is {privacy.get('method')!r}, recipe method {self.method!r}")
        if "spent_nats" not in privacy:
            self.problem(None, "metrics.json privacy block lacks spent_nats")
        elif not _close(privacy["spent_nats"], self.account.spent):
            self.problem(
                None,
                f"metrics.json privacy.spent_nats is {privacy['spent_nats']!r} but the logged spends sum to "
                f"{self.account.spent!r}",
            )
        self._check_summary_counts(metrics, privacy)

    def _check_summary_counts(self, metrics: dict[str, Any], privacy: dict[str, Any]) -> None:
        """Compare the step and release counts of metrics.json with the replayed ledger (fields that are present)."""
        counts = {"steps_run": self.steps}
        counts.update({f"{kind}_steps": self.kind_counts[kind] for kind in ("free", "noisy", "coin")})
        for name, expected in counts.items():
            if name in privacy and privacy[name] != expected:
                self.problem(None, f"metrics.json privacy.{name} is {privacy[name]!r}, the ledger gives {expected}")
        if "steps_run" in metrics and metrics["steps_run"] != self.steps:
            self.problem(None, f"metrics.json steps_run is {metrics['steps_run']!r}, diagnostics.jsonl has {self.steps} steps")
        if self.method == "pacmi" and "stop_step" in privacy and privacy["stop_step"] != self.exhausted_at:
            self.problem(
                None, f"metrics.json privacy.stop_step is {privacy['stop_step']!r}, the budget ran out at step {self.exhausted_at!r}"
            )

    # -- per-method checks ----------------------------------------------------

    def _per_release(self, record: dict[str, Any], step: int) -> list[dict[str, Any]] | None:
        missing = [name for name in PER_RELEASE_FIELDS if name not in record]
        if missing:
            self.problem(step, f"missing fields {', '.join(missing)}")
            return None
        if self.directions == 1:
            return [{name: record[name] for name in PER_RELEASE_FIELDS}]
        releases = []
        for name in PER_RELEASE_FIELDS:
            values = record[name]
            if not isinstance(values, list) or len(values) != self.directions:
                self.problem(step, f"field {name!r} must be a list of {self.directions} values (one per direction)")
                return None
        for k in range(self.directions):
            releases.append({name: record[name][k] for name in PER_RELEASE_FIELDS})
        return releases

    def _check_pacmi(self, step: int, record: dict[str, Any], releases: list[dict[str, Any]]) -> None:
        config = self.config
        beta_step = step_budget(config["budget_schedule"], config["budget_nats"], self.account.spent, step, config["steps"])
        if "beta_step" in record and not _close(record["beta_step"], beta_step):
            self.problem(step, f"beta_step is {record['beta_step']!r}, recomputed {beta_step!r}")
        beta = release_budget(beta_step, self.directions)

        for k, release in enumerate(releases):
            label = f"direction {k}: " if self.directions > 1 else ""
            self._check_pacmi_release(step, label, beta, release)

        if "budget_remaining" in record and not _close(record["budget_remaining"], self.account.remaining()):
            self.problem(
                step, f"budget_remaining is {record['budget_remaining']!r}, recomputed {self.account.remaining()!r}"
            )
        if self.account.exhausted and self.exhausted_at is None:
            self.exhausted_at = step

    def _check_pacmi_release(self, step: int, label: str, beta: float, release: dict[str, Any]) -> None:
        q = release["q_plus"]
        if not isinstance(q, (int, float)) or isinstance(q, bool) or not 0.0 <= q <= 1.0:
            self.problem(step, f"{label}q_plus is {q!r}, expected a probability")
            return
        if not _close(release["beta"], beta):
            self.problem(step, f"{label}beta is {release['beta']!r}, recomputed {beta!r}")

        logged_spend = release["spent"]
        if is_unanimous(q):
            expected_kind, expected_spend, expected_sigma = "free", 0.0, None
        else:
            cap = ENTROPY_CAP_FRACTION * binary_entropy(q)
            expected_spend = max(0.0, min(beta, cap, self.account.remaining()))
            if expected_spend > 0.0:
                expected_kind, expected_sigma = "noisy", sigma_for_mi(q, expected_spend)
            else:
                expected_kind, expected_sigma = "coin", None
            if release["beta_cap"] is not None and not _close(release["beta_cap"], cap):
                self.problem(step, f"{label}beta_cap is {release['beta_cap']!r}, recomputed {cap!r}")

        if release["release"] != expected_kind:
            self.problem(step, f"{label}release is {release['release']!r}, expected {expected_kind!r} at q_plus={q!r}")
        if not _close(logged_spend, expected_spend):
            self.problem(step, f"{label}spent is {logged_spend!r}, recomputed {expected_spend!r}")
        sigma = release["sigma"]
        if expected_sigma is None:
            if sigma is not None:
                self.problem(step, f"{label}sigma is {sigma!r}, expected null for a {expected_kind} release")
        elif not _close(sigma, expected_sigma):
            self.problem(step, f"{label}sigma is {sigma!r}, recomputed {expected_sigma!r}")
        elif isinstance(logged_spend, (int, float)):
            delivered = binary_gaussian_mi(q, sigma)
            if delivered > logged_spend + MI_ABSOLUTE_TOLERANCE_NATS + MI_RELATIVE_TOLERANCE * logged_spend:
                self.problem(step, f"{label}sigma {sigma!r} leaks {delivered!r} nats but only {logged_spend!r} were charged")

        self._charge(step, label, logged_spend)
        if release["release"] == "free":
            self.free_count += 1
        self._check_running_totals(step, label, release)

    def _check_paczpl(self, step: int, releases: list[dict[str, Any]]) -> None:
        num_subsets = self.config["num_subsets"]
        for k, release in enumerate(releases):
            label = f"direction {k}: " if self.directions > 1 else ""
            num_plus = release["num_plus"]
            if not isinstance(num_plus, int) or not 0 <= num_plus <= num_subsets:
                self.problem(step, f"{label}num_plus is {num_plus!r}, expected an integer in [0, {num_subsets}]")
            else:
                expected_kind = "free" if num_plus in (0, num_subsets) else "coin"
                if release["release"] != expected_kind:
                    self.problem(step, f"{label}release is {release['release']!r}, expected {expected_kind!r} "
                                 f"with {num_plus} of {num_subsets} signs +1")
                if not _close(release["q_plus"], num_plus / num_subsets):
                    self.problem(step, f"{label}q_plus is {release['q_plus']!r}, but a uniform posterior gives "
                                 f"{num_plus / num_subsets!r}")
            self._check_zero_cost(step, label, release)
            if release["release"] == "free":
                self.free_count += 1
            self._check_running_totals(step, label, release)

    def _check_nonprivate(self, step: int, releases: list[dict[str, Any]]) -> None:
        for k, release in enumerate(releases):
            label = f"direction {k}: " if self.directions > 1 else ""
            if release["release"] != "nonprivate":
                self.problem(step, f"{label}release is {release['release']!r}, expected 'nonprivate'")
            self._check_zero_cost(step, label, release)
            self._check_running_totals(step, label, release)

    # -- shared checks ----------------------------------------------------------

    def _check_applied(self, step: int, record: dict[str, Any], releases: list[dict[str, Any]]) -> None:
        """Check the trainer's fields: K direction seeds, and coefficient k = released_k / K."""
        seeds = record.get("direction_seeds")
        if seeds is not None and (not isinstance(seeds, list) or len(seeds) != self.directions):
            self.problem(step, f"direction_seeds is {seeds!r}, expected a list of {self.directions} seeds")
        for k, release in enumerate(releases):
            label = f"direction {k}: " if self.directions > 1 else ""
            released = release["released"]
            if self.method != "nonprivate" and released not in (1.0, -1.0):
                self.problem(step, f"{label}released is {released!r}, expected +1 or -1 for {self.method}")
                continue
            noisy_value = release["noisy_value"]
            if release["release"] == "noisy" and isinstance(noisy_value, (int, float)):
                expected_sign = 1.0 if noisy_value >= 0.0 else -1.0
                if released != expected_sign:
                    self.problem(
                        step, f"{label}released is {released!r} but the noisy value {noisy_value!r} has sign {expected_sign!r}"
                    )
        coefficients = record.get("coefficients")
        if coefficients is None:
            return
        if not isinstance(coefficients, list) or len(coefficients) != self.directions:
            self.problem(step, f"coefficients is {coefficients!r}, expected a list of {self.directions} values")
            return
        for k, (coefficient, release) in enumerate(zip(coefficients, releases)):
            released = release["released"]
            if not isinstance(released, (int, float)) or isinstance(released, bool):
                continue
            if not _close(coefficient, float(released) / self.directions):
                label = f"direction {k}: " if self.directions > 1 else ""
                self.problem(
                    step,
                    f"{label}coefficient applied is {coefficient!r}, expected released / K = "
                    f"{float(released) / self.directions!r}",
                )

    def _check_zero_cost(self, step: int, label: str, release: dict[str, Any]) -> None:
        if release["spent"] != 0.0:
            self.problem(step, f"{label}spent is {release['spent']!r}, expected 0 for {self.method}")
        if release["sigma"] is not None:
            self.problem(step, f"{label}sigma is {release['sigma']!r}, expected null for {self.method}")

    def _charge(self, step: int, label: str, spend: Any) -> None:
        if not isinstance(spend, (int, float)) or isinstance(spend, bool) or not math.isfinite(spend) or spend < 0:
            self.problem(step, f"{label}spent is {spend!r}, expected a finite number of nats >= 0")
            return
        if spend > self.account.remaining():
            self.problem(
                step,
                f"{label}spent {spend!r} exceeds the remaining budget {self.account.remaining()!r} "
                f"(budget_nats {self.config['budget_nats']!r})",
            )
            return
        if spend > 0.0:
            self.account.charge(spend)

    def _check_running_totals(self, step: int, label: str, release: dict[str, Any]) -> None:
        if not _close(release["cumulative_mi"], self.account.spent):
            self.problem(step, f"{label}cumulative_mi is {release['cumulative_mi']!r}, recomputed {self.account.spent!r}")
        if release["free_steps"] != self.free_count:
            self.problem(step, f"{label}free_steps is {release['free_steps']!r}, recomputed {self.free_count}")
