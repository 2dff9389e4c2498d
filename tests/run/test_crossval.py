"""Training techniques of issue 3: K-fold cross-validation, ensembles, test-time augmentation,
one-hot targets with label smoothing, and masked-LM metrics on the masked positions only."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import builder
from builder.cli.main import main
from builder.data.splits import Splits, kfold
from builder.errors import SpecError

IRIS_CV = """
name: iris_cv
seed: 4
data: {dataset: iris, test_split: 0.2}
model:
  inputs: {features: {shape: [4]}}
  layers:
    - normalization
    - dense: {units: 8, activation: relu}
    - dense: {units: 3, activation: softmax}
compile:
  optimizer: {adam: 0.05}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit:
  epochs: 2
  batch_size: 16
  cross_validation: {folds: 2, shuffle: true}
"""


def _quiet(*_args, **_kwargs):
    pass


# ---------------------------------------------------------------- folds (no TensorFlow)

def _splits(n=60, classes=3, task="classification"):
    x = {"a": np.arange(n, dtype=np.float32)[:, None], "b": np.arange(n, dtype=np.float32)[:, None] * 2}
    y = np.arange(n) % classes
    return Splits(train=(x, y), val=None, test=(x, y[:5]), class_names=None, task=task, info={"vocabulary": ["v"]})


def test_kfold_partitions_the_training_split_and_keeps_test_and_info():
    pool = _splits()
    folds = list(kfold(pool, folds=4, seed=1))
    assert len(folds) == 4
    held = np.concatenate([f.val[0]["a"][:, 0] for f in folds])
    assert sorted(held.tolist()) == list(range(60))  # every sample validated exactly once
    for f in folds:
        assert not set(f.val[0]["a"][:, 0]) & set(f.train[0]["a"][:, 0])
        assert np.array_equal(f.train[0]["b"], 2 * f.train[0]["a"])  # named inputs cut together
        assert np.bincount(f.val[1]).tolist() == [5, 5, 5]  # StratifiedKFold keeps the proportions
        assert f.test is pool.test and f.info == pool.info
    again = list(kfold(pool, folds=4, seed=1))
    assert all(np.array_equal(a.val[1], b.val[1]) and np.array_equal(a.val[0]["a"], b.val[0]["a"])
               for a, b in zip(folds, again))
    unshuffled = list(kfold(pool, folds=4, seed=1, shuffle=False, stratify=False))
    assert unshuffled[0].val[0]["a"][:, 0].tolist() == list(range(15))  # contiguous parts


def test_kfold_without_enough_samples_per_class_warns_and_cuts_at_random():
    pool = _splits(n=12, classes=6)  # two samples per class, three folds
    with pytest.warns(UserWarning, match="Could not stratify the 3 cross-validation folds"):
        folds = list(kfold(pool, folds=3, seed=0))
    assert sorted(np.concatenate([f.val[0]["a"][:, 0] for f in folds]).tolist()) == list(range(12))


@pytest.mark.parametrize("folds", [1, 61])
def test_kfold_rejects_impossible_fold_counts(folds):
    with pytest.raises(SpecError, match=rf"cannot cut 60 training samples into {folds} cross-validation folds") as e:
        kfold(_splits(), folds=folds, seed=0)
    assert e.value.diagnostics[0].path == ("fit", "cross_validation", "folds")


def test_kfold_refuses_ordered_samples():
    import dataclasses

    with pytest.raises(SpecError, match="need independent samples"):
        kfold(dataclasses.replace(_splits(), ordered=True), folds=3, seed=0)


# ---------------------------------------------------------------- cross-validation end to end

@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    """``dlbuild fit --folds 3`` on iris (a spec whose cross_validation mapping says 2 folds)."""
    root = tmp_path_factory.mktemp("cv")
    spec = root / "iris_cv.yaml"
    spec.write_text(IRIS_CV.lstrip())
    out = root / "run"
    result = CliRunner().invoke(main, ["fit", str(spec), "--folds", "3", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return spec, out, result.output


def test_cross_validation_writes_a_run_per_fold_and_mean_and_sample_std(cv_run):
    _spec, out, output = cv_run
    folds = [json.loads((out / f"fold-{i}" / "metrics.json").read_text()) for i in (1, 2, 3)]
    for i, m in enumerate(folds, 1):
        assert (out / f"fold-{i}" / "model.keras").is_file() and (out / f"fold-{i}" / "history.csv").is_file()
        assert m["fold"] == i and m["folds"] == 3 and m["epochs"] == 2
        assert json.loads((out / f"fold-{i}" / "run.json").read_text())["state"] == "completed"
    assert sum(m["val_samples"] for m in folds) == folds[0]["train_samples"] + folds[0]["val_samples"] == 120
    cv = json.loads((out / "cv.json").read_text())
    assert cv["folds"] == 3 and cv["stratified"] is True
    for name in ("accuracy", "loss"):
        values = [m["val"][name] for m in folds]
        assert cv["val"][name]["mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert cv["val"][name]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
        assert cv["test"][name]["mean"] == pytest.approx(np.mean([m["test"][name] for m in folds]), abs=1e-12)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["accuracy"] == pytest.approx(cv["val"]["accuracy"]["mean"])
    assert metrics["test"] == cv["ensemble"]["test"] and metrics["epochs"] == 6
    assert json.loads((out / "run.json").read_text())["kind"] == "cross_validation"
    for i in (1, 2, 3):
        assert f"fold {i}/3: val accuracy" in output
    assert "val:  accuracy" in output and " ± " in output and "ensemble of the 3 fold models" in output


def test_cross_validation_ensemble_is_the_mean_of_the_fold_models(cv_run):
    import keras

    from builder.run.artifacts import load_keras
    from builder.data.load import load_splits

    spec_path, out, _ = cv_run
    spec = builder.load_spec(spec_path)
    x, y = load_splits(spec).test
    probs = np.mean([load_keras(out / f"fold-{i}" / "model.keras").predict(x, verbose=0) for i in (1, 2, 3)], axis=0)
    ensemble = load_keras(out / "model.keras")  # saved, and loads like any run's model
    assert np.allclose(ensemble.predict(x, verbose=0), probs, atol=1e-6)
    cv = json.loads((out / "cv.json").read_text())
    assert cv["ensemble"]["test"]["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == y), abs=1e-6)
    loss = float(keras.losses.sparse_categorical_crossentropy(y, probs).numpy().mean())
    assert cv["ensemble"]["test"]["loss"] == pytest.approx(loss, rel=1e-5)


def test_resume_skips_the_finished_folds(cv_run, tmp_path):
    import shutil

    spec, done, _ = cv_run
    out = tmp_path / "run"
    shutil.copytree(done, out)
    shutil.rmtree(out / "fold-3")  # killed before fold 3 had written anything
    for name in ("cv.json", "metrics.json", "model.keras"):
        (out / name).unlink()
    state = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**state, "state": "running"}))
    kept = {i: (out / f"fold-{i}" / "model.keras").stat().st_mtime_ns for i in (1, 2)}
    result = CliRunner().invoke(main, ["fit", str(spec), "--folds", "3", "--out", str(out), "--resume", "-q"])
    assert result.exit_code == 0, result.output
    assert "fold 1/3: completed earlier, not trained again" in result.output
    assert "fold 2/3: completed earlier, not trained again" in result.output
    assert "training 'iris_cv'" in result.output and result.output.count("dlbuild: training") == 1
    assert {i: (out / f"fold-{i}" / "model.keras").stat().st_mtime_ns for i in (1, 2)} == kept
    assert json.loads((out / "fold-3" / "metrics.json").read_text())["fold"] == 3
    assert json.loads((out / "cv.json").read_text())["folds"] == 3

    again = CliRunner().invoke(main, ["fit", str(spec), "--folds", "3", "--out", str(out), "--resume"])
    assert again.exit_code == 1 and "has already completed" in again.output
    single = CliRunner().invoke(main, ["fit", str(spec), "--set", "fit.cross_validation=null", "--out", str(out),
                                       "--resume"])
    assert single.exit_code == 1 and "holds a cross-validation, not a single run" in single.output


# ---------------------------------------------------------------- ensembles of runs

def test_ensemble_of_two_runs_is_the_mean_of_their_predictions(cv_run, tmp_path):
    import keras

    from builder.run.artifacts import load_keras
    from builder.data.load import load_splits

    spec_path, out, _ = cv_run
    runs = [out / "fold-1", out / "fold-3"]
    report = tmp_path / "evaluation.json"
    result = CliRunner().invoke(main, ["evaluate", *map(str, runs), "--output", str(report)])
    assert result.exit_code == 0, result.output
    saved = json.loads(report.read_text())
    x, y = load_splits(builder.load_spec(spec_path), validation_split=0).test
    preds = [load_keras(r / "model.keras").predict(x, verbose=0) for r in runs]
    for row, p, r in zip(saved["runs"], preds, runs):
        assert row["test"] == json.loads((r / "metrics.json").read_text())["test"]  # plain = model.evaluate
        assert row["test"]["accuracy"] == pytest.approx(np.mean(p.argmax(1) == y), abs=1e-6)
    mean = (preds[0] + preds[1]) / 2
    ens = saved["ensemble"]["test"]
    assert ens["accuracy"] == pytest.approx(np.mean(mean.argmax(1) == y), abs=1e-6)
    assert ens["loss"] == pytest.approx(float(keras.losses.sparse_categorical_crossentropy(y, mean).numpy().mean()),
                                        rel=1e-5)
    assert "ensemble of 2: test accuracy" in result.output


def test_evaluate_refuses_tta_without_augmentation_and_runs_with_other_test_data(cv_run, tmp_path, write_spec):
    _spec, out, _ = cv_run
    r = CliRunner().invoke(main, ["evaluate", str(out / "fold-1"), "--tta", "2"])
    assert r.exit_code == 2 and "has no augmentation layer" in r.output
    other = tmp_path / "other"
    other.mkdir()
    text = (out / "fold-2" / "spec.resolved.yaml").read_text().replace("seed: 4", "seed: 5")
    (other / "spec.resolved.yaml").write_text(text)
    (other / "model.keras").write_bytes((out / "fold-2" / "model.keras").read_bytes())
    r = CliRunner().invoke(main, ["evaluate", str(out / "fold-1"), str(other)])
    assert r.exit_code == 2 and "was tested on other data than" in r.output
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path)])
    assert r.exit_code == 2 and "is not a finished run directory" in r.output


# ---------------------------------------------------------------- test-time augmentation

def _small_model(augment: bool):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 1), name="image")
    h = keras.layers.RandomFlip("horizontal")(inputs) if augment else inputs
    h = keras.layers.RandomTranslation(0.2, 0.2)(h) if augment else h
    h = keras.layers.Conv2D(3, 3, activation="relu")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dropout(0.5)(h)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(h))


def test_tta_changes_predictions_only_when_augmentation_layers_exist():
    from builder.run.ensembles import tta_model

    x = np.random.default_rng(0).random((16, 12, 12, 1)).astype("float32")
    plain = _small_model(augment=False)
    assert np.allclose(tta_model(plain, 3, seed=1).predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6)
    aug = _small_model(augment=True)
    p = aug.predict(x, verbose=0)
    assert np.allclose(aug(x, training=False), p, atol=1e-6)  # augmentation is off in plain inference
    t = tta_model(aug, 3, seed=1).predict(x, verbose=0)
    assert np.abs(t - p).max() > 1e-3
    assert np.allclose(tta_model(aug, 3, seed=1).predict(x, verbose=0), t, atol=1e-6)  # seeded: reproducible


DIGITS_TTA = """
name: digits_tta
seed: 5
data: {dataset: digits, validation_split: 0.1, max_train_samples: 256}
model:
  inputs: {image: {shape: [8, 8, 1]}}
  layers:
    - rescaling: {scale: 0.0625}
    - random_flip: horizontal
    - random_translation: {height_factor: 0.1, width_factor: 0.1}
    - conv2d: {filters: 4, kernel_size: 3, activation: relu}
    - flatten
    - dropout: 0.2
    - dense: {units: 10, activation: softmax}
compile:
  optimizer: {adam: 3.0e-3}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 1, batch_size: 64, tta: 2}
"""


def test_fit_reports_plain_and_tta_test_metrics(write_spec, tmp_path):
    from builder.data.pipeline import make_pipelines
    from builder.run.artifacts import load_keras
    from builder.model.graph import build_compile_args
    from builder.data.load import load_splits

    spec = builder.load_spec(write_spec(DIGITS_TTA))
    result = builder.fit(spec, run_dir=tmp_path / "run", verbose=0, log=_quiet)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["test_tta"]) == set(metrics["test"]) == {"accuracy", "loss"}
    assert metrics["test_tta"]["loss"] != metrics["test"]["loss"]
    model = load_keras(tmp_path / "run" / "model.keras")
    model.compile(**build_compile_args(spec))
    pipes = make_pipelines(load_splits(spec), batch_size=64, seed=spec.seed)
    evaluated = model.evaluate(pipes.test, verbose=0, return_dict=True)
    assert metrics["test"]["loss"] == pytest.approx(evaluated["loss"], rel=1e-5)
    assert metrics["test"]["accuracy"] == pytest.approx(evaluated["accuracy"])
    r = CliRunner().invoke(main, ["evaluate", str(result.run_dir), "--tta", "2"])
    assert r.exit_code == 0, r.output
    assert f"loss {metrics['test_tta']['loss']:.4f}" in r.output.split("TTA")[1]  # same seeds, same passes


# ---------------------------------------------------------------- one-hot targets, label smoothing

IRIS_ONE_HOT = """
name: iris_smooth
seed: 2
data: {dataset: iris, one_hot: true, validation_split: 0.2}
model:
  inputs: {features: {shape: [4]}}
  layers:
    - normalization
    - dense: {units: 3, activation: softmax}
compile:
  optimizer: {adam: 0.05}
  loss: {categorical_crossentropy: {label_smoothing: 0.2}}
  metrics: [accuracy]
fit: {epochs: 2, batch_size: 16, class_weight: balanced}
"""


def test_one_hot_targets_train_with_label_smoothing(write_spec, tmp_path):
    import keras

    from builder.data.pipeline import make_pipelines
    from builder.data.load import load_splits

    spec = builder.load_spec(write_spec(IRIS_ONE_HOT))
    splits = load_splits(spec)
    assert splits.info["one_hot"] == 3 and splits.train[1].ndim == 1  # class indices until the pipeline
    _x, y = next(iter(make_pipelines(splits, batch_size=8, seed=0).test))
    assert y.shape == (8, 3) and np.allclose(np.sum(y, axis=1), 1)
    result = builder.fit(spec, run_dir=tmp_path / "run", verbose=0, log=_quiet)
    x_test, y_test = splits.test
    probs = result.model.predict(x_test, verbose=0)
    smoothed = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(np.eye(3)[y_test], probs)
    assert result.metrics["test"]["loss"] == pytest.approx(float(smoothed), rel=1e-5)
    plain = keras.losses.CategoricalCrossentropy()(np.eye(3)[y_test], probs)
    assert abs(float(plain) - float(smoothed)) > 1e-3
    assert result.metrics["test"]["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == y_test))


def _at(text: str, line_start: str, token: str) -> tuple[int, int]:
    """1-based (line, column) of ``token`` on the line of ``text`` that starts with ``line_start``."""
    lines = text.lstrip("\n").splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(line_start))
    return i + 1, lines[i].index(token) + 1


def test_one_hot_errors_are_located(write_spec):
    sparse = IRIS_ONE_HOT.replace("{categorical_crossentropy: {label_smoothing: 0.2}}", "sparse_categorical_crossentropy")
    with pytest.raises(SpecError) as e:
        builder.load_spec(write_spec(sparse))
    assert e.value.located()[0][1:4] == (
        *_at(sparse, "  loss:", "sparse"), "sparse_categorical_crossentropy expects class indices, but "
        "data.one_hot: true makes one-hot targets; use categorical_crossentropy (or remove one_hot)")
    regression = IRIS_ONE_HOT.replace("dataset: iris", "dataset: diabetes")
    with pytest.raises(SpecError) as e:
        builder.load_spec(write_spec(regression))
    assert e.value.located()[0][1:4] == (*_at(regression, "data:", "true"), "'one_hot' encodes class indices, "
                                         "but the targets of dataset 'diabetes' are real numbers (regression)")


# ---------------------------------------------------------------- masked-LM metrics

MLM_IDENTITY = """
name: mlm_identity
data:
  dataset: movie_sentiment
  masked_lm: {rate: 0.15, sequence_length: 6, level: word, max_tokens: 20}
model:
  inputs: {tokens: {shape: [6], dtype: int32}}
  layers:                                 # logits = one-hot of the input token: predicts its input
    - embedding: {input_dim: 20, output_dim: 20, embeddings_initializer: identity}
compile:
  loss: {sparse_categorical_crossentropy: {from_logits: true, reduction: mean_with_sample_weight}}
  metrics: [{sparse_categorical_accuracy: {name: all_positions}}]
  weighted_metrics: [{sparse_categorical_accuracy: {name: masked_accuracy}}]
"""


def test_masked_lm_weighted_accuracy_counts_only_masked_positions(write_spec):
    import keras

    from builder.spec.section_checks import logged_metrics
    from builder.catalog.registry import catalog
    from builder.model.graph import build_compile_args

    spec = builder.load_spec(write_spec(MLM_IDENTITY))
    assert "val_masked_accuracy" in logged_metrics(spec.compile, catalog())
    model = builder.build_model(spec)
    model.compile(**build_compile_args(spec))
    rng = np.random.default_rng(0)
    y = rng.integers(2, 20, (8, 6)).astype("int32")
    weight = np.zeros((8, 6), "float32")
    weight[:, 1] = weight[:, 4] = 1                     # the masked positions
    x = y.copy()
    x[:, 1] = 3                                         # [MASK]-like input: the identity model misses it
    x[:, 4] = np.where(y[:, 4] == 5, 6, 5)
    got = model.evaluate(x, y, sample_weight=weight, return_dict=True, verbose=0)
    assert got["masked_accuracy"] == 0.0                # wrong at every masked position ...
    assert got["all_positions"] == pytest.approx(4 / 6)  # ... right at the 4 unmasked ones
    logits = model.predict(x, verbose=0)
    ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).numpy()
    assert got["loss"] == pytest.approx(ce[:, [1, 4]].mean(), rel=1e-5)  # the mean over masked positions


def test_masked_lm_pipeline_weights_the_selected_positions():
    from builder.data.pipeline import make_pipelines
    from builder.data.load import load_splits

    spec = builder.load_spec("specs/bert_pretrain.yaml", ["data.max_train_samples=32"])
    splits = load_splits(spec)
    x, y, w = next(iter(make_pipelines(splits, batch_size=32, seed=1).test))
    x, y, w = np.asarray(x), np.asarray(y), np.asarray(w)
    assert set(np.unique(w)) == {0.0, 1.0}
    assert np.all(x[w == 0] == y[w == 0])               # unselected positions are the input as it was
    assert np.all(w[y == 0] == 0)                       # padding is never selected
    assert spec.compile["weighted_metrics"] == [{"sparse_categorical_accuracy": {"name": "masked_accuracy"}}]

