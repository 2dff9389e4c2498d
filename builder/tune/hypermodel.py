"""The spec template as a Keras Tuner HyperModel: one trial = the spec resolved with the trial's values,
trained by the step ``dlbuild fit`` uses.

Inputs: a checked :class:`~builder.spec.load.Spec` with search spaces and its
:class:`~builder.data.splits.Splits` (arrays, ``(n, ...)``), loaded once per search. Output: per
trial a compiled ``keras.Model`` and its ``History``. Building, compiling and the tf.data
pipelines are :mod:`builder.run.trial`'s (the label check and the learning-rate scaling over
replicas included), the NaN guard is :func:`builder.run.callbacks.nan_guard`: a trial runs
exactly as ``dlbuild fit best.yaml`` will, by construction. A spec mistake found inside a trial
crosses Keras Tuner as text (:class:`SpecFatalError`) and comes out as
:class:`ReportedSpecError`.
"""

from __future__ import annotations

import contextlib
import time

import keras
import keras_tuner as kt

from builder.data.load import align_targets
from builder.data.splits import Splits
from builder.errors import SpecError
from builder.run import trial
from builder.run.callbacks import nan_guard
from builder.spec.load import Spec, resolve_spec
from builder.tune.space import register
from builder.tune.tuners import objective_of


class SpecFatalError(kt.errors.FatalError):
    """A located spec error raised inside a trial; its text is the formatted report. Keras Tuner
    re-raises a ``FatalError`` at once, so the search stops instead of failing trial after trial."""


class ReportedSpecError(SpecError):
    """A :class:`SpecError` already formatted inside a trial (Keras Tuner passes text only):
    reported, with exit code 2, exactly as the trial formatted it."""

    def __init__(self, text: str):
        self.text = text
        Exception.__init__(self, text)
        self.diagnostics, self.source = [], None

    def format(self) -> str:
        """The report as formatted inside the trial."""
        return self.text


@contextlib.contextmanager
def _fatal_on_spec_error():
    """Turn a :class:`SpecError` into :class:`SpecFatalError` (its formatted text, no traceback)."""
    try:
        yield
    except SpecError as err:
        raise SpecFatalError(err.format()) from None


class SpecHyperModel(kt.HyperModel):
    """Keras Tuner HyperModel over the spec template ``base``.

    Args:
        base: The spec with search spaces (its ``tune`` section: ``epochs``, ``early_stopping``,
            ``objective``).
        splits: Its data (:func:`builder.data.load.load_splits`), shared by every trial.
        verbose: Keras's ``verbose`` inside trials (0 or 2).
    """

    def __init__(self, base: Spec, splits: Splits, verbose: int = 0):
        super().__init__()
        self.base, self.splits, self.verbose = base, splits, verbose
        self._prepared: trial.Prepared | None = None  # the last build's model and aligned splits
        self.fit_seconds = 0.0  # seconds in model.fit since the tuner last reset it (per trial)

    def resolve(self, hp) -> Spec:
        """The spec with ``hp``'s values (each space registered on ``hp`` when first seen).

        Raises:
            SpecFatalError: the combination of values is not a valid spec (located).
        """
        with _fatal_on_spec_error():
            return resolve_spec(self.base.template, self.base.spaces, lambda h: register(hp, h, self.base.spaces))

    def build(self, hp) -> keras.Model:
        """Build and compile the trial's model (:func:`builder.run.trial.build`,
        :func:`~builder.run.trial.compile_model`, in the tuner's strategy scope).

        Raises:
            SpecFatalError: a layer Keras rejects, or labels outside the output's range (located).
        """
        spec = self.resolve(hp)
        # Every trial starts from the spec's seed, as `dlbuild fit best.yaml` will: a trial's
        # score then depends on its values, not on the random state earlier trials left.
        trial.seed_everything(spec.seed)
        with _fatal_on_spec_error():
            self._prepared = trial.compile_model(spec, trial.build(spec), self.splits)
        return self._prepared.model

    def fit(self, hp, model, *args, **kwargs):
        """Train ``model`` on the spec's pipelines (the batch size may be tuned) for ``tune.epochs``
        (default ``fit.epochs``; Hyperband passes its bracket's ``epochs``/``initial_epoch``), with
        the tuner's callbacks, early stopping on the objective when ``tune.early_stopping``, and
        the NaN guard.

        Returns:
            The ``keras.callbacks.History``.

        Raises:
            keras_tuner.errors.FailedTrialError: the loss became NaN/Inf (the trial is recorded
                FAILED; the search goes on).
        """
        spec = self.resolve(hp)
        prepared, self._prepared = self._prepared, None  # hold no model past its trial
        if prepared is not None and prepared.model is model:
            splits = prepared.splits
        else:  # a model this HyperModel did not just build
            splits = align_targets(self.splits, model)
        pipes = trial.pipelines(spec, splits)
        callbacks = list(kwargs.pop("callbacks", []))
        patience = self.base.tune.get("early_stopping")
        if patience:
            obj = objective_of(self.base)
            callbacks.append(keras.callbacks.EarlyStopping(monitor=obj.name, mode=obj.direction, patience=patience))
        guard = nan_guard()
        callbacks.append(guard)
        epochs = kwargs.pop("epochs", None) or self.base.tune.get("epochs") or spec.fit["epochs"]
        kwargs.pop("verbose", None)
        started = time.perf_counter()
        history = model.fit(pipes.train, validation_data=pipes.val, epochs=epochs, callbacks=callbacks,
                            verbose=self.verbose, **trial.fit_arguments(spec, splits), **kwargs)
        self.fit_seconds += time.perf_counter() - started  # read by SpecTuner for trials.csv
        if guard.bad is not None:
            _, batch, loss = guard.bad
            raise kt.errors.FailedTrialError(f"loss became {loss} (NaN/Inf) at batch {batch}; "
                                             "lower the learning rate or clip gradients (clipnorm)")
        return history
