"""dlbuild predict's rows: text inputs are written whole; only the screen table shortens them."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

from builder.export.input_files import read_inputs
from builder.export.predict import SCREEN_INPUT_CHARS, format_table, write_rows

REVIEW = 'A long review, with commas and "quotes", that goes on well past forty characters: ' + "x" * 100


def test_text_inputs_reach_the_output_csv_whole(tmp_path: Path):
    texts = tmp_path / "reviews.txt"
    texts.write_text(REVIEW + "\nshort one\n", encoding="utf-8")
    _, labels = read_inputs(texts, SimpleNamespace(inputs=[("text", (1,), "string")]))
    assert labels == [REVIEW, "short one"]
    rows = [{"input": label, "class": "pos", "probability": 0.9, "probabilities": {"neg": 0.1, "pos": 0.9}}
            for label in labels]
    write_rows(rows, tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert [r["input"] for r in back] == [REVIEW, "short one"] and back[0]["p_pos"] == "0.9"
    table = format_table(rows)
    assert REVIEW[:SCREEN_INPUT_CHARS - 1] + "…" in table and REVIEW not in table and "short one" in table


def test_a_numeric_column_with_an_empty_cell_is_named(tmp_path: Path):
    import pytest

    from builder.export.predictor import PredictError

    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n1.0,,3.0\n4.0,5.0,6.0\n")
    with pytest.raises(PredictError, match=r"rows\.csv: column 'b' has an empty cell \(data row 1\); predict takes "
                                           r"complete rows"):
        read_inputs(rows, SimpleNamespace(inputs=[("x", (3,), "float32")], target=None))
