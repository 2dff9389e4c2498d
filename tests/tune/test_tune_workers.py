"""builder.tune.workers (Keras Tuner's chief/worker roles) and the one local-worker launcher it uses,
builder.run.workers (free ports, ``python -m builder.cli`` processes, the watchdog). No training."""

import os
import subprocess
import sys
import time

import pytest


def test_an_address_is_host_and_port():
    from builder.errors import SpecError
    from builder.tune import workers

    assert workers.split_address("10.0.0.2:8000") == ("10.0.0.2", "8000")
    with pytest.raises(SpecError) as err:
        workers.split_address("8000")
    assert "expected HOST:PORT, e.g. 127.0.0.1:8000; received: '8000'" in err.value.format()


def test_roles_set_keras_tuners_environment(monkeypatch):
    from builder.tune import workers

    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.setenv(name, "")  # recorded, so the teardown removes what set_role writes:
        monkeypatch.delenv(name)      # a later tuner in this process must not become a client
    workers.set_role("worker", None, "w1")  # no address: a search of its own
    assert "KERASTUNER_ORACLE_IP" not in os.environ
    workers.set_role("chief", "127.0.0.1:8123", "ignored")
    assert (os.environ["KERASTUNER_ORACLE_IP"], os.environ["KERASTUNER_ORACLE_PORT"],
            os.environ["KERASTUNER_TUNER_ID"]) == ("127.0.0.1", "8123", "chief")
    workers.set_role("worker", "127.0.0.1:8123", "worker3")
    assert os.environ["KERASTUNER_TUNER_ID"] == "worker3"
    host, port = workers.local_chief_address().split(":")
    assert host == "127.0.0.1" and int(port) > 0


def test_free_ports_are_distinct():
    from builder.run.workers import free_ports

    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(0 < p < 65536 for p in ports)


def test_local_processes_run_dlbuild_with_their_own_output(tmp_path):
    from builder.run.workers import start_local, wait_all

    log = tmp_path / "w0.log"
    procs = start_local([["--help"], ["no-such-command"]], outputs=[log, subprocess.DEVNULL])
    assert [p.args[:3] for p in procs] == [[sys.executable, "-m", "builder.cli"]] * 2
    codes = wait_all(procs)
    assert codes[0] == 0 and codes[1] == 2  # click: usage error
    assert "Usage: dlbuild" in log.read_text()


def test_the_watchdog_interrupts_the_main_thread_once_every_process_exited():
    from builder.run.workers import interrupt_when_exited

    procs = [subprocess.Popen([sys.executable, "-c", "pass"])]
    fired = interrupt_when_exited(procs, grace_s=0.1)
    with pytest.raises(KeyboardInterrupt):
        for _ in range(100):
            time.sleep(0.1)
    assert fired.is_set()
