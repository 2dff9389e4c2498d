"""``dlbuild check``: what a spec builds, before any data is loaded.

:func:`check_spec` builds the model of a checked :class:`~builder.spec.load.Spec` (no data) and returns a
:class:`Report`: one row per layer (name, Keras class, YAML line, output shape, parameters, FLOPs
per sample, activation memory per sample) with totals, plus :class:`Warning_` entries for common
mistakes, each located at a YAML line. :func:`static_warnings` finds the warnings that need no
built model, so they can be shown even when the build itself fails (an LSTM without
``return_sequences`` feeding another LSTM is both a warning and a shape error).

FLOPs per sample (:func:`layer_flops`) count one multiply-add as 2 FLOPs, the convention of
Kaplan et al. 2020 ("Scaling Laws for Neural Language Models", arXiv:2001.08361, §2.1:
C ≈ 2N per token for the forward pass) and of Hoffmann et al. 2022 (arXiv:2203.15556, App. F).
Only the forward pass (inference) is counted; bias additions and element-wise activations are not.
Formulas, with out = output positions per sample (product of the output's non-batch, non-channel
dimensions) and k = product of the kernel's spatial dimensions:

* Dense / EinsumDense: 2 · (product of every einsum index size) — Dense is ``...i,io->...o``,
  so 2 · positions · in · units.
* ConvND: 2 · out · filters · k · in_channels / groups. Conv transposes: 2 · in positions ·
  in_channels · k · filters / groups. Depthwise: 2 · out · in_channels · depth_multiplier · k.
  Separable: depthwise + 2 · out · in_channels · depth_multiplier · filters (pointwise)
  (Howard et al. 2017, MobileNets, arXiv:1704.04861, §3.1, counted as MACs there).
* MultiHeadAttention (Vaswani et al. 2017, arXiv:1706.03762; Kaplan et al. 2020, Table 1):
  projections 2·(Tq·dq·h·dk + Tv·dk_in·h·dk + Tv·dv_in·h·dv + Tq·h·dv·d_out) plus attention
  2·h·Tq·Tv·(dk + dv). Attention (dot-product): 2·Tq·Tv·(d + dv).
* SimpleRNN / GRU / LSTM: 2 · T · g · units · (input + units) with g = 1, 3, 4 gates
  (Hochreiter & Schmidhuber 1997; Cho et al. 2014); Bidirectional doubles it. ConvLSTM:
  2 · T · out · 4 · filters · k · (in_channels + filters).
* BatchNormalization: 2 per element (at inference the normalisation folds into one multiply-add,
  Ioffe & Szegedy 2015). LayerNormalization / GroupNormalization: 7 per element (mean: 1 add;
  centre: 1 sub; variance: 1 mul + 1 add; scale by 1/σ: 1 mul; affine: 1 mul + 1 add).
* Pooling: one compare or add per window element: output elements · pool size; global pooling:
  input elements.

Layers with no formula here (Embedding lookups, reshapes, merges, activations, dropout,
preprocessing…) count 0; :attr:`Report.uncounted` lists their classes for the table's footnote.
Shapes with a ``None`` (variable) dimension make FLOPs and memory unknown (``None``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from builder.errors import Diagnostic
from builder.catalog.registry import normalize
from builder.spec.load import Spec

HUGE_DENSE_PARAMS = 10_000_000   # a Flatten → Dense kernel above this is almost always a mistake
LR_RANGE = (1e-6, 1.0)           # usual learning rates: Adam 1e-3 (Kingma & Ba 2015), SGD 1e-2..1e-1
BYTES_PER_VALUE = 4              # activation memory is reported at float32
RECURRENT = ("SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


@dataclass(frozen=True)
class Warning_:
    """A likely mistake, at a spec path (reported like an error, but the check still passes)."""

    message: str
    path: tuple

    def format(self, spec: Spec) -> str:
        """GNU style ``file:line:col: warning: message`` plus the quoted line and a caret."""
        if spec.source is None:
            return f"spec: warning: {self.message}"
        file, line, col, msg, quoted = spec.source.locate(Diagnostic(self.message, self.path, "key"))
        out = f"{file}:{line}:{col}: warning: {msg}"
        if quoted:
            gutter = f"{line:>5} | "
            out += f"\n{gutter}{quoted}\n{' ' * (len(gutter) - 2)}| {' ' * max(col - 1, 0)}^"
        return out


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


# --- FLOPs ---------------------------------------------------------------------------------------

def _prod(dims) -> int | None:
    out = 1
    for d in dims:
        if d is None:
            return None
        out *= int(d)
    return out


def _shape(t) -> tuple:
    return tuple(t.shape)


def _einsum_macs(equation: str, in_shape: tuple, kernel_shape: tuple, out_shape: tuple) -> int | None:
    """Multiply-adds of ``einsum(equation, x, kernel)`` for one sample: the product of every index's
    size, ellipsis dimensions included once (the batch axis counts 1)."""
    lhs, out_spec = equation.replace(" ", "").split("->")
    in_spec, k_spec = lhs.split(",")
    in_shape = (1,) + tuple(in_shape[1:])    # one sample
    out_shape = (1,) + tuple(out_shape[1:])
    sizes: dict[str, int | None] = {}
    ellipsis: tuple = ()

    def bind(spec: str, shape: tuple) -> tuple:
        pre, _, post = spec.partition("...")
        named = list(zip(pre, shape[:len(pre)])) + (list(zip(post, shape[len(shape) - len(post):])) if post else [])
        for ch, d in named:
            if sizes.get(ch) is None:
                sizes[ch] = d
        return tuple(shape[len(pre):len(shape) - len(post)]) if "..." in spec else ()

    ellipsis = bind(in_spec, in_shape) or ellipsis
    bind(k_spec, tuple(kernel_shape))
    bind(out_spec, out_shape)
    return _prod(list(sizes.values()) + list(ellipsis))


def layer_flops(layer, in_shapes: list[tuple], out_shape: tuple) -> tuple[int | None, bool]:
    """FLOPs of one forward pass of ``layer`` for one sample, and whether a formula exists.

    Args:
        layer: A built Keras layer.
        in_shapes: The shapes of its inputs, batch axis first (``None``).
        out_shape: The shape of its (first) output, batch axis first.

    Returns:
        ``(flops, counted)``: ``flops`` is None when a needed dimension is variable; ``counted`` is
        False for layers without a formula (then ``flops`` is 0). See the module docstring.
    """
    cls = type(layer).__name__
    x = in_shapes[0] if in_shapes else ()
    out = out_shape[1:]
    try:
        if cls == "Dense":
            return _mul2(_prod(out[:-1]), x[-1], layer.units), True
        if cls == "EinsumDense":
            macs = _einsum_macs(layer.equation, x, tuple(layer.kernel.shape), out_shape)
            return _mul2(macs), True
        if cls in ("Conv1D", "Conv2D", "Conv3D"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = out[:-1] if layer.data_format == "channels_last" else out[1:]
            return _mul2(_prod(sp), layer.filters, _prod(layer.kernel_size), cin // layer.groups), True
        if cls in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = x[1:-1] if layer.data_format == "channels_last" else x[2:]
            return _mul2(_prod(sp), cin, _prod(layer.kernel_size), layer.filters), True
        if cls in ("DepthwiseConv1D", "DepthwiseConv2D"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = out[:-1] if layer.data_format == "channels_last" else out[1:]
            return _mul2(_prod(sp), cin, layer.depth_multiplier, _prod(layer.kernel_size)), True
        if cls in ("SeparableConv1D", "SeparableConv2D"):
            cin = x[-1] if layer.data_format == "channels_last" else x[1]
            sp = _prod(out[:-1] if layer.data_format == "channels_last" else out[1:])
            dw = _mul2(sp, cin, layer.depth_multiplier, _prod(layer.kernel_size))
            pw = _mul2(sp, cin, layer.depth_multiplier, layer.filters)
            return (None if dw is None or pw is None else dw + pw), True
        if cls == "MultiHeadAttention":
            q = x
            v = in_shapes[1] if len(in_shapes) > 1 else q
            k = in_shapes[2] if len(in_shapes) > 2 else v
            h, dk = layer.num_heads, layer.key_dim
            dv = layer.value_dim or dk
            tq, tv = _prod(q[1:-1]), _prod(v[1:-1])
            d_out = out_shape[-1]
            parts = [_mul2(tq, q[-1], h, dk), _mul2(tv, k[-1], h, dk), _mul2(tv, v[-1], h, dv),
                     _mul2(tq, h, dv, d_out), _mul2(h, tq, tv, dk + dv)]
            return (None if None in parts else sum(parts)), True
        if cls == "Attention":
            q = x
            v = in_shapes[1] if len(in_shapes) > 1 else q
            return _mul2(_prod(q[1:-1]), _prod(v[1:-1]), q[-1] + v[-1]), True
        if cls in ("SimpleRNN", "GRU", "LSTM"):
            return _rnn_flops(cls, layer.units, x), True
        if cls == "Bidirectional":
            inner = type(layer.forward_layer).__name__
            if inner in ("SimpleRNN", "GRU", "LSTM"):
                one = _rnn_flops(inner, layer.forward_layer.units, x)
                return (None if one is None else 2 * one), True
            return 0, False
        if cls in ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
            cin = x[-1]
            steps = x[1]
            sp = out[1:-1] if layer.return_sequences else out[:-1]
            return _mul2(steps, _prod(sp), 4, layer.filters, _prod(layer.kernel_size), cin + layer.filters), True
        if cls == "BatchNormalization":
            return _mulc(2, _prod(x[1:])), True
        if cls in ("LayerNormalization", "GroupNormalization"):
            return _mulc(7, _prod(x[1:])), True
        if re.fullmatch(r"(Max|Average)Pooling[123]D", cls):
            return _mulc(_prod(layer.pool_size), _prod(out)), True
        if re.fullmatch(r"Global(Max|Average)Pooling[123]D", cls):
            return _prod(x[1:]), True
    except (AttributeError, TypeError, IndexError, ValueError):
        return 0, False
    return 0, False


def _mul2(*factors) -> int | None:
    p = _prod(factors)
    return None if p is None else 2 * p


def _mulc(c: int, n: int | None) -> int | None:
    return None if n is None else c * n


def _rnn_flops(cls: str, units: int, x: tuple) -> int | None:
    gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}[cls]
    return _mul2(x[1], gates, units, x[-1] + units)


# --- warnings ------------------------------------------------------------------------------------

def _item(value: Any) -> tuple[str | None, dict, bool]:
    """``(name, args, scalar_form)`` of an item in spec form (bare name / {name: scalar} / {name: {..}})."""
    if isinstance(value, str):
        return value, {}, False
    if isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        if isinstance(args, dict):
            return str(name), args, False
        return str(name), {"__scalar__": args}, True
    return None, {}, False


def _loss_for(spec: Spec, output: str) -> tuple[str | None, dict, tuple]:
    """The loss item (normalised name, args, path) that applies to model output ``output``."""
    loss = spec.compile.get("loss")
    path = ("compile", "loss")
    outs = spec.topology.outputs
    if isinstance(loss, dict) and len(outs) > 1 and all(k in outs for k in loss):
        if output not in loss:
            return None, {}, path
        loss, path = loss[output], path + (output,)
    name, args, _ = _item(loss)
    return (normalize(name) if name else None), args, path + ((name,) if isinstance(loss, dict) else ())


def _output_activation(node) -> str | None:
    """The activation a node applies last (``Dense(activation=softmax)``, ``Softmax``, ``Activation``)."""
    if node.layer == "Softmax":
        return "softmax"
    if node.layer == "Activation":
        act = node.args.get("activation")
        return normalize(act) if isinstance(act, str) else None
    act = node.args.get("activation")
    return normalize(act) if isinstance(act, str) else None


def _is_recurrent(node) -> bool:
    if node.layer in RECURRENT:
        return True
    if node.layer == "Bidirectional":
        name, _, _ = _item(node.args.get("layer"))
        return name is not None and normalize(name) in {normalize(r) for r in RECURRENT}
    return False


def _returns_sequences(node) -> bool:
    if node.layer == "Bidirectional":
        _, args, _ = _item(node.args.get("layer"))
        return bool(args.get("return_sequences", False))
    return bool(node.args.get("return_sequences", False))


def _n_classes(spec: Spec) -> int | None:
    """Number of classes of the spec's data, when known cheaply; None otherwise (regression, CSV/NPZ
    sources, anything that fails)."""
    data = spec.data
    if data.get("task") == "regression":
        return None
    name = data.get("dataset")
    if name is not None:
        from builder.catalog.datasets import DATASETS

        return DATASETS[name].classes if name in DATASETS else None
    return None


def static_warnings(spec: Spec) -> list[Warning_]:
    """Warnings that need only the spec and its expanded topology (no Keras import)."""
    warnings: list[Warning_] = []
    nodes = {n.name: n for n in spec.topology.nodes}
    outputs = spec.topology.outputs
    for out_name in outputs:
        node = nodes.get(out_name)
        if node is None:
            continue
        act = _output_activation(node)
        loss, args, lpath = _loss_for(spec, out_name)
        if loss is None:
            continue
        if act in ("softmax", "sigmoid") and args.get("from_logits") is True:
            warnings.append(Warning_(
                f"output '{out_name}' already applies {act}, but the loss has from_logits: true, so "
                f"{act} is applied twice; remove the activation or set from_logits: false",
                lpath + ("from_logits",)))
        if act == "sigmoid" and "categorical" in loss:
            warnings.append(Warning_(
                f"output '{out_name}' uses sigmoid with a categorical loss ({loss}); for one class per "
                "sample use softmax, for independent labels use binary_crossentropy", node.path))
        if act == "softmax" and loss in ("binarycrossentropy", "binaryfocalcrossentropy", "bce"):
            warnings.append(Warning_(
                f"output '{out_name}' uses softmax with binary cross-entropy; use sigmoid for "
                "independent labels or a categorical loss for one class per sample", node.path))
    # Final Dense units vs. the number of classes (single-output classifiers only).
    k = _n_classes(spec)
    if k is not None and len(outputs) == 1:
        node = nodes.get(outputs[0])
        while node is not None and node.layer in ("Activation", "Softmax", "Dropout") and node.inputs:
            node = nodes.get(node.inputs[0])
        if node is not None and node.layer == "Dense":
            units = node.args.get("units")
            if isinstance(units, int) and units != k and not (k == 2 and units == 1):
                warnings.append(Warning_(
                    f"the final Dense has {units} units but dataset '{spec.data.get('dataset')}' has "
                    f"{k} classes; use units: {k}" + (" (or 1 with sigmoid)" if k == 2 else ""), node.path))
    for node in spec.topology.nodes:
        srcs = [nodes[i] for i in node.inputs if i in nodes]
        # Dropout → BatchNormalization: the variance shift of Li et al. 2019 ("Understanding the
        # Disharmony between Dropout and Batch Normalization by Variance Shift", CVPR).
        if node.layer == "BatchNormalization" and srcs and srcs[0].layer.endswith("Dropout"):
            warnings.append(Warning_(
                f"{srcs[0].layer} directly before BatchNormalization shifts the variance BatchNormalization "
                "sees between training and inference (Li et al. 2019); put Dropout after it", node.path))
        if _is_recurrent(node) and srcs and _is_recurrent(srcs[0]) and not _returns_sequences(srcs[0]):
            warnings.append(Warning_(
                f"recurrent layer '{srcs[0].name}' returns only its last step but feeds recurrent layer "
                f"'{node.name}', which needs a sequence; add return_sequences: true to '{srcs[0].name}'",
                srcs[0].path))
    warnings += _lr_warnings(spec)
    return warnings


def _lr_warnings(spec: Spec) -> list[Warning_]:
    """A learning rate (or a schedule's initial one) outside :data:`LR_RANGE`."""
    from builder.catalog.registry import catalog

    opt = spec.compile.get("optimizer")
    name, args, scalar = _item(opt)
    if name is None:
        return []
    entry = catalog().lookup("optimizer", name)
    path = ("compile", "optimizer") + ((name,) if isinstance(opt, dict) else ())
    if scalar:
        lr, lpath = args["__scalar__"], path
    elif "learning_rate" in args:
        lr, lpath = args["learning_rate"], path + ("learning_rate",)
        sname, sargs, sscalar = _item(lr)
        if sname is not None:  # a schedule: its initial learning rate
            lr = sargs.get("__scalar__") if sscalar else sargs.get("initial_learning_rate")
            lpath = lpath + (sname,)
    else:
        lr, lpath = (entry.defaults.get("learning_rate") if entry else None), path
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and not LR_RANGE[0] <= lr <= LR_RANGE[1]:
        return [Warning_(f"learning rate {lr:g} is outside the usual range [{LR_RANGE[0]:g}, {LR_RANGE[1]:g}]"
                         "; Adam's default is 1e-3", lpath)]
    return []


# --- the report -----------------------------------------------------------------------------------

def _fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def check_spec(spec: Spec, model=None) -> Report:
    """Build ``spec``'s model (no data) and measure every layer; see the module docstring.

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
        shapes = [_shape(t) for t in outs if t is not None]
        in_shapes = [_shape(tensors[i]) if not isinstance(tensors[i], (list, tuple)) else _shape(tensors[i][0])
                     for i in node.inputs if i in tensors]
        flops, counted = layer_flops(layer, in_shapes, shapes[0]) if shapes else (0, False)
        if not counted:
            uncounted.add(node.layer)
        mems = [_prod(s[1:]) for s in shapes]
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
