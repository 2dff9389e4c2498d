"""Export benchmark: size, batch-1 latency and test accuracy of every deployment format.

    python -m benchmarks.export_bench            # writes docs/export-benchmark.{md,json,png}
    python -m benchmarks.export_bench --quick    # fewer epochs/samples; writes under --work only

Two models are trained with :func:`builder.fit`, then exported and verified with
:func:`builder.export.api.export_run` (the same code path as ``dlbuild export``):

* the README's default CNN, ``specs/fashion_cnn.yaml`` (bundled real Fashion-MNIST subset:
  9,000 train / 1,000 validation / 2,000 official-test images), ``--set fit.epochs=N``;
* the curriculum's Transformer, ``specs/transformer_sentiment.yaml``: dlbuild's own composite
  layers (token + position embedding, two Transformer encoder blocks) on the bundled movie-review
  sentences (word ids; the vocabulary is exported beside the model), trained with the spec's own
  epochs and early stopping unless ``--transformer-epochs`` is given.

For each artifact: bytes on disk, test-split accuracy (every test sample, each artifact run by its
own runtime) and batch-1 latency: ``--runs`` timed calls (default 200) after 20 warm-up calls, one
sample each, min / median / max in milliseconds. Keras is timed twice: ``model.predict(x)`` (what
people call) and the plain eager call ``model(x, training=False)``. Runtimes use their default
thread settings. The targets of issue 5 are checked on the medians: every TFLite mode's batch-1
latency <= 0.2x ``model.predict``; int8 >= 3.5x smaller than TFLite fp32 with <= 1 point accuracy
drop against the Keras model.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WARMUP = 20
TARGET_SPEEDUP = 0.2
TARGET_SHRINK = 3.5
TARGET_DROP = 0.01


def _quiet(*_a, **_k):
    pass


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _machine() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        usable = os.cpu_count()
    return {"nproc": usable, "cpu_count": os.cpu_count(), "cpu_model": _cpu_model(),
            "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_start": list(os.getloadavg())}


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "numpy", "tf2onnx", "onnxruntime"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _timings(fn, runs: int) -> list[float]:
    """``runs`` wall times of ``fn()`` in ms after :data:`WARMUP` warm-up calls."""
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"min_ms": round(float(a.min()), 4), "median_ms": round(float(np.median(a)), 4),
            "max_ms": round(float(a.max()), 4), "runs": len(ms)}


def _train(spec_path: Path, overrides: list[str], run_dir: Path) -> dict:
    import builder

    spec = builder.load_spec(spec_path, overrides)
    t = time.perf_counter()
    result = builder.fit(spec, run_dir=run_dir, verbose=0, log=_quiet)
    return {"spec": str(spec_path.relative_to(ROOT)), "overrides": overrides,
            "fit_seconds": round(time.perf_counter() - t, 1),
            "epochs_run": (result.metrics or {}).get("epochs"),
            "test_metrics": (result.metrics or {}).get("test")}


def _latencies(run_dir: Path, report: dict, runs: int) -> dict:
    """Batch-1 latency per artifact (and Keras predict / call), keyed like the table rows."""
    import tensorflow as tf

    from builder.run.artifacts import load_keras, load_run_spec

    from builder.export.reference import run_samples
    from builder.export.runtimes import SIGNATURE, ONNXRunner, TFLiteRunner

    spec = load_run_spec(run_dir)
    x_check, _, _, _, _ = run_samples(spec, 1, 1)
    model = load_keras(run_dir / "model.keras")
    names = [t.name for t in model.inputs]
    x1 = x_check if isinstance(x_check, dict) else {names[0]: np.asarray(x_check)}
    x1 = {k: np.asarray(v[:1]).astype(str(t.dtype)) for (k, v), t in zip(x1.items(), model.inputs)}
    xk = x1[names[0]] if len(names) == 1 else [x1[n] for n in names]
    out = {"keras model.predict": _stats(_timings(lambda: model.predict(xk, verbose=0), runs)),
           "keras model(x)": _stats(_timings(lambda: model(xk, training=False), runs))}
    for e in report["artifacts"]:
        path = run_dir / e["artifact"]
        if e["verdict"] != "ok":
            continue
        if e["format"] == "keras":
            continue  # the same model as above
        if e["format"] == "saved_model":
            fn = tf.saved_model.load(str(path)).signatures[SIGNATURE]
            sig = fn.structured_input_signature[1]
            feed = {k: tf.constant(v, dtype=sig[k].dtype) for k, v in x1.items()}
            out[e["artifact"]] = _stats(_timings(lambda: fn(**feed), runs))
        elif e["format"] == "tflite":
            r = TFLiteRunner(path)
            out[e["artifact"]] = _stats(_timings(lambda: r(x1), runs))
        elif e["format"] == "onnx":
            r = ONNXRunner(path)
            out[e["artifact"]] = _stats(_timings(lambda: r(x1), runs))
    return out


def _const_bytes(path: Path) -> int | None:
    """Bytes of the constant buffers (weights, biases, quantization tables) inside a ``.tflite``;
    the rest of the file is the graph and metadata. Uses TensorFlow's generated flatbuffer schema."""
    try:
        from tensorflow.lite.python import schema_py_generated as fb
    except ImportError:  # pragma: no cover
        return None
    m = fb.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    seen, total = set(), 0
    for g in range(m.SubgraphsLength()):
        sg = m.Subgraphs(g)
        for i in range(sg.TensorsLength()):
            b = sg.Tensors(i).Buffer()
            if b not in seen:
                seen.add(b)
                total += m.Buffers(b).DataLength()
    return total


def bench_model(label: str, spec_path: Path, overrides: list[str], work: Path, runs: int,
                check_samples: int, calibration_samples: int) -> dict:
    from builder.export.api import ExportError, export_run
    from builder.export.to_onnx import onnx_missing

    run_dir = work / label.lower().replace(" ", "_").replace("-", "_")
    print(f"[{label}] training {spec_path.name} {' '.join(overrides)}", flush=True)
    info = _train(spec_path, overrides, run_dir)
    print(f"[{label}] trained in {info['fit_seconds']} s; test {info['test_metrics']}", flush=True)
    formats = ["keras", "saved_model", "tflite"] + ([] if onnx_missing() else ["onnx"])
    try:
        report = export_run(run_dir, formats=formats, quantization=["none", "float16", "dynamic", "int8"],
                            log=lambda m: print(f"[{label}] {m}", flush=True), check_samples=check_samples,
                            calibration_samples=calibration_samples)
    except ExportError as err:  # keep going: the table shows the failed artifact and why
        report = err.export_report
    print(f"[{label}] timing batch-1 calls ({runs} runs each)", flush=True)
    lat = _latencies(run_dir, report, runs)
    weights = {e["artifact"]: _const_bytes(run_dir / e["artifact"]) for e in report["artifacts"]
               if e["format"] == "tflite" and e["verdict"] == "ok"}
    return {"label": label, **info, "export": report, "latency": lat, "tflite_constant_bytes": weights}


def _rows(res: dict) -> list[dict]:
    exp = res["export"]
    ref_acc = exp.get("reference_accuracy")
    arts = {e["artifact"]: e for e in exp["artifacts"]}
    keras_bytes = arts.get("export/model.keras", {}).get("bytes")
    rows = [{"name": "Keras model.predict", "key": "keras model.predict", "bytes": keras_bytes,
             "accuracy": ref_acc, "verdict": "reference"},
            {"name": "Keras model(x)", "key": "keras model(x)", "bytes": keras_bytes, "accuracy": ref_acc,
             "verdict": "reference"}]
    label = {"saved_model": "SavedModel (serving_default)", "onnx": "ONNX (onnxruntime)"}
    for e in exp["artifacts"]:
        if e["format"] == "keras":
            continue
        name = label.get(e["format"]) or f"TFLite {'fp32' if e['quantization'] == 'none' else e['quantization']}"
        rows.append({"name": name, "key": e["artifact"], "bytes": e["bytes"], "accuracy": e["accuracy"],
                     "verdict": e["verdict"], "reason": e.get("reason"), "max_abs_diff": e.get("max_abs_diff")})
    for r in rows:
        r.update(res["latency"].get(r["key"], {}))
    return rows


def _targets(res: dict) -> dict:
    rows = {r["key"]: r for r in _rows(res)}
    pred = rows["keras model.predict"].get("median_ms")
    ref_acc = res["export"].get("reference_accuracy")
    tfl = {k: r for k, r in rows.items() if k.endswith(".tflite") and r.get("median_ms")}
    speed = {k: round(r["median_ms"] / pred, 4) for k, r in tfl.items()} if pred else {}
    fp32, int8 = rows.get("export/model.tflite", {}), rows.get("export/model.int8.tflite", {})
    shrink = (fp32["bytes"] / int8["bytes"]) if fp32.get("bytes") and int8.get("bytes") else None
    drop = (ref_acc - int8["accuracy"]) if int8.get("accuracy") is not None and ref_acc is not None else None
    return {"tflite_latency_vs_predict": speed,
            "latency_target_met": bool(speed) and all(v <= TARGET_SPEEDUP for v in speed.values()),
            "int8_shrink_vs_fp32": round(shrink, 3) if shrink else None,
            "int8_accuracy_drop_points": round(drop * 100, 2) if drop is not None else None,
            "int8_target_met": bool(shrink and shrink >= TARGET_SHRINK and drop is not None
                                    and drop <= TARGET_DROP + 1e-12)}


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(12, 3.4 * len(results)), squeeze=False)
    for ax_row, res in zip(axes, results):
        rows = [r for r in _rows(res) if r.get("median_ms")]
        names = [r["name"] for r in rows]
        med = np.array([r["median_ms"] for r in rows])
        lo = med - np.array([r["min_ms"] for r in rows])
        ax = ax_row[0]
        ax.barh(names, med, xerr=[lo, np.zeros_like(lo)], color="tab:blue")
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("batch-1 latency, median ms (bar from min), log scale")
        ax.set_title(f"{res['label']}: latency")
        sized = [r for r in _rows(res) if r.get("bytes") and r["name"] != "Keras model(x)"]
        ax = ax_row[1]
        ax.barh([r["name"].replace(" model.predict", " (.keras)") for r in sized],
                [r["bytes"] / 1024 for r in sized], color="tab:orange")
        ax.invert_yaxis()
        ax.set_xlabel("KiB on disk")
        ax.set_title(f"{res['label']}: size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(v, spec="{:.3f}"):
    return "n/a" if v is None else spec.format(v)


def _markdown(data: dict) -> str:
    m, v = data["machine"], data["versions"]
    lines = [
        "# Export benchmark: size, batch-1 latency and accuracy per format",
        "",
        f"Generated by `python -m benchmarks.export_bench{' --quick' if data['quick'] else ''}` on "
        f"{data['date']} (raw numbers: [export-benchmark.json](export-benchmark.json), plot: "
        "[export-benchmark.png](export-benchmark.png)).",
        "",
        f"Machine: {m['cpu_model']}, {m['nproc']} usable cores (`nproc`; {m['cpu_count']} online), "
        f"{m['platform']}, Python {m['python']}. Load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['loadavg_start'])}, at end "
        f"{', '.join(f'{x:.2f}' for x in m['loadavg_end'])}: the machine was shared with other jobs, so "
        "the max column and, to a lesser degree, the medians carry that noise.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        f"Method: each model is trained with `builder.fit`, exported and verified with `export_run` (the "
        f"`dlbuild export` code path: every artifact run by its own runtime on the whole test split, "
        f"int8 calibrated on {data['calibration_samples']} training samples). Latency: one sample per call, "
        f"{WARMUP} warm-up calls then {data['runs']} timed calls, wall clock (`time.perf_counter`), "
        "each runtime with its default threads; TFLite calls go through the `serving_default` signature "
        "runner including dlbuild's numpy (de)quantization of int8 tensors. Accuracy = test-split accuracy "
        "of that artifact's outputs; Δ = points against the Keras model.",
        "",
    ]
    for res in data["results"]:
        t = res["targets"]
        pred = next(r for r in _rows(res) if r["key"] == "keras model.predict")["median_ms"]
        fp32 = next((r for r in _rows(res) if r["key"] == "export/model.tflite"), {})
        lines += [f"## {res['label']}: `{res['spec']}`", ""]
        lines += [f"Trained with {', '.join(f'`--set {o}`' for o in res['overrides']) or 'the spec as is'} "
                  f"({res['epochs_run']} epoch(s) run, {res['fit_seconds']} s on this machine); "
                  f"{res['export']['check_samples']} test samples; Keras test accuracy "
                  f"{_fmt(res['export'].get('reference_accuracy'), '{:.4f}')}.", ""]
        lines += ["| format | bytes | × smaller than TFLite fp32 | accuracy | Δ points | max abs Δ | "
                  "latency min / median / max (ms) | median ÷ predict | verdict |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        ref = res["export"].get("reference_accuracy")
        for r in _rows(res):
            shrink = (fp32.get("bytes") / r["bytes"]) if fp32.get("bytes") and r.get("bytes") else None
            drop = (r["accuracy"] - ref) * 100 if r.get("accuracy") is not None and ref is not None else None
            lat = (f"{r['min_ms']:.3f} / **{r['median_ms']:.3f}** / {r['max_ms']:.3f}" if r.get("median_ms")
                   else "n/a")
            ratio = _fmt(r["median_ms"] / pred, "{:.3f}") if r.get("median_ms") and pred else "n/a"
            verdict = r["verdict"] + (f" ({r['reason']})" if r.get("reason") else "")
            lines.append(f"| {r['name']} | {r['bytes'] if r.get('bytes') else 'n/a'} | {_fmt(shrink, '{:.2f}')} | "
                         f"{_fmt(r.get('accuracy'), '{:.4f}')} | {_fmt(drop, '{:+.2f}')} | "
                         f"{_fmt(r.get('max_abs_diff'), '{:.2g}')} | {lat} | {ratio} | {verdict} |")
        cb = res.get("tflite_constant_bytes") or {}
        c32, c8 = cb.get("export/model.tflite"), cb.get("export/model.int8.tflite")
        worst = max(t["tflite_latency_vs_predict"].values()) if t["tflite_latency_vs_predict"] else None
        lines += ["", "Targets:", "",
                  f"- TFLite batch-1 latency ≤ {TARGET_SPEEDUP}× `model.predict`: "
                  f"**{'met' if t['latency_target_met'] else 'NOT met'}** (slowest TFLite mode at "
                  f"{_fmt(worst, '{:.3f}')}× the `model.predict` median).",
                  f"- int8 ≥ {TARGET_SHRINK}× smaller than fp32 with ≤ {TARGET_DROP * 100:g} point accuracy drop: "
                  f"**{'met' if t['int8_target_met'] else 'NOT met'}** ({_fmt(t['int8_shrink_vs_fp32'], '{:.2f}')}× "
                  f"smaller; accuracy {_fmt(None if t['int8_accuracy_drop_points'] is None else -t['int8_accuracy_drop_points'], '{:+.2f}')} "
                  "points against Keras)."]
        if c32 and c8:
            f32, f8 = fp32.get("bytes"), next((r["bytes"] for r in _rows(res) if r["key"] == "export/model.int8.tflite"), None)
            lines += [f"- Where the bytes go: the constant buffers (weights, biases, quantization tables) shrink "
                      f"{c32} → {c8} bytes ({c32 / c8:.2f}×); the rest of the file (graph, tensor metadata, "
                      f"quantize/dequantize ops) is {f32 - c32} bytes in fp32 and {f8 - c8} bytes in int8."]
        lines += [""]
    lines += data.get("notes", [])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.export_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="1 CNN epoch on 2,000 images, 1 Transformer epoch, 300 check samples; "
                        "writes to --work only unless --out is given")
    p.add_argument("--cnn-epochs", type=int, default=None, help="default 4 (quick: 1)")
    p.add_argument("--transformer-epochs", type=int, default=None, help="default: the spec's (quick: 1)")
    p.add_argument("--runs", type=int, default=200, help="timed batch-1 calls per artifact (default 200)")
    p.add_argument("--calibration-samples", type=int, default=200)
    p.add_argument("--work", type=Path, default=None, help="run directories (default: a temporary directory)")
    p.add_argument("--out", type=Path, default=None, help="markdown report (default docs/export-benchmark.md; "
                                                          "quick: WORK/export-benchmark.md)")
    p.add_argument("--render", type=Path, default=None,
                   help="re-render the markdown and plot from an existing export-benchmark.json (no measuring)")
    args = p.parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        out = args.out or args.render.with_suffix(".md")
        _plot(data["results"], out.with_suffix(".png"))
        out.write_text(_markdown(data))
        print(f"wrote {out}")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = args.work or Path(tempfile.mkdtemp(prefix="dlbuild-export-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    out = args.out or (work / "export-benchmark.md" if args.quick else DOCS / "export-benchmark.md")
    cnn_epochs = args.cnn_epochs or (1 if args.quick else 4)
    tr_epochs = args.transformer_epochs or (1 if args.quick else None)
    check = 300 if args.quick else 100_000  # the whole test split unless quick
    machine = _machine()
    cnn_over = [f"fit.epochs={cnn_epochs}"] + (["data.max_train_samples=2000"] if args.quick else [])
    results = [
        bench_model("Fashion-MNIST CNN", ROOT / "specs/fashion_cnn.yaml", cnn_over, work, args.runs, check,
                    args.calibration_samples),
        bench_model("Sentiment Transformer", ROOT / "specs/transformer_sentiment.yaml",
                    [f"fit.epochs={tr_epochs}"] if tr_epochs else [], work, args.runs, check,
                    args.calibration_samples),
    ]
    for res in results:
        res["targets"] = _targets(res)
    machine["loadavg_end"] = list(os.getloadavg())
    data = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "quick": args.quick,
            "machine": machine, "versions": _versions(), "runs": args.runs, "warmup": WARMUP,
            "calibration_samples": args.calibration_samples, "results": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    _plot(results, out.with_suffix(".png"))
    out.write_text(_markdown(data))
    print(f"wrote {out}, {out.with_suffix('.json').name}, {out.with_suffix('.png').name}")
    for res in results:
        print(res["label"], json.dumps(res["targets"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
