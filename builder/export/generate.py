"""Text from a trained run: sampling from a language model, greedy decoding of a seq2seq model.

``dlbuild generate RUN_DIR --prompt TEXT --length N [--temperature T] [--top-k K] [--seed S]``
(:mod:`builder.cli.generate`) calls :func:`generate`. A run qualifies when its directory holds
``model.keras`` and ``vocabulary.json`` (``dlbuild fit`` writes the latter for ``language_model``,
``pairs``, ``masked_lm`` and ``tokenize`` data) and its model is one of:

* a **language model**: one integer input ``(batch, W)`` and one output ``(batch, W, V)`` of
  next-token logits or probabilities (``data.language_model``; GPT-style, LSTM, …). N tokens are
  sampled one at a time, each conditioned on the last ``W`` tokens (the window = the model's
  sequence length). The window is fed left-aligned and right-padded with id 0, which a causal model
  never looks at, and the distribution is read at the last real position.
* a **seq2seq** model: two integer inputs, the encoder's source ids and the decoder's
  ``[START]``-shifted target ids (``data.pairs``), output ``(batch, T, V)``. The reply is decoded
  greedily (the arg-max token at each step, fed back as the next decoder input) until ``[END]``,
  N tokens or the decoder's length ``T``, whichever comes first.

Sampling (:func:`pick`): logits are divided by the temperature ``T`` (Ackley, Hinton & Sejnowski
1985's Boltzmann distribution ``p_i ∝ exp(z_i / T)``; T → 0 is the arg-max, T = 1 the model's own
distribution, T > 1 flatter); top-k keeps the ``k`` most probable tokens and renormalises (Fan,
Lewis & Dauphin 2018; discussed by Holtzman et al. 2019, "The Curious Case of Neural Text
Degeneration"). Temperature 0 is greedy and needs no seed. The padding id 0, ``[UNK]``,
``[START]``, ``[MASK]`` and ids past the vocabulary are never produced.

Exact match (:func:`exact_match`) greedy-decodes a seq2seq run's held-out sources in batches
(:func:`decode_batch`) and compares each reply with its reference: the measure of what ``generate``
prints, where teacher-forced token accuracy only scores single steps given the true prefix.

Everything except :func:`load_run` and :func:`exact_match` is NumPy only: the decoding loops take a
``predict`` function, so they are testable with a stub model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from builder.data import text as tx
from builder.run.rundir import RunDirError

LM, SEQ2SEQ = "language_model", "seq2seq"
NEVER = (tx.PAD, tx.UNK, tx.START, tx.MASK)  # tokens generation never emits


class GenerateError(RunDirError):
    """The run cannot generate text (no vocabulary, a model that is neither an LM nor seq2seq, …).

    A :class:`~builder.run.rundir.RunDirError`, so ``handle_errors`` exits 1 with ``dlbuild: error: …``.
    """


@dataclasses.dataclass
class GenRun:
    """A loaded run, ready to generate.

    Attributes:
        kind: :data:`LM` or :data:`SEQ2SEQ`.
        predict: ``x -> (batch, time, V)`` probabilities (LM: x ``(1, W)`` int32; seq2seq: a dict of
            the two inputs).
        vocabulary: index → token; ``level``: ``char`` or ``word``; ``lowercase``: applied to prompts.
        window: LM: tokens of context (the input length); seq2seq: the decoder length T.
        source_length: seq2seq: encoder steps.
        encoder_input, decoder_input: seq2seq model input names.
        derive: seq2seq trained on ``data.pairs.derive`` pairs (``reverse``/``sort``): prompts are
            reduced to their words joined by single spaces, as the training sources were.
        name: the spec name; ``metrics``: the run's metrics.json (may be empty).
    """

    kind: str
    predict: Callable
    vocabulary: list
    level: str
    lowercase: bool
    window: int
    source_length: int | None = None
    encoder_input: str | None = None
    decoder_input: str | None = None
    derive: str | None = None
    name: str = ""
    metrics: dict = dataclasses.field(default_factory=dict)

    @property
    def perplexity(self) -> dict:
        """``{"val": exp(val loss), "test": exp(test loss)}`` for the splits metrics.json holds.

        The exponential of the mean per-token cross-entropy (nats) is the perplexity: the model is
        on average as uncertain as a uniform choice among that many tokens.
        """
        out = {}
        for split in ("val", "test"):
            loss = (self.metrics.get(split) or {}).get("loss")
            if isinstance(loss, (int, float)) and math.isfinite(loss) and loss < 700:
                out[split] = math.exp(loss)
        return out


@dataclasses.dataclass
class Generated:
    """What :func:`generate` returns.

    Attributes:
        text: LM: prompt + continuation; seq2seq: the reply.
        ids, tokens: the generated ids and their tokens (prompt excluded; no ``[END]``).
        stopped: seq2seq: ``[END]`` was produced (else N or the decoder length ran out).
        unknown: prompt tokens not in the vocabulary (encoded as ``[UNK]``).
    """

    text: str
    ids: list
    tokens: list
    kind: str
    stopped: bool = False
    unknown: list = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------- sampling (NumPy only)

def banned_ids(vocabulary: Sequence[str], size: int) -> np.ndarray:
    """Boolean ``(size,)``: ids never generated (padding, ``[UNK]``, ``[START]``, ``[MASK]``, and
    output units past the end of the vocabulary)."""
    banned = np.zeros(size, bool)
    banned[len(vocabulary):] = True
    for i, tok in enumerate(vocabulary[:size]):
        if tok in NEVER:
            banned[i] = True
    return banned


def pick(probs: np.ndarray, *, temperature: float = 1.0, top_k: int | None = None,
         rng: np.random.Generator | None = None, banned: np.ndarray | None = None) -> int:
    """Choose the next token id from one distribution over the vocabulary.

    Args:
        probs: ``(V,)`` probabilities (a softmax output) — log-probabilities are used as logits.
        temperature: ``p_i ∝ p_i^(1/T) = exp(log p_i / T)``; 0 = arg-max (greedy, deterministic).
        top_k: keep only the k most probable ids (after removing ``banned``), renormalise.
        rng: NumPy generator for sampling (required unless ``temperature`` is 0).
        banned: ``(V,)`` booleans: ids that are never chosen.

    Raises:
        ValueError: a negative temperature, ``top_k < 1``, or nothing left to choose.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0; received {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1; received {top_k}")
    logits = np.log(np.clip(np.asarray(probs, np.float64), 1e-30, None))
    if banned is not None:
        logits = np.where(banned, -np.inf, logits)
    allowed = np.isfinite(logits)
    if not allowed.any():
        raise ValueError("every token is banned; nothing to generate")
    if temperature == 0:
        return int(np.argmax(logits))
    if top_k is not None and top_k < int(allowed.sum()):
        kth = np.partition(logits[allowed], -top_k)[-top_k]
        logits = np.where(logits >= kth, logits, -np.inf)  # ties at the k-th value are kept
    z = logits / temperature
    z = z - z[np.isfinite(z)].max()
    p = np.where(np.isfinite(z), np.exp(z), 0.0)
    p /= p.sum()
    if rng is None:
        raise ValueError("sampling (temperature > 0) needs a random generator")
    return int(rng.choice(len(p), p=p))


def sample_lm(predict: Callable, prompt_ids: Sequence[int], length: int, window: int, *,
              temperature: float = 1.0, top_k: int | None = None, seed: int | None = None,
              banned: np.ndarray | None = None) -> list[int]:
    """Sample ``length`` ids autoregressively from a language model.

    Args:
        predict: ``(1, window)`` int32 ids → ``(1, window, V)`` next-token probabilities.
        prompt_ids: The context to continue (at least one id).
        window: The model's sequence length; the context is the last ``window`` ids, fed
            left-aligned and padded with 0 on the right (a causal model ignores what follows).
    """
    ids = [int(i) for i in prompt_ids]
    if not ids:
        raise ValueError("the prompt must give at least one token")
    rng = np.random.default_rng(seed)
    out = []
    x = np.zeros((1, window), np.int32)
    for _ in range(length):
        ctx = ids[-window:]
        x[:] = 0
        x[0, :len(ctx)] = ctx
        probs = np.asarray(predict(x))[0, len(ctx) - 1]
        nxt = pick(probs, temperature=temperature, top_k=top_k, rng=rng, banned=banned)
        ids.append(nxt)
        out.append(nxt)
    return out


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
    from builder.errors import SpecError
    from builder.spec.load import load_spec
    from builder.data.load import load_splits

    try:
        splits = load_splits(load_spec(Path(run_dir) / "spec.resolved.yaml"))
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


# ---------------------------------------------------------------- runs (imports Keras)

def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _static_dims(tensor) -> tuple:
    return tuple(tensor.shape)


def _as_probabilities(raw_predict: Callable, probe) -> Callable:
    """Wrap ``raw_predict`` so it returns probabilities: a softmax output is kept, logits are
    soft-maxed (decided once, on ``probe``)."""
    y = np.asarray(raw_predict(probe), np.float64)
    sums = y.sum(axis=-1)
    is_probs = y.min() >= 0 and np.allclose(sums, 1.0, atol=1e-3)
    if is_probs:
        return raw_predict

    def softmax(x):
        z = np.asarray(raw_predict(x), np.float64)
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    return softmax


def load_run(run_dir: str | Path) -> GenRun:
    """Load ``RUN_DIR/model.keras`` and ``RUN_DIR/vocabulary.json`` and tell what the model is.

    Raises:
        GenerateError: no such run, no vocabulary, a masked-LM model, or a model that is neither a
            language model nor a seq2seq model (the message says which and why).
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise GenerateError(f"{run}: not a run directory")
    model_path = run / "model.keras"
    if not model_path.is_file():
        raise GenerateError(f"{run}: no model.keras (a run holds it once its fit has completed)")
    vocab_path = run / "vocabulary.json"
    if not vocab_path.is_file():
        raise GenerateError(f"{run}: no vocabulary.json, so token ids cannot be mapped to text; generate needs a "
                            "run trained on language_model or pairs data (dlbuild fit writes the vocabulary)")
    try:
        vocabulary, level = tx.load_vocabulary(vocab_path)
    except (OSError, ValueError) as exc:
        raise GenerateError(f"{vocab_path}: cannot read the vocabulary: {exc}") from None
    resolved = _read_yaml(run / "spec.resolved.yaml")
    data = resolved.get("data") if isinstance(resolved.get("data"), dict) else {}
    try:
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = {}
    if data.get("masked_lm") is not None:
        raise GenerateError(f"{run} is a masked-LM (BERT-style) run: its model fills in [MASK] tokens from both "
                            "sides and does not generate left to right; use a language_model or pairs run")

    from builder.run.artifacts import load_keras

    try:
        model = load_keras(model_path)
    except Exception as exc:  # noqa: BLE001  (Keras raises many types for a bad file)
        raise GenerateError(f"{model_path}: cannot be loaded: {exc}") from None
    inputs = list(model.inputs)
    outputs = list(model.outputs)
    name = str(resolved.get("name") or model.name)
    if len(outputs) != 1 or len(_static_dims(outputs[0])) != 3:
        raise GenerateError(f"{run}: the model's output is {[tuple(o.shape) for o in outputs]}; generate needs one "
                            "(batch, time, vocabulary) output of next-token scores (a language model or a "
                            "seq2seq decoder), not a classifier")
    units = _static_dims(outputs[0])[-1]
    if units is not None and units < len(vocabulary):
        raise GenerateError(f"{run}: the model has {units} output units but the vocabulary {len(vocabulary)} "
                            "tokens; the output layer must have at least one unit per token")

    import tensorflow as tf

    @tf.function(autograph=False, reduce_retracing=True)
    def forward(x):
        return model(x, training=False)

    def run_model(x):  # one trace per input shape; ~30x faster than eager calls on CPU
        return forward(x).numpy()

    if len(inputs) == 1:
        shape = _static_dims(inputs[0])
        if len(shape) != 2 or "int" not in str(inputs[0].dtype):
            raise GenerateError(f"{run}: the model's input is {shape} {inputs[0].dtype}; a language model takes "
                                "(batch, time) integer token ids")
        opts = data.get("language_model") if isinstance(data.get("language_model"), dict) else {}
        window = shape[1] or opts.get("sequence_length")
        if not window:
            raise GenerateError(f"{run}: the model's sequence length is not fixed and the spec gives none")
        if data.get("language_model") is None and data.get("tokenize") is not None:
            raise GenerateError(f"{run} was trained on tokenize data (a classifier over token ids), not as a "
                                "language model")
        probe = np.zeros((1, int(window)), np.int32)
        probe[0, 0] = 2 if len(vocabulary) > 2 else 1
        return GenRun(LM, _as_probabilities(run_model, probe), vocabulary, level or opts.get("level", "char"),
                      bool(opts.get("lowercase", False)), int(window), name=name, metrics=metrics)
    if len(inputs) == 2:
        opts = data.get("pairs") if isinstance(data.get("pairs"), dict) else {}
        names = [t.name.split(":")[0] for t in inputs]  # a keras.Input's tensor carries the input's name
        enc_name = opts.get("encoder_input", "encoder_input")
        dec_name = opts.get("decoder_input", "decoder_input")
        if {enc_name, dec_name} != set(names):
            enc_name, dec_name = names  # no pairs section: the first input is the encoder's
        by_name = dict(zip(names, inputs))
        enc_shape, dec_shape = _static_dims(by_name[enc_name]), _static_dims(by_name[dec_name])
        if len(enc_shape) != 2 or len(dec_shape) != 2 or None in (enc_shape[1], dec_shape[1]):
            raise GenerateError(f"{run}: a seq2seq model takes two fixed-length (batch, time) id inputs; received "
                                f"{enc_name} {enc_shape} and {dec_name} {dec_shape}")
        if tx.START not in vocabulary or tx.END not in vocabulary:
            raise GenerateError(f"{run}: the vocabulary has no [START]/[END] tokens; a seq2seq run is trained on "
                                "data.pairs")
        probe = {enc_name: np.ones((1, enc_shape[1]), np.int32), dec_name: np.zeros((1, dec_shape[1]), np.int32)}
        probe[dec_name][0, 0] = vocabulary.index(tx.START)
        return GenRun(SEQ2SEQ, _as_probabilities(run_model, probe), vocabulary, level or opts.get("level", "word"),
                      bool(opts.get("lowercase", True)), int(dec_shape[1]), source_length=int(enc_shape[1]),
                      encoder_input=enc_name, decoder_input=dec_name, derive=opts.get("derive"), name=name,
                      metrics=metrics)
    raise GenerateError(f"{run}: the model has {len(inputs)} inputs; generate knows language models (one input) "
                        "and seq2seq models (encoder and decoder inputs)")


def generate(run: str | Path | GenRun, prompt: str, length: int, *, temperature: float | None = None,
             top_k: int | None = None, seed: int | None = None) -> Generated:
    """Generate text from a run (see the module docstring).

    Args:
        run: A run directory (or an already loaded :class:`GenRun`).
        prompt: LM: the text to continue; seq2seq: the source to reply to.
        length: LM: tokens to sample; seq2seq: at most this many reply tokens.
        temperature: Default 1.0 for a language model, 0 (greedy) for seq2seq.
        top_k: Sample among the k most probable tokens only.
        seed: Seed of the sampler (same seed, same text).

    Raises:
        GenerateError: see :func:`load_run`; also an empty prompt for a language model.
        ValueError: a negative temperature, ``length < 1`` or ``top_k < 1``.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1; received {length}")
    g = run if isinstance(run, GenRun) else load_run(run)
    index = {t: i for i, t in enumerate(g.vocabulary)}
    if g.kind == SEQ2SEQ and g.derive:  # the training sources were words joined by single spaces
        prompt = " ".join(tx.words(prompt.lower() if g.lowercase else prompt))
    tokens = tx.tokenize(prompt, g.level, g.lowercase)
    unknown = [t for t in tokens if t not in index]
    prompt_ids = tx.encode(tokens, index)
    probe = g.predict(np.zeros((1, g.window), np.int32)) if g.kind == LM else None
    size = (np.asarray(probe).shape[-1] if probe is not None else None)
    if g.kind == LM:
        if not len(prompt_ids):
            raise GenerateError("the prompt is empty after tokenizing; give at least one token to continue")
        ids = sample_lm(g.predict, prompt_ids, length, g.window, temperature=1.0 if temperature is None
                        else temperature, top_k=top_k, seed=seed, banned=banned_ids(g.vocabulary, size))
        toks = [g.vocabulary[i] for i in ids]
        sep = "" if g.level == "char" else " "
        text = prompt + (sep if prompt and toks and not prompt.endswith(" ") else "") + tx.detokenize(toks, g.level)
        return Generated(text, ids, toks, LM, unknown=unknown)
    source = tx.pad_ids([prompt_ids], g.source_length)[0]
    start, end = index[tx.START], index[tx.END]
    probe = g.predict({g.encoder_input: source[None, :], g.decoder_input: np.zeros((1, g.window), np.int32)})
    banned = banned_ids(g.vocabulary, np.asarray(probe).shape[-1])
    ids, stopped = greedy_decode(g.predict, source, start_id=start, end_id=end, decoder_length=g.window,
                                 max_tokens=length, encoder_input=g.encoder_input, decoder_input=g.decoder_input,
                                 banned=banned, temperature=0.0 if temperature is None else temperature,
                                 top_k=top_k, seed=seed)
    toks = [g.vocabulary[i] for i in ids]
    return Generated(tx.detokenize(toks, g.level), ids, toks, SEQ2SEQ, stopped=stopped, unknown=unknown)


def describe(g: GenRun) -> str:
    """One line about the run: kind, vocabulary, window and (LM) perplexity from metrics.json."""
    what = "language model" if g.kind == LM else "seq2seq, greedy decoding"
    line = f"{g.name}: {what}, {g.level}-level, {len(g.vocabulary)} tokens, "
    line += f"window {g.window}" if g.kind == LM else f"source {g.source_length} / decoder {g.window} steps"
    ppl = g.perplexity
    if g.kind == LM and ppl:
        parts = [f"{k} perplexity {v:.2f}" for k, v in ppl.items()]
        line += "; " + ", ".join(parts) + " (exp of the mean cross-entropy per token)"
    return line
