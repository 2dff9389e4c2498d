"""What every artifact is compared with: the Keras model's outputs on held-out samples.

:func:`prepare_reference` is the one preparation step of :func:`builder.export.api.export_model`
and :func:`builder.export.api.verify_run`: check samples as ``{input_name: (n, ...)}``, the
model's outputs and accuracy on them, and, for the formats without string kernels (TFLite, ONNX),
the model after its ``TextVectorization`` with the samples vectorized. :func:`run_samples` takes
check and calibration samples from a run's spec. Keras is used through the model passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from builder.export.batches import as_input_dict
from builder.export.lowering import split_text_vectorization
from builder.export.model_facts import io_specs, preprocessing_notes, random_check_input
from builder.export.runtimes import keras_predict
from builder.export.verify import accuracy, is_classification


@dataclass
class Target:
    """A model to export and its check samples.

    Attributes:
        model: The ``keras.Model`` (for lowered formats: the part after TextVectorization).
        inputs: Its input names; ``xd``: ``{name: (n, ...)}`` check samples in its input layout.
        io: ``([{name, shape, dtype}] per input, [...] per output)`` for the sidecars.
        notes: Preprocessing sentences for the sidecars.
        vectorize: Maps the original model's inputs to this model's (None: the same).
        error: Why this model could not be made (lowered formats then fail with it), or None.
    """

    model: object
    inputs: list
    xd: dict
    io: tuple
    notes: list
    vectorize: Callable | None = None
    error: str | None = None


@dataclass
class Reference:
    """The Keras model's answers on the check samples.

    Attributes:
        full: The model as it is (``.keras``, SavedModel); ``lowered``: for TFLite and ONNX.
        outputs: One ``(n, ...)`` array per model output.
        y_true: Labels of the check samples, or None; ``task``: classification / regression / ….
        classification: Accuracy is checked (one output, integer labels).
        accuracy: The Keras model's accuracy (a fraction), or None.
        extra_notes: What the TextVectorization split did (logged by the export).
    """

    full: Target
    lowered: Target
    outputs: list
    y_true: object
    task: str | None
    classification: bool
    accuracy: float | None
    extra_notes: list = field(default_factory=list)


def prepare_reference(model, x_check, y_check, task: str | None, *, lower: bool = True,
                      vocabulary_dir: Path | None = None, log=print) -> Reference:
    """Check samples, the Keras model's outputs on them and the lowered model.

    Args:
        model: A built ``keras.Model``.
        x_check, y_check: Held-out samples (an array, a list in input order or ``{name: (n, ...)}``)
            and their labels. Without ``x_check`` 8 random inputs are used, without labels.
        task: ``classification`` | ``regression`` | … (None: classification for integer labels).
        lower: Split a TextVectorization front off for TFLite/ONNX
            (:func:`~builder.export.lowering.split_text_vectorization`).
        vocabulary_dir: Where the split writes each vocabulary (None: not written).
        log: Progress lines.
    """
    names = [t.name for t in model.inputs]
    if x_check is None:
        x_check, y_check = random_check_input(model, np.random.default_rng(0)), None
        log("dlbuild: no held-out data: checking max |Δ| on 8 random inputs only")
    xd = as_input_dict(x_check, names)
    if y_check is not None and task is None:
        task = "classification" if np.asarray(y_check).dtype.kind in "iub" else "regression"
    classification = is_classification(task, y_check, len(model.outputs))
    ref = keras_predict(model, xd)
    model_io = io_specs(model)
    full = Target(model, names, xd, model_io, preprocessing_notes(model))
    lowered, extra = full, []
    if lower:
        try:
            split = split_text_vectorization(model, vocabulary_dir)
        except ValueError as exc:
            split, lowered = None, Target(model, names, xd, model_io, full.notes, error=str(exc))
        if split:
            core, vectorize, extra = split
            lowered = Target(core, [t.name for t in core.inputs], vectorize(xd), (io_specs(core)[0], model_io[1]),
                             full.notes + extra, vectorize)
    return Reference(full, lowered, ref, y_check, task, classification,
                     accuracy(ref[0], y_check) if classification else None, extra)


def run_samples(spec, check_samples: int, calibration_samples: int):
    """``(x_check, y_check, representative_x, class_names, task)`` from the spec's splits: the first
    ``check_samples`` of the test split and a seeded random ``calibration_samples`` of the training
    split (for int8 calibration).

    Raises:
        SpecError: the run's data cannot be loaded.
    """
    from builder.data.load import load_splits
    from builder.data.splits import take

    splits = load_splits(spec)
    xt, yt = splits.test
    idx = np.arange(min(check_samples, len(yt)))
    xtr, _ = splits.train
    n_train = len(next(iter(xtr.values()))) if isinstance(xtr, dict) else len(xtr)
    rng = np.random.default_rng(spec.seed)
    ridx = np.sort(rng.choice(n_train, size=min(calibration_samples, n_train), replace=False))
    return take(xt, idx), yt[idx], take(xtr, ridx), splits.class_names, splits.task
