"""Sample dictionaries ``{input_name: (n, ...)}``: building them, counting them, running in chunks.

Every runtime (:mod:`builder.export.runtimes`) and every check takes model inputs as such a
dictionary and returns a list of output arrays ``(n, ...)``, one per model output, in the model's
output order. NumPy only.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def as_input_dict(x, names: list[str]) -> dict:
    """Model inputs as ``{input_name: array}``: a dict (keys ``names``), a list/tuple in input
    order, or one array for the single input ``names[0]``."""
    if isinstance(x, dict):
        return {n: np.asarray(x[n]) for n in names}
    if isinstance(x, (list, tuple)):
        return {n: np.asarray(v) for n, v in zip(names, x)}
    return {names[0]: np.asarray(x)}


def n_samples(xd: dict) -> int:
    """Number of samples ``n`` of a sample dictionary (the length of its first array)."""
    return len(next(iter(xd.values())))


def head(xd: dict, n: int = 1) -> dict:
    """The first ``n`` samples of every input (shape ``(n, ...)``)."""
    return {k: v[:n] for k, v in xd.items()}


def as_output_list(y) -> list[np.ndarray]:
    """Model outputs (an array, a list/tuple or a dict of them) as a list of numpy arrays."""
    if isinstance(y, dict):
        return [np.asarray(v) for v in y.values()]
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def in_chunks(call: Callable[[dict], list], xd: dict, batch: int) -> list[np.ndarray]:
    """``call`` on consecutive chunks of ``batch`` samples of ``xd``, outputs concatenated.

    Args:
        call: ``{input_name: (b, ...)}`` → list of ``(b, ...)`` arrays, one per output.
        xd: ``{input_name: (n, ...)}``, n >= 1.
        batch: Samples per call (1 for static batch-1 runtimes).

    Returns:
        One ``(n, ...)`` array per output.
    """
    chunks = [call({k: v[i:i + batch] for k, v in xd.items()}) for i in range(0, n_samples(xd), batch)]
    return [np.concatenate([c[j] for c in chunks]) for j in range(len(chunks[0]))]
