"""Reading a finished run directory: its spec, its model, its history (the one reader of runs).

A run directory (:mod:`builder.run.rundir`) is read back by ``evaluate``, ``plot``, ``export``,
``predict`` and ``generate``; they all come here, so a run is read one way. The lenient readers
(:func:`read_run_json`, :func:`read_resolved_spec`) read hints (class names, data options) and
return ``{}`` for a missing or unreadable file. Writing stays in
:mod:`builder.run.rundir` and :mod:`builder.run.train`.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path


def load_keras(path: Path):
    """``keras.saving.load_model(path, safe_mode=True, compile=False)`` after importing
    :mod:`builder.model.layers`, whose import registers dlbuild's serializable layers (a ``.keras`` file
    that holds one cannot be loaded in a fresh process without it)."""
    import keras

    import builder.model.layers  # noqa: F401

    return keras.saving.load_model(path, safe_mode=True, compile=False)


def load_run_spec(run_dir: Path):
    """``run_dir/spec.resolved.yaml`` as a Spec, with relative ``data.csv``/``data.npz`` paths resolved
    against the original spec's directory (``run.json``'s ``spec_file``) when they do not exist
    relative to the run directory (``spec.resolved.yaml`` keeps the paths as the user wrote them).

    Raises:
        SpecError: the resolved spec or its data cannot be loaded.
    """
    import yaml

    from builder.spec.load import load_spec

    run_dir = Path(run_dir)
    values = yaml.safe_load((run_dir / "spec.resolved.yaml").read_text()) or {}
    try:
        spec_file = json.loads((run_dir / "run.json").read_text()).get("spec_file") or ""
    except (OSError, ValueError):
        spec_file = ""
    overrides = []
    for key in ("csv", "npz"):
        rel = (values.get("data") or {}).get(key)
        if isinstance(rel, str) and not Path(rel).is_absolute() and not (run_dir / rel).exists() and spec_file:
            candidate = (Path(spec_file).parent / rel).resolve()
            if candidate.exists():
                overrides.append(f"data.{key}={candidate}")
    return load_spec(run_dir / "spec.resolved.yaml", overrides)


def read_history(path: Path) -> dict:
    """``history.csv`` → ``{column: [float per epoch]}``."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r.get(k) not in (None, "") else math.nan for r in rows] for k in (rows[0] if rows else {})}


def read_run_json(path: Path) -> dict:
    """A JSON object of a run (``metrics.json``, ``run.json``, an ``<artifact>.json`` sidecar);
    ``{}`` when the file is missing, unreadable or not an object."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_resolved_spec(run_dir: Path) -> dict:
    """``run_dir/spec.resolved.yaml`` as the raw mapping it holds (not validated, paths as written);
    ``{}`` when the file is missing, unreadable or not a mapping. For hints only: a run's
    ``data.target``, ``data.language_model`` options, …; use ``load_run_spec`` for a Spec."""
    import yaml

    try:
        doc = yaml.safe_load((Path(run_dir) / "spec.resolved.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_vocabulary(run_dir: Path) -> tuple[list[str], str | None]:
    """``run_dir/vocabulary.json`` → ``(tokens, level)`` (index = token id; level ``char`` |
    ``word`` | None), as :func:`builder.data.text.load_vocabulary` reads it.

    Raises:
        FileNotFoundError: the run has no vocabulary.json.
        OSError, ValueError: it cannot be read or is not a vocabulary.
    """
    from builder.data.text import load_vocabulary

    path = Path(run_dir) / "vocabulary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return load_vocabulary(path)
