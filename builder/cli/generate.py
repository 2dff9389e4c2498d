"""``dlbuild generate``: text from a trained language-model or seq2seq run (a click command;
registered in :mod:`builder.cli.main`). TensorFlow is imported inside the command body only.

``--exact-match test|val`` decodes a seq2seq run's whole split instead and prints its exact-match
accuracy. Exit codes: 0 success; 1 the run cannot generate (no model or vocabulary, a model that is neither a
language model nor a seq2seq model); 2 a usage mistake (click's own, e.g. ``--length 0``).
"""

from __future__ import annotations

import click

from builder.cli.report import handle_errors


@click.command("generate")
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(exists=True, file_okay=False))
@click.option("--prompt", help="Text to continue (language model) or to reply to (seq2seq).")
@click.option("--length", "-n", default=200, show_default=True, type=click.IntRange(min=1),
              help="Tokens to generate (seq2seq: at most; it stops at [END]).")
@click.option("--temperature", "-t", type=click.FloatRange(min=0.0),
              help="Sampling temperature; 0 = greedy (arg-max). Default: 1.0 for a language model, 0 for seq2seq.")
@click.option("--top-k", "-k", type=click.IntRange(min=1), help="Sample among the K most probable tokens only.")
@click.option("--seed", type=int, help="Seed of the sampler: the same seed gives the same text.")
@click.option("--exact-match", type=click.Choice(["test", "val"]),
              help="Seq2seq: greedy-decode every source of this split and report the exact-match accuracy.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the text (no line about the run on stderr).")
@handle_errors
def generate_cmd(run_dir: str, prompt: str | None, length: int, temperature: float | None, top_k: int | None,
                 seed: int | None, exact_match: str | None, quiet: bool) -> None:
    """Generate text from RUN_DIR: sample from a language model, or greedy-decode a seq2seq reply.

    Prints the text (language model: prompt + continuation; seq2seq: the reply) on stdout, and on
    stderr one line about the run (for a language model its validation perplexity, exp(val_loss)).
    """
    from builder.export.generate import describe, generate
    from builder.export.genrun import load_run

    if exact_match:
        _report_exact_match(run_dir, exact_match)
        return
    if prompt is None:
        raise click.UsageError("give --prompt TEXT (or --exact-match test|val for a seq2seq run)")
    run = load_run(run_dir)
    if not quiet:
        click.echo(describe(run), err=True)
    result = generate(run, prompt, length, temperature=temperature, top_k=top_k, seed=seed)
    if result.unknown and not quiet:
        shown = ", ".join(repr(t) for t in sorted(set(result.unknown))[:10])
        click.echo(f"note: {len(result.unknown)} prompt token(s) not in the vocabulary, read as [UNK]: {shown}",
                   err=True)
    click.echo(result.text)
    if result.kind == "seq2seq" and not result.stopped and not quiet:
        click.echo(f"note: no [END] within {len(result.ids)} tokens", err=True)


def _report_exact_match(run_dir: str, split: str) -> None:
    """Print :func:`builder.export.exact_match.exact_match` on ``split``: overall, on sources never seen in
    training, and a few (source, reference, reply) examples."""
    from builder.export.exact_match import exact_match

    r = exact_match(run_dir, split)
    click.echo(f"{split}: exact match {r.accuracy:.4f} ({r.correct}/{r.n} greedy replies equal the reference)")
    if r.unseen_accuracy is not None:
        click.echo(f"  on the {r.unseen} sources not in the training split: {r.unseen_accuracy:.4f}")
    for source, reference, reply in r.examples:
        click.echo(f"  {source!r} -> {reply!r}" + ("" if reply == reference else f" (reference {reference!r})"))
