"""Training checkpoints: complete, atomic, and checked before a run resumes from them.

A checkpoint lives in `<run>/checkpoint/` and holds:
- `trainable.safetensors`: the trainable parameters (adapters for LoRA, every
  weight for full fine-tuning);
- `best.safetensors`: the dev-best trainable parameters, when a dev evaluation ran;
- `state.json`: the step reached, the recipe, the random-generator states of
  every stream, the privacy engine state (posterior, budget spent, counters,
  secret index), a digest of the membership matrix, the dev-best step and
  result, and the number of diagnostics lines written up to that step.

It is written into a temporary sibling folder that is renamed into place
after an fsync, so a killed job leaves either the previous checkpoint or the
new one, never a mix.
"""

from __future__ import annotations

from paczero.errors import CheckpointError  # noqa: F401 (re-exported)

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
TRAINABLE_FILE = "trainable.safetensors"
BEST_FILE = "best.safetensors"
FORMAT_VERSION = 1




@dataclass
class Checkpoint:
    state: dict[str, Any]
    trainable: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor] | None


def membership_digest(members: np.ndarray) -> str:
    """SHA-256 of the membership matrix, to check that a resumed run rebuilt the same subsets."""
    return hashlib.sha256(np.ascontiguousarray(members, dtype=np.uint8).tobytes()).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tensors(named: list[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in named}


def save_checkpoint(
    run_dir: Path,
    state: dict[str, Any],
    trainable: list[tuple[str, torch.nn.Parameter]],
    best: list[tuple[str, torch.Tensor]] | None,
) -> Path:
    """Write a checkpoint atomically and return its folder."""
    run_dir = Path(run_dir)
    final = run_dir / CHECKPOINT_DIR
    staging = run_dir / f".{CHECKPOINT_DIR}.tmp"
    previous = run_dir / f".{CHECKPOINT_DIR}.old"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(_tensors(trainable), str(staging / TRAINABLE_FILE))
    if best:
        save_file(_tensors(best), str(staging / BEST_FILE))
    payload = {"format_version": FORMAT_VERSION, **state}
    with open(staging / STATE_FILE, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, allow_nan=False)
        handle.flush()
        os.fsync(handle.fileno())
    for name in os.listdir(staging):
        fd = os.open(staging / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _fsync_dir(staging)
    # Swap: the old checkpoint stays complete until the new one is in place.
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    _fsync_dir(run_dir)
    shutil.rmtree(previous, ignore_errors=True)
    return final


def find_checkpoint(run_dir: Path) -> Path | None:
    """Return the checkpoint folder to resume from, or None when the run starts fresh.

    A crash between the two renames of `save_checkpoint` leaves only the old
    folder; it is complete and is used.
    """
    run_dir = Path(run_dir)
    for name in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.old"):
        candidate = run_dir / name
        if (candidate / STATE_FILE).is_file():
            return candidate
    return None


def load_checkpoint(folder: Path) -> Checkpoint:
    """Read a checkpoint; raise CheckpointError naming the file when a part is missing or unreadable."""
    folder = Path(folder)
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint state {folder / STATE_FILE} is unreadable ({error}); "
                              f"delete {folder} to restart the cell from step 0") from error
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {folder} has format {state.get('format_version')!r}, "
                              f"expected {FORMAT_VERSION}; delete it to restart the cell")
    trainable_path = folder / TRAINABLE_FILE
    if not trainable_path.is_file():
        raise CheckpointError(f"checkpoint {folder} has no {TRAINABLE_FILE}; delete it to restart the cell")
    best_path = folder / BEST_FILE
    return Checkpoint(
        state=state,
        trainable=load_file(str(trainable_path)),
        best=load_file(str(best_path)) if best_path.is_file() else None,
    )


def remove_checkpoint(run_dir: Path) -> None:
    """Delete the checkpoint folders of a finished run."""
    for name in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.old", f".{CHECKPOINT_DIR}.tmp"):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)
