"""``data.pairs``: seq2seq pairs → encoder ids and teacher-forced decoder arrays (no TensorFlow).

Input: x ``(n,)`` source strings and y ``(n,)`` target strings (a pairs dataset, a CSV with
``pairs.source``/``pairs.target``, or pairs derived from the words of a text with ``pairs.derive``).
Output per split: x ``{encoder_input: (n, source_length), decoder_input: (n, target_length)}`` and
y ``(n, target_length)``, int32 ids, 0-padded; the decoder input is the target shifted right behind
``[START]``, the target ends in ``[END]`` (:func:`teacher_forcing`). One vocabulary for both sides,
built on the training pairs; ``info["pairs"]`` records lengths and the special ids.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from builder.data import text as tx
from builder.data.sequences.prepared import Prepared, each, option_error, vocab_info


def teacher_forcing(target_ids, length: int, start_id: int, end_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Decoder arrays for teacher forcing, both ``(n, length)`` int32, 0-padded.

    ``decoder_target`` is the target followed by ``[END]`` (truncated to ``length``);
    ``decoder_input`` is the same sequence shifted right by one with ``[START]`` in front, so at step
    t the decoder sees target tokens ``< t`` and predicts token t.
    """
    full = [np.concatenate([np.asarray(t, np.int32)[:length - 1], [end_id]]).astype(np.int32) for t in target_ids]
    dec_target = tx.pad_ids(full, length)
    dec_input = np.zeros_like(dec_target)
    dec_input[:, 0] = start_id
    dec_input[:, 1:] = dec_target[:, :-1]
    dec_input[dec_target == 0] = 0  # keep padding (and the mask) aligned with the target
    return dec_input, dec_target


DERIVATIONS: dict[str, Callable[[str], str]] = {
    "reverse": lambda s: s[::-1],
    "sort": lambda s: "".join(sorted(s)),
}


def derive_pairs(texts, how: str, words: int = 1, lowercase: bool = True) -> tuple[list[str], list[str]]:
    """Character-transduction pairs built from real text (``data.pairs.derive``).

    Each text is cut into consecutive, non-overlapping runs of 1, 2, …, ``words`` words, the
    lengths cycling in that order across the texts, so that every length up to ``words`` is
    trained (words are runs of letters, digits and apostrophes, as
    :func:`builder.data.text.tokenize` finds them; punctuation is dropped, and so is a remainder
    at a text's end too short for the next run); a run joined by single spaces is a source, and
    its target is the source with its characters reversed (``reverse``; a transduction task of
    Grefenstette et al. 2015, "Learning to Transduce with Unbounded Memory": output step t aligns
    with input step S - 1 - t, an alignment attention can learn) or sorted by code point (``sort``;
    Vinyals, Bengio & Kudlur 2016, "Order Matters", sort numbers with seq2seq models).

    Args:
        texts: Iterable of strings (one corpus, or many short texts).
        how: ``reverse`` or ``sort`` (:data:`DERIVATIONS`).
        words: The most words per source (>= 1); 1 gives single words.
        lowercase: Lower-case before deriving (``sort`` depends on case).

    Returns:
        ``(sources, targets)``: two lists of the same length, in text order.

    Raises:
        KeyError: an unknown ``how``.
    """
    fn = DERIVATIONS[how]
    sources, k = [], 0
    for text in texts:
        ws = tx.words(str(text).lower() if lowercase else str(text))
        i, n = 0, k % words + 1  # run lengths 1, 2, ..., words, 1, 2, ...
        while i + n <= len(ws):
            sources.append(" ".join(ws[i:i + n]))
            i, k = i + n, k + 1
            n = k % words + 1
    return sources, [fn(s) for s in sources]


def derived_pairs(arrays, opts: dict, ordered: bool):
    """``pairs.derive``: the :class:`~builder.data.sources.arrays.Arrays` of the pairs :func:`derive_pairs`
    makes from the texts of ``arrays`` (x, y ``(n,)`` strings, kind ``pairs``), with the pairs preparer.

    Raises:
        SpecError: at ``data.pairs.derive``: the texts hold no words.
    """

    def pairs(x):
        src, tgt = derive_pairs(list(x), opts["derive"], opts["words"], opts["lowercase"])
        return np.asarray(src, dtype=object), np.asarray(tgt, dtype=object)

    x, y = pairs(arrays.x_train)
    if not len(x):
        raise option_error(f"'{arrays.name}' has no words to derive pairs from", "pairs", "derive")
    xt, yt = pairs(arrays.x_test) if arrays.x_test is not None else (None, None)
    # A corpus keeps its order (split in time order, as for a language model): the test pairs are
    # the end of the text, not runs drawn from between the training ones.
    return dataclasses.replace(arrays, x_train=x, y_train=y, x_test=xt, y_test=yt, class_names=None,
                               task="sequence", ordered=ordered, info={**arrays.info, "kind": "pairs"},
                               prepare=pairs_preparer(opts))


def pairs_preparer(opts: dict):
    """The preparer of ``data.pairs`` options ``opts`` (lengths default to the longest training source,
    and the longest training target + 1 for ``[END]``)."""

    def prepare(parts: dict) -> Prepared:
        lvl, low = opts["level"], opts["lowercase"]
        toks = {k: None if v is None else ([tx.tokenize(str(s), lvl, low) for s in v[0]],
                                           [tx.tokenize(str(t), lvl, low) for t in v[1]]) for k, v in parts.items()}
        src, tgt = toks["train"]
        vocab = tx.build_vocabulary(src + tgt, max_tokens=opts["max_tokens"], specials=(tx.START, tx.END))
        index = {t: i for i, t in enumerate(vocab)}
        s_len = opts["source_length"] or max(1, max(len(s) for s in src))
        t_len = opts["target_length"] or max(2, max(len(t) for t in tgt) + 1)

        def make(name, _xy):
            s, t = toks[name]
            enc = tx.pad_ids([tx.encode(a, index) for a in s], s_len)
            dec_in, dec_out = teacher_forcing([tx.encode(b, index) for b in t], t_len, index[tx.START], index[tx.END])
            return {opts["encoder_input"]: enc, opts["decoder_input"]: dec_in}, dec_out
        info = vocab_info(vocab, lvl, pairs={**opts, "source_length": int(s_len), "target_length": int(t_len),
                                              "start_id": index[tx.START], "end_id": index[tx.END]})
        return Prepared(each(parts, make), info)
    return prepare
