"""The code layout of issue 18, enforced: imports follow the data flow (import-linter's contracts in
.importlinter), and every module of builder/ is small and says what it does."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "builder").rglob("*.py"))
MAX_LINES = 320  # "no module over ~300 lines" (CONTRIBUTING.md)


def test_imports_follow_the_data_flow_without_cycles():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    done = subprocess.run([exe, "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_flow_contract_names_every_subpackage():
    config = (ROOT / ".importlinter").read_text()
    stages = {p.parent.name for p in (ROOT / "builder").glob("*/__init__.py")}
    stages |= {p.stem for p in (ROOT / "builder").glob("*.py") if p.stem not in ("__init__",)}
    missing = [s for s in sorted(stages) if f"builder.{s}" not in config]
    assert missing == [], f"add these to the layers contract in .importlinter: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small_and_documented(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{path.name} has {len(text.splitlines())} lines"
    if path.name == "__main__.py" or (path.name == "__init__.py" and not text.strip()):
        return
    doc = ast.get_docstring(ast.parse(text))
    assert doc and len(doc) >= 40, f"{path.relative_to(ROOT)} needs a docstring saying its one job"


def test_no_grab_bag_modules():
    names = {p.stem for p in MODULES}
    assert not names & {"utils", "util", "common", "helpers", "misc"}


def test_test_files_have_unique_names():
    """tests/ mirrors builder/ in folders without __init__.py, so pytest imports each test file by
    its base name: two files of one name stop the whole collection ("import file mismatch")."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
