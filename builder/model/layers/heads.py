"""Output heads for pre-training objectives."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dlbuild")
class MaskedLMHead(keras.layers.Layer):
    """The masked-language-model head of BERT (Devlin et al. 2019, "BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding", §3.1 and Appendix A.1).

    ``Dense(d_model, intermediate_activation)`` → ``LayerNormalization`` → ``Dense(vocabulary_size,
    activation)``, applied to the encoder output at the masked positions only (when
    ``mask_positions`` is given) or at every position. BERT ties the last kernel to the token
    embedding; here it is a separate weight (the objective is the same).

    Called with one input (every position) or two positional inputs ``(sequence, mask_positions)``
    (in a spec: ``inputs: [encoded, positions]``, ``positions`` an ``int32`` model input).

    Args:
        vocabulary_size: Number of output classes (the tokenizer's vocabulary).
        intermediate_activation: Activation of the transform layer (``gelu`` in BERT).
        activation: Activation of the output (``None`` → logits, for
            ``sparse_categorical_crossentropy`` with ``from_logits: true``; or ``softmax``).
        layer_norm_epsilon: Epsilon of the layer normalisation (1e-12 in BERT).
        kernel_initializer: Initializer of both kernels.
        bias_initializer: Initializer of both biases.
        **kwargs: ``name``, ``dtype``, ``trainable``.

    Shapes:
        sequence: ``(batch, time, d_model)``.
        mask_positions (optional): ``(batch, masks)`` integer positions into ``time``.
        output: ``(batch, masks, vocabulary_size)``, or ``(batch, time, vocabulary_size)`` without
            ``mask_positions``.
    """

    def __init__(self, vocabulary_size, intermediate_activation="gelu", activation=None, layer_norm_epsilon=1e-5,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocabulary_size, int) or isinstance(vocabulary_size, bool) or vocabulary_size < 1:
            raise ValueError(f"vocabulary_size must be a positive integer; received {vocabulary_size!r}")
        self.vocabulary_size = vocabulary_size
        self.intermediate_activation = keras.activations.get(intermediate_activation)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True  # the padding mask passes through when every position is scored
        self._gathers = False

    def _init(self, which):
        return keras.initializers.get(keras.initializers.serialize(getattr(self, which)))

    def build(self, sequence_shape, mask_positions_shape=None):
        shape = tuple(sequence_shape)
        self._gathers = mask_positions_shape is not None
        if shape[-1] is None:
            raise ValueError("MaskedLMHead needs a known last dimension (d_model)")
        self._transform = keras.layers.Dense(
            shape[-1], activation=self.intermediate_activation, dtype=self.dtype_policy, name="transform",
            kernel_initializer=self._init("kernel_initializer"), bias_initializer=self._init("bias_initializer"))
        self._transform.build(shape)
        self._norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
                                                     name="transform_norm")
        self._norm.build(shape)
        self._output = keras.layers.Dense(
            self.vocabulary_size, activation=self.activation, dtype=self.dtype_policy, name="output",
            kernel_initializer=self._init("kernel_initializer"), bias_initializer=self._init("bias_initializer"))
        self._output.build(shape)
        self.built = True

    def call(self, sequence, mask_positions=None):
        x = sequence
        if mask_positions is not None:
            index = ops.cast(mask_positions, "int32")[:, :, None]                  # (batch, masks, 1)
            index = ops.repeat(index, ops.shape(sequence)[-1], axis=-1)             # (batch, masks, d)
            x = ops.take_along_axis(sequence, index, axis=1)
        return self._output(self._norm(self._transform(x)))

    def compute_mask(self, sequence, previous_mask=None):
        return None if self._gathers else previous_mask

    def compute_output_shape(self, sequence_shape, mask_positions_shape=None):
        sequence_shape = tuple(sequence_shape)
        if mask_positions_shape is not None:
            return tuple(mask_positions_shape) + (self.vocabulary_size,)
        return sequence_shape[:-1] + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "intermediate_activation": keras.activations.serialize(self.intermediate_activation),
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
