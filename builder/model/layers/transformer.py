"""Transformer blocks (Vaswani et al. 2017): encoder, and decoder (causal, optional cross-attention)."""

from __future__ import annotations

import keras
from keras import ops


def _key_padding_mask(mask):
    """``(batch, keys)`` padding mask → ``(batch, 1, keys)`` boolean attention mask, or None."""
    return None if mask is None else ops.cast(mask, "bool")[:, None, :]


def _and(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return ops.logical_and(ops.cast(a, "bool"), ops.cast(b, "bool"))


def _check_dims(hidden_dim, num_heads, key_dim, where):
    if hidden_dim is None:
        raise ValueError(f"{where} needs a known last dimension (d_model); received None")
    if key_dim is None and hidden_dim % num_heads:
        raise ValueError(f"the model dimension {hidden_dim} is not divisible by num_heads={num_heads}; "
                         "change one, or set key_dim")
    return key_dim or hidden_dim // num_heads


class _Block(keras.layers.Layer):
    """What the encoder and decoder blocks share: arguments, config, the feed-forward sub-layer."""

    def __init__(self, num_heads, intermediate_dim, dropout=0.0, activation="relu", layer_norm_epsilon=1e-5,
                 normalize_first=False, key_dim=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("num_heads", num_heads), ("intermediate_dim", intermediate_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; received {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); received {dropout!r}")
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.key_dim = key_dim
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def _init(self, which):
        """A fresh initializer per sub-layer (one instance must not be shared)."""
        return keras.initializers.get(keras.initializers.serialize(getattr(self, which)))

    def _attention(self, hidden_dim, name):
        key_dim = _check_dims(hidden_dim, self.num_heads, self.key_dim, type(self).__name__)
        return keras.layers.MultiHeadAttention(
            num_heads=self.num_heads, key_dim=key_dim, dropout=self.dropout, dtype=self.dtype_policy,
            kernel_initializer=self._init("kernel_initializer"), bias_initializer=self._init("bias_initializer"),
            name=name)

    def _norm(self, shape, name):
        layer = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)
        layer.build(shape)
        return layer

    def _build_feedforward(self, shape):
        hidden_dim = shape[-1]
        self._feedforward_norm = self._norm(shape, "feedforward_norm")
        self._feedforward_intermediate = keras.layers.Dense(
            self.intermediate_dim, activation=self.activation, dtype=self.dtype_policy,
            kernel_initializer=self._init("kernel_initializer"), bias_initializer=self._init("bias_initializer"),
            name="feedforward_intermediate")
        self._feedforward_intermediate.build(shape)
        self._feedforward_output = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, kernel_initializer=self._init("kernel_initializer"),
            bias_initializer=self._init("bias_initializer"), name="feedforward_output")
        self._feedforward_output.build(shape[:-1] + (self.intermediate_dim,))
        self._feedforward_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy,
                                                         name="feedforward_dropout")

    def _sublayer(self, x, norm, dropout, fn, training):
        """One residual sub-layer: post-LN ``norm(x + dropout(fn(x)))`` (Vaswani et al. 2017) or
        pre-LN ``x + dropout(fn(norm(x)))`` (Xiong et al. 2020)."""
        y = fn(norm(x) if self.normalize_first else x)
        y = x + dropout(y, training=training)
        return y if self.normalize_first else norm(y)

    def _feedforward(self, x, training):
        return self._sublayer(
            x, self._feedforward_norm, self._feedforward_dropout,
            lambda h: self._feedforward_output(self._feedforward_intermediate(h)), training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first,
            "key_dim": self.key_dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="dlbuild")
class TransformerEncoder(_Block):
    """One Transformer encoder block: multi-head self-attention, then a position-wise feed-forward
    network, each wrapped in dropout, a residual connection and layer normalisation.

    Vaswani et al. 2017, "Attention Is All You Need", §3.1 (post-LN, the default)::

        x = LayerNorm(x + Dropout(MultiHeadAttention(x, x)))
        x = LayerNorm(x + Dropout(Dense(d_model)(Dense(intermediate_dim, activation)(x))))

    With ``normalize_first=True`` the pre-LN order of Xiong et al. 2020 ("On Layer Normalization
    in the Transformer Architecture"), which trains without warm-up:
    ``x = x + Dropout(MHA(LN(x)))``, ``x = x + Dropout(FFN(LN(x)))``; put a ``layer_normalization``
    after the last pre-LN block.

    Padding is respected through Keras masking (e.g. ``TokenAndPositionEmbedding(mask_zero=True)``):
    no position attends to a padded key, and the mask passes through to the next layer.

    Args:
        num_heads: Attention heads; ``d_model`` (the input's last dimension) must divide by it
            unless ``key_dim`` is given.
        intermediate_dim: Hidden units of the feed-forward network (``d_ff``, 2048 in the paper).
        dropout: Rate for the attention weights and each sub-layer's output (0.1 in the paper).
        activation: Feed-forward activation (``relu`` in the paper; ``gelu`` in BERT/GPT).
        layer_norm_epsilon: Epsilon of both layer normalisations.
        normalize_first: Pre-LN instead of post-LN.
        key_dim: Size of each head; default ``d_model // num_heads``.
        kernel_initializer: Initializer of every dense kernel.
        bias_initializer: Initializer of every bias.
        **kwargs: ``name``, ``dtype``, ``trainable``.

    Shapes:
        input: ``(batch, time, d_model)``, optional Keras mask ``(batch, time)``.
        output: ``(batch, time, d_model)``, same mask.
    """

    def build(self, inputs_shape):
        shape = tuple(inputs_shape)
        self._self_attention = self._attention(shape[-1], "self_attention")
        self._self_attention.build(shape, shape)
        self._self_attention_norm = self._norm(shape, "self_attention_norm")
        self._self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy,
                                                            name="self_attention_dropout")
        self._build_feedforward(shape)
        self.built = True

    def call(self, inputs, mask=None, padding_mask=None, attention_mask=None, training=None):
        """``padding_mask`` ``(batch, time)`` (default: the Keras mask) and ``attention_mask``
        ``(batch, time, time)`` are ANDed: ``attention_mask[b, i, j]`` lets query i see key j."""
        padding = padding_mask if padding_mask is not None else mask
        full_mask = _and(_key_padding_mask(padding), attention_mask)

        def attend(h):
            return self._self_attention(h, h, attention_mask=full_mask, training=training)

        x = self._sublayer(inputs, self._self_attention_norm, self._self_attention_dropout, attend, training)
        return self._feedforward(x, training)


@keras.saving.register_keras_serializable(package="dlbuild")
class TransformerDecoder(_Block):
    """One Transformer decoder block: causal self-attention, optional cross-attention to an
    encoder's output, and a feed-forward network, each with dropout, residual and layer norm.

    Vaswani et al. 2017, "Attention Is All You Need", §3.1–3.2.3 (post-LN by default)::

        x = LayerNorm(x + Dropout(MultiHeadAttention(x, x, use_causal_mask=True)))
        x = LayerNorm(x + Dropout(MultiHeadAttention(x, encoder_sequence)))   # only with an encoder
        x = LayerNorm(x + Dropout(FFN(x)))

    Called with the decoder sequence only, it is the block of a decoder-only (GPT-style) language
    model, Radford et al. 2018: position ``t`` sees positions ``≤ t`` only. Called with two inputs
    ``(decoder_sequence, encoder_sequence)`` (in a spec: ``inputs: [target, encoded]``) it is the
    sequence-to-sequence decoder block with cross-attention. ``normalize_first=True`` gives the
    pre-LN order (Xiong et al. 2020), as in GPT-2.

    Keras masks on either input are respected: padded decoder keys are never attended to, nor are
    padded encoder positions in cross-attention; the decoder's mask passes through.

    Args:
        num_heads, intermediate_dim, dropout, activation, layer_norm_epsilon, normalize_first,
        key_dim, kernel_initializer, bias_initializer: as :class:`TransformerEncoder` (both
            attentions use ``num_heads`` and ``key_dim``).
        **kwargs: ``name``, ``dtype``, ``trainable``.

    Shapes:
        decoder_sequence: ``(batch, target_time, d_model)``.
        encoder_sequence (optional): ``(batch, source_time, d_encoder)``.
        output: ``(batch, target_time, d_model)``.
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        shape = tuple(decoder_sequence_shape)
        self._self_attention = self._attention(shape[-1], "self_attention")
        self._self_attention.build(shape, shape)
        self._self_attention_norm = self._norm(shape, "self_attention_norm")
        self._self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy,
                                                            name="self_attention_dropout")
        self._cross_attention = None
        if encoder_sequence_shape is not None:
            encoder_shape = tuple(encoder_sequence_shape)
            self._cross_attention = self._attention(shape[-1], "cross_attention")
            self._cross_attention.build(shape, encoder_shape)
            self._cross_attention_norm = self._norm(shape, "cross_attention_norm")
            self._cross_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy,
                                                                 name="cross_attention_dropout")
        self._build_feedforward(shape)
        self.built = True

    def call(self, decoder_sequence, encoder_sequence=None, mask=None, decoder_sequence_mask=None,
             encoder_sequence_mask=None, training=None):
        """Keras fills ``mask`` (one input) or ``decoder_sequence_mask`` / ``encoder_sequence_mask``
        (two inputs) from the inputs' Keras masks."""
        if (encoder_sequence is None) != (self._cross_attention is None):
            raise ValueError("TransformerDecoder was built " + ("with" if self._cross_attention else "without")
                             + " an encoder sequence and must be called the same way")
        decoder_mask = decoder_sequence_mask if decoder_sequence_mask is not None else mask
        self_mask = _key_padding_mask(decoder_mask)

        def self_attend(h):
            return self._self_attention(h, h, attention_mask=self_mask, use_causal_mask=True, training=training)

        x = self._sublayer(decoder_sequence, self._self_attention_norm, self._self_attention_dropout,
                           self_attend, training)
        if encoder_sequence is not None:
            cross_mask = _key_padding_mask(encoder_sequence_mask)

            def cross_attend(h):
                return self._cross_attention(h, encoder_sequence, attention_mask=cross_mask, training=training)

            x = self._sublayer(x, self._cross_attention_norm, self._cross_attention_dropout, cross_attend, training)
        return self._feedforward(x, training)
