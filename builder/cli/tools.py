"""``dlbuild check`` / ``explain`` / ``schema`` / ``import``: click commands (registered in cli.py).

Thin adapters: parsing here, work in :mod:`builder.model.check`, :mod:`builder.spec.explain`,
:mod:`builder.spec.schema` and :mod:`builder.model.importer`. TensorFlow is imported inside command bodies
only. Exit codes as every dlbuild command: 0 success (warnings included), 1 runtime failure,
2 spec or usage error.
"""

from __future__ import annotations

import click

from builder.cli.report import echo_diagnostics, fail, handle_errors

_set_option = click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                           help="Override a spec value, e.g. --set fit.epochs=3 (repeatable).")


@click.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@_set_option
@click.option("--render", is_flag=True,
              help="Print the fully resolved spec (every section default filled in) instead of the table.")
@handle_errors
def check_cmd(spec: str, overrides: tuple, render: bool) -> None:
    """Build SPEC's model without data: per-layer shapes, parameters, FLOPs, memory, and warnings.

    (A spec with data placeholders, $classes, $features or $length, reads its data to bind them.)

    Warnings (exit 0) point at YAML lines; a spec error exits 2.
    """
    from builder.errors import SpecError
    from builder.spec.load import load_spec

    s = load_spec(spec, overrides)
    from builder.spec.placeholders import used

    if used(s.values.get("model")):  # $classes, $features, $length: the data gives them
        from builder.run.preflight import bind_data
        from builder.data.load import load_splits

        s = bind_data(s, load_splits(s))
    if render:
        from builder.model.check import render as render_spec

        click.echo(render_spec(s), nl=False)
        return
    from builder.model.check import check_spec, format_report
    from builder.model.lint import static_warnings

    try:
        report = check_spec(s)
    except SpecError:
        # The build failed; warnings that explain why (an LSTM without return_sequences feeding
        # another one) are still worth showing before the error.
        for w in static_warnings(s):
            echo_diagnostics(w.format(s))
        raise
    click.echo(format_report(s, report))


@click.command("explain")
@click.argument("name")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Also look NAME up among the blocks this spec defines.")
@click.option("--short", is_flag=True, help="Arguments only, without the docstring.")
@handle_errors
def explain_cmd(name: str, spec_path: str | None, short: bool) -> None:
    """Explain NAME: a Keras layer, optimizer, loss, metric, callback, activation, initializer,
    regularizer, constraint or schedule, a spec section (fit, fit.epochs), or a block of --spec."""
    from builder.spec.explain import UnknownName, explain, explain_path_exists

    explain_path_exists(spec_path)
    try:
        click.echo(explain(name, spec_path, with_doc=not short))
    except UnknownName as err:
        fail(f"dlbuild: error: {err}", 2)


@click.command("schema")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write the schema to this file (default: standard output).")
def schema_cmd(output: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of spec files, generated from the spec model and
    the installed Keras's catalog. See docs/editor-setup.md for VS Code / yaml-language-server."""
    from builder.spec.schema import schema_json

    text = schema_json()
    if output:
        from pathlib import Path

        Path(output).write_text(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@click.command("import")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write the spec to this file (default: standard output).")
@click.option("--name", help="The spec's name (default: the model's name).")
@handle_errors
def import_cmd(model: str, output: str | None, name: str | None) -> None:
    """Turn a Keras MODEL (.keras, Sequential or functional, built-in layers) into a spec that
    rebuilds its architecture (loaded with safe_mode=True; weights are not carried over)."""
    from builder.model.importer import import_model

    text = import_model(model, name)
    if output:
        from pathlib import Path

        Path(output).write_text(text)
        click.echo(f"wrote {output}; fill in its data section, then: dlbuild check {output}", err=True)
    else:
        click.echo(text, nl=False)
