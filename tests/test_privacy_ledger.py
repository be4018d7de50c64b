"""Ledger verification of synthetic run folders written with the real engine."""

from __future__ import annotations

import json

import pytest

from paczero.privacy.ledger import LedgerError, load_diagnostics, parse_report, verify_run
from privacy_runs import make_recipe, read_diagnostics, write_diagnostics, write_run


def noisy_steps(records):
    return [record["step"] for record in records if record["release"] == "noisy"]


@pytest.mark.parametrize("schedule", ["adaptive", "uniform"])
@pytest.mark.parametrize("directions", [1, 3])
def test_pacmi_run_passes(tmp_path, schedule, directions):
    recipe = make_recipe(steps=25, directions=directions, budget_schedule=schedule)
    write_run(tmp_path, recipe)
    result = verify_run(tmp_path)
    assert result.ok, result.problems
    assert result.steps_checked == 25
    assert result.releases_checked == 25 * directions
    assert result.spent_nats <= recipe["budget_nats"]
    assert result.first_bad_step is None


@pytest.mark.parametrize("method", ["paczpl", "nonprivate"])
def test_zero_cost_runs_pass(tmp_path, method):
    write_run(tmp_path, make_recipe(method=method, budget_nats=0.0, directions=2))
    result = verify_run(tmp_path)
    assert result.ok, result.problems
    assert result.spent_nats == 0.0


def test_recipe_json_fallback(tmp_path):
    write_run(tmp_path, make_recipe(), recipe_file="recipe")
    assert not (tmp_path / "metrics.json").exists()
    assert verify_run(tmp_path).ok


def test_altered_sigma_fails_at_step(tmp_path):
    records = write_run(tmp_path, make_recipe())
    target = noisy_steps(records)[3]
    records[target]["sigma"] *= 1.01
    write_diagnostics(tmp_path, records)

    result = verify_run(tmp_path)
    assert not result.ok
    assert result.first_bad_step == target
    assert "sigma" in result.problems[0]
    assert f"step {target}" in result.summary_line()


def test_altered_spend_fails_at_step(tmp_path):
    records = write_run(tmp_path, make_recipe())
    target = noisy_steps(records)[5]
    records[target]["spent"] *= 0.9
    write_diagnostics(tmp_path, records)

    result = verify_run(tmp_path)
    assert not result.ok
    assert result.first_bad_step == target
    assert "spent" in result.problems[0]


def test_altered_direction_sigma_fails(tmp_path):
    records = write_run(tmp_path, make_recipe(directions=3), unanimous_every=0)
    records[4]["sigma"][2] *= 0.99
    write_diagnostics(tmp_path, records)

    result = verify_run(tmp_path)
    assert result.first_bad_step == 4
    assert "direction 2" in result.problems[0]


def test_free_step_marked_noisy_fails(tmp_path):
    records = write_run(tmp_path, make_recipe())
    free = [record["step"] for record in records if record["release"] == "free"]
    assert free
    records[free[0]]["release"] = "noisy"
    write_diagnostics(tmp_path, records)
    result = verify_run(tmp_path)
    assert result.first_bad_step == free[0]
    assert "release" in result.problems[0]


def test_overspent_total_fails(tmp_path):
    recipe = make_recipe(budget_nats=0.2)
    write_run(tmp_path, recipe)
    recipe["budget_nats"] = 0.1
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["recipe"] = recipe
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    result = verify_run(tmp_path)
    assert not result.ok
    assert result.first_bad_step is not None


def test_metrics_spent_mismatch_fails(tmp_path):
    write_run(tmp_path, make_recipe())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["privacy"]["spent_nats"] += 0.01
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    result = verify_run(tmp_path)
    assert not result.ok
    assert result.first_bad_step is None
    assert "privacy.spent_nats" in result.problems[0]


def test_missing_step_fails(tmp_path):
    records = write_run(tmp_path, make_recipe())
    del records[6]
    write_diagnostics(tmp_path, records)
    result = verify_run(tmp_path)
    assert result.first_bad_step == 6
    assert "expected 6" in result.problems[0]


def test_zpl_coin_relabelled_fails(tmp_path):
    records = write_run(tmp_path, make_recipe(method="paczpl", budget_nats=0.0))
    coin = next(record["step"] for record in records if record["release"] == "coin")
    records[coin]["release"] = "free"
    write_diagnostics(tmp_path, records)
    result = verify_run(tmp_path)
    assert result.first_bad_step == coin


def test_truncated_last_line_is_reported(tmp_path):
    write_run(tmp_path, make_recipe())
    text = (tmp_path / "diagnostics.jsonl").read_text().rstrip("\n")
    (tmp_path / "diagnostics.jsonl").write_text(text[:-40])
    with pytest.raises(LedgerError, match="last line.*truncated"):
        verify_run(tmp_path)


def test_broken_middle_line_is_reported(tmp_path):
    write_run(tmp_path, make_recipe())
    lines = (tmp_path / "diagnostics.jsonl").read_text().splitlines()
    lines[2] = lines[2][:10]
    (tmp_path / "diagnostics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(LedgerError, match="line 3 is not valid JSON"):
        load_diagnostics(tmp_path / "diagnostics.jsonl")


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither"):
        verify_run(tmp_path)
    (tmp_path / "recipe.json").write_text(json.dumps(make_recipe()))
    with pytest.raises(FileNotFoundError, match="diagnostics.jsonl"):
        verify_run(tmp_path)


def test_recipe_without_keys_is_rejected(tmp_path):
    write_run(tmp_path, make_recipe(), recipe_file="recipe")
    recipe = json.loads((tmp_path / "recipe.json").read_text())
    del recipe["directions"]
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    with pytest.raises(LedgerError, match="lacks directions"):
        verify_run(tmp_path)


def test_unknown_method_is_rejected(tmp_path):
    recipe = make_recipe()
    recipe["method"] = "sgd"
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    (tmp_path / "diagnostics.jsonl").write_text("")
    with pytest.raises(LedgerError, match="has no MI ledger"):
        verify_run(tmp_path)


def test_dp_run_without_metrics_fails(tmp_path):
    recipe = make_recipe()
    recipe["method"] = "dpzero"
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    (tmp_path / "diagnostics.jsonl").write_text("")
    result = verify_run(tmp_path)
    assert not result.ok
    assert "no privacy block" in result.problems[0]


def test_zeroshot_run_is_skipped(tmp_path):
    recipe = make_recipe()
    recipe["method"] = "zeroshot"
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    result = verify_run(tmp_path)
    assert result.ok
    assert result.status == "SKIPPED"
    assert result.summary_line().startswith("SKIPPED")


def test_metrics_free_count_mismatch_fails(tmp_path):
    write_run(tmp_path, make_recipe())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["privacy"]["free_steps"] += 1
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    result = verify_run(tmp_path)
    assert not result.ok
    assert "privacy.free_steps" in result.problems[0]


def test_released_sign_of_noisy_value(tmp_path):
    records = write_run(tmp_path, make_recipe())
    target = noisy_steps(records)[2]
    records[target]["released"] = -records[target]["released"]
    write_diagnostics(tmp_path, records)
    result = verify_run(tmp_path)
    assert result.first_bad_step == target
    assert "has sign" in result.problems[0]


def test_report_round_trip(tmp_path):
    write_run(tmp_path, make_recipe())
    result = verify_run(tmp_path)
    parsed = parse_report(result.to_report())
    assert parsed["status"] == "OK"
    assert parsed["method"] == "pacmi"
    assert float(parsed["spent_nats"]) == result.spent_nats
    assert parsed["first_bad_step"] == ""
    assert parsed["summary"] == result.summary_line()


def test_report_without_status_is_rejected():
    with pytest.raises(LedgerError, match="lacks 'status'"):
        parse_report("method: pacmi\n\nOK x\n")


def test_read_diagnostics_helper_round_trip(tmp_path):
    records = write_run(tmp_path, make_recipe(steps=5))
    assert read_diagnostics(tmp_path) == json.loads(json.dumps(records))
