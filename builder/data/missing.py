"""``data.missing``: what to do with missing values (empty CSV cells, NaN in arrays), for every source.

Policies (docs/data.md, "Missing values"):

* ``error`` (default): a located error naming the column or array and the first sample, so that
  nothing trains silently on NaN losses;
* ``drop``: samples with any missing feature (or a missing target) are removed before splitting;
* ``mean``: each feature's missing values become its mean over the *training* split (scikit-learn's
  ``SimpleImputer(strategy="mean")`` rule, fitted on training data only, so validation and test
  never inform it);
* ``{fill: VALUE}``: missing values become VALUE;
* ``interpolate``: series (``data.window``): linear interpolation along time between the nearest
  observed steps (``numpy.interp``), the nearest observed value at the ends.

A sample whose *target* is missing cannot be imputed: every policy but ``error`` drops it. Infinite
values are never "missing": they stay an error. What was dropped or filled is recorded in the data's
``info["missing"]`` (``{"policy", "samples_dropped", "values_filled"}``), printed by ``fit`` and
written to ``metrics.json``. No TensorFlow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from builder.data.sources.arrays import Arrays
from builder.data.splits import Splits
from builder.errors import Diagnostic, SpecError

AT = ("data", "missing")


def policy_of(data: dict) -> tuple[str, float | None]:
    """``data.missing`` as ``(name, fill value)``: ``("error", None)`` when unset."""
    value = data.get("missing") or "error"
    if isinstance(value, dict):
        return "fill", float(value["fill"])
    return str(value), None


def _numeric(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _per_sample_missing(a: np.ndarray) -> np.ndarray:
    return np.isnan(a.reshape(len(a), -1)).any(axis=1) if a.ndim > 1 else np.isnan(a)


def _arrays(x) -> dict:
    return x if isinstance(x, dict) else {"x": x}


def _take(x, keep: np.ndarray):
    return {k: v[keep] for k, v in x.items()} if isinstance(x, dict) else x[keep]


def before_split(arrays: Arrays, data: dict) -> Arrays:
    """Apply the policy's pre-split part to ``arrays`` (training and official test parts alike).

    Raises:
        SpecError: at ``data.missing``: NaN under ``error``; ``interpolate`` on data that is not a
            series; infinite values under any policy.
    """
    name, _ = policy_of(data)
    stats = {"policy": name, "samples_dropped": int(arrays.info.get("missing_targets_dropped", 0)),
             "values_filled": 0}
    parts = {}
    for part, (x, y) in (("train", (arrays.x_train, arrays.y_train)), ("test", (arrays.x_test, arrays.y_test))):
        if x is None:
            continue
        numeric = {k: v for k, v in _arrays(x).items() if _numeric(v)}
        for k, v in numeric.items():
            if np.isinf(v).any():
                raise SpecError(Diagnostic(f"{arrays.name}: '{k}' holds {int(np.isinf(v).sum())} infinite values; "
                                           "expected finite numbers (infinity is not a missing value)", AT))
        if name == "interpolate" and any(np.isnan(v).any() for v in numeric.values()):
            if arrays.info.get("kind") != "series" or isinstance(x, dict):
                raise SpecError(Diagnostic("`missing: interpolate` fills gaps along time, for a series "
                                           "(data.window); use drop, mean or {fill: VALUE} here", AT))
            x, filled = _interpolate(x)
            stats["values_filled"] += filled
            y = x[:, 0].copy()  # a series' target is its channel 0 (builder.data.sources.csv_file)
            numeric = {"x": x}
        bad = np.zeros(len(y), bool)
        for v in numeric.values():
            bad |= _per_sample_missing(v)
        y_bad = _per_sample_missing(y) if _numeric(y) else np.zeros(len(y), bool)
        if name == "error" and (bad.any() or y_bad.any()):
            rows = np.flatnonzero(bad | y_bad)
            raise SpecError(Diagnostic(f"{arrays.name}: {len(rows)} of {len(y)} samples have missing (NaN) values "
                                       f"(first: sample {int(rows[0])}); set data.missing: drop, mean, "
                                       "{fill: VALUE} or interpolate (series)", AT))
        drop = y_bad | (bad if name == "drop" else np.zeros(len(y), bool))
        if drop.any():
            keep = ~drop
            x, y = _take(x, keep), y[keep]
            stats["samples_dropped"] += int(drop.sum())
        parts[part] = (x, y)
    x_test, y_test = parts.get("test", (None, None))
    info = {k: v for k, v in arrays.info.items() if k != "missing_targets_dropped"}
    if name != "error":
        info["missing"] = stats
    return dataclasses.replace(arrays, x_train=parts["train"][0], y_train=parts["train"][1],
                               x_test=x_test, y_test=y_test, info=info)


def _interpolate(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Each channel of a series ``(steps, channels)`` linearly interpolated over its NaN steps."""
    x = np.array(x, dtype=np.float32)
    steps = np.arange(len(x))
    filled = 0
    for j in range(x.shape[1]):
        col = x[:, j]
        gap = np.isnan(col)
        if gap.all():
            raise SpecError(Diagnostic(f"series channel {j} has no observed value to interpolate from", AT))
        if gap.any():
            col[gap] = np.interp(steps[gap], steps[~gap], col[~gap])
            filled += int(gap.sum())
    return x, filled


def after_split(splits: Splits, data: dict) -> Splits:
    """Apply ``mean`` / ``{fill: VALUE}`` to every split's features, from the training split.

    Raises:
        SpecError: at ``data.missing``: ``mean`` of a feature with no observed training value.
    """
    name, value = policy_of(data)
    if name not in ("mean", "fill"):
        return splits
    train_x = _arrays(splits.train[0])
    fills = {}
    for k, v in train_x.items():
        if not _numeric(v):
            continue
        if name == "fill":
            fills[k] = np.float32(value)
            continue
        flat = v.reshape(-1, v.shape[-1]) if v.ndim > 1 else v.reshape(-1, 1)
        empty = np.isnan(flat).all(axis=0)
        if empty.any():
            raise SpecError(Diagnostic(f"feature {int(np.flatnonzero(empty)[0])} of '{k}' has no value in the "
                                       "training split, so it has no mean; drop the feature or use {fill: VALUE}",
                                       AT))
        fills[k] = np.nanmean(flat, axis=0).astype(np.float32).reshape(v.shape[-1:] if v.ndim > 1 else ())
    filled = 0

    def fill(part):
        nonlocal filled
        if part is None:
            return None
        x, y = part
        out = {}
        for k, v in _arrays(x).items():
            if k in fills and np.isnan(v).any():
                gap = np.isnan(v)
                v = np.where(gap, np.broadcast_to(fills[k], v.shape), v).astype(v.dtype)
                filled += int(gap.sum())
            out[k] = v
        return (out if isinstance(x, dict) else out["x"]), y

    train, val, test = fill(splits.train), fill(splits.val), fill(splits.test)
    info = dict(splits.info)
    stats = dict(info.get("missing", {"policy": name, "samples_dropped": 0, "values_filled": 0}))
    stats["values_filled"] = stats.get("values_filled", 0) + filled
    info["missing"] = stats
    return dataclasses.replace(splits, train=train, val=val, test=test, info=info)
