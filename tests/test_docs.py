"""docs/spec.md and docs/examples/ cannot drift from the code or from each other.

* every ``docs/examples/*.yaml`` passes ``dlbuild validate`` and builds its Keras model;
* every ``yaml`` code block of docs/spec.md names its file on its first line
  (``# docs/examples/x.yaml``) and is that file's exact content;
* every key of every section in :data:`builder.spec.load.SECTIONS` (and the top-level, model, item,
  block, input and search-space keys) is mentioned in docs/spec.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import builder
from builder.data.load import load_splits
from builder.run.preflight import bind_data
from builder.spec.placeholders import used
from builder.spec import hparams, nodes
from builder.cli.main import main
from builder.spec.sections import MODEL_KEYS, SECTIONS, TOP_LEVEL

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGE = DOCS / "spec.md"
EXAMPLES = sorted((DOCS / "examples").glob("*.yaml"))
_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.S | re.M)
_NAMED = re.compile(r"^# (docs/examples/[\w.-]+\.yaml)\n")


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


#: The reference is docs/spec.md plus the pages it links for whole topics.
LINKED = ("data.md", "distributed.md")


def _reference() -> str:
    page = _page()
    for name in LINKED:
        assert f"({name})" in page, f"docs/spec.md does not link {name}"
    return page + "".join((DOCS / name).read_text(encoding="utf-8") for name in LINKED)


def test_there_are_examples():
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path):
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_builds(path):
    """Shape errors surface only when Keras calls the layers: build each model once."""
    spec = builder.load_spec(path)
    if used(spec.values["model"]):  # $classes, $features: bound from the data first, as fit does
        spec = bind_data(spec, load_splits(spec))
    model = builder.build_model(spec)
    assert model.count_params() > 0


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_names_itself(path):
    """Each example's first line is its own path, so the page shows which file a block is."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# docs/examples/{path.name}"


def test_every_yaml_block_is_an_example_file():
    blocks = _BLOCK.findall(_page())
    assert blocks, "docs/spec.md has no yaml blocks"
    for block in blocks:
        m = _NAMED.match(block)
        assert m, f"a yaml block of docs/spec.md does not name its file on its first line:\n{block[:200]}"
        file = ROOT / m.group(1)
        assert file.is_file(), f"docs/spec.md shows {m.group(1)}, which does not exist"
        assert block == file.read_text(encoding="utf-8"), f"docs/spec.md's copy of {m.group(1)} differs from the file"


def test_every_example_is_shown_or_linked():
    page = _reference()
    for path in EXAMPLES:
        assert f"docs/examples/{path.name}" in page or f"examples/{path.name}" in page, path.name


def _mentioned(key: str, page: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", page) is not None


def test_every_section_key_is_documented():
    page = _reference()
    missing = [f"{section}.{key}" for section, fields in SECTIONS.items() for key in (fields or {})
               if not _mentioned(key, page)]
    missing += [k for k in TOP_LEVEL + MODEL_KEYS if not _mentioned(k, page)]
    missing += [k for k in nodes.ITEM_KEYS + nodes.BLOCK_KEYS + nodes.INPUT_KEYS if not _mentioned(k, page)]
    missing += [k for k in hparams.KINDS + hparams.OPTIONS + hparams.SAMPLINGS if not _mentioned(k, page)]
    assert not missing, f"docs/spec.md does not mention: {', '.join(missing)}"


def test_every_choice_value_is_documented():
    page = _reference()
    missing = [f"{s}.{k}: {c}" for s, fields in SECTIONS.items() for k, f in (fields or {}).items()
               for c in f.choices if not _mentioned(c, page)]
    assert not missing, f"docs/spec.md does not mention: {', '.join(missing)}"


def test_every_bundled_dataset_is_documented():
    from builder.catalog.datasets import list_datasets

    page = _reference()
    assert [n for n in list_datasets() if not _mentioned(n, page)] == []
