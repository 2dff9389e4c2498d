"""One process per run directory (builder/run/lock.py), and Ctrl-C that stops at the next batch."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.run import lock
from builder.run.rundir import RunDir, RunDirError
from conftest import TINY_CNN

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _write_lock(directory: Path, pid: int, host: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / lock.LOCK_FILE).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                                        "started": "2026-12-04T10:00:00"}))


def test_a_live_owner_is_respected_and_a_stale_lock_is_taken_over(tmp_path: Path):
    run = tmp_path / "run"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(run, sleeper.pid)
        with pytest.raises(lock.LockedError, match=rf"{run} is in use by process {sleeper.pid} on "
                                                   rf"{socket.gethostname()} \(since 2026-12-04T10:00:00\); "
                                                   rf"wait for it to finish or stop it\. If that process no "
                                                   rf"longer runs, delete {run / lock.LOCK_FILE}"):
            lock.acquire(run)
    finally:
        sleeper.kill()
        sleeper.wait()
    lock.acquire(run)  # its process is gone: the lock is stale
    assert json.loads((run / lock.LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.acquire(run)  # re-entrant in one process
    lock.release(run)
    assert not (run / lock.LOCK_FILE).exists()


def test_a_torn_lock_is_taken_over_once_it_is_old(tmp_path: Path):
    """A writer killed between creating run.lock and filling it leaves an empty file."""
    (tmp_path / lock.LOCK_FILE).write_text("")
    with pytest.raises(lock.LockedError):  # it may be a writer that is filling it right now
        lock.acquire(tmp_path)
    old = time.time() - 60
    os.utime(tmp_path / lock.LOCK_FILE, (old, old))
    lock.acquire(tmp_path)
    assert json.loads((tmp_path / lock.LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release(tmp_path)


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path):
    _write_lock(tmp_path, 1, host="some-other-machine")
    with pytest.raises(lock.LockedError, match="in use by process 1 on some-other-machine"):
        lock.acquire(tmp_path)
    lock.release(tmp_path)  # not ours: kept
    assert (tmp_path / lock.LOCK_FILE).exists()


def test_owned_leaves_no_empty_run_directory_behind(tmp_path: Path):
    run = RunDir(tmp_path / "runs" / "spec" / "20261204-100000")
    with pytest.raises(ValueError):
        with run.owned():
            assert (run.path / lock.LOCK_FILE).is_file()
            raise ValueError("a spec error before anything is written")
    assert not run.path.exists()
    _write_lock(run.path, os.getppid())  # a live process that is not this one
    with pytest.raises(RunDirError, match="is in use by process"):
        with run.owned():
            pass


def _epochs(run: Path) -> list[int]:
    if not (run / "history.csv").exists():
        return []
    with open(run / "history.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def _start_fit(spec: str, out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "builder.cli", "fit", spec, "--out", str(out), "-q"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not _epochs(out):
        time.sleep(0.05)
    assert proc.poll() is None, "training finished (or failed) before the test could act"
    return proc


@pytest.mark.slow
def test_resume_while_the_run_trains_is_refused_and_ctrl_c_stops_it_at_the_next_batch(write_spec, tmp_path):
    spec = write_spec(TINY_CNN.replace("epochs: 2", "epochs: 40").replace("max_train_samples: 600",
                                                                          "max_train_samples: 3000"))
    out = tmp_path / "run"
    first = _start_fit(spec, out)
    second = subprocess.run([sys.executable, "-m", "builder.cli", "fit", spec, "--out", str(out), "--resume", "-q"],
                            env=ENV, capture_output=True, text=True, timeout=300)
    assert second.returncode == 1
    assert f"{out} is in use by process {first.pid} on {socket.gethostname()}" in second.stderr
    assert first.poll() is None  # the owner trains on, undisturbed

    first.send_signal(signal.SIGINT)
    err, _ = first.communicate(timeout=60)
    assert first.returncode == 130, err[-2000:]
    assert "stopping at the end of this batch (Ctrl-C again to stop at once)" in err
    assert json.loads((out / "run.json").read_text())["state"] == "interrupted"
    assert not (out / lock.LOCK_FILE).exists()
    done = _epochs(out)
    assert len(done) < 40 and done == list(range(1, len(done) + 1))


def test_the_first_ctrl_c_waits_for_the_batch_and_the_second_stops_at_once():
    from builder.run.callbacks import stop_on_interrupt

    lines = []
    before = signal.getsignal(signal.SIGINT)
    cb = stop_on_interrupt(lines.append)
    cb.on_train_begin()
    os.kill(os.getpid(), signal.SIGINT)  # the first: noted, training goes on
    assert cb.requested and lines == ["dlbuild: stopping at the end of this batch (Ctrl-C again to stop at once)"]
    with pytest.raises(KeyboardInterrupt):  # the second: Python's own handler, at once
        os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):  # the batch end stops training
        cb.on_train_batch_end(0)
    assert signal.getsignal(signal.SIGINT) is before  # the handler lives only while fit runs
