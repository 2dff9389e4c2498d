"""Text from a trained run: sampling from a language model, greedy decoding of a seq2seq model.

``dlbuild generate RUN_DIR --prompt TEXT --length N [--temperature T] [--top-k K] [--seed S]``
(:mod:`builder.cli.generate`) calls :func:`generate` on a run loaded by
:func:`builder.export.genrun.load_run`. Input: a prompt (text). Output: a :class:`Generated`:

* a **language model**: N tokens are sampled one at a time (:func:`builder.export.sampling.sample_lm`),
  each conditioned on the last ``W`` tokens (the window = the model's sequence length). The window
  is fed left-aligned and right-padded with id 0, which a causal model never looks at, and the
  distribution is read at the last real position. The text is the prompt plus the continuation.
* a **seq2seq** model: the reply is decoded greedily (:func:`builder.export.decoding.greedy_decode`:
  the arg-max token at each step, fed back as the next decoder input) until ``[END]``, N tokens
  or the decoder's length ``T``, whichever comes first.

Sampling (temperature, top-k, the ids never produced) is described in :mod:`builder.export.sampling`;
exact-match scoring of a whole split in :mod:`builder.export.exact_match`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from builder.data import text as tx
from builder.export.decoding import greedy_decode
from builder.export.genrun import LM, SEQ2SEQ, GenerateError, GenRun, load_run
from builder.export.sampling import banned_ids, sample_lm


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
