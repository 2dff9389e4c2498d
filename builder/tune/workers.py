"""Keras Tuner's chief/worker roles for one search shared by several processes, and its local workers.

Keras Tuner configures the role by environment variables (``KERASTUNER_ORACLE_IP``,
``KERASTUNER_ORACLE_PORT``, ``KERASTUNER_TUNER_ID``; keras_tuner ``distribute/utils.py``): the
chief serves the oracle over gRPC at ``HOST:PORT``, each worker asks it for trials. Inputs: the
``--chief``/``--worker`` address, a tuner id, the number of local workers. Outputs: this process's
environment set for its role; the local worker processes (:mod:`builder.run.workers`), one GPU
each when GPUs exist, logging to ``<tune dir>/worker<i>.log``.
"""

from __future__ import annotations

import os
from pathlib import Path

from builder.errors import Diagnostic, SpecError
from builder.run import workers as launcher

_ROLE_VARIABLES = ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID")


def split_address(address: str) -> tuple[str, str]:
    """``"HOST:PORT"`` → ``(host, port)``.

    Raises:
        SpecError: not ``HOST:PORT`` (located at the ``--chief``/``--worker`` option).
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SpecError([Diagnostic(f"expected HOST:PORT, e.g. 127.0.0.1:8000; received: {address!r}",
                                    origin="--chief/--worker", line=1, column=1, quote=address)])
    return host, port


def set_role(role: str, address: str | None, tuner_id: str) -> None:
    """Make this process Keras Tuner's ``role`` ("chief" or "worker") of the search at ``address``
    (no address: a search of its own, nothing set). The chief's tuner id must contain "chief".

    Raises:
        SpecError: ``address`` is not ``HOST:PORT``.
    """
    if address is None:
        return
    host, port = split_address(address)
    os.environ.update(KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port,
                      KERASTUNER_TUNER_ID="chief" if role == "chief" else tuner_id)


def local_chief_address() -> str:
    """A ``127.0.0.1:PORT`` address with a port free now, for a chief with local workers."""
    return f"127.0.0.1:{launcher.free_ports(1)[0]}"


def workers_for(gpus: int) -> int:
    """``tune --workers auto``: one worker process per GPU (each trial on its own GPU) when there
    are two or more; otherwise 0, trials in this process (one GPU or the CPU: a second process
    would only share the same device)."""
    return gpus if gpus >= 2 else 0


def auto_workers(log=print) -> int:
    """:func:`workers_for` the GPUs TensorFlow sees here, saying what was chosen."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    n = workers_for(gpus)
    log(f"dlbuild: --workers auto: {gpus} GPUs, {n} worker processes (one trial per GPU)" if n else
        f"dlbuild: --workers auto: {'1 GPU' if gpus == 1 else 'no GPU'}, trials run in this process")
    return n


def start_local_workers(n: int, spec_file: str, overrides: list, out: Path, address: str, log=print) -> list:
    """Start ``n`` ``dlbuild tune --worker`` processes on this host, sharing the chief at
    ``address`` and the tune directory ``out``, one GPU each when GPUs exist
    (``CUDA_VISIBLE_DEVICES``, round robin); worker i logs to ``out/worker<i>.log``.

    Returns:
        The ``subprocess.Popen`` handles.
    """
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    argvs, envs, outputs = [], [], []
    for i in range(n):
        env = {k: v for k, v in os.environ.items() if k not in _ROLE_VARIABLES}  # a worker sets its own
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
        argvs.append(["tune", spec_file, "--out", str(out), "--worker", address, "--tuner-id", f"worker{i}"]
                     + [a for o in overrides for a in ("--set", o)])
        envs.append(env)
        outputs.append(out / f"worker{i}.log")
    procs = launcher.start_local(argvs, envs=envs, outputs=outputs)
    log(f"dlbuild: started {n} local worker(s) on {address}" + (f" over {gpus} GPU(s)" if gpus else ""))
    return procs
