"""``data.window``: cut one time series into forecasting samples, and the last-value baseline (no TensorFlow).

Input: the split parts of a series (kind ``series``), x ``(T_part, channels)`` float32 with the target
as channel 0 and y ``(T_part,)``. Output per part: x ``(n, input, channels)`` float32, y
``(n, horizon)`` float32; a sample's targets all lie inside its part, its inputs may reach back into
the part before (that past is known at forecast time). ``info["window"]`` records the geometry.
"""

from __future__ import annotations

import math

import numpy as np

from builder.data.sequences.prepared import Prepared, too_short


def sliding_windows(values: np.ndarray, target: np.ndarray, *, input: int, horizon: int = 1,
                    stride: int = 1, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forecasting samples whose targets all lie in ``[start, stop)`` of the series.

    Args:
        values: ``(T, channels)`` inputs (a 1-D series is one channel).
        target: ``(T,)`` the series to forecast.
        input, horizon, stride: window geometry; the k-th sample predicts
            ``target[t:t + horizon]`` from ``values[t - input:t]`` for ``t = max(start, input) + k·stride``.
        start, stop: target range (the inputs may reach back before ``start``: that past is known).

    Returns:
        x ``(n, input, channels)`` float32, y ``(n, horizon)`` float32 (n may be 0).
    """
    values = np.asarray(values, np.float32)
    values = values[:, None] if values.ndim == 1 else values
    stop = len(target) if stop is None else stop
    first = max(start, input)
    ts = np.arange(first, stop - horizon + 1, stride)
    x = values[ts[:, None] + np.arange(-input, 0)] if len(ts) else np.zeros((0, input, values.shape[1]), np.float32)
    y = np.asarray(target, np.float32)[ts[:, None] + np.arange(horizon)] if len(ts) else np.zeros((0, horizon), np.float32)
    return x.astype(np.float32), y.astype(np.float32)


def naive_forecast(x: np.ndarray, horizon: int) -> np.ndarray:
    """The last-value forecast of each window: ``x[:, -1, 0]`` (the target is channel 0) repeated."""
    return np.repeat(np.asarray(x)[:, -1, :1], horizon, axis=1)


def naive_forecast_metrics(splits) -> dict | None:
    """``{"mse", "mae", "rmse"}`` of the last-value forecast on the test windows (None unless windowed)."""
    w = splits.info.get("window") if getattr(splits, "info", None) else None
    if not w:
        return None
    x, y = splits.test
    err = naive_forecast(x, w["horizon"]) - y
    mse = float(np.mean(err ** 2))
    return {"mse": mse, "mae": float(np.mean(np.abs(err))), "rmse": math.sqrt(mse)}


def window_preparer(opts: dict):
    """The preparer of ``data.window`` options ``opts`` (``input``, ``horizon``, ``stride``): the parts are
    put back in order and windowed so each part keeps its own targets.

    Raises:
        SpecError: at ``data.window.input``: a part too short for one sample.
    """

    def prepare(parts: dict) -> Prepared:
        names = [k for k in ("train", "val", "test") if parts.get(k) is not None]
        values = np.concatenate([np.asarray(parts[k][0], np.float32).reshape(len(parts[k][1]), -1) for k in names])
        target = np.concatenate([parts[k][1] for k in names]).astype(np.float32)
        out, start = {}, 0
        for k in ("train", "val", "test"):
            if parts.get(k) is None:
                out[k] = None
                continue
            stop = start + len(parts[k][1])
            x, y = sliding_windows(values, target, input=opts["input"], horizon=opts["horizon"],
                                   stride=opts["stride"], start=start, stop=stop)
            if not len(y):
                raise too_short(k if k != "val" else "validation", stop - start,
                                opts["horizon"] + (opts["input"] if k == "train" else 0), "window", "input")
            out[k], start = (x, y), stop
        return Prepared(out, {"window": {**opts, "channels": int(values.shape[1]), "target_channel": 0}})
    return prepare
