"""``dlbuild doctor``: what this machine offers dlbuild, the problems found, one line of advice each.

Every gatherer returns a plain dict (JSON-ready: sizes in bytes, versions as strings) and catches
what the thing it probes can raise, so a broken install is reported, not a traceback. TensorFlow
is imported inside :func:`tensorflow_facts`, :func:`gpu_facts` and :func:`auto_strategy` only.
:func:`problems`, :func:`exit_code`, :func:`describe_gpu`, :func:`mixed_precision` and
:func:`parse_nvidia_smi` are pure: they work on facts, so every rule is testable without a GPU.
The text report is :mod:`builder.cli.doctor`'s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib.metadata import packages_distributions
from pathlib import Path

from builder.install import install_command, source_checkout
from builder.model.precision import float16_pays_off
from builder.run.provenance import versions

GIB = 1024 ** 3
MIN_FREE_BYTES = GIB  # less free disk than this under the runs root: training is refused (exit 1)
_SMI_FIELDS = "index,name,memory.total,memory.free,driver_version"


def _error(err: BaseException) -> str:
    """``"ImportError: message"``, first line only, at most 300 characters."""
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"[:300]


def plural(n: int, word: str) -> str:
    """``"1 GPU"``, ``"2 GPUs"``."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def package_facts() -> dict:
    """:func:`builder.run.provenance.versions` (python, tensorflow, keras, keras_tuner,
    ai_edge_litert, numpy, dlbuild): version strings, None for a distribution that is not
    installed. Raises nothing."""
    return versions()


def providers(module: str) -> list:
    """The distributions that install top-level ``module``, normalised (``["tensorflow-cpu"]``;
    two names mean two packages writing the same files). Raises nothing."""
    try:
        return list(dict.fromkeys(re.sub(r"[-_.]+", "-", n).lower() for n in packages_distributions().get(module, [])))
    except Exception:  # a corrupt installed distribution's metadata
        return []


def tensorflow_facts() -> dict:
    """Imports TensorFlow: ``importable``, ``error`` (why not, one line), ``distributions``
    (:func:`providers`), ``built_with_cuda`` and the ``cuda_version`` / ``cudnn_version`` it was
    built for (None on a CPU build or when it does not import). Raises nothing."""
    facts = {"importable": False, "error": None, "distributions": providers("tensorflow"),
             "built_with_cuda": None, "cuda_version": None, "cudnn_version": None}
    try:
        import tensorflow as tf

        info = dict(tf.sysconfig.get_build_info())
        facts.update(importable=True, built_with_cuda=bool(tf.test.is_built_with_cuda()),
                     cuda_version=info.get("cuda_version"), cudnn_version=info.get("cudnn_version"))
    except Exception as err:  # ImportError, or anything a broken install raises while importing
        facts["error"] = _error(err)
    return facts


def keras_facts() -> dict:
    """Imports Keras: ``importable``, ``error``, its ``backend`` (None when it does not import) and
    the ``KERAS_BACKEND`` environment variable (``backend_env``, None when unset). Raises nothing."""
    facts = {"importable": False, "error": None, "backend": None, "backend_env": os.environ.get("KERAS_BACKEND")}
    try:
        import keras

        facts.update(importable=True, backend=keras.backend.backend())
    except Exception as err:
        facts["error"] = _error(err)
    return facts


def cpu_facts() -> dict:
    """``cores`` (``os.cpu_count()``) and ``usable_cores``, the cores this process may run on
    (``os.sched_getaffinity``; None where the platform has no affinity). Raises nothing."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"cores": os.cpu_count(), "usable_cores": usable}


def describe_gpu(name: str, details: dict) -> dict:
    """One physical GPU: ``name`` (``"GPU:0"``, from ``/physical_device:GPU:0``), ``model``
    (``details["device_name"]``) and ``compute_capability`` (``[major, minor]``), from
    ``tf.config.experimental.get_device_details``; a missing key is None. Raises nothing."""
    cc = details.get("compute_capability")
    return {"name": name.split("device:")[-1], "model": details.get("device_name"),
            "compute_capability": [int(cc[0]), int(cc[1])] if cc else None}


def gpu_facts() -> list:
    """The GPUs TensorFlow sees (:func:`describe_gpu` each), memory growth turned on first so that
    probing a shared GPU does not reserve all its memory (TensorFlow's default) in this process.
    Raises what ``tf.config.list_physical_devices`` raises on a broken install (:func:`gather` catches it)."""
    import tensorflow as tf

    out = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised: nothing to protect any more
            pass
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except Exception:
            details = {}
        out.append(describe_gpu(gpu.name, details))
    return out


def parse_nvidia_smi(text: str) -> list:
    """``nvidia-smi --query-gpu=index,name,memory.total,memory.free,driver_version
    --format=csv,noheader,nounits`` output → ``[{"index", "name", "memory_total_bytes",
    "memory_free_bytes", "driver"}]`` (nvidia-smi reports MiB; ``[N/A]`` → None). Raises nothing."""
    def mib(value: str):
        return int(float(value) * 1024 ** 2) if re.fullmatch(r"\d+(\.\d+)?", value) else None

    gpus = []
    for line in text.splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) == 5 and cols[0].isdigit():
            gpus.append({"index": int(cols[0]), "name": cols[1], "memory_total_bytes": mib(cols[2]),
                         "memory_free_bytes": mib(cols[3]), "driver": cols[4]})
    return gpus


def nvidia_smi(timeout: float = 10.0) -> dict:
    """What ``nvidia-smi`` (when on PATH; run directly, never through a shell, for at most
    ``timeout`` seconds) sees: ``found``, ``gpus`` (:func:`parse_nvidia_smi`), ``error`` (its
    failure, one line). Raises nothing."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"found": False, "gpus": [], "error": None}
    try:
        out = subprocess.run([exe, f"--query-gpu={_SMI_FIELDS}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as err:  # TimeoutExpired included
        return {"found": True, "gpus": [], "error": _error(err)}
    if out.returncode != 0:  # e.g. "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
        lines = (out.stdout + out.stderr).strip().splitlines() or [f"exit code {out.returncode}"]
        return {"found": True, "gpus": [], "error": lines[0][:300]}
    return {"found": True, "gpus": parse_nvidia_smi(out.stdout), "error": None}


def auto_strategy() -> dict:
    """What ``distribute.strategy: auto`` picks here: the strategy training would build
    (:func:`builder.run.distribute.make_strategy` of an empty section), in the words of
    :func:`~builder.run.distribute.placement` (``placement``), or why it fails (``error``).
    Raises nothing."""
    from builder.run.distribute import make_strategy, placement

    try:
        return {"placement": placement(make_strategy({})), "error": None}
    except Exception as err:
        return {"placement": None, "error": _error(err)}


# Mixed precision pays off on NVIDIA GPUs of compute capability 7.0 or higher (Volta and later,
# whose Tensor Cores run float16 matrix maths); older GPUs gain little and CPUs usually run it
# slower (only recent Intel CPUs speed up bfloat16). TensorFlow, "Mixed precision", section
# "Supported hardware": https://www.tensorflow.org/guide/mixed_precision; NVIDIA, "Train With
# Mixed Precision": https://docs.nvidia.com/deeplearning/performance/mixed-precision-training/
def mixed_precision(gpus: list | None) -> dict:
    """Whether ``fit.mixed_precision: mixed_float16`` should speed training up: ``pays_off``
    (True only when there are GPUs and every one has compute capability ≥ 7.0) and ``reason``.
    ``gpus`` as from :func:`gpu_facts` (None: unknown). Raises nothing."""
    if gpus is None:
        return {"pays_off": False, "reason": "unknown, TensorFlow's devices could not be listed"}
    if not gpus:
        return {"pays_off": False, "reason": "no GPU, and on CPUs it is usually slower"}
    for g in gpus:
        cc = g.get("compute_capability")
        if not float16_pays_off([cc]):  # the rule fit.mixed_precision: auto applies (builder.model.precision)
            why = "an unknown compute capability" if cc is None else f"compute capability {cc[0]}.{cc[1]} < 7.0"
            return {"pays_off": False, "reason": f"{g['name']} ({g.get('model') or 'GPU'}) has {why}, no Tensor Cores"}
    return {"pays_off": True, "reason": "every GPU has compute capability >= 7.0, with Tensor Cores: "
                                        "fit.mixed_precision: auto (the default) trains in mixed_float16 here"}


def disk_facts(runs_root: str | Path) -> dict:
    """Free and total bytes (``free_bytes``, ``total_bytes``) of the disk holding ``runs_root``, or
    of its nearest existing parent (``checked``, absolute); ``error`` when it cannot be read (the
    sizes are then None). Raises nothing."""
    root = Path(runs_root).absolute()
    facts = {"runs_root": str(runs_root), "checked": None, "free_bytes": None, "total_bytes": None, "error": None}
    try:
        checked = next(p for p in (root, *root.parents) if p.exists())
        usage = shutil.disk_usage(checked)
        facts.update(checked=str(checked), free_bytes=usage.free, total_bytes=usage.total)
    except (OSError, StopIteration) as err:
        facts["error"] = _error(err)
    return facts


def gather(runs_root: str | Path = "runs", smi_timeout: float = 10.0) -> dict:
    """Every fact: ``versions``, ``tensorflow``, ``keras``, ``cpu``, ``gpus`` (None when
    TensorFlow cannot list them; then ``gpu_error``), ``nvidia_smi``, ``cuda_visible_devices``,
    ``distribute_auto``, ``mixed_precision``, ``disk``, ``checkout`` (the dlbuild clone of an
    editable install, else None: the install commands in the advice name it). Raises nothing."""
    facts = {"versions": package_facts(), "tensorflow": tensorflow_facts(), "keras": keras_facts(),
             "cpu": cpu_facts(), "gpus": None, "gpu_error": None, "nvidia_smi": nvidia_smi(smi_timeout),
             "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "distribute_auto": None,
             "checkout": str(source_checkout() or "") or None}
    if facts["tensorflow"]["importable"]:
        try:
            facts["gpus"] = gpu_facts()
        except Exception as err:
            facts["gpu_error"] = _error(err)
        facts["distribute_auto"] = auto_strategy()
    facts["mixed_precision"] = mixed_precision(facts["gpus"])
    facts["disk"] = disk_facts(runs_root)
    return facts


def _hides_gpus(visible: str, n: int) -> bool:
    """Whether ``CUDA_VISIBLE_DEVICES=visible`` names none of the ``n`` GPUs (``""``, ``-1``, …)."""
    return not any((e.isdigit() and int(e) < n) or e.startswith(("GPU-", "MIG-")) for e in visible.split(","))


def problems(facts: dict) -> list:
    """The problems in ``facts`` (as from :func:`gather`): ``[{"id", "fatal", "advice"}]``, one
    line of advice each; ``fatal`` means training cannot run (TensorFlow or Keras missing or
    broken, a Keras backend other than TensorFlow, ``distribute: auto`` failing, < 1 GiB free
    disk). Raises nothing on facts of :func:`gather`'s shape."""
    found = []

    def add(pid: str, fatal: bool, advice: str) -> None:
        found.append({"id": pid, "fatal": fatal, "advice": advice})

    tf, keras, smi = facts["tensorflow"], facts["keras"], facts["nvidia_smi"]
    n_smi = len(smi["gpus"])
    checkout = facts.get("checkout")
    cpu_cmd, gpu_cmd = install_command("cpu", checkout), install_command("gpu", checkout)
    fix = f"{gpu_cmd if n_smi else cpu_cmd}"
    if not tf["importable"]:
        if (tf["error"] or "").startswith("ModuleNotFoundError: No module named 'tensorflow'"):
            add("tensorflow_missing", True, f"TensorFlow is not installed (dlbuild installs it with an extra): {fix}"
                + ("" if n_smi else f" (or {gpu_cmd} on a machine with an NVIDIA GPU)"))
        else:
            add("tensorflow_broken", True, f"TensorFlow does not import ({tf['error']}): reinstall it, {fix} "
                "(python -c 'import tensorflow' shows the whole error)")
    elif facts.get("gpu_error"):
        add("tensorflow_devices", True, f"TensorFlow cannot list its devices ({facts['gpu_error']}): "
            f"reinstall it, {fix}")
    backend = keras["backend"] or keras["backend_env"]
    if backend and backend != "tensorflow":
        add("keras_backend", True, f"Keras uses the {backend} backend (KERAS_BACKEND or ~/.keras/keras.json); "
            "dlbuild needs TensorFlow: export KERAS_BACKEND=tensorflow")
    elif not keras["importable"] and tf["importable"]:  # else TensorFlow's advice covers it
        add("keras_missing", True, f"Keras does not import ({keras['error']}): {fix}")
    if smi["error"]:
        add("nvidia_smi_fails", False, f"nvidia-smi fails ({smi['error']}): the NVIDIA driver is missing or not "
            "loaded; training runs on the CPU until it works")
    if tf["distributions"] == ["tensorflow-cpu"] and n_smi:
        add("tensorflow_cpu_with_gpus", False,
            f"tensorflow-cpu is installed but nvidia-smi sees {plural(n_smi, 'GPU')}: pip uninstall -y "
            f"tensorflow-cpu && {gpu_cmd} (TensorFlow with its CUDA and cuDNN wheels, docs/distributed.md)")
    if len(tf["distributions"]) > 1:
        add("several_tensorflows", False, f"{', '.join(tf['distributions'])} are all installed and share the "
            f"tensorflow/ folder (the last installed wins): pip uninstall -y {' '.join(tf['distributions'])} "
            f"&& {fix}")
    if tf["built_with_cuda"] and facts["gpus"] == [] and n_smi:
        visible = facts.get("cuda_visible_devices")
        if visible is not None and _hides_gpus(visible, n_smi):
            add("gpus_hidden", False, f"CUDA_VISIBLE_DEVICES={visible!r} hides the {plural(n_smi, 'GPU')} "
                "nvidia-smi sees: unset it, or list GPU indices (CUDA_VISIBLE_DEVICES=0,1)")
        else:
            add("cuda_mismatch", False, f"TensorFlow is built for CUDA {tf['cuda_version'] or '?'} and cuDNN "
                f"{tf['cudnn_version'] or '?'} but sees no GPU, while nvidia-smi sees {plural(n_smi, 'GPU')} "
                f"(driver {smi['gpus'][0]['driver']}): the driver or the CUDA libraries do not match; "
                f"{gpu_cmd} installs the libraries it expects, the driver must support "
                "that CUDA; dlbuild --tf-log doctor shows TensorFlow's reason")
    auto = facts.get("distribute_auto")
    if auto and auto["error"]:
        add("strategy_fails", True, f"distribute.strategy auto fails here ({auto['error']}): "
            "set distribute.strategy: default in the spec")
    disk = facts["disk"]
    if disk["free_bytes"] is None:
        add("disk_unknown", False, f"cannot read the free disk space under {disk['runs_root']} ({disk['error']})")
    elif disk["free_bytes"] < MIN_FREE_BYTES:
        add("disk_low", True, f"only {disk['free_bytes'] / GIB:.2f} GiB free under {disk['checked']}: runs write "
            "checkpoints and models there; free some space or pass --runs-root on a larger disk")
    return found


def exit_code(found: list) -> int:
    """0 when training can run (no fatal problem; CPU only is fine), 1 otherwise."""
    return 1 if any(p["fatal"] for p in found) else 0
