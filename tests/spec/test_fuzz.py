"""Fuzzing the spec front end: every mutated spec is accepted or gets located errors.

Seeds are the real specs (``specs/*.yaml``, ``docs/examples/*.yaml``). Hypothesis mutates them

* as data: a key renamed (a typo), deleted or added; a value replaced by one of another type, an
  out-of-range number or random text; a list turned into a mapping or back; a value nested one
  level deeper; several of these at once — then the document is dumped back to YAML;
* as text: a line deleted, duplicated, re-indented or cut short; random characters inserted
  (YAML syntax errors, tabs, stray brackets);
* through ``--set``: an existing path or a misspelled one, set to a random value;

and runs exactly what ``dlbuild validate`` runs (:func:`builder.load_spec`). The outcome must be a
:class:`~builder.errors.SpecError` whose every diagnostic points at a real line and column of
the file (or of a ``--set`` text) — never another exception.

Example counts (hypothesis profiles, chosen with ``DLBUILD_FUZZ_PROFILE``):

* ``ci`` (default): 1,000 examples per test, derandomized (the same examples on every run), about
  a minute on 2 CPU cores;
* ``long``: 10,000 examples per test, random: ``DLBUILD_FUZZ_PROFILE=long pytest tests/spec/test_fuzz.py``
  (results in docs/reliability.md).

``DLBUILD_FUZZ_EXAMPLES=N`` overrides the count of either profile.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builder.errors import SpecError
from builder.spec.source import loads
from builder.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[2]
SEED_FILES = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "docs" / "examples").glob("*.yaml"))

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.filter_too_much], print_blob=True)
settings.register_profile("ci", max_examples=1000, derandomize=True, database=None, **_common)
settings.register_profile("long", max_examples=10_000, **_common)
_profile = os.environ.get("DLBUILD_FUZZ_PROFILE", "ci")
settings.load_profile(_profile)
if os.environ.get("DLBUILD_FUZZ_EXAMPLES"):
    settings.register_profile("custom", parent=settings.get_profile(_profile),
                              max_examples=int(os.environ["DLBUILD_FUZZ_EXAMPLES"]))
    settings.load_profile("custom")


def _absolute_data_paths(values: dict, directory: Path) -> dict:
    """Seeds are written to a temporary directory: make their data files absolute."""
    data = values.get("data")
    if isinstance(data, dict):
        for key in ("csv", "npz"):
            if isinstance(data.get(key), str):
                data[key] = str((directory / data[key]).resolve())
    return values


def _seed(path: Path) -> dict:
    return _absolute_data_paths(loads(path.read_text(), str(path)).values, path.parent)


WORK = Path(tempfile.mkdtemp(prefix="dlbuild-fuzz-"))


def _valid(doc: dict) -> bool:
    """Seeds that validate here (a few need a trained run, e.g. ``model.init_from``)."""
    path = WORK / "seed.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    try:
        load_spec(path)
    except SpecError:
        return False
    return True


SEEDS = [doc for doc in map(_seed, SEED_FILES) if _valid(doc)]

# --- strategies ---------------------------------------------------------------------------------

KEYWORDS = ["dense", "units", "activation", "relu", "softmax", "inputs", "layers", "name", "repeat",
            "choice", "int", "float", "step", "sampling", "log", "default", "adam", "loss", "metrics",
            "epochs", "batch_size", "shape", "blocks", "params", "outputs", "tune", "objective",
            "export", "formats", "-1", "$units", "lambda", "conv2d", "add", "from_logits", "val_loss"]
texts = st.one_of(st.sampled_from(KEYWORDS), st.text(max_size=12),
                  st.text(alphabet="abcdefghij_-$[]{}:#&*!|>'\"%@`,. \t\n0123456789", max_size=12))
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0, -1, 10**12, -10**12, 0.5, -0.5, 1e-30, 1e30]),
                    st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(texts, inner, max_size=3)),
                      max_leaves=6)


def _paths(node, prefix=()):
    """Every path in a document, the root included."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _get(node, path):
    for p in path:
        node = node[p]
    return node


def _typo(word: str, draw) -> str:
    if not word:
        return draw(texts) or "x"
    i = draw(st.integers(0, len(word) - 1))
    op = draw(st.sampled_from(["drop", "swap", "insert", "case", "underscore"]))
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "insert":
        return word[:i] + draw(st.sampled_from("aeiouxs_")) + word[i:]
    if op == "case":
        return word.upper() if word.islower() else word.lower()
    return word.replace("_", "") if "_" in word else word + "_"


@st.composite
def mutated_document(draw):
    """A seed with 1–4 structural mutations applied (see the module docstring)."""
    import copy

    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent, last = _get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["rename", "delete", "add", "replace", "number", "text", "swap", "nest"]))
        value = parent[last]
        if op == "rename" and isinstance(parent, dict) and isinstance(last, str):
            new = _typo(last, draw)
            if new not in parent:
                parent[new] = parent.pop(last)
        elif op == "delete":
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            parent.setdefault(draw(texts), draw(values))
        elif op == "add" and isinstance(parent, list):
            parent.insert(draw(st.integers(0, len(parent))), draw(values))
        elif op == "replace":
            parent[last] = draw(values)
        elif op == "number":
            parent[last] = draw(numbers)
        elif op == "text":
            parent[last] = draw(texts)
        elif op == "swap" and isinstance(value, list):
            parent[last] = {str(i): v for i, v in enumerate(value)} if draw(st.booleans()) else \
                {str(v) if not isinstance(v, (dict, list)) else f"k{i}": v for i, v in enumerate(value)}
        elif op == "swap" and isinstance(value, dict):
            parent[last] = [{k: v} for k, v in value.items()] if draw(st.booleans()) else list(value.values())
        elif op == "nest":
            parent[last] = draw(st.sampled_from([[value], {"choice": [value]}, {str(draw(texts)): value}]))
    return doc


@st.composite
def mutated_text(draw):
    """A seed's YAML text with 1–3 line-level or character-level edits."""
    doc = draw(st.sampled_from(SEEDS))
    lines = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "cut", "insert", "tab"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i][draw(st.integers(1, 3)):]
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
        elif op == "insert":
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.text(alphabet="[]{}:,-#&*!|>'\"%@`?\t \\", min_size=1,
                                                   max_size=3)) + lines[i][j:]
        elif op == "tab":
            lines[i] = "\t" + lines[i].lstrip(" ")
    return "\n".join(lines) + "\n"


@st.composite
def set_overrides(draw):
    """A seed and 1–2 ``--set PATH=VALUE`` texts: existing paths, misspelled ones, random values."""
    doc = draw(st.sampled_from(SEEDS))
    sets = []
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from([p for p in _paths(doc) if p]))
        text = ""
        for part in path:
            text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
        if draw(st.booleans()):
            text = _typo(text, draw)
        value = draw(st.one_of(texts, st.sampled_from(["3", "-1", "[1, 2]", "{adam: {}}", "{int: [4, 2]}",
                                                        "!!python/name:os.system", "[", "1e-3", "null"])))
        sets.append(f"{text}={value}")
    return doc, sets


# --- the property -------------------------------------------------------------------------------

def _check_outcome(path: Path, text: str, overrides=()) -> None:
    """Run validate's logic; any outcome but success or a fully located SpecError fails."""
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(path, list(overrides))
    except SpecError as err:
        rows = err.located()
        assert rows, "a SpecError without diagnostics"
        lines = text.splitlines()
        for file, line, col, message, quoted in rows:
            assert message, "an empty message"
            if file == "--set":
                assert 1 <= line <= len(overrides), (line, message)
                assert 1 <= col <= len(overrides[line - 1]) + 1, (col, message, overrides[line - 1])
                continue
            assert file == str(path), (file, message)
            assert 1 <= line <= max(len(lines), 1), (line, message)
            if lines:
                assert 1 <= col <= len(lines[line - 1]) + 1, (line, col, message, lines[line - 1])
                assert quoted == lines[line - 1].replace("\t", " "), (line, message)
        err.format()  # the report itself must render


@pytest.fixture(scope="module")
def spec_path():
    return WORK / "fuzz.yaml"


@given(doc=mutated_document())
def test_structural_mutations_give_located_errors(spec_path, doc):
    try:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)
    _check_outcome(spec_path, text)


@given(text=mutated_text())
def test_text_mutations_give_located_errors(spec_path, text):
    _check_outcome(spec_path, text)


@given(case=set_overrides())
def test_set_overrides_give_located_errors(spec_path, case):
    doc, sets = case
    _check_outcome(spec_path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), sets)


def test_enough_valid_seeds():
    """Most real specs validate unmutated (else the fuzzer would only explore error paths)."""
    assert len(SEEDS) >= 20 and len(SEEDS) >= 0.8 * len(SEED_FILES), (len(SEEDS), len(SEED_FILES))
