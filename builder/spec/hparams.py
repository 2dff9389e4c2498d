"""Search spaces inside a spec: find them, check them, and resolve them to concrete values.

Any value in a spec may be replaced by a search space (docs/architecture.md, "Spec language")::

    units: {choice: [64, 128, 256]}
    units: {int: [32, 512], step: 32}                 # sampling: linear (default) | log
    rate:  {float: [0.0, 0.5], step: 0.1}
    learning_rate: {float: [1.0e-4, 1.0e-2], sampling: log, default: 1.0e-3, name: lr}

A choice may hold whole layers or blocks (``- {choice: [{lstm: 64}, {gru: 64}]}``); search spaces
nested inside one alternative are *conditional*: active only when that alternative is chosen.

``dlbuild fit`` resolves every space to its default (``default:``, else the first choice, else the
minimum); ``dlbuild tune`` resolves them with Keras Tuner hyperparameters. Resolution keeps the
source positions, so a problem inside a chosen alternative is reported at that alternative's line.

No TensorFlow import here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from builder.errors import Collector, did_you_mean, format_path

KINDS = ("choice", "int", "float")
OPTIONS = ("step", "sampling", "default", "name")
SAMPLINGS = ("linear", "log", "reverse_log")


@dataclass(frozen=True)
class HyperParameter:
    """One search space.

    Attributes:
        name: The hyperparameter's name: ``name:`` if given, else its spec path
            (``model.layers[4].conv2d.filters``), so every tuner log line maps back to the YAML.
        path: Spec path of the search-space mapping.
        kind: ``choice`` | ``int`` | ``float``.
        values: The options of a choice (scalars, or mappings for structural choices).
        min_value, max_value: Inclusive bounds of an ``int``/``float`` range.
        step: Grid step of a range, or None (continuous for ``float``, 1 for ``int``); with log
            sampling a multiplicative factor (Keras Tuner's convention: ``step: 10`` → 1e-4, 1e-3…).
        sampling: ``linear`` | ``log`` | ``reverse_log`` (Keras Tuner's names).
        default: The value ``fit`` uses.
        parent: Name of the enclosing choice hyperparameter and the option index that makes this
            one active, for conditional spaces; None when always active.
    """

    name: str
    path: tuple
    kind: str
    values: tuple = ()
    min_value: float | None = None
    max_value: float | None = None
    step: float | None = None
    sampling: str = "linear"
    default: Any = None
    parent: tuple | None = None

    @property
    def structural(self) -> bool:
        """True for a choice between mappings or lists (layers, blocks, objects)."""
        return self.kind == "choice" and any(isinstance(v, (dict, list)) for v in self.values)

    def grid(self) -> list | None:
        """Every value of a finite space in order, or None for a float range without ``step``."""
        if self.kind == "choice":
            return list(range(len(self.values))) if self.structural else list(self.values)
        if self.kind == "float" and self.step is None:
            return None
        step = self.step or 1
        if self.sampling == "log" and self.step is not None:  # Keras Tuner: a factor per step
            n = int(math.floor(math.log(self.max_value / self.min_value) / math.log(step) + 1e-9)) + 1
            vals = [self.min_value * step**i for i in range(n)]
        else:
            n = int(math.floor((self.max_value - self.min_value) / step + 1e-9)) + 1
            vals = [self.min_value + i * step for i in range(n)]
        return [int(v) for v in vals] if self.kind == "int" else [round(v, 12) for v in vals]

    def describe(self) -> str:
        """``choice of 3: 64, 128, 256`` / ``int in [32, 512] step 32`` / ``float in [...] log``."""
        if self.kind == "choice":
            shown = [f"option {i}" if isinstance(v, (dict, list)) else repr(v) for i, v in enumerate(self.values)]
            return f"choice of {len(self.values)}: " + ", ".join(shown)
        text = f"{self.kind} in [{self.min_value}, {self.max_value}]"
        if self.step is not None:
            text += f" step {self.step}"
        if self.sampling != "linear":
            text += f" {self.sampling}"
        return text


def is_search_space(value: Any) -> bool:
    """True when ``value`` is a mapping with exactly one of ``choice``/``int``/``float`` and only
    the search-space options (``step``, ``sampling``, ``default``, ``name``) beside it."""
    return (
        isinstance(value, dict)
        and sum(k in value for k in KINDS) == 1
        and all(k in KINDS or k in OPTIONS for k in value)
    )


def _misspelled_space(value: Any) -> bool:
    """A mapping with one ``choice``/``int``/``float`` list and keys that are not options."""
    return (
        isinstance(value, dict)
        and sum(k in value for k in KINDS) == 1
        and isinstance(next(value[k] for k in KINDS if k in value), list)
        and not is_search_space(value)
    )


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _parse(value: dict, path: tuple, out: Collector, parent: tuple | None) -> HyperParameter | None:
    kind = next(k for k in KINDS if k in value)
    body, kpath = value[kind], path + (kind,)
    n_before = len(out.diagnostics)
    sampling = value.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        out.error(f"'sampling' must be one of {', '.join(SAMPLINGS)}; received: {sampling!r}"
                  + did_you_mean(sampling, SAMPLINGS), path + ("sampling",))
    name = value.get("name", format_path(path))
    if not isinstance(name, str) or not name:
        out.error(f"'name' must be a non-empty string; received: {name!r}", path + ("name",))
    step = value.get("step")
    default = value.get("default")
    if kind == "choice":
        if not isinstance(body, list) or not body:
            out.error(f"'choice' takes a non-empty list of options; received: {body!r}", kpath)
            return None
        for opt in ("step", "sampling"):
            if opt in value:
                out.error(f"'{opt}' applies to 'int' and 'float' ranges, not to 'choice'", path + (opt,), at="key")
        scalars = [v for v in body if not isinstance(v, (dict, list))]
        if scalars and len(scalars) != len(body):
            out.error("choice options must all be values or all be mappings (layers/objects), not a mix", kpath)
        types = {("number" if _number(v) else type(v).__name__) for v in scalars}
        if len(types) > 1:
            out.error(f"choice options must share one type; received a mix of {', '.join(sorted(types))}: {body!r}", kpath)
        if len(set(map(repr, body))) != len(body):
            out.error(f"choice options must be distinct; received: {body!r}", kpath)
        if "default" in value and default not in body:
            out.error(f"'default' must be one of the choices {body!r}; received: {default!r}", path + ("default",))
        hp = HyperParameter(name, path, kind, values=tuple(body), default=default if "default" in value else body[0],
                            parent=parent)
    else:
        if (not isinstance(body, list) or len(body) != 2 or not all(_number(v) for v in body)):
            out.error(f"'{kind}' takes [min, max]; received: {body!r}", kpath)
            return None
        lo, hi = body
        if kind == "int" and not all(isinstance(v, int) for v in body):
            out.error(f"'int' bounds must be integers; received: {body!r} (use 'float' for real values)", kpath)
        if lo > hi or (kind == "float" and lo == hi):
            out.error(f"min must be less than max in [{lo}, {hi}]", kpath)
        if sampling in ("log", "reverse_log") and lo <= 0:
            out.error(f"log sampling needs min > 0; received min={lo}", path + ("sampling",))
        if step is not None:
            if not _number(step) or step <= 0:
                out.error(f"'step' must be a positive number; received: {step!r}", path + ("step",))
            elif kind == "int" and not isinstance(step, int):
                out.error(f"'step' of an 'int' range must be an integer; received: {step!r}", path + ("step",))
            elif sampling == "log" and step <= 1:
                out.error(f"with sampling: log, 'step' is a factor (Keras Tuner): it must be > 1, "
                          f"e.g. 10; received: {step!r}", path + ("step",))
            elif sampling != "log" and step > hi - lo and hi > lo:
                out.error(f"'step' {step} is larger than the range [{lo}, {hi}]", path + ("step",))
        if "default" in value and (not _number(default) or not lo <= default <= hi):
            out.error(f"'default' must be a number in [{lo}, {hi}]; received: {default!r}", path + ("default",))
        dflt = default if "default" in value else lo
        if kind == "float":
            lo, hi, dflt = float(lo), float(hi), float(dflt) if _number(dflt) else dflt
        hp = HyperParameter(name, path, kind, min_value=lo, max_value=hi, step=step, sampling=sampling,
                            default=dflt, parent=parent)
    return hp if len(out.diagnostics) == n_before else None


def find(values: Any, out: Collector, path: tuple = (), parent: tuple | None = None,
         found: dict | None = None) -> dict[str, HyperParameter]:
    """Every search space in ``values`` (nested ones in choice options included), by name.

    Problems (malformed spaces, a shared ``name`` with two different definitions) go to ``out``.
    """
    found = {} if found is None else found
    if is_search_space(values):
        hp = _parse(values, path, out, parent)
        if hp is None:
            return found
        prev = found.get(hp.name)
        if prev is not None and (prev.kind, prev.values, prev.min_value, prev.max_value, prev.step,
                                 prev.sampling) != (hp.kind, hp.values, hp.min_value, hp.max_value,
                                                    hp.step, hp.sampling):
            out.error(f"hyperparameter '{hp.name}' is defined differently at {format_path(prev.path)}; "
                      "a shared name must have one definition", path + ("name",))
        found.setdefault(hp.name, hp)
        if hp.kind == "choice":
            for i, option in enumerate(hp.values):
                find(option, out, path + ("choice", i), (hp.name, i), found)
        return found
    kinds = [k for k in KINDS if isinstance(values, dict) and k in values]
    if len(kinds) > 1 and all(isinstance(values[k], list) for k in kinds):
        # {int: [2, 8], choice: [3, 4]}: one space has one kind; Keras Tuner has no union of kinds
        out.error(f"a search space has one kind; received both '{kinds[0]}' and '{kinds[1]}' (for values "
                  "of several kinds list them all in one 'choice')", path + (kinds[1],), at="key")
        return found
    if _misspelled_space(values):
        # {int: [16, 128], steps: 16} is meant as a search space: say so rather than passing the
        # mapping on as a plain (wrong) value.
        for k in values:
            if k not in KINDS and k not in OPTIONS:
                out.error(f"unknown search-space option '{k}'" + (did_you_mean(str(k), OPTIONS) or
                          f"; expected {', '.join(OPTIONS)}"), path + (k,), at="key")
        return found
    if isinstance(values, dict):
        for k, v in values.items():
            find(v, out, path + (k,), parent, found)
    elif isinstance(values, list):
        for i, v in enumerate(values):
            find(v, out, path + (i,), parent, found)
    return found


def resolve(values: Any, choose: Callable[[HyperParameter], Any], spaces: dict[str, HyperParameter],
            positions: dict | None = None) -> Any:
    """Replace every search space in ``values`` by ``choose(hp)``, recursively.

    For a structural choice, ``choose`` returns the option's *index*. When ``positions`` is given
    it is updated in place so that resolved values keep the positions of the option they came from.
    Returns the resolved copy; ``values`` is not modified.
    """
    def walk(v: Any, path: tuple, src: tuple) -> Any:
        if is_search_space(v):
            # By name, not path: a shared ``name`` appears at several paths.
            name = v.get("name", format_path(src))
            hp = spaces.get(name) if isinstance(name, str) else None
            if hp is None:  # an invalid space that was already reported
                return None
            picked = choose(hp)
            if hp.kind == "choice":
                index = picked if hp.structural else hp.values.index(picked)
                return walk(hp.values[index], path, src + ("choice", index))
            if positions is not None and src in positions:
                positions[path] = positions[src]
            return picked
        if positions is not None and src != path and src in positions:
            key_pos = positions.get(path, (None, None))[0]
            positions[path] = (key_pos, positions[src][1])
        if isinstance(v, dict):
            return {k: walk(x, path + (k,), src + (k,)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, path + (i,), src + (i,)) for i, x in enumerate(v)]
        return v

    return walk(values, (), ())


def default_choice(hp: HyperParameter) -> Any:
    """The value ``fit`` uses: ``default`` if given, else the first choice, else the minimum.

    For a structural choice, returns the index of that option.
    """
    if hp.kind == "choice" and hp.structural:
        return next(i for i, v in enumerate(hp.values) if v == hp.default)
    return hp.default
