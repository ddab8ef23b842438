"""AR / TAR (Merity et al. 2017): penalties against NumPy, masking, training only, fit, config."""

import warnings
import keras
import numpy as np
import pytest

from regkeras.regularizers import ActivationRegularization, ar_penalty, tar_penalty


def np_(x):
    return keras.ops.convert_to_numpy(x)


def ref_ar(h, mask=None):
    """Mean of h**2 over features, then over the valid steps."""
    m = np.ones(h.shape[:2]) if mask is None else mask.astype(float)
    per_step = (h.astype(np.float64) ** 2).mean(-1)
    return (per_step * m).sum() / max(m.sum(), 1.0)


def ref_tar(h, mask=None):
    """Mean of (h_t - h_{t-1})**2 over features, then over pairs of valid consecutive steps."""
    m = np.ones(h.shape[:2]) if mask is None else mask.astype(float)
    h = h.astype(np.float64)
    total, count = 0.0, 0.0
    for b in range(h.shape[0]):
        for t in range(1, h.shape[1]):
            if m[b, t] and m[b, t - 1]:
                total += ((h[b, t] - h[b, t - 1]) ** 2).mean()
                count += 1
    return total / max(count, 1.0)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 6, 5)).astype("float32")
    lengths = np.array([6, 4, 1])
    mask = np.arange(6)[None, :] < lengths[:, None]
    return h, mask


def test_penalties_match_numpy_without_mask(batch):
    h, _ = batch
    np.testing.assert_allclose(float(ar_penalty(h)), (h.astype(float) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(ar_penalty(h)), ref_ar(h), rtol=1e-5)
    merity_tar = ((h[:, 1:].astype(float) - h[:, :-1]) ** 2).mean()  # the paper's formula
    np.testing.assert_allclose(float(tar_penalty(h)), merity_tar, rtol=1e-5)


def test_penalties_match_numpy_with_mask(batch):
    h, mask = batch
    np.testing.assert_allclose(float(ar_penalty(h, mask)), ref_ar(h, mask), rtol=1e-5)
    np.testing.assert_allclose(float(tar_penalty(h, mask)), ref_tar(h, mask), rtol=1e-5)
    # Garbage in the padded steps changes nothing: no term reads them.
    garbage = np.where(mask[..., None], h, 1e3).astype("float32")
    np.testing.assert_allclose(float(ar_penalty(garbage, mask)), float(ar_penalty(h, mask)),
                               rtol=1e-6)
    np.testing.assert_allclose(float(tar_penalty(garbage, mask)), float(tar_penalty(h, mask)),
                               rtol=1e-6)


def test_tar_of_single_steps_is_zero():
    h = np.ones((2, 1, 3), "float32")
    assert float(tar_penalty(h)) == 0.0
    assert float(tar_penalty(np.ones((2, 3, 3), "float32"), np.zeros((2, 3), bool))) == 0.0


def test_layer_is_identity_and_adds_loss_only_in_training(batch):
    h, mask = batch
    layer = ActivationRegularization(ar=2.0, tar=1.0)
    out = layer(h, mask=mask, training=True)
    np.testing.assert_array_equal(np_(out), h)
    assert len(layer.losses) == 1
    expected = 2.0 * ref_ar(h, mask) + 1.0 * ref_tar(h, mask)
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-5)
    np.testing.assert_allclose(float(layer.penalty(h, mask)), expected, rtol=1e-5)
    np.testing.assert_array_equal(np_(layer(h, mask=mask)), h)
    assert layer.losses == []  # inference: nothing added


def test_ar_and_tar_act_separately(batch):
    h, _ = batch
    ar_only, tar_only = ActivationRegularization(ar=3.0), ActivationRegularization(tar=0.5)
    ar_only(h, training=True)
    tar_only(h, training=True)
    np.testing.assert_allclose(float(ar_only.losses[0]), 3.0 * ref_ar(h), rtol=1e-5)
    np.testing.assert_allclose(float(tar_only.losses[0]), 0.5 * ref_tar(h), rtol=1e-5)
    idle = ActivationRegularization()
    idle(h, training=True)
    assert idle.losses == []


def test_layer_reads_the_keras_mask_in_a_model():
    ids = keras.Input((None,), dtype="int32")
    vectors = keras.layers.Embedding(10, 4, mask_zero=True, name="emb")(ids)
    out = ActivationRegularization(ar=1.0, tar=1.0)(vectors)
    model = keras.Model(ids, out)
    batch = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    model(batch, training=True)
    h = np_(model.get_layer("emb").embeddings)[batch]
    mask = batch != 0
    expected = ref_ar(h, mask) + ref_tar(h, mask)
    np.testing.assert_allclose(float(np_(model.losses[0])), expected, rtol=1e-5)


def test_fit_adds_the_penalty_to_the_data_loss():
    inputs = keras.Input((4, 3))
    dense = keras.layers.Dense(3, name="dense")
    outputs = ActivationRegularization(ar=2.0, tar=1.0)(dense(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    y = rng.normal(size=(2, 4, 3)).astype("float32")
    loss = model.train_on_batch(x, y)
    h = np_(model.predict(x, verbose=0))
    expected = ((h - y) ** 2).mean() + 2.0 * ref_ar(h) + ref_tar(h)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), ((h - y) ** 2).mean(), rtol=1e-4)


def test_penalty_gradient_flows_to_activations(gradients):
    hv = np.random.default_rng(2).normal(size=(2, 5, 3))
    h = keras.Variable(hv.astype("float32"))
    layer = ActivationRegularization(ar=2.0, tar=1.0)

    def penalty():
        layer(h, training=True)
        assert len(layer.losses) == 1
        return layer.losses[0]

    _, _, (grad,) = gradients(penalty, [h])
    # d/dh of ar * mean(h^2) alone would be 2 * ar * h / n; TAR adds its own part.
    assert np.abs(grad).min() > 0
    n = hv.size
    diff = hv[:, 1:] - hv[:, :-1]
    m = diff.size
    expected = 2 * 2.0 * hv / n
    expected[:, 1:] += 2 * diff / m
    expected[:, :-1] -= 2 * diff / m
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)


def test_config_round_trip():
    layer = ActivationRegularization(ar=2.0, tar=1.0, name="artar")
    clone = ActivationRegularization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert (clone.ar, clone.tar) == (2.0, 1.0)


def test_former_names_alpha_beta_still_work():
    with pytest.warns(DeprecationWarning, match="`alpha` is deprecated; use `ar`"):
        layer = ActivationRegularization(alpha=2.0, tar=1.0)
    assert (layer.ar, layer.tar) == (2.0, 1.0) and (layer.alpha, layer.beta) == (2.0, 1.0)
    assert "alpha" not in layer.get_config() and layer.get_config()["ar"] == 2.0
    with pytest.raises(TypeError, match="`tar` or its former name `beta`"):
        ActivationRegularization(tar=1.0, beta=1.0)


def test_config_saved_with_alpha_beta_loads_silently():
    old = {**ActivationRegularization(name="artar").get_config(), "alpha": 2.0, "beta": 1.0}
    del old["ar"], old["tar"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone = ActivationRegularization.from_config(old)
    assert (clone.ar, clone.tar) == (2.0, 1.0)


@pytest.mark.parametrize("kwargs, match", [(dict(ar=-1.0), "ar"), (dict(tar=-0.1), "tar"),
                                           (dict(ar=float("nan")), "ar")])
def test_rejects_negative_coefficients(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ActivationRegularization(**kwargs)


def test_rejects_bad_types_and_rank():
    with pytest.raises(TypeError, match="tar"):
        ActivationRegularization(tar="1")
    with pytest.raises(ValueError, match="rank 3"):
        ActivationRegularization(ar=1.0)(np.ones((2, 3), "float32"), training=True)
    with pytest.raises(ValueError, match="outputs"):
        ar_penalty(np.ones((2, 3), "float32"))


def test_mixed_precision_penalty_is_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = ActivationRegularization(ar=1.0, tar=1.0)
        h = np.random.default_rng(3).normal(size=(2, 4, 3)).astype("float32")
        out = layer(h, training=True)
        assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
        loss = layer.losses[0]
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        h16 = np_(keras.ops.cast(out, "float32"))
        np.testing.assert_allclose(float(loss), ref_ar(h16) + ref_tar(h16), rtol=1e-4)
    finally:
        keras.mixed_precision.set_global_policy("float32")
