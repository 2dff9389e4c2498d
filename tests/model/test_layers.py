"""dlbuild's composite layers: shapes, masking, causality, .keras round trips, a golden block, specs."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import builder  # noqa: E402
from builder.errors import SpecError  # noqa: E402
from builder.model.layers import (MaskedLMHead, TokenAndPositionEmbedding, TransformerDecoder,  # noqa: E402
                            TransformerEncoder)

VOCAB, LENGTH, D = 40, 10, 16


def _ids(batch=3, length=LENGTH, seed=0, pad_from=None):
    ids = np.random.default_rng(seed).integers(1, VOCAB, (batch, length)).astype("int32")
    if pad_from is not None:
        ids[:, pad_from:] = 0
    return ids


def _roundtrip(model, inputs, tmp_path):
    """Save → load (safe mode, this process has imported builder.model.layers) → same predictions."""
    expected = model.predict(inputs, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    got = loaded.predict(inputs, verbose=0)
    for e, g in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)
    return loaded


# --- TokenAndPositionEmbedding ---------------------------------------------------------------

@pytest.mark.parametrize("position", ["learned", "sine"])
def test_token_and_position_embedding_shapes_mask_and_roundtrip(position, tmp_path):
    keras.utils.set_random_seed(1)
    layer = TokenAndPositionEmbedding(VOCAB, LENGTH, D, mask_zero=True, position=position)
    ids = _ids(pad_from=7)
    out = layer(ids)
    assert tuple(out.shape) == (3, LENGTH, D)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.compute_mask(ids)), ids != 0)
    expected_params = VOCAB * D + (LENGTH * D if position == "learned" else 0)
    assert layer.count_params() == expected_params
    # Shorter sequences use the first positions; longer ones are refused at build time.
    assert tuple(layer(ids[:, :4]).shape) == (3, 4, D)
    with pytest.raises(ValueError, match="exceed sequence_length"):
        TokenAndPositionEmbedding(VOCAB, 4, D)(keras.Input((5,), dtype="int32"))
    inp = keras.Input((LENGTH,), dtype="int32")
    model = keras.Model(inp, TokenAndPositionEmbedding(VOCAB, LENGTH, D, position=position)(inp))
    _roundtrip(model, ids, tmp_path)


def test_sine_encoding_is_vaswanis_formula():
    layer = TokenAndPositionEmbedding(VOCAB, LENGTH, 6, position="sine", embeddings_initializer="zeros")
    got = keras.ops.convert_to_numpy(layer(np.ones((1, LENGTH), "int32")))[0]
    pos, i = np.arange(LENGTH)[:, None], np.arange(6)[None, :]
    angle = pos / 10000.0 ** ((i // 2 * 2) / 6)
    np.testing.assert_allclose(got, np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), atol=1e-6)


def test_position_embedding_makes_order_matter():
    keras.utils.set_random_seed(2)
    layer = TokenAndPositionEmbedding(VOCAB, LENGTH, D)
    ids = _ids(batch=1)
    out, swapped = keras.ops.convert_to_numpy(layer(ids)), keras.ops.convert_to_numpy(layer(ids[:, ::-1]))
    assert not np.allclose(out[0, 0], swapped[0, -1])  # same token, different position


# --- TransformerEncoder ----------------------------------------------------------------------

def _reference_encoder(d, heads, ff, normalize_first, name="ref"):
    """The encoder block written out with Keras layers (Vaswani et al. 2017 / Xiong et al. 2020)."""
    x = keras.Input((LENGTH, d))
    mha = keras.layers.MultiHeadAttention(heads, d // heads)
    ln1, ln2 = keras.layers.LayerNormalization(epsilon=1e-5), keras.layers.LayerNormalization(epsilon=1e-5)
    ff1, ff2 = keras.layers.Dense(ff, activation="relu"), keras.layers.Dense(d)
    if normalize_first:
        h = ln1(x)
        h = keras.layers.Add()([x, keras.layers.Dropout(0.1)(mha(h, h))])
        y = keras.layers.Add()([h, keras.layers.Dropout(0.1)(ff2(ff1(ln2(h))))])
    else:
        h = ln1(keras.layers.Add()([x, keras.layers.Dropout(0.1)(mha(x, x))]))
        y = ln2(keras.layers.Add()([h, keras.layers.Dropout(0.1)(ff2(ff1(h)))]))
    return keras.Model(x, y, name=name), (mha, ln1, ff1, ff2, ln2)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_block_equals_hand_written_keras_block(normalize_first):
    """Golden test: same parameter count, output shape and (with the same weights) outputs."""
    keras.utils.set_random_seed(3)
    reference, (mha, ln1, ff1, ff2, ln2) = _reference_encoder(D, 2, 32, normalize_first)
    x = keras.Input((LENGTH, D))
    layer = TransformerEncoder(2, 32, dropout=0.1, normalize_first=normalize_first)
    ours = keras.Model(x, layer(x))
    assert ours.count_params() == reference.count_params() == 4 * (D * D + D) + 2 * 2 * D + D * 32 + 32 + 32 * D + D
    assert ours.output_shape == reference.output_shape == (None, LENGTH, D)
    pairs = [(layer._self_attention, mha), (layer._self_attention_norm, ln1), (layer._feedforward_intermediate, ff1),
             (layer._feedforward_output, ff2), (layer._feedforward_norm, ln2)]
    for mine, theirs in pairs:
        assert type(mine) is type(theirs)
        theirs.set_weights(mine.get_weights())
    inputs = np.random.default_rng(0).normal(size=(2, LENGTH, D)).astype("float32")
    np.testing.assert_allclose(ours.predict(inputs, verbose=0), reference.predict(inputs, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_encoder_ignores_padding_and_keeps_the_mask(tmp_path):
    keras.utils.set_random_seed(4)
    ids = keras.Input((None,), dtype="int32")
    h = TokenAndPositionEmbedding(VOCAB, LENGTH, D, mask_zero=True)(ids)
    h = TransformerEncoder(2, 32)(h)
    h = TransformerEncoder(2, 32, normalize_first=True)(h)
    pooled = keras.layers.GlobalAveragePooling1D()(h)  # averages the unmasked positions only
    model = keras.Model(ids, [h, pooled])
    short = _ids(length=6)
    padded = np.concatenate([short, np.zeros((3, 4), "int32")], axis=1)
    seq_short, pool_short = model.predict(short, verbose=0)
    seq_padded, pool_padded = model.predict(padded, verbose=0)
    np.testing.assert_allclose(seq_padded[:, :6], seq_short, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pool_padded, pool_short, rtol=1e-5, atol=1e-5)
    # An explicit padding_mask works the same without Keras masking.
    enc = TransformerEncoder(2, 32)
    x = np.random.default_rng(1).normal(size=(2, LENGTH, D)).astype("float32")
    keep = np.arange(LENGTH)[None, :].repeat(2, 0) < 6
    y = keras.ops.convert_to_numpy(enc(x, padding_mask=keep))
    x2 = x.copy()
    x2[:, 6:] = 100.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(enc(x2, padding_mask=keep))[:, :6], y[:, :6], rtol=1e-5, atol=1e-5)
    _roundtrip(model, padded, tmp_path)


def test_encoder_arguments_are_checked():
    with pytest.raises(ValueError, match="not divisible by num_heads=3"):
        TransformerEncoder(3, 8)(keras.Input((4, 16)))
    assert tuple(TransformerEncoder(3, 8, key_dim=5)(keras.Input((4, 16))).shape) == (None, 4, 16)
    with pytest.raises(ValueError, match="num_heads"):
        TransformerEncoder(0, 8)
    config = TransformerEncoder(2, 8, dropout=0.1, activation="gelu", normalize_first=True).get_config()
    restored = TransformerEncoder.from_config(config)
    assert restored.get_config() == config


# --- TransformerDecoder ----------------------------------------------------------------------

def test_decoder_is_causal():
    """Changing a later token never changes the outputs at earlier positions."""
    keras.utils.set_random_seed(5)
    ids = keras.Input((LENGTH,), dtype="int32")
    h = TokenAndPositionEmbedding(VOCAB, LENGTH, D)(ids)
    h = TransformerDecoder(2, 32)(h)
    h = TransformerDecoder(2, 32, normalize_first=True)(h)
    gpt = keras.Model(ids, keras.layers.Dense(VOCAB)(h))
    enc_h = TransformerEncoder(2, 32)(TokenAndPositionEmbedding(VOCAB, LENGTH, D)(ids))
    bert = keras.Model(ids, enc_h)
    a = _ids(seed=6)
    for t in (0, 4, LENGTH - 1):
        b = a.copy()
        b[:, t] = (b[:, t] % (VOCAB - 1)) + 1  # a different token at position t
        ya, yb = gpt.predict(a, verbose=0), gpt.predict(b, verbose=0)
        np.testing.assert_allclose(yb[:, :t], ya[:, :t], rtol=1e-5, atol=1e-5)
        assert not np.allclose(yb[:, t:], ya[:, t:], atol=1e-4)  # position t and later do see it
        if t == LENGTH - 1:  # the encoder, by contrast, lets earlier positions see the future
            assert not np.allclose(bert.predict(b, verbose=0)[:, 0], bert.predict(a, verbose=0)[:, 0], atol=1e-4)


def test_decoder_only_shapes_params_and_roundtrip(tmp_path):
    keras.utils.set_random_seed(7)
    ids = keras.Input((LENGTH,), dtype="int32")
    h = TokenAndPositionEmbedding(VOCAB, LENGTH, D, mask_zero=True)(ids)
    block = TransformerDecoder(2, 32, dropout=0.1)
    h = block(h)
    model = keras.Model(ids, keras.layers.Dense(VOCAB)(h))
    assert model.output_shape == (None, LENGTH, VOCAB)
    # Without an encoder it has exactly the encoder block's weights (self-attention + FFN + 2 norms).
    encoder = TransformerEncoder(2, 32)
    encoder(keras.Input((LENGTH, D)))
    assert block.count_params() == encoder.count_params() == 4 * (D * D + D) + 2 * 2 * D + D * 32 + 32 + 32 * D + D
    _roundtrip(model, _ids(pad_from=8), tmp_path)


def test_seq2seq_decoder_with_cross_attention(tmp_path):
    keras.utils.set_random_seed(8)
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    encoded = TransformerEncoder(2, 32)(TokenAndPositionEmbedding(VOCAB, LENGTH, D, mask_zero=True)(source))
    block = TransformerDecoder(2, 32)
    decoded = block(TokenAndPositionEmbedding(VOCAB, LENGTH, D, mask_zero=True)(target), encoded)
    model = keras.Model([source, target], keras.layers.Dense(VOCAB)(decoded))
    # Cross-attention adds one attention sub-layer and one norm.
    assert block.count_params() == 2 * (4 * (D * D + D) + 2 * D) + D * 32 + 32 + 32 * D + D + 2 * D
    src, tgt = _ids(length=7, seed=9), _ids(length=5, seed=10)
    out = model.predict([src, tgt], verbose=0)
    assert out.shape == (3, 5, VOCAB)
    # Padded source positions are not attended to: padding the source changes nothing.
    padded_src = np.concatenate([src, np.zeros((3, 3), "int32")], axis=1)
    np.testing.assert_allclose(model.predict([padded_src, tgt], verbose=0), out, rtol=1e-5, atol=1e-5)
    # ... while a real source token does matter.
    changed = src.copy()
    changed[:, 0] = (changed[:, 0] % (VOCAB - 1)) + 1
    assert not np.allclose(model.predict([changed, tgt], verbose=0), out, atol=1e-4)
    _roundtrip(model, [padded_src, tgt], tmp_path)


def test_decoder_must_be_called_as_it_was_built():
    block = TransformerDecoder(2, 8)
    block(keras.Input((4, D)))
    with pytest.raises(ValueError, match="without an encoder sequence"):
        block(np.zeros((1, 4, D), "float32"), np.zeros((1, 3, D), "float32"))


# --- MaskedLMHead ----------------------------------------------------------------------------

def test_masked_lm_head_gathers_positions_and_roundtrips(tmp_path):
    keras.utils.set_random_seed(11)
    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    positions = keras.Input((3,), dtype="int32", name="positions")
    encoded = TransformerEncoder(2, 32)(TokenAndPositionEmbedding(VOCAB, LENGTH, D)(ids))
    head = MaskedLMHead(VOCAB, activation="softmax")
    model = keras.Model([ids, positions], [head(encoded, positions), MaskedLMHead(VOCAB)(encoded)])
    assert head.count_params() == (D * D + D) + 2 * D + (D * VOCAB + VOCAB)
    pos = np.array([[0, 4, 9], [1, 1, 2], [9, 8, 7]], "int32")
    picked, every = model.predict([_ids(), pos], verbose=0)
    assert picked.shape == (3, 3, VOCAB) and every.shape == (3, LENGTH, VOCAB)
    np.testing.assert_allclose(picked.sum(-1), 1.0, rtol=1e-5)
    # Scoring the gathered positions equals gathering the scores of every position.
    shared = keras.Model([ids, positions], [head(encoded, positions), head(encoded)])
    picked, every = shared.predict([_ids(), pos], verbose=0)
    np.testing.assert_allclose(picked, np.take_along_axis(every, pos[:, :, None], axis=1), rtol=1e-5, atol=1e-6)
    _roundtrip(model, [_ids(), pos], tmp_path)


# --- specs -----------------------------------------------------------------------------------

ENCODER_SPEC = """
name: tiny_transformer
data: {dataset: digits}
model:
  inputs: {tokens: {shape: [16], dtype: int32}}
  layers:
    - token_and_position_embedding: {vocabulary_size: 100, sequence_length: 16, embedding_dim: 16, mask_zero: true}
    - transformer_encoder: {num_heads: 2, intermediate_dim: 32, repeat: 2}
    - global_average_pooling1d
    - dense: {units: 10, activation: softmax}
compile:
  optimizer: {radam: {learning_rate: 1.0e-3}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
"""


def test_transformer_encoder_spec_validates_and_builds(write_spec):
    spec = builder.load_spec(write_spec(ENCODER_SPEC))
    model = builder.build_model(spec)
    encoders = [layer for layer in model.layers if isinstance(layer, TransformerEncoder)]
    assert len(encoders) == 2 and encoders[0] is not encoders[1]
    block = 4 * (16 * 16 + 16) + 2 * 2 * 16 + 16 * 32 + 32 + 32 * 16 + 16
    assert model.count_params() == 100 * 16 + 16 * 16 + 2 * block + 16 * 10 + 10
    assert model.output_shape == (None, 10)
    assert model.predict(_ids(length=16), verbose=0).shape == (3, 10)
    # It trains: compiled train step, masks, the RAdam the spec names.
    from builder.model.graph import build_compile_args

    model.compile(**build_compile_args(spec))
    x = np.random.default_rng(0).integers(0, 100, (64, 16)).astype("int32")
    x[:32, 10:] = 0
    history = model.fit(x, (x[:, 0] % 2).astype("int32"), epochs=2, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_seq2seq_and_gpt_specs_build(write_spec):
    spec = builder.load_spec(write_spec("""
        name: tiny_seq2seq
        data: {dataset: digits}
        model:
          inputs: {source: {shape: [12], dtype: int32}, target: {shape: [8], dtype: int32}}
          layers:
            - token_and_position_embedding: {vocabulary_size: 50, sequence_length: 12, embedding_dim: 16,
                                             mask_zero: true, inputs: [source]}
            - transformer_encoder: {num_heads: 2, intermediate_dim: 32, name: encoded}
            - token_and_position_embedding: {vocabulary_size: 50, sequence_length: 8, embedding_dim: 16,
                                             position: sine, mask_zero: true, inputs: [target]}
            - transformer_decoder: {num_heads: 2, intermediate_dim: 32, inputs: [-1, encoded]}
            - transformer_decoder: {num_heads: 2, intermediate_dim: 32, inputs: [-1, encoded]}
            - dense: 50
        compile:
          optimizer: {ada_belief: 1.0e-3}
          loss: {sparse_categorical_crossentropy: {from_logits: true}}
    """))
    model = builder.build_model(spec)
    assert model.output_shape == (None, 8, 50)
    decoders = [layer for layer in model.layers if isinstance(layer, TransformerDecoder)]
    assert len(decoders) == 2 and all(d._cross_attention is not None for d in decoders)


def test_indivisible_heads_is_a_located_spec_error(write_spec):
    spec = builder.load_spec(write_spec(ENCODER_SPEC.replace("num_heads: 2", "num_heads: 3")))
    with pytest.raises(SpecError) as err:
        builder.build_model(spec)
    assert "not divisible by num_heads=3" in str(err.value) and ":7:" in str(err.value)
