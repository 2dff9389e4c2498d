"""builder.spec.dump: the YAML dlbuild writes for a spec, and the read paths anchored in it."""

from pathlib import Path

import yaml

from builder.spec.dump import READ_PATHS, anchor_read_paths, dump_yaml
from builder.spec.sections import DATA_SOURCES


def test_every_file_a_spec_reads_is_made_absolute_against_the_specs_folder(tmp_path):
    values = {"data": {"csv": "tables/mine.csv", "tokenize": {"vocabulary": "../pre/vocabulary.json"}},
              "model": {"init_from": "runs/pre", "layers": []},
              "compile": {"loss": "mse"}}
    anchored = anchor_read_paths(values, tmp_path / "project")
    assert anchored["data"]["csv"] == str(tmp_path / "project" / "tables" / "mine.csv")
    assert anchored["data"]["tokenize"]["vocabulary"] == str(tmp_path / "pre" / "vocabulary.json")
    assert anchored["model"]["init_from"] == str(tmp_path / "project" / "runs" / "pre")
    assert values["data"]["csv"] == "tables/mine.csv"  # the spec's own values are left as written
    # the text written from it reads the same from anywhere
    assert yaml.safe_load(dump_yaml(anchored))["data"]["csv"] == anchored["data"]["csv"]


def test_absolute_paths_bundled_names_and_absent_keys_stay_as_they_are(tmp_path):
    values = {"data": {"dataset": "iris", "npz": str(tmp_path / "x.npz"), "tokenize": None}, "model": {}}
    anchored = anchor_read_paths(values, Path("/elsewhere"))
    assert anchored == values


def test_every_data_source_but_the_bundled_one_is_a_read_path():
    data_keys = {key for section, key, option in READ_PATHS if section == "data" and option is None}
    assert data_keys == set(DATA_SOURCES) - {"dataset"}
