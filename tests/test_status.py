"""Cell states, compute estimates and the `paczero status` command, on hand-written run folders."""

from __future__ import annotations

import csv
import io
import json

import pytest

from paczero.cli import build_parser, main
from paczero.status import (
    Reference,
    cell_status,
    collect_status,
    default_seconds,
    estimate_seconds,
    format_csv,
    log_failure,
    run_files_snapshot,
    work_per_step,
)
from run_fixtures import load_test_cells, pac_diagnostics, write_run

PAC_CELL = "sst2_opt-1.3b_ft_pacmi_mi0.33_s0"
DP_CELL = "sst2_opt-1.3b_ft_dpzero_eps0.5_s0"

TRACEBACK = """\
2026-01-01 10:00:00,000 INFO paczero.workflow: training cell {cell} into results/runs/{cell}
2026-01-01 10:00:01,000 INFO paczero.train: run start: cell {cell}, recipe {{}}
Traceback (most recent call last):
  File "train_cell.py", line 28, in <module>
    run_cell(recipe, out_dir)
  File "paczero/train.py", line 206, in run_cell
    raise {exception}
{exception}
"""


@pytest.fixture()
def setup(tmp_path):
    config, cells = load_test_cells(tmp_path)
    results, logs = tmp_path / "results", tmp_path / "logs" / "train"
    logs.mkdir(parents=True)
    return config, cells, results, logs


def state(cells, results, logs, cell):
    status = cell_status(cell, cells[cell], results, logs)
    return status.state, status.detail


# ---------------------------------------------------------------- states


def test_done(setup):
    _, cells, results, logs = setup
    write_run(results, cells[PAC_CELL], 70.0, diagnostics=pac_diagnostics(cells[PAC_CELL], 20))
    status = cell_status(PAC_CELL, cells[PAC_CELL], results, logs)
    assert status.state == "done"
    assert status.steps_done == 20
    assert status.tables == ["table1", "appendix/ft-plateau-adaptive"]


def test_missing_without_folder(setup):
    _, cells, results, logs = setup
    assert state(cells, results, logs, PAC_CELL) == ("missing", "")


def test_missing_with_empty_folder(setup):
    _, cells, results, logs = setup
    (results / "runs" / PAC_CELL).mkdir(parents=True)
    assert state(cells, results, logs, PAC_CELL) == ("missing", "run folder without metrics.json, journal or diagnostics")


def test_incomplete_with_journal(setup):
    _, cells, results, logs = setup
    journal = results / "runs" / PAC_CELL / "journal"
    journal.mkdir(parents=True)
    (journal / "diagnostics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pac_diagnostics(cells[PAC_CELL], 7)))
    status = cell_status(PAC_CELL, cells[PAC_CELL], results, logs)
    assert status.state == "incomplete"
    assert status.steps_done == 7
    assert status.resumable_steps == 7
    assert "journal at step 7 of 20" in status.detail
    assert "running, or stopped without a traceback" in status.detail


def test_incomplete_after_preemption(setup):
    _, cells, results, logs = setup
    journal = results / "runs" / PAC_CELL / "journal"
    journal.mkdir(parents=True)
    (journal / "diagnostics.jsonl").write_text('{"step": 0}\n')
    exception = "paczero.journal.Preempted: cell stopped by signal 15 after step 1; checkpoint written"
    (logs / f"{PAC_CELL}.log").write_text(TRACEBACK.format(cell=PAC_CELL, exception=exception))
    status, detail = state(cells, results, logs, PAC_CELL)
    assert status == "incomplete"
    assert detail.endswith("(preempted)")


def test_incomplete_without_diagnostics(setup):
    _, cells, results, logs = setup
    write_run(results, cells[PAC_CELL], 70.0, diagnostics=None)
    assert state(cells, results, logs, PAC_CELL) == ("incomplete", "metrics.json without diagnostics.jsonl")


def test_incomplete_dp_partial_diagnostics(setup):
    _, cells, results, logs = setup
    folder = results / "runs" / DP_CELL
    folder.mkdir(parents=True)
    (folder / "diagnostics.jsonl").write_text('{"step": 0}\n{"step": 1}\n{"step": 2}\n')
    status = cell_status(DP_CELL, cells[DP_CELL], results, logs)
    assert status.state == "incomplete"
    assert status.steps_done == 3
    assert status.resumable_steps == 0
    assert "restarts at step 0" in status.detail


def test_failed_with_traceback(setup):
    _, cells, results, logs = setup
    exception = "TypeError: train_dp() takes 7 positional arguments but 9 were given"
    (logs / f"{DP_CELL}.log").write_text(TRACEBACK.format(cell=DP_CELL, exception=exception))
    status, detail = state(cells, results, logs, DP_CELL)
    assert status == "failed"
    assert detail == f"{logs / f'{DP_CELL}.log'}: {exception}"


def test_failed_keeps_journal_progress(setup):
    _, cells, results, logs = setup
    journal = results / "runs" / PAC_CELL / "journal"
    journal.mkdir(parents=True)
    (journal / "diagnostics.jsonl").write_text('{"step": 0}\n{"step": 1}\n')
    (logs / f"{PAC_CELL}.log").write_text(TRACEBACK.format(cell=PAC_CELL, exception="RuntimeError: CUDA out of memory"))
    status = cell_status(PAC_CELL, cells[PAC_CELL], results, logs)
    assert status.state == "failed"
    assert "RuntimeError: CUDA out of memory; journal at step 2 of 20, a rerun resumes there" in status.detail
    assert status.resumable_steps == 2


def test_failed_with_invalid_metrics(setup):
    _, cells, results, logs = setup
    folder = results / "runs" / PAC_CELL
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{not json")
    status, detail = state(cells, results, logs, PAC_CELL)
    assert status == "failed"
    assert "invalid JSON" in detail


def test_stale_recipe(setup):
    _, cells, results, logs = setup
    recipe = dict(cells[PAC_CELL], lr=0.5)
    write_run(results, recipe, 70.0, diagnostics=[])
    status, detail = state(cells, results, logs, PAC_CELL)
    assert status == "stale"
    assert detail == "trained with another recipe: lr: 0.5 -> 0.0001"


def test_stale_other_cell(setup):
    _, cells, results, logs = setup
    folder = write_run(results, cells[PAC_CELL], 70.0, diagnostics=[])
    other = results / "runs" / "sst2_opt-1.3b_ft_pacmi_mi0.33_s1"
    folder.rename(other)
    status, detail = state(cells, results, logs, "sst2_opt-1.3b_ft_pacmi_mi0.33_s1")
    assert status == "stale"
    assert PAC_CELL in detail


# ---------------------------------------------------------------- job logs


def test_log_failure_ignores_earlier_attempt(tmp_path):
    log = tmp_path / "cell.log"
    failed = TRACEBACK.format(cell="c", exception="ValueError: bad")
    log.write_text(failed + "2026-01-01 11:00:00,000 INFO paczero.workflow: training cell c into x\n")
    assert log_failure(log) is None  # the second attempt is still running


def test_log_failure_run_end_after_traceback(tmp_path):
    log = tmp_path / "cell.log"
    log.write_text(TRACEBACK.format(cell="c", exception="ValueError: bad") + "INFO paczero.train: run end: cell c\n")
    assert log_failure(log) is None


def test_log_failure_last_attempt(tmp_path):
    log = tmp_path / "cell.log"
    log.write_text(
        TRACEBACK.format(cell="c", exception="ValueError: first")
        + TRACEBACK.format(cell="c", exception="KeyError: 'steps_timed'")
    )
    assert log_failure(log) == "KeyError: 'steps_timed'"
    assert log_failure(tmp_path / "absent.log") is None


# ---------------------------------------------------------------- estimates


def test_work_per_step(setup):
    _, cells, _, _ = setup
    assert work_per_step(cells[PAC_CELL]) == 100
    assert work_per_step(cells["sst2_opt-1.3b_ft_dpaggzo_eps1_s0"]) == pytest.approx(4 * 0.064 * 100)
    assert work_per_step(dict(cells[DP_CELL], dp_noise=False)) == 100


def test_estimate_from_references(setup):
    _, cells, _, _ = setup
    recipe = dict(cells[PAC_CELL], num_train=200, directions=2, steps=10)
    # 2 steps/s at 100 examples x 1 direction: 0.005 s per unit of work; 30 s outside the loop.
    reference = Reference("ref", "zo", 1.0 / (2.0 * 100), 30.0)
    estimate = estimate_seconds(recipe, 10, [reference])
    assert estimate.seconds == pytest.approx(10 * 400 * 0.005 + 30.0)
    assert estimate.basis == "estimated from 1 finished cell"
    assert estimate.measured


def test_estimate_prefers_same_family(setup):
    _, cells, _, _ = setup
    references = [Reference("a", "zo", 0.01, 0.0), Reference("b", "zo", 0.03, 20.0), Reference("c", "dp", 1.0, 0.0)]
    estimate = estimate_seconds(cells[PAC_CELL], 20, references)
    assert estimate.seconds == pytest.approx(20 * 100 * 0.02 + 10.0)  # medians of a and b
    assert estimate.basis == "estimated from 2 finished cells"
    dp_estimate = estimate_seconds(cells[DP_CELL], 20, references[:2])
    assert dp_estimate.basis == "estimated from 2 finished cells"  # no DP reference: any family


def test_default_guess(setup):
    _, cells, _, _ = setup
    recipe = dict(cells[PAC_CELL], steps=10, eval_every=5, num_dev=50, num_eval=100)
    # 6e-4 s per example forward per billion parameters (SST-2), 1.3 billion parameters.
    expected = (10 * 2 * 100 + (10 // 5 + 1) * 50 + 100) * 6e-4 * 1.3
    assert default_seconds(recipe, 10) == pytest.approx(expected)
    estimate = estimate_seconds(recipe, 10, [])
    assert estimate.seconds == pytest.approx(expected)
    assert estimate.basis == "default guess"
    assert not estimate.measured


def test_collect_status_estimates(setup):
    _, cells, results, logs = setup
    done = "sst2_opt-1.3b_ft_pacmi_mi0.33_s1"
    write_run(results, cells[done], 70.0, diagnostics=[], steps_per_s=4.0, train_time_s=5.0, wall_time_s=45.0)
    journal = results / "runs" / PAC_CELL / "journal"
    journal.mkdir(parents=True)
    (journal / "diagnostics.jsonl").write_text('{"step": 0}\n' * 5)

    report = collect_status(cells, results, logs)
    by_cell = {status.cell: status for status in report.cells}
    assert by_cell[done].hours is None
    # 15 remaining steps x 100 examples x 1/(4 x 100) s + 40 s outside the loop.
    assert by_cell[PAC_CELL].hours * 3600 == pytest.approx(15 * 100 / 400 + 40.0)
    assert by_cell[PAC_CELL].basis == "estimated from 1 finished cell"
    lora = "sst2_opt-1.3b_lora_pacmi_mi0.33_s0"
    assert by_cell[lora].basis == "default guess"  # no finished LoRA cell
    assert report.counts == {"done": 1, "incomplete": 1, "missing": len(cells) - 2}
    unfinished = [s for s in report.cells if s.state != "done"]
    assert report.hours["gpu"] == pytest.approx(sum(s.hours for s in unfinished))
    assert report.measured_cells + report.guessed_cells == len(unfinished)
    summary = report.summary()
    assert f"{report.measured_cells} estimated from finished cells' measured steps_per_s" in summary
    assert "an estimate, not a measurement" in summary


def test_collect_status_select(setup):
    _, cells, results, logs = setup
    report = collect_status(cells, results, logs, select=[PAC_CELL])
    assert [status.cell for status in report.cells] == [PAC_CELL]
    with pytest.raises(ValueError, match="unknown cells nope"):
        collect_status(cells, results, logs, select=["nope"])


def test_format_csv_columns(setup):
    _, cells, results, logs = setup
    rows = list(csv.DictReader(io.StringIO(format_csv(collect_status(cells, results, logs)))))
    assert len(rows) == len(cells)
    assert set(rows[0]) == {"cell", "state", "tables", "steps_done", "steps", "hours", "device", "basis", "detail"}
    assert rows[0]["tables"] == "table1;appendix/ft-plateau-adaptive"


def test_snapshot_changes_with_files(setup):
    _, cells, results, logs = setup
    before = run_files_snapshot(cells, results, logs)
    assert run_files_snapshot(cells, results, logs) == before
    (logs / f"{PAC_CELL}.log").write_text("x")
    assert run_files_snapshot(cells, results, logs) != before


# ---------------------------------------------------------------- command line


def test_cli_json(setup, capsys):
    config, cells, results, logs = setup
    write_run(results, cells[PAC_CELL], 70.0, diagnostics=[])
    code = main(["status", "--config", str(config), "--results", str(results), "--logs", str(logs),
                 "--format", "json"])
    assert code == 0
    output = json.loads(capsys.readouterr().out)
    assert output["counts"]["done"] == 1
    assert len(output["cells"]) == len(cells)
    assert set(output["estimated_hours"]) == {"gpu"}


def test_cli_table_filter(setup, capsys):
    config, _, results, logs = setup
    code = main(["status", "--config", str(config), "--results", str(results), "--logs", str(logs),
                 "--table", "table3"])
    assert code == 0
    text = capsys.readouterr().out
    assert "3 cells: 0 done, 0 stale, 0 failed, 0 incomplete, 3 missing" in text
    assert "default guess" in text
    assert PAC_CELL not in text


def test_cli_unknown_table(setup, capsys):
    config, _, results, logs = setup
    assert main(["status", "--config", str(config), "--results", str(results), "--table", "table9"]) == 2
    assert "unknown table 'table9'; known: table1" in capsys.readouterr().err


def test_cli_results_default_from_config(setup, capsys):
    config, cells, results, logs = setup
    write_run(results, cells[PAC_CELL], 70.0, diagnostics=[])
    assert main(["status", "--config", str(config), "--logs", str(logs), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {row["cell"]: row["state"] for row in rows}[PAC_CELL] == "done"


def test_cli_help_documents_options():
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    help_text = subparsers.choices["status"].format_help()
    for option in ("--preset", "--config", "--cells", "--results", "--logs", "--table", "--format"):
        assert option in help_text
    assert "estimates the device hours" in help_text.replace("\n", " ")
