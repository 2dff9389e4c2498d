"""The corpus of broken specs (tests/spec/broken/*.yaml): each produces its expected errors.

Every file is a realistic spec with a mistake (one file has three) and states what ``dlbuild``
must say about it in its header comments::

    # expect: 12:15 Dense\\(\\) has no argument 'unit'; did you mean 'units'\\?
    # expect: --set:1:9 'compile.optimzer' does not exist in the spec; did you mean 'optimizer'\\?
    # command: fit          (default: validate)
    # set: fit.epochs=1     (one --set per line, in order)
    # xfail: REASON         (a known gap: the test is expected to fail, strictly, until fixed)

``LINE:COL`` is the 1-based position of the caret (``--set:1:COL`` for errors in a ``--set``
text); the rest of the line is a regular expression that the message must match from its start.
For each file the CLI must exit with code 2, print exactly the expected errors in GNU format
(``FILE:LINE:COL: error: MESSAGE``), each followed by the quoted line and a caret under COL, a
count header when there are several, and never a traceback.

Files are read as bytes and decoded with replacement characters, as dlbuild quotes them, so the
corpus can hold files that are not UTF-8 (``non_utf8_*.yaml``). A spec past the size cap is
generated at test time (``test_huge_spec_is_rejected``) rather than stored.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.cli.main import main

BROKEN = Path(__file__).parent / "broken"
FILES = sorted(BROKEN.glob("*.yaml"))
_EXPECT = re.compile(r"^#\s*expect:\s*(?:(--set):)?(\d+):(\d+)\s+(.*\S)\s*$")
_ERROR_LINE = re.compile(r"^.+?:\d+:\d+: error: ", re.M)


@dataclass
class Expectation:
    origin: str | None  # None: the spec file; "--set": the --set text
    line: int
    column: int
    pattern: str


@dataclass
class Case:
    path: Path
    command: str = "validate"
    sets: list = field(default_factory=list)
    expects: list = field(default_factory=list)
    xfail: str | None = None


def read_text(path: Path) -> str:
    """The file's text as dlbuild quotes it: UTF-8, invalid bytes replaced."""
    return path.read_bytes().decode("utf-8", errors="replace")


def parse_case(path: Path) -> Case:
    case = Case(path)
    for text in read_text(path).splitlines():
        if not text.startswith("#"):
            break
        if m := _EXPECT.match(text):
            case.expects.append(Expectation(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)))
        elif m := re.match(r"^#\s*command:\s*(\S+)", text):
            case.command = m.group(1)
        elif m := re.match(r"^#\s*set:\s*(.*\S)", text):
            case.sets.append(m.group(1))
        elif m := re.match(r"^#\s*xfail:\s*(.*\S)", text):
            case.xfail = m.group(1)
        elif re.match(r"^#\s*expect:", text):
            raise ValueError(f"{path.name}: malformed expect line: {text!r}")
    return case


def run_cli(case: Case, tmp_path: Path):
    args = [case.command, str(case.path)]
    for s in case.sets:
        args += ["--set", s]
    if case.command == "fit":
        args += ["--runs-root", str(tmp_path / "runs"), "--quiet"]
    return CliRunner().invoke(main, args)


def test_corpus_is_large_enough():
    assert len(FILES) >= 200
    assert any(len(parse_case(p).expects) == 3 for p in FILES)


def _param(path: Path):
    case = parse_case(path)
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    if case.command != "validate":  # fit imports TensorFlow and builds the model (or loads data and trains)
        marks.append(pytest.mark.slow)
    return pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize("path", [_param(p) for p in FILES])
def test_broken_spec(path: Path, tmp_path: Path):
    case = parse_case(path)
    assert case.expects, f"{path.name} has no '# expect:' line"
    result = run_cli(case, tmp_path)
    report = result.stderr
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, f"exit code {result.exit_code}; output:\n{result.output}\n{result.exception!r}"

    source_lines = [t.replace("\t", " ") for t in read_text(path).splitlines()]
    lines = report.splitlines()
    for e in case.expects:
        origin = e.origin or str(path)
        head = re.compile(re.escape(f"{origin}:{e.line}:{e.column}: error: ") + f"(?:{e.pattern})")
        hits = [i for i, text in enumerate(lines) if head.match(text)]
        assert hits, f"expected '{origin}:{e.line}:{e.column}: error: {e.pattern}' in:\n{report}"
        i = hits[0]
        # The user's own text: the spec's line, or the N-th --set for "--set:N:COL".
        quoted = case.sets[e.line - 1] if e.origin == "--set" else source_lines[e.line - 1]
        gutter = f"{e.line:>5} | "
        assert lines[i + 1] == gutter + quoted, f"quoted line wrong in:\n{report}"
        assert lines[i + 2] == " " * (len(gutter) - 2) + "| " + " " * (e.column - 1) + "^", \
            f"caret wrong in:\n{report}"

    n = len(case.expects)
    assert len(_ERROR_LINE.findall(report)) == n, f"expected exactly {n} error(s), got:\n{report}"
    if n > 1:
        assert lines[0] == f"{path}: {n} errors", report
    else:
        assert not re.match(r".*: \d+ errors$", lines[0]), report
    # Sorted by position within the spec file.
    positions = [tuple(map(int, m.groups())) for m in re.finditer(
        re.escape(str(path)) + r":(\d+):(\d+): error: ", report)]
    assert positions == sorted(positions), report


def test_alias_bomb_is_rejected_quickly(tmp_path: Path):
    case = parse_case(BROKEN / "alias_bomb.yaml")
    started = time.perf_counter()
    result = run_cli(case, tmp_path)
    elapsed = time.perf_counter() - started
    assert result.exit_code == 2
    assert "expands to more than" in result.stderr
    assert elapsed < 5, f"alias bomb took {elapsed:.1f} s to reject"


def test_huge_spec_is_rejected(tmp_path: Path):
    """A spec past the size cap (a generated or concatenated file) is refused before parsing."""
    from builder.spec.source import MAX_BYTES

    path = tmp_path / "huge.yaml"
    filler = "# " + "x" * 98 + "\n"
    path.write_text("name: huge\n" + filler * (MAX_BYTES // len(filler) + 1))
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith(f"{path}:1:1: error: spec is over {MAX_BYTES:,} bytes, the limit "
                                    "(reading stopped there)")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_spec_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind):
    """A FIFO would block the read forever, /dev/zero never ends: neither is opened."""
    import os

    if kind == "fifo":
        path = tmp_path / "spec.yaml"
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "specs.yaml"
        path.mkdir()
    from builder.spec.load import load_spec
    from builder.errors import SpecError

    started = time.perf_counter()
    with pytest.raises(SpecError) as err:
        load_spec(path)
    expected = {"fifo": "a FIFO", "device": "not a regular file", "directory": "a directory"}[kind]
    assert err.value.format() == f"{path}: error: cannot read spec: it is {expected}; a spec is a YAML file"
    assert time.perf_counter() - started < 5


def test_deep_nesting_is_rejected_quickly(tmp_path: Path):
    """Brackets nested far past Python's recursion limit: a located error, not a RecursionError."""
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nmodel: " + "[" * 50_000 + "]" * 50_000 + "\n")
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "nests mappings and lists more than" in result.stderr
    assert time.perf_counter() - started < 10
