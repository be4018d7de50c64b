"""GPU assignment for jobs that share one workstation, through one lock file per device.

Snakemake's local executor limits how many GPU jobs run at once
(`--resources gpu=N`) but does not tell a job which GPU to use, and it does
not set CUDA_VISIBLE_DEVICES. A train job therefore takes an exclusive
`fcntl.flock` lock on `gpu<id>.lock` in a lock folder for each GPU it
requests and keeps the file open for its whole life. The kernel drops the
lock when the process exits, however it ends (SIGKILL included), so a
crashed job never leaves a device reserved. The job then sets
CUDA_VISIBLE_DEVICES to the devices it holds, which must happen before
torch is imported.

Under SLURM the scheduler assigns the GPUs and sets CUDA_VISIBLE_DEVICES
itself, so no lock is taken there.

This module does not import torch.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Folder of the lock files; the default is per user, under the system's temporary folder.
LOCK_DIR_ENV = "PACZERO_GPU_LOCK_DIR"
# Seconds a job waits for enough free devices before it fails.
WAIT_ENV = "PACZERO_GPU_WAIT_S"
DEFAULT_WAIT_S = 1800.0
POLL_S = 2.0


class DeviceError(RuntimeError):
    """No device assignment possible: too few GPUs, or all of them held by other jobs."""


@dataclass
class DeviceLease:
    """GPUs held by this process; the locks last until `release` or the end of the process."""

    devices: list[str]
    _descriptors: list[int] = field(default_factory=list, repr=False)

    def release(self) -> None:
        for descriptor in self._descriptors:
            os.close(descriptor)  # closing the only descriptor of the file drops its flock
        self._descriptors.clear()


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"paczero-gpu-locks-{os.getuid()}"


def visible_devices(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Return the device ids jobs may use: CUDA_VISIBLE_DEVICES if set, else every GPU nvidia-smi lists."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [device.strip() for device in visible.split(",") if device.strip()]
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.info("no GPU list: nvidia-smi could not run (%s)", error)
        return []
    if listing.returncode != 0:
        logger.info("no GPU list: nvidia-smi exited with %d: %s", listing.returncode, listing.stderr.strip())
        return []
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]


def _lock_path(lock_dir: Path, device: str) -> Path:
    # Device ids may be indices or UUIDs (GPU-8f3a...); keep file names plain.
    return lock_dir / f"gpu{re.sub(r'[^A-Za-z0-9._-]', '_', device)}.lock"


def _try_lock(path: Path) -> int | None:
    """Return an open descriptor holding an exclusive lock on `path`, or None when another process holds it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(descriptor)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return descriptor


def _write_holder(descriptor: int, label: str) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"pid {os.getpid()}: {label}\n".encode(), 0)


def _holders(lock_dir: Path, devices: list[str]) -> str:
    entries = []
    for device in devices:
        try:
            text = _lock_path(lock_dir, device).read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        entries.append(f"GPU {device}: {text or 'held'}")
    return "; ".join(entries)


def acquire_devices(
    count: int,
    label: str,
    devices: list[str] | None = None,
    lock_dir: str | os.PathLike | None = None,
    wait_s: float | None = None,
) -> DeviceLease:
    """Lock `count` free devices of `devices` (default: `visible_devices()`) for this process.

    Wait up to `wait_s` seconds (default: $PACZERO_GPU_WAIT_S, else 1800) for
    other jobs to free them, then raise DeviceError naming the holders.
    `label` names the job in the lock files and in the messages.
    """
    if count <= 0:
        return DeviceLease([])
    devices = visible_devices() if devices is None else list(devices)
    if count > len(devices):
        found = ", ".join(devices) if devices else "none"
        raise DeviceError(
            f"{label}: requests {count} GPU(s) but {len(devices)} are visible (devices: {found}); "
            "set CUDA_VISIBLE_DEVICES to the GPUs the jobs may use, or lower the job's gpu resource"
        )
    lock_dir = Path(lock_dir or os.environ.get(LOCK_DIR_ENV) or default_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    if wait_s is None:
        wait_s = float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_S))
    deadline = time.monotonic() + wait_s
    waiting_logged = False
    while True:
        locked: list[tuple[str, int]] = []
        for device in devices:
            descriptor = _try_lock(_lock_path(lock_dir, device))
            if descriptor is not None:
                locked.append((device, descriptor))
                if len(locked) == count:
                    break
        if len(locked) == count:
            for _, descriptor in locked:
                _write_holder(descriptor, label)
            chosen = [device for device, _ in locked]
            logger.info("%s: holding GPU(s) %s (locks in %s)", label, ",".join(chosen), lock_dir)
            return DeviceLease(chosen, [descriptor for _, descriptor in locked])
        # Release a partial set before waiting, so two jobs cannot block each other.
        DeviceLease([], [descriptor for _, descriptor in locked]).release()
        if time.monotonic() >= deadline:
            raise DeviceError(
                f"{label}: no {count} free GPU(s) among {', '.join(devices)} after {wait_s:g} s "
                f"({_holders(lock_dir, devices)}); lower --resources gpu to the number of GPUs, "
                f"or wait for the other jobs to finish"
            )
        if not waiting_logged:
            logger.warning("%s: waiting for %d free GPU(s): %s", label, count, _holders(lock_dir, devices))
            waiting_logged = True
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))


def assign_devices(
    count: int,
    label: str,
    environ: MutableMapping[str, str] = os.environ,
    **options,
) -> DeviceLease | None:
    """Point CUDA_VISIBLE_DEVICES at `count` GPUs of this job's own; call it before importing torch.

    Outside SLURM, lock the devices with `acquire_devices` (keyword `options`
    pass through) and return the lease. A job that requests no GPU gets an empty CUDA_VISIBLE_DEVICES.
    Inside a SLURM job (SLURM_JOB_ID set) leave CUDA_VISIBLE_DEVICES as SLURM
    set it and return None.
    """
    if "SLURM_JOB_ID" in environ:
        logger.info("%s: SLURM job %s assigned CUDA_VISIBLE_DEVICES=%s",
                    label, environ["SLURM_JOB_ID"], environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))
        return None
    options.setdefault("devices", visible_devices(environ) if count > 0 else [])
    lease = acquire_devices(count, label, **options)
    environ["CUDA_VISIBLE_DEVICES"] = ",".join(lease.devices)
    return lease
