"""Run-directory plots (matplotlib, PNG): learning curves, confusion matrix, model graph.

Written at the end of ``dlbuild fit`` and by ``dlbuild plot RUN_DIR``:

* ``learning_curves.png`` — one panel per metric of ``history.csv``, train against validation
  (``val_*``), by epoch;
* ``confusion_matrix.png`` — classifiers: true class (rows) against predicted class (columns) on
  the test split, counts and row-normalised colours (scikit-learn's ``confusion_matrix`` and
  ``ConfusionMatrixDisplay``); ticks are the class names, else the class ids ``0`` … ``K-1``;
* ``model.png`` — ``keras.utils.plot_model`` when pydot and Graphviz are installed (optional:
  ``pip install "dlbuild[plots]"`` and ``apt-get install graphviz`` / ``brew install graphviz``).

A plot that does not apply or cannot be drawn is never skipped silently: one line says which
file was not written and why. The files are written atomically (:mod:`builder.atomic`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from builder.atomic import atomic_path, write_text
from builder.run.callbacks import TIMING_COLUMNS

MAX_MATRIX_CLASSES = 100  # beyond this a matrix is unreadable (and its figure too large to draw)
NOTICE_FILE = "model.png.skipped.txt"  # in a run directory without model.png: why it is missing
GRAPH_HINT = ('keras.utils.plot_model needs pydot and Graphviz: pip install "dlbuild[plots]", and '
              "apt-get install graphviz (macOS: brew install graphviz)")


def new_figure(**kwargs):
    """A matplotlib ``Figure`` outside pyplot (``kwargs`` as for ``Figure``, e.g. ``figsize`` in
    inches): saving it needs no display, and a notebook's own pyplot backend (inline plots) is
    left alone (matplotlib's "Embedding in a web application server" recipe)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig, path: Path) -> Path:
    """Save ``fig`` as a PNG at ``path``, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return Path(path)


def learning_curves(history: dict, path: Path) -> Path | None:
    """Plot ``{metric: [value per epoch]}`` (``history.csv`` columns) to ``path``; None if empty.
    ``epoch``, ``learning_rate`` and the timing columns (``wall_seconds``, ``cpu_seconds``) are not
    metrics and get no panel."""
    skip = ("epoch", "learning_rate", *TIMING_COLUMNS)
    metrics = [k for k in history if k not in skip and not k.startswith("val_")]
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
    return _save(fig, path)


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
    return _save(fig, path)


def class_labels(class_names, width: int, y) -> list[str]:
    """The confusion matrix's tick labels: ``class_names``, else the class ids ``"0"`` … ``"K-1"``.

    Args:
        class_names: The data's class names (``Splits.class_names``), or None/empty (an ``.npz``
            of integer labels).
        width: The model's output units: K classes (softmax), or 1 (one sigmoid unit: K = 2).
        y: The test split's class indices (n,).

    Raises:
        ValueError: no matrix fits (the message says why): the class names and the output width
            disagree, a label is not a class index below K, or K > :data:`MAX_MATRIX_CLASSES`.
    """
    import numpy as np

    k = 2 if width == 1 else int(width)
    if class_names and len(class_names) != k:
        raise ValueError(f"the data has {len(class_names)} class names but the model's output has {width} "
                         f"unit(s), i.e. {k} classes")
    y = np.asarray(y)
    whole = y.dtype.kind in "iub" or bool(np.all(y == np.round(y)))
    if y.size and (not whole or y.min() < 0 or y.max() >= k):
        raise ValueError(f"the test labels ({y.min()} … {y.max()}) are not class indices 0 … {k - 1} of the "
                         f"model's {width}-unit output")
    if k > MAX_MATRIX_CLASSES:
        raise ValueError(f"{k} classes are more than a readable matrix holds ({MAX_MATRIX_CLASSES})")
    return [str(c) for c in class_names] if class_names else [str(i) for i in range(k)]


def _confusion(model, splits, path: Path) -> Path | str | None:
    """Write a classifier's test-split confusion matrix to ``path``; or return why it could not be
    drawn; None for a run that is not a classifier (no matrix is promised, nothing to say)."""
    import numpy as np

    if splits.task != "classification":
        return None
    if len(model.outputs) != 1:
        return f"the model has {len(model.outputs)} outputs; the matrix is drawn for single-output classifiers"
    shape = tuple(model.outputs[0].shape[1:])
    if len(shape) != 1 or shape[0] is None:
        return f"the model's output has shape (batch, {', '.join(map(str, shape))}), not (batch, classes)"
    x, y = splits.test
    y = np.asarray(y)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        return f"the test targets have shape {y.shape}, not one class index per sample"
    if not y.size:
        return "the test split is empty"
    try:
        names = class_labels(splits.class_names, shape[0], y)
    except ValueError as err:
        return str(err)
    scores = np.asarray(model.predict(x, verbose=0, batch_size=256)).reshape(len(y), -1)
    pred = scores.argmax(-1) if scores.shape[1] > 1 else (scores[:, 0] > 0.5).astype(int)
    return confusion_matrix(y.astype(int), pred, names, path)


def model_graph(model, path: Path) -> Path | None:
    """``keras.utils.plot_model`` to ``path``; None (and no error) without pydot/Graphviz."""
    import keras

    try:
        with atomic_path(path) as tmp:
            keras.utils.plot_model(model, to_file=str(tmp), show_shapes=True, show_layer_names=True)
            if not tmp.is_file():  # in IPython, Keras prints its hint and returns without a file
                raise FileNotFoundError(tmp)
    except (ImportError, OSError, AttributeError):
        return None
    return Path(path)


def runs_root(run_dir: Path) -> Path:
    """The folder whose runs share the once-only model.png notice: ``RUNS/<spec name>/<run>``
    (``dlbuild fit``'s layout; a fold of a cross-validation, a tune directory's ``best/``, count
    as their outer run) gives ``RUNS``; a run elsewhere (``--out DIR``) gives ``DIR``'s parent."""
    from builder.run.rundir import RunDir

    top = Path(run_dir).resolve()
    while (top.parent / "run.json").is_file():
        top = top.parent
    name = RunDir(top).state().get("spec_name")
    return top.parent.parent if name and top.parent.name == name else top.parent


def _graph_notice(run_dir: Path, log, always: bool) -> None:
    """Say that model.png needs the optional extra and Graphviz: always on request (``dlbuild plot
    RUN``), else once per :func:`runs_root`.

    Why once per runs root: the missing tools are a fact about the machine, not about the run, so
    the same hint on every fit is noise a new user learns to skip, hiding the lines that matter;
    only with ``-v`` it would never reach the new user it is for. Once per runs root reaches them
    on their first run (a new project folder: again), and ``dlbuild plot RUN`` still says it.
    Each run without model.png keeps the reason in its own :data:`NOTICE_FILE` (a run writes
    only inside its directory); the hint is printed when no other run under the root has one."""
    line = f"dlbuild: model.png not written ({GRAPH_HINT})"
    run_dir = Path(run_dir).resolve()
    root = runs_root(run_dir)
    # Look only as deep as runs sit under this root (RUNS/<spec>/<run>, and one level more for the
    # folds of a cross-validation; a --out run: its siblings), never through a whole home folder.
    depth = len(run_dir.relative_to(root).parts) if run_dir.is_relative_to(root) else 1
    patterns = ["*/*/", "*/*/*/"] if depth >= 2 else ["*/"]
    said = any(p.parent != run_dir for pattern in patterns for p in root.glob(pattern + NOTICE_FILE))
    try:
        write_text(run_dir / NOTICE_FILE, line + "\n")
    except OSError:  # a read-only run directory: the hint comes again next time, nothing worse
        pass
    if always:
        log(line)
    elif not said:
        shown = os.path.relpath(root) if root.is_relative_to(Path.cwd().resolve()) else root  # no home paths in logs
        log(f"{line}; said once for the runs in {shown} (each run's {NOTICE_FILE} keeps it), "
            "dlbuild plot RUN repeats it")


def plot_run(run_dir: Path, model=None, splits=None, log=print, *, always_notice: bool | None = None) -> list[Path]:
    """Write every plot that applies to a run directory; returns the files written. A plot not
    written gets one line through ``log`` saying why (a reason of the run's own, every time; the
    missing pydot/Graphviz of the machine, see :func:`_graph_notice`).

    Args:
        run_dir: A completed run directory (history.csv, model.keras, spec.resolved.yaml).
        model: The trained model (loaded from ``model.keras`` when None).
        splits: The run's data splits (loaded from its spec when None and needed).
        always_notice: Say the pydot/Graphviz hint every time (True) or once per runs root
            (False). None: every time when ``model`` is None (a finished run plotted on request,
            as ``dlbuild plot RUN`` does), else once (the end of a fit, which passes its model).
    """
    from builder.run.artifacts import read_history

    run_dir = Path(run_dir)
    always = model is None if always_notice is None else always_notice
    written = []
    curves = learning_curves(read_history(run_dir / "history.csv"), run_dir / "learning_curves.png")
    if curves:
        written.append(curves)
    else:
        log("dlbuild: learning_curves.png not written (history.csv has no epochs)")
    if model is None:
        from builder.run.artifacts import load_keras

        model = load_keras(run_dir / "model.keras")
    if splits is None:
        from builder.data.load import load_splits
        from builder.run.artifacts import load_run_spec

        splits = load_splits(load_run_spec(run_dir))
    matrix = _confusion(model, splits, run_dir / "confusion_matrix.png")
    if isinstance(matrix, Path):
        written.append(matrix)
    elif matrix:
        log(f"dlbuild: confusion_matrix.png not written ({matrix})")
    graph = model_graph(model, run_dir / "model.png")
    if graph:
        written.append(graph)
    else:
        _graph_notice(run_dir, log, always)
    return written
