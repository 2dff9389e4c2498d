"""How TensorFlow gets installed for dlbuild: the command to give a user, for this copy of dlbuild.

TensorFlow comes with an extra, not as a base dependency: ``cpu`` installs ``tensorflow-cpu`` on
x86-64 (``tensorflow`` elsewhere; small, for CPU machines and CI) and ``gpu`` installs
``tensorflow[and-cuda]`` (TensorFlow with NVIDIA's CUDA and cuDNN wheels; Linux). Pip extras only
add packages, so with ``tensorflow-cpu`` as a base dependency no extra could ever replace it (and
two distributions writing the same ``tensorflow/`` folder break each other). Keras itself ships
the same way: ``pip install keras`` installs no backend. No TensorFlow import here.
"""

from __future__ import annotations

import shlex
from pathlib import Path

EXTRAS = ("cpu", "gpu")


def source_checkout() -> Path | None:
    """The dlbuild clone this package is imported from (an editable install, ``pip install -e``),
    or None for an installed wheel. Raises nothing."""
    root = Path(__file__).resolve().parent.parent
    try:
        return root if 'name = "dlbuild"' in (root / "pyproject.toml").read_text() else None
    except OSError:
        return None


def install_command(extra: str, checkout: Path | None | str = "auto") -> str:
    """The pip command that installs dlbuild with ``extra`` (``cpu`` or ``gpu``) here:
    ``pip install -e '/path/to/clone[gpu]'`` for a clone, ``pip install 'dlbuild[gpu]'`` otherwise.
    ``checkout`` defaults to :func:`source_checkout`. Raises ValueError for an unknown extra."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; one of {', '.join(EXTRAS)}")
    if checkout == "auto":
        checkout = source_checkout()
    if checkout is None:
        return f"pip install {shlex.quote(f'dlbuild[{extra}]')}"
    return f"pip install -e {shlex.quote(f'{checkout}[{extra}]')}"


def tensorflow_missing(checkout: Path | None | str = "auto") -> str:
    """The one-line error for a machine without TensorFlow, with both install commands."""
    return (f"TensorFlow is not installed; dlbuild installs it with an extra: {install_command('cpu', checkout)} "
            f"(CPU), or {install_command('gpu', checkout)} on a machine with an NVIDIA GPU (docs/distributed.md)")
