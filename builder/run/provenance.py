"""What a run ran on, for ``run.json``: package versions, devices, and the spec's git commit.

Recorded so a result can be reproduced or compared later ("which Keras was this?"). The git
commit is read from the files under ``.git`` (HEAD, the ref it names, ``packed-refs``) rather than
by running ``git``: a spec may come from a stranger's folder, and a repository's own configuration
can make ``git`` run commands (``core.fsmonitor``), while reading two small files cannot.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Distribution names per package: TensorFlow installs as tensorflow or tensorflow-cpu (pyproject.toml).
_PACKAGES = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos"), "keras": ("keras",),
             "keras_tuner": ("keras-tuner",), "ai_edge_litert": ("ai-edge-litert",), "numpy": ("numpy",),
             "dlbuild": ("dlbuild",)}


def _version(names: tuple) -> str | None:
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def versions() -> dict:
    """``{"python": "3.11.9", "tensorflow": "2.21.0", "keras": ..., "keras_tuner": ..., "ai_edge_litert":
    ... (LiteRT, which verifies .tflite exports), "numpy": ..., "dlbuild": ...}``; a package that is
    not installed as a distribution is ``None``."""
    return {"python": platform.python_version(), **{k: _version(v) for k, v in _PACKAGES.items()}}


def git_commit(folder: str | Path, max_levels: int = 50) -> str | None:
    """The commit (40 hex digits) checked out in the git repository holding ``folder``, or None
    when it is not in one (or HEAD cannot be read). Reads files only; never runs ``git``."""
    here = Path(folder).resolve()
    for d in [here, *here.parents][:max_levels]:
        git = d / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = git.read_text(errors="replace").strip()
            git = (d / text.split(":", 1)[1].strip()) if text.startswith("gitdir:") else None
        if git is None or not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref:"):
                return head if len(head) == 40 else None
            ref = head.split(":", 1)[1].strip()
            common = git / "commondir"
            roots = [git] + ([(git / common.read_text().strip()).resolve()] if common.is_file() else [])
            for root in roots:
                if (root / ref).is_file():
                    return (root / ref).read_text().strip()
                packed = root / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split(" ", 1)[0]
        except OSError:
            return None
        return None
    return None


def provenance(strategy, spec_file: str | Path | None) -> dict:
    """The ``run.json`` fields: ``versions``, ``devices`` (e.g. ``"1 device (CPU)"``, plus the
    physical devices TensorFlow sees) and ``git_commit`` of the spec's folder (None outside git)."""
    import tensorflow as tf

    from builder.run.distribute import placement

    physical = [f"{d.device_type}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_physical_devices()]
    return {"versions": versions(), "devices": {"placement": placement(strategy), "physical": physical},
            "git_commit": git_commit(Path(spec_file).parent) if spec_file else None}
