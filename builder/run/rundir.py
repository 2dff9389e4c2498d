"""Run directories: layout, state and ownership (no TensorFlow; writes go through builder.atomic).

A run directory (docs/architecture.md, "Run directory") holds::

    run.json             state (running | interrupted | failed | completed), spec name, times
    spec.resolved.yaml   the exact spec that ran: overrides and defaults applied
    model.keras          the trained model (written atomically)
    history.csv          one row per epoch, each epoch exactly once even across --resume
    metrics.json         {"test": {...}, "val": {...}, "params": N, "epochs": N, "fit_seconds": s}
    tensorboard/         TensorBoard logs (tensorboard --logdir runs/)
    backup/              Keras BackupAndRestore state while a run is unfinished
    *.png                learning_curves.png, confusion_matrix.png (classifiers), model.png (with
                         pydot and Graphviz: pip install "dlbuild[plots]"); see builder.run.plots

A plot not written is reported in one line; the pydot/Graphviz hint once per runs root, and each
run without model.png keeps the reason in its ``model.png.skipped.txt`` (``dlbuild plot RUN`` says
it every time).

A cross-validation directory (``fit.cross_validation``, :mod:`builder.run.crossval`) holds ``run.json``
(``kind: cross_validation``), ``spec.resolved.yaml``, ``fold-1/`` … ``fold-K/`` (each a run directory
as above), ``cv.json`` (every fold's metrics, mean ± sample std), ``model.keras`` (the ensemble of the
fold models) and ``metrics.json`` (the ensemble's test metrics, the folds' mean validation metrics).

Every file is written to a temporary name in the same directory, flushed, fsynced and renamed,
so a finished artifact is either complete or absent (POSIX ``rename`` is atomic).
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from pathlib import Path

from builder.atomic import write_json
from builder.errors import DlbuildError

STATES = ("running", "interrupted", "failed", "completed")


class RunDir:
    """A run directory and its state file.

    Raises:
        RunDirError: on resume, the directory is not a dlbuild run, belongs to another spec, or
            has already completed.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def new(cls, root: Path, name: str, prefix: str = "") -> "RunDir":
        """``root/<name>/<prefix><YYYYmmdd-HHMMSS>`` (a suffix is added if that exists already)."""
        stamp = prefix + datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(root) / name / stamp
        path, i = base, 1
        while path.exists():
            path, i = base.with_name(f"{stamp}-{i}"), i + 1
        return cls(path)

    @classmethod
    def latest_unfinished(cls, root: Path, name: str, kind: str = "run") -> "RunDir | None":
        """The most recent directory of ``kind`` (``run.json``'s ``kind``: ``run`` when absent,
        ``cross_validation``, ``tune``) for spec ``name`` under ``root`` that did not complete."""
        runs = sorted((Path(root) / name).glob("*/run.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for state_file in runs:
            run = cls(state_file.parent)
            state = run.state()
            if state.get("state") != "completed" and state.get("kind", "run") == kind:
                return run
        return None

    def file(self, name: str) -> Path:
        """Path of a file inside the run directory."""
        return self.path / name

    def state(self) -> dict:
        """Contents of ``run.json`` (``{}`` when absent or unreadable)."""
        try:
            return json.loads(self.file("run.json").read_text())
        except (OSError, ValueError):
            return {}

    def set_state(self, state: str, **extra) -> None:
        """Record ``state`` (one of :data:`STATES`) and extra fields in ``run.json``, atomically."""
        assert state in STATES
        data = {**self.state(), **extra, "state": state, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.file("run.json"), data)

    def check_resumable(self, name: str, kind: str = "run") -> None:
        """Refuse to resume a directory that is foreign, of another ``kind`` (a cross-validation
        directory resumed as one run, or the reverse), or complete (see :class:`RunDirError`)."""
        st = self.state()
        if not st:
            raise RunDirError(f"{self.path} is not a dlbuild run directory (no run.json); "
                              "resume takes a directory that 'dlbuild fit' created")
        if st.get("spec_name") != name:
            raise RunDirError(f"{self.path} is a run of '{st.get('spec_name')}', not of '{name}'")
        if st.get("kind", "run") != kind:
            what = {"run": "a single run", "cross_validation": "a cross-validation", "tune": "a tuning search"}
            raise RunDirError(f"{self.path} holds {what.get(st.get('kind', 'run'), st.get('kind'))}, not "
                              f"{what.get(kind, kind)}; resume it with the spec it was started with")
        if st.get("state") == "completed":
            raise RunDirError(f"{self.path} has already completed; start a new run instead of --resume")

    @contextlib.contextmanager
    def owned(self):
        """Hold the directory's ``run.lock`` (:mod:`builder.run.lock`) for the ``with`` block,
        creating the directory; a directory this call created and nothing filled is removed again
        (a spec error before training leaves no empty run directory behind).

        Raises:
            RunDirError: another live process works in the directory, or it cannot be created.
        """
        from builder.run import lock

        created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            lock.acquire(self.path)
        except lock.LockedError as err:
            raise RunDirError(str(err)) from None
        except OSError as exc:
            raise RunDirError(f"cannot write the run directory {self.path}: {exc.strerror or exc}") from None
        try:
            yield self
        finally:
            lock.release(self.path)
            if created and not any(self.path.iterdir()):
                self.path.rmdir()

    def prepare(self, needed_bytes: int = 0) -> None:
        """Create the directory and check, before any training starts, that it is writable and
        that its file system has at least ``needed_bytes`` free (see :func:`bytes_needed`).

        Raises:
            RunDirError: the directory cannot be created or written, or the disk is too full.
        """
        import shutil

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
            free = shutil.disk_usage(self.path).free
        except OSError as exc:
            raise RunDirError(f"cannot write the run directory {self.path}: {exc.strerror or exc}") from None
        if free < needed_bytes:
            raise RunDirError(f"not enough disk space for the run directory {self.path}: about "
                              f"{needed_bytes / 2**20:,.1f} MiB needed, {free / 2**20:,.1f} MiB free")


def bytes_needed(params: int, optimizer_slots: int = 2) -> int:
    """A lower bound on the bytes a run writes, for the free-space check before training.

    Args:
        params: the model's parameter count.
        optimizer_slots: variables the optimizer keeps per parameter (Adam: 2, its moments;
            Kingma & Ba 2015).

    Returns:
        Bytes: float32 weights in ``model.keras`` and in the best-epoch checkpoint, plus weights
        and optimizer slots in the ``backup/`` copy that BackupAndRestore writes (kept twice
        while it is being replaced atomically), plus 1 MiB for logs and plots.
    """
    weights = 4 * params
    return 2 * weights + 2 * weights * (1 + optimizer_slots) + 2**20


class RunDirError(DlbuildError):
    """A run directory cannot be used (unwritable, foreign, or already completed)."""
