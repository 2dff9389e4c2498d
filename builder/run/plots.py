"""Run-directory plots (matplotlib, PNG): learning curves, confusion matrix, model graph.

Written at the end of ``dlbuild fit`` and by ``dlbuild plot RUN_DIR``:

* ``learning_curves.png`` — one panel per metric of ``history.csv``, train against validation
  (``val_*``), by epoch;
* ``confusion_matrix.png`` — classifiers: true class (rows) against predicted class (columns) on
  the test split, counts and row-normalised colours (scikit-learn's ``confusion_matrix`` and
  ``ConfusionMatrixDisplay``);
* ``model.png`` — ``keras.utils.plot_model`` when pydot and Graphviz are installed (optional:
  ``pip install pydot`` and ``apt-get install graphviz``); otherwise skipped with a message.
"""

from __future__ import annotations

import math
from pathlib import Path


def new_figure(**kwargs):
    """A matplotlib ``Figure`` outside pyplot (``kwargs`` as for ``Figure``, e.g. ``figsize`` in
    inches): saving it needs no display, and a notebook's own pyplot backend (inline plots) is
    left alone (matplotlib's "Embedding in a web application server" recipe)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def learning_curves(history: dict, path: Path) -> Path | None:
    """Plot ``{metric: [value per epoch]}`` (``history.csv`` columns) to ``path``; None if empty."""
    metrics = [k for k in history if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    if not metrics or not history.get("epoch"):
        return None
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = new_figure(figsize=(4.5 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    epochs = history["epoch"]
    for ax, name in zip(axes.flat, metrics):
        ax.plot(epochs, history[name], "o-", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def confusion_matrix(y_true, y_pred, class_names, path: Path) -> Path:
    """Confusion matrix of integer labels ``y_true`` (n,) against predictions ``y_pred`` (n,)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(class_names)
    fig = new_figure(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=list(range(n)), display_labels=list(class_names),
                                            ax=ax, colorbar=False, xticks_rotation=45)
    ax.set_title("test split")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def model_graph(model, path: Path) -> Path | None:
    """``keras.utils.plot_model`` to ``path``; None (and no error) without pydot/Graphviz."""
    import keras

    try:
        keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=True)
    except (ImportError, OSError, AttributeError):
        return None
    return path if Path(path).exists() else None


def plot_run(run_dir: Path, model=None, splits=None, log=print) -> list[Path]:
    """Write every plot that applies to a run directory; returns the files written.

    Args:
        run_dir: A completed run directory (history.csv, model.keras, spec.resolved.yaml).
        model: The trained model (loaded from ``model.keras`` when None).
        splits: The run's data splits (loaded from its spec when None and needed).
    """
    from builder.run.artifacts import read_history

    run_dir = Path(run_dir)
    written = []
    curves = learning_curves(read_history(run_dir / "history.csv"), run_dir / "learning_curves.png")
    if curves:
        written.append(curves)
    if model is None:
        from builder.run.artifacts import load_keras

        model = load_keras(run_dir / "model.keras")
    if splits is None:
        from builder.data.load import load_splits
        from builder.run.artifacts import load_run_spec

        splits = load_splits(load_run_spec(run_dir))
    if splits.task == "classification" and splits.class_names and len(model.outputs) == 1:
        import numpy as np

        x, y = splits.test
        y = np.asarray(y).reshape(-1) if np.ndim(y) == 2 and np.shape(y)[1] == 1 else y
        scores = np.asarray(model.predict(x, verbose=0, batch_size=256))
        if scores.ndim == 2 and scores.shape[-1] == len(splits.class_names):
            pred = scores.argmax(-1)
        elif scores.ndim == 2 and scores.shape[-1] == 1 or scores.ndim == 1:  # one sigmoid unit
            pred = (scores.reshape(-1) > 0.5).astype(int)
        else:
            pred = None
        if pred is not None and np.asarray(y).ndim == 1:
            written.append(confusion_matrix(np.asarray(y), pred, splits.class_names, run_dir / "confusion_matrix.png"))
    graph = model_graph(model, run_dir / "model.png")
    if graph:
        written.append(graph)
    else:
        log("dlbuild: model.png skipped (keras.utils.plot_model needs pydot and Graphviz: "
            "pip install pydot; apt-get install graphviz)")
    return written
