"""``data.masked_lm``: texts → fixed-length token ids for masked-language-model training (no TensorFlow).

Output per split: x = y = ``(n, sequence_length)`` int32 ids (a text set: one padded/truncated sample
per text; a corpus stream: consecutive non-overlapping chunks). The vocabulary reserves ``[MASK]``
after ``""`` and ``[UNK]``; ``info["masked_lm"]`` carries ``mask_id``, ``first_id`` (the first regular
token) and ``vocab_size``. The random per-epoch masking happens in the tf.data pipeline
(:func:`builder.data.pipeline.masked_lm_batches`); :func:`mask_tokens` is its NumPy twin, used for
the fixed validation/test masks.
"""

from __future__ import annotations

import numpy as np

from builder.data import text as tx
from builder.data.sequences.prepared import Prepared, each, option_error, too_short, vocab_info


def mask_tokens(ids: np.ndarray, rng: np.random.Generator, *, rate: float, mask_id: int, first_id: int,
                vocab_size: int, mask_fraction: float = 0.8, random_fraction: float = 0.1):
    """Devlin et al. 2019's masking (NumPy twin of the tf.data version).

    Selects each non-padding token with probability ``rate``; of the selected, ``mask_fraction``
    become ``[MASK]``, ``random_fraction`` a uniformly random regular token (ids
    ``[first_id, vocab_size)``) and the rest stay unchanged.

    Returns:
        ``(masked_ids, sample_weight)``: int32 like ``ids``; float32 1.0 on selected positions, else 0.
    """
    ids = np.asarray(ids, np.int32)
    selected = (rng.random(ids.shape) < rate) & (ids != 0)
    r = rng.random(ids.shape)
    out = ids.copy()
    out[selected & (r < mask_fraction)] = mask_id
    rand = selected & (r >= mask_fraction) & (r < mask_fraction + random_fraction)
    out[rand] = rng.integers(first_id, vocab_size, size=int(rand.sum()))
    return out, selected.astype(np.float32)


def mlm_preparer(opts: dict, stream: bool):
    """The preparer of ``data.masked_lm`` options ``opts``; ``stream``: the split parts are one token
    stream (:func:`builder.data.sequences.language_model.token_stream`), else ``(n,)`` texts.

    Raises:
        SpecError: a stream part shorter than ``sequence_length``, or ``max_tokens`` leaving no regular token.
    """
    specials = (tx.MASK,)

    def prepare(parts: dict) -> Prepared:
        lvl, low, n = opts["level"], opts["lowercase"], opts["sequence_length"]
        if stream:
            train_lists = [list(parts["train"][0])]
        else:
            train_lists = [tx.tokenize(str(s), lvl, low) for s in parts["train"][0]]
        vocab = tx.build_vocabulary(train_lists, max_tokens=opts["max_tokens"], specials=specials)
        index = {t: i for i, t in enumerate(vocab)}

        def make(name, xy):
            if stream:
                ids = tx.encode(list(xy[0]), index)
                k = len(ids) // n
                if not k:
                    raise too_short(name, len(ids), n, "masked_lm", "sequence_length")
                x = ids[:k * n].reshape(k, n)
            else:
                x = tx.pad_ids([tx.encode(tx.tokenize(str(s), lvl, low), index) for s in xy[0]], n)
            return x, x.copy()
        mlm = {**opts, "mask_id": index[tx.MASK], "first_id": 2 + len(specials), "vocab_size": len(vocab)}
        if mlm["first_id"] >= mlm["vocab_size"]:
            raise option_error("masked_lm: the vocabulary has no regular tokens", "masked_lm", "max_tokens")
        return Prepared(each(parts, make), vocab_info(vocab, lvl, masked_lm=mlm))
    return prepare
