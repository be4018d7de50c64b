"""Atomic writes of paczero.io: complete files only, normal permissions, no leftovers."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from workflow_helpers import REPO
from paczero.io import atomic_write_json, atomic_write_text


def test_json_round_trip_without_leftovers(tmp_path):
    target = tmp_path / "run" / "metrics.json"
    atomic_write_json(target, {"b": 1, "a": [0.5]})
    assert json.loads(target.read_text()) == {"a": [0.5], "b": 1}
    assert [path.name for path in target.parent.iterdir()] == ["metrics.json"]


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"finished": True})
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic_write_json(target, {"loss": float("nan")})
    assert json.loads(target.read_text()) == {"finished": True}
    assert [path.name for path in tmp_path.iterdir()] == ["metrics.json"]


def test_permissions_follow_umask(tmp_path):
    target = tmp_path / "table.md"
    code = f"from paczero.io import atomic_write_text; atomic_write_text({str(target)!r}, 'x')"
    subprocess.run(f"umask 027 && {sys.executable} -c \"{code}\"", shell=True, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_replaces_existing_file(tmp_path):
    target = tmp_path / "table.md"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
