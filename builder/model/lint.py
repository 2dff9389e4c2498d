"""Likely mistakes in a checked spec, found without building the model: ``dlbuild check``'s warnings.

Input: a checked :class:`~builder.spec.load.Spec` (its expanded topology and sections). Output:
:class:`Warning_` values, each a message at a spec path (located at a YAML line when printed).
The loss ↔ output ↔ target mistakes come from :mod:`builder.spec.consistency` (the rules that
are certain are errors there; the likely ones are warnings here); this module adds the
layer-order and learning-rate ones. No Keras import, so the warnings can be shown even when
the build itself fails (an LSTM without ``return_sequences`` feeding another LSTM is both a
warning and a shape error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.catalog.registry import catalog, normalize
from builder.errors import Diagnostic
from builder.spec import consistency
from builder.spec.load import Spec

LR_RANGE = (1e-6, 1.0)           # usual learning rates: Adam 1e-3 (Kingma & Ba 2015), SGD 1e-2..1e-1
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


def static_warnings(spec: Spec) -> list[Warning_]:
    """Warnings that need only the spec and its expanded topology (no Keras import), in this
    order: loss ↔ output ↔ target mistakes (:func:`builder.spec.consistency.likely_mistakes`),
    layer-order mistakes (Dropout before BatchNormalization, a recurrent layer fed only a last
    step), then a learning rate outside :data:`LR_RANGE`."""
    # Loss ↔ output ↔ target mistakes: the one analyzer of them is builder.spec.consistency.
    warnings: list[Warning_] = [Warning_(d.message, tuple(d.path)) for d in consistency.likely_mistakes(spec)]
    nodes = {n.name: n for n in spec.topology.nodes}
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


def _schedule_peak(value: Any) -> tuple[float, int] | None:
    """The highest learning rate a schedule item produces and the first step (batch) it does,
    sampled at step 0, 60 geometrically spaced steps up to 10^7 and the steps its own arguments name
    (``warmup_steps``, ``decay_steps``, ``boundaries``, where rates turn); None if it cannot be built."""
    import numpy as np

    from builder.spec import items

    _, args, _ = _item(value)
    named = [v for k, v in args.items() if k.endswith("steps") or k == "boundaries"]
    named = [int(x) for v in named for x in (v if isinstance(v, list) else [v])
             if isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1e9]
    try:
        schedule = items.build("schedule", value, catalog())
        steps = np.unique(np.concatenate([[0], np.geomspace(1, 1e7, 60).astype(int), named]).astype(int))
        rates = [float(np.asarray(schedule(int(s)))) for s in steps]
    except Exception:  # a schedule Keras refuses is reported when the model is compiled
        return None
    best = int(np.argmax(rates))
    return rates[best], int(steps[best])


def _lr_warnings(spec: Spec) -> list[Warning_]:
    """A learning rate outside :data:`LR_RANGE`; for a schedule, the highest rate it produces (a
    warm-up from 0 to 2e-3 is judged by its 2e-3, not by its first step)."""
    opt = spec.compile.get("optimizer")
    name, args, scalar = _item(opt)
    if name is None:
        return []
    entry = catalog().lookup("optimizer", name)
    path = ("compile", "optimizer") + ((name,) if isinstance(opt, dict) else ())
    what, at = "learning rate", ""
    if scalar:
        lr, lpath = args["__scalar__"], path
    elif "learning_rate" in args:
        lr, lpath = args["learning_rate"], path + ("learning_rate",)
        sname, _, _ = _item(lr)
        if sname is not None:  # a schedule: the rates it produces
            peak = _schedule_peak(lr)
            lpath = lpath + (sname,)
            lr, what, at = (peak[0], "the schedule's highest learning rate", f" (step {peak[1]:,})") \
                if peak else (None, "", "")
    else:
        lr, lpath = (entry.defaults.get("learning_rate") if entry else None), path
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and not LR_RANGE[0] <= lr <= LR_RANGE[1]:
        return [Warning_(f"{what} {lr:g}{at} is outside the usual range [{LR_RANGE[0]:g}, {LR_RANGE[1]:g}]"
                         "; Adam's default is 1e-3", lpath)]
    return []
