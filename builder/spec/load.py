"""Plain values → a typed, frozen, fully checked :class:`Spec` (no TensorFlow).

``load_spec`` is the front door: read YAML (:mod:`builder.spec.source`), apply ``--set`` overrides
(:mod:`builder.spec.overrides`), find search spaces (:mod:`builder.spec.hparams`), resolve them
(to defaults for ``fit``), check every section (:mod:`builder.spec.sections`,
:mod:`builder.spec.section_checks`), expand the model graph (:mod:`builder.spec.topology`), check
loss ↔ output ↔ targets (:mod:`builder.spec.consistency`), and raise one :class:`SpecError` with
*every* problem, sorted by line (docs/architecture.md, "Spec language").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from builder.catalog.registry import Catalog, catalog
from builder.errors import Collector, Diagnostic, SpecError, did_you_mean
from builder.spec import consistency, hparams, placeholders
from builder.spec.overrides import apply_overrides
from builder.spec.section_checks import (
    apply_split, check_compile, check_data, check_evaluation, check_export, check_fit, check_init_from, check_objective,
)
from builder.spec.sections import DEFAULT_SEED, MODEL_KEYS, SECTIONS, TOP_LEVEL, check_section
from builder.spec.source import Source, load
from builder.spec.topology import Topology, expand

# Also importable from here, as before the split, for callers in later stages (builder.model.graph,
# builder.run.crossval, builder.run.evaluate, tests): their homes are sections and section_checks.
from builder.spec.section_checks import augmentation_layer, cross_validation_options, init_from_path, logged_metrics
from builder.spec.sections import EXPORT_FORMATS, REQUIRED, Field

__all__ = ["Spec", "check_values", "load_spec", "resolve_spec",
           "DEFAULT_SEED", "EXPORT_FORMATS", "MODEL_KEYS", "REQUIRED", "SECTIONS", "TOP_LEVEL", "Field",
           "augmentation_layer", "check_section", "cross_validation_options", "init_from_path", "logged_metrics"]


_RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class Spec:
    """A checked spec, search spaces resolved.

    Attributes:
        name: Run name (default: the spec file's stem).
        seed: Seed for Python, NumPy, TensorFlow and the data splits.
        data, compile, fit, export: Sections with every default filled in (plain dicts).
        model: The ``model`` section as written (resolved), and ``topology`` its expanded graph.
        values: The whole resolved document with defaults: what ``spec.resolved.yaml`` holds.
        spaces: Every search space by hyperparameter name (empty for a concrete spec).
        source: The resolved document with positions, for locating errors raised later
            (shape errors, data errors).
        template: The document as written (search spaces kept, ``--set`` applied): what
            ``tune`` resolves again for every trial.
        distribute: The ``distribute`` section (see :mod:`builder.run.distribute`).
    """

    name: str
    seed: int
    data: dict
    model: dict
    compile: dict
    fit: dict
    export: dict
    tune: dict
    topology: Topology
    values: dict
    spaces: dict = field(default_factory=dict)
    source: Source | None = None
    template: Source | None = None
    distribute: dict = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """Directory that relative paths in the spec resolve against."""
        return self.source.directory if self.source else Path.cwd()


def check_values(values: dict, src: Source | None, cat: Catalog, out: Collector) -> Spec | None:
    """Check a resolved document; every problem goes to ``out``. Returns the Spec if none."""
    n0 = len(out.diagnostics)
    for key in values:
        if key not in TOP_LEVEL:
            out.error(f"unknown section '{key}'" + did_you_mean(str(key), TOP_LEVEL), (key,), at="key")
    for key in ("data", "model", "compile"):
        if key not in values:
            out.error(f"the spec needs a '{key}' section", ())
    name = values.get("name") or (Path(src.filename).stem if src else "model")
    # the run directory is runs/<name>/<timestamp>: one path component that cannot climb out (..)
    if not isinstance(name, str) or not _RUN_NAME.fullmatch(name):
        out.error(f"'name' must be a simple name (letters, digits, _ . -); received: {name!r}"
                  + (" (a run directory cannot climb out of runs/)" if isinstance(name, str) and name.startswith(".")
                     else ""), ("name",))
    seed = values.get("seed", DEFAULT_SEED)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        out.error(f"'seed' must be a non-negative integer; received: {seed!r}", ("seed",))
    sections = {k: check_section(k, values.get(k), f, out) for k, f in SECTIONS.items()}
    if "data" in values and isinstance(values["data"], dict):
        apply_split(sections["data"], values["data"], out)
        check_data(sections["data"], src, out)
    model = values.get("model")
    topo = Topology()
    if isinstance(model, dict):
        for key in model:
            if key not in MODEL_KEYS:
                out.error(f"unknown key '{key}' in 'model'" + did_you_mean(str(key), MODEL_KEYS), ("model", key), at="key")
        topo = expand(model, cat, out)
        placeholders.check(model, out)
        check_init_from(model.get("init_from"), src, out)
    elif model is not None:
        out.error("'model' must be a mapping with 'inputs' and 'layers'", ("model",))
    check_compile(sections["compile"], cat, out, list(topo.outputs))
    check_fit(sections["fit"], cat, out)
    check_evaluation(sections["fit"], sections["data"], sections["distribute"], topo, out)
    check_export(sections["export"], out)
    tune = sections["tune"] if values.get("tune") is not None else {}
    if tune:
        check_objective(tune, sections["compile"], sections["data"], cat, out)
    if len(out.diagnostics) > n0:
        return None
    problems = consistency.check_parts(topo, sections["compile"], sections["data"], cat)
    if problems:
        out.diagnostics.extend(problems)
        return None
    resolved = {"name": name, "seed": seed, "data": sections["data"], "model": model,
                "compile": sections["compile"], "fit": sections["fit"], "export": sections["export"]}
    if tune:
        resolved["tune"] = tune
    resolved["distribute"] = sections["distribute"]
    return Spec(name=name, seed=seed, data=sections["data"], model=model, compile=sections["compile"],
                fit=sections["fit"], export=sections["export"], tune=tune, topology=topo,
                values=resolved, source=src, distribute=sections["distribute"])


def resolve_spec(src: Source, spaces: dict, choose: Callable = hparams.default_choice,
                 cat: Catalog | None = None) -> Spec:
    """Resolve search spaces with ``choose`` and check the result.

    Raises:
        SpecError: every problem of the resolved document.
    """
    cat = cat or catalog()
    positions = dict(src.positions)
    values = hparams.resolve(src.values, choose, spaces, positions)
    located = Source(src.filename, src.text, values, positions, src.overrides)
    out = Collector()
    spec = check_values(values, located, cat, out)
    out.raise_if_any(located)
    return Spec(**{**spec.__dict__, "spaces": spaces, "template": src})


def load_spec(path: str | Path, overrides: list[str] | tuple = (), choose: Callable | None = None) -> Spec:
    """Load, override, resolve and check the spec at ``path``.

    Args:
        path: The spec file.
        overrides: ``PATH=VALUE`` strings, as given to ``--set``.
        choose: Resolves each search space (see :func:`builder.spec.hparams.resolve`); default: each
            space's default, as ``dlbuild fit`` does.

    Raises:
        SpecError: every problem in the spec, with file, line and column. Structural choices
            (alternative layers or blocks) are checked in every alternative, not only the default.
    """
    src = load(path)
    if overrides:
        apply_overrides(src, list(overrides))
    out = Collector()
    spaces = hparams.find(src.values, out)
    out.raise_if_any(src)
    cat = catalog()
    try:
        spec = resolve_spec(src, spaces, choose or hparams.default_choice, cat)
        errors: list = []
    except SpecError as err:
        spec, errors = None, _pinned(err)
    # Check every alternative of every choice too (layers, activations, 'repeat' counts…), and
    # both ends of every int/float range, each with the others at their defaults: a trial must
    # never meet an error 'validate' missed.
    for hp in spaces.values():
        if hp.kind == "choice":
            picks = [i if hp.structural else v for i, v in enumerate(hp.values)]
        else:
            picks = [hp.min_value, hp.max_value]
        for value in picks:
            def pick(h, _hp=hp, _v=value):
                return _v if h.name == _hp.name else hparams.default_choice(h)
            try:
                resolve_spec(src, spaces, pick, cat)
            except SpecError as err:
                errors.extend(d for d in _pinned(err) if d not in errors)
    if errors:
        raise SpecError(errors, src)
    return spec


def bind_placeholders(spec: Spec, facts: dict) -> Spec:
    """``spec`` with its data placeholders (``$classes``, ``$features``, ``$length``:
    :mod:`builder.spec.placeholders`) replaced by ``facts`` and checked again; ``spec`` itself when
    it has none. The search spaces stay (``tune`` resolves each trial from the bound template),
    resolved at their defaults like :func:`load_spec`.

    Raises:
        SpecError: a placeholder ``facts`` cannot give (``$classes`` of regression data), at the
            placeholder; or what the bound spec gets wrong (located, like any spec error).
    """
    template = spec.template or spec.source
    found = placeholders.locations(template.values.get("model"))
    if not found:
        return spec
    missing = [Diagnostic(f"${name} ({placeholders.PLACEHOLDERS[name]}) is not known for this data: "
                          + facts.get("why_" + name, "write the number instead"), path)
               for path, name in found if facts.get(name) is None]
    if missing:
        raise SpecError(missing, template)
    values = {**template.values, "model": placeholders.substitute(template.values["model"], facts)}
    bound = Source(template.filename, template.text, values, template.positions, template.overrides)
    return resolve_spec(bound, spec.spaces, hparams.default_choice)


def _pinned(err: SpecError) -> list:
    """The error's diagnostics with explicit positions, so that diagnostics found in different
    resolutions of the search spaces can be reported together."""
    out = []
    for d in err.diagnostics:
        if d.line is None and d.origin is None and err.source is not None:
            line, col = err.source.position(d.path, d.at)
            d = type(d)(d.message, d.path, d.at, line, col, d.origin, d.quote)
        out.append(d)
    return out
