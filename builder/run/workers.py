"""Local worker processes, the one launcher: free ports, N ``python -m builder.cli …`` processes, wait or watch.

``dlbuild fit --workers N`` (N ``fit --cluster … --worker-index i`` processes, the code path of a
real multi-worker cluster) and ``dlbuild tune --workers N`` (N ``tune --worker HOST:PORT``
processes of one Keras Tuner search) both start their workers here. Inputs: per worker, the
``dlbuild`` arguments, optionally its environment and where its output goes. Outputs: free TCP
ports on 127.0.0.1, ``subprocess.Popen`` handles, exit codes. No TensorFlow here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` now (the OS picks them; all are held until the
    last is found, so none repeats). A port may be taken again before a worker binds it."""
    socks = []
    try:
        for _ in range(n):
            sock = socket.socket()
            socks.append(sock)
            sock.bind((host, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_local(argvs: list[list[str]], *, envs: list[dict] | None = None,
                outputs: list | None = None) -> list[subprocess.Popen]:
    """Start one ``python -m builder.cli <argv>`` process per entry of ``argvs`` (this interpreter).

    Args:
        argvs: Per worker, the ``dlbuild`` arguments (``["fit", "spec.yaml", "--cluster", …]``).
        envs: Per worker, its whole environment; default this process's.
        outputs: Per worker, where its stdout and stderr go: None (this process's own),
            ``subprocess.DEVNULL``, or a Path (a log file, truncated, stderr merged into it);
            default None for every worker.

    Returns:
        The processes, in ``argvs`` order.
    """
    procs = []
    for i, argv in enumerate(argvs):
        out = outputs[i] if outputs else None
        env = envs[i] if envs else None
        cmd = [sys.executable, "-m", "builder.cli", *argv]
        if isinstance(out, Path):
            with open(out, "w") as log_file:  # the child keeps its own descriptor
                procs.append(subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT))
        else:
            procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=out))
    return procs


def wait_all(procs: list[subprocess.Popen]) -> list[int]:
    """Wait for every process; their exit codes, in order."""
    return [p.wait() for p in procs]


def interrupt_when_exited(procs: list[subprocess.Popen], grace_s: float = 30.0) -> threading.Event:
    """Interrupt the main thread (``KeyboardInterrupt``) ``grace_s`` seconds after every process in
    ``procs`` has exited, for a main thread that would otherwise wait forever on them (the chief of
    a Keras Tuner search blocks in its gRPC server loop while trials are missing).

    Returns:
        The event set just before the interrupt, so the caller can tell it from a Ctrl-C.
    """
    import _thread

    fired = threading.Event()

    def watch():
        while any(p.poll() is None for p in procs):
            time.sleep(0.5)
        time.sleep(grace_s)
        fired.set()
        _thread.interrupt_main()

    threading.Thread(target=watch, daemon=True).start()
    return fired
