"""Keras names → Keras objects, generated from Keras itself (no hand-written table).

A *catalog* lists every public Keras class (and function, for activations, losses and metrics)
of each kind a spec can name, with the constructor arguments it accepts, the ones it requires,
its first positional argument (used by the ``{name: scalar}`` item form) and its defaults. It is
produced by :mod:`builder.catalog.scan`, which scans ``vars(keras.<module>)`` for subclasses of
the kind's base class, so a new Keras release adds its new classes without any change here.

Names are matched ignoring case and underscores: ``Conv2D``, ``conv2d`` and ``conv_2d`` all find
``Conv2D``; ``prelu`` finds ``PReLU`` and ``l1_l2`` finds ``L1L2`` (Keras's own ``to_snake_case``
gives ``p_re_lu``). No two public classes of one kind collide under that rule (checked when the
catalog is built).

The catalog is a JSON file so that ``dlbuild validate`` checks names and arguments without
importing TensorFlow (~50 ms instead of ~3 s). The copy shipped in the package was generated from
the Keras version it records; if the installed Keras differs, a fresh catalog is generated once in
a subprocess and cached under ``$XDG_CACHE_HOME/dlbuild`` (see :func:`catalog`). This module
never imports Keras itself (only :meth:`Entry.load` does, by module name, when a model is built).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: kind → (Keras module, base class attribute path or None for plain functions, also-functions).
KINDS: dict[str, tuple[str, str | None, bool]] = {
    "layer": ("keras.layers", "keras.layers.Layer", False),
    "activation": ("keras.activations", None, True),
    "initializer": ("keras.initializers", "keras.initializers.Initializer", False),
    "regularizer": ("keras.regularizers", "keras.regularizers.Regularizer", False),
    "constraint": ("keras.constraints", "keras.constraints.Constraint", False),
    "optimizer": ("keras.optimizers", "keras.optimizers.Optimizer", False),
    "schedule": ("keras.optimizers.schedules", "keras.optimizers.schedules.LearningRateSchedule", False),
    "loss": ("keras.losses", "keras.losses.Loss", True),
    "metric": ("keras.metrics", "keras.metrics.Metric", True),
    "callback": ("keras.callbacks", "keras.callbacks.Callback", False),
}

#: dlbuild's own additions, scanned like Keras's modules (``keras_hub``-style layers Keras lacks,
#: optimizers from the literature). Keras's own names win on a collision.
EXTENSIONS: dict[str, str] = {"layer": "builder.model.layers", "optimizer": "builder.model.optimizers"}

#: Classes a spec may not name, and why. A spec is data: nothing that runs user code, loads a
#: foreign model, or reaches the network.
DENIED: dict[str, str] = {
    "Lambda": "it runs arbitrary Python code; write a composite layer or use Keras layers",
    "TFSMLayer": "it loads and runs an external SavedModel",
    "TorchModuleWrapper": "it wraps arbitrary PyTorch code",
    "JaxLayer": "it wraps arbitrary JAX code",
    "FlaxLayer": "it wraps arbitrary Flax code",
    "LambdaCallback": "it runs arbitrary Python code",
    "RemoteMonitor": "it sends training data over the network",
    # Abstract bases and Keras's own plumbing: not meaningful in a spec.
    "Layer": "it is the abstract base class of all layers",
    "InputLayer": "model inputs are declared under 'model.inputs'",
    "Wrapper": "it is an abstract base class; use Bidirectional or TimeDistributed",
    "RNN": "it needs a cell object; use SimpleRNN, LSTM or GRU",
    "StackedRNNCells": "it needs cell objects; stack SimpleRNN, LSTM or GRU layers",
    "Optimizer": "it is the abstract base class of all optimizers",
    "LossScaleOptimizer": ("it wraps another optimizer object; set fit.mixed_precision: mixed_float16, "
                           "which adds loss scaling"),
    "MultiOptimizer": "it needs layer objects",
    "Loss": "it is the abstract base class of all losses",
    "Metric": "it is the abstract base class of all metrics",
    "MeanMetricWrapper": "it wraps a Python function",
    "Callback": "it is the abstract base class of all callbacks",
    "CallbackList": "list callbacks under 'fit.callbacks'",
    "History": "dlbuild writes history.csv itself",
    "ProgbarLogger": "dlbuild shows Keras's progress bar itself",
    "BackupAndRestore": "dlbuild manages it: use 'dlbuild fit --resume'",
    "Initializer": "it is the abstract base class of all initializers",
    "Regularizer": "it is the abstract base class of all regularizers",
    "Constraint": "it is the abstract base class of all constraints",
    "LearningRateSchedule": "it is the abstract base class of all schedules",
}

#: Metric strings that ``Model.compile`` resolves itself to the variant matching the loss
#: (keras/src/trainers/compile_utils.py, ``get_metric``).
COMPILE_METRIC_ALIASES = ("accuracy", "acc", "crossentropy", "ce")

#: The catalog shipped in the package (generated by :mod:`builder.catalog.scan`).
SNAPSHOT = Path(__file__).with_name("keras_catalog.json")


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case`` (keras/src/utils/naming.py): ``MaxPooling2D`` → ``max_pooling2d``.

    The one copy in dlbuild: default layer names, logged metric names and canonical loss names
    all follow it, as Keras does.
    """
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def normalize(name: str) -> str:
    """The matching key of a name: lower case without underscores (``Conv_2D`` → ``conv2d``)."""
    return name.lower().replace("_", "")


@dataclass(frozen=True)
class Entry:
    """One nameable Keras object.

    Attributes:
        kind: One of :data:`KINDS`.
        name: Keras's own name (class name, or function name for functions).
        module: Public module that exposes it (``keras.layers``).
        is_class: False for plain functions (activations, loss/metric functions).
        args: Every keyword argument the constructor accepts (own and inherited).
        required: Arguments without a default in the class's own ``__init__``.
        positional: The first positional argument (``Dense`` → ``units``), or None.
        defaults: JSON-able defaults of the accepted arguments.
        doc: First line of the docstring.
    """

    kind: str
    name: str
    module: str
    is_class: bool
    args: tuple[str, ...]
    required: tuple[str, ...]
    positional: str | None
    defaults: dict
    doc: str

    @property
    def display(self) -> str:
        """``Dense()`` for classes, ``relu`` for functions: how error messages name it."""
        return f"{self.name}()" if self.is_class else self.name

    def load(self) -> Any:
        """Import and return the Keras class or function (imports Keras)."""
        import importlib

        return getattr(importlib.import_module(self.module), self.name)


class Catalog:
    """Lookup over a catalog mapping (see module docstring)."""

    def __init__(self, data: dict):
        self.keras_version: str = data["keras_version"]
        self.entries: dict[str, dict[str, Entry]] = {}
        self._index: dict[str, dict[str, str]] = {}
        for kind, items in data["kinds"].items():
            self.entries[kind] = {n: Entry(kind=kind, **e) for n, e in items["entries"].items()}
            self._index[kind] = dict(items["index"])

    def lookup(self, kind: str, name: str) -> Entry | None:
        """The entry a spec name refers to, or None. Denied names are found (see :meth:`denied`)."""
        if not isinstance(name, str):
            return None
        key = self._index[kind].get(normalize(name))
        return self.entries[kind].get(key) if key else None

    def names(self, kind: str, snake: bool = False) -> list[str]:
        """Every name of ``kind`` that is not denied, as Keras spells it or (``snake``) in the
        snake_case a spec usually uses; for did-you-mean and docs."""
        names = [n for n, e in self.entries[kind].items() if e.name not in DENIED]
        return [snake_case(n) for n in names] if snake else names

    @staticmethod
    def denied(entry: Entry) -> str | None:
        """Why ``entry`` may not be named in a spec, or None when it may."""
        return DENIED.get(entry.name)


def _installed_keras_version() -> str | None:
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return None


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dlbuild`` (default ``~/.cache/dlbuild``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlbuild"


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The catalog for the installed Keras, without importing Keras when a matching copy exists.

    Order: the shipped snapshot if its Keras version matches, else a cached one, else one
    generated now in a subprocess (so this process stays free of TensorFlow) and cached.

    Raises:
        RuntimeError: the catalog could not be generated (Keras not importable).
    """
    version = _installed_keras_version()
    candidates = [SNAPSHOT, cache_dir() / f"keras_catalog-{version}.json"]
    for path in candidates:
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("keras_version") == version or version is None:
                return Catalog(data)
    target = candidates[1]
    proc = subprocess.run([sys.executable, "-m", "builder.catalog.scan", str(target)],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode != 0 or not target.exists():
        raise RuntimeError(f"could not build the Keras catalog for keras {version}:\n{proc.stderr[-2000:]}")
    return Catalog(json.loads(target.read_text()))

