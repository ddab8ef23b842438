"""LockedDropout and EmbeddingDropout: masks, scaling, inference, tied logits, config, dtypes."""

import keras
import numpy as np
import pytest

from regkeras.dropout import EmbeddingDropout, LockedDropout


def np_(x):
    return keras.ops.convert_to_numpy(x)


# ------------------------------------------------------------------------------------------
# LockedDropout
# ------------------------------------------------------------------------------------------


def test_locked_dropout_is_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    layer = LockedDropout(0.5, seed=1)
    np.testing.assert_array_equal(np_(layer(x)), x)
    np.testing.assert_array_equal(np_(layer(x, training=False)), x)
    np.testing.assert_array_equal(np_(LockedDropout(0.0)(x, training=True)), x)


def test_locked_dropout_mask_is_shared_over_time_and_scaled():
    rate = 0.3
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(64, 6, 128)).astype("float32")
    y = np_(LockedDropout(rate, seed=3)(x, training=True))
    keep = y != 0.0
    # One mask per sequence: the keep pattern is the same at every time step.
    assert (keep == keep[:, :1, :]).all()
    # Kept units scaled by 1 / (1 - rate), dropped ones exactly zero.
    np.testing.assert_allclose(y[keep], x[keep] / (1 - rate), rtol=1e-6)
    # Fraction dropped ~ rate (64 * 128 = 8192 independent draws: sd ~ 0.005).
    assert abs((~keep[:, 0, :]).mean() - rate) < 0.025


def test_keras_dropout_zaremba_mask_changes_every_step():
    # The Zaremba placement uses keras.layers.Dropout: a fresh mask at every time step.
    x = np.ones((16, 6, 64), "float32")
    y = np_(keras.layers.Dropout(0.5, seed=3)(x, training=True))
    assert not ((y != 0) == (y[:, :1] != 0)).all()
    z = np_(LockedDropout(0.5, seed=3)(x, training=True))
    assert ((z != 0) == (z[:, :1] != 0)).all()


def test_locked_dropout_seed_reproduces_masks_and_calls_differ():
    x = np.ones((8, 3, 32), "float32")
    a, b = LockedDropout(0.5, seed=7), LockedDropout(0.5, seed=7)
    first_a = np_(a(x, training=True))
    np.testing.assert_array_equal(first_a, np_(b(x, training=True)))
    assert not np.array_equal(first_a, np_(a(x, training=True)))  # fresh mask per call


def test_locked_dropout_passes_the_mask_and_works_symbolically():
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    y = LockedDropout(0.5)(x)
    assert y.shape == (None, None, 4)
    assert getattr(y, "_keras_mask", None) is not None
    out = keras.layers.LSTM(3, return_sequences=True)(y)
    model = keras.Model(ids, out)
    batch = np.array([[3, 4, 0, 0]])
    assert model(batch, training=True).shape == (1, 4, 3)


def test_locked_dropout_gradient_flows_through_kept_units(gradients):
    x = keras.Variable(np.ones((4, 3, 8), "float32"))
    layer = LockedDropout(0.5, seed=0)

    def loss():
        y = layer(x, training=True)
        return keras.ops.sum(y), y

    _, y, (grad,) = gradients(loss, [x])
    y = np_(y)
    assert (y == 0).any() and (y != 0).any()
    np.testing.assert_allclose(grad, y)  # d(sum(mask * x))/dx = mask (scaled), x = 1


def test_locked_dropout_config_round_trip():
    layer = LockedDropout(0.25, seed=5, name="ld")
    clone = LockedDropout.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = np.ones((2, 3, 16), "float32")
    np.testing.assert_array_equal(np_(layer(x, training=True)), np_(clone(x, training=True)))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_locked_dropout_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        LockedDropout(rate)


def test_locked_dropout_rejects_bad_types_and_rank():
    with pytest.raises(TypeError, match="rate"):
        LockedDropout("0.5")
    with pytest.raises(TypeError, match="seed"):
        LockedDropout(0.5, seed=1.5)
    with pytest.raises(ValueError, match="rank 3"):
        LockedDropout(0.5)(np.ones((2, 3), "float32"), training=True)
    with pytest.raises(ValueError, match="rank 3"):
        LockedDropout(0.5)(keras.Input((3, 4, 5)))


def test_locked_dropout_mixed_precision(mixed_bfloat16):
    layer = LockedDropout(0.5, seed=0)
    y = layer(np.ones((2, 3, 8), "float32"), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert set(np.unique(np_(keras.ops.cast(y, "float32")))) <= {0.0, 2.0}


# ------------------------------------------------------------------------------------------
# EmbeddingDropout
# ------------------------------------------------------------------------------------------


def _weights(layer):
    return np_(layer.embeddings)


def test_embedding_dropout_matches_keras_embedding_without_dropout():
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    ours = EmbeddingDropout(5, 3, rate=0.4, mask_zero=True, seed=0)
    ours.build()
    theirs = keras.layers.Embedding(5, 3, mask_zero=True)
    theirs.build()
    theirs.set_weights(ours.get_weights())
    np.testing.assert_array_equal(np_(ours(ids)), np_(theirs(ids)))  # inference: no drop
    np.testing.assert_array_equal(np_(ours.compute_mask(ids)), np_(theirs.compute_mask(ids)))
    np.testing.assert_array_equal(np_(ours(ids)), _weights(ours)[ids])


def test_embedding_dropout_drops_whole_words_scaled():
    rate, vocab = 0.25, 400
    layer = EmbeddingDropout(vocab, 6, rate=rate, seed=11)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, size=(16, 50))
    out = np_(layer(ids, training=True))
    table = _weights(layer)
    # Every vector is either all zero or the row scaled by 1 / (1 - rate).
    dropped = (out == 0).all(-1)
    np.testing.assert_allclose(out[~dropped], table[ids[~dropped]] / (1 - rate), rtol=1e-6)
    # The same token is dropped everywhere in the batch, or nowhere.
    for token in np.unique(ids):
        states = dropped[ids == token]
        assert states.all() or not states.any(), token
    # About `rate` of the vocabulary rows are dropped (rows seen in this batch).
    seen = np.unique(ids)
    fraction = np.mean([dropped[ids == t][0] for t in seen])
    assert abs(fraction - rate) < 0.08, fraction


def test_embedding_dropout_row_mask_statistics_and_seeds():
    a = EmbeddingDropout(5000, 2, rate=0.4, seed=2)
    b = EmbeddingDropout(5000, 2, rate=0.4, seed=2)
    mask_a = np_(a.row_mask())
    assert set(np.unique(mask_a)) <= {0.0, np.float32(1 / 0.6)}
    assert abs((mask_a == 0).mean() - 0.4) < 0.025
    np.testing.assert_array_equal(mask_a, np_(b.row_mask()))  # same seed, same mask
    assert not np.array_equal(mask_a, np_(a.row_mask()))  # a new mask per call


def test_embedding_dropout_one_mask_per_call_and_identity_at_inference():
    layer = EmbeddingDropout(50, 4, rate=0.5, seed=4)
    ids = np.arange(50).reshape(5, 10)
    first, second = np_(layer(ids, training=True)), np_(layer(ids, training=True))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np_(layer(ids)), _weights(layer)[ids])


def test_tied_logits_are_hidden_times_embedding_transpose():
    layer = EmbeddingDropout(7, 3, rate=0.5, logits_bias=True, seed=0)
    layer.build()
    rng = np.random.default_rng(1)
    layer.bias.assign(rng.normal(size=7).astype("float32"))
    h = rng.normal(size=(2, 4, 3)).astype("float32")
    expected = h @ _weights(layer).T + np_(layer.bias)
    # Reverse mode never drops rows, in training or not.
    np.testing.assert_allclose(np_(layer(h, reverse=True)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_(layer(h, training=True, reverse=True)), expected, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="output_dim"):
        layer(np.ones((2, 4, 5), "float32"), reverse=True)


def test_tied_model_shares_one_matrix_and_keeps_the_mask():
    emb = EmbeddingDropout(9, 4, rate=0.2, mask_zero=True, logits_bias=True)
    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.LSTM(4, return_sequences=True)(emb(ids))
    logits = emb(h, reverse=True)
    assert logits.shape == (None, None, 9)
    assert getattr(logits, "_keras_mask", None) is not None
    model = keras.Model(ids, logits)
    assert len(model.weights) == 3 + 2  # LSTM kernel, recurrent kernel, bias + E, logits bias
    assert model(np.array([[1, 2, 0]])).shape == (1, 3, 9)


def test_embedding_dropout_gradients(gradients):
    layer = EmbeddingDropout(20, 3, rate=0.5, seed=1, logits_bias=True)
    ids = np.arange(20)[None]
    layer.build()

    def both_ways():
        vectors = layer(ids, training=True)
        logits = layer(vectors, reverse=True)
        return keras.ops.sum(vectors) + keras.ops.sum(logits)

    _, _, grads = gradients(both_ways, layer.trainable_variables)
    assert len(grads) == 2 and all(np.abs(g).sum() > 0 for g in grads)

    # Forward-only: a dropped word's row receives no gradient.
    def forward():
        vectors = layer(ids, training=True)
        return keras.ops.sum(vectors), vectors

    _, vectors, (grad,) = gradients(forward, [layer.embeddings])
    dropped = (np_(vectors)[0] == 0).all(-1)
    assert dropped.any() and (~dropped).any()
    assert (grad[dropped] == 0).all() and (grad[~dropped] != 0).all()


def test_embedding_dropout_config_round_trip():
    layer = EmbeddingDropout(8, 3, rate=0.1, mask_zero=True, logits_bias=True, seed=3,
                             embeddings_regularizer=keras.regularizers.L2(1e-3), name="e")
    layer.build()
    clone = EmbeddingDropout.from_config(layer.get_config())
    clone.build()
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == layer.get_config()
    ids = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(np_(clone(ids, training=True)), np_(layer(ids, training=True)))
    assert len(clone.losses) == 1  # the regularizer came back


@pytest.mark.parametrize(
    "kwargs, match, exception",
    [
        (dict(input_dim=0, output_dim=3), "input_dim", ValueError),
        (dict(input_dim=5, output_dim=-1), "output_dim", ValueError),
        (dict(input_dim=5, output_dim=2.5), "output_dim", TypeError),
        (dict(input_dim=5, output_dim=3, rate=1.0), "rate", ValueError),
        (dict(input_dim=5, output_dim=3, rate=-0.2), "rate", ValueError),
        (dict(input_dim=5, output_dim=3, rate="0.1"), "rate", TypeError),
    ],
)
def test_embedding_dropout_rejects_bad_arguments(kwargs, match, exception):
    with pytest.raises(exception, match=f"^`{match}` must be ") as info:
        EmbeddingDropout(**kwargs)
    assert type(info.value) is exception


def test_embedding_dropout_rejects_bad_flags():
    with pytest.raises(TypeError, match="mask_zero"):
        EmbeddingDropout(5, 3, mask_zero="yes")
    with pytest.raises(TypeError, match="logits_bias"):
        EmbeddingDropout(5, 3, logits_bias=1)


def test_embedding_dropout_mixed_precision(mixed_bfloat16):
    layer = EmbeddingDropout(10, 4, rate=0.5, seed=0, logits_bias=True)
    vectors = layer(np.array([[1, 2, 3]]), training=True)
    assert keras.backend.standardize_dtype(vectors.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(layer.embeddings.dtype) == "float32"
    logits = layer(vectors, reverse=True)
    assert keras.backend.standardize_dtype(logits.dtype) == "bfloat16"
    assert logits.shape == (1, 3, 10)
    full = EmbeddingDropout(10, 4, logits_bias=True, reverse_dtype="float32")
    full.build()
    full.set_weights(layer.get_weights())
    logits32 = full(vectors, reverse=True)
    assert keras.backend.standardize_dtype(logits32.dtype) == "float32"
    h = np_(keras.ops.cast(vectors, "float32"))
    np.testing.assert_allclose(np_(logits32), h @ np_(full.embeddings).T + np_(full.bias),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="reverse_dtype"):
        EmbeddingDropout(10, 4, reverse_dtype="int32")
