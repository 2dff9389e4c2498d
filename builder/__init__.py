"""dlbuild: one YAML spec → a Keras 3 model on TensorFlow, trained, tuned and exported.

The Python API is what the ``dlbuild`` CLI itself calls::

    import builder

    spec = builder.load_spec("specs/fashion_cnn.yaml", overrides=["fit.epochs=3"])
    model = builder.build_model(spec)          # keras.Model, not compiled
    result = builder.fit(spec)                 # trains, writes runs/<name>/<timestamp>/

``load_spec`` never imports TensorFlow; ``build_model`` and ``fit`` do (lazily, on first call).
"""

from builder.errors import SpecError
from builder.spec.load import Spec, load_spec

__all__ = ["SpecError", "Spec", "load_spec", "build_model", "fit"]


def build_model(spec: Spec):
    """Build the (uncompiled) ``keras.Model`` of a loaded spec. See :func:`builder.model.graph.build_model`.

    Raises:
        SpecError: a layer Keras refuses to construct or call (e.g. a shape mismatch), located.
    """
    from builder.model.graph import build_model as _build

    return _build(spec)


def fit(spec: Spec, **kwargs):
    """Train a loaded spec and write its run directory. See :func:`builder.workflows.fit` for the
    keyword arguments (``run_dir``, ``runs_root``, ``resume``, ``epochs``, ``verbose``, ``log``).

    Returns:
        :class:`builder.run.train.FitResult` (run directory, model, history, metrics).
    """
    from builder.workflows import fit as _fit

    return _fit(spec, **kwargs)
