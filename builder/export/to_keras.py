"""Keras model → ``model.keras`` (Keras's own zip format), written atomically.

Input: a built ``keras.Model``. Output: the ``.keras`` file; a killed export leaves no partial
file (:func:`builder.atomic.atomic_path`).
"""

from __future__ import annotations

from pathlib import Path

from builder.atomic import atomic_path


def convert_keras(model, path: Path, quantization: str = "none", representative_x: dict | None = None) -> None:
    """``model.save`` to ``path``. ``quantization`` (always ``none``) and ``representative_x`` are
    unused: the signature every converter of :mod:`builder.export.formats` shares.

    Raises:
        Exception: Keras's own error (e.g. a layer that cannot be serialized).
    """
    with atomic_path(path) as tmp:
        model.save(tmp)
