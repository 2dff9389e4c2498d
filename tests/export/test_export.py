"""dlbuild export / predict end to end: a CNN on real Fashion-MNIST, an LSTM and a small
Transformer on synthetic NPZ data; every artifact verified by its own runtime; tampered
artifacts fail verification with exit 1. The ONNX tests skip when the optional extra
(``pip install "dlbuild[onnx]"``: tf2onnx, onnxruntime) is not installed."""

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import builder
from builder.cli.export import export_cmd, predict_cmd
from builder.export.api import ExportError, export_run, verify_run
from builder.export.predict import predict
from builder.export.to_onnx import onnx_missing

CNN = """
name: tiny_cnn
seed: 5
data: {dataset: fashion_mnist, validation_split: 0.1, max_train_samples: 512}
model:
  inputs: {image: {shape: [28, 28, 1]}}
  layers:
    - rescaling: {scale: 0.00392156862745098}
    - conv2d: {filters: 8, kernel_size: 3, activation: relu}
    - max_pooling2d: 2
    - flatten
    - dense: {units: 10, activation: softmax}
compile: {optimizer: {adam: 3.0e-3}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 1, batch_size: 64}
export: {formats: [keras, saved_model, tflite], quantization: int8-io}
"""

LSTM = """
name: tiny_lstm
seed: 3
data: {npz: seq.npz, validation_split: 0.1, test_split: 0.3}
model:
  inputs: {series: {shape: [12, 3]}}
  layers:
    - lstm: {units: 8}
    - dense: {units: 2, activation: softmax}
compile: {optimizer: {adam: 1.0e-2}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 2, batch_size: 32}
"""

TRANSFORMER = """
name: tiny_transformer
seed: 3
data: {npz: tok.npz, validation_split: 0.1, test_split: 0.3}
model:
  inputs: {tokens: {shape: [16], dtype: int32}}
  layers:   # dlbuild's composite layers, so every export format is proven on them
    - token_and_position_embedding: {vocabulary_size: 40, sequence_length: 16, embedding_dim: 16}
    - transformer_encoder: {num_heads: 2, intermediate_dim: 32}
    - global_average_pooling1d
    - dense: {units: 2, activation: softmax}
compile: {optimizer: {adam: 1.0e-2}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 3, batch_size: 32}
"""

FIELDS = {"artifact", "format", "quantization", "bytes", "max_abs_diff", "accuracy", "latency_ms", "verdict", "reason"}
quiet = lambda *a, **k: None  # noqa: E731


def _train(tmp, text: str, name: str):
    spec_path = tmp / f"{name}.yaml"
    spec_path.write_text(textwrap.dedent(text).lstrip())
    run = tmp / f"run_{name}"
    builder.fit(builder.load_spec(spec_path), run_dir=run, verbose=0, log=quiet)
    return run


def _by_artifact(run) -> dict:
    return {e["artifact"]: e for e in json.loads((run / "export.json").read_text())["artifacts"]}


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """A tiny CNN trained one epoch on 512 real Fashion-MNIST images, exported through the CLI
    with the spec's formats and every TFLite quantization."""
    tmp = tmp_path_factory.mktemp("cnn")
    run = _train(tmp, CNN, "cnn")
    args = [str(run), "--check-samples", "300", "--calibration-samples", "100"]
    for q in ("none", "float16", "dynamic", "int8", "int8-io"):
        args += ["--quantization", q]
    result = CliRunner().invoke(export_cmd, args)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """seq.npz: (600, 12, 3) float sequences, label = sign of the first feature's sum;
    tok.npz: (600, 16) int32 tokens in [1, 40), label = more than 8 tokens below 20."""
    tmp = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12, 3)).astype("float32")
    np.savez(tmp / "seq.npz", x=x, y=(x[:, :, 0].sum(1) > 0).astype("int32"), class_names=np.array(["neg", "pos"]))
    t = rng.integers(1, 40, (600, 16)).astype("int32")
    np.savez(tmp / "tok.npz", x=t, y=((t < 20).sum(1) > 8).astype("int32"))
    return tmp


def test_untrained_run_exports_verifies_and_predicts(fake_run, tmp_path):
    """No training: an untrained iris MLP through .keras and fp32 TFLite, re-verified, then
    predicted with the class names its sidecar carries."""
    report = export_run(fake_run, formats=["keras", "tflite"], log=quiet, check_samples=20)
    arts = {e["artifact"]: e for e in report["artifacts"]}
    assert list(arts) == ["export/model.keras", "export/model.tflite"]
    assert all(e["verdict"] == "ok" and e["max_abs_diff"] <= 1e-5 for e in arts.values()), arts
    side = json.loads((fake_run / "export/model.tflite.json").read_text())
    assert side["inputs"][0]["name"] == "features" and side["signature"] == "serving_default"
    again = verify_run(fake_run, log=quiet, check_samples=20)
    assert [e["verdict"] for e in again["artifacts"]] == ["ok", "ok"]
    np.save(tmp_path / "x.npy", np.ones((3, 4), "float32"))
    rows = predict(fake_run / "export/model.tflite", tmp_path / "x.npy")
    assert [r["input"] for r in rows] == ["0", "1", "2"]
    assert all(r["class"] in side["class_names"] for r in rows), rows


@pytest.mark.slow
def test_cnn_every_format_verified_with_its_own_runtime(cnn_run):
    arts = _by_artifact(cnn_run)
    assert set(arts) == {"export/model.keras", "export/saved_model", "export/model.tflite",
                         "export/model.float16.tflite", "export/model.dynamic.tflite",
                         "export/model.int8.tflite", "export/model.int8-io.tflite"}
    for name, e in arts.items():
        assert FIELDS <= set(e), name
        assert e["verdict"] == "ok" and e["reason"] is None, (name, e["reason"])
        assert e["bytes"] > 0 and e["latency_ms"] > 0 and e["accuracy"] is not None
        assert (cnn_run / f"{name}.json").is_file(), name  # sidecar
    assert arts["export/model.keras"]["max_abs_diff"] <= 1e-5
    assert arts["export/saved_model"]["max_abs_diff"] <= 1e-5
    assert arts["export/model.tflite"]["max_abs_diff"] <= 1e-5
    assert arts["export/model.float16.tflite"]["max_abs_diff"] <= 1e-3
    ratio = arts["export/model.tflite"]["bytes"] / arts["export/model.int8.tflite"]["bytes"]
    assert ratio >= 2.0, ratio  # measured ~3.2x on this model; the Dense kernel dominates

    side = json.loads((cnn_run / "export/model.int8-io.tflite.json").read_text())
    assert side["inputs"][0]["name"] == "image" and side["inputs"][0]["dtype"] == "int8"
    assert side["inputs"][0]["quantization"]["scale"] > 0 and side["outputs"][0]["dtype"] == "int8"
    assert side["class_names"][1] == "Trouser" and any("Rescaling" in n for n in side["preprocessing"])
    sm = json.loads((cnn_run / "export/saved_model.json").read_text())
    assert sm["inputs"][0]["signature_key"] == "image"  # the serving signature carries the spec's input name


@pytest.mark.slow
def test_tampered_artifacts_fail_verification_with_exit_1(cnn_run, tmp_path):
    import keras

    run = tmp_path / "run"
    shutil.copytree(cnn_run, run)
    ok = CliRunner().invoke(export_cmd, [str(run), "--verify-only", "--check-samples", "100"])
    assert ok.exit_code == 0, ok.output

    # .keras: change one weight after export
    path = run / "export/model.keras"
    model = keras.saving.load_model(path, safe_mode=True)
    kernel, bias = model.layers[-1].get_weights()
    shift = 3.0 * (np.arange(10) == 0)  # not a constant: softmax is invariant to one
    model.layers[-1].set_weights([kernel, bias + shift])
    model.save(path)
    # .tflite: overwrite the Dense bias bytes inside the flatbuffer
    tfl = run / "export/model.tflite"
    blob = tfl.read_bytes()
    at = blob.find(bias.astype("<f4").tobytes())
    assert at > 0
    tfl.write_bytes(blob[:at] + (bias + shift).astype("<f4").tobytes() + blob[at + 40:])

    bad = CliRunner().invoke(export_cmd, [str(run), "--verify-only", "--check-samples", "100"])
    assert bad.exit_code == 1, bad.output
    assert "export/model.keras: max |Δ|" in bad.output and "export/model.tflite: max |Δ|" in bad.output
    assert "Traceback" not in bad.output
    arts = _by_artifact(run)
    assert arts["export/model.keras"]["verdict"] == "failed" and arts["export/saved_model"]["verdict"] == "ok"


@pytest.mark.slow
def test_predict_npz_and_png_directory_print_class_names(cnn_run, tmp_path):
    import keras

    from builder.data.sources.bundled import load_dataset

    data = load_dataset("fashion_mnist")
    np.savez(tmp_path / "few.npz", x=data.x_test[:5])
    out = CliRunner().invoke(predict_cmd, [str(cnn_run), str(tmp_path / "few.npz")])
    assert out.exit_code == 0, out.output
    assert "class" in out.output and any(c in out.output for c in data.class_names)

    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        keras.utils.save_img(images / f"img{i}.png", data.x_test[i], scale=False)
    for model in (cnn_run / "export/model.int8-io.tflite", cnn_run / "export/saved_model"):
        res = CliRunner().invoke(predict_cmd, [str(model), str(images), "--output", str(tmp_path / "p.json")])
        assert res.exit_code == 0, res.output
        rows = json.loads((tmp_path / "p.json").read_text())
        assert [r["input"] for r in rows] == ["img0.png", "img1.png", "img2.png"]
        assert all(r["class"] in data.class_names and 0 <= r["probability"] <= 1 for r in rows)


@pytest.fixture(scope="module")
def lstm_run(synthetic):
    return _train(synthetic, LSTM, "lstm")


@pytest.fixture(scope="module")
def transformer_run(synthetic):
    return _train(synthetic, TRANSFORMER, "transformer")


def _onnx():
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")


@pytest.mark.slow
def test_lstm_static_batch_exports_and_int8_crash_is_reported(lstm_run):
    run = lstm_run
    report = export_run(run, formats=["keras", "saved_model", "tflite"], quantization=["none", "dynamic"],
                        log=quiet, check_samples=100)
    arts = {e["artifact"]: e for e in report["artifacts"]}
    assert all(e["verdict"] == "ok" for e in arts.values()), arts
    assert arts["export/model.tflite"]["batch"] == 1 and arts["export/model.tflite"]["max_abs_diff"] <= 1e-5
    assert not any(o.startswith("Flex") for o in arts["export/model.tflite"]["ops"])
    # docs/architecture.md, "Verified facts: LiteRT": int8 calibration of a static-batch LSTM crashes the converter; a child process
    # turns that into a clean, actionable error.
    with pytest.raises(ExportError, match="unroll: true") as err:
        export_run(run, formats=["tflite"], quantization=["int8"], log=quiet, check_samples=50,
                   calibration_samples=20)
    assert err.value.failed[0][0] == "export/model.int8.tflite"
    assert not (run / "export/model.int8.tflite").exists()  # a failed artifact is not shipped


@pytest.mark.slow
def test_transformer_int8_keeps_integer_token_inputs(transformer_run):
    run = transformer_run
    report = export_run(run, formats=["saved_model", "tflite"], quantization=["int8", "int8-io"], log=quiet,
                        check_samples=150, calibration_samples=50)
    arts = {e["artifact"]: e for e in report["artifacts"]}
    assert set(arts) == {"export/saved_model", "export/model.tflite", "export/model.int8.tflite",
                         "export/model.int8-io.tflite"}
    assert all(e["verdict"] == "ok" for e in arts.values()), arts
    side = json.loads((run / "export/model.int8-io.tflite.json").read_text())
    assert side["inputs"][0]["name"] == "tokens" and side["inputs"][0]["dtype"] == "int32"
    assert side["outputs"][0]["dtype"] == "int8"


@pytest.mark.slow
def test_onnx_cnn_verified_with_onnxruntime_and_predicts(cnn_run, tmp_path):
    _onnx()
    run = tmp_path / "run"
    shutil.copytree(cnn_run, run)
    res = CliRunner().invoke(export_cmd, [str(run), "--format", "onnx", "--check-samples", "200"])
    assert res.exit_code == 0, res.output
    e = _by_artifact(run)["export/model.onnx"]
    assert FIELDS <= set(e) and e["verdict"] == "ok", e
    assert e["max_abs_diff"] <= 1e-5 and e["bytes"] > 0 and e["latency_ms"] > 0 and e["accuracy"] is not None
    side = json.loads((run / "export/model.onnx.json").read_text())
    assert side["format"] == "onnx" and side["opset"] >= 13 and side["class_names"][1] == "Trouser"
    assert side["inputs"][0]["name"] == "image" and side["inputs"][0]["signature_key"] == "image"
    assert side["inputs"][0]["shape"] == [None, 28, 28, 1] and side["inputs"][0]["dtype"] == "float32"
    assert "onnxruntime" in json.loads((run / "export.json").read_text())["versions"]

    from builder.data.sources.bundled import load_dataset

    np.save(tmp_path / "few.npy", load_dataset("fashion_mnist").x_test[:4])
    out = CliRunner().invoke(predict_cmd, [str(run / "export/model.onnx"), str(tmp_path / "few.npy"),
                                           "--output", str(tmp_path / "p.csv")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "p.csv").read_text().splitlines()[0].startswith("input,class,probability")

    # a tampered .onnx fails verification
    path = run / "export/model.onnx"
    blob = bytearray(path.read_bytes())
    import keras

    bias = keras.saving.load_model(run / "model.keras").layers[-1].get_weights()[1].astype("<f4").tobytes()
    at = bytes(blob).find(bias)
    assert at > 0
    blob[at:at + 4] = np.float32(5.0).tobytes()
    path.write_bytes(bytes(blob))
    bad = CliRunner().invoke(export_cmd, [str(run), "--verify-only", "--check-samples", "100"])
    assert bad.exit_code == 1 and "export/model.onnx: max |Δ|" in bad.output, bad.output


@pytest.mark.slow
def test_onnx_lstm_and_transformer(lstm_run, transformer_run):
    _onnx()
    for run in (lstm_run, transformer_run):
        report = export_run(run, formats=["onnx"], log=quiet, check_samples=100)
        (e,) = report["artifacts"]
        assert e["artifact"] == "export/model.onnx" and e["verdict"] == "ok", e
        assert e["batch"] == "dynamic" and e["max_abs_diff"] <= 1e-5
    side = json.loads((transformer_run / "export/model.onnx.json").read_text())
    assert side["inputs"][0]["name"] == "tokens" and side["inputs"][0]["dtype"] == "int32"


@pytest.mark.slow
def test_onnx_without_the_extra_names_the_pip_command(cnn_run, tmp_path, monkeypatch):
    # Simulate the extra being absent: find_spec() returns None for a module set to None in sys.modules.
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    assert importlib.util.find_spec("tf2onnx") is None
    run = tmp_path / "run"
    shutil.copytree(cnn_run, run)
    before = (run / "export.json").read_text()
    res = CliRunner().invoke(export_cmd, [str(run), "--format", "tflite", "--format", "onnx"])
    assert res.exit_code == 1
    assert 'pip install "dlbuild[onnx]"' in res.output and "tf2onnx" in res.output, res.output
    assert "Traceback" not in res.output
    assert (run / "export.json").read_text() == before  # failed before doing any work


def test_keras_file_with_dlbuild_layers_loads_in_a_fresh_process(tmp_path):
    """load_keras imports builder.model.layers (registering dlbuild's serializable layers) first."""
    import keras

    import builder.model.layers

    TokenAndPositionEmbedding = getattr(builder.model.layers, "TokenAndPositionEmbedding", None)
    assert TokenAndPositionEmbedding is not None, "builder.model.layers no longer has TokenAndPositionEmbedding"

    inp = keras.Input((6,), dtype="int32", name="tokens")
    x = TokenAndPositionEmbedding(vocabulary_size=9, sequence_length=6, embedding_dim=4)(inp)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling1D()(x))
    model.save(tmp_path / "m.keras")
    code = ("import numpy as np; from builder.run.artifacts import load_keras; "
            f"m = load_keras({str(tmp_path / 'm.keras')!r}); print(m(np.ones((1, 6), 'int32')).shape)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(1, 4)" in proc.stdout


TINY_GPT = """
name: tiny_gpt
seed: 1
data:
  dataset: hamlet
  language_model: {sequence_length: 16, level: char, stride: 16, max_tokens: 68}
  max_train_samples: 256
  validation_split: 0.1
  test_split: 0.1
model:
  inputs: {chars: {shape: [16], dtype: int32}}
  layers:
    - token_and_position_embedding: {vocabulary_size: 68, sequence_length: 16, embedding_dim: 16}
    - transformer_decoder: {num_heads: 2, intermediate_dim: 32, activation: gelu, normalize_first: true}
    - layer_normalization
    - dense: 68
compile: {optimizer: adam, loss: {sparse_categorical_crossentropy: {from_logits: true}}}
fit: {epochs: 1, batch_size: 32}
"""


@pytest.mark.slow
def test_gpt_style_decoder_exports_with_token_accuracy_checked(tmp_path):
    """dlbuild's causal transformer_decoder with exact GELU (TensorFlow's Erfc, which tf2onnx 1.17
    cannot convert without dlbuild's handler) through TFLite fp32/int8 and ONNX; the check compares
    next-character accuracy per position, as for a classifier."""
    run = _train(tmp_path, TINY_GPT, "gpt")
    formats = ["tflite"] + (["onnx"] if not onnx_missing() else [])
    report = export_run(run, formats=formats, quantization=["none", "int8"], log=quiet, check_samples=64,
                        calibration_samples=32)
    arts = {e["artifact"]: e for e in report["artifacts"]}
    assert {"export/model.tflite", "export/model.int8.tflite"} <= set(arts)
    assert all(e["verdict"] == "ok" for e in arts.values()), arts
    assert all(e["accuracy"] is not None for e in arts.values())  # (n, 16) targets vs (n, 16, 68) outputs
    assert arts["export/model.tflite"]["max_abs_diff"] <= 1e-4
    if "onnx" in formats:
        assert arts["export/model.onnx"]["max_abs_diff"] <= 1e-4
