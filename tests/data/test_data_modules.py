"""builder/data/ keeps to the layer order: imports (lazy ones inside functions included) point only
down, form no cycle, and everything but the tf.data pipeline is free of TensorFlow/Keras."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "builder" / "data"
HIGHER = ("builder.run", "builder.tune", "builder.export", "builder.workflows", "builder.cli")


def _name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file; ``from pkg import mod`` counts as ``pkg.mod``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


MODULES = {_name(p): p for p in DATA.rglob("*.py")}
GRAPH = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_data_imports_nothing_from_higher_layers():
    bad = {m: sorted(i for i in _imports(p) if i.startswith(HIGHER)) for m, p in MODULES.items()}
    assert not {m: v for m, v in bad.items() if v}


def test_data_modules_form_no_import_cycle():
    done, stack = set(), []

    def visit(m):
        assert m not in stack, " -> ".join(stack[stack.index(m):] + [m])
        if m in done:
            return
        stack.append(m)
        for dep in sorted(GRAPH[m]):
            visit(dep)
        stack.pop()
        done.add(m)

    for m in sorted(GRAPH):
        visit(m)


def test_only_the_pipeline_imports_tensorflow_or_keras():
    users = sorted(m for m, p in MODULES.items()
                   if any(i.split(".")[0] in ("tensorflow", "keras") for i in _imports(p)))
    assert users == ["builder.data.pipeline"]
