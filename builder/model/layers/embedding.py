"""Token + position embedding: the input stage of every Transformer."""

from __future__ import annotations

import keras
from keras import ops

POSITIONS = ("learned", "sine")


@keras.saving.register_keras_serializable(package="dlbuild")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus position embedding: integer ids → vectors that know where they are.

    ``output[b, t] = token_embedding[ids[b, t]] + position_embedding[t]``.

    Self-attention is permutation-equivariant, so a Transformer needs the position of each token
    added to its embedding. ``position="learned"`` trains one vector per position, as BERT
    (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
    Understanding") and GPT (Radford et al. 2018, "Improving Language Understanding by Generative
    Pre-Training") do; ``position="sine"`` adds the fixed sinusoids of Vaswani et al. 2017
    ("Attention Is All You Need", §3.5): ``PE[t, 2i] = sin(t / max_wavelength^(2i/d))``,
    ``PE[t, 2i+1] = cos(t / max_wavelength^(2i/d))`` (no weights).

    Args:
        vocabulary_size: Number of token ids (ids are ``0 … vocabulary_size - 1``).
        sequence_length: The longest sequence the layer accepts (rows of the learned position
            table; for ``sine`` only the check on the input length).
        embedding_dim: Size of each vector, the Transformer's ``d_model``.
        mask_zero: Id 0 is padding: the layer emits a mask ``ids != 0`` that the Transformer
            layers, pooling and losses after it respect (Keras masking).
        position: ``"learned"`` (default) or ``"sine"``.
        max_wavelength: The sinusoids' longest wavelength (10000 in the paper); ``sine`` only.
        embeddings_initializer: Initializer of the token (and learned position) tables.
        **kwargs: ``name``, ``dtype``, ``trainable`` (any ``keras.layers.Layer`` argument).

    Shapes:
        input: ``(batch, time)`` integer ids, ``time <= sequence_length``.
        output: ``(batch, time, embedding_dim)``; mask ``(batch, time)`` if ``mask_zero``.
    """

    def __init__(self, vocabulary_size, sequence_length, embedding_dim, mask_zero=False,
                 position="learned", max_wavelength=10000.0, embeddings_initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("vocabulary_size", vocabulary_size), ("sequence_length", sequence_length),
                           ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; received {value!r}")
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {', '.join(POSITIONS)}; received {position!r}")
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.mask_zero = mask_zero
        self.position = position
        self.max_wavelength = float(max_wavelength)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=mask_zero, dtype=self.dtype_policy, name="token_embedding",
            embeddings_initializer=keras.initializers.get(keras.initializers.serialize(self.embeddings_initializer)))
        self.position_embedding = None
        if position == "learned":
            self.position_embedding = keras.layers.Embedding(
                sequence_length, embedding_dim, dtype=self.dtype_policy, name="position_embedding",
                embeddings_initializer=keras.initializers.get(
                    keras.initializers.serialize(self.embeddings_initializer)))
        self.supports_masking = mask_zero

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"expects token ids of shape (batch, time); received {input_shape}")
        if input_shape[1] is not None and input_shape[1] > self.sequence_length:
            raise ValueError(f"sequences of length {input_shape[1]} exceed sequence_length="
                             f"{self.sequence_length}")
        self.token_embedding.build(input_shape)
        if self.position_embedding is not None:
            self.position_embedding.build((input_shape[1],))
        self.built = True

    def _sine(self, length):
        dtype = self.compute_dtype
        positions = ops.cast(ops.arange(length), "float32")[:, None]               # (time, 1)
        dims = ops.arange(self.embedding_dim)
        pairs = ops.cast(dims // 2 * 2, "float32") / float(self.embedding_dim)      # 2i / d
        angles = positions / ops.power(self.max_wavelength, pairs)[None, :]         # (time, d)
        even = ops.equal(dims % 2, 0)[None, :]
        return ops.cast(ops.where(even, ops.sin(angles), ops.cos(angles)), dtype)

    def call(self, inputs):
        embedded = self.token_embedding(inputs)
        length = ops.shape(inputs)[1]
        if self.position_embedding is not None:
            positions = self.position_embedding(ops.arange(length))                # (time, d)
        else:
            positions = self._sine(length)
        return embedded + ops.cast(positions, embedded.dtype)[None, :, :]

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "mask_zero": self.mask_zero,
            "position": self.position,
            "max_wavelength": self.max_wavelength,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
        })
        return config
