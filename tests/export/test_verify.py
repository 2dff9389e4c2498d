"""Verification checks on plain NumPy arrays (no TensorFlow), and the format/quantization tables."""

import numpy as np
import pytest

from builder.catalog.formats import FORMATS, QUANTIZATIONS
from builder.export.formats import FORMAT_TABLE, check_names, jobs
from builder.export.quantizations import QUANTIZATION_TABLE
from builder.export.verify import DEFAULT_THRESHOLDS, accuracy, check_outputs

TH = DEFAULT_THRESHOLDS


def _check(ref, got, quantization="none", y_true=None, ref_acc=None, classification=False):
    return check_outputs({}, [np.asarray(ref)], [np.asarray(got)], y_true, ref_acc, quantization, TH, classification)


def test_fp32_tolerance_is_absolute_plus_relative_to_the_reference():
    ref = np.array([[0.1, 0.9], [1000.0, -2000.0]])
    ok = _check(ref, ref + np.array([[5e-6, -5e-6], [5e-3, -1e-2]]))  # 1e-5 + 1e-5 * |2000| = 0.02
    assert ok["verdict"] == "ok" and ok["reason"] is None and ok["max_abs_diff"] == pytest.approx(1e-2)
    bad = _check(ref, ref + np.array([[3e-5, 0], [0, 0]]))
    assert bad["verdict"] == "failed" and "exceeds the fp32 tolerance 1e-05" in bad["reason"]
    assert _check(ref, ref + 5e-4, "float16")["verdict"] == "ok"  # float16: 1e-3 + 1e-3·|reference|


def test_shape_mismatch_and_non_finite_outputs_fail():
    ref = np.zeros((4, 3))
    shapes = _check(ref, np.zeros((4, 2)))
    assert shapes["verdict"] == "failed" and shapes["reason"].startswith("output shapes differ")
    assert shapes.get("max_abs_diff") is None
    got = ref.copy()
    got[0, 0] = np.nan
    assert _check(ref, got)["reason"] == "outputs contain NaN or infinity"


def test_quantized_classifier_is_judged_by_its_accuracy_drop():
    y = np.arange(100) % 2
    ref = np.eye(2)[y]  # the float model: every sample right
    wrong = ref.copy()
    wrong[:1] = wrong[:1, ::-1]  # one sample of 100 flipped: a drop of exactly 1 point passes
    e = _check(ref, wrong, "int8", y_true=y, ref_acc=1.0, classification=True)
    assert e["verdict"] == "ok" and e["accuracy"] == 0.99 and e["reference_accuracy"] == 1.0
    wrong[:2] = np.eye(2)[1 - y[:2]]
    e = _check(ref, wrong, "dynamic", y_true=y, ref_acc=1.0, classification=True)
    assert e["verdict"] == "failed" and "2.00 points below the float model's 1.0000" in e["reason"]


def test_quantized_regression_is_judged_by_mean_error_over_the_spread():
    ref = np.linspace(-1, 1, 50)[:, None]
    e = _check(ref, ref + 0.01, "int8-io")
    assert e["verdict"] == "ok" and e["relative_error"] == pytest.approx(0.01 / ref.std())
    e = _check(ref, ref + 0.1, "int8-io")
    assert e["verdict"] == "failed" and "exceeds 0.05" in e["reason"]


def test_accuracy_per_sample_sigmoid_and_per_position():
    assert accuracy(np.array([[0.2], [0.7], [0.9]]), np.array([0, 1, 0])) == pytest.approx(2 / 3)
    seq = np.eye(3)[np.array([[0, 1, 2], [2, 2, 2]])]  # (n=2, time=3, classes=3)
    assert accuracy(seq, np.array([[0, 1, 2], [2, 0, 2]])) == pytest.approx(5 / 6)
    assert accuracy(seq, None) is None


def test_tables_cover_the_catalog_names_and_plan_artifacts_in_table_order():
    assert tuple(FORMAT_TABLE) == FORMATS and tuple(QUANTIZATION_TABLE) == QUANTIZATIONS
    plan = [(f.name, q, f.artifact(q)) for f, q in jobs(["onnx", "tflite", "keras"], ["none", "int8"])]
    assert plan == [("keras", "none", "model.keras"), ("tflite", "none", "model.tflite"),
                    ("tflite", "int8", "model.int8.tflite"), ("onnx", "none", "model.onnx")]
    with pytest.raises(ValueError, match=r"unknown export format/quantization \['tflit', 'int4'\]"):
        check_names(["tflit"], ["int4"])
