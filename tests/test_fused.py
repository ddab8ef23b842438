"""Tests for regkeras.fused: the whole-sequence LSTM with hand-written backpropagation.

`lstm_sequence` is checked against automatic differentiation of the same equations written
step by step, and every regkeras LSTM layer trained with `fused=True` against the same layer
with `fused=False` (automatic differentiation of its step loop): outputs, final states and
the gradients of every weight and of the inputs, with masks, reversed sequences, dropout,
weight drop, zoneout and layer norm. Runs on every Keras backend.
"""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

import regkeras
from regkeras import fused
from regkeras.fused import _rms_stats, _standardize, lstm_sequence

T, B, D, U = 5, 3, 4, 6
EPS = 1e-3


def np_(x):
    return keras.ops.convert_to_numpy(x)


def skip_float64_on_jax_without_x64():
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("JAX computes in float32 unless jax_enable_x64 is set")


def stepwise_reference(z, h0, c0, kernel, bias, mask, keep_c, keep_h, norm):
    """The equations of `lstm_sequence`'s docstring, one step at a time, for autodiff."""
    h, c, outputs = h0, c0, []
    for t in range(z.shape[0]):
        r = ops.matmul(h * mask if mask is not None else h, kernel)
        if norm:
            pre = (_rms_stats(z[t], EPS)[0] * norm["input_gamma"]
                   + _rms_stats(r, EPS)[0] * norm["recurrent_gamma"] + norm["input_beta"])
        else:
            pre = z[t] + r + (bias if bias is not None else 0.0)
        i, f, g, o = ops.split(pre, 4, axis=-1)
        i, f, g, o = ops.sigmoid(i), ops.sigmoid(f), ops.tanh(g), ops.sigmoid(o)
        c_new = f * c + i * g
        if norm:
            c_term = _standardize(c_new, EPS)[0] * norm["state_gamma"] + norm["state_beta"]
        else:
            c_term = c_new
        h_new = o * ops.tanh(c_term)
        if keep_c is not None:
            kc = keep_c[t] if len(keep_c.shape) else keep_c
            c_new = (1 - kc) * c_new + kc * c
        if keep_h is not None:
            kh = keep_h[t] if len(keep_h.shape) else keep_h
            h_new = (1 - kh) * h_new + kh * h
        h, c = h_new, c_new
        outputs.append(h)
    return ops.stack(outputs), h, c


SEQUENCE_CASES = {
    "plain": {},
    "bias": {"bias": True},
    "dropout_mask": {"bias": True, "mask": True},
    "zoneout_masks": {"bias": True, "keep_c": "binary", "keep_h": "binary"},
    "padding_and_dropout": {"bias": True, "mask": True, "keep_c": "padding", "keep_h": "padding"},
    "zoneout_expectation": {"bias": True, "keep_c": "scalar", "keep_h": "scalar"},
    "layer_norm": {"norm": True},
    "layer_norm_everything": {"norm": True, "mask": True, "keep_c": "binary", "keep_h": "padding"},
}


def sequence_inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    values = {
        "z": rng.normal(size=(T, B, 4 * U)),
        "h0": rng.normal(size=(B, U)),
        "c0": rng.normal(size=(B, U)),
        "kernel": rng.normal(size=(U, 4 * U)) * 0.5,
    }
    if case.get("bias"):
        values["bias"] = rng.normal(size=(4 * U,))
    if case.get("norm"):
        values["z"] -= values["z"].mean(axis=-1, keepdims=True)  # x·W_c: centred rows
        values["input_gamma"] = rng.normal(size=(4 * U,))
        values["input_beta"] = rng.normal(size=(4 * U,))
        values["recurrent_gamma"] = rng.normal(size=(4 * U,))
        values["state_gamma"] = rng.normal(size=(U,))
        values["state_beta"] = rng.normal(size=(U,))
    constants = {}
    if case.get("mask"):
        constants["mask"] = (rng.random((B, U)) > 0.3) / 0.7
    for key in ("keep_c", "keep_h"):
        kind = case.get(key)
        if kind == "binary":
            constants[key] = (rng.random((T, B, U)) < 0.4) * 1.0
        elif kind == "padding":
            constants[key] = (rng.random((T, B, 1)) < 0.3) * 1.0
        elif kind == "scalar":
            constants[key] = np.array(0.3)
    as_float = {k: np.asarray(v, "float32") for k, v in values.items()}
    return as_float, {k: ops.convert_to_tensor(np.asarray(v, "float32")) for k, v in constants.items()}


def run_sequence(fn, v, constants, save=True):
    norm = None
    if "recurrent_gamma" in v:
        norm = {k: v[k] for k in ("input_gamma", "input_beta", "recurrent_gamma", "state_gamma",
                                  "state_beta")}
    args = (
        v["z"], v["h0"], v["c0"], v["kernel"], v.get("bias"), constants.get("mask"),
        constants.get("keep_c"), constants.get("keep_h"),
    )
    if fn == "fused":
        return lstm_sequence(*args, layer_norm=None if norm is None else {**norm, "epsilon": EPS},
                             save_for_backward=save)
    return stepwise_reference(*args, norm)


@pytest.mark.parametrize("save", [True, False], ids=["saved", "recomputed"])
@pytest.mark.parametrize("case", sorted(SEQUENCE_CASES))
def test_sequence_matches_autodiff_of_the_step_equations(case, save, gradients):
    """Outputs, final states and the gradients of every input agree with autodiff, also when
    the forward pass kept nothing (inference) and the backward pass recomputes it."""
    values, constants = sequence_inputs(SEQUENCE_CASES[case])
    rng = np.random.default_rng(1)
    weights = [ops.convert_to_tensor(rng.normal(size=s).astype("float32"))
               for s in ((T, B, U), (B, U), (B, U))]
    results = {}
    for fn in ("fused", "reference"):
        variables = {k: keras.Variable(x) for k, x in values.items()}

        def loss():
            outputs, h, c = run_sequence(fn, variables, constants, save)
            total = sum(ops.sum(a * w) for a, w in zip((outputs, h, c), weights))
            return total, (outputs, h, c)

        results[fn] = gradients(loss, list(variables.values()))
    (loss_f, out_f, grads_f), (loss_r, out_r, grads_r) = results["fused"], results["reference"]
    for got, want in zip(out_f, out_r):
        np.testing.assert_allclose(np_(got), np_(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss_f, loss_r, rtol=1e-5)
    for name, got, want in zip(values, grads_f, grads_r):
        assert np.abs(want).max() > 0, name  # every input matters in these cases
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)



@pytest.mark.parametrize("case", ["bias", "layer_norm"])
def test_float64_gradients_are_float64_accurate(case, gradients):
    """A float64 layer gets float64-accurate gradients, the summed bias and norm-vector ones
    included (they were once accumulated in float32 whatever the dtype: ~1e-7 relative)."""
    skip_float64_on_jax_without_x64()
    if case == "layer_norm" and keras.backend.backend() == "torch":
        pytest.xfail("Keras' torch backend computes keras.ops.matmul and keras.ops.mean of "
                     "float64 tensors in float32 (test_keras_torch_computes_float64_in_float32), "
                     "so on torch neither side is float64-accurate; the normalization's "
                     "rounding differs between the hand-written backward and autodiff (~7e-7)")
    values, constants = sequence_inputs(SEQUENCE_CASES[case])
    values = {k: v.astype("float64") for k, v in values.items()}
    constants = {k: ops.cast(v, "float64") for k, v in constants.items()}
    weight = ops.convert_to_tensor(np.random.default_rng(1).normal(size=(T, B, U)))
    results = {}
    for fn in ("fused", "reference"):
        variables = {k: keras.Variable(x, dtype="float64") for k, x in values.items()}

        def loss():
            outputs, _, _ = run_sequence(fn, variables, constants)
            return ops.sum(outputs * weight), ()

        results[fn] = dict(zip(values, gradients(loss, list(variables.values()))[2]))
    summed = ["bias"] if case == "bias" else ["input_beta", "input_gamma", "recurrent_gamma",
                                               "state_gamma", "state_beta"]
    for name in summed:
        got, want = results["fused"][name], results["reference"][name]
        assert got.dtype == np.float64, name
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11, err_msg=name)

def test_keras_torch_computes_float64_in_float32():
    """Why the float64 layer-norm case is an xfail on torch (found with KERAS_BACKEND=torch):
    Keras 3.15's `keras.backend.result_type` turns float64 into float32 on every backend but
    TensorFlow ("aligned with JAX's default", `BIT64_TO_BIT32_DTYPE`), and the torch backend's
    `matmul` and `mean` compute in that type before casting back to float64. The same model
    on TensorFlow agrees with autodiff and with float64 finite differences to 1e-15; on torch
    the loss itself is off by 1.7e-8 relative. When a Keras release changes this, this test
    fails: then drop the xfail."""
    if keras.backend.backend() != "torch":
        pytest.skip("about Keras' PyTorch backend")
    x = np.random.default_rng(0).normal(size=(3, 24))
    tensor = ops.convert_to_tensor(x)
    assert keras.backend.result_type("float64", "float64") == "float32"
    product = ops.convert_to_numpy(ops.matmul(tensor, ops.transpose(tensor)))
    mean = ops.convert_to_numpy(ops.mean(tensor, axis=-1))
    assert 1e-8 < np.abs(product - x @ x.T).max() < 1e-5  # float32 rounding, float64 dtype
    assert 1e-10 < np.abs(mean - x.mean(-1)).max() < 1e-6
    assert np.abs(ops.convert_to_numpy(ops.sum(tensor, axis=-1)) - x.sum(-1)).max() < 1e-12


def test_padded_steps_keep_the_state_exactly():
    """A keep weight of 1 returns the old state bit for bit, not up to rounding."""
    values, _ = sequence_inputs({"bias": True})
    keep = np.zeros((T, B, 1), "float32")
    keep[2] = 1.0
    keep = ops.convert_to_tensor(keep)
    outputs, _, _ = lstm_sequence(
        values["z"], values["h0"], values["c0"], values["kernel"], values["bias"],
        keep_c=keep, keep_h=keep,
    )
    np.testing.assert_array_equal(np_(outputs)[2], np_(outputs)[1])


@pytest.mark.parametrize("dtype, atol", [("float32", 3e-7), ("float64", 1e-15)])
def test_standard_gates_are_three_sigmoids_and_a_tanh(dtype, atol):
    # The step computes its gates with one tanh (sigmoid(x) = tanh(x/2)/2 + 1/2): the same
    # values as the four activations, to rounding, saturated gates included.
    if dtype == "float64":
        skip_float64_on_jax_without_x64()
    rng = np.random.default_rng(0)
    pre = np.concatenate([rng.normal(scale=4.0, size=(7, 4 * U)),
                          np.linspace(-40.0, 40.0, 4 * U)[None]]).astype(dtype)
    gates = [np_(gate) for gate in fused.standard_gates(ops.convert_to_tensor(pre))]
    i, f, g, o = np.split(pre.astype("float64"), 4, axis=-1)
    expected = [1 / (1 + np.exp(-i)), 1 / (1 + np.exp(-f)), np.tanh(g), 1 / (1 + np.exp(-o))]
    for name, got, want in zip("ifgo", gates, expected):
        assert got.dtype == np.dtype(dtype), name
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=name)
        assert got.min() >= (-1.0 if name == "g" else 0.0) and got.max() <= 1.0, name


def test_bad_keep_shape_and_bias_with_layer_norm_raise():
    values, _ = sequence_inputs({"bias": True})
    with pytest.raises(ValueError, match="`keep_c`"):
        lstm_sequence(values["z"], values["h0"], values["c0"], values["kernel"],
                      keep_c=ops.ones((B, U)))
    with pytest.raises(ValueError, match="`bias`"):
        lstm_sequence(values["z"], values["h0"], values["c0"], values["kernel"], values["bias"],
                      layer_norm={"input_gamma": None, "input_beta": None,
                                  "recurrent_gamma": None, "state_gamma": None,
                                  "state_beta": None, "epsilon": EPS})


# ----------------------------------------------------------------------------------------------
# The layers: fused=True against fused=False.

LAYER_KINDS = {
    "projected": lambda **kw: regkeras.ProjectedLSTM(U, **kw),
    "variational": lambda **kw: regkeras.ProjectedLSTM(U, dropout=0.3, recurrent_dropout=0.4, **kw),
    "weight_drop": lambda **kw: regkeras.WeightDropLSTM(U, weight_dropout=0.5, **kw),
    "zoneout": lambda **kw: regkeras.ZoneoutLSTM(U, zoneout_c=0.3, zoneout_h=0.2, **kw),
    "layer_norm": lambda **kw: regkeras.LayerNormLSTM(U, **kw),
    "layer_norm_dropout": lambda **kw: regkeras.LayerNormLSTM(U, recurrent_dropout=0.3, **kw),
    # Every regularizer of the recurrence in one layer (one engine: they combine).
    "zoneout_weight_drop": lambda **kw: regkeras.ZoneoutLSTM(
        U, zoneout_c=0.3, zoneout_h=0.2, weight_dropout=0.4, **kw),
    "layer_norm_everything": lambda **kw: regkeras.LayerNormLSTM(
        U, dropout=0.2, recurrent_dropout=0.3, weight_dropout=0.4, zoneout_c=0.3,
        zoneout_h=0.2, **kw),
}
# (mask, go_backwards, zero_output_for_mask, initial_state): every kind runs all-off, all-on
# and two mixed settings, so each flag meets each layer without the full product.
FLAG_SETS = [
    (False, False, False, False),
    (True, True, True, True),
    (True, False, False, True),
    (False, True, False, False),
]


def layer_pair(kind, seed=3, **kwargs):
    """The same layer twice, fused and step by step, with equal random weights and seeds."""
    layers = [LAYER_KINDS[kind](fused=f, seed=seed, **kwargs) for f in (True, False)]
    x = np.random.default_rng(seed).normal(size=(B, T, D)).astype("float32")
    rng = np.random.default_rng(seed + 1)
    for layer in layers:
        layer(x)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in layers[0].get_weights()]
    for layer in layers:
        layer.set_weights(weights)
        if layer.stateful:  # the building call stored states made with other weights
            layer.reset_states()
    return layers, x


@pytest.mark.parametrize("kind,flags", list(itertools.product(sorted(LAYER_KINDS), FLAG_SETS)))
def test_fused_layer_equals_step_by_step_in_training(kind, flags, gradients):
    check_fused_equals_step_by_step(kind, flags, True, gradients)


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_fused_layer_equals_step_by_step_in_inference(kind, gradients):
    """At inference (zoneout's expectation, no dropout) too, gradients included."""
    check_fused_equals_step_by_step(kind, FLAG_SETS[2], False, gradients)


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS))
def test_fused_layer_equals_autodiff_of_the_engine_step(kind, gradients, monkeypatch):
    """The step-by-step layer uses the engine's hand-written backward too; with it switched
    off, Keras' automatic differentiation of the forward step is the independent reference
    for the fused sequence (training, every flag on)."""
    monkeypatch.setattr(regkeras.ProjectedLSTMCell, "uses_engine_gradient", lambda self: False)
    check_fused_equals_step_by_step(kind, FLAG_SETS[1], True, gradients)


def check_fused_equals_step_by_step(kind, flags, training, gradients):
    mask_on, backwards, zero_output, with_state = flags
    layers, x = layer_pair(
        kind, return_sequences=True, return_state=True, go_backwards=backwards,
        zero_output_for_mask=zero_output,
    )
    mask = None
    if mask_on:
        mask = np.ones((B, T), bool)
        mask[1, 3:] = False  # a padded tail
        mask[2, 1] = False  # a hole
        mask[0, 0] = False  # a padded first step
    rng = np.random.default_rng(7)
    state = [rng.normal(size=(B, U)).astype("float32") for _ in range(2)] if with_state else None
    weights = [ops.convert_to_tensor(rng.normal(size=s).astype("float32"))
               for s in ((B, T, U), (B, U), (B, U))]
    results = []
    for layer in layers:
        inputs = keras.Variable(x)

        def loss():
            out = layer(inputs, initial_state=state, mask=mask, training=training)
            total = sum(ops.sum(a * w) for a, w in zip(out, weights))
            return total, out

        results.append(gradients(loss, [inputs] + layer.trainable_weights))
    (loss_f, out_f, grads_f), (loss_s, out_s, grads_s) = results
    for got, want in zip(out_f, out_s):
        np.testing.assert_allclose(np_(got), np_(want), rtol=1e-5, atol=1e-5)
    names = ["inputs"] + [w.path for w in layers[0].trainable_weights]
    for name, got, want in zip(names, grads_f, grads_s):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max(),
                                   err_msg=name)


def test_auto_uses_the_fused_sequence_in_training_and_inference(monkeypatch):
    calls = []
    original = fused.lstm_sequence

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(regkeras.recurrent, "lstm_sequence", counting)
    x = np.ones((B, T, D), "float32")
    for layer in (regkeras.WeightDropLSTM(U), regkeras.ZoneoutLSTM(U), regkeras.LayerNormLSTM(U)):
        layer(x, training=False)
        layer(x, training=True)
        assert len(calls) == 2
        calls.clear()
    for layer in (
        regkeras.ProjectedLSTM(U, fused=False),
        regkeras.ProjectedLSTM(U, unroll=True),
        regkeras.ProjectedLSTM(U, activation="relu"),
        regkeras.ProjectedLSTM(U, recurrent_activation="hard_sigmoid"),
    ):
        assert layer.fused_unsupported_reason() is not None
        layer(x, training=True)
        assert not calls


def test_a_cell_that_changes_the_step_runs_step_by_step():
    class Doubled(regkeras.ProjectedLSTMCell):
        def recurrent_step(self, z, states, training=False, recurrent_kernel=None):
            return super().recurrent_step(2.0 * z, states, training, recurrent_kernel)

    class DoubledLSTM(regkeras.ProjectedLSTM):
        cell_class = Doubled

    layer = DoubledLSTM(U)
    assert "overrides `recurrent_step`" in layer.fused_unsupported_reason()
    with pytest.raises(ValueError, match="fused=True"):
        DoubledLSTM(U, fused=True)



def test_the_fused_path_is_declared_by_the_class_that_writes_the_step():
    """`supports_fused_sequence` is read on the class defining `recurrent_step`, never
    inherited; a subclass that keeps the step keeps the fused path."""
    class Declared(regkeras.ProjectedLSTMCell):
        supports_fused_sequence = True

        def recurrent_step(self, z, states, training=False, recurrent_kernel=None):
            return super().recurrent_step(z, states, training, recurrent_kernel)

    class OldForm(regkeras.ProjectedLSTMCell):
        def recurrent_step(self, z, states, training=False, recurrent_kernel=None):
            return super().recurrent_step(z, states, training, recurrent_kernel)

        fused_recurrent_step = recurrent_step

    class SameStep(regkeras.ZoneoutLSTMCell):
        pass

    for cell in (Declared, OldForm, SameStep, regkeras.LayerNormLSTMCell):
        assert cell(U).fused_unsupported_reason() is None, cell.__name__

def test_layers_with_other_activations_still_train():
    """`fused="auto"` falls back to the step loop, which the fused one would not compute."""
    layers, x = layer_pair("projected")
    auto = regkeras.ProjectedLSTM(U, activation="relu")
    plain = regkeras.ProjectedLSTM(U, activation="relu", fused=False)
    for layer in (auto, plain):
        layer(x)
        layer.set_weights(layers[0].get_weights())
    np.testing.assert_allclose(np_(auto(x, training=True)), np_(plain(x, training=True)),
                               rtol=1e-6)


@pytest.mark.parametrize("value, exception", [("yes", ValueError), ("AUTO", ValueError),
                                              (1, TypeError), (0, TypeError), (None, TypeError),
                                              (1.0, TypeError)])
def test_bad_fused_argument_raises(value, exception):
    with pytest.raises(exception, match="`fused` must be 'auto', True or False. Received: "):
        regkeras.ProjectedLSTM(U, fused=value)


@pytest.mark.parametrize(
    "kwargs", [{"unroll": True}, {"activation": "relu"}, {"recurrent_activation": "relu"}]
)
def test_fused_true_where_impossible_raises(kwargs):
    with pytest.raises(ValueError, match="fused=True"):
        regkeras.LayerNormLSTM(U, fused=True, **kwargs)


@pytest.mark.parametrize("value", ["auto", True, False])
def test_fused_is_in_the_config(value):
    layer = regkeras.ZoneoutLSTM(U, fused=value)
    config = layer.get_config()
    assert config["fused"] == value
    assert regkeras.ZoneoutLSTM.from_config(config).fused == value


def test_stateful_fused_layer_carries_the_same_states():
    layers, x = layer_pair("zoneout", stateful=True)
    for _ in range(2):
        outs = [np_(layer(x, training=True)) for layer in layers]
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    for a, b in zip(layers[0].states, layers[1].states):
        np.testing.assert_allclose(np_(a), np_(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["projected", "layer_norm"])
def test_mixed_precision_fused_training_step(kind, mixed_bfloat16):
    """Under mixed_bfloat16 the fused path trains, with the norm statistics in float32."""
    inputs = keras.Input((T, D))
    outputs = keras.layers.Dense(2)(LAYER_KINDS[kind](return_sequences=True)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")
    before = [np_(w).copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, np.zeros((B, T, 2), "float32"))
    assert np.isfinite(loss)
    changed = [not np.array_equal(a, np_(w)) for a, w in zip(before, model.trainable_weights)]
    assert all(changed)


def test_mixed_precision_engine_keeps_the_recurrence_in_the_states_dtype(gradients):
    """bfloat16 `z` with float32 states and `U`: the loop runs in float32 (the same numbers
    as an all-float32 run on the bfloat16-rounded `z`), the outputs and the gradient for `z`
    come back in bfloat16, every other gradient in float32."""
    rng = np.random.default_rng(0)
    steps, batch, units = 12, 3, 4
    z16 = ops.cast(rng.normal(size=(steps, batch, 4 * units)).astype("float32"), "bfloat16")
    h0, c0 = (rng.normal(size=(batch, units)).astype("float32") for _ in range(2))
    kernel = rng.normal(0, 0.5, (units, 4 * units)).astype("float32")
    bias = rng.normal(size=(4 * units,)).astype("float32")
    weights = ops.convert_to_tensor(rng.normal(size=(steps, batch, units)).astype("float32"))
    results = []
    for z in (z16, ops.cast(z16, "float32")):
        variables = [keras.Variable(z, dtype=z.dtype), keras.Variable(kernel), keras.Variable(bias)]

        def loss():
            outputs, h, c = lstm_sequence(variables[0], h0, c0, variables[1], variables[2])
            total = ops.sum(ops.cast(outputs, "float32") * weights) + ops.sum(ops.cast(c, "float32"))
            return total, (outputs, c)

        results.append(gradients(loss, variables))
    (_, (out16, c16), grads16), (_, (out32, c32), grads32) = results
    assert keras.backend.standardize_dtype(out16.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(c16.dtype) == "bfloat16"
    # Equal to the float32 run up to the final rounding to bfloat16 (2**-8 relative).
    np.testing.assert_allclose(np_(ops.cast(out16, "float32")), np_(out32), rtol=2**-8, atol=2**-9)
    assert [str(g.dtype) for g in grads16] == ["bfloat16", "float32", "float32"]
    for got, want, name in zip(grads16, grads32, ("z", "kernel", "bias")):
        np.testing.assert_allclose(np.asarray(got, "float32"), want, rtol=0.02, atol=0.02 * np.abs(want).max(),
                                   err_msg=name)


@pytest.mark.parametrize("fused_path", [True, False])
def test_mixed_precision_state_keeps_float32_resolution(fused_path, mixed_bfloat16):
    """Under mixed_bfloat16 the cell state is carried in float32: 32 increments of 0.002 on
    c = 1 give 1.064 (a bfloat16 state, whose spacing at 1 is 2**-7, would stay at 1.0)."""
    steps, units, delta = 32, 2, 0.002
    layer = regkeras.ProjectedLSTM(units, return_state=True, fused=fused_path)
    x = np.zeros((1, steps, 3), "float32")
    layer(x)
    bias = np.concatenate([np.full(units, 30.0), np.full(units, 30.0),  # i, f: exactly 1
                           np.full(units, np.arctanh(delta)), np.zeros(units)]).astype("float32")
    layer.set_weights([np.zeros((3, 4 * units), "float32"),
                       np.zeros((units, 4 * units), "float32"), bias])
    assert layer.cell.recurrence_dtype == "float32" and layer.compute_dtype == "bfloat16"
    start = [np.zeros((1, units), "float32"), np.ones((1, units), "float32")]
    _, _, c = layer(x, initial_state=start)
    assert keras.backend.standardize_dtype(c.dtype) == "bfloat16"
    np.testing.assert_allclose(np_(ops.cast(c, "float32")), 1 + steps * delta, rtol=2**-8)


def test_recurrence_dtype_follows_the_compute_dtype():
    assert regkeras.ProjectedLSTMCell(2).recurrence_dtype == "float32"
    assert regkeras.ProjectedLSTMCell(2, dtype="float64").recurrence_dtype == "float64"
    assert regkeras.ProjectedLSTMCell(2, dtype="mixed_float16").recurrence_dtype == "float32"
    assert regkeras.LayerNormLSTMCell(2, dtype="mixed_bfloat16").recurrence_dtype == "float32"


@pytest.mark.tensorflow_only("the XLA-compiled TensorFlow loop runs in tf.function graphs")
@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("kind", ["zoneout", "layer_norm_dropout"])
def test_fused_layer_in_a_graph_equals_step_by_step(kind, jit, monkeypatch):
    """In a `tf.function` (how `fit` runs) the loop is compiled with XLA; same numbers in
    training and at inference (where the backward pass recomputes the forward loop)."""
    import tensorflow as tf

    monkeypatch.setattr(fused, "JIT_COMPILE_TF_LOOPS", jit)
    layers, x = layer_pair(kind, return_sequences=True)
    mask = np.ones((B, T), bool)
    mask[0, 3:] = False

    def grads_of(layer, training):
        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.sin(layer(x, mask=mask, training=training)))
            return loss, tape.gradient(loss, [x] + layer.trainable_weights)

        return step(tf.constant(x))

    for training in (True, False):
        (loss_f, grads_f), (loss_s, grads_s) = (grads_of(layer, training) for layer in layers)
        np.testing.assert_allclose(np_(loss_f), np_(loss_s), rtol=1e-5)
        for got, want in zip(grads_f, grads_s):
            np.testing.assert_allclose(np_(got), np_(want), rtol=1e-4,
                                       atol=1e-4 * np.abs(np_(want)).max())


def test_the_docstring_example_runs():
    import doctest

    result = doctest.testmod(fused, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


@pytest.mark.parametrize("kind", ["projected", "layer_norm", "zoneout"])
def test_bidirectional_wrapper_trains_on_the_fused_path(kind, gradients):
    """`keras.layers.Bidirectional` rebuilds the layer with `go_backwards=True` from its config:
    both directions run fused and equal the step-by-step layers."""
    layers = []
    for fused_flag in (True, False):
        layer = keras.layers.Bidirectional(
            LAYER_KINDS[kind](fused=fused_flag, seed=5, return_sequences=True))
        layer(np.zeros((B, T, D), "float32"))
        layers.append(layer)
    assert layers[0].backward_layer.go_backwards and layers[0].backward_layer.fused is True
    layers[1].set_weights(layers[0].get_weights())
    x = np.random.default_rng(3).normal(size=(B, T, D)).astype("float32")
    results = []
    for layer in layers:
        inputs = keras.Variable(x)
        results.append(gradients(lambda: ops.sum(ops.sin(layer(inputs, training=True))),
                                 [inputs] + layer.trainable_weights))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for got, want in zip(results[0][2], results[1][2]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
