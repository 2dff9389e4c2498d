"""The callbacks every dlbuild training run carries, and the spec's own.

Order matters for crash safety: the epoch log (``history.csv``) is written *before*
``BackupAndRestore`` saves an epoch, so a kill between the two re-runs that epoch and the log
replaces its row: every epoch appears in ``history.csv`` exactly once. Inputs: a checked spec and
its :class:`builder.run.rundir.RunDir`; outputs: ``keras.callbacks.Callback`` instances.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from builder.atomic import write_text
from builder.errors import Collector

if TYPE_CHECKING:  # pragma: no cover
    from builder.run.rundir import RunDir
    from builder.spec.load import Spec


# Per-epoch timing columns of history.csv (not metrics: plots and summaries skip them).
TIMING_COLUMNS = ("wall_seconds", "cpu_seconds")


def _epoch_log_callback(path: Path):
    import time

    import keras

    class EpochLog(keras.callbacks.Callback):
        """Writes ``history.csv`` atomically after every epoch; on resume drops rows of epochs
        that will be re-run, so each epoch is recorded exactly once.

        Besides Keras's logs each row has ``wall_seconds`` (elapsed time of the epoch, validation
        included, ``time.perf_counter``) and ``cpu_seconds`` (CPU time of the whole process in the
        epoch, ``time.process_time``: every TensorFlow thread counts, so it exceeds wall time when
        several cores work), to compare a run with hand-written Keras or another machine.
        """

        def __init__(self):
            super().__init__()
            self.rows: list[dict] = []
            self.first = True

        def on_train_begin(self, logs=None):
            if path.exists():
                with open(path, newline="") as f:
                    self.rows = list(csv.DictReader(f))

        def on_epoch_begin(self, epoch, logs=None):
            if self.first:
                self.rows = [r for r in self.rows if int(r["epoch"]) < epoch + 1]
                self.first = False
            self.started = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1}
            for k, v in (logs or {}).items():
                row[k] = float(v) if np.ndim(v) == 0 else v
            lr = getattr(self.model.optimizer, "learning_rate", None)
            if lr is not None and "learning_rate" not in row:
                row["learning_rate"] = float(np.asarray(lr))
            wall, cpu = self.started
            row["wall_seconds"] = round(time.perf_counter() - wall, 3)
            row["cpu_seconds"] = round(time.process_time() - cpu, 3)
            self.rows.append(row)
            keys = list(dict.fromkeys(k for r in self.rows for k in r))
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
            write_text(path, buf.getvalue())

    return EpochLog()


def nan_guard():
    """Keras's ``TerminateOnNaN`` that also remembers where the loss stopped being finite and keeps
    the weights of the last epoch that ended with a finite loss (a copy in memory)."""
    import keras

    class NaNGuard(keras.callbacks.TerminateOnNaN):
        def __init__(self):
            super().__init__()
            self.bad, self.epoch, self.good_weights, self.good_epoch = None, 0, None, 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)) and self.bad is None:
                self.bad = (self.epoch + 1, batch, float(loss))
            super().on_batch_end(batch, logs)

        def on_epoch_end(self, epoch, logs=None):
            if self.bad is None:
                self.good_weights, self.good_epoch = self.model.get_weights(), epoch + 1

    return NaNGuard()


def stop_on_interrupt(log=print):
    """A callback that makes Ctrl-C (SIGINT) stop training at the end of the current batch.

    The first Ctrl-C sets a flag (and says so); the next batch end, in training or validation,
    raises ``KeyboardInterrupt``, which :func:`builder.run.train.fit_one` records as the state
    ``interrupted`` (the CLI exits 130). Stopping at a batch boundary never cuts an epoch's
    bookkeeping in half, and ``--resume`` restarts the unfinished epoch from the last backup.
    A second Ctrl-C stops at once: the first restores Python's own handler. The handler is
    installed for the duration of ``fit`` and only in the main thread (signals reach no other).
    """
    import signal
    import threading

    import keras

    class StopOnInterrupt(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.requested, self._previous = False, None

        def _handler(self, signum, frame):
            self.requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            log("dlbuild: stopping at the end of this batch (Ctrl-C again to stop at once)")

        def on_train_begin(self, logs=None):
            if threading.current_thread() is threading.main_thread():
                self._previous = signal.signal(signal.SIGINT, self._handler)

        def on_train_end(self, logs=None):
            if self._previous is not None:
                signal.signal(signal.SIGINT, self._previous)
                self._previous = None

        def _check(self):
            if self.requested:
                self.on_train_end()
                raise KeyboardInterrupt

        def on_train_batch_end(self, batch, logs=None):
            self._check()

        def on_test_batch_end(self, batch, logs=None):
            self._check()

    return StopOnInterrupt()


def restore_from_chief(chief_backup: Path, worker_backup: Path) -> None:
    """Make a resuming worker restore the epoch the chief restores.

    Each worker's BackupAndRestore state is written independently, so a kill can leave the
    workers one epoch apart; resumed from different epochs, their collective ops no longer pair
    up (seen here as "expected data_type 1 but got data_type 9"). Synchronous training keeps
    every replica's weights and optimizer state equal, so the chief's backup is valid for all.
    """
    import shutil

    if worker_backup.exists():
        shutil.rmtree(worker_backup)
    if chief_backup.is_dir():
        shutil.copytree(chief_backup, worker_backup)


def _atomic_backup(backup_dir: str):
    """``keras.callbacks.BackupAndRestore`` whose two files are replaced atomically.

    Keras writes ``latest.weights.h5`` in place, so a kill during the write leaves a truncated
    file that h5py cannot open (its ``double_checkpoint`` fallback catches only ``OSError``, and
    h5py also raises ``RuntimeError``). Here both files are written under temporary names and
    renamed, weights first: a kill leaves the previous epoch's backup, or this epoch's weights
    with the previous epoch's counter (that epoch is then trained once more).
    """
    import json
    import os

    import keras

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):  # overrides Keras's private writer (keras/src/callbacks/backup_and_restore.py)
            os.makedirs(self.backup_dir, exist_ok=True)
            tmp_weights = os.path.join(self.backup_dir, "incomplete.weights.h5")
            self.model.save_weights(tmp_weights, overwrite=True)
            tmp_meta = self._training_metadata_path + ".tmp"
            with open(tmp_meta, "w") as f:
                json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_weights, self._weights_path)
            os.replace(tmp_meta, self._training_metadata_path)

    return AtomicBackupAndRestore(backup_dir)


def build_callbacks(spec: "Spec", run: "RunDir") -> list:
    """dlbuild's callbacks (epoch log, BackupAndRestore, TensorBoard) then the spec's own.

    Every path argument of a spec callback (by name: ``filepath``, ``filename``, ``log_dir``, …;
    :mod:`builder.spec.write_paths`) is placed inside the run directory.

    Raises:
        SpecError: a path argument that leads outside the run directory through a symbolic link
            (relative paths that climb out with ``..`` and absolute paths were refused by validate),
            located at the argument.
    """
    import keras

    from builder.catalog.registry import catalog
    from builder.errors import Diagnostic, SpecError
    from builder.spec import items as objects
    from builder.spec.write_paths import confine, is_path_argument

    cat = catalog()
    callbacks = [
        _epoch_log_callback(run.file("history.csv")),
        _atomic_backup(str(run.file("backup"))),
        keras.callbacks.TensorBoard(log_dir=str(run.file("tensorboard"))),
    ]
    problems = []
    for i, item in enumerate(spec.fit.get("callbacks") or []):
        checked = objects.check("callback", item, ("fit", "callbacks", i), cat, Collector())
        args = dict(checked.args)
        entry = cat.lookup("callback", checked.name)
        for key, value in args.items():
            if is_path_argument(key) and isinstance(value, str):
                try:
                    args[key] = str(confine(run.path, value))
                except ValueError as e:
                    where = checked.args_path if checked.scalar else checked.args_path + (key,)
                    problems.append(Diagnostic(f"{entry.display}: '{key}' {e}", where))
        callbacks.append(entry.load()(**objects.build_args(entry, args, cat)))
    if problems:
        raise SpecError(problems, spec.source)
    return callbacks
