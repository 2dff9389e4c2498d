"""Reading a finished run directory: its spec, its model, its history (the one reader of runs).

A run directory (:mod:`builder.run.rundir`) is read back by ``evaluate``, ``plot``, ``export``,
``predict`` and ``generate``; they all come here, so a run is read one way. Writing stays in
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
