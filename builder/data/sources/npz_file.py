"""``data.npz``: a NumPy ``.npz`` archive → :class:`~builder.data.sources.arrays.Arrays` (no TensorFlow).

Arrays are taken as stored (float64 narrowed to float32; never unpickled): x is ``data.x`` (default
``x``) or a ``{input: KEY}`` dict of named inputs, y is ``data.y`` (default ``y``). The official test
split is ``<key>_test`` for every x key and y, else ``x_test``/``y_test`` for a single x. A
``class_names`` array names integer classes. Variable-length sequences are stored concatenated along
time in ``KEY`` with each one's length in ``KEY_lengths``; they come back as a ragged ``(n,)``
object array of ``(t_i, channels)`` arrays (kind ``sequences``).
"""

from __future__ import annotations

import pathlib
import zipfile

import numpy as np

from builder.data.sources.arrays import Arrays, ragged, unknown
from builder.errors import Collector, Diagnostic, SpecError


def load_npz(path: pathlib.Path, data: dict, task: str | None) -> Arrays:
    """Read the archive at ``path`` as described in the module docstring.

    Returns:
        :class:`Arrays`: classification labels as int32 indices (string labels mapped through
        their sorted names), regression labels as float32; ``x_test``/``y_test`` None without a
        test split.

    Raises:
        SpecError: unreadable file, unknown array key (with did-you-mean), a 0-d array, NaN or
            infinite values in a float array, features and labels of different lengths, bad
            ``_lengths``, labels that do not fit ``task``.
    """
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise SpecError(Diagnostic(f"Could not read NPZ file {path.resolve()}: {exc}", ("data", "npz"))) from None
    was_ragged = _unragged(arrays, path)
    names = sorted(k for k in arrays if not k.endswith("_lengths"))
    errs = Collector()
    x_spec = data.get("x", "x")
    y_key = data.get("y", "y")

    def key(k, p):
        if not isinstance(k, str) or k not in arrays:
            errs.error(unknown(f"array in {path.name}:", k, names, f"Arrays in the file: {', '.join(names)}."), p)
            return None
        return k

    if isinstance(x_spec, dict):
        x_keys = {inp: key(k, ("data", "x", inp)) for inp, k in x_spec.items()}
    else:
        x_keys = key(x_spec, ("data", "x"))
    y_key = key(y_key, ("data", "y"))
    errs.raise_if_any()
    # an array's problem is reported where the spec names it, or at the npz line for a default key
    named = {"x": ("data", "x") if data.get("x", "x") != "x" else ("data", "npz"),
             "y": ("data", "y") if data.get("y", "y") != "y" else ("data", "npz")}
    chosen = [(k, ("data", "x", inp)) for inp, k in x_keys.items()] if isinstance(x_keys, dict) \
        else [(x_keys, named["x"])]
    for k, at in [*chosen, (y_key, named["y"])]:
        _check_array(arrays, k, path.name, at, errs, nan_ok=(data.get("missing") or "error") != "error")
    errs.raise_if_any()

    def gather(keys, suffix):
        if isinstance(keys, dict):
            return {inp: _narrow(arrays[k + suffix]) for inp, k in keys.items()}
        return _narrow(arrays[keys + suffix])

    x, y = gather(x_keys, ""), arrays[y_key]
    flat = list(x_keys.values()) if isinstance(x_keys, dict) else [x_keys]
    if all(k + "_test" in arrays for k in [*flat, y_key]):
        x_test, y_test = gather(x_keys, "_test"), arrays[y_key + "_test"]
    elif not isinstance(x_keys, dict) and "x_test" in arrays and "y_test" in arrays:
        x_test, y_test = _narrow(arrays["x_test"]), arrays["y_test"]
    else:
        x_test = y_test = None
    _check_lengths(x, y, path.name, "", errs)
    if y_test is not None:
        _check_lengths(x_test, y_test, path.name, "_test", errs)
    class_names = tuple(str(c) for c in arrays["class_names"]) if "class_names" in arrays else None
    task = task or ("classification" if y.dtype.kind in "iubUS" else "regression")
    y, y_test, class_names = _npz_target(y, y_test, class_names, task, path.name, errs)
    errs.raise_if_any()
    sequences = data.get("sequence") is not None or (was_ragged and not isinstance(x, dict))
    return Arrays(x, y, x_test, y_test, class_names, task, path.name,
                  info={"kind": "sequences"} if sequences else {})


def _unragged(arrays: dict, path: pathlib.Path) -> bool:
    """Variable-length sequences in an NPZ: ``k`` holds them concatenated along time and
    ``k_lengths`` each one's length; replace ``k`` by a 1-D object array of the pieces."""
    found = False
    for key in [k for k in arrays if k + "_lengths" in arrays]:
        lengths = arrays[key + "_lengths"].astype(np.int64).ravel()
        if lengths.sum() != len(arrays[key]) or (lengths < 0).any():
            raise SpecError(Diagnostic(f"{path.name}: '{key}_lengths' sums to {int(lengths.sum())}, but '{key}' "
                                       f"has {len(arrays[key])} steps.", ("data", "npz")))
        arrays[key] = ragged(np.split(_narrow(arrays[key]), np.cumsum(lengths)[:-1]))
        found = True
    return found


def _check_array(arrays: dict, key: str, fname: str, at: tuple, errs: Collector, nan_ok: bool = False) -> None:
    """``key`` and its ``_test`` twin hold one row per sample (not a 0-d scalar) and, when
    numeric, only finite values: NaN or inf would train silently on NaN losses. With ``nan_ok``
    (a ``data.missing`` policy) NaN is left to :mod:`builder.data.missing`; inf is never allowed."""
    for k in (key, key + "_test"):
        a = arrays.get(k)
        if a is None:
            continue
        if a.ndim == 0:
            errs.error(f"{fname}: array '{k}' is a single value (shape ()); expected one row per sample, "
                       "shape (samples, ...).", at)
        elif a.dtype.kind == "f" and not (np.isfinite(a) | (nan_ok & np.isnan(a))).all():
            bad = a.reshape(len(a), -1)
            rows = np.flatnonzero(~np.isfinite(bad).all(axis=1))
            errs.error(f"{fname}: array '{k}' holds {int((~np.isfinite(bad)).sum())} NaN or infinite values "
                       f"in {len(rows)} of {len(a)} samples (first: sample {int(rows[0])}); expected finite "
                       "numbers (fill or drop missing values).", at)


def _narrow(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype == np.float64 else a


def _check_lengths(x, y, fname, suffix, errs) -> None:
    lengths = {k: len(v) for k, v in x.items()} if isinstance(x, dict) else {"x": len(x)}
    if any(n != len(y) for n in lengths.values()):
        shown = ", ".join(f"{k}{suffix}: {n}" for k, n in lengths.items())
        errs.error(f"{fname}: features and labels{suffix and ' (test)'} differ in length "
                   f"({shown}; labels: {len(y)}); expected one label per sample.", ("data", "npz"))


def _npz_target(y, y_test, class_names, task, fname, errs):
    """Cast labels: classification -> int32 indices (strings mapped via sorted names), regression -> float32."""
    ys = [y] if y_test is None else [y, y_test]
    if task == "regression":
        if y.dtype.kind not in "iubf":
            errs.error(f"{fname}: regression needs numeric targets; the labels have dtype {y.dtype}.", ("data", "task"))
            return y, y_test, None
        out = [a.astype(np.float32) for a in ys]
        return out[0], (out[1] if y_test is not None else None), None
    if y.dtype.kind in "US":
        class_names = tuple(sorted({str(v) for a in ys for v in a.ravel()}))
        index = {n: i for i, n in enumerate(class_names)}
        out = [np.vectorize(lambda v: index[str(v)], otypes=[np.int32])(a) for a in ys]
    else:
        if any(a.dtype.kind == "f" and not np.all(a == np.round(a)) for a in ys):
            errs.error(f"{fname}: classification needs integer class indices; the labels hold fractional "
                       "values. Use task: regression.", ("data", "task"))
            return y, y_test, None
        out = [a.astype(np.int32) for a in ys]
        lo = min(int(a.min()) for a in out if a.size)
        hi = max(int(a.max()) for a in out if a.size)
        if lo < 0 or (class_names is not None and hi >= len(class_names)):
            limit = f" and below {len(class_names)} (the length of 'class_names')" if class_names else ""
            errs.error(f"{fname}: class indices must be >= 0{limit}; received values from {lo} to {hi}.", ("data", "y"))
    return out[0], (out[1] if y_test is not None else None), class_names
