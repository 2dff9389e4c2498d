"""The preparer contract between :func:`~builder.data.sequences.configure.configure` and
:func:`builder.data.splits.split_arrays`: what a preparer returns (:class:`Prepared`), how it maps
each split, the ``info`` keys later stages read (``vocabulary``, ``level``, ``vocab_size``), and the
located :class:`builder.errors.SpecError` of a data option. No TensorFlow.

A preparer is a callable ``{"train": (x, y), "val": (x, y) | None, "test": (x, y)} -> Prepared``;
it fits what it must (vocabulary, padded length) on ``"train"`` only.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from builder.errors import Diagnostic, SpecError


@dataclasses.dataclass
class Prepared:
    """What a preparer returns: the transformed ``(x, y)`` per split name and ``info`` for Splits."""

    parts: dict
    info: dict


def option_error(msg: str, *path) -> SpecError:
    """A :class:`SpecError` located at ``("data", *path)``."""
    return SpecError(Diagnostic(msg, ("data", *path)))


def too_short(what: str, n: int, need: int, *path) -> SpecError:
    """The error for a split with ``n`` steps where one sample needs ``need`` (located at ``path``)."""
    return option_error(f"the {what} split has {n} steps, too few for one sample ({need} needed); lower "
                        "validation_split/test_split or the window/sequence length", *path)


def each(parts: dict, fn: Callable) -> dict:
    """``{name: fn(name, (x, y))}`` over the splits, keeping a missing split (None) as None."""
    return {k: (None if v is None else fn(k, v)) for k, v in parts.items()}


def vocab_info(vocab: list, level: str, **extra) -> dict:
    """The ``Splits.info`` of token data: ``vocabulary`` (index -> token), ``level``, ``vocab_size``, ``extra``."""
    return {"vocabulary": list(vocab), "level": level, "vocab_size": len(vocab), **extra}


def vocabulary(splits) -> list[str] | None:
    """The token vocabulary (index -> token) of prepared splits, or None when the data has none.

    Language models, seq2seq pairs, masked LM and ``tokenize`` data carry one; a run should save it
    (:func:`builder.data.text.save_vocabulary`) so ``generate`` can map ids back to text.
    """
    info = getattr(splits, "info", None) or {}
    return info.get("vocabulary")
