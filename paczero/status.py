"""State of every cell's run on disk, and an estimate of the compute the unfinished cells need.

A cell is in one of these states, decided in this order:

- `done`: `runs/<cell>/metrics.json` is valid, belongs to the cell, records
  the cell's current training recipe, and `diagnostics.jsonl` exists;
- `stale`: metrics.json is valid but records another recipe (another preset,
  data or model source, or an edited field); the workflow retrains it;
- `failed`: metrics.json exists but is invalid. Or there is no metrics.json,
  and the job log's last attempt ended in a Python traceback other than the
  `Preempted` exception of a checkpointed stop;
- `incomplete`: metrics.json is valid but diagnostics.jsonl is missing; or
  there is no metrics.json and the run folder holds a `journal/` (a
  zeroth-order run that is training now, was killed or was preempted; a
  rerun resumes from the journal) or a partial diagnostics.jsonl (a DP run,
  which restarts from step 0);
- `missing`: none of the above: no run folder, or one without any of these files.

Failure rule. The train rule's script appends one attempt per job to
`logs/train/<cell>.log`, starting with the line `training cell <cell> into
...`; the trainer logs `run end: cell <cell>` when it finishes. The last
attempt failed when it contains `Traceback (most recent call last):` and no
`run end:` line after the traceback. Snakemake's own incomplete markers
(`.snakemake/incomplete/`) are not read: they exist both while a job runs
and after it was killed, and the journal already shows the same thing. A job
killed without a traceback (SIGKILL, out of memory) therefore reads as
`incomplete`, like a running one.

Estimates. The hours of an unfinished cell are estimated from the finished
cells of the same model source, track and task: each one's measured
`steps_per_s` gives seconds per unit of work, where a step's work is the
number of directions times the examples per step (the training set, or its
expected Poisson sample for the DP baselines). References of the same method
family are preferred. The median over the references, times the cell's
remaining steps and work per step, plus the references' median time outside
the step loop (model loading, test evaluation), is the estimate. Without a
reference, the forward-pass model of `paczero.resources` gives a default
guess. A journal's finished steps are subtracted. PAC-MI runs that stop
early on an exhausted budget make the estimate an upper bound.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from paczero.recipe_fields import DP_METHODS, training_recipe
from paczero.resources import FORWARD_SECONDS_PER_BILLION, job_resources, model_billions
from paczero.tables import MetricsError, load_metrics, recipe_differences

log = logging.getLogger(__name__)

__all__ = [
    "CellStatus",
    "Estimate",
    "Reference",
    "STATES",
    "StatusReport",
    "cell_status",
    "collect_status",
    "default_seconds",
    "estimate_seconds",
    "format_csv",
    "format_json",
    "format_table",
    "log_failure",
    "run_files_snapshot",
    "work_per_step",
]

STATES = ("done", "stale", "failed", "incomplete", "missing")
METRICS_FILE = "metrics.json"
DIAGNOSTICS_FILE = "diagnostics.jsonl"
JOURNAL_DIR = "journal"
ATTEMPT_MARKER = "paczero.workflow: training cell"
RUN_END_MARKER = "run end: cell"
TRACEBACK_MARKER = "Traceback (most recent call last):"
PREEMPTED_EXCEPTION = "Preempted"


@dataclass
class CellStatus:
    """The state of one cell's run, and the estimated hours left for an unfinished one."""

    cell: str
    tables: list[str]
    state: str
    detail: str
    steps: int
    steps_done: int | None = None  # from metrics.json, the journal or a partial diagnostics.jsonl
    resumable_steps: int = 0  # finished steps that a rerun does not repeat (the journal's)
    hours: float | None = None  # estimated device hours left; None for done cells
    device: str = "gpu"  # "gpu" or "cpu", from paczero.resources.job_resources
    basis: str = ""  # how the estimate was made

    def row(self) -> dict[str, Any]:
        """Return the cell as a flat row (tables joined with ';') for CSV and text output."""
        row = asdict(self)
        row["tables"] = ";".join(self.tables)
        return row


@dataclass
class StatusReport:
    """The status of a set of cells, with totals per state and estimated hours per device."""

    cells: list[CellStatus]
    counts: dict[str, int] = field(default_factory=dict)
    hours: dict[str, float] = field(default_factory=dict)  # device -> estimated hours left
    measured_cells: int = 0  # unfinished cells estimated from finished ones
    guessed_cells: int = 0  # unfinished cells with the default guess

    def summary(self) -> str:
        """Return a few lines: counts per state, and the estimate with what it rests on."""
        counts = ", ".join(f"{self.counts.get(state, 0)} {state}" for state in STATES)
        lines = [f"{len(self.cells)} cells: {counts}"]
        unfinished = self.measured_cells + self.guessed_cells
        if unfinished:
            hours = ", ".join(f"{value:.3g} {device.upper()}-hours" for device, value in sorted(self.hours.items()))
            lines.append(
                f"estimated time left for {unfinished} unfinished cells: {hours} "
                f"({self.measured_cells} estimated from finished cells' measured steps_per_s, "
                f"{self.guessed_cells} from the default guess of paczero.resources); an estimate, not a measurement"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "cells": [asdict(status) for status in self.cells],
            "counts": self.counts,
            "estimated_hours": self.hours,
            "measured_cells": self.measured_cells,
            "guessed_cells": self.guessed_cells,
        }


# ---------------------------------------------------------------- job logs


def log_failure(log_path: str | Path) -> str | None:
    """Return the exception line when the job log's last attempt failed, else None.

    The last attempt starts at the last `training cell` line written by the
    train rule's script (or at the top of the file). It failed when it contains
    a traceback and no `run end:` line after it. A `Preempted` exception is
    a checkpointed stop that a rerun resumes, not a failure.
    """
    outcome = _attempt_outcome(Path(log_path))
    return outcome[1] if outcome and outcome[0] == "failed" else None


def _attempt_outcome(log_path: Path) -> tuple[str, str] | None:
    """Return ("failed" or "preempted", exception line) for the log's last attempt, or None."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    start = max((i for i, line in enumerate(lines) if ATTEMPT_MARKER in line), default=0)
    attempt = lines[start:]
    tracebacks = [i for i, line in enumerate(attempt) if line.startswith(TRACEBACK_MARKER)]
    if not tracebacks:
        return None
    after = attempt[tracebacks[-1] + 1:]
    if any(RUN_END_MARKER in line for line in after):
        return None
    exception = _exception_line(after)
    # "paczero.journal.Preempted: ..." -> "Preempted"
    name = exception.split(":", 1)[0].rsplit(".", 1)[-1]
    return ("preempted" if name == PREEMPTED_EXCEPTION else "failed"), exception


def _exception_line(lines: Sequence[str]) -> str:
    """Return the `Type: message` line that closes a traceback (the last unindented line)."""
    unindented = [line for line in lines if line and not line[0].isspace()]
    return unindented[-1].strip() if unindented else "traceback without an exception line"


# ---------------------------------------------------------------- one cell


def _count_lines(path: Path) -> int | None:
    """Return the non-empty lines of a diagnostics file (one per finished step), or None without one."""
    if not path.is_file():
        return None
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def cell_status(cell: str, recipe: Mapping[str, Any], results: str | Path, logs: str | Path) -> CellStatus:
    """Classify one cell's run under `results/runs/<cell>` with its job log `logs/<cell>.log`.

    `recipe` is the cell's resolved recipe (with `table`). The estimate
    fields are left empty; `collect_status` fills them in.
    """
    folder = Path(results) / "runs" / cell
    metrics_path = folder / METRICS_FILE
    log_path = Path(logs) / f"{cell}.log"
    status = CellStatus(cell, list(recipe.get("table", [])), "missing", "", recipe["steps"])

    if metrics_path.is_file():
        try:
            metrics = load_metrics(metrics_path)
        except MetricsError as error:
            status.state, status.detail = "failed", str(error)
            return status
        if metrics.get("cell") != cell:
            status.state = "stale"
            status.detail = f"metrics.json belongs to cell {metrics.get('cell')!r}"
            return status
        differences = recipe_differences(metrics["recipe"], training_recipe(dict(recipe)))
        if differences:
            status.state = "stale"
            status.detail = "trained with another recipe: " + "; ".join(differences)
            return status
        status.steps_done = metrics.get("steps_run")
        if not (folder / DIAGNOSTICS_FILE).is_file():
            status.state, status.detail = "incomplete", "metrics.json without diagnostics.jsonl"
            return status
        status.state, status.detail = "done", ""
        return status

    # No metrics.json: a journal (zeroth-order runs) resumes; the DP loop writes
    # diagnostics.jsonl as it goes and restarts from step 0.
    journal_steps = _count_lines(folder / JOURNAL_DIR / DIAGNOSTICS_FILE)
    partial_steps = _count_lines(folder / DIAGNOSTICS_FILE)
    if journal_steps is not None:
        status.steps_done = status.resumable_steps = journal_steps
        progress = f"journal at step {journal_steps} of {status.steps}, a rerun resumes there"
    elif partial_steps is not None:
        status.steps_done = partial_steps
        progress = f"diagnostics.jsonl at step {partial_steps} of {status.steps}, a rerun restarts at step 0"
    else:
        progress = ""

    outcome = _attempt_outcome(log_path)
    if outcome is not None and outcome[0] == "failed":
        status.state = "failed"
        status.detail = f"{log_path}: {outcome[1]}" + (f"; {progress}" if progress else "")
    elif progress:
        status.state = "incomplete"
        reason = "preempted" if outcome is not None else "running, or stopped without a traceback"
        status.detail = f"{progress} ({reason})"
    elif folder.is_dir():
        status.detail = "run folder without metrics.json, journal or diagnostics"
    return status


# ---------------------------------------------------------------- estimates


def work_per_step(recipe: Mapping[str, Any]) -> float:
    """Return the forward-pass pairs of one step: directions times the examples per step.

    The DP baselines use their expected Poisson sample (sample_rate times
    num_train), or the whole training set when `dp_noise` is false.
    """
    examples = float(recipe["num_train"])
    if recipe["method"] in DP_METHODS and recipe.get("dp_noise", True):
        examples = max(1.0, recipe["sample_rate"] * recipe["num_train"])
    return recipe["directions"] * examples


def default_seconds(recipe: Mapping[str, Any], steps: int) -> float:
    """Return a default guess of the seconds `steps` steps and the evaluations take.

    Uses the forward-pass times per billion parameters of `paczero.resources`
    (order-of-magnitude numbers for one A100-class GPU), without its startup
    time and safety factor.
    """
    per_forward = FORWARD_SECONDS_PER_BILLION[recipe["task"]] * model_billions(recipe)
    train = steps * 2 * work_per_step(recipe)
    evaluations = (steps // recipe["eval_every"] + 1) * recipe["num_dev"] + recipe["num_eval"]
    return (train + evaluations) * per_forward


@dataclass(frozen=True)
class Estimate:
    """Estimated seconds of a cell, how they were estimated, and whether from measurements."""

    seconds: float
    basis: str
    measured: bool


def _family(recipe: Mapping[str, Any]) -> str:
    return "dp" if recipe["method"] in DP_METHODS else "zo"


def _reference_key(recipe: Mapping[str, Any]) -> tuple:
    return (recipe["model_source"], recipe["track"], recipe["task"])


@dataclass(frozen=True)
class Reference:
    """A finished cell's measured speed, the basis of the estimates."""

    cell: str
    family: str
    seconds_per_work: float  # seconds per step and unit of work_per_step
    overhead_s: float  # wall time outside the step loop


def _reference(cell: str, metrics: Mapping[str, Any]) -> Reference | None:
    steps_per_s = metrics.get("steps_per_s")
    if not isinstance(steps_per_s, (int, float)) or not steps_per_s > 0:
        return None
    recipe = metrics["recipe"]
    overhead = max(0.0, float(metrics.get("wall_time_s") or 0.0) - float(metrics.get("train_time_s") or 0.0))
    return Reference(cell, _family(recipe), 1.0 / (steps_per_s * work_per_step(recipe)), overhead)


def estimate_seconds(
    recipe: Mapping[str, Any], remaining_steps: int, references: Sequence[Reference]
) -> Estimate:
    """Return the estimated seconds of `remaining_steps` steps of a cell, and the estimate's basis.

    `references` are the finished cells with the same model source, track
    and task; those of the same method family are used when there are any.
    """
    family = [ref for ref in references if ref.family == _family(recipe)]
    used = family or list(references)
    if not used:
        return Estimate(default_seconds(recipe, remaining_steps), "default guess", False)
    per_work = statistics.median(ref.seconds_per_work for ref in used)
    overhead = statistics.median(ref.overhead_s for ref in used)
    seconds = remaining_steps * work_per_step(recipe) * per_work + overhead
    plural = "cell" if len(used) == 1 else "cells"
    return Estimate(seconds, f"estimated from {len(used)} finished {plural}", True)


# ---------------------------------------------------------------- all cells


def collect_status(
    cells: Mapping[str, Mapping[str, Any]],
    results: str | Path,
    logs: str | Path = "logs/train",
    select: Sequence[str] | None = None,
) -> StatusReport:
    """Classify cells and estimate the hours the unfinished ones need.

    `cells` maps cell ids to resolved recipes (`paczero.cells.load_cells`);
    every finished one can serve as a reference for the estimates. `select`
    limits the report to some of them (default: all).
    """
    statuses = [cell_status(cell, recipe, results, logs) for cell, recipe in cells.items()]

    references: dict[tuple, list[Reference]] = {}
    for status in statuses:
        if status.state != "done":
            continue
        metrics = json.loads((Path(results) / "runs" / status.cell / METRICS_FILE).read_text(encoding="utf-8"))
        reference = _reference(status.cell, metrics)
        if reference is not None:
            references.setdefault(_reference_key(metrics["recipe"]), []).append(reference)

    if select is not None:
        unknown = [cell for cell in select if cell not in cells]
        if unknown:
            raise ValueError(f"unknown cells {', '.join(unknown)}; list the cells with: paczero cells")
        chosen = set(select)
        statuses = [status for status in statuses if status.cell in chosen]
    report = StatusReport(statuses)
    for status in statuses:
        recipe = cells[status.cell]
        status.device = "gpu" if job_resources(recipe)["gpu"] > 0 else "cpu"
        report.counts[status.state] = report.counts.get(status.state, 0) + 1
        if status.state == "done":
            continue
        remaining = max(0, recipe["steps"] - status.resumable_steps)
        estimate = estimate_seconds(recipe, remaining, references.get(_reference_key(recipe), []))
        status.hours = estimate.seconds / 3600.0
        status.basis = estimate.basis
        report.hours[status.device] = report.hours.get(status.device, 0.0) + status.hours
        if estimate.measured:
            report.measured_cells += 1
        else:
            report.guessed_cells += 1
    return report


# ---------------------------------------------------------------- output

COLUMNS = ("cell", "state", "tables", "steps_done", "steps", "hours", "device", "basis", "detail")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def format_csv(report: StatusReport) -> str:
    """Return one CSV row per cell; `hours` is the estimated device hours left (empty when done)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for status in report.cells:
        row = status.row()
        writer.writerow([_text(row[column]) for column in COLUMNS])
    return buffer.getvalue()


def format_json(report: StatusReport) -> str:
    """Return the report as JSON: cells, counts, estimated hours per device and the estimate's basis."""
    return json.dumps(report.to_json(), indent=2) + "\n"


def format_table(report: StatusReport) -> str:
    """Return aligned text columns, one line per cell, followed by the summary."""
    header = ["cell", "state", "tables", "steps", "est. hours", "basis", "detail"]
    lines = []
    for status in report.cells:
        steps = f"{status.steps_done}/{status.steps}" if status.steps_done is not None else f"-/{status.steps}"
        hours = f"{status.hours:.3g} {status.device}" if status.hours is not None else ""
        lines.append([status.cell, status.state, ";".join(status.tables), steps, hours, status.basis, status.detail])
    widths = [max([len(title)] + [len(line[i]) for line in lines]) for i, title in enumerate(header)]
    text = ["  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip() for line in [header, *lines]]
    return "\n".join(text) + "\n\n" + report.summary() + "\n"


def run_files_snapshot(cells: Mapping[str, Any], results: str | Path, logs: str | Path = "logs/train") -> str:
    """Return a digest of the size and modification time of every file `cell_status` reads.

    The workflow's status rule passes it as a param, so Snakemake rebuilds
    results/status.csv exactly when a run's files or job log changed.
    """
    digest = hashlib.sha256()
    for cell in cells:
        folder = Path(results) / "runs" / cell
        paths = (
            folder / METRICS_FILE,
            folder / DIAGNOSTICS_FILE,
            folder / JOURNAL_DIR / DIAGNOSTICS_FILE,
            Path(logs) / f"{cell}.log",
        )
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                digest.update(f"{path}:absent;".encode())
                continue
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()
