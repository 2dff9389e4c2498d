"""Decoding a seq2seq model's reply: greedy (or sampled) one reply at a time, or batched greedy.

Inputs: a ``predict`` function ``{encoder_input: (n, S), decoder_input: (n, T)} -> (n, T, V)``
probabilities and padded source ids. Outputs: reply token ids. The layout mirrors teacher forcing
(:func:`builder.data.sequences.pairs.teacher_forcing`): decoder input t holds token t - 1 (``[START]``
at 0), output t gives token t. NumPy only, so the loops are testable with a stub model.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from builder.export.sampling import pick


def greedy_decode(predict: Callable, source_ids: np.ndarray, *, start_id: int, end_id: int, decoder_length: int,
                  max_tokens: int, encoder_input: str = "encoder_input", decoder_input: str = "decoder_input",
                  banned: np.ndarray | None = None, temperature: float = 0.0, top_k: int | None = None,
                  seed: int | None = None) -> tuple[list[int], bool]:
    """Decode a reply to ``source_ids`` one token at a time (teacher forcing's inference twin).

    The decoder input starts as ``[START]`` followed by padding; at step t the model's output at
    position t gives token t, which is written to decoder position t + 1. Stops at ``[END]`` (not
    returned), after ``max_tokens`` tokens, or when the decoder's ``decoder_length`` steps are used.

    Args:
        predict: ``{encoder_input: (1, S), decoder_input: (1, T)}`` → ``(1, T, V)`` probabilities.
        source_ids: ``(S,)`` encoder ids, already padded.
        temperature, top_k, seed: as :func:`pick` (default 0: greedy).

    Returns:
        ``(ids, stopped)``: the reply ids and whether ``[END]`` ended it.
    """
    rng = np.random.default_rng(seed)
    enc = np.asarray(source_ids, np.int32)[None, :]
    dec = np.zeros((1, decoder_length), np.int32)
    dec[0, 0] = start_id
    out = []
    for t in range(min(max_tokens, decoder_length)):
        probs = np.asarray(predict({encoder_input: enc, decoder_input: dec}))[0, t]
        nxt = pick(probs, temperature=temperature, top_k=top_k, rng=rng, banned=banned)
        if nxt == end_id:
            return out, True
        out.append(nxt)
        if t + 1 < decoder_length:
            dec[0, t + 1] = nxt
    return out, False


def decode_batch(predict: Callable, sources: np.ndarray, *, start_id: int, end_id: int, decoder_length: int,
                 encoder_input: str = "encoder_input", decoder_input: str = "decoder_input",
                 banned: np.ndarray | None = None) -> list[list[int]]:
    """Greedy-decode many sources at once: :func:`greedy_decode` at temperature 0, one row per source.

    Every step is one forward pass of the whole batch, so n replies cost ``decoder_length`` passes
    instead of ``n * decoder_length``. A row is finished at its first ``[END]``; its later outputs
    are ignored (they cannot change its earlier positions: the decoder is causal).

    Args:
        predict: ``{encoder_input: (n, S), decoder_input: (n, T)}`` → ``(n, T, V)`` probabilities.
        sources: ``(n, S)`` encoder ids, already padded.
        banned: ``(V,)`` booleans: ids never chosen (as :func:`pick`).

    Returns:
        n lists of ids, each without ``[END]`` (at most ``decoder_length`` ids).
    """
    enc = np.asarray(sources, np.int32)
    n = len(enc)
    dec = np.zeros((n, decoder_length), np.int32)
    dec[:, 0] = start_id
    out = np.zeros((n, decoder_length), np.int32)
    done = np.zeros(n, bool)
    length = np.full(n, decoder_length)
    for t in range(decoder_length):
        logits = np.log(np.clip(np.asarray(predict({encoder_input: enc, decoder_input: dec}), np.float64)[:, t],
                                1e-30, None))
        if banned is not None:
            logits[:, banned] = -np.inf
        nxt = logits.argmax(axis=-1).astype(np.int32)
        ended = ~done & (nxt == end_id)
        length[ended] = t
        done |= ended
        out[:, t] = nxt
        if done.all():
            break
        if t + 1 < decoder_length:
            dec[:, t + 1] = np.where(done, 0, nxt)
    return [out[i, :length[i]].tolist() for i in range(n)]


def target_ids(decoder_target: np.ndarray, end_id: int) -> list[list[int]]:
    """The reference replies of teacher-forcing targets ``(n, T)``: each row up to its ``[END]``
    (or its padding, where truncation cut the ``[END]`` off)."""
    refs = []
    for row in np.asarray(decoder_target):
        row = row.tolist()
        stop = row.index(end_id) if end_id in row else (row.index(0) if 0 in row else len(row))
        refs.append(row[:stop])
    return refs
