"""The run journal: crash-safe progress of one training run, and resumption from it.

While a cell trains, `<run>/journal/` contains
- `diagnostics.jsonl`: one line per finished step, with the step's direction
  seeds and the coefficients applied to them;
- `privacy_state.json`: rewritten atomically after every step, before that
  step's diagnostics line and before the model is updated. It holds the state
  of every random stream, the privacy engine's state (posterior, budget spent,
  counters, secret index) and the step's own diagnostics record;
- `checkpoint/`: the trainable weights and dev-best weights at a step
  (see `paczero.checkpoint`), written every `checkpoint_every` steps and when
  the job receives SIGTERM or SIGUSR1.

A release is therefore persisted before anything uses it, and a resumed run
never releases the same step twice: it reloads the weights of the last
checkpoint and replays the logged updates of the steps after it (a
zeroth-order update is a function of its direction seed and coefficient
alone), then continues with the privacy state of the last logged step. Even
on hardware whose forward passes are not bit-reproducible, no release is
recomputed, so no budget is spent twice. When the run finishes, the journal's
diagnostics become `<run>/diagnostics.jsonl` and the journal is deleted.
"""

from __future__ import annotations

from paczero.errors import Preempted  # noqa: F401 (re-exported)

import json
import logging
import os
import shutil
import signal
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from paczero import zo
from paczero.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    membership_digest,
    save_checkpoint,
)
from paczero.io import atomic_write_bytes, atomic_write_json

logger = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
JOURNAL_DIAGNOSTICS = "diagnostics.jsonl"
PRIVACY_STATE = "privacy_state.json"
RESUME_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)




class StopRequest:
    """Turns SIGTERM and SIGUSR1 into a flag that the step loop checks between steps."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        try:
            for number in RESUME_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        except ValueError:
            # Not the main thread: signals cannot be caught here; periodic checkpoints still apply.
            self._previous.clear()
        return self

    def _handle(self, number, frame) -> None:  # noqa: ARG002 - signal handler signature
        self.signal_number = number

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


def rng_states(streams: dict[str, np.random.Generator]) -> dict[str, Any]:
    return {name: generator.bit_generator.state for name, generator in streams.items()}


def set_rng_states(streams: dict[str, np.random.Generator], states: dict[str, Any]) -> None:
    for name, generator in streams.items():
        generator.bit_generator.state = states[name]


def apply_updates(trainable, record: dict[str, Any], weight_decay: float) -> None:
    """Apply one step's update from its logged direction seeds and coefficients.

    Weight decay is applied once per step, with the first direction."""
    for k, (seed, coefficient) in enumerate(zip(record["direction_seeds"], record["coefficients"])):
        zo.update(trainable, seed, coefficient, record["lr"], weight_decay if k == 0 else 0.0)


def replay_step(trainable, record: dict[str, Any], zo_eps: float, weight_decay: float) -> None:
    """Redo a logged step's effect on the weights without any forward pass.

    Perturbing by +eps, -2 eps and +eps does not return floating-point weights
    exactly to where they were, so the replay repeats those cheap additions
    before the update. The replayed weights then equal the original run's bit
    for bit on the same hardware. A DP step whose Poisson sample was
    empty ran no perturbation."""
    if record.get("batch_size", 1) > 0:
        for seed in record["direction_seeds"]:
            zo.perturb(trainable, seed, zo_eps)
            zo.perturb(trainable, seed, -2.0 * zo_eps)
            zo.perturb(trainable, seed, zo_eps)
    apply_updates(trainable, record, weight_decay)


class RunJournal:
    """Persists every step of a run and restores a run from its journal."""

    def __init__(self, out_dir: Path, recipe: dict[str, Any], members: np.ndarray | None, checkpoint_every: int | None):
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / JOURNAL_DIR
        self.recipe = recipe
        self.digest = membership_digest(members) if members is not None else None
        self.checkpoint_every = checkpoint_every
        self._diagnostics = None

    @property
    def diagnostics_path(self) -> Path:
        return self.folder / JOURNAL_DIAGNOSTICS

    @property
    def state_path(self) -> Path:
        return self.folder / PRIVACY_STATE

    # -- resume -------------------------------------------------------------------

    def _reject(self, reason: str) -> CheckpointError:
        return CheckpointError(
            f"cell {self.recipe['cell']!r}: cannot resume from {self.folder}: {reason}. "
            f"The releases logged there may already have been observed, so restarting would spend privacy budget again. "
            f"If nothing from this run was published, delete {self.folder} to restart the cell from step 0; "
            f"otherwise keep it and report the run as incomplete."
        )

    def _read_logged(self) -> list[dict[str, Any]]:
        if not self.diagnostics_path.is_file():
            return []
        text = self.diagnostics_path.read_text(encoding="utf-8")
        lines = text.split("\n")
        # A final line without its newline was cut off mid-write. The privacy state still contains that step.
        complete, tail = lines[:-1], lines[-1]
        if tail:
            logger.warning("dropping a partly written diagnostics line at the end of %s", self.diagnostics_path)
        records = []
        for number, line in enumerate(complete, start=1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise self._reject(f"line {number} of {self.diagnostics_path} is not valid JSON ({error})") from error
        return records

    def resume(
        self,
        streams: dict[str, np.random.Generator],
        trainable,
        best,
        load_privacy: Callable[[dict[str, Any]], None],
        evaluate_step: Callable[[int], None],
    ) -> int:
        """Restore the run from the journal; return the number of steps already done (0 for a fresh run).

        `load_privacy` receives the saved privacy state; `evaluate_step(step)` runs the
        dev evaluation that the original run did after `step` steps, if any."""
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            self._diagnostics = open(self.diagnostics_path, "w", encoding="utf-8")
            return 0
        logged = self._read_logged()
        if not self.state_path.is_file():
            if logged:
                raise self._reject(f"{PRIVACY_STATE} is missing but {len(logged)} steps are logged")
            self._diagnostics = open(self.diagnostics_path, "w", encoding="utf-8")
            return 0
        try:
            saved = json.loads(self.state_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise self._reject(f"{self.state_path} is not valid JSON ({error})") from error
        for key in ("steps_done", "recipe", "rng", "privacy", "record"):
            if key not in saved:
                raise self._reject(f"{PRIVACY_STATE} lacks {key!r}")
        if saved["recipe"] != self.recipe:
            changed = sorted(k for k in set(saved["recipe"]) | set(self.recipe) if saved["recipe"].get(k) != self.recipe.get(k))
            raise self._reject(f"the journal was written for a different recipe (fields {', '.join(changed)})")
        if saved.get("membership_digest") != self.digest:
            raise self._reject("the membership matrix differs from the one the journal was written with")
        steps_done = int(saved["steps_done"])
        if len(logged) == steps_done - 1:
            logged.append(saved["record"])  # the crash came between the state and its diagnostics line
        if len(logged) != steps_done:
            raise self._reject(f"{PRIVACY_STATE} is at step {steps_done} but {len(logged)} diagnostics lines are logged")
        for index, record in enumerate(logged):
            if record.get("step") != index:
                raise self._reject(f"diagnostics line {index + 1} is for step {record.get('step')!r}, expected {index}")
        if logged and logged[-1] != saved["record"]:
            raise self._reject(f"the last diagnostics line differs from the step record in {PRIVACY_STATE}")
        if "cumulative_mi" in saved["record"]:
            last = saved["record"]["cumulative_mi"]
            last = last[-1] if isinstance(last, list) else last
            spent = float(saved.get("spent_nats", last))
            if abs(spent - last) > 1e-12 * max(1.0, abs(spent)):
                raise self._reject(f"privacy state spent {spent!r} nats but the diagnostics say {last!r}")

        start = 0
        folder = find_checkpoint(self.folder)
        if folder is not None:
            checkpoint = load_checkpoint(folder)
            start = int(checkpoint.state["step"])
            if start > steps_done:
                raise self._reject(f"the checkpoint is at step {start}, after the last logged step {steps_done}")
            if checkpoint.state.get("recipe") != self.recipe:
                raise self._reject("the checkpoint was written for a different recipe")
            names = [name for name, _ in trainable]
            if sorted(checkpoint.trainable) != sorted(names):
                raise self._reject("the checkpoint's weights do not match the model's trainable parameters")
            with torch.no_grad():
                for name, param in trainable:
                    param.copy_(checkpoint.trainable[name].to(param.device, param.dtype))
            if checkpoint.best is not None:
                best.load(checkpoint.state["best_step"], checkpoint.state["best_dev"], [checkpoint.best[n] for n in names])
        logger.info(
            "resume cell %s: checkpoint at step %d, replaying %d logged steps to step %d",
            self.recipe["cell"], start, steps_done - start, steps_done,
        )
        for record in logged[start:steps_done]:
            replay_step(trainable, record, self.recipe["zo_eps"], self.recipe["weight_decay"])
            evaluate_step(record["step"])
        load_privacy(saved["privacy"])
        set_rng_states(streams, saved["rng"])
        # Rewrite the diagnostics without a cut-off tail, then append from here.
        self._write_lines(logged)
        self._diagnostics = open(self.diagnostics_path, "a", encoding="utf-8")
        return steps_done

    def _write_lines(self, records: list[dict[str, Any]]) -> None:
        tmp = self.diagnostics_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, allow_nan=False, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.diagnostics_path)

    # -- during training -------------------------------------------------------------

    def commit(self, step: int, record: dict[str, Any], streams, privacy_state: dict[str, Any], spent_nats: float | None) -> None:
        """Persist step `step`: privacy state first, then its diagnostics line (both fsynced)."""
        state = {
            "steps_done": step + 1,
            "recipe": self.recipe,
            "membership_digest": self.digest,
            "rng": rng_states(streams),
            "privacy": privacy_state,
            "record": record,
        }
        if spent_nats is not None:
            state["spent_nats"] = spent_nats
        atomic_write_json(self.state_path, state)
        self._diagnostics.write(json.dumps(record, allow_nan=False, sort_keys=True) + "\n")
        self._diagnostics.flush()
        os.fsync(self._diagnostics.fileno())

    def checkpoint_due(self, steps_done: int, stop: StopRequest) -> bool:
        return stop.requested or bool(self.checkpoint_every and steps_done % self.checkpoint_every == 0)

    def checkpoint_if_due(self, steps_done: int, finished: bool, stop: StopRequest, trainable, best) -> None:
        """Write a checkpoint when one is due after `steps_done` steps of an unfinished run;
        raise Preempted after it when a stop signal arrived."""
        if finished or not self.checkpoint_due(steps_done, stop):
            return
        self.save(steps_done, trainable, best)
        if stop.requested:
            raise Preempted(
                f"cell {self.recipe['cell']!r}: stopped by signal {stop.signal_number} after step {steps_done}; "
                "checkpoint written, rerun the same command to resume"
            )

    def save(self, steps_done: int, trainable, best) -> None:
        state = {
            "step": steps_done,
            "recipe": self.recipe,
            "best_step": best.step,
            "best_dev": best.dev,
        }
        best_named = list(zip([n for n, _ in trainable], best.tensors)) if best.tensors else None
        save_checkpoint(self.folder, state, trainable, best_named)
        logger.info("checkpoint written at step %d to %s", steps_done, self.folder)

    def export(self, final_path: Path) -> None:
        """Write the journal's diagnostics to `final_path` atomically; the journal stays."""
        self.close()
        atomic_write_bytes(final_path, self.diagnostics_path.read_bytes())

    def remove(self) -> None:
        """Delete the journal of a finished run."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        if self._diagnostics is not None:
            self._diagnostics.close()
            self._diagnostics = None
