"""GPU locks of paczero.devices across processes, on fake device lists."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from workflow_helpers import REPO
from paczero.devices import DeviceError, acquire_devices, assign_devices

# A job that locks GPUs, prints CUDA_VISIBLE_DEVICES and holds the locks until its stdin closes.
HOLDER = textwrap.dedent("""
    import os, sys
    from paczero.devices import assign_devices
    assign_devices(int(sys.argv[1]), label="holder " + sys.argv[1], wait_s=0)
    print(os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
    sys.stdin.read()
""")


def start_holder(count, lock_dir, visible="0,1"):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": visible,
           "PACZERO_GPU_LOCK_DIR": str(lock_dir)}
    env.pop("SLURM_JOB_ID", None)
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(count)], env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = process.stdout.readline().strip()
    assert process.poll() is None, process.stderr.read()
    return process, line


def stop(process):
    process.stdin.close()
    process.wait(timeout=30)


def test_two_jobs_get_different_devices(tmp_path):
    first, first_devices = start_holder(1, tmp_path)
    second, second_devices = start_holder(1, tmp_path)
    try:
        assert {first_devices, second_devices} == {"0", "1"}
        with pytest.raises(DeviceError, match=r"no 1 free GPU\(s\) among 0, 1 after 0 s.*pid \d+: holder 1"):
            acquire_devices(1, "third job", devices=["0", "1"], lock_dir=tmp_path, wait_s=0)
    finally:
        stop(first)
        stop(second)


def test_killed_job_releases_its_device(tmp_path):
    holder, devices = start_holder(2, tmp_path)
    assert devices == "0,1"
    with pytest.raises(DeviceError):
        acquire_devices(1, "waiting job", devices=["0", "1"], lock_dir=tmp_path, wait_s=0)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    lease = acquire_devices(2, "next job", devices=["0", "1"], lock_dir=tmp_path, wait_s=0)
    assert lease.devices == ["0", "1"]
    lease.release()


def test_waiting_job_gets_freed_device(tmp_path):
    holder, devices = start_holder(1, tmp_path, visible="3")
    assert devices == "3"
    waiter = subprocess.Popen(
        [sys.executable, "-c",
         "from paczero.devices import acquire_devices; import sys;"
         f"print(acquire_devices(1, 'waiter', devices=['3'], lock_dir={str(tmp_path)!r}, wait_s=60).devices)"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(timeout=1.5)
    finally:
        stop(holder)
    output, errors = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, errors
    assert output.strip() == "['3']"


def test_more_gpus_than_visible_rejected(tmp_path):
    with pytest.raises(DeviceError, match=r"requests 3 GPU\(s\) but 2 are visible \(devices: 0, 1\)"):
        acquire_devices(3, "big job", devices=["0", "1"], lock_dir=tmp_path, wait_s=0)


def test_cpu_job_sees_no_gpu(tmp_path):
    environ = {"CUDA_VISIBLE_DEVICES": "0,1"}
    lease = assign_devices(0, "cpu job", environ=environ, lock_dir=tmp_path)
    assert environ["CUDA_VISIBLE_DEVICES"] == ""
    assert lease.devices == []


def test_slurm_assignment_left_alone(tmp_path):
    environ = {"CUDA_VISIBLE_DEVICES": "2", "SLURM_JOB_ID": "123"}
    assert assign_devices(1, "slurm job", environ=environ, lock_dir=tmp_path) is None
    assert environ["CUDA_VISIBLE_DEVICES"] == "2"
    assert not list(tmp_path.iterdir())


def test_uuid_device_ids(tmp_path):
    environ = {"CUDA_VISIBLE_DEVICES": "GPU-8f3a/x,GPU-77"}
    lease = assign_devices(2, "uuid job", environ=environ, lock_dir=tmp_path, wait_s=0)
    assert environ["CUDA_VISIBLE_DEVICES"] == "GPU-8f3a/x,GPU-77"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["gpuGPU-77.lock", "gpuGPU-8f3a_x.lock"]
    lease.release()
