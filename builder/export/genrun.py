"""Loading a finished run for text generation: what its model is (language model or seq2seq).

Input: a run directory holding ``model.keras`` and ``vocabulary.json`` (``dlbuild fit`` writes the
latter for ``language_model``, ``pairs``, ``masked_lm`` and ``tokenize`` data). Output: a
:class:`GenRun`, whose ``predict`` maps token ids to probabilities ``(batch, time, V)``:

* a **language model**: one integer input ``(batch, W)`` and one output ``(batch, W, V)`` of
  next-token logits or probabilities (``data.language_model``; GPT-style, LSTM, …);
* a **seq2seq** model: two integer inputs, the encoder's source ids ``(batch, S)`` and the
  decoder's ``[START]``-shifted target ids ``(batch, T)`` (``data.pairs``), output ``(batch, T, V)``.

Anything else raises :class:`GenerateError` saying why. The run is read through
:mod:`builder.run.artifacts`; Keras and TensorFlow are imported inside :func:`load_run`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import numpy as np

from builder.data import text as tx
from builder.run.artifacts import load_keras, read_resolved_spec, read_run_json, read_vocabulary
from builder.run.rundir import RunDirError

LM, SEQ2SEQ = "language_model", "seq2seq"


class GenerateError(RunDirError):
    """The run cannot generate text (no vocabulary, a model that is neither an LM nor seq2seq, …).

    A :class:`~builder.run.rundir.RunDirError` (a :class:`~builder.errors.DlbuildError`, exit
    code 1), so ``handle_errors`` exits 1 with ``dlbuild: error: …``.
    """

    exit_code = 1


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
        vocabulary, level = read_vocabulary(run)
    except (OSError, ValueError) as exc:
        raise GenerateError(f"{vocab_path}: cannot read the vocabulary: {exc}") from None
    resolved = read_resolved_spec(run)
    data = resolved.get("data") if isinstance(resolved.get("data"), dict) else {}
    metrics = read_run_json(run / "metrics.json")
    if data.get("masked_lm") is not None:
        raise GenerateError(f"{run} is a masked-LM (BERT-style) run: its model fills in [MASK] tokens from both "
                            "sides and does not generate left to right; use a language_model or pairs run")

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

