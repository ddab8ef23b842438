"""Tests for regkeras.metrics: perplexity / bits-per-character functions and Keras metrics."""

import math

import keras
import numpy as np
import pytest

from regkeras.metrics import (BitsPerCharacter, CrossEntropy, Perplexity, bits_per_char,
                              perplexity)


def _np_token_nats(y_true, y_pred, from_logits=True):
    """NumPy reference: -log p(true token) at every position."""
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if from_logits:
        shifted = y_pred - y_pred.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    else:
        log_probs = np.log(y_pred / y_pred.sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_probs, np.asarray(y_true)[..., None], axis=-1)[..., 0]


def _batch(rng, batch=3, steps=5, vocab=7):
    return rng.integers(0, vocab, size=(batch, steps)), rng.normal(size=(batch, steps, vocab)) * 2


# ---------------------------------------------------------------------------------------------
# plain functions


def test_functions_match_definitions():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(65.0)) == pytest.approx(65.0)
    assert bits_per_char(math.log(2.0)) == pytest.approx(1.0)
    assert bits_per_char(1.5) == pytest.approx(1.5 / math.log(2.0))
    assert isinstance(perplexity(np.float32(1.0)), float)
    losses = [4.6, 4.2, 3.9]
    np.testing.assert_allclose(perplexity(losses), np.exp(losses))
    np.testing.assert_allclose(bits_per_char(np.array(losses)), np.array(losses) / np.log(2))
    assert perplexity(1000.0) == math.inf  # overflows quietly
    assert math.isnan(perplexity(float("nan")))


def test_functions_reject_bad_input():
    with pytest.raises(ValueError, match="negative"):
        perplexity(-0.5)
    with pytest.raises(ValueError, match="negative"):
        bits_per_char([1.0, -1.0])
    with pytest.raises(TypeError, match="loss_nats"):
        perplexity("1.2")
    with pytest.raises(TypeError, match="loss_nats"):
        bits_per_char(True)
    with pytest.raises(TypeError, match="numeric"):
        perplexity([None, 1.0])


# ---------------------------------------------------------------------------------------------
# Keras metrics against the NumPy reference


@pytest.mark.parametrize("from_logits", [True, False])
def test_metrics_accumulate_over_batches(from_logits):
    rng = np.random.default_rng(0)
    batches = [_batch(rng, batch=2), _batch(rng, batch=4)]
    if not from_logits:
        batches = [(y, np.exp(p) / np.exp(p).sum(-1, keepdims=True)) for y, p in batches]
    ppl = Perplexity(from_logits=from_logits)
    bpc = BitsPerCharacter(from_logits=from_logits)
    xent = CrossEntropy(from_logits=from_logits)
    keras_xent = keras.metrics.SparseCategoricalCrossentropy(from_logits=from_logits)
    for y, p in batches:
        for metric in (ppl, bpc, xent, keras_xent):
            metric.update_state(y, p)
    nats = np.concatenate([_np_token_nats(y, p, from_logits).ravel() for y, p in batches])
    assert float(xent.result()) == pytest.approx(nats.mean(), rel=1e-5)
    assert float(xent.result()) == pytest.approx(float(keras_xent.result()), rel=1e-5)
    assert float(ppl.result()) == pytest.approx(np.exp(nats.mean()), rel=1e-5)
    assert float(bpc.result()) == pytest.approx(nats.mean() / np.log(2), rel=1e-5)
    # Mean over tokens, not the mean of per-batch perplexities.
    per_batch = np.mean([np.exp(_np_token_nats(y, p, from_logits).mean()) for y, p in batches])
    assert float(ppl.result()) != pytest.approx(per_batch, rel=1e-6)
    ppl.reset_state()
    assert float(ppl.result()) == pytest.approx(1.0)
    assert float(BitsPerCharacter().result()) == 0.0
    assert float(CrossEntropy().result()) == 0.0


def test_sample_weight_ignore_class_and_mask():
    rng = np.random.default_rng(1)
    y, logits = _batch(rng, batch=3, steps=4, vocab=5)
    nats = _np_token_nats(y, logits)
    w = np.array([1.0, 0.0, 2.0])
    m = Perplexity()
    m.update_state(y, logits, sample_weight=w)
    expected = (nats * w[:, None]).sum() / (w.sum() * 4)
    assert float(m.result()) == pytest.approx(np.exp(expected), rel=1e-5)
    w2 = rng.uniform(size=(3, 4))
    m = BitsPerCharacter()
    m.update_state(y, logits, sample_weight=w2)
    assert float(m.result()) == pytest.approx((nats * w2).sum() / w2.sum() / np.log(2), rel=1e-5)
    y_pad = y.copy()
    y_pad[:, -1] = -1  # padding id; must not even be looked up
    m = Perplexity(ignore_class=-1)
    m.update_state(y_pad, logits)
    assert float(m.result()) == pytest.approx(np.exp(nats[:, :-1].mean()), rel=1e-5)
    # A Keras mask (Embedding(mask_zero=True)) drops padded positions too.
    ids = np.array([[3, 1, 2, 0, 0], [1, 1, 4, 2, 0]])
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(5, 4, mask_zero=True)(inputs)
    logits_out = keras.layers.Dense(5)(keras.layers.LSTM(4, return_sequences=True)(h))
    model = keras.Model(inputs, logits_out)
    targets = np.array([[1, 2, 4, 0, 0], [1, 4, 2, 3, 0]])
    out = model.predict(ids, verbose=0)
    keep = ids != 0
    ref = _np_token_nats(targets, out)[keep].mean()
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[Perplexity()])
    result = model.evaluate(ids, targets, verbose=0, return_dict=True)
    assert result["perplexity"] == pytest.approx(np.exp(ref), rel=1e-4)


def test_metric_validation_and_config_round_trip():
    with pytest.raises(TypeError, match="from_logits"):
        Perplexity(from_logits="yes")
    with pytest.raises(TypeError, match="ignore_class"):
        BitsPerCharacter(ignore_class=1.5)
    for cls in (CrossEntropy, Perplexity, BitsPerCharacter):
        metric = cls(from_logits=False, ignore_class=0, name="m")
        config = metric.get_config()
        assert config["from_logits"] is False and config["ignore_class"] == 0
        clone = cls.from_config(config)
        assert clone.get_config() == config
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(metric))
        assert type(restored) is cls and restored.get_config() == config
    assert keras.saving.get_registered_name(Perplexity) == "regkeras>Perplexity"
    assert keras.saving.get_registered_name(CrossEntropy) == "regkeras>CrossEntropy"


def test_metrics_in_training_equal_transformed_loss():
    vocab, steps = 6, 5
    rng = np.random.default_rng(2)
    x = rng.integers(0, vocab, size=(8, steps))
    y = np.roll(x, -1, axis=1)
    inputs = keras.Input((steps,), dtype="int32")
    h = keras.layers.Embedding(vocab, 4)(inputs)
    logits = keras.layers.Dense(vocab)(keras.layers.LSTM(4, return_sequences=True)(h))
    model = keras.Model(inputs, logits)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[CrossEntropy(), Perplexity(), BitsPerCharacter()])
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert {"loss", "cross_entropy", "perplexity", "bits_per_char"} <= set(history.history)
    result = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert result["cross_entropy"] == pytest.approx(result["loss"], rel=1e-5)
    assert result["perplexity"] == pytest.approx(perplexity(result["loss"]), rel=1e-5)
    assert result["bits_per_char"] == pytest.approx(bits_per_char(result["loss"]), rel=1e-5)


def test_mixed_precision_logits():
    rng = np.random.default_rng(3)
    y, logits = _batch(rng)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        m = Perplexity()
        m.update_state(y, keras.ops.cast(logits, "float16"))
        assert keras.backend.standardize_dtype(m.result().dtype) == "float32"
    finally:
        keras.config.set_dtype_policy(previous)
    nats = _np_token_nats(y, logits.astype(np.float16))
    assert float(m.result()) == pytest.approx(np.exp(nats.mean()), rel=1e-3)


def test_perplexity_and_bits_never_raises_on_a_logged_loss():
    import math

    import regkeras

    assert regkeras.perplexity_and_bits(math.log(4.0)) == pytest.approx((4.0, 2.0))
    for missing in (None, float("nan"), -0.5):
        ppl, bits = regkeras.perplexity_and_bits(missing)
        assert math.isnan(ppl) and math.isnan(bits)
    assert regkeras.perplexity_and_bits(float("inf")) == (float("inf"), float("inf"))
    assert regkeras.perplexity_and_bits(1000.0)[0] == float("inf")  # exp overflows to inf


def test_plot_history_has_one_home_and_the_old_address():
    import regkeras
    from regkeras import callbacks, plotting

    assert regkeras.plot_history is plotting.plot_history is callbacks.plot_history


def test_callbacks_in_auto_mode_minimize_the_metrics():
    """Keras' EarlyStopping finds out from the metric that lower is better."""
    x = np.random.default_rng(4).integers(0, 5, size=(8, 4))
    inputs = keras.Input((4,), dtype="int32")
    logits = keras.layers.Dense(5)(keras.layers.Embedding(5, 3)(inputs))
    model = keras.Model(inputs, logits)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[CrossEntropy(name="xent"), Perplexity(), BitsPerCharacter()])
    stoppers = [keras.callbacks.EarlyStopping(monitor=f"val_{name}", patience=2)
                for name in ("xent", "perplexity", "bits_per_char")]
    model.fit(x, x, validation_data=(x, x), epochs=2, verbose=0, callbacks=stoppers)
    assert all(stopper.monitor_op is keras.ops.less for stopper in stoppers)
