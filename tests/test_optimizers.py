"""Tests for regkeras.optimizers: which weights decay, and coupled vs. decoupled decay."""

import keras
import numpy as np
import pytest

from regkeras.optimizers import (
    add_l2_regularization,
    l2_to_weight_decay,
    make_adamw,
    weight_decay_mask,
)


class ScaledNorm(keras.layers.Layer):
    """A custom normalization-like layer whose weight names do not say 'gamma'/'beta'."""

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
        self.ln_norm_gamma = self.add_weight(name="ln_norm_gamma", shape=(input_shape[-1],),
                                             initializer="ones")

    def call(self, x):
        return x * self.scale * self.ln_norm_gamma


def language_model(vocab=11, dim=4, units=6):
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(vocab, dim)(inputs)
    h = keras.layers.LSTM(units, return_sequences=True)(h)
    h = keras.layers.LayerNormalization()(h)
    h = ScaledNorm(name="custom_norm")(h)
    outputs = keras.layers.Dense(vocab)(h)
    return keras.Model(inputs, outputs)


def test_mask_selects_kernels_and_spares_bias_and_norm_parameters():
    model = language_model()
    mask = weight_decay_mask(model)
    by_suffix = {path.split("/", 1)[-1] if "/" in path else path: d for path, d in mask.items()}
    decays = sorted(p for p, d in mask.items() if d)
    spared = sorted(p for p, d in mask.items() if not d)
    assert decays == sorted(
        ["embedding/embeddings", "lstm/lstm_cell/kernel", "lstm/lstm_cell/recurrent_kernel",
         "dense/kernel"]), by_suffix
    assert spared == sorted(
        ["lstm/lstm_cell/bias", "layer_normalization/gamma", "layer_normalization/beta",
         "custom_norm/scale", "custom_norm/ln_norm_gamma", "dense/bias"])
    with_emb = weight_decay_mask(model, exclude_embeddings=True)
    assert not with_emb["embedding/embeddings"] and with_emb["dense/kernel"]


def _zero_grad_step(model, optimizer):
    variables = model.trainable_variables
    before = {v.path: np.array(v) for v in variables}
    optimizer.build(variables)
    optimizer.apply([keras.ops.zeros_like(v) for v in variables], variables)
    return before, {v.path: np.array(v) for v in variables}


@pytest.mark.parametrize("pass_model", [True, False])
def test_adamw_decays_exactly_the_masked_variables(pass_model):
    model = language_model()
    lr, wd = 0.1, 0.5
    optimizer = make_adamw(lr, wd, model=model if pass_model else None, exclude_embeddings=True)
    # With a zero gradient Adam's own step is 0, so only the decoupled decay moves weights:
    # w <- w * (1 - lr * wd) for decayed variables, unchanged for the others.
    before, after = _zero_grad_step(model, optimizer)
    mask = weight_decay_mask(model, exclude_embeddings=True)
    for path, decays in mask.items():
        if path == "custom_norm/scale" and not pass_model and keras.backend.backend() != (
            "tensorflow"
        ):
            # Without the model, Keras matches the patterns against the variable's name: the
            # full path on TensorFlow, only "scale" on JAX/PyTorch (documented limit).
            np.testing.assert_allclose(after[path], before[path] * (1 - lr * wd), rtol=1e-6)
            continue
        expected = before[path] * (1 - lr * wd) if decays else before[path]
        np.testing.assert_allclose(after[path], expected, rtol=1e-6, err_msg=path)


def test_adamw_defaults():
    opt = make_adamw()
    assert isinstance(opt, keras.optimizers.AdamW)
    assert 1e-4 <= opt.weight_decay <= 1e-3
    assert opt.clipnorm == 1.0
    assert make_adamw(global_clipnorm=2.0).clipnorm is None


def test_add_l2_regularization_penalty_value():
    model = language_model()
    paths = add_l2_regularization(model, 1e-2)
    mask = weight_decay_mask(model)
    assert sorted(paths) == sorted(p for p, d in mask.items() if d)
    expected = sum(1e-2 * np.sum(np.square(np.array(v)))
                   for v in model.trainable_variables if mask[v.path])
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    add_l2_regularization(model, 0.0)
    assert model.losses == []


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 3)) + 0.1 * rng.normal(size=(32, 3))).astype("float32")
    return x, y


def _dense_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])


def test_sgd_coupled_equals_decoupled_with_factor_two():
    x, y = _regression()
    l2, lr = 0.05, 0.1
    coupled = _dense_model()
    add_l2_regularization(coupled, l2)
    coupled.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    decoupled = _dense_model()
    sgd = keras.optimizers.SGD(lr, weight_decay=l2_to_weight_decay(l2))
    sgd.exclude_from_weight_decay(var_names=["bias"])
    decoupled.compile(optimizer=sgd, loss="mse")
    for m in (coupled, decoupled):
        m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(coupled.get_weights(), decoupled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # ... and a wrong factor (weight_decay = l2) is measurably different.
    wrong = _dense_model()
    sgd = keras.optimizers.SGD(lr, weight_decay=l2)
    sgd.exclude_from_weight_decay(var_names=["bias"])
    wrong.compile(optimizer=sgd, loss="mse")
    wrong.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert np.abs(wrong.get_weights()[0] - coupled.get_weights()[0]).max() > 1e-3


def _numpy_adam(w, grads_fn, steps, lr, l2=0.0, wd=0.0, b1=0.9, b2=0.999, eps=1e-7):
    """Keras' Adam (epsilon outside the bias-corrected sqrt) with coupled L2 or AdamW decay."""
    w = w.astype(np.float64).copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t in range(1, steps + 1):
        g = grads_fn(w) + 2 * l2 * w  # coupled: the penalty's gradient joins the loss gradient
        w = w - lr * wd * w  # decoupled: shrink first, outside Adam's normalization
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    return w


def test_adam_coupled_vs_decoupled_against_numpy_reference():
    # Loss f(w) = 0.5 * sum(s * w**2) with very different curvatures s per coordinate.
    scales = np.array([100.0, 1.0, 0.01], dtype=np.float32)
    w0 = np.array([1.0, 1.0, 1.0], dtype=np.float32)
    lr, l2, steps = 0.01, 0.1, 20

    def run(optimizer, coupled):
        w = keras.Variable(w0, name="kernel")
        optimizer.build([w])
        for _ in range(steps):
            grad = scales * np.array(w) + (2 * l2 * np.array(w) if coupled else 0.0)
            optimizer.apply([keras.ops.convert_to_tensor(grad.astype("float32"))], [w])
        return np.array(w)

    coupled = run(keras.optimizers.Adam(lr), coupled=True)
    decoupled = run(keras.optimizers.AdamW(lr, weight_decay=l2_to_weight_decay(l2)),
                    coupled=False)
    grads = lambda w: scales * w  # noqa: E731
    np.testing.assert_allclose(coupled, _numpy_adam(w0, grads, steps, lr, l2=l2), rtol=1e-4)
    np.testing.assert_allclose(
        decoupled, _numpy_adam(w0, grads, steps, lr, wd=l2_to_weight_decay(l2)), rtol=1e-4)
    # Under Adam the two are not the same algorithm (unlike SGD) ...
    assert np.abs(coupled - decoupled).max() > 1e-3

    # ... and the difference is Loshchilov & Hutter's: with no data gradient, Adam+L2 moves
    # every weight by about lr per step whatever its size (the penalty gradient is
    # normalized away), while AdamW shrinks each weight by the same *factor*.
    zero = lambda w: np.zeros_like(w)  # noqa: E731
    w_big_small = np.array([10.0, 0.1])
    l2_adam = _numpy_adam(w_big_small, zero, 1, lr, l2=l2)
    adamw = _numpy_adam(w_big_small, zero, 1, lr, wd=l2_to_weight_decay(l2))
    np.testing.assert_allclose(w_big_small - l2_adam, [lr, lr], rtol=1e-3)
    np.testing.assert_allclose(adamw / w_big_small, [1 - lr * 2 * l2] * 2, rtol=1e-9)


def test_adamw_regularizes_in_training():
    x, y = _regression()
    norms = {}
    for wd in (0.0, 0.5):
        model = _dense_model()
        model.compile(optimizer=make_adamw(0.05, wd, model=model, clipnorm=None), loss="mse")
        model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0)
        norms[wd] = np.linalg.norm(model.get_weights()[0])
    assert norms[0.5] < norms[0.0]


def test_argument_validation():
    model = language_model()
    with pytest.raises(ValueError, match="weight_decay"):
        make_adamw(weight_decay=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        make_adamw(learning_rate=0)
    with pytest.raises(ValueError, match="clipnorm"):
        make_adamw(clipnorm=0)
    with pytest.raises(TypeError, match="exclude"):
        weight_decay_mask(model, exclude="bias")
    with pytest.raises(ValueError, match="l2"):
        add_l2_regularization(model, -0.1)
    with pytest.raises(TypeError, match="model"):
        add_l2_regularization("model", 0.1)
    with pytest.raises(ValueError, match="built"):
        weight_decay_mask(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="l2"):
        l2_to_weight_decay(-1)
