"""``dlbuild doctor``: a click command (registered in main.py) over :mod:`builder.run.doctor`.

Prints versions, the CUDA build, the devices, what ``distribute: auto`` picks, whether mixed
precision pays off, the free disk under the runs root, then one ``advice:`` line per problem;
``--json`` prints the same facts as one JSON object (plus ``problems`` and ``usable``). Exit 0
when training can run (CPU only included), 1 when not. TensorFlow is imported in the body only.
"""

from __future__ import annotations

import json

import click

from builder.cli.report import handle_errors


@click.command("doctor")
@click.option("--runs-root", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where run directories go: its disk's free space is checked (or its nearest existing parent's).")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON (for bug reports and scripts).")
@handle_errors
def doctor_cmd(runs_root: str, as_json: bool) -> None:
    """Check this machine for dlbuild: versions, CUDA, GPUs, distribute auto, mixed precision, disk.

    Exit 0 when training can run (on the CPU only, too), 1 when it cannot.
    """
    from builder.run.doctor import exit_code, gather, problems

    facts = gather(runs_root)
    found = problems(facts)
    code = exit_code(found)
    if as_json:
        click.echo(json.dumps({**facts, "problems": found, "usable": code == 0}, indent=2))
    else:
        click.echo(format_report(facts, found))
    if code:
        raise click.exceptions.Exit(code)


def format_report(facts: dict, found: list) -> str:
    """The text report of :func:`builder.run.doctor.gather`'s facts and the problems found in them:
    aligned ``name: value`` lines in four sections, then one ``advice:`` line per problem (or
    ``no problems found``). Sizes in GiB. Raises nothing on facts of ``gather``'s shape."""
    from builder.run.doctor import GIB, plural

    v, tf, keras, smi, cpu, disk = (facts[k] for k in ("versions", "tensorflow", "keras", "nvidia_smi", "cpu", "disk"))
    gpus, auto, mp = facts["gpus"], facts["distribute_auto"], facts["mixed_precision"]
    dists = f" ({', '.join(tf['distributions'])})" if tf["distributions"] else ""
    ver = {name: f"{v[key]}{extra}" if v.get(key) else "not installed" for name, key, extra in (
        ("Python", "python", ""), ("TensorFlow", "tensorflow", dists), ("Keras", "keras", ""),
        ("Keras Tuner", "keras_tuner", ""), ("LiteRT", "ai_edge_litert", " (ai-edge-litert)"),
        ("NumPy", "numpy", ""), ("dlbuild", "dlbuild", ""))}

    def gib(n) -> str:
        return "?" if n is None else f"{n / GIB:.1f} GiB"

    cuda = ("unknown" if tf["built_with_cuda"] is None else "no (a CPU-only build)" if not tf["built_with_cuda"]
            else f"yes (CUDA {tf['cuda_version']}, cuDNN {tf['cudnn_version']})")
    install = {"TensorFlow imports": "yes" if tf["importable"] else f"no: {tf['error']}", "CUDA build": cuda,
               "Keras imports": "yes" if keras["importable"] else f"no: {keras['error']}",
               "Keras backend": keras["backend"] or f"unknown (KERAS_BACKEND={keras['backend_env'] or 'unset'})"}
    usable = f" ({cpu['usable_cores']} usable by this process)" if cpu["usable_cores"] is not None else ""
    devices = {"CPU cores": f"{cpu['cores']}{usable}",
               "GPUs": "unknown (TensorFlow does not work)" if gpus is None else str(len(gpus)) if gpus
               else "none (CPU only)"}
    for g in gpus or []:
        cc = g["compute_capability"]
        devices[g["name"]] = f"{g['model'] or 'GPU'}, compute capability {f'{cc[0]}.{cc[1]}' if cc else '?'}"
    devices["nvidia-smi"] = ("not on PATH" if not smi["found"] else f"error: {smi['error']}" if smi["error"]
                             else plural(len(smi["gpus"]), "GPU")
                             + (f", driver {smi['gpus'][0]['driver']}" if smi["gpus"] else ""))
    for g in smi["gpus"]:
        devices[f"nvidia-smi {g['index']}"] = (f"{g['name']}, {gib(g['memory_total_bytes'])}, "
                                               f"{gib(g['memory_free_bytes'])} free")
    training = {"distribute auto": "unknown (TensorFlow does not work)" if auto is None
                else auto["placement"] or f"fails: {auto['error']}",
                "mixed precision": f"{'pays off' if mp['pays_off'] else 'no gain'}: {mp['reason']}",
                "free disk": f"error: {disk['error']}" if disk["free_bytes"] is None
                else f"{gib(disk['free_bytes'])} of {gib(disk['total_bytes'])} under {disk['checked']}"}
    sections = {"versions": ver, "install": install, "devices": devices, "training": training}
    width = max(len(name) for rows in sections.values() for name in rows) + 1
    lines = []
    for title, rows in sections.items():
        lines += [f"{title}:"] + [f"  {name + ':':<{width}} {value}" for name, value in rows.items()]
    return "\n".join(lines + ([f"advice: {p['advice']}" for p in found] or ["no problems found"]))
