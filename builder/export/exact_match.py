"""Exact-match accuracy of greedy decoding on a seq2seq run's held-out pairs.

Input: a finished seq2seq run (``data.pairs``). Its spec is loaded again
(:func:`builder.run.artifacts.load_run_spec`) and its data split as in training, so the held-out
sources and their reference replies are the run's own. Output: an :class:`ExactMatch`: the
fraction of sources whose greedy reply (:func:`builder.export.decoding.decode_batch`, what
``dlbuild generate`` prints) equals the reference token for token, overall and on the sources
never seen in training, with a few examples as text. Teacher-forced token accuracy
(``metrics.json``) only scores single steps given the true prefix; exact match scores whole replies.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from builder.data import text as tx
from builder.export.decoding import decode_batch, target_ids
from builder.export.genrun import SEQ2SEQ, GenerateError, load_run
from builder.export.sampling import banned_ids


@dataclasses.dataclass
class ExactMatch:
    """What :func:`exact_match` returns.

    Attributes:
        accuracy: the fraction of sources whose greedy reply equals the reference exactly.
        n: sources decoded; ``correct``: how many matched.
        unseen_accuracy, unseen: the same over the sources that do not occur in the training split
            (a memorised training pair cannot help there); None / 0 when every source occurs there.
        examples: ``(source, reference, reply)`` texts of the first few sources.
    """

    accuracy: float
    n: int
    correct: int
    unseen_accuracy: float | None
    unseen: int
    examples: list


def exact_match(run_dir: str | Path, split: str = "test", *, limit: int | None = None, batch_size: int = 256,
                examples: int = 5) -> ExactMatch:
    """Exact-match accuracy of greedy decoding on a seq2seq run's held-out pairs.

    The run's ``spec.resolved.yaml`` is loaded again and its data split as in training
    (:func:`builder.data.load.load_splits`: same seed, same vocabulary); each source of ``split`` is
    decoded with :func:`decode_batch` and compared token for token with its reference target.
    Token accuracy under teacher forcing (``metrics.json``) scores every step given the true
    previous tokens; exact match scores what ``dlbuild generate`` prints, where one wrong token is
    fed back and can derail the rest.

    Args:
        run_dir: A finished seq2seq run (``data.pairs``).
        split: ``test`` or ``val``.
        limit: Decode only the first ``limit`` sources.

    Raises:
        GenerateError: not a seq2seq run, or the spec or data cannot be loaded again.
        ValueError: an unknown ``split``.
    """
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val'; received {split!r}")
    g = load_run(run_dir)
    if g.kind != SEQ2SEQ:
        raise GenerateError(f"{run_dir}: exact match needs a seq2seq run; this one is a {g.kind.replace('_', ' ')}")
    from builder.data.load import load_splits
    from builder.errors import SpecError
    from builder.run.artifacts import load_run_spec

    try:
        splits = load_splits(load_run_spec(Path(run_dir)))
    except (SpecError, OSError) as exc:
        raise GenerateError(f"{run_dir}: cannot rebuild the data of the run: {exc}") from None
    if splits.info.get("vocabulary") != g.vocabulary:
        raise GenerateError(f"{run_dir}: the data no longer gives the run's vocabulary.json; it has changed")
    part = splits.test if split == "test" else splits.val
    if part is None:
        raise GenerateError(f"{run_dir}: the run has no {split} split")
    (x, y) = part
    src = np.asarray(x[g.encoder_input])[:limit]
    end = g.vocabulary.index(tx.END)
    refs = target_ids(np.asarray(y)[:limit], end)
    probe = g.predict({g.encoder_input: src[:1], g.decoder_input: np.zeros((1, g.window), np.int32)})
    banned = banned_ids(g.vocabulary, np.asarray(probe).shape[-1])
    replies = []
    for i in range(0, len(src), batch_size):
        replies += decode_batch(g.predict, src[i:i + batch_size], start_id=g.vocabulary.index(tx.START),
                                end_id=end, decoder_length=g.window, encoder_input=g.encoder_input,
                                decoder_input=g.decoder_input, banned=banned)
    hits = np.array([r == ref for r, ref in zip(replies, refs)], bool)
    seen = {tuple(row[row != 0]) for row in np.asarray(splits.train[0][g.encoder_input])}
    unseen = np.array([tuple(row[row != 0]) not in seen for row in src], bool)

    def text(ids):
        return tx.detokenize([g.vocabulary[i] for i in ids], g.level)

    shown = [(text(s[s != 0].tolist()), text(ref), text(r)) for s, ref, r in
             list(zip(src, refs, replies))[:examples]]
    return ExactMatch(float(hits.mean()) if len(hits) else 0.0, len(hits), int(hits.sum()),
                      float(hits[unseen].mean()) if unseen.any() else None, int(unseen.sum()), shown)

