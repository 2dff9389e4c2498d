"""Keras model → a TensorFlow SavedModel directory with a ``serving_default`` signature.

Input: a built ``keras.Model``. Output: the directory, written atomically, through Keras's
``format="tf_saved_model"`` exporter; the signature's inputs carry the spec's input names.
"""

from __future__ import annotations

from pathlib import Path

from builder.atomic import atomic_path


def convert_saved_model(model, path: Path, quantization: str = "none", representative_x: dict | None = None) -> None:
    """``model.export(format="tf_saved_model")`` to ``path``. ``quantization`` (always ``none``)
    and ``representative_x`` are unused: the signature every converter of
    :mod:`builder.export.formats` shares.

    Raises:
        RuntimeError: the export did not produce a directory; else Keras/TensorFlow's own error.
    """
    with atomic_path(path) as tmp:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
    if path.exists() and not path.is_dir():
        raise RuntimeError("SavedModel export did not produce a directory")
