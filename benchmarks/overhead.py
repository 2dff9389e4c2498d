"""Overhead: a spec-built model against the same model written by hand in Keras.

For the default CNN (``specs/fashion_cnn.yaml``), the ResNet (``specs/resnet_small.yaml``) and the
Transformer (``specs/transformer_sentiment.yaml``), the hand-written equivalents below are plain
Keras, written the way the Keras guides write such models (functional API, one helper per block).
Before anything is timed, the benchmark asserts that both models have the same number of
parameters, then copies (perturbed) weights from the spec model into the hand-written one and
compares their outputs: the two are the same function, not merely the same size.

Both models are compiled with the same settings and trained with ``model.fit`` on the same
in-memory ``tf.data`` pipeline (a few real batches of the spec's data, cached and repeated), so both
go through Keras's compiled train function. After a warm-up fit (tracing), they rotate with a second
copy of the spec model (spec, hand-written, copy, then copy, hand-written, spec, …) and each timed
fit runs ``steps`` steps; the figures are seconds per train step (wall and this process's CPU time,
:func:`benchmarks.common.timed`) and the per-round ratio spec / hand-written; the verdict uses the
CPU-time ratio, which other jobs on a shared machine disturb far less. The ratio spec / copy (an
A/A control: the same model twice) shows how far noise alone moves a ratio in this run. Model build time is timed the same way: ``build_model(spec)`` (and ``load_spec`` +
``build_model`` from the YAML file) against the hand-written function.

A second comparison times the training loop of ``dlbuild fit`` itself: the same spec model fitted
with dlbuild's own callbacks (epoch log, NaN guard, BackupAndRestore, TensorBoard; built by
``builder.run.callbacks.build_callbacks``) against a bare ``model.fit``.
"""

from __future__ import annotations

import shutil

import numpy as np

from benchmarks.common import (ROOT, Config, Section, alternating, fmt_ratio, fmt_stats, md_table, ratio_summary,
                               ratios, stats, timed)

TARGET_RATIO = 1.02  # issue 8: spec-built train step time ≤ 1.02 × the hand-written model's
SPECS = {
    "fashion_cnn": ROOT / "specs" / "fashion_cnn.yaml",
    "resnet_small": ROOT / "specs" / "resnet_small.yaml",
    "transformer_sentiment": ROOT / "specs" / "transformer_sentiment.yaml",
}


# --- the hand-written Keras models -------------------------------------------------------------

def fashion_cnn(compile: bool = True):
    """The default CNN of ``specs/fashion_cnn.yaml`` in plain Keras (compiled unless ``compile=False``).

    Input ``(batch, 28, 28, 1)`` uint8 pixels; output ``(batch, 10)`` class probabilities.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64):  # two conv stages: conv → BN → conv → BN → pool → dropout
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4))(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="fashion_cnn_keras")
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def resnet_small(compile: bool = True):
    """The residual CNN of ``specs/resnet_small.yaml`` (He et al. 2015) in plain Keras (compiled unless
    ``compile=False``).

    Input ``(batch, 28, 28, 1)``; output ``(batch, 10)``.
    """
    import keras
    from keras import layers

    def residual(x, filters):  # identity shortcut: relu(x + F(x))
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU()(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        return layers.ReLU()(layers.Add()([x, y]))

    def projection(x, filters, strides=2):  # 1x1 projection shortcut: relu(W·x + F(x))
        y = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU()(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
        return layers.ReLU()(layers.Add()([shortcut, y]))

    inputs = keras.Input(shape=(28, 28, 1), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(32, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = residual(x, 32)
    x = residual(x, 32)
    x = projection(x, 64)
    x = residual(x, 64)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="resnet_small_keras")
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _position_embedding_class():
    import keras

    class PositionEmbedding(keras.layers.Layer):
        """Adds one learned vector per position: ``(batch, time, d) → (batch, time, d)``."""

        def __init__(self, sequence_length, **kwargs):
            super().__init__(**kwargs)
            self.sequence_length = sequence_length

        def build(self, input_shape):
            self.embeddings = self.add_weight(shape=(self.sequence_length, input_shape[-1]),
                                              initializer="uniform", name="embeddings")

        def call(self, x):
            return x + self.embeddings[None, : keras.ops.shape(x)[1]]

    return PositionEmbedding


def transformer_sentiment(vocabulary_size=5000, sequence_length=40, d_model=32, num_heads=4, d_ff=64, blocks=2,
                          compile: bool = True):
    """The Transformer classifier of ``specs/transformer_sentiment.yaml`` (Vaswani et al. 2017,
    post-LN encoder blocks) in plain Keras (compiled unless ``compile=False``), with the padding
    mask passed explicitly.
    The defaults are the spec's sizes.

    Input ``(batch, sequence_length)`` int32 word ids (0 = padding); output ``(batch, 1)`` probability.
    """
    import keras
    from keras import layers, ops

    def encoder_block(x, attention_mask):  # x: (batch, time, d_model)
        attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=d_model // num_heads, dropout=0.1)(
            x, x, attention_mask=attention_mask)
        x = layers.LayerNormalization(epsilon=1e-5)(layers.Add()([x, layers.Dropout(0.1)(attention)]))
        ff = layers.Dense(d_ff, activation="relu")(x)
        ff = layers.Dense(d_model)(ff)
        return layers.LayerNormalization(epsilon=1e-5)(layers.Add()([x, layers.Dropout(0.1)(ff)]))

    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    padding = ops.not_equal(tokens, 0)                      # (batch, time): True on real words
    x = layers.Embedding(vocabulary_size, d_model)(tokens)  # (batch, time, d_model)
    x = _position_embedding_class()(sequence_length)(x)
    x = layers.Dropout(0.1)(x)
    attention_mask = ops.expand_dims(padding, 1)            # (batch, 1, time): no query sees padding
    for _ in range(blocks):
        x = encoder_block(x, attention_mask)
    x = layers.GlobalAveragePooling1D()(x, mask=padding)    # mean over real words only
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(tokens, outputs, name="transformer_sentiment_keras")
    if compile:
        schedule = keras.optimizers.schedules.CosineDecay(initial_learning_rate=0.0, decay_steps=800,
                                                          warmup_target=5e-4, warmup_steps=120)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="binary_crossentropy",
                      metrics=["accuracy"])
    return model


HAND_WRITTEN = {"fashion_cnn": fashion_cnn, "resnet_small": resnet_small,
                "transformer_sentiment": transformer_sentiment}


# --- checks ------------------------------------------------------------------------------------

def same_function(spec_model, hand_model, x, seed: int = 0) -> float:
    """Copy perturbed weights of ``spec_model`` into ``hand_model`` and compare their outputs.

    Weights are paired in each model's order by (variable name, shape), e.g. the n-th ``kernel``
    of shape (64, 128) with the n-th; they are perturbed first (Gaussian noise, σ 0.05; moving
    variances scaled by U(0.5, 1.5)) so that no two freshly initialised weights (ones, zeros) can
    be swapped unnoticed.

    Returns:
        max |spec_model(x) − hand_model(x)| in inference mode.

    Raises:
        AssertionError: the weights cannot be paired (different variables).
    """
    rng = np.random.default_rng(seed)
    for v in spec_model.weights:
        w = np.asarray(v.numpy())
        if v.name == "moving_variance":
            w = w * rng.uniform(0.5, 1.5, w.shape)
        else:
            w = w + rng.normal(0.0, 0.05, w.shape)
        v.assign(w.astype(w.dtype))
    pool: dict = {}
    for v in spec_model.weights:
        pool.setdefault((v.name, tuple(v.shape)), []).append(v)
    for v in hand_model.weights:
        key = (v.name, tuple(v.shape))
        assert pool.get(key), f"no weight {key} left in the spec model to copy into {v.path}"
        v.assign(pool[key].pop(0).numpy())
    left = [k for k, vs in pool.items() if vs]
    assert not left, f"spec model weights left unpaired: {left}"
    a = np.asarray(spec_model(x, training=False))
    b = np.asarray(hand_model(x, training=False))
    return float(np.max(np.abs(a - b)))


# --- timing ------------------------------------------------------------------------------------

def _step_timer(model, ds, steps: int, callbacks=None):
    """A callable: one ``model.fit`` of ``steps`` steps on ``ds``; returns wall and CPU seconds per
    step (``callbacks``: a factory called before each fit, timed with it)."""
    def run() -> dict:
        t = timed(lambda: model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
                                    callbacks=callbacks() if callbacks else None))
        return {k: v / steps for k, v in t.items()}
    return run


def _pairs(step: dict, a: str, b: str) -> dict:
    """Per-repeat ratios a / b of wall and CPU time per step, summarised."""
    return {kind: ratio_summary(ratios([m[kind] for m in step[a]], [m[kind] for m in step[b]]))
            for kind in ("wall_s", "cpu_s")}


def bench_model(name: str, cfg: Config, steps: int, repeats: int) -> dict:
    """Parameters, equivalence, build times and train-step times of one spec and its twin.

    Raises:
        AssertionError: the parameter counts differ, or the two models compute different functions.
    """
    import tensorflow as tf

    import builder
    from builder.model.graph import build_compile_args, build_model
    from builder.data.load import align_targets, load_splits

    path = SPECS[name]
    spec = builder.load_spec(path)
    spec_model = build_model(spec)
    spec_model.compile(**build_compile_args(spec))
    hand_model = HAND_WRITTEN[name]()
    params = {"spec": int(spec_model.count_params()), "hand_written": int(hand_model.count_params())}
    assert params["spec"] == params["hand_written"], f"{name}: parameter counts differ: {params}"
    splits = align_targets(load_splits(spec), spec_model)
    bs = spec.fit["batch_size"]
    distinct = 4 if cfg.quick else 8  # real batches, cached and repeated
    x, y = splits.train[0][: bs * distinct], splits.train[1][: bs * distinct]
    max_diff = same_function(spec_model, hand_model, x[:16])
    assert max_diff < 1e-4, f"{name}: the hand-written model computes something else (max |diff| {max_diff})"
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(bs, drop_remainder=True).cache().repeat()
    # A/A control: a second copy of the spec model, timed in the same rotation; its ratio to the
    # first copy is this run's noise floor (two identical models differ only by measurement noise).
    spec_copy = build_model(spec)
    spec_copy.compile(**build_compile_args(spec))
    for model in (spec_model, hand_model, spec_copy):  # warm-up: trace the train function, fill the cache
        model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    step = alternating({"spec": _step_timer(spec_model, ds, steps),
                        "hand_written": _step_timer(hand_model, ds, steps),
                        "spec_copy": _step_timer(spec_copy, ds, steps)}, repeats)
    build_model(spec)  # warm-up of the build paths (first calls import and cache)
    HAND_WRITTEN[name](compile=False)
    builds = alternating({
        "build_model(spec)": lambda: timed(lambda: build_model(spec)),
        "load_spec + build_model": lambda: timed(lambda: build_model(builder.load_spec(path))),
        "hand_written": lambda: timed(lambda: HAND_WRITTEN[name](compile=False)),
    }, max(repeats // 2, 3))
    r = _pairs(step, "spec", "hand_written")
    control = _pairs(step, "spec", "spec_copy")
    cfg.log(f"  overhead {name}: {params['spec']:,} params, max|Δ| {max_diff:.2e}, step ratio CPU "
            f"{fmt_ratio(r['cpu_s'])}, wall {fmt_ratio(r['wall_s'])}; A/A control CPU {fmt_ratio(control['cpu_s'])}")
    return {"spec": str(path.relative_to(ROOT)), "params": params, "max_abs_output_diff": max_diff,
            "batch_size": bs, "steps_per_fit": steps, "repeats": repeats, "step": step, "step_ratio": r,
            "control_ratio": control,
            "build": builds, "build_ratio": _pairs(builds, "build_model(spec)", "hand_written")}


def bench_fit_loop(cfg: Config, steps: int, repeats: int) -> dict:
    """Seconds per step of ``fit`` with dlbuild's own callbacks against a bare ``model.fit``
    (default CNN; the spec's own callbacks, here early stopping, are left out of both)."""
    import tensorflow as tf

    import builder
    from builder.model.graph import build_compile_args, build_model
    from builder.run.rundir import RunDir
    from builder.data.load import align_targets, load_splits
    from builder.run.callbacks import build_callbacks, nan_guard as _nan_guard

    spec = builder.load_spec(SPECS["fashion_cnn"], overrides=["fit.callbacks=[]"])
    model = build_model(spec)
    model.compile(**build_compile_args(spec))
    splits = align_targets(load_splits(spec), model)
    bs = spec.fit["batch_size"]
    n = bs * (4 if cfg.quick else 8)
    ds = tf.data.Dataset.from_tensor_slices((splits.train[0][:n], splits.train[1][:n])).batch(bs).cache().repeat()
    root = cfg.work / "overhead-fit-loop"
    shutil.rmtree(root, ignore_errors=True)
    counter = iter(range(10**6))

    def dlbuild_callbacks():  # what builder.run.train.fit passes to model.fit, in a fresh run directory
        run = RunDir(root / f"run{next(counter)}")
        run.prepare()
        cbs = build_callbacks(spec, run)
        cbs.insert(1, _nan_guard())
        return cbs

    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False, callbacks=dlbuild_callbacks())  # warm-up
    step = alternating({"dlbuild callbacks": _step_timer(model, ds, steps, dlbuild_callbacks),
                        "bare model.fit": _step_timer(model, ds, steps)}, repeats)
    shutil.rmtree(root, ignore_errors=True)
    r = _pairs(step, "dlbuild callbacks", "bare model.fit")
    # what the callbacks add per fit (one epoch here), and that as a share of one real epoch
    added = {kind: stats([steps * (a[kind] - b[kind]) for a, b in zip(step["dlbuild callbacks"],
                                                                      step["bare model.fit"])])["median"]
             for kind in ("wall_s", "cpu_s")}
    epoch_steps = -(-len(splits.train[1]) // bs)
    share = {kind: added[kind] / (epoch_steps * stats([m[kind] for m in step["bare model.fit"]])["median"])
             for kind in added}
    cfg.log(f"  overhead fit loop: ratio CPU {fmt_ratio(r['cpu_s'])}, wall {fmt_ratio(r['wall_s'])}; "
            f"+{added['cpu_s'] * 1e3:.0f} ms CPU per epoch")
    return {"steps_per_fit": steps, "repeats": repeats, "step": step, "ratio": r, "added_per_epoch_s": added,
            "real_epoch_steps": epoch_steps, "share_of_real_epoch": share}


def _ms(measurements: list[dict], kind: str) -> str:
    return fmt_stats(stats([m[kind] for m in measurements]), 1, 1e3)


def measure(cfg: Config) -> dict:
    """Every number of the overhead group (what ``benchmarks.json`` keeps)."""
    # Steps per fit: each fit ~0.5–1 s on 2 cores; many short alternating pairs average the load out.
    steps = {"fashion_cnn": 1, "resnet_small": 1, "transformer_sentiment": 2} if cfg.quick else \
        {"fashion_cnn": 3, "resnet_small": 1, "transformer_sentiment": 12}
    repeats = cfg.repeats(30, 2)
    results = {name: bench_model(name, cfg, steps[name], repeats) for name in SPECS}
    loop = bench_fit_loop(cfg, 2 if cfg.quick else 6, cfg.repeats(10, 2))
    return {"models": results, "fit_loop": loop}


def run(cfg: Config) -> Section:
    """The overhead group; see the module docstring."""
    return section(cfg, measure(cfg))


def section(cfg: Config, raw: dict) -> Section:
    """The report section of :func:`measure`'s numbers."""
    results, loop = raw["models"], raw["fit_loop"]
    repeats = next(iter(results.values()))["repeats"]
    cpu = {k: v["step_ratio"]["cpu_s"] for k, v in results.items()}
    met = None if cfg.quick else all(c["median"] <= TARGET_RATIO for c in cpu.values())
    rows, build_rows = [], []
    for name, res in results.items():
        st = res["step"]
        rows.append([f"`{res['spec']}`", f"{res['params']['spec']:,} = {res['params']['hand_written']:,}",
                     f"{res['max_abs_output_diff']:.1e}", f"{res['batch_size']} × {res['steps_per_fit']}",
                     _ms(st["spec"], "wall_s"), _ms(st["hand_written"], "wall_s"),
                     fmt_ratio(res["step_ratio"]["wall_s"]), fmt_ratio(res["step_ratio"]["cpu_s"], bold=True),
                     fmt_ratio(res["control_ratio"]["cpu_s"])])
        b = res["build"]
        build_rows.append([f"`{res['spec']}`", _ms(b["build_model(spec)"], "cpu_s"),
                           _ms(b["load_spec + build_model"], "cpu_s"), _ms(b["hand_written"], "cpu_s"),
                           fmt_ratio(res["build_ratio"]["cpu_s"])])
    body = ["### Train step", ""]
    body += md_table(["spec", "parameters (spec = Keras)", "max abs output diff", "batch × steps per fit",
                      "spec: wall ms/step", "hand-written: wall ms/step", "ratio spec / hand, wall",
                      "ratio spec / hand, CPU time", "A/A control: spec / its copy, CPU time"], rows)
    body += ["", f"{repeats} alternating rounds per model (spec, hand-written, a second copy of the spec model; "
             "the order reversed every other round); ms/step as median (min–max) over fits; ratios as median of "
             "per-round ratios [95 % bootstrap interval]. The A/A control times two copies of the same spec "
             "model against each other: whatever it shows is measurement noise, the floor below which this "
             "run cannot tell two models apart. A fit also pays Keras's per-call set-up (iterator, callback "
             "list), the same for every model, which pulls ratios slightly towards 1."]
    wide = [k for k, c in cpu.items() if c["ci95"][1] > TARGET_RATIO]
    if wide and not cfg.quick:
        floor = max(abs(v["control_ratio"]["cpu_s"]["median"] - 1) for v in results.values())
        top = max(cpu[k]["ci95"][1] for k in wide)
        body += ["", f"Resolution: the 95 % intervals of {', '.join(wide)} reach above {TARGET_RATIO} (up to "
                 f"{top:.3f}), so this run cannot exclude an overhead of that size there, though the medians meet "
                 f"the target; the A/A controls (each model against a copy of itself) moved by up to {floor:.3f} "
                 "from 1 on noise alone."]
    body += ["", "### Model build", ""]
    body += md_table(["spec", "build_model(spec): CPU ms", "load_spec + build_model: CPU ms",
                      "hand-written Keras: CPU ms", "ratio build_model / hand-written"], build_rows)
    body += ["", "Build = constructing the functional model (no compile), median (min–max). `load_spec` adds "
             "reading, checking and expanding the YAML (no TensorFlow).", "",
             "### dlbuild's training loop", ""]
    ls = loop["step"]
    add, share = loop["added_per_epoch_s"], loop["share_of_real_epoch"]
    body += md_table(["default CNN: batch × steps per fit", "dlbuild's callbacks: wall ms/step",
                      "bare model.fit: wall ms/step", "ratio, wall", "ratio, CPU time",
                      "added per epoch: wall / CPU ms", f"added ÷ a real epoch ({loop['real_epoch_steps']} steps)"],
                     [[f"128 × {loop['steps_per_fit']}", _ms(ls["dlbuild callbacks"], "wall_s"),
                       _ms(ls["bare model.fit"], "wall_s"), fmt_ratio(loop["ratio"]["wall_s"]),
                       fmt_ratio(loop["ratio"]["cpu_s"]),
                       f"{add['wall_s'] * 1e3:.0f} / {add['cpu_s'] * 1e3:.0f}",
                       f"{share['wall_s']:.1%} wall / **{share['cpu_s']:.1%}** CPU"]])
    body += ["", f"Each fit is one epoch of {loop['steps_per_fit']} steps with dlbuild's callbacks created afresh, "
             "as `dlbuild fit` does once per run: creating them and the TensorBoard writers, writing history.csv, "
             "saving the BackupAndRestore weights each epoch and deleting them at the end, the NaN guard reading "
             "the loss after every batch. *Added per epoch* is the median per-pair difference × steps; the last "
             "column scales it to one real epoch of the default spec (per-run costs included, so an upper bound)."]
    worst = max(cpu, key=lambda k: cpu[k]["median"])
    verdict = ("median CPU-time ratio " + ", ".join(f"{k} {v['median']:.3f}" for k, v in cpu.items())
               + f" (largest: {worst}, 95 % interval {cpu[worst]['ci95'][0]:.3f}–{cpu[worst]['ci95'][1]:.3f}); "
               "A/A controls " + ", ".join(f"{v['control_ratio']['cpu_s']['median']:.3f}" for v in results.values()))
    return Section(
        key="overhead", title="Overhead: spec-built model vs hand-written Keras",
        method=[
            "- The hand-written models are plain Keras (`benchmarks/overhead.py`: `fashion_cnn`, `resnet_small`, "
            "`transformer_sentiment`). Before timing, the benchmark asserts equal parameter counts, then copies "
            "perturbed weights from the spec model into the hand-written one and compares outputs on 16 samples "
            "(inference mode): *max abs output diff* below. Both compute the same function.",
            "- Both are compiled with the same settings and trained by `model.fit` on the same in-memory `tf.data` "
            "pipeline (8 real batches of the spec's data, cached, repeated): the same compiled train-function "
            "path. After a warm-up fit each (tracing), fits of N steps rotate spec, hand-written, a second copy of "
            "the spec model (A/A control), then the reverse order; each fit's wall and CPU time / N is one "
            "measurement; ratios are per round.",
            "- Model build time: `build_model(spec)` and `load_spec` + `build_model` against the hand-written "
            "function, alternating, after one warm-up call each.",
        ],
        target=f"train-step time ratio spec / hand-written ≤ {TARGET_RATIO} (median, CPU time), equal parameter "
               "counts",
        met=met, verdict=verdict, body=body,
        raw={"models": results, "fit_loop": loop})
