"""`paczero privacy` subcommands, run through paczero.cli.main."""

from __future__ import annotations

import re

import pytest

from paczero import cli
from paczero.privacy.channel import sigma_for_mi
from privacy_runs import make_recipe, write_diagnostics, write_run


@pytest.fixture(autouse=True)
def privacy_commands_only(monkeypatch):
    # Register only the privacy subcommands, so these tests do not depend on the train command's imports.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["paczero.commands.privacy"])


def run_cli(capsys, *argv):
    code = cli.main(["privacy", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_calibrate_prints_sigma(capsys):
    code, out, _ = run_cli(capsys, "calibrate", "--q-plus", "0.3", "--budget", "0.01")
    assert code == 0
    sigma = float(re.search(r"sigma=(\S+)", out).group(1))
    assert sigma == pytest.approx(sigma_for_mi(0.3, 0.01), rel=1e-11)


def test_calibrate_rejects_bad_q(capsys):
    code, _, err = run_cli(capsys, "calibrate", "--q-plus", "1.5", "--budget", "0.01")
    assert code == 2
    assert "q_plus must be a probability" in err


def test_convert_mi(capsys):
    code, out, _ = run_cli(capsys, "convert", "--mi", "0.33")
    assert code == 0
    assert "(88.19%)" in out
    assert "mi_nats=0.33" in out


def test_convert_epsilon_with_delta(capsys):
    code, out, _ = run_cli(capsys, "convert", "--epsilon", "2", "--delta", "1e-5")
    assert code == 0
    assert "(88.08%)" in out
    mi = float(re.search(r"mi_nats=(\S+)", out).group(1))
    assert mi == pytest.approx(0.328, abs=5e-4)
    assert "epsilon=2" in out


def test_convert_bound(capsys):
    code, out, _ = run_cli(capsys, "convert", "--bound", "0.5498")
    assert code == 0
    assert "epsilon=0.199" in out


def test_convert_rejects_small_prior(capsys):
    code, _, err = run_cli(capsys, "convert", "--mi", "0.33", "--prior", "0.01")
    assert code == 2
    assert "--prior must be in [0.5, 1)" in err


def test_convert_needs_one_value(capsys):
    with pytest.raises(SystemExit) as error:
        cli.main(["privacy", "convert", "--mi", "0.3", "--epsilon", "1"])
    assert error.value.code == 2


def test_verify_ok(tmp_path, capsys):
    write_run(tmp_path, make_recipe())
    code, out, _ = run_cli(capsys, "verify", str(tmp_path))
    assert code == 0
    assert out.startswith("OK ")
    assert len(out.strip().splitlines()) == 1


def test_verify_names_offending_step(tmp_path, capsys):
    records = write_run(tmp_path, make_recipe())
    target = [record["step"] for record in records if record["release"] == "noisy"][2]
    records[target]["sigma"] *= 2.0
    write_diagnostics(tmp_path, records)
    code, out, _ = run_cli(capsys, "verify", str(tmp_path))
    assert code == 1
    assert out.startswith("FAILED ")
    assert f"first offending step {target}" in out


def test_verify_missing_folder(tmp_path, capsys):
    code, _, err = run_cli(capsys, "verify", str(tmp_path / "absent"))
    assert code == 2
    assert "neither" in err


def test_verify_truncated_diagnostics(tmp_path, capsys):
    write_run(tmp_path, make_recipe())
    path = tmp_path / "diagnostics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    code, out, err = run_cli(capsys, "verify", str(tmp_path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"paczero privacy: error: {path} line {len(lines)} (the last line) is not valid JSON")
    assert "truncated" in err
    assert len(err.strip().splitlines()) == 1


def test_verify_truncated_metrics(tmp_path, capsys):
    write_run(tmp_path, make_recipe())
    path = tmp_path / "metrics.json"
    path.write_text(path.read_text()[:60])
    code, _, err = run_cli(capsys, "verify", str(tmp_path))
    assert code == 2
    assert err.startswith(f"paczero privacy: error: {path} is not valid JSON")
    assert len(err.strip().splitlines()) == 1


def test_help_states_units(capsys):
    for action, unit in [("calibrate", "nats"), ("convert", "nats"), ("verify", "RUN_DIR")]:
        with pytest.raises(SystemExit):
            cli.main(["privacy", action, "--help"])
        assert unit in capsys.readouterr().out
