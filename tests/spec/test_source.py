"""YAML loading: positions, PyYAML traps, tags, --set overrides."""

import pytest

from builder.errors import SpecError
from builder.spec.overrides import apply_overrides
from builder.spec.source import loads


def test_positions_of_keys_and_values():
    src = loads("a:\n  b: [1, 2]\n  c: {d: x}\n")
    assert src.positions[("a", "b")] == ((2, 3), (2, 6))
    assert src.positions[("a", "b", 1)] == (None, (2, 10))
    assert src.positions[("a", "c", "d")] == ((3, 7), (3, 10))


def test_exponent_without_dot_reads_as_float_but_quoted_stays_text():
    src = loads("lr: 1e-3\nq: '1e-3'\nbig: 2E5\n")
    assert src.values == {"lr": 0.001, "q": "1e-3", "big": 200000.0}


def test_yaml11_booleans_stay_words_but_true_false_are_booleans():
    src = loads("a: on\nb: no\nc: true\nd: False\n")
    assert src.values == {"a": "on", "b": "no", "c": True, "d": False}


def test_duplicate_key_is_an_error_at_the_second_key():
    with pytest.raises(SpecError, match=r"duplicate key 'b' \(first given at line 2\)") as e:
        loads("a:\n  b: 1\n  b: 2\n", "x.yaml")
    assert "x.yaml:3:3: error" in str(e.value)


def test_python_tags_are_rejected_with_location():
    with pytest.raises(SpecError, match="YAML tag .*python/object/apply:os.system.* is not allowed") as e:
        loads("a: 1\nb: !!python/object/apply:os.system [echo hi]\n", "x.yaml")
    assert "x.yaml:2:4:" in str(e.value)


def test_set_overrides_values_and_adds_keys():
    src = loads("fit: {epochs: 3}\nmodel: {layers: [{dense: {units: 4}}]}\n")
    apply_overrides(src, ["fit.epochs=7", "fit.batch_size=16", "model.layers[0].dense.units=8",
                          "fit.lr=3e-4"])
    assert src.values["fit"] == {"epochs": 7, "batch_size": 16, "lr": 3e-4}
    assert src.values["model"]["layers"][0]["dense"]["units"] == 8


def test_set_reports_every_bad_path_with_did_you_mean():
    src = loads("fit: {epochs: 3}\nmodel: {layers: [{dense: {units: 4}}]}\n")
    with pytest.raises(SpecError) as e:
        apply_overrides(src, ["fitt.epochs=1", "model.layers[3].dense.units=2", "nonsense"])
    text = str(e.value)
    assert "--set:1:1: error: 'fitt' does not exist in the spec; did you mean 'fit'?" in text
    assert "--set:2:13: error: 'model.layers[3]' does not exist: the list has 1 item(s)" in text
    assert "--set:3:1: error: expected PATH=VALUE" in text
    assert "3 errors" in text
