import json

from paczero.cli import main
from tests.conftest import REPO_ROOT

CELL = "sst2_opt-1.3b_ft_paczpl_s0"


def _cell_args(tmp_path, *extra):
    return [
        "train", "--cell", CELL, "--preset", "demo",
        "--cells", str(REPO_ROOT / "config" / "cells.yaml"),
        "--config", str(REPO_ROOT / "config" / "config.yaml"),
        "--out", str(tmp_path), *extra,
    ]


def test_train_cell_by_id(tmp_path, capsys):
    assert main(_cell_args(tmp_path, "--steps", "3", "--eval-every", "3")) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["cell"] == CELL
    assert metrics["recipe"]["preset"] == "demo"
    assert metrics["recipe"]["model_source"] == "tiny:opt-small"
    assert metrics["recipe"]["num_subsets"] == 126
    assert metrics["steps_run"] == 3
    assert CELL in capsys.readouterr().out


def test_train_unknown_cell_is_one_line_error(tmp_path, capsys):
    args = _cell_args(tmp_path)
    args[2] = "sst2_opt-1.3b_ft_paczpl_s9"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "not found" in err
    assert "Traceback" not in err


def test_train_invalid_option_names_field(tmp_path, capsys):
    assert main(_cell_args(tmp_path, "--clip", "0")) == 2
    assert "field 'clip': must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()


def test_help_documents_units_and_defaults(capsys):
    try:
        main(["train", "--help"])
    except SystemExit as stop:
        assert stop.code == 0
    text = capsys.readouterr().out
    assert "--budget-nats" in text
    assert "budget B in nats" in text
    assert "(default: 0.001)" in text  # zo_eps
    assert "--checkpoint-every" in text
