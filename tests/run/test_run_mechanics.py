"""The run layer's mechanics on fakes and tiny arrays, without training: the shared trial step,
the epoch log, the closing summary, the fit workflow, and what reads a finished run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import builder
from builder.cli.main import main
from builder.data.splits import Splits
from builder.errors import SpecError
from conftest import FAKE_RUN_SPEC


def _tiny_splits(y_train) -> Splits:
    x = np.random.default_rng(0).normal(size=(len(y_train), 4)).astype("float32")
    return Splits((x, np.asarray(y_train)), None, (x[:3], np.asarray(y_train)[:3]), None, "classification")


def test_trial_step_refuses_labels_outside_the_output_before_training(write_spec):
    from builder.run import trial

    spec = builder.load_spec(write_spec(FAKE_RUN_SPEC))
    model = trial.build(spec)
    with pytest.raises(SpecError, match=r"labels go up to 7 \(8 classes\)") as err:
        trial.compile_model(spec, model, _tiny_splits([0, 1, 2, 7, 1, 0]))
    report = err.value.format()  # located at the output layer's line, quoting it
    lines = Path(spec.source.filename).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "units: 3" in text)
    assert report.startswith(f"{spec.source.filename}:{line}:") and "give the last layer units: 8" in report
    assert "- dense: {units: 3, activation: softmax}" in report
    prepared = trial.compile_model(spec, trial.build(spec), _tiny_splits([0, 1, 2, 2, 1, 0]))
    assert prepared.model.optimizer is not None and prepared.splits.train[1].shape == (6,)


def test_trial_step_scales_the_learning_rate_with_the_replicas(write_spec):
    from builder.run import trial

    spec = builder.load_spec(write_spec(FAKE_RUN_SPEC.replace("optimizer: adam", "optimizer: {adam: 0.01}")
                                        + "distribute: {scale_learning_rate: true}\n"))

    class FakeStrategy:  # what compile_model reads of a tf.distribute.Strategy
        num_replicas_in_sync = 4

        def scope(self):
            import contextlib

            return contextlib.nullcontext()

    prepared = trial.compile_model(spec, trial.build(spec), _tiny_splits([0, 1, 2, 1]), FakeStrategy())
    assert float(prepared.model.optimizer.learning_rate) == pytest.approx(0.04)


def test_epoch_log_keeps_each_epoch_once_across_a_resume(tmp_path):
    from builder.run.callbacks import _epoch_log_callback

    class FakeOptimizer:
        learning_rate = 0.5

    class FakeModel:
        optimizer = FakeOptimizer()

    path = tmp_path / "history.csv"
    for first_epoch, last_epoch in ((0, 3), (2, 4)):  # a kill after epoch 3, resumed at epoch 3
        log = _epoch_log_callback(path)
        log.set_model(FakeModel())
        log.on_train_begin()
        for epoch in range(first_epoch, last_epoch):
            log.on_epoch_begin(epoch)
            log.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["loss"]) == pytest.approx(0.25) and float(rows[0]["learning_rate"]) == 0.5
    assert all(float(r["wall_seconds"]) >= 0 and float(r["cpu_seconds"]) >= 0 for r in rows)


def test_summary_reports_the_epoch_whose_weights_were_kept(fake_run):
    """history.csv's val_accuracy is 0.45, 0.70, 0.65: the last epoch is kept unless early
    stopping restored another, and the summary names that epoch, not the best-looking one."""
    from builder.run.artifacts import read_history
    from builder.run.train import summary

    spec = builder.load_spec(fake_run / "spec.resolved.yaml")
    history = read_history(fake_run / "history.csv")
    metrics = {"params": 67, "epochs": 3, "fit_seconds": 1.25, "test": {"accuracy": 0.5},
               "kept_epoch": 3, "kept_by": None}
    text = summary(spec, metrics, history, fake_run)
    assert "model kept: epoch 3 (the last epoch); val_accuracy there: 0.6500 (best 0.7000 at epoch 2)" in text
    assert "in 1.2 s" in text and "test: accuracy 0.5000" in text and str(fake_run) in text
    restored = summary(spec, {**metrics, "kept_epoch": 2, "kept_by": "val_loss"}, history, fake_run)
    assert "model kept: epoch 2 (best val_loss, restored by early stopping); val_accuracy there: 0.7000\n" \
        in restored


def test_kept_weights_follow_early_stopping_that_restores():
    import keras

    from builder.run.train import kept_weights

    restoring = keras.callbacks.EarlyStopping(monitor="val_auc", restore_best_weights=True)
    restoring.best_weights, restoring.best_epoch = [np.zeros(1)], 2
    plain = keras.callbacks.EarlyStopping(monitor="val_loss")
    plain.best_epoch = 1
    assert kept_weights([plain, restoring], 5) == (3, "val_auc")
    assert kept_weights([plain], 5) == (5, None)


@pytest.mark.parametrize("formats, exported", [(["keras"], False), (["keras", "tflite"], True)])
def test_fit_workflow_exports_only_what_the_spec_asks(write_spec, monkeypatch, formats, exported, tmp_path):
    from builder import workflows
    from builder.export import api
    from builder.run import train

    calls, lines = [], []
    fake = train.FitResult(tmp_path, None, {"epoch": [1.0]}, {"params": 1, "epochs": 1, "fit_seconds": 0.1,
                                                             "test": {"loss": 1.0}})
    monkeypatch.setattr(train, "fit_one", lambda spec, **kw: fake)
    monkeypatch.setattr(api, "export_run", lambda run_dir, log: calls.append(run_dir))
    spec = builder.load_spec(write_spec(FAKE_RUN_SPEC + f"export: {{formats: {json.dumps(formats)}}}\n"))
    assert workflows.fit(spec, log=lines.append) is fake
    assert calls == ([tmp_path] if exported else [])
    assert any("test: loss 1.0000" in line for line in lines)  # the closing summary


def test_plot_and_evaluate_read_a_finished_run(fake_run):
    (fake_run / "learning_curves.png").unlink(missing_ok=True)
    plotted = CliRunner().invoke(main, ["plot", str(fake_run)])
    assert plotted.exit_code == 0, plotted.output
    assert (fake_run / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (fake_run / "confusion_matrix.png").is_file()
    out = fake_run.parent / "eval.json"
    done = CliRunner().invoke(main, ["evaluate", str(fake_run), "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert "accuracy" in done.output and set(json.loads(out.read_text())) >= {"runs"}


def test_load_run_spec_finds_data_beside_the_original_spec(tmp_path):
    from builder.run.artifacts import load_run_spec

    src = tmp_path / "project"
    src.mkdir()
    np.savez(src / "mine.npz", x=np.zeros((10, 4), "float32"), y=np.zeros(10, "int32"))
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "spec.resolved.yaml").write_text(FAKE_RUN_SPEC.replace("{dataset: iris,", "{npz: mine.npz,"))
    (run / "run.json").write_text(json.dumps({"spec_file": str(src / "spec.yaml")}))
    assert Path(load_run_spec(run).data["npz"]) == (src / "mine.npz").resolve()


def test_an_ensemble_refuses_one_model_and_models_with_other_inputs():
    import keras

    from builder.run.ensembles import EvaluateError, ensemble_model

    def dense(width):
        inp = keras.Input((width,), name="x")
        return keras.Model(inp, keras.layers.Dense(2)(inp))

    with pytest.raises(EvaluateError, match="at least 2 models; received 1"):
        ensemble_model([dense(4)])
    with pytest.raises(EvaluateError, match=r"model 2 of the ensemble reads inputs .*8"):
        ensemble_model([dense(4), dense(8)])
    averaged = ensemble_model([dense(4), dense(4)])
    assert averaged.output_shape == (None, 2)
