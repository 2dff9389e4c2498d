"""``dlbuild check``: what a spec builds, before any data is loaded.

:func:`check_spec` builds the model of a checked :class:`~builder.spec.load.Spec` (no data) and returns a
:class:`Report`: one row per layer (name, Keras class, YAML line, output shape, parameters, FLOPs
per sample (:mod:`builder.model.flops`), activation memory per sample in bytes at float32) with
totals, plus :class:`~builder.model.lint.Warning_` entries for common mistakes, each located at a
YAML line (:func:`builder.model.lint.static_warnings`, and a Flatten → Dense too large to be meant,
which needs the built model's parameter count). :func:`format_report` renders the table as text.
Shapes with a ``None`` (variable) dimension make FLOPs and memory unknown (``None``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from builder.model.flops import layer_flops, product
from builder.model.lint import Warning_, static_warnings
from builder.spec.load import Spec

__all__ = ["Report", "Row", "check_spec", "format_report", "render", "layer_flops", "static_warnings", "Warning_"]

HUGE_DENSE_PARAMS = 10_000_000   # a Flatten → Dense kernel above this is almost always a mistake
BYTES_PER_VALUE = 4              # activation memory is reported at float32


@dataclass
class Row:
    """One layer of the table. ``flops``/``memory`` are None when a dimension is variable."""

    name: str
    layer: str
    line: int | None
    shape: str
    params: int
    flops: int | None
    memory: int | None
    counted: bool


@dataclass
class Report:
    """The result of :func:`check_spec`."""

    rows: list[Row] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    uncounted: list[str] = field(default_factory=list)

    @property
    def total_flops(self) -> int | None:
        """FLOPs per sample of the whole model; None when a layer's count is unknown."""
        vals = [r.flops for r in self.rows]
        return None if any(v is None for v in vals) else sum(vals)

    @property
    def total_memory(self) -> int | None:
        """Bytes of all layer outputs per sample at float32; None when a shape is unknown."""
        vals = [r.memory for r in self.rows]
        return None if any(v is None for v in vals) else sum(vals)


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def check_spec(spec: Spec, model=None) -> Report:
    """Build ``spec``'s model (no data) and measure every layer; see the module docstring and
    :mod:`builder.model.flops` for the FLOPs formulas.

    Args:
        spec: A checked spec (search spaces resolved to their defaults).
        model: An already built model of ``spec`` (default: :func:`builder.model.graph.build_model`).

    Raises:
        SpecError: the model cannot be built (a layer refuses its arguments or input shapes).
    """
    from builder.model.graph import build_model

    model = model if model is not None else build_model(spec)
    report = Report(warnings=static_warnings(spec))
    tensors = {}
    for layer in model.layers:
        try:
            tensors[layer.name] = layer.output
        except (AttributeError, ValueError):
            pass
    uncounted = set()
    for node in spec.topology.nodes:
        layer = model.get_layer(node.name)
        outs = tensors.get(node.name)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        shapes = [tuple(t.shape) for t in outs if t is not None]
        in_shapes = [tuple(tensors[i].shape) if not isinstance(tensors[i], (list, tuple)) else tuple(tensors[i][0].shape)
                     for i in node.inputs if i in tensors]
        flops, counted = layer_flops(layer, in_shapes, shapes[0]) if shapes else (0, False)
        if not counted:
            uncounted.add(node.layer)
        mems = [product(s[1:]) for s in shapes]
        memory = None if None in mems else sum(mems) * BYTES_PER_VALUE
        line = spec.source.position(node.path, "key")[0] if spec.source else None
        report.rows.append(Row(node.name, node.layer, line, ", ".join(_fmt_shape(s) for s in shapes),
                               layer.count_params(), flops, memory, counted))
        if node.layer == "Dense" and in_shapes:
            src = next((n for n in spec.topology.nodes if n.name == node.inputs[0]), None)
            if src is not None and src.layer == "Flatten" and layer.count_params() > HUGE_DENSE_PARAMS:
                report.warnings.append(Warning_(
                    f"Flatten → Dense '{node.name}' has {layer.count_params():,} parameters "
                    f"({in_shapes[0][-1]:,} inputs × {layer.units} units); pool first (e.g. max_pooling2d "
                    "or global_average_pooling2d) or add strided convolutions", node.path))
    report.total_params = model.count_params()
    report.trainable_params = int(sum(math.prod(w.shape) for w in model.trainable_weights))
    report.uncounted = sorted(uncounted)
    # sort warnings by their YAML line
    if spec.source is not None:
        report.warnings.sort(key=lambda w: spec.source.position(w.path, "key"))
    return report


def _human(n: int | None, unit: str = "") -> str:
    """``37.57M`` FLOPs, ``100.35 kB`` (decimal prefixes); ``?`` when unknown."""
    if n is None:
        return "?"
    sep = " " if unit else ""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{sep}{suffix}{unit}"
    return f"{n}{sep}{unit}"


def format_report(spec: Spec, report: Report) -> str:
    """The table (one row per layer), totals, the FLOPs footnote and the warnings, as text."""
    head = ("layer", "type", "line", "output shape", "params", "FLOPs", "memory")
    rows = [(r.name, r.layer, str(r.line or ""), r.shape, f"{r.params:,}",
             _human(r.flops) + ("" if r.counted else "*"), _human(r.memory, "B")) for r in report.rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    right = {2, 4, 5, 6}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [f"{spec.name}: {len(report.rows)} layers", line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append(line(["-" * w for w in widths]))
    non_trainable = report.total_params - report.trainable_params
    out.append(line(("total", "", "", "", f"{report.total_params:,}", _human(report.total_flops),
                     _human(report.total_memory, "B"))))
    out.append(f"parameters: {report.total_params:,} ({report.trainable_params:,} trainable, "
               f"{non_trainable:,} non-trainable); FLOPs and memory are per sample (forward pass, "
               f"1 multiply-add = 2 FLOPs; outputs at float32)")
    if report.uncounted:
        out.append("* 0 = not counted for: " + ", ".join(report.uncounted))
    if report.warnings:
        out.append("")
        out += [w.format(spec) for w in report.warnings]
    out.append(f"{len(report.warnings)} warning{'s' if len(report.warnings) != 1 else ''}")
    return "\n".join(out)


def render(spec: Spec) -> str:
    """The fully resolved spec (every section default filled in) as YAML: ``spec.resolved.yaml``."""
    from builder.spec.dump import dump_yaml

    return dump_yaml(spec.values)
