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
  :func:`builder.spec.section_checks.augmentation_layer`) forced into training mode and freshly seeded, every
  other layer shared and in inference mode (Dropout off, BatchNormalization with its moving
  statistics).

Inputs: trained ``keras.Model`` objects with the same inputs; outputs: one averaged
``keras.Model`` (not compiled). :mod:`builder.run.evaluate` evaluates them.
"""

from __future__ import annotations

import random

from builder.errors import DlbuildError
from builder.spec.section_checks import augmentation_layer


class EvaluateError(DlbuildError):
    """Runs that cannot be evaluated together, or TTA for a model without augmentation layers.
    The CLI prints it and exits with code 2 (a mistake on the command line)."""

    exit_code = 2


def augmentation_layers(model) -> list:
    """The augmentation layers of ``model``, nested models included (see
    :func:`builder.spec.section_checks.augmentation_layer`)."""
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
