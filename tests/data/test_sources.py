"""Data-source layer: bundled datasets, CSV/NPZ loading, splitting (no TensorFlow)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from builder.catalog.datasets import list_datasets
from builder.data.sources import bundled
from builder.data.load import load_arrays
from builder.data.sources.arrays import Arrays
from builder.data.splits import split_arrays
from builder.errors import SpecError

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "builder" / "data" / "bundled"


def error_of(data, spec_dir) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_arrays(data, spec_dir)
    return info.value


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------- bundled

@pytest.mark.parametrize("name, n", [("fashion_mnist_train", 10_000),
                                     ("fashion_mnist_test", 2_000),
                                     ("mnist_5k", 5_000)])
def test_vendored_files_small_uint8_and_balanced(name, n):
    path = BUNDLED / f"{name}.npz"
    assert path.stat().st_size < 4_800_000
    with np.load(path) as npz:
        assert sorted(npz.files) == ["x", "y"]
        assert npz["x"].shape == (n, 28, 28, 1) and npz["x"].dtype == np.uint8
        assert npz["y"].shape == (n,) and npz["y"].dtype == np.uint8
        assert np.bincount(npz["y"]).tolist() == [n // 10] * 10


def test_fashion_mnist_has_official_test_split_and_names():
    a = load_arrays({"dataset": "fashion_mnist"}, ROOT)
    assert a.x_train.shape == (10_000, 28, 28, 1) and a.x_test.shape == (2_000, 28, 28, 1)
    assert a.y_train.dtype == np.int32 and a.task == "classification" and a.name == "fashion_mnist"
    assert a.class_names[0] == "T-shirt/top" and a.class_names[9] == "Ankle boot"
    assert a.x_train.max() > 200  # real pixels, not zeros


def test_mnist_5k_is_shuffled_with_fixed_order():
    a = load_arrays({"dataset": "mnist_5k"}, ROOT)
    assert a.x_test is None and a.class_names == tuple("0123456789")
    # The source is sorted by class; every 500-block of a shuffled copy holds many classes.
    assert len(np.unique(a.y_train[:500])) == 10
    assert np.array_equal(a.y_train, load_arrays({"dataset": "mnist_5k"}, ROOT).y_train)


@pytest.mark.skipif(not (bundled.FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="dataset-fashion-mnist not installed")
def test_vendored_fashion_subsets_come_from_the_right_official_split():
    full = load_arrays({"dataset": "fashion_mnist_full"}, ROOT)
    assert full.x_train.shape == (60_000, 28, 28, 1) and full.x_test.shape == (10_000, 28, 28, 1)
    sub = load_arrays({"dataset": "fashion_mnist"}, ROOT)
    official_train = {img.tobytes(): lab for img, lab in zip(full.x_train, full.y_train)}
    official_test = {img.tobytes(): lab for img, lab in zip(full.x_test, full.y_test)}
    assert all(official_train.get(img.tobytes()) == lab for img, lab in zip(sub.x_train, sub.y_train))
    assert all(official_test.get(img.tobytes()) == lab for img, lab in zip(sub.x_test, sub.y_test))


def test_fashion_mnist_full_missing_files_tells_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(bundled, "FASHION_MNIST_DIR", tmp_path)
    err = error_of({"dataset": "fashion_mnist_full"}, ROOT)
    assert err.diagnostics[0].path == ("data", "dataset")
    assert "apt-get install dataset-fashion-mnist" in str(err) and "fashion_mnist" in str(err)


@pytest.mark.parametrize("name, shape, dtype, task, first_class", [
    ("digits", (1797, 8, 8, 1), np.float32, "classification", "0"),
    ("iris", (150, 4), np.float32, "classification", "setosa"),
    ("wine", (178, 13), np.float32, "classification", "class_0"),
    ("breast_cancer", (569, 30), np.float32, "classification", "malignant"),
    ("diabetes", (442, 10), np.float32, "regression", None),
])
def test_sklearn_datasets(name, shape, dtype, task, first_class):
    a = load_arrays({"dataset": name}, ROOT)
    assert a.x_train.shape == shape and a.x_train.dtype == dtype and a.task == task
    assert (a.class_names[0] if a.class_names else None) == first_class
    assert a.y_train.dtype == (np.float32 if task == "regression" else np.int32)
    if name == "digits":
        assert a.x_train.min() == 0 and a.x_train.max() == 16


def test_unknown_dataset_suggests_closest():
    err = error_of({"dataset": "fashon_mnist"}, ROOT)
    assert err.diagnostics[0].path == ("data", "dataset")
    assert "did you mean 'fashion_mnist'?" in str(err)


def test_list_datasets_covers_every_name_and_licence_file():
    names = list_datasets()
    assert set(names) == {"fashion_mnist", "fashion_mnist_full", "mnist_5k", "digits", "iris", "wine",
                          "breast_cancer", "diabetes", "movie_sentiment", "sms_spam", "hamlet", "python_help",
                          "movie_dialog", "japanese_vowels", "italy_power_demand", "airline", "sunspots"}
    licences = (ROOT / "DATA_LICENSES.md").read_text()
    for name in names:
        assert f"## {name}" in licences
        assert "Licence" in licences.split(f"## {name}")[1].split("\n## ")[0]


def test_dataset_task_mismatch_is_an_error():
    err = error_of({"dataset": "iris", "task": "regression"}, ROOT)
    assert err.diagnostics[0].path == ("data", "task")


def test_exactly_one_source():
    assert error_of({}, ROOT).diagnostics[0].path == ("data",)
    err = error_of({"dataset": "iris", "csv": "x.csv"}, ROOT)
    assert err.diagnostics[0].path == ("data", "csv") and err.diagnostics[0].at == "key"


# ---------------------------------------------------------------- CSV

def test_csv_string_target_defaults_to_last_column(tmp_path):
    write(tmp_path / "t.csv", "a,b,kind\n1,2.5,dog\n3,4,cat\n5,6,dog\n")
    a = load_arrays({"csv": "t.csv"}, tmp_path)  # relative to spec_dir
    assert a.x_train.dtype == np.float32 and a.x_train.tolist() == [[1, 2.5], [3, 4], [5, 6]]
    assert a.class_names == ("cat", "dog") and a.y_train.tolist() == [1, 0, 1]
    assert a.y_train.dtype == np.int32 and a.task == "classification" and a.name == "t.csv"
    assert a.x_test is None


def test_csv_integer_target_maps_sorted_values_to_indices(tmp_path):
    write(tmp_path / "t.csv", "label,a,b\n10,1,2\n-1,3,4\n10,5,6\n")
    a = load_arrays({"csv": str(tmp_path / "t.csv"), "target": "label", "features": ["b"]}, pathlib.Path("/"))
    assert a.class_names == ("-1", "10") and a.y_train.tolist() == [1, 0, 1]
    assert a.x_train.tolist() == [[2], [4], [6]]


def test_csv_float_target_is_regression_and_task_overrides(tmp_path):
    write(tmp_path / "t.csv", "a,y\n1,0.5\n2,1.5\n")
    a = load_arrays({"csv": "t.csv"}, tmp_path)
    assert a.task == "regression" and a.y_train.dtype == np.float32 and a.class_names is None
    write(tmp_path / "i.csv", "a,y\n1,0\n2,3\n")
    r = load_arrays({"csv": "i.csv", "task": "regression"}, tmp_path)
    assert r.task == "regression" and r.y_train.tolist() == [0.0, 3.0]


def test_csv_unknown_columns_reported_together_with_suggestions(tmp_path):
    write(tmp_path / "t.csv", "petal_length,petal_width,species\n1,2,a\n")
    err = error_of({"csv": "t.csv", "target": "specie", "features": ["petal_length", "petal_widht"]}, tmp_path)
    paths = [d.path for d in err.diagnostics]
    assert paths == [("data", "target"), ("data", "features", 1)]
    assert "did you mean 'species'?" in str(err) and "did you mean 'petal_width'?" in str(err)


def test_csv_missing_file_names_resolved_path(tmp_path):
    err = error_of({"csv": "nope.csv"}, tmp_path)
    assert err.diagnostics[0].path == ("data", "csv") and str(tmp_path / "nope.csv") in str(err)


def test_csv_non_numeric_feature_names_the_column(tmp_path):
    write(tmp_path / "t.csv", "a,colour,y\n1,red,0\n2,blue,1\n")
    err = error_of({"csv": "t.csv"}, tmp_path)
    assert "'colour'" in str(err) and "not numeric" in str(err) and "'red'" in str(err)


def test_csv_empty_and_nan_cells_name_row_and_column(tmp_path):
    write(tmp_path / "t.csv", "a,b,y\n1,2,0\n3,,1\n4,nan,0\n")
    err = error_of({"csv": "t.csv"}, tmp_path)
    assert "'b'" in str(err) and "line 3" in str(err) and "1 more" in str(err)
    write(tmp_path / "u.csv", "a,y\n1,0\n2,\n")
    assert "line 3" in str(error_of({"csv": "u.csv"}, tmp_path))


# ---------------------------------------------------------------- NPZ

def test_npz_defaults_and_official_test_split(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 3)), y=np.arange(6) % 2,
             x_test=np.ones((2, 3)), y_test=np.array([0, 1]), class_names=np.array(["no", "yes"]))
    a = load_arrays({"npz": "d.npz"}, tmp_path)
    assert a.x_train.shape == (6, 3) and a.x_train.dtype == np.float32
    assert a.x_test.shape == (2, 3) and a.y_test.tolist() == [0, 1]
    assert a.task == "classification" and a.class_names == ("no", "yes") and a.y_train.dtype == np.int32


def test_npz_custom_keys_use_their_own_test_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", feats=np.zeros((4, 2)), target=np.linspace(0, 1, 4),
             feats_test=np.zeros((1, 2)), target_test=np.array([0.5]))
    a = load_arrays({"npz": "d.npz", "x": "feats", "y": "target"}, tmp_path)
    assert a.task == "regression" and a.y_train.dtype == np.float32 and a.class_names is None
    assert a.x_test.shape == (1, 2)


def test_npz_multi_input_dict(tmp_path):
    np.savez(tmp_path / "d.npz", img=np.zeros((5, 4, 4, 1), np.uint8), meta=np.zeros((5, 2)), y=np.arange(5))
    a = load_arrays({"npz": "d.npz", "x": {"image": "img", "tab": "meta"}}, tmp_path)
    assert set(a.x_train) == {"image", "tab"} and a.x_train["image"].dtype == np.uint8
    assert a.x_test is None


def test_npz_unknown_keys_with_suggestions(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 3)), labels=np.arange(2))
    err = error_of({"npz": "d.npz", "x": {"a": "image"}, "y": "lables"}, tmp_path)
    assert [d.path for d in err.diagnostics] == [("data", "x", "a"), ("data", "y")]
    assert "did you mean 'images'?" in str(err) and "did you mean 'labels'?" in str(err)


def test_npz_length_mismatch_and_bad_file(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=np.arange(2))
    assert "differ in length" in str(error_of({"npz": "d.npz"}, tmp_path))
    write(tmp_path / "bad.npz", "not a zip")
    assert error_of({"npz": "bad.npz"}, tmp_path).diagnostics[0].path == ("data", "npz")


def test_npz_0d_array_is_a_located_error_not_a_type_error(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.float32(3.0), y=np.arange(4))
    err = error_of({"npz": "d.npz"}, tmp_path)
    assert [d.path for d in err.diagnostics] == [("data", "npz")]  # the default key: at the file's line
    assert "array 'x' is a single value (shape ())" in str(err)


def test_npz_nan_or_inf_features_are_refused_with_a_count(tmp_path):
    x = np.zeros((5, 2, 3), np.float32)
    x[1, 0, 2], x[3, 1, 1], x[3, 0, 0] = np.nan, np.inf, np.nan
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(5) % 2, x_test=np.zeros((2, 2, 3)), y_test=np.array([0, 1]))
    err = error_of({"npz": "d.npz", "x": "x"}, tmp_path)
    assert [d.path for d in err.diagnostics] == [("data", "npz")]
    assert "array 'x' holds 3 NaN or infinite values in 2 of 5 samples (first: sample 1)" in str(err)
    y = np.array([0.5, np.nan, 1.0])  # regression targets too, and the official test split
    np.savez(tmp_path / "r.npz", feats=np.zeros((3, 2)), y=y, feats_test=np.full((1, 2), np.nan),
             y_test=np.array([0.0]))
    err = error_of({"npz": "r.npz", "x": "feats"}, tmp_path)
    assert [d.path for d in err.diagnostics] == [("data", "x"), ("data", "npz")]
    assert "'feats_test' holds 2 NaN" in str(err) and "'y' holds 1 NaN or infinite values in 1 of 3" in str(err)


# ---------------------------------------------------------------- splits

def table(n=200, classes=4, test=False) -> Arrays:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 3)).astype(np.float32), np.arange(n, dtype=np.int32) % classes
    xt, yt = (x[:10], y[:10]) if test else (None, None)
    return Arrays(x, y, xt, yt, tuple("abcd"[:classes]), "classification", "t")


def test_split_sizes_stratified_and_disjoint():
    s = split_arrays(table(), validation_split=0.1, test_split=0.2, seed=3)
    assert len(s.test[1]) == 40 and len(s.val[1]) == 16 and len(s.train[1]) == 144
    assert np.bincount(s.test[1]).tolist() == [10] * 4 and np.bincount(s.val[1]).tolist() == [4] * 4
    rows = [tuple(r) for part in (s.train, s.val, s.test) for r in part[0]]
    assert len(set(rows)) == 200


def test_split_is_deterministic_per_seed():
    a = split_arrays(table(), validation_split=0.1, test_split=0.2, seed=3)
    b = split_arrays(table(), validation_split=0.1, test_split=0.2, seed=3)
    c = split_arrays(table(), validation_split=0.1, test_split=0.2, seed=4)
    assert np.array_equal(a.train[0], b.train[0]) and np.array_equal(a.val[0], b.val[0])
    assert not np.array_equal(a.test[0], c.test[0])


def test_split_uses_official_test_and_no_validation():
    s = split_arrays(table(test=True), validation_split=0, test_split=0.5, seed=0)
    assert s.val is None and len(s.test[1]) == 10 and len(s.train[1]) == 200


def test_split_dict_inputs_stay_aligned():
    base = table()
    x = {"a": base.x_train, "b": base.x_train[:, 0] * 2}
    s = split_arrays(Arrays(x, base.y_train, None, None, None, "classification", "t"),
                     validation_split=0.25, test_split=0.2, seed=1)
    for xs, ys in (s.train, s.val, s.test):
        assert np.allclose(xs["b"], xs["a"][:, 0] * 2) and len(xs["a"]) == len(ys)


def test_split_falls_back_when_a_class_is_too_small():
    y = np.array([0] * 19 + [1], np.int32)
    a = Arrays(np.arange(20, dtype=np.float32)[:, None], y, None, None, ("a", "b"), "classification", "t")
    with pytest.warns(UserWarning, match="stratify"):
        s = split_arrays(a, validation_split=0, test_split=0.2, seed=0)
    assert len(s.test[1]) == 4


def test_split_regression_and_bad_fractions():
    a = Arrays(np.zeros((50, 2), np.float32), np.linspace(0, 1, 50, dtype=np.float32), None, None, None,
               "regression", "r")
    assert len(split_arrays(a, validation_split=0.2, test_split=0.2, seed=0).val[1]) == 8
    with pytest.raises(SpecError) as info:
        split_arrays(a, validation_split=1.5, test_split=0, seed=0)
    assert [d.path for d in info.value.diagnostics] == [("data", "validation_split")]
    with pytest.raises(SpecError) as info:
        split_arrays(a, validation_split=0.1, test_split=0, seed=0)
    assert info.value.diagnostics[0].path == ("data", "test_split")


def test_data_modules_do_not_import_tensorflow():
    code = ("import sys, pathlib; from builder.data.load import load_arrays; "
            "from builder.data.splits import split_arrays; load_arrays({'dataset': 'iris'}, pathlib.Path('.')); "
            "assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules), 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_csv_non_numeric_reported_before_missing(tmp_path):
    write(tmp_path / "t.csv", "a,colour,y\n1,,0\n2,red,1\n")
    err = error_of({"csv": "t.csv"}, tmp_path)
    assert "not numeric" in str(err) and "'red'" in str(err) and "line 3" in str(err)


def test_csv_nan_target_is_an_error_not_a_class(tmp_path):
    write(tmp_path / "t.csv", "a,y\n1,0.5\n2,nan\n3,1.5\n")
    err = error_of({"csv": "t.csv"}, tmp_path)
    assert "Target column 'y'" in str(err) and "line 3" in str(err)


def test_csv_duplicate_header_and_binary_file(tmp_path):
    write(tmp_path / "t.csv", "a,a,y\n1,2,0\n")
    assert "repeats header" in str(error_of({"csv": "t.csv"}, tmp_path))
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00garbage\xff")
    assert error_of({"csv": "b.csv"}, tmp_path).diagnostics[0].path == ("data", "csv")


def test_fit_on_an_npz_with_nan_stops_before_training_at_the_data_line(tmp_path, monkeypatch):
    """As a user meets it: spec and data in their own folder, the command run from another one."""
    from click.testing import CliRunner

    from builder.cli.main import main

    project, cwd = tmp_path / "project", tmp_path / "cwd"
    project.mkdir(), cwd.mkdir()
    x = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
    x[7, 2] = np.nan
    np.savez(project / "mine.npz", x=x, y=np.arange(20) % 3)
    (project / "spec.yaml").write_text(
        "name: mine\ndata:\n  npz: mine.npz\nmodel:\n  inputs: {x: {shape: [4]}}\n"
        "  layers: [{dense: {units: 3, activation: softmax}}]\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\nfit: {epochs: 1}\n")
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, ["fit", str(project / "spec.yaml"), "-q"])
    assert result.exit_code == 2, result.output
    assert f"{project / 'spec.yaml'}:3:" in result.output and "  npz: mine.npz" in result.output
    assert "'x' holds 1 NaN or infinite values in 1 of 20 samples (first: sample 7)" in result.output
    assert "Traceback" not in result.output and not (cwd / "runs").exists() and not (project / "runs").exists()


def test_split_takes_the_fractions_people_think_in(write_spec, tmp_path):
    """split: [0.8, 0.1, 0.1] of 1,000 samples → 800 / 100 / 100, and spec.resolved.yaml (which
    holds split and the derived validation_split and test_split) loads again as it is."""
    import builder
    from builder.data.load import load_splits
    from builder.spec.dump import dump_yaml

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(1000, 3)).astype("float32"), y=rng.integers(0, 2, 1000))
    spec = builder.load_spec(write_spec("""
        name: s
        data: {npz: d.npz, split: [0.8, 0.1, 0.1]}
        model:
          inputs: {x: {shape: [3]}}
          layers: [{dense: {units: 2, activation: softmax}}]
        compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
    """))
    splits = load_splits(spec)
    assert (len(splits.train[1]), len(splits.val[1]), len(splits.test[1])) == (800, 100, 100)
    again = tmp_path / "resolved.yaml"
    again.write_text(dump_yaml(spec.values))
    assert builder.load_spec(again).data["validation_split"] == pytest.approx(1 / 9)
