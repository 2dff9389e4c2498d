"""Run plots (issue #19): the confusion matrix without class names, a line for every plot not
written, and the model.png install hint once per runs root (always on ``dlbuild plot RUN``)."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from builder.cli.main import main
from builder.data.splits import Splits
from builder.run import plots


def _history(run):
    run.mkdir(parents=True, exist_ok=True)
    (run / "history.csv").write_text("epoch,loss,val_loss\n1,1.0,1.1\n2,0.5,0.7\n")
    return run


def _no_graphviz(monkeypatch):
    """keras.utils.plot_model as it fails without pydot (whatever this machine has installed)."""
    import keras

    def plot_model(*args, **kwargs):
        raise ImportError("You must install pydot (`pip install pydot`) for `plot_model` to work.")

    monkeypatch.setattr(keras.utils, "plot_model", plot_model)


def _iris_without_names(run_dir):
    """The fake run's model and its splits as an ``.npz`` of integer labels gives them: no class names."""
    from builder.data.load import load_splits
    from builder.run.artifacts import load_keras, load_run_spec

    splits = load_splits(load_run_spec(run_dir))
    assert splits.class_names  # the bundled iris has names: drop them
    return load_keras(run_dir / "model.keras"), dataclasses.replace(splits, class_names=None)


def test_class_labels_are_the_names_else_the_class_ids():
    assert plots.class_labels(None, 3, [0, 2, 1]) == ["0", "1", "2"]
    assert plots.class_labels((), 1, np.array([[0], [1]]).reshape(-1)) == ["0", "1"]  # one sigmoid unit
    assert plots.class_labels(("setosa", "versicolor", "virginica"), 3, [0]) == ["setosa", "versicolor", "virginica"]
    with pytest.raises(ValueError, match="3 class names but the model's output has 5"):
        plots.class_labels(("a", "b", "c"), 5, [0, 1])
    with pytest.raises(ValueError, match="not class indices 0 … 2"):
        plots.class_labels(None, 3, [0, 3])
    with pytest.raises(ValueError, match="more than a readable matrix"):
        plots.class_labels(None, plots.MAX_MATRIX_CLASSES + 1, [0, 1])


def test_classifier_without_class_names_gets_a_matrix_ticked_with_class_ids(fake_run, monkeypatch):
    from sklearn.metrics import ConfusionMatrixDisplay

    model, splits = _iris_without_names(fake_run)
    seen = {}
    draw = ConfusionMatrixDisplay.from_predictions

    def spy(*args, **kwargs):
        seen["display_labels"] = kwargs.get("display_labels")
        return draw(*args, **kwargs)

    monkeypatch.setattr(ConfusionMatrixDisplay, "from_predictions", spy)
    lines = []
    written = plots.plot_run(fake_run, model=model, splits=splits, log=lines.append)
    assert fake_run / "confusion_matrix.png" in written
    assert (fake_run / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert seen["display_labels"] == ["0", "1", "2"]
    assert not any("confusion_matrix.png" in line for line in lines)


def test_a_regression_run_has_no_confusion_matrix_and_no_noise_about_it(tmp_path):
    """The matrix is promised for classifiers only: a regression run neither writes it nor
    explains its absence on every fit (the learning curves are still written)."""
    import keras

    run = _history(tmp_path / "reg")
    x = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
    splits = Splits(train=(x, x[:, 0]), val=None, test=(x, x[:, 0]), class_names=None, task="regression")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    lines = []
    written = plots.plot_run(run, model=model, splits=splits, log=lines.append)
    assert run / "learning_curves.png" in written and not (run / "confusion_matrix.png").exists()
    assert not [line for line in lines if "confusion_matrix.png" in line]


def test_a_classifier_whose_output_is_not_one_score_per_class_says_why(tmp_path):
    import keras

    run = _history(tmp_path / "seq")
    x = np.zeros((6, 5, 2), "float32")
    splits = Splits(train=(x, np.zeros(6, int)), val=None, test=(x, np.zeros(6, int)), class_names=None,
                    task="classification")
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.Dense(3, activation="softmax")])  # (batch, 5, 3)
    lines = []
    plots.plot_run(run, model=model, splits=splits, log=lines.append)
    assert "dlbuild: confusion_matrix.png not written (the model's output has shape (batch, 5, 3), " \
           "not (batch, classes))" in lines


def test_the_model_png_hint_is_said_once_per_runs_root_and_always_by_dlbuild_plot(fake_run, monkeypatch, tmp_path):
    _no_graphviz(monkeypatch)
    model, splits = _iris_without_names(fake_run)
    root = tmp_path / "runs"
    first = root / "fake_iris" / "20250101-000000"  # dlbuild fit's layout: RUNS/<spec name>/<stamp>
    shutil.copytree(fake_run, first)
    cv = root / "fake_iris" / "20250101-000100"  # a cross-validation: its folds count as the outer run
    cv.mkdir(parents=True)
    (cv / "run.json").write_text(json.dumps({"state": "running", "spec_name": "fake_iris",
                                             "kind": "cross_validation"}))
    fold = cv / "fold-1"
    shutil.copytree(fake_run, fold)
    lines = []
    for run in (first, fold):  # what the end of each fit calls
        plots.plot_run(run, model=model, splits=splits, log=lines.append)
    hints = [line for line in lines if "model.png" in line]
    assert len(hints) == 1, lines
    assert 'pip install "dlbuild[plots]"' in hints[0] and "apt-get install graphviz" in hints[0]
    assert "brew install graphviz" in hints[0] and str(root.resolve()) in hints[0]
    assert (first / plots.NOTICE_FILE).is_file() and (fold / plots.NOTICE_FILE).is_file()
    assert not (root / plots.NOTICE_FILE).exists()  # a run writes only inside its own directory
    assert plots.runs_root(fold) == plots.runs_root(first) == root.resolve()

    plotted = CliRunner().invoke(main, ["plot", str(first)])  # an explicit request: always said
    assert plotted.exit_code == 0, plotted.output
    assert 'model.png not written (keras.utils.plot_model needs pydot and Graphviz: pip install "dlbuild[plots]"' \
        in plotted.output

    elsewhere = tmp_path / "project" / "my_run"  # another runs root (the parent of an --out run) hears it once too
    shutil.copytree(fake_run, elsewhere)
    other = []
    plots.plot_run(elsewhere, model=model, splits=splits, log=other.append)
    assert sum("model.png" in line for line in other) == 1
    assert (elsewhere / plots.NOTICE_FILE).is_file() and not (elsewhere.parent / plots.NOTICE_FILE).exists()
