"""Crash and resume: a resumed run ends exactly where an uninterrupted one does."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from paczero import journal as journal_module
from paczero.checkpoint import CheckpointError
from paczero.journal import JOURNAL_DIR, PRIVACY_STATE
from paczero.train import run_cell
from tests.conftest import REPO_ROOT, tiny_recipe

# Fields that measure time or memory, or record where the run resumed. Every other field must match.
VOLATILE = {"wall_time_s", "train_time_s", "steps_per_s", "peak_memory_mb", "resumed_from_step"}


class Crash(Exception):
    """Stands in for a killed process at a chosen point of the step loop."""


def _pacmi_recipe(**overrides):
    recipe = tiny_recipe(method="pacmi", budget_nats=0.2, steps=7, eval_every=3, num_subsets=8)
    recipe.update(overrides)
    return recipe


def _stable(metrics):
    return {k: v for k, v in metrics.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs, one per recipe, computed once."""
    cache = {}

    def run(recipe):
        key = json.dumps(recipe, sort_keys=True)
        if key not in cache:
            out = tmp_path_factory.mktemp("reference")
            metrics = run_cell(recipe, out, checkpoint_every=2)
            cache[key] = (metrics, (out / "diagnostics.jsonl").read_text())
        return cache[key]

    return run


def _crash_in_commit(monkeypatch, at_step, after_state):
    """Raise inside RunJournal.commit at `at_step`: after the privacy state was written
    (`after_state`) or before anything of that step was persisted."""
    original = journal_module.RunJournal.commit

    def commit(self, step, record, streams, privacy_state, spent):
        if step == at_step and not after_state:
            raise Crash(step)
        if step == at_step:
            journal_module.atomic_write_json(
                self.state_path,
                {"steps_done": step + 1, "recipe": self.recipe, "membership_digest": self.digest,
                 "rng": journal_module.rng_states(streams), "privacy": privacy_state, "record": record,
                 **({"spent_nats": spent} if spent is not None else {})},
            )
            raise Crash(step)
        return original(self, step, record, streams, privacy_state, spent)

    monkeypatch.setattr(journal_module.RunJournal, "commit", commit)


@pytest.mark.parametrize("at_step, after_state", [(0, False), (3, True), (4, False), (6, True)])
def test_crash_in_commit_then_resume_matches(tmp_path, monkeypatch, reference, at_step, after_state):
    recipe = _pacmi_recipe()
    expected_metrics, expected_diagnostics = reference(recipe)
    _crash_in_commit(monkeypatch, at_step, after_state)
    with pytest.raises(Crash):
        run_cell(recipe, tmp_path, checkpoint_every=2)
    assert not (tmp_path / "metrics.json").exists()
    monkeypatch.undo()
    metrics = run_cell(recipe, tmp_path, checkpoint_every=2)
    assert _stable(metrics) == _stable(expected_metrics)
    assert (tmp_path / "diagnostics.jsonl").read_text() == expected_diagnostics
    assert not (tmp_path / JOURNAL_DIR).exists()
    assert metrics["privacy"]["spent_nats"] <= recipe["budget_nats"]


def test_crash_after_update_resumes_from_checkpoint(tmp_path, monkeypatch, reference):
    recipe = _pacmi_recipe(track="lora", directions=2)
    expected_metrics, expected_diagnostics = reference(recipe)
    original = journal_module.apply_updates
    calls = {"n": 0}

    def apply_then_crash(trainable, record, weight_decay):
        original(trainable, record, weight_decay)
        calls["n"] += 1
        if calls["n"] == 5:
            raise Crash("after the update of step 4")

    monkeypatch.setattr("paczero.train.apply_updates", apply_then_crash)
    with pytest.raises(Crash):
        run_cell(recipe, tmp_path, checkpoint_every=2)
    monkeypatch.undo()
    metrics = run_cell(recipe, tmp_path, checkpoint_every=2)
    assert metrics["resumed_from_step"] == 5
    assert _stable(metrics) == _stable(expected_metrics)
    assert (tmp_path / "diagnostics.jsonl").read_text() == expected_diagnostics


def test_dp_crash_then_resume_matches(tmp_path, monkeypatch, reference):
    recipe = tiny_recipe(method="dpaggzo", directions=2, epsilon=2.0, sample_rate=0.5, steps=6, eval_every=3,
                         lr_schedule="constant")
    expected_metrics, expected_diagnostics = reference(recipe)
    _crash_in_commit(monkeypatch, 3, True)
    with pytest.raises(Crash):
        run_cell(recipe, tmp_path, checkpoint_every=2)
    monkeypatch.undo()
    metrics = run_cell(recipe, tmp_path, checkpoint_every=2)
    assert _stable(metrics) == _stable(expected_metrics)
    assert (tmp_path / "diagnostics.jsonl").read_text() == expected_diagnostics


def _crashed_run(tmp_path, monkeypatch, at_step=4):
    recipe = _pacmi_recipe()
    _crash_in_commit(monkeypatch, at_step, True)
    with pytest.raises(Crash):
        run_cell(recipe, tmp_path, checkpoint_every=2)
    monkeypatch.undo()
    return recipe


def test_missing_privacy_state_refuses(tmp_path, monkeypatch):
    recipe = _crashed_run(tmp_path, monkeypatch)
    (tmp_path / JOURNAL_DIR / PRIVACY_STATE).unlink()
    with pytest.raises(CheckpointError, match=r"privacy_state.json is missing but 4 steps are logged.*delete"):
        run_cell(recipe, tmp_path, checkpoint_every=2)


def test_spend_inconsistent_with_diagnostics_refuses(tmp_path, monkeypatch):
    recipe = _crashed_run(tmp_path, monkeypatch)
    path = tmp_path / JOURNAL_DIR / PRIVACY_STATE
    state = json.loads(path.read_text())
    state["spent_nats"] = state["spent_nats"] + 0.01
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="privacy state spent"):
        run_cell(recipe, tmp_path, checkpoint_every=2)


def test_missing_diagnostics_lines_refuse(tmp_path, monkeypatch):
    recipe = _crashed_run(tmp_path, monkeypatch)
    diagnostics = tmp_path / JOURNAL_DIR / "diagnostics.jsonl"
    lines = diagnostics.read_text().splitlines(keepends=True)
    diagnostics.write_text("".join(lines[:2]))
    with pytest.raises(CheckpointError, match="at step 5 but 2 diagnostics lines"):
        run_cell(recipe, tmp_path, checkpoint_every=2)


def test_changed_recipe_refuses(tmp_path, monkeypatch):
    recipe = _crashed_run(tmp_path, monkeypatch)
    with pytest.raises(CheckpointError, match=r"different recipe \(fields lr\)"):
        run_cell({**recipe, "lr": 2e-3}, tmp_path, checkpoint_every=2)


def test_cut_off_diagnostics_line_is_recovered(tmp_path, monkeypatch, reference):
    recipe = _pacmi_recipe()
    expected_metrics, expected_diagnostics = reference(recipe)
    _crashed_run(tmp_path, monkeypatch)
    diagnostics = tmp_path / JOURNAL_DIR / "diagnostics.jsonl"
    with open(diagnostics, "a") as handle:
        handle.write('{"step": 5, "q_pl')  # a write cut off by the crash
    metrics = run_cell(recipe, tmp_path, checkpoint_every=2)
    assert _stable(metrics) == _stable(expected_metrics)
    assert (tmp_path / "diagnostics.jsonl").read_text() == expected_diagnostics


def _train_command(recipe_path, out_dir, checkpoint_every):
    return [sys.executable, "-m", "paczero.cli", "train", "--recipe", str(recipe_path), "--out", str(out_dir),
            "--checkpoint-every", str(checkpoint_every)]


def _wait_for_steps(out_dir, steps, process, timeout=120):
    state = out_dir / JOURNAL_DIR / PRIVACY_STATE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"training exited early with status {process.returncode}")
        try:
            if json.loads(state.read_text())["steps_done"] >= steps:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.05)
    pytest.fail(f"no journal state at step {steps} within {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM])
def test_killed_process_resumes(tmp_path, reference, kill_signal):
    recipe = _pacmi_recipe(steps=30, eval_every=10, num_train=16)
    expected_metrics, expected_diagnostics = reference(recipe)
    recipe_path = tmp_path / "recipe.json"
    recipe_path.write_text(json.dumps(recipe))
    out_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(_train_command(recipe_path, out_dir, 0 if kill_signal == signal.SIGTERM else 4),
                               env=env, stderr=subprocess.PIPE, text=True)
    _wait_for_steps(out_dir, 6, process)
    process.send_signal(kill_signal)
    _, stderr = process.communicate(timeout=120)
    assert not (out_dir / "metrics.json").exists()
    if kill_signal == signal.SIGTERM:
        assert process.returncode == 75, stderr
        assert "checkpoint written" in stderr
    done = subprocess.run(_train_command(recipe_path, out_dir, 4), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["resumed_from_step"] >= 6
    assert _stable(metrics) == _stable(expected_metrics)
    assert (out_dir / "diagnostics.jsonl").read_text() == expected_diagnostics
