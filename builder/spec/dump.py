"""Spec values → YAML text a person would write: sections in order, block style, no aliases, and
the files the spec reads anchored so the text runs from any folder.

Used for ``spec.resolved.yaml``, ``best.yaml`` and ``dlbuild import``. No TensorFlow.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from builder.spec.sections import DATA_SOURCES

# Every value a spec names a file or folder to *read* by, as (section, key, option): relative to
# the spec's folder when written. The data source keys come from the one enumeration of them.
READ_PATHS = tuple(("data", key, None) for key in DATA_SOURCES if key != "dataset") + (
    ("data", "tokenize", "vocabulary"),
    ("model", "init_from", None),
)


def anchor_read_paths(values: dict, directory: Path) -> dict:
    """A copy of the spec ``values`` whose read paths (:data:`READ_PATHS`) are absolute, resolved
    against ``directory`` (the spec's folder; ``~`` expanded) as loading the spec resolves them.

    So a spec written elsewhere (``best.yaml`` into ``--out``, ``spec.resolved.yaml`` into a run
    directory) reads the same files from any working directory. Absolute paths stay as they are.
    """
    out = copy.deepcopy(values)
    for section, key, option in READ_PATHS:
        holder = out.get(section)
        if option is not None:
            holder = holder.get(key) if isinstance(holder, dict) else None
            key = option
        if isinstance(holder, dict) and isinstance(holder.get(key), str) and holder[key]:
            holder[key] = str((directory / Path(holder[key]).expanduser()).resolve())
    return out


def dump_yaml(values: dict) -> str:
    """A spec as YAML in section order, readable (block style, no aliases, floats kept exact)."""

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return yaml.dump(values, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=100,
                     allow_unicode=True)
