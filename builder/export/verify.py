"""Verification of an artifact against the in-memory Keras model: run it, compare, time it.

The issue's contract: each artifact is loaded with *its own* runtime (:mod:`builder.export.runtimes`),
run on held-out samples and compared with the Keras model: max |Δ| of the outputs and, for
classification, accuracy on the same samples. :func:`check_outputs` is the comparison on plain
NumPy arrays; :func:`verify_artifact` loads, runs, checks and times one artifact. Both record the
result in the artifact's ``export.json`` entry (``max_abs_diff``, ``accuracy``, ``latency_ms`` in
milliseconds, ``threshold``, ``verdict`` ``ok`` | ``failed``, ``reason``) and never raise.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from builder.export.batches import head
from builder.export.quantizations import QUANTIZATION_TABLE
from builder.export.report import short_error

#: Verification thresholds (the issue's defaults). ``*_atol`` bound max |Δ| against the Keras
#: model; a value also passes where |Δ| <= atol + rtol·|reference| (numpy ``allclose`` style), since
#: outputs of large magnitude (regression) cannot be reproduced to 1e-5 absolute in float32 by a
#: different kernel order (float32 ε ≈ 1.2e-7 per operation). ``accuracy_drop`` is a fraction (0.01
#: = 1 point) of the float model's accuracy on the same samples; for regression outputs of the
#: dynamic/int8 modes ``regression_rel`` bounds mean |Δ| / std(reference).
DEFAULT_THRESHOLDS = {
    "fp32_atol": 1e-5, "fp32_rtol": 1e-5,
    "float16_atol": 1e-3, "float16_rtol": 1e-3,
    "accuracy_drop": 0.01,
    "regression_rel": 0.05,
}
LATENCY_RUNS = 50  # batch-1 calls timed per artifact (after 5 warm-up calls); the median is reported


def classes(y: np.ndarray) -> np.ndarray:
    """Predicted class per row of ``y`` ``(n, classes)`` or ``(n, 1)``: argmax over the last axis,
    or > 0.5 for one sigmoid unit; shape ``(n,)``."""
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] > 1:
        return y.argmax(-1)
    return (y.reshape(len(y)) > 0.5).astype(int)


def accuracy(pred: np.ndarray, y_true) -> float | None:
    """Fraction of predicted classes equal to ``y_true``: per sample ``(n,)``, or per position
    for sequence targets ``(n, time)`` against outputs ``(n, time, classes)`` (language models).
    None when ``y_true`` is None."""
    if y_true is None:
        return None
    pred, y_true = np.asarray(pred), np.asarray(y_true)
    if y_true.ndim >= 2 and pred.ndim == y_true.ndim + 1 and pred.shape[-1] > 1:
        return float(np.mean(pred.argmax(-1) == y_true))
    y_true = y_true.reshape(len(y_true))
    return float(np.mean(classes(pred) == y_true))


def is_classification(task: str | None, y_check, n_outputs: int) -> bool:
    """Accuracy is checked for one output with integer targets: classifiers, and sequence models
    whose targets are token ids per position (language models, seq2seq)."""
    return (task in ("classification", "sequence") and y_check is not None and n_outputs == 1
            and np.asarray(y_check).dtype.kind in "iub")


def check_outputs(entry: dict, ref: list[np.ndarray], got: list[np.ndarray], y_true, ref_acc: float | None,
                  quantization: str, th: dict, classification: bool) -> dict:
    """Compare an artifact's outputs with the Keras model's and record the verdict in ``entry``.

    Args:
        entry: The artifact's export.json entry; ``max_abs_diff``, ``accuracy`` and
            ``reference_accuracy`` (classification), ``relative_error`` (quantized regression),
            ``threshold``, ``verdict`` and ``reason`` are set.
        ref, got: One array per output, the Keras model's and the artifact's, same shapes ``(n, ...)``.
        y_true: Labels ``(n,)`` or ``(n, time)`` for classification, else unused.
        ref_acc: The Keras model's accuracy on the same samples (a fraction), or None.
        quantization: A name of :data:`~builder.export.quantizations.QUANTIZATION_TABLE`; ``none``
            and ``float16`` are checked by max |Δ|, the others by the accuracy drop
            (classification) or mean |Δ| / std(reference).
        th: Thresholds, the keys of :data:`DEFAULT_THRESHOLDS`.
        classification: Whether accuracy is checked (:func:`is_classification`).

    Returns:
        ``entry``. A mismatch of shapes, NaN/infinite outputs or an exceeded threshold give
        ``verdict="failed"`` with the reason; never raises for data.
    """
    if len(got) != len(ref) or any(g.shape != r.shape for g, r in zip(got, ref)):
        entry.update(verdict="failed", reason="output shapes differ from the Keras model's: "
                     f"{[g.shape for g in got]} vs {[r.shape for r in ref]}")
        return entry
    diffs = [np.abs(g.astype(np.float64) - r.astype(np.float64)) for g, r in zip(got, ref)]
    entry["max_abs_diff"] = float(max(d.max() for d in diffs)) if diffs else 0.0
    if not all(np.all(np.isfinite(g)) for g in got):
        entry.update(verdict="failed", reason="outputs contain NaN or infinity")
        return entry
    if classification:
        entry["accuracy"] = accuracy(got[0], y_true)
        entry["reference_accuracy"] = ref_acc
    kind = QUANTIZATION_TABLE[quantization].tolerance
    if kind:
        atol, rtol = th[f"{kind}_atol"], th[f"{kind}_rtol"]
        ok = all(np.all(d <= atol + rtol * np.abs(r)) for d, r in zip(diffs, ref))
        entry["threshold"] = f"|Δ| <= {atol:g} + {rtol:g}·|reference|"
        if not ok:
            entry.update(verdict="failed", reason=f"max |Δ| {entry['max_abs_diff']:.3g} vs the Keras model exceeds "
                         f"the {kind} tolerance {atol:g} (+ {rtol:g}·|reference|)")
            return entry
    elif classification and ref_acc is not None:
        drop = ref_acc - entry["accuracy"]
        entry["threshold"] = f"accuracy drop <= {th['accuracy_drop'] * 100:g} points"
        if drop > th["accuracy_drop"] + 1e-12:
            entry.update(verdict="failed", reason=f"accuracy {entry['accuracy']:.4f} is {drop * 100:.2f} points "
                         f"below the float model's {ref_acc:.4f} (limit {th['accuracy_drop'] * 100:g} points)")
            return entry
    else:
        rel = max(float(d.mean() / (r.std() + 1e-12)) for d, r in zip(diffs, ref))
        entry["relative_error"] = rel
        entry["threshold"] = f"mean |Δ| / std(reference) <= {th['regression_rel']:g}"
        if rel > th["regression_rel"]:
            entry.update(verdict="failed", reason=f"mean |Δ| / std(reference) = {rel:.3g} exceeds "
                         f"{th['regression_rel']:g}")
            return entry
    entry.update(verdict="ok", reason=None)
    return entry


def timed(fn: Callable[[], object], runs: int = LATENCY_RUNS) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls, after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1e3, 4)


def verify_artifact(entry: dict, path: Path, fmt, *, model_inputs: list[str], xd: dict, ref: list[np.ndarray],
                    y_true, ref_acc, th: dict, classification: bool) -> dict | None:
    """Load ``path`` with its runtime, run it on ``xd``, compare (:func:`check_outputs`), time
    batch-1 calls (``latency_ms``, the median of :data:`LATENCY_RUNS`).

    Args:
        entry: The artifact's export.json entry (``quantization`` is read; the results are set).
        fmt: Its :class:`~builder.export.formats.Format`.
        model_inputs: Input names of the exported model; ``xd``: ``{name: (n, ...)}`` check samples.
        ref, y_true, ref_acc, th, classification: as :func:`check_outputs`.

    Returns:
        The runtime's io description (for the sidecar), or None. Never raises: a failure is
        recorded in ``entry``.
    """
    try:
        runner = fmt.runtime(path, model_inputs)
        if fmt.builtin_check:
            entry["ops"], reason = fmt.builtin_check(path)
            if reason:
                entry.update(verdict="failed", reason=reason)
                return runner.io_info()
        io = runner.io_info()
    except Exception as exc:
        entry.update(verdict="failed", reason=f"cannot be loaded by its runtime: {short_error(exc)}")
        return None
    try:
        got = runner.run(xd)
    except Exception as exc:
        entry.update(verdict="failed", reason=f"failed to run on the check samples: {short_error(exc)}")
        return io
    check_outputs(entry, ref, got, y_true, ref_acc, entry["quantization"], th, classification)
    xd1 = head(xd)
    try:
        entry["latency_ms"] = timed(lambda: runner(xd1))
    except Exception as exc:  # pragma: no cover - it ran just above
        entry["latency_ms"] = None
        entry.setdefault("notes", []).append(f"latency not measured: {short_error(exc)}")
    return io
