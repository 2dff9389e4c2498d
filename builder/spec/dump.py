"""Spec values → YAML text a person would write: sections in order, block style, no aliases.

Used for ``spec.resolved.yaml``, ``best.yaml`` and ``dlbuild import``. No TensorFlow.
"""

from __future__ import annotations

import yaml


def dump_yaml(values: dict) -> str:
    """A spec as YAML in section order, readable (block style, no aliases, floats kept exact)."""

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return yaml.dump(values, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=100,
                     allow_unicode=True)
