"""Averaged predictions: ensembles of trained models and test-time augmentation (imports TensorFlow
inside functions only).

Both are built as one Keras model whose outputs are the element-wise mean
(``keras.layers.Average``) of its members' outputs, so ``Model.evaluate`` reports the spec's own
compiled loss and metrics on the averaged predictions (probabilities for a softmax/sigmoid output;
for a logits output the mean logit), Keras masks included::

    inputs ─┬─ member_1 ─┐
            ├─ member_2 ─┼─ Average → outputs          (one Average per model output)
            └─ …        ─┘

* An ensemble's members are trained models that read the same inputs: the K fold models of a
  cross-validation (:mod:`builder.run.crossval`), or several runs (``dlbuild evaluate RUN RUN …``).
  Averaging the predictions of models trained on different data or from different seeds lowers
  the variance part of the error (Dietterich 2000, "Ensemble Methods in Machine Learning").
* Test-time augmentation (TTA) averages the model's prediction on the original input with its
  predictions on N randomly augmented copies (Krizhevsky et al. 2012 averaged ten crops and
  flips; Simonyan & Zisserman 2015, §3.2). Each augmented member is the model with its *own*
  Keras augmentation layers (``RandomFlip``, ``RandomRotation``, …;
  :func:`builder.spec.load.augmentation_layer`) forced into training mode and freshly seeded, every
  other layer shared and in inference mode (Dropout off, BatchNormalization with its moving
  statistics).

``dlbuild evaluate`` (:func:`evaluate_runs`) evaluates run directories this way on the test split
of their spec.
"""

from __future__ import annotations

import random
from pathlib import Path

from builder.spec.load import augmentation_layer


class EvaluateError(Exception):
    """Runs that cannot be evaluated together, or TTA for a model without augmentation layers.
    The CLI prints it and exits with code 2 (a mistake on the command line)."""


def augmentation_layers(model) -> list:
    """The augmentation layers of ``model``, nested models included (see
    :func:`builder.spec.load.augmentation_layer`)."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += augmentation_layers(layer)
        elif augmentation_layer(type(layer).__name__):
            found.append(layer)
    return found


def _always_augment_class():
    import keras

    class AlwaysAugment(keras.layers.Layer):
        """Calls an augmentation layer with ``training=True`` whatever the outer model's mode.

        A functional model passes its own ``training`` flag to every layer whose ``call`` takes
        one, so the flag cannot be set on the node; this wrapper's ``call`` takes none.
        """

        def __init__(self, layer, **kwargs):
            super().__init__(name=layer.name, **kwargs)
            self.layer = layer

        def call(self, inputs):
            return self.layer(inputs, training=True)

        def compute_output_shape(self, input_shape):
            return self.layer.compute_output_shape(input_shape)

    return AlwaysAugment


def augmented_copy(model, seed: int, name: str):
    """``model`` with every augmentation layer replaced by a freshly seeded copy that always
    augments; all other layers are the same objects (shared weights, inference mode).

    Args:
        model: A functional ``keras.Model`` (nested models are copied recursively).
        seed: Seeds the copies' random generators (one seed per layer, drawn from ``seed``), so
            the same model, seed and data give the same predictions.
        name: The copy's name (members of one averaged model need distinct names).
    """
    import keras

    always = _always_augment_class()
    rng = random.Random(seed)

    def clone(layer):
        if augmentation_layer(type(layer).__name__):
            fresh = type(layer).from_config({**layer.get_config(), "seed": rng.randrange(2**31)})
            return always(fresh)
        return layer  # shared: the copy runs the trained weights

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    return keras.Model(copy.input, copy.output, name=name)


def average(members: list, name: str = "averaged"):
    """One model whose outputs are the mean of ``members``' outputs.

    Args:
        members: At least two ``keras.Model`` with the inputs of ``members[0]`` (same names,
            shapes and dtypes) and the same output structure; distinct names.
        name: The model's name.

    Returns:
        A functional ``keras.Model``: inputs like ``members[0]``; each output
        ``Average()([member_1(x)[j], …])``, named after ``members[0]``'s output j so that a
        per-output ``loss``/``metrics`` mapping still applies.
    """
    import keras

    first = members[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name), first.input)
    outs = [m(inputs) for m in members]
    if isinstance(outs[0], dict):
        averaged = {k: keras.layers.Average(name=k)([o[k] for o in outs]) for k in outs[0]}
    elif isinstance(outs[0], (list, tuple)):
        names = list(first.output_names)
        averaged = [keras.layers.Average(name=names[j])([o[j] for o in outs]) for j in range(len(outs[0]))]
        averaged = averaged if len(averaged) > 1 else averaged[0]
    else:
        averaged = keras.layers.Average(name=first.output_names[0])(outs)
    return keras.Model(inputs, averaged, name=name)


def tta_model(model, passes: int, seed: int):
    """Test-time augmentation of ``model``: the mean of its prediction on the original input and
    on ``passes`` augmented copies (:func:`augmented_copy`, seeds drawn from ``seed``).

    Args:
        model: A trained functional ``keras.Model``.
        passes: Augmented passes N >= 1 (N + 1 predictions are averaged).
        seed: Seed of the augmentations.

    Returns:
        A ``keras.Model`` with ``model``'s inputs and outputs (not compiled). Without augmentation
        layers every pass equals the original, so its predictions equal ``model``'s.

    Raises:
        ValueError: ``passes`` < 1.
    """
    import keras

    if passes < 1:
        raise ValueError(f"test-time augmentation needs at least 1 augmented pass; received {passes}")
    original = keras.Model(model.input, model.output, name="original")
    copies = [augmented_copy(model, seed * 1000 + i, name=f"augmented_{i}") for i in range(1, passes + 1)]
    return average([original] + copies, name=f"{model.name}_tta")


def ensemble_model(models: list, *, tta: int = 0, seed: int = 0, name: str = "ensemble"):
    """The ensemble of ``models``: the mean of their predictions (each with test-time
    augmentation when ``tta`` > 0, so every model weighs the same).

    Args:
        models: Two or more trained ``keras.Model`` reading the same inputs.
        tta: Augmented passes per model (0: none).
        seed: Seed of the augmentations.
        name: The ensemble's name.

    Returns:
        A ``keras.Model`` (not compiled); its members are named ``member_1`` … ``member_K``.

    Raises:
        EvaluateError: fewer than 2 models, or models whose inputs differ.
    """
    import keras

    if len(models) < 2:
        raise EvaluateError(f"an ensemble needs at least 2 models; received {len(models)}")
    shapes = [[(t.name, tuple(t.shape[1:]), str(t.dtype)) for t in m.inputs] for m in models]
    for i, s in enumerate(shapes[1:], 2):
        if s != shapes[0]:
            raise EvaluateError(f"model {i} of the ensemble reads inputs {s}; model 1 reads {shapes[0]}")
    members = []
    for i, m in enumerate(models, 1):
        member = keras.Model(m.input, m.output, name=f"member_{i}")
        members.append(tta_model(member, tta, seed + i) if tta else member)
    if tta:  # name the members after their model, as without TTA
        members = [keras.Model(m.input, m.output, name=f"member_{i}") for i, m in enumerate(members, 1)]
    return average(members, name=name)


def _same(a, b) -> bool:
    import numpy as np

    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            _same(a[k], b[k]) for k in a)
    return np.shape(a) == np.shape(b) and bool(np.all(np.asarray(a) == np.asarray(b)))


def _test_data(spec):
    """The test split of ``spec`` as its run saw it: a cross-validation builds its vocabulary from
    the whole training split (:func:`builder.run.crossval.cross_validate`), a single run from the part
    left after the validation split."""
    from builder.data.load import load_splits

    return load_splits(spec, validation_split=0 if spec.fit.get("cross_validation") is not None else None)


def evaluate_runs(run_dirs: list, *, tta: int = 0, batch_size: int | None = None, log=print) -> dict:
    """``dlbuild evaluate``: each run's model on the test split of its spec, with test-time
    augmentation when ``tta`` > 0, and with several runs their ensemble.

    Args:
        run_dirs: Finished run directories (``spec.resolved.yaml`` and ``model.keras``); a
            cross-validation directory counts as one run (its model is the fold ensemble).
        tta: Augmented passes (0: plain evaluation only).
        batch_size: Evaluation batch size (default: the first run's ``fit.batch_size``).
        log: Where result lines go.

    Returns:
        ``{"runs": [{"run_dir", "test", "test_tta"?}], "ensemble": {"members", "test",
        "test_tta"?}}`` (``ensemble`` only for several runs); metrics are the first run's
        compiled loss and metrics (each run's own for its line).

    Raises:
        EvaluateError: a directory without a finished model; ``tta`` for a model without
            augmentation layers; runs whose test inputs or targets differ.
        SpecError: a run's ``spec.resolved.yaml`` is no longer valid (located in that file).
    """
    from builder.data.pipeline import make_dataset
    from builder.run.artifacts import load_keras
    from builder.model.graph import build_compile_args
    from builder.spec.load import load_spec
    from builder.data.load import align_targets
    from builder.run.train import evaluate_dataset as _evaluate

    runs = []
    for rd in map(Path, run_dirs):
        if not (rd / "model.keras").is_file() or not (rd / "spec.resolved.yaml").is_file():
            raise EvaluateError(f"{rd} is not a finished run directory (it needs model.keras and "
                                "spec.resolved.yaml, which 'dlbuild fit' writes)")
        runs.append((rd, load_spec(rd / "spec.resolved.yaml"), load_keras(rd / "model.keras")))
    if tta:
        for rd, _spec, model in runs:
            if not augmentation_layers(model):
                raise EvaluateError(f"{rd}: the model has no augmentation layer (RandomFlip, RandomRotation, ... "
                                    "or another Keras Random* layer), so --tta would average identical passes")
    first_dir, first, first_model = runs[0]
    splits = align_targets(_test_data(first), first_model)
    for rd, spec, _model in runs[1:]:
        same_source = (spec.values["data"] == first.values["data"] and spec.seed == first.seed
                       and (spec.fit.get("cross_validation") is None) == (first.fit.get("cross_validation") is None))
        if not same_source:
            other = align_targets(_test_data(spec), _model)
            if not (_same(other.test[0], splits.test[0]) and _same(other.test[1], splits.test[1])):
                raise EvaluateError(f"{rd} was tested on other data than {first_dir} (another test split, "
                                    "vocabulary or preprocessing); an ensemble needs runs that read the same test inputs")
    ds = make_dataset(splits.test, batch_size=batch_size or first.fit["batch_size"], seed=first.seed,
                      info=splits.info)
    out: dict = {"runs": []}
    for rd, spec, model in runs:
        model.compile(**build_compile_args(spec))
        row = {"run_dir": str(rd), "test": _evaluate(model, ds)}
        if tta:
            averaged = tta_model(model, tta, seed=spec.seed)
            averaged.compile(**build_compile_args(spec))
            row["test_tta"] = _evaluate(averaged, ds)
        out["runs"].append(row)
        log(_line(str(rd), row, tta))
    if len(runs) > 1:
        models = [m for _, _, m in runs]
        ens = ensemble_model(models)
        ens.compile(**build_compile_args(first))
        row = {"members": [str(rd) for rd, _, _ in runs], "test": _evaluate(ens, ds)}
        if tta:
            ens_tta = ensemble_model(models, tta=tta, seed=first.seed)
            ens_tta.compile(**build_compile_args(first))
            row["test_tta"] = _evaluate(ens_tta, ds)
        out["ensemble"] = row
        log(_line(f"ensemble of {len(runs)}", row, tta))
    return out


def _line(label: str, row: dict, tta: int) -> str:
    text = f"{label}: test " + ", ".join(f"{k} {v:.4f}" for k, v in row["test"].items())
    if tta:
        text += f" | TTA (original + {tta} augmented): " + ", ".join(
            f"{k} {v:.4f}" for k, v in row["test_tta"].items())
    return text


def write_results(results: dict, path: str | Path) -> None:
    """Write :func:`evaluate_runs`' result as JSON, atomically."""
    from builder.atomic import write_json

    write_json(Path(path), results)
