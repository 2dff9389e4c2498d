"""Sequence-shaped data: padding, sliding windows, language-model streams, seq2seq pairs, masked-LM
inputs, token ids -- everything that turns raw text or series into arrays (no TensorFlow).

:func:`configure` is called by :func:`builder.data.sources.files.load_arrays` on the raw
:class:`~builder.data.sources.files.Arrays` of a source (strings, ragged sequences, a series). It validates
the spec's ``sequence`` / ``window`` / ``pairs`` / ``language_model`` / ``masked_lm`` / ``tokenize``
options and attaches a *preparer*. :func:`builder.data.splits.split_arrays` splits the raw samples
first (in time order when ``Arrays.ordered``) and then calls the preparer, which fits what it must
(vocabulary, padded length) on the training split only and transforms every split. The preparer's
``info`` (vocabulary, window geometry, masking settings) travels on to ``Splits.info``.

The masking of ``masked_lm`` itself is random per epoch and happens in the tf.data pipeline
(:func:`builder.data.pipeline.make_pipelines`); :func:`mask_tokens` is its NumPy twin, used for the
fixed validation/test masks.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Any, Callable

import numpy as np

from builder.data import text as tx
from builder.errors import Diagnostic, SpecError
from builder.spec.data_options import OPTIONS, REQUIRED, STRUCTURING, resolve_options  # noqa: F401

def _options(data: dict, key: str) -> dict:
    opts, errors = resolve_options(key, data[key])
    if errors:
        raise SpecError(*[Diagnostic(m, p) for m, p in errors])
    return opts


def _err(msg: str, *path) -> SpecError:
    return SpecError(Diagnostic(msg, ("data", *path)))


# ---------------------------------------------------------------- .ts files (sktime / UEA / UCR)

def read_ts(path: str | pathlib.Path) -> tuple[list[np.ndarray], list[str], tuple[str, ...] | None]:
    """Parse a sktime ``.ts`` file (``@``-header, then ``dim1:dim2:...:label`` lines).

    Returns:
        ``(series, labels, class_names)``: each series a float32 array ``(length, channels)``
        (channels last; lengths may differ), one label string per series, and the
        ``@classLabel`` names in declared order (None when the header has none).

    Raises:
        ValueError: a malformed file, timestamps (``@timeStamps true``), or dimensions of unequal
            length within one case.
    """
    series, labels, class_names, header = [], [], None, {}
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(f"{path}:{lineno}: expected an @-header line before @data")
                tag, _, rest = line[1:].partition(" ")
                tag = tag.lower()
                if tag == "data":
                    in_data = True
                elif tag == "classlabel":
                    words = rest.split()
                    if words and words[0].lower() == "true":
                        class_names = tuple(words[1:])
                else:
                    header[tag] = rest.strip()
                continue
            if header.get("timestamps", "false").lower() == "true":
                raise ValueError(f"{path}: '@timeStamps true' files are not supported")
            parts = line.split(":")
            if class_names is not None:
                labels.append(parts.pop().strip())
            dims = []
            for p in parts:
                vals = [float("nan") if v.strip() == "?" else float(v) for v in p.split(",") if v.strip()]
                dims.append(vals)
            if len({len(d) for d in dims}) != 1:
                raise ValueError(f"{path}:{lineno}: the dimensions of this case differ in length "
                                 f"({sorted({len(d) for d in dims})})")
            series.append(np.asarray(dims, np.float32).T.copy())
    if not in_data:
        raise ValueError(f"{path}: no @data line")
    return series, labels, class_names


def ragged(items) -> np.ndarray:
    """A 1-D object array holding each item (so arrays of different lengths can be indexed)."""
    out = np.empty(len(items), object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def is_ragged(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == object and len(x) > 0 and isinstance(x[0], np.ndarray)


def pad_sequences(seqs, length: int, *, padding: str = "post", truncating: str = "post",
                  value: float = 0.0) -> np.ndarray:
    """Stack ``(t_i, channels)`` float sequences into ``(n, length, channels)`` float32."""
    seqs = [np.asarray(s, np.float32) for s in seqs]
    seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
    channels = seqs[0].shape[1] if seqs else 1
    out = np.full((len(seqs), length, channels), value, np.float32)
    for i, s in enumerate(seqs):
        s = s[:length] if truncating == "post" else s[max(0, len(s) - length):]
        if padding == "post":
            out[i, :len(s)] = s
        elif len(s):
            out[i, length - len(s):] = s
    return out


# ---------------------------------------------------------------- windows over a series

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


# ---------------------------------------------------------------- language model / teacher forcing

def lm_samples(ids: np.ndarray, sequence_length: int, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Next-token samples from a token stream: ``x = ids[i:i+N]``, ``y = ids[i+1:i+N+1]`` for
    ``i = 0, stride, 2·stride, ...`` (default stride N: non-overlapping). Both ``(n, N)`` int32."""
    n = sequence_length
    starts = np.arange(0, len(ids) - n, stride or n)
    if not len(starts):
        return np.zeros((0, n), np.int32), np.zeros((0, n), np.int32)
    idx = starts[:, None] + np.arange(n)
    ids = np.asarray(ids, np.int32)
    return ids[idx], ids[idx + 1]


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


# ---------------------------------------------------------------- configure: raw Arrays -> preparer

@dataclasses.dataclass
class Prepared:
    """What a preparer returns: the transformed ``(x, y)`` per split name and ``info`` for Splits."""

    parts: dict
    info: dict


def configure(arrays, data: dict, spec_dir: pathlib.Path):
    """Validate the sequence options of ``data`` against the raw ``arrays`` and attach a preparer.

    Returns the :class:`Arrays` to split (possibly re-shaped: a text stream becomes its tokens).

    Raises:
        SpecError: bad options, or a source that does not fit them (e.g. ``window`` on images).
    """
    given = [k for k in STRUCTURING if data.get(k) is not None]
    if len(given) > 1:
        raise _err(f"'data' takes at most one of {', '.join(STRUCTURING)}; received {', '.join(given)}", given[1])
    kind = arrays.info.get("kind", "table")  # table | text | corpus | pairs | sequences | series
    key = given[0] if given else None
    if data.get("sequence") is not None and kind != "sequences":
        raise _err(f"'sequence' pads variable-length sequence data (.ts files, NPZ sequences, sequence "
                   f"datasets); '{arrays.name}' is {kind} data", "sequence")
    if key is None:
        if kind == "sequences":
            return dataclasses.replace(arrays, prepare=_sequence_preparer(
                _options(data, "sequence") if data.get("sequence") is not None else resolve_options("sequence", {})[0]))
        needs = {"corpus": "language_model or masked_lm", "pairs": "pairs", "series": "window"}.get(kind)
        if needs:
            raise _err(f"'{arrays.name}' is {kind} data; add data.{needs.replace(' or ', ' or data.')} "
                       "to say how to make samples from it", "dataset" if "dataset" in data else ())
        return arrays
    opts = _options(data, key)
    if key == "window":
        if kind != "series":
            raise _err(f"'window' cuts a time series into samples; '{arrays.name}' is {kind} data "
                       "(for a CSV, name the series with 'target')", "window")
        return dataclasses.replace(arrays, ordered=True, x_test=None, y_test=None,
                                   prepare=_window_preparer(opts))
    if key == "pairs" and opts["derive"]:
        if kind not in ("text", "corpus"):
            raise _err(f"'pairs.derive' makes pairs from the words of a text or corpus dataset; "
                       f"'{arrays.name}' is {kind} data", "pairs", "derive")
        return _derived_pairs(arrays, opts, ordered=kind == "corpus")
    if key == "pairs":
        if kind != "pairs":
            raise _err(f"'pairs' needs paired texts (a pairs dataset, or a CSV with pairs.source and "
                       f"pairs.target); '{arrays.name}' is {kind} data", "pairs")
        return dataclasses.replace(arrays, prepare=_pairs_preparer(opts))
    if kind not in ("text", "corpus"):
        raise _err(f"'{key}' needs text (a text dataset, a CSV 'text' column, text_dir or text_file); "
                   f"'{arrays.name}' is {kind} data", key)
    if key == "tokenize":
        if kind != "text":
            raise _err(f"'tokenize' needs labelled texts; '{arrays.name}' is a corpus (use language_model "
                       "or masked_lm)", key)
        vocab = None
        if opts["vocabulary"]:
            path = pathlib.Path(opts["vocabulary"]).expanduser()
            path = path if path.is_absolute() else pathlib.Path(spec_dir) / path
            try:
                vocab, level = tx.load_vocabulary(path)
            except (OSError, ValueError) as exc:
                raise _err(f"could not read the vocabulary {path}: {exc}", "tokenize", "vocabulary") from None
            if level and level != opts["level"]:
                raise _err(f"the vocabulary {path} is {level}-level; tokenize.level is {opts['level']}",
                           "tokenize", "level")
        return dataclasses.replace(arrays, prepare=_tokenize_preparer(opts, vocab))
    stream = kind == "corpus"
    if key == "language_model" or stream:
        texts = list(arrays.x_train) + (list(arrays.x_test) if arrays.x_test is not None else [])
        tokens = []
        for t in texts:
            if tokens and opts["level"] == "char" and not stream:
                tokens.append("\n")
            tokens.extend(tx.tokenize(str(t), opts["level"], opts["lowercase"]))
        toks = np.asarray(tokens, dtype=object)
        prep = _lm_preparer(opts) if key == "language_model" else _mlm_preparer(opts, stream=True)
        return dataclasses.replace(arrays, x_train=toks, y_train=np.zeros(len(toks), np.int8), x_test=None,
                                   y_test=None, class_names=None, task="sequence", ordered=True, prepare=prep)
    return dataclasses.replace(arrays, class_names=None, task="sequence", prepare=_mlm_preparer(opts, stream=False))


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


def _derived_pairs(arrays, opts: dict, ordered: bool):
    def pairs(x):
        src, tgt = derive_pairs(list(x), opts["derive"], opts["words"], opts["lowercase"])
        return np.asarray(src, dtype=object), np.asarray(tgt, dtype=object)

    x, y = pairs(arrays.x_train)
    if not len(x):
        raise _err(f"'{arrays.name}' has no words to derive pairs from", "pairs", "derive")
    xt, yt = pairs(arrays.x_test) if arrays.x_test is not None else (None, None)
    # A corpus keeps its order (split in time order, as for a language model): the test pairs are
    # the end of the text, not runs drawn from between the training ones.
    return dataclasses.replace(arrays, x_train=x, y_train=y, x_test=xt, y_test=yt, class_names=None,
                               task="sequence", ordered=ordered, info={**arrays.info, "kind": "pairs"},
                               prepare=_pairs_preparer(opts))


def _too_short(what: str, n: int, need: int, *path) -> SpecError:
    return _err(f"the {what} split has {n} steps, too few for one sample ({need} needed); lower "
                "validation_split/test_split or the window/sequence length", *path)


def _each(parts: dict, fn: Callable) -> dict:
    return {k: (None if v is None else fn(k, v)) for k, v in parts.items()}


def _sequence_preparer(opts: dict):
    def prepare(parts: dict) -> Prepared:
        train_x = parts["train"][0]
        items = list(train_x) if is_ragged(train_x) else train_x
        length = opts["max_length"] or max(len(s) for s in items)

        def pad(_name, xy):
            x, y = xy
            seqs = list(x) if is_ragged(x) else x
            return pad_sequences(seqs, length, padding=opts["padding"], truncating=opts["truncating"],
                                 value=opts["value"]), y
        return Prepared(_each(parts, pad), {"sequence": {**opts, "max_length": int(length)}})
    return prepare


def _window_preparer(opts: dict):
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
                raise _too_short(k if k != "val" else "validation", stop - start,
                                 opts["horizon"] + (opts["input"] if k == "train" else 0), "window", "input")
            out[k], start = (x, y), stop
        return Prepared(out, {"window": {**opts, "channels": int(values.shape[1]), "target_channel": 0}})
    return prepare


def _vocab_info(vocab: list, level: str, **extra) -> dict:
    return {"vocabulary": list(vocab), "level": level, "vocab_size": len(vocab), **extra}


def _lm_preparer(opts: dict):
    def prepare(parts: dict) -> Prepared:
        vocab = tx.build_vocabulary([list(parts["train"][0])], max_tokens=opts["max_tokens"])
        index = {t: i for i, t in enumerate(vocab)}

        def make(name, xy):
            x, y = lm_samples(tx.encode(list(xy[0]), index), opts["sequence_length"], opts["stride"])
            if not len(x):
                raise _too_short(name, len(xy[0]), opts["sequence_length"] + 1, "language_model", "sequence_length")
            return x, y
        return Prepared(_each(parts, make), _vocab_info(vocab, opts["level"], language_model=opts))
    return prepare


def _pairs_preparer(opts: dict):
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
        info = _vocab_info(vocab, lvl, pairs={**opts, "source_length": int(s_len), "target_length": int(t_len),
                                               "start_id": index[tx.START], "end_id": index[tx.END]})
        return Prepared(_each(parts, make), info)
    return prepare


def _tokenize_preparer(opts: dict, vocab: list | None):
    def prepare(parts: dict) -> Prepared:
        lvl, low = opts["level"], opts["lowercase"]
        voc = vocab or tx.build_vocabulary((tx.tokenize(str(s), lvl, low) for s in parts["train"][0]),
                                           max_tokens=opts["max_tokens"])
        index = {t: i for i, t in enumerate(voc)}

        def make(_name, xy):
            return tx.pad_ids([tx.encode(tx.tokenize(str(s), lvl, low), index) for s in xy[0]],
                              opts["sequence_length"]), xy[1]
        return Prepared(_each(parts, make), _vocab_info(voc, lvl, tokenize=opts))
    return prepare


def _mlm_preparer(opts: dict, stream: bool):
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
                    raise _too_short(name, len(ids), n, "masked_lm", "sequence_length")
                x = ids[:k * n].reshape(k, n)
            else:
                x = tx.pad_ids([tx.encode(tx.tokenize(str(s), lvl, low), index) for s in xy[0]], n)
            return x, x.copy()
        mlm = {**opts, "mask_id": index[tx.MASK], "first_id": 2 + len(specials), "vocab_size": len(vocab)}
        if mlm["first_id"] >= mlm["vocab_size"]:
            raise _err("masked_lm: the vocabulary has no regular tokens", "masked_lm", "max_tokens")
        return Prepared(_each(parts, make), _vocab_info(vocab, lvl, masked_lm=mlm))
    return prepare


def vocabulary(splits) -> list[str] | None:
    """The token vocabulary (index -> token) of prepared splits, or None when the data has none.

    Language models, seq2seq pairs, masked LM and ``tokenize`` data carry one; a run should save it
    (:func:`builder.data.text.save_vocabulary`) so ``generate`` can map ids back to text.
    """
    info = getattr(splits, "info", None) or {}
    return info.get("vocabulary")


def vocabulary_for(data: dict, spec_dir: pathlib.Path, *, validation_split: float | None = None,
                   test_split: float | None = None, seed: int = 0) -> list[str] | None:
    """Rebuild the vocabulary a spec's ``data`` section yields (deterministic: same data, same list)."""
    from builder.data.sources.files import load_arrays
    from builder.data.splits import split_arrays

    arrays = load_arrays(data, spec_dir)
    splits = split_arrays(arrays, validation_split=data.get("validation_split", 0.1) if validation_split is None
                          else validation_split, test_split=data.get("test_split", 0.2) if test_split is None
                          else test_split, seed=seed, stratify=data.get("stratify", True))
    return vocabulary(splits)
