"""The wheel and the sdist carry the licences, and the wheel's metadata declares them.

* ``LICENSE`` is the standard Apache License 2.0 text (pyproject.toml: ``license = "Apache-2.0"``);
* the wheel built by ``pip wheel`` holds ``LICENSE`` and ``DATA_LICENSES.md`` in its
  ``.dist-info/licenses/`` next to every bundled data file they cover (``mnist_5k.npz`` is
  CC BY-SA 3.0: its notice travels with it), and its METADATA names them and the ``plots`` extra;
* the sdist holds both files at its root.

Building runs in a copy of the checkout (setuptools writes ``build/`` and ``*.egg-info`` into the
source tree) and needs the package registries, as ``pip install -e .`` does: build isolation
installs pyproject.toml's ``[build-system] requires``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LICENCES = ("LICENSE", "DATA_LICENSES.md")
#: sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt (also shipped verbatim by absl-py, tornado).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
#: What a clean clone does not have (or a build must not see): version control, environments, outputs.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".hypothesis", ".import_linter_cache", ".ipynb_checkpoints")


def _run(args: list[str], cwd: Path, env: dict | None = None) -> None:
    """Run a build command; fail the test with its output when it fails."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the checkout to build from."""
    src = tmp_path_factory.mktemp("pkg") / "dlbuild"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
    return src


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> zipfile.ZipFile:
    """The wheel ``python -m pip wheel SOURCE --no-deps`` builds."""
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "--disable-pip-version-check",
          "-w", str(out)], cwd=out)
    (path,) = out.glob("dlbuild-*.whl")
    with zipfile.ZipFile(path) as whl:
        yield whl


def _dist_info(whl: zipfile.ZipFile) -> str:
    """The wheel's ``<name>-<version>.dist-info`` directory."""
    (info,) = {n.split("/")[0] for n in whl.namelist() if n.split("/")[0].endswith(".dist-info")}
    return info


def test_license_is_the_apache_2_text():
    """LICENSE is apache.org's LICENSE-2.0.txt byte for byte (no project-specific variant)."""
    text = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License\n                           Version 2.0, January 2004" in text
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256


@pytest.mark.slow
def test_wheel_ships_both_licences_with_the_data(wheel):
    """Both files are in .dist-info/licenses/, unchanged, in the same wheel as every bundled data file."""
    info = _dist_info(wheel)
    names = set(wheel.namelist())
    for name in LICENCES:
        assert f"{info}/licenses/{name}" in names, f"the wheel has no {name}: {sorted(n for n in names if info in n)}"
        assert wheel.read(f"{info}/licenses/{name}") == (ROOT / name).read_bytes(), f"the wheel's {name} differs"
    data = sorted(p.name for p in (ROOT / "builder" / "data" / "bundled").iterdir() if p.is_file())
    assert "mnist_5k.npz" in data
    assert [d for d in data if f"builder/data/bundled/{d}" not in names] == []


@pytest.mark.slow
def test_wheel_metadata_declares_licences_and_plots_extra(wheel):
    """METADATA: the SPDX expression, one License-File per file, and the ``plots`` extra (pydot)."""
    lines = wheel.read(f"{_dist_info(wheel)}/METADATA").decode("utf-8").splitlines()
    assert "License-Expression: Apache-2.0" in lines
    assert [ln for ln in lines if ln.startswith("License-File:")] == [f"License-File: {n}" for n in LICENCES]
    assert "Provides-Extra: plots" in lines
    assert 'Requires-Dist: pydot>=2; extra == "plots"' in lines


@pytest.mark.slow
def test_tensorflow_comes_only_with_the_cpu_or_gpu_extra(wheel):
    """No base dependency names TensorFlow (an extra could never swap it out); ``cpu`` brings
    tensorflow-cpu on x86-64, ``gpu`` TensorFlow with the CUDA wheels on Linux (builder/install.py)."""
    lines = wheel.read(f"{_dist_info(wheel)}/METADATA").decode("utf-8").splitlines()
    tf = [ln.removeprefix("Requires-Dist: ") for ln in lines if ln.startswith("Requires-Dist: tensorflow")]
    assert all('extra == "cpu"' in r or 'extra == "gpu"' in r for r in tf), tf
    assert any(r.startswith("tensorflow-cpu>=") and 'platform_machine == "x86_64"' in r and 'extra == "cpu"' in r
               for r in tf), tf
    assert any(r.startswith("tensorflow[and-cuda]>=") and 'sys_platform == "linux"' in r and 'extra == "gpu"' in r
               for r in tf), tf
    assert {"Provides-Extra: cpu", "Provides-Extra: gpu"} <= set(lines)


def _build_system(source: Path) -> dict:
    """pyproject.toml's ``[build-system]`` table."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]


@pytest.mark.slow
def test_sdist_ships_both_licences(source, tmp_path):
    """The sdist (built as a PEP 517 front end does: requires installed apart, then the backend) has both files."""
    system = _build_system(source)
    backend_env = tmp_path / "backend"
    _run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target",
          str(backend_env), *system["requires"]], cwd=tmp_path)
    out = tmp_path / "sdist"
    _run([sys.executable, "-c", f"import sys, {system['build-backend']} as b; b.build_sdist(sys.argv[1])", str(out)],
         cwd=source, env={**os.environ, "PYTHONPATH": str(backend_env)})
    (path,) = out.glob("dlbuild-*.tar.gz")
    with tarfile.open(path) as sdist:
        top = path.name[: -len(".tar.gz")]
        names = set(sdist.getnames())
        for name in LICENCES:
            assert f"{top}/{name}" in names, f"the sdist has no {name}: {sorted(n for n in names if n.count('/') == 1)}"
            assert sdist.extractfile(f"{top}/{name}").read() == (ROOT / name).read_bytes(), f"the sdist's {name} differs"
        pkg_info = sdist.extractfile(f"{top}/PKG-INFO").read().decode("utf-8").splitlines()
    assert [ln for ln in pkg_info if ln.startswith("License-File:")] == [f"License-File: {n}" for n in LICENCES]
