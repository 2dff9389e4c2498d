"""Start-up: wall time of ``dlbuild --help``, ``validate`` and ``check`` against importing TensorFlow.

Each command runs in a fresh process (``subprocess``, output captured) from the repository root,
the way a user types it: the ``dlbuild`` console script of this environment. ``python -c pass``
(the interpreter alone) and ``python -c "import tensorflow"`` are the floors. One untimed round
first warms the page cache; then the commands run round-robin, the order reversed every other
round, and each command's wall time is reported as min / median / max and as a ratio to
``import tensorflow`` measured in the same round. The child's CPU time (user + system, from
``os.wait4``) is reported beside it: on a loaded machine a process waits for a core, so wall time
grows with other people's load while CPU time stays close to what the command itself costs.

``--quick`` times only the commands that never import TensorFlow (``python -c pass``, ``--help``,
``validate``), so the smoke test of this group takes seconds.
"""

from __future__ import annotations

import sys

from benchmarks.common import Config, Section, child_env, dlbuild_command, fmt_stats, md_table, run_timed, stats

TARGET_VALIDATE_S = 0.5  # issue 8: `dlbuild validate` answers in at most half a second
SPEC = "specs/fashion_cnn.yaml"


TF_KEY = 'python -c "import tensorflow"'
VALIDATE_KEY = f"dlbuild validate {SPEC}"


def commands(quick: bool = False) -> dict[str, list[str]]:
    """The timed commands, by the label the report shows (``quick``: the TensorFlow-free ones)."""
    dl = dlbuild_command()
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        TF_KEY: [sys.executable, "-c", "import tensorflow"],
        "dlbuild --help": dl + ["--help"],
        VALIDATE_KEY: dl + ["validate", SPEC],
        f"dlbuild check {SPEC}": dl + ["check", SPEC],
    }
    if quick:
        cmds = {k: v for k, v in cmds.items() if k in ("python -c pass", "dlbuild --help", VALIDATE_KEY)}
    return cmds


def run(cfg: Config) -> Section:
    """The start-up group; see the module docstring.

    Raises:
        RuntimeError: a command failed (its exit status and output are in the message).
    """
    cmds = commands(cfg.quick)
    repeats = cfg.repeats(7, 2)
    env = child_env()
    names = list(cmds)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats + 1):
        for n in (names if r % 2 == 0 else names[::-1]):
            res = run_timed(cmds[n], env=env, timeout_s=300)
            if res["returncode"] != 0:
                raise RuntimeError(f"`{n}` exited with {res['returncode']}: {res['output']}")
            if r > 0:  # round 0 warms the page cache
                times[n].append(res["wall_s"])
                cpu[n].append(res["cpu_s"])
    return section(cfg, {"commands": {n: " ".join(c) for n, c in cmds.items()}, "wall_s": times, "cpu_s": cpu,
                         "repeats": repeats})


def section(cfg: Config, raw: dict) -> Section:
    """The report section of the start-up numbers."""
    times, cpu, repeats = raw["wall_s"], raw["cpu_s"], raw["repeats"]
    names = list(times)
    rows = []
    for n in names:
        rel = f"{stats([a / b for a, b in zip(times[n], times[TF_KEY])])['median']:.2f}" if TF_KEY in times else "–"
        rows.append([f"`{n}`", fmt_stats(stats(times[n]), 3), fmt_stats(stats(cpu[n]), 3), rel])
    validate = stats(times[VALIDATE_KEY])
    validate_cpu = stats(cpu[VALIDATE_KEY])
    met = None if cfg.quick else validate["median"] <= TARGET_VALIDATE_S
    tf_text = f"; `import tensorflow` median {stats(times[TF_KEY])['median']:.2f} s" if TF_KEY in times else ""
    cfg.log(f"  startup: validate {validate['median']:.3f} s wall, {validate_cpu['median']:.3f} s CPU{tf_text}")
    body = md_table(["command", "wall time, s: median (min–max)", "CPU time (user + sys), s: median (min–max)",
                     "wall ÷ import tensorflow (median of per-round ratios)"], rows)
    body += ["", f"{repeats} timed rounds. `validate` and `--help` never import TensorFlow (the CLI imports it "
             "inside the commands that need it); `check` builds the model, so it pays for TensorFlow and Keras."]
    if met is False and validate_cpu["median"] <= TARGET_VALIDATE_S:
        body += ["", f"`validate` missed the target in wall time, but its own work (CPU time, median "
                 f"{validate_cpu['median']:.3f} s) is within it: the rest is time spent waiting for a core while "
                 "other jobs ran (load average in the header)."]
    return Section(
        key="startup", title="Start-up",
        method=["- Wall time of each command as a fresh process (`subprocess`, stdout and stderr captured), run from "
                "the repository root through this environment's `dlbuild` script; `python -c pass` and "
                "`python -c \"import tensorflow\"` measured alongside. One untimed warm-up round, then round-robin "
                "rounds with the order reversed every other round."],
        target=f"`dlbuild validate` ≤ {TARGET_VALIDATE_S} s (median)", met=met,
        verdict=f"`dlbuild validate` median {validate['median']:.3f} s wall (min {validate['min']:.3f}, max "
                f"{validate['max']:.3f}), {validate_cpu['median']:.3f} s CPU{tf_text}",
        body=body, raw=raw)
