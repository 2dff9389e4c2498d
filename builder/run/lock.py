"""One owner per run or tune directory: a lock file naming the process that works in it.

Two processes in one run directory corrupt it: a ``dlbuild fit --resume`` started while the
first fit still trains would restore the same ``backup/`` and race it on every file (seen as
``No such file or directory: …/backup/incomplete.weights.h5``). So whoever writes a directory
first creates ``run.lock`` with ``O_CREAT | O_EXCL`` (atomic on POSIX file systems, NFS v3+ too)
holding ``{"pid", "host", "started"}``, and removes it when done.

A lock left by a process that no longer exists (killed with SIGKILL, a crash) is *stale*: when
it names this host and its process is gone (``os.kill(pid, 0)`` raises ``ProcessLookupError``),
it is taken over. A lock from another host cannot be checked from here and is respected; the
message says which file to delete if that process is known to be gone.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import time
from pathlib import Path

LOCK_FILE = "run.lock"


class LockedError(Exception):
    """The directory is owned by another live process; the message names it and the way out."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def acquire(directory: Path) -> Path:
    """Own ``directory`` (it exists): create its :data:`LOCK_FILE`, taking over a stale one.

    Re-entrant within one process (a lock held by this PID is kept). The lock is also released at
    interpreter exit (``atexit``) in case the caller's own release is never reached.

    Returns:
        The lock file's path.

    Raises:
        LockedError: another live process on this host, or any process on another host, holds it.
    """
    path = Path(directory) / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for _ in range(2):  # the second pass follows the removal of a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _holder(path)
            if held.get("pid") == me["pid"] and held.get("host") == me["host"]:
                return path
            dead = held.get("host") == me["host"] and isinstance(held.get("pid"), int) and not _alive(held["pid"])
            # An unreadable lock older than a few seconds: its writer died between creating and filling it.
            torn = not held and path.exists() and time.time() - path.stat().st_mtime > 10
            if dead or torn:
                path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            who = f"process {held.get('pid', '?')} on {held.get('host', '?')}"
            raise LockedError(f"{directory} is in use by {who} (since {held.get('started', '?')}); wait for it "
                              f"to finish or stop it. If that process no longer runs, delete {path}") from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        atexit.register(release, Path(directory))
        return path
    raise LockedError(f"{directory}: another process took over its stale lock at the same moment; retry")


def release(directory: Path) -> None:
    """Remove ``directory``'s lock if this process holds it (a no-op otherwise)."""
    path = Path(directory) / LOCK_FILE
    held = _holder(path)
    if held.get("pid") == os.getpid() and held.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)
