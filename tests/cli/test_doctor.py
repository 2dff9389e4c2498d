"""``dlbuild doctor``: the real command on this CPU machine, and every advice rule on synthetic facts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from builder.cli.doctor import format_report
from builder.run.doctor import (GIB, describe_gpu, disk_facts, exit_code, mixed_precision, nvidia_smi,
                                parse_nvidia_smi, problems)

posix_only = pytest.mark.skipif(os.name != "posix", reason="the fake nvidia-smi is a shell script")

SMI_OUTPUT = ("0, NVIDIA A100-SXM4-40GB, 40960, 40444, 535.104.05\n"
              "1, Tesla P100-PCIE-16GB, 16384, [N/A], 535.104.05\n")


def _installed(*names: str) -> tuple:
    """(distribution, version) of the first of ``names`` that is installed."""
    for name in names:
        try:
            return name, version(name)
        except PackageNotFoundError:
            continue
    raise AssertionError(f"none of {names} is installed")


ROOT = Path(__file__).resolve().parents[2]  # the clone of the editable install the suite runs in


def _doctor(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "builder.cli", "doctor", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


def _fake_nvidia_smi(folder: Path, body: str) -> str:
    """A ``nvidia-smi`` shell script in ``folder``; returns a PATH that finds it first."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def _rows(text: str) -> dict:
    """The report's ``  name: value`` lines as {name: value}; checks that the values are aligned."""
    rows = list(re.finditer(r"^  (\S.*?):( +)(.*)$", text, re.M))
    assert len({m.start(3) - m.start() for m in rows}) == 1, text  # one column for every value
    return {m[1]: m[3] for m in rows}


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="expects a machine without NVIDIA GPUs")
def test_doctor_on_this_cpu_machine(tmp_path):
    result = _doctor(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    rows = _rows(result.stdout)
    dist, tf_version = _installed("tensorflow", "tensorflow-cpu", "tensorflow-macos")
    assert rows["TensorFlow"] == f"{tf_version} ({dist})"
    assert rows["Keras"] == version("keras") and rows["LiteRT"] == f"{version('ai-edge-litert')} (ai-edge-litert)"
    assert rows["Keras backend"] == "tensorflow" and rows["TensorFlow imports"] == "yes"
    assert rows["GPUs"] == "none (CPU only)" and rows["nvidia-smi"] == "not on PATH"
    assert rows["distribute auto"] == "1 device (CPU)"  # distribute.py's placement() of the auto strategy
    assert rows["mixed precision"].startswith("no gain: no GPU")
    assert re.fullmatch(rf"\d+\.\d GiB of \d+\.\d GiB under {re.escape(str(tmp_path))}", rows["free disk"])
    assert result.stdout.rstrip().endswith("no problems found")


@posix_only
def test_json_has_the_facts_and_flags_tensorflow_cpu_next_to_gpus(tmp_path):
    """--json on this machine, with a fake nvidia-smi listing 2 GPUs: tensorflow-cpu cannot use them."""
    path = _fake_nvidia_smi(tmp_path / "bin", f"printf '{SMI_OUTPUT}'\n")
    result = _doctor(tmp_path, "--json", "--runs-root", "runs/not/yet", env={"PATH": path})
    assert result.returncode == 0, result.stdout + result.stderr  # CPU training still works
    facts = json.loads(result.stdout)
    assert set(facts) == set(_facts()) | {"problems", "usable"}  # the synthetic facts below have the real shape
    dist, tf_version = _installed("tensorflow", "tensorflow-cpu", "tensorflow-macos")
    assert facts["versions"]["tensorflow"] == tf_version and facts["tensorflow"]["distributions"] == [dist]
    assert facts["versions"]["keras"] == version("keras") and facts["keras"]["backend"] == "tensorflow"
    assert facts["versions"]["ai_edge_litert"] == version("ai-edge-litert")
    assert facts["cpu"]["cores"] == os.cpu_count() and facts["gpus"] == []
    assert [g["name"] for g in facts["nvidia_smi"]["gpus"]] == ["NVIDIA A100-SXM4-40GB", "Tesla P100-PCIE-16GB"]
    assert facts["distribute_auto"] == {"placement": "1 device (CPU)", "error": None}
    disk = facts["disk"]
    assert disk["checked"] == str(tmp_path)  # the nearest existing parent of runs/not/yet
    assert abs(disk["free_bytes"] - shutil.disk_usage(tmp_path).free) < GIB
    assert facts["usable"] is True
    if dist == "tensorflow-cpu":
        assert [p["advice"] for p in facts["problems"]] == [
            "tensorflow-cpu is installed but nvidia-smi sees 2 GPUs: pip uninstall -y tensorflow-cpu && "
            f"pip install -e '{ROOT}[gpu]' (TensorFlow with its CUDA and cuDNN wheels, docs/distributed.md)"]


def test_a_broken_tensorflow_is_reported_not_raised(tmp_path):
    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('broken for the test')\n")
    result = _doctor(tmp_path, env={"PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    rows = _rows(result.stdout)  # what can be said still is
    assert rows["Keras"] == version("keras") and rows["TensorFlow imports"] == "no: ImportError: broken for the test"
    assert rows["GPUs"].startswith("unknown") and "GiB" in rows["free disk"]
    # The advice names this clone (the editable install the suite runs in), with the extra to install.
    assert ("advice: TensorFlow does not import (ImportError: broken for the test): reinstall it, "
            f"pip install -e '{ROOT}[cpu]'") in result.stdout  # no nvidia-smi here: the CPU build


def _facts(**sections) -> dict:
    """A healthy CPU machine's facts, each named section updated with ``sections``' values."""
    facts = {
        "versions": {"python": "3.11.9", "tensorflow": "2.21.0", "keras": "3.15.1", "keras_tuner": "1.4.8",
                     "numpy": "2.4.6", "dlbuild": "0.1.0", "ai_edge_litert": "2.3.0"},
        "tensorflow": {"importable": True, "error": None, "distributions": ["tensorflow-cpu"],
                       "built_with_cuda": False, "cuda_version": None, "cudnn_version": None},
        "keras": {"importable": True, "error": None, "backend": "tensorflow", "backend_env": None},
        "cpu": {"cores": 8, "usable_cores": 4}, "gpus": [], "gpu_error": None,
        "nvidia_smi": {"found": False, "gpus": [], "error": None}, "cuda_visible_devices": None,
        "distribute_auto": {"placement": "1 device (CPU)", "error": None}, "checkout": None,
        "mixed_precision": mixed_precision([]),
        "disk": {"runs_root": "runs", "checked": "/data", "free_bytes": 50 * GIB, "total_bytes": 100 * GIB,
                 "error": None},
    }
    for name, value in sections.items():
        facts[name] = {**facts[name], **value} if isinstance(facts[name], dict) and isinstance(value, dict) else value
    return facts


SMI_GPUS = {"found": True, "gpus": parse_nvidia_smi(SMI_OUTPUT), "error": None}
CUDA_BUILD = {"distributions": ["tensorflow"], "built_with_cuda": True, "cuda_version": "12.5.1", "cudnn_version": "9"}


def _ids(facts: dict) -> list:
    return [p["id"] for p in problems(facts)]


def test_a_healthy_cpu_machine_has_no_problem():
    assert problems(_facts()) == [] and exit_code([]) == 0
    assert "GPUs:" in format_report(_facts(), []) and "none (CPU only)" in format_report(_facts(), [])


def test_tensorflow_cpu_while_nvidia_smi_sees_gpus():
    found = problems(_facts(nvidia_smi=SMI_GPUS))
    assert found == [{"id": "tensorflow_cpu_with_gpus", "fatal": False,
                      "advice": "tensorflow-cpu is installed but nvidia-smi sees 2 GPUs: pip uninstall -y tensorflow-cpu "
                                "&& pip install 'dlbuild[gpu]' (TensorFlow with its CUDA and cuDNN "
                                "wheels, docs/distributed.md)"}]
    assert exit_code(found) == 0  # the CPU still trains
    assert _ids(_facts(tensorflow=CUDA_BUILD, nvidia_smi=SMI_GPUS, gpus=[{"name": "GPU:0"}])) == []


def test_both_tensorflow_distributions_installed():
    found = problems(_facts(tensorflow={"distributions": ["tensorflow", "tensorflow-cpu"]}))
    assert [p["id"] for p in found] == ["several_tensorflows"]
    assert found[0]["advice"].endswith("pip uninstall -y tensorflow tensorflow-cpu && pip install 'dlbuild[cpu]'")
    in_clone = problems(_facts(tensorflow={"distributions": ["tensorflow", "tensorflow-cpu"]}, nvidia_smi=SMI_GPUS,
                               checkout="/home/me/dlbuild"))
    assert in_clone[0]["advice"].endswith("&& pip install -e '/home/me/dlbuild[gpu]'")  # GPUs here: the GPU build


def test_cuda_build_without_visible_gpus_names_the_libraries_it_expects():
    found = problems(_facts(tensorflow=CUDA_BUILD, nvidia_smi=SMI_GPUS))
    assert [p["id"] for p in found] == ["cuda_mismatch"] and exit_code(found) == 0
    assert "built for CUDA 12.5.1 and cuDNN 9" in found[0]["advice"] and "driver 535.104.05" in found[0]["advice"]
    hidden = problems(_facts(tensorflow=CUDA_BUILD, nvidia_smi=SMI_GPUS, cuda_visible_devices="-1"))
    assert [p["id"] for p in hidden] == ["gpus_hidden"] and "CUDA_VISIBLE_DEVICES='-1'" in hidden[0]["advice"]
    assert _ids(_facts(tensorflow=CUDA_BUILD, nvidia_smi=SMI_GPUS, cuda_visible_devices="1")) == ["cuda_mismatch"]
    assert _ids(_facts(tensorflow=CUDA_BUILD)) == []  # no GPU anywhere: a CPU machine with a CUDA build is fine


def test_low_disk_is_fatal():
    found = problems(_facts(disk={"free_bytes": 100 * 1024 ** 2}))
    assert [p["id"] for p in found] == ["disk_low"] and exit_code(found) == 1
    assert found[0]["advice"].startswith("only 0.10 GiB free under /data") and "--runs-root" in found[0]["advice"]
    assert _ids(_facts(disk={"free_bytes": GIB})) == []
    unknown = problems(_facts(disk={"free_bytes": None, "error": "PermissionError: denied"}))
    assert [p["id"] for p in unknown] == ["disk_unknown"] and exit_code(unknown) == 0


def test_missing_or_misconfigured_tensorflow_and_keras_are_fatal():
    no_tf = _facts(tensorflow={"importable": False, "error": "ModuleNotFoundError: No module named 'tensorflow'"},
                   keras={"importable": False, "error": "ModuleNotFoundError: No module named 'tensorflow'"},
                   gpus=None, distribute_auto=None)
    assert _ids(no_tf) == ["tensorflow_missing"] and exit_code(problems(no_tf)) == 1  # one advice, not two
    never = _facts(tensorflow={"importable": False, "distributions": [],
                               "error": "ModuleNotFoundError: No module named 'tensorflow'"},
                   keras={"importable": False}, gpus=None, distribute_auto=None, checkout="/c")
    assert [p["advice"] for p in problems(never)] == [
        "TensorFlow is not installed (dlbuild installs it with an extra): pip install -e '/c[cpu]' "
        "(or pip install -e '/c[gpu]' on a machine with an NVIDIA GPU)"]
    no_keras = _facts(keras={"importable": False, "backend": None, "error": "ModuleNotFoundError: keras"})
    assert _ids(no_keras) == ["keras_missing"] and exit_code(problems(no_keras)) == 1
    jax = problems(_facts(keras={"importable": False, "backend": None, "backend_env": "jax",
                                 "error": "ModuleNotFoundError: No module named 'jax'"}))
    assert [p["id"] for p in jax] == ["keras_backend"] and "export KERAS_BACKEND=tensorflow" in jax[0]["advice"]
    assert exit_code(jax) == 1
    assert _ids(_facts(keras={"backend": "torch"})) == ["keras_backend"]
    fails = _facts(distribute_auto={"placement": None, "error": "RuntimeError: NCCL"})
    assert _ids(fails) == ["strategy_fails"] and exit_code(problems(fails)) == 1
    assert _ids(_facts(gpus=None, gpu_error="RuntimeError: x")) == ["tensorflow_devices"]


def test_a_failing_nvidia_smi_is_reported():
    smi = {"found": True, "gpus": [], "error": "NVIDIA-SMI has failed because it couldn't communicate with the driver"}
    found = problems(_facts(nvidia_smi=smi))
    assert [p["id"] for p in found] == ["nvidia_smi_fails"] and exit_code(found) == 0


def test_gpus_described_from_device_details():
    """The GPU code path without a GPU: tf.config.experimental.get_device_details' dicts."""
    a100 = describe_gpu("/physical_device:GPU:0",
                        {"device_name": "NVIDIA A100-SXM4-40GB", "compute_capability": (8, 0)})
    v100 = describe_gpu("/physical_device:GPU:1", {"device_name": "Tesla V100", "compute_capability": (7, 0)})
    p100 = describe_gpu("/physical_device:GPU:1", {"device_name": "Tesla P100", "compute_capability": (6, 0)})
    assert a100 == {"name": "GPU:0", "model": "NVIDIA A100-SXM4-40GB", "compute_capability": [8, 0]}
    assert describe_gpu("/physical_device:GPU:2", {}) == {"name": "GPU:2", "model": None, "compute_capability": None}
    assert mixed_precision([a100, v100])["pays_off"] is True
    slow = mixed_precision([a100, p100])
    assert slow["pays_off"] is False and slow["reason"].startswith("GPU:1 (Tesla P100) has compute capability 6.0")
    assert mixed_precision([describe_gpu("GPU:0", {})])["pays_off"] is False
    assert mixed_precision([])["pays_off"] is False and mixed_precision(None)["pays_off"] is False
    facts = _facts(tensorflow=CUDA_BUILD, gpus=[a100, v100], nvidia_smi=SMI_GPUS,
                   mixed_precision=mixed_precision([a100, v100]),
                   distribute_auto={"placement": "mirrored over 2 GPUs", "error": None})
    rows = _rows(format_report(facts, problems(facts)))
    assert rows["GPUs"] == "2" and rows["GPU:0"] == "NVIDIA A100-SXM4-40GB, compute capability 8.0"
    assert rows["CUDA build"] == "yes (CUDA 12.5.1, cuDNN 9)" and rows["distribute auto"] == "mirrored over 2 GPUs"
    assert rows["nvidia-smi"] == "2 GPUs, driver 535.104.05"
    assert rows["nvidia-smi 0"] == "NVIDIA A100-SXM4-40GB, 40.0 GiB, 39.5 GiB free"
    assert rows["nvidia-smi 1"] == "Tesla P100-PCIE-16GB, 16.0 GiB, ? free"
    assert rows["mixed precision"].startswith("pays off: every GPU has compute capability >= 7.0")


def test_nvidia_smi_output_parsed_in_bytes():
    gpus = parse_nvidia_smi(SMI_OUTPUT + "garbage line\n")
    assert gpus[0] == {"index": 0, "name": "NVIDIA A100-SXM4-40GB", "memory_total_bytes": 40960 * 1024 ** 2,
                       "memory_free_bytes": 40444 * 1024 ** 2, "driver": "535.104.05"}
    assert len(gpus) == 2 and gpus[1]["memory_free_bytes"] is None


@posix_only
def test_nvidia_smi_is_run_directly_with_a_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_nvidia_smi(tmp_path / "ok", f'[ "$2" = "--format=csv,noheader,nounits" ] && '
                                                                  f"printf '{SMI_OUTPUT}'\n"))
    assert nvidia_smi() == {"found": True, "gpus": parse_nvidia_smi(SMI_OUTPUT), "error": None}
    monkeypatch.setenv("PATH", _fake_nvidia_smi(tmp_path / "fails", "echo 'NVIDIA-SMI has failed'; exit 9\n"))
    assert nvidia_smi() == {"found": True, "gpus": [], "error": "NVIDIA-SMI has failed"}
    monkeypatch.setenv("PATH", _fake_nvidia_smi(tmp_path / "hangs", "exec sleep 30\n"))
    hung = nvidia_smi(timeout=0.5)
    assert hung["gpus"] == [] and hung["error"].startswith("TimeoutExpired")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert nvidia_smi() == {"found": False, "gpus": [], "error": None}


def test_disk_of_the_nearest_existing_parent(tmp_path):
    disk = disk_facts(tmp_path / "runs" / "deeper")
    assert disk["checked"] == str(tmp_path) and disk["runs_root"] == str(tmp_path / "runs" / "deeper")
    assert 0 < disk["free_bytes"] <= disk["total_bytes"] and disk["error"] is None
