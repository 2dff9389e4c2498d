"""The notebooks in notebooks/ (issue #9): each runs top to bottom and keeps its output plots.

Two kinds of test:

* the committed files: executed top to bottom (execution counts 1, 2, 3, ... in cell order), no
  error outputs, every figure cell holds its PNG, each file under 1 MB (fast, no kernel);
* a quick execution of each notebook with nbclient in a temporary working directory (runs/ goes
  there), ``DLBUILD_NB_QUICK=1`` so its first code cell picks tiny epochs, data slices and trial
  budgets: no cell may fail, every figure cell must produce a PNG, and the CLI cells (``!dlbuild
  ...``, whose exit status IPython does not check) must print no error unless the cell is tagged
  ``expect-error``, in which case it must print a located one.

Cells that display a figure carry the tag ``figure:<name>``; :data:`FIGURES` lists the names each
notebook must have, so a figure cell that disappears is noticed too.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FIGURES = {
    "01_quickstart.ipynb": {"learning_curves", "confusion_matrix", "predictions"},
    "02_tuning.ipynb": {"best_so_far", "objective", "objective_vs_lr"},
    "03_sequences_and_transformers.ipynb": {"lstm_learning_curves", "transformer_learning_curves", "attention",
                                            "gpt_learning_curves"},
}
MAX_BYTES = 1_000_000
PNG = b"\x89PNG\r\n\x1a\n"
LOCATED_ERROR = re.compile(r"^\S+:\d+:\d+: error: ", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # `!` runs commands in a terminal, so dlbuild may colour its errors
CELL_TIMEOUT_S = 300


def tags(cell) -> list[str]:
    """The cell's metadata tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def figure_cells(nb) -> dict:
    """``{figure name: cell}`` for the cells tagged ``figure:<name>``."""
    return {t.split(":", 1)[1]: c for c in nb.cells for t in tags(c) if t.startswith("figure:")}


def pngs(cell) -> list[bytes]:
    """The decoded ``image/png`` outputs of a code cell."""
    return [base64.b64decode(o["data"]["image/png"]) for o in cell.get("outputs", [])
            if o["output_type"] in ("display_data", "execute_result") and "image/png" in o["data"]]


def stream_text(cell) -> str:
    """The cell's stdout and stderr text, without terminal colour codes."""
    return ANSI.sub("", "".join(o["text"] for o in cell.get("outputs", []) if o["output_type"] == "stream"))


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_committed_notebook_keeps_a_top_to_bottom_run_with_its_plots(name):
    path = NOTEBOOKS / name
    assert path.stat().st_size < MAX_BYTES, f"{name}: {path.stat().st_size} bytes; keep notebooks under 1 MB"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        f"{name}: not executed top to bottom in one kernel (execution counts out of order)"
    assert not [o for c in code for o in c.outputs if o["output_type"] == "error"], f"{name}: an error output"
    figures = figure_cells(nb)
    assert set(figures) == FIGURES[name]
    for fig, cell in figures.items():
        images = pngs(cell)
        assert images and all(img.startswith(PNG) for img in images), f"{name}: figure {fig} has no PNG output"
    first = code[0]
    assert "parameters" in tags(first) and "DLBUILD_NB_QUICK" in first.source


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_top_to_bottom_in_quick_mode(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DLBUILD_NB_QUICK", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    # `!dlbuild` cells must run this environment's console script, and the kernel this
    # environment's ipykernel (its kernelspec says "python", which jupyter_client replaces by
    # sys.executable); JUPYTER_PATH puts this environment's kernelspec ahead of a user-wide one.
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    probe = nbformat.v4.new_code_cell("import sys; print(sys.executable)")
    nb.cells.append(probe)

    # Raises CellExecutionError, with the cell and its traceback, if any cell fails.
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert stream_text(probe).strip() == sys.executable
    assert (tmp_path / "runs").is_dir(), "runs/ should be written in the notebook's working directory"
    for fig, cell in figure_cells(nb).items():
        images = pngs(cell)
        assert images, f"{name}: the cell of figure {fig} displayed no PNG"
        assert all(img.startswith(PNG) and len(img) > 2000 for img in images), f"{name}: figure {fig} is no plot"
    for cell in nb.cells:
        if cell.cell_type != "code" or not any(line.lstrip().startswith("!") for line in cell.source.splitlines()):
            continue
        text = stream_text(cell)
        if "expect-error" in tags(cell):
            assert LOCATED_ERROR.search(text), f"{name}: expected a located error from:\n{cell.source}\n{text}"
        else:
            assert "error:" not in text and "Traceback" not in text, f"{name}: a shell command failed:\n{text}"
