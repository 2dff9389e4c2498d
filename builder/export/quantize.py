"""int8 calibration in a child process, so a converter crash becomes a failed artifact.

int8 calibration of a static-batch LSTM/GRU segfaults the TFLite converter unless
``unroll=True`` (docs/architecture.md, "Verified facts: LiteRT"). The parent
(:func:`calibrate_in_child`) saves the model and the representative samples to a temporary
directory and runs ``python -m builder.export.quantize int8 MODEL.keras REPS.npz (QUANT OUT.tflite)...``;
the child converts each mode with :func:`builder.export.to_tflite.convert_tflite` and prints one
``DLBUILD_INT8 {"quantization": q, "error": reason | null}`` line per mode. Output: ``{quantization:
None if converted else reason}``; a crash or a non-zero exit becomes the reason of every mode the
child did not report, naming the cause and the fix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from builder.export.batches import n_samples
from builder.export.model_facts import recurrent_layers
from builder.export.report import short_error
from builder.export.to_tflite import convert_tflite
from builder.run.artifacts import load_keras

TAG = "DLBUILD_INT8 "  # prefix of the child's result lines on stdout


def calibrate_in_child(model, representative_x: dict, jobs: list[tuple[str, Path]], tmp_dir: Path,
                       log=print) -> dict[str, str | None]:
    """Convert ``model`` to each ``(quantization, path)`` of ``jobs`` in one child process.

    Args:
        model: A built ``keras.Model`` (saved to a ``.int8-*`` temporary directory in ``tmp_dir``).
        representative_x: ``{input_name: (n, ...)}`` training samples for calibration.
        jobs: ``[(quantization, destination .tflite)]``, int8 modes.
        tmp_dir: Where the temporary directory goes (the export directory: its ``.``-names are
            removed by the next export if this process is killed).
        log: Progress lines.

    Returns:
        ``{quantization: None if converted, else the reason}`` for every job.
    """
    rnn = recurrent_layers(model)
    unrolled = bool(rnn) and all(getattr(l, "unroll", False) for l in rnn)
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix=".int8-") as tmp:
        mfile, rfile = Path(tmp) / "model.keras", Path(tmp) / "representative.npz"
        model.save(mfile)
        np.savez(rfile, **representative_x)
        log(f"dlbuild: int8 calibration on {n_samples(representative_x)} training samples (child process)")
        return _run_child(mfile, rfile, jobs, bool(rnn), unrolled)


def _run_child(model_file: Path, reps: Path, jobs: list[tuple[str, Path]], has_rnn: bool,
               unrolled: bool) -> dict[str, str | None]:
    """Run the child; ``{quantization: None if ok else reason}``."""
    args = [sys.executable, "-m", "builder.export.quantize", "int8", str(model_file), str(reps)]
    for q, p in jobs:
        args += [q, str(p)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    done: dict[str, str | None] = {}
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            rec = json.loads(line[len(TAG):])
            done[rec["quantization"]] = rec.get("error")
    if proc.returncode != 0:
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            cause = f"the TFLite converter crashed ({sig}) while calibrating int8"
        else:
            tail = [l for l in proc.stderr.strip().splitlines() if l.strip()][-1:] or ["no message"]
            cause = f"the int8 conversion process failed (exit {proc.returncode}): {tail[0][:300]}"
        if has_rnn and not unrolled:
            cause += ("; known for LSTM/GRU with a static batch (docs/architecture.md, \"Verified facts: "
                      "LiteRT\"): set `unroll: true` on the recurrent layers (fixed sequence length), or use "
                      "quantization dynamic or float16")
        for q, _ in jobs:
            done.setdefault(q, cause)
    return done


def main(argv: list[str]) -> int:
    """Child side of :func:`calibrate_in_child`: ``MODEL.keras REPS.npz (QUANT OUT.tflite)...``;
    one :data:`TAG` line per mode on stdout; exit 0 (a mode's error is reported, not raised)."""
    model = load_keras(argv[0])
    with np.load(argv[1], allow_pickle=False) as npz:
        reps = {k: npz[k] for k in npz.files}
    for q, out in zip(argv[2::2], argv[3::2]):
        try:
            convert_tflite(model, Path(out), q, reps)
            err = None
        except Exception as exc:  # reported by the parent, per artifact
            err = short_error(exc)
        print(TAG + json.dumps({"quantization": q, "error": err}), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "int8":
        sys.exit(main(sys.argv[2:]))
    sys.exit("usage: python -m builder.export.quantize int8 MODEL.keras REPS.npz (QUANT OUT.tflite)...")
