"""String inputs for TFLite and ONNX: split a model's ``TextVectorization`` front off.

TFLite builtin ops and ONNX have no string kernels, so those formats get the part of the model
after its ``TextVectorization`` layer, taking integer token ids ``(batch, sequence_length)``; the
vocabulary is written beside the artifacts. Input: a built ``keras.Model``. Output: the core
model, a function mapping the original string inputs to its token inputs, and notes for the
sidecars. Keras is imported inside the function.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.atomic import write_text


def split_text_vectorization(model, out_dir: Path | None = None):
    """For TFLite, whose builtin ops have no string kernels: the part of ``model`` after its
    ``TextVectorization`` layers.

    Every string input must feed exactly one ``TextVectorization`` layer. Returns
    ``(core, vectorize, notes)``: ``core`` is a ``keras.Model`` whose input ``<name>_tokens``
    takes that layer's integer output ``(batch, sequence_length)``; ``vectorize(xd)`` maps the
    original inputs to ``core``'s; each vocabulary is written to ``out_dir/<name>.vocabulary.txt``
    (one token per line; index = line number) and named in ``notes``. Returns None when the model
    has no string input.

    Raises:
        ValueError: a string input that does not feed one TextVectorization layer.
    """
    import keras

    strings = [t for t in model.inputs if str(t.dtype) == "string"]
    if not strings:
        return None
    if len(model.inputs) != 1:
        raise ValueError("TFLite export of a string input is supported for single-input models only")
    inp = strings[0]
    consumers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)
                 and any(t is inp for t in keras.tree.flatten(l.input))]
    if len(consumers) != 1 or not isinstance(consumers[0], keras.layers.TextVectorization):
        raise ValueError(f"string input '{inp.name}' must feed exactly one TextVectorization layer for TFLite")
    tv = consumers[0]
    inner = keras.Model(tv.output, model.outputs)
    tokens = keras.Input(shape=tuple(tv.output.shape[1:]), dtype=str(tv.output.dtype), name=f"{inp.name}_tokens")
    core = keras.Model(tokens, inner(tokens), name=f"{model.name}_tokens")
    notes = [f"TFLite/ONNX take '{inp.name}_tokens' = the integer output of TextVectorization '{tv.name}' "
             f"(standardize={tv._standardize!r}, split={tv._split!r}, "
             f"output_sequence_length={tv._output_sequence_length}); strings are not builtin TFLite types"]
    if out_dir is not None:
        vocab = out_dir / f"{inp.name}.vocabulary.txt"
        write_text(vocab, "\n".join(tv.get_vocabulary()) + "\n")
        notes.append(f"vocabulary exported beside the model: {vocab.name} (token index = line number, from 0)")

    def vectorize(xd: dict) -> dict:
        return {f"{inp.name}_tokens": np.asarray(tv(xd[inp.name]))}

    return core, vectorize, notes
