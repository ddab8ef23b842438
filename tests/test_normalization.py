"""Tests for regkeras.normalization: LayerNormLSTMCell, LayerNormLSTM, lstm_with_output_norm.

The numerics are checked against a NumPy transcription of Ba et al.'s layer-normalized LSTM
using the layer's own (randomized) weights, and the hoisted layer against the per-step path
(keras.layers.RNN running LayerNormLSTMCell).
"""

import itertools
import json

import keras
import numpy as np
import pytest

import regkeras
from regkeras import LayerNormLSTM, LayerNormLSTMCell, WeightDropLSTM, lstm_with_output_norm

B, T, D, U = 3, 5, 4, 6
EPS = 1e-3


def np_(x):
    """Any backend's tensor (a torch one that requires grad included) as a NumPy array."""
    return keras.ops.convert_to_numpy(x)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_layer_norm(v, gamma, beta, eps=EPS):
    mean = v.mean(axis=-1, keepdims=True)
    var = v.var(axis=-1, keepdims=True)
    return (v - mean) / np.sqrt(var + eps) * gamma + beta


def np_ln_lstm(x, weights, eps=EPS):
    """Ba, Kiros & Hinton 2016: LN(W x) + LN(U h) + b; h = o * tanh(LN(c)); c carried raw."""
    W, U_, b, gx, bx, gh, bh, gc, bc = weights
    h = np.zeros((x.shape[0], U_.shape[0]))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        z = np_layer_norm(x[:, t] @ W, gx, bx, eps) + np_layer_norm(h @ U_, gh, bh, eps) + b
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(np_layer_norm(c, gc, bc, eps))
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def np_lstm(x, W, U_, b):
    h = np.zeros((x.shape[0], U_.shape[0]))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ W + h @ U_ + b, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def random_inputs(seed=0, shape=(B, T, D)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def randomize_weights(layer, seed=0):
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(0.3, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
    )


def as_list(out):
    return [np_(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


# --- Ba et al.'s cell -----------------------------------------------------------------------


def test_weights_follow_keras_lstm_layout():
    layer = LayerNormLSTM(U)
    layer(random_inputs())
    names = [w.path.split("/")[-1] for w in layer.weights]
    assert names == [
        "kernel",
        "recurrent_kernel",
        "bias",
        "kernel_norm_gamma",
        "kernel_norm_beta",
        "recurrent_norm_gamma",
        "recurrent_norm_beta",
        "state_norm_gamma",
        "state_norm_beta",
    ]
    shapes = [tuple(w.shape) for w in layer.weights]
    assert shapes == [(D, 4 * U), (U, 4 * U), (4 * U,)] + [(4 * U,)] * 4 + [(U,)] * 2
    np.testing.assert_array_equal(layer.cell.kernel_norm_gamma, np.ones(4 * U))
    np.testing.assert_array_equal(layer.cell.state_norm_beta, np.zeros(U))


@pytest.mark.parametrize("eps", [1e-3, 1e-5])
def test_numerics_match_numpy_reference(eps):
    x = random_inputs(1)
    layer = LayerNormLSTM(U, norm_epsilon=eps, return_sequences=True, return_state=True)
    layer(x)
    randomize_weights(layer, seed=2)
    seq, h, c = as_list(layer(x))
    ref_seq, ref_h, ref_c = np_ln_lstm(x, layer.get_weights(), eps)
    np.testing.assert_allclose(seq, ref_seq, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, ref_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, ref_c, rtol=1e-5, atol=1e-5)
    # The norms matter: without them it is a different function.
    W, U_, b = layer.get_weights()[:3]
    assert not np.allclose(seq, np_lstm(x, W, U_, b), atol=1e-3)


def test_cell_call_is_one_step_of_the_reference():
    cell = LayerNormLSTMCell(U)
    x = random_inputs(3)[:, 0]
    rng = np.random.default_rng(4)
    h0, c0 = (rng.normal(size=(B, U)).astype("float32") for _ in range(2))
    cell.build((B, D))
    randomize_weights(cell, seed=5)
    W, U_, b, gx, bx, gh, bh, gc, bc = cell.get_weights()
    h, h_again, c = (np_(v) for v in keras.tree.flatten(cell(x, [h0, c0])))
    z = np_layer_norm(x @ W, gx, bx) + np_layer_norm(h0 @ U_, gh, bh) + b
    i, f, g, o = np.split(z, 4, axis=-1)
    ref_c = sigmoid(f) * c0 + sigmoid(i) * np.tanh(g)
    ref_h = sigmoid(o) * np.tanh(np_layer_norm(ref_c, gc, bc))
    np.testing.assert_allclose(c, ref_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, ref_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(h, h_again)


FLAGS = list(itertools.product([False, True], repeat=5))


@pytest.mark.parametrize("return_sequences,return_state,go_backwards,stateful,unroll", FLAGS)
def test_hoisted_layer_equals_per_step_path_for_every_flag(
    return_sequences, return_state, go_backwards, stateful, unroll
):
    """LayerNormLSTM (input projection hoisted out of the loop) gives the numbers
    of keras.layers.RNN(LayerNormLSTMCell) (everything inside the loop), with keras.layers.LSTM's
    output shapes, in training with variational dropout too (same seed -> same masks)."""
    flags = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        stateful=stateful,
        unroll=unroll,
    )
    x = random_inputs(6)
    regularized = dict(dropout=0.3, recurrent_dropout=0.3, seed=8)
    hoisted = LayerNormLSTM(U, **regularized, **flags)
    per_step = keras.layers.RNN(LayerNormLSTMCell(U, **regularized), **flags)
    shapes_of = keras.layers.LSTM(U, **flags)
    hoisted(x)
    per_step(x)
    randomize_weights(hoisted, seed=7)
    per_step.set_weights(hoisted.get_weights())
    expected_shapes = [o.shape for o in as_list(shapes_of(x))]
    for layer in (hoisted, per_step):
        if stateful:
            layer.reset_state()
    for _ in range(2 if stateful else 1):
        for training in (False, True):
            got = as_list(hoisted(x, training=training))
            want = as_list(per_step(x, training=training))
            assert [g.shape for g in got] == expected_shapes
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training():
    x = random_inputs(9)
    layer, again = (
        LayerNormLSTM(U, dropout=0.5, recurrent_dropout=0.5, seed=1, return_sequences=True)
        for _ in range(2)
    )
    for each in (layer, again):
        each.build(x.shape)
        randomize_weights(each, seed=10)
    a, b = np_(layer(x, training=True)), np_(layer(x, training=True))
    # The seed reproduces masks.
    np.testing.assert_allclose(np_(again(x, training=True)), a, rtol=1e-6)
    expected = np_ln_lstm(x, layer.get_weights())[0]
    np.testing.assert_allclose(np_(layer(x)), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(a, np_(layer(x))) and not np.allclose(a, b)  # a new mask per call


# --- masking --------------------------------------------------------------------------------


def test_padded_batch_matches_unpadded_and_masked_steps_carry_state():
    x = random_inputs(11)
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False  # row 1 is 3 steps long
    mask[2, 1] = False  # row 2 skips step 1
    layer = LayerNormLSTM(U, return_sequences=True, return_state=True)
    layer(x)
    randomize_weights(layer, seed=12)
    seq, h, c = as_list(layer(x, mask=mask))
    seq1, h1, c1 = as_list(layer(x[1:2, :3]))
    np.testing.assert_allclose(seq[1:2, :3], seq1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seq[1, 3:], np.repeat(seq1[:, -1], 2, axis=0), atol=1e-6)
    np.testing.assert_allclose(h[1:2], h1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c[1:2], c1, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(seq[2, 1], seq[2, 0])
    skipped = as_list(layer(x[2:3, [0, 2, 3, 4]]))[0]
    np.testing.assert_allclose(seq[2:3, [0, 2, 3, 4]], skipped, rtol=1e-5, atol=1e-6)


def test_mask_from_embedding_propagates():
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(10, D, mask_zero=True)(inputs)
    model = keras.Model(inputs, LayerNormLSTM(U)(h))
    np.testing.assert_allclose(np_(model(ids))[0], np_(model(ids[:1, :3]))[0], rtol=1e-5,
                               atol=1e-6)


# --- gradients, config, saving --------------------------------------------------------------


def test_gradients_reach_every_weight(gradients):
    x = random_inputs(13)
    layer = LayerNormLSTM(U, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=14)
    _, _, grads = gradients(
        lambda: keras.ops.sum(keras.ops.square(layer(x, training=True) - 0.1)),
        layer.trainable_variables,
    )
    assert len(grads) == 9
    for var, grad in zip(layer.trainable_variables, grads):
        assert np.all(np.isfinite(grad)), var.path
        assert np.any(grad != 0), var.path


def ops_ln_lstm(x, weights, eps=EPS):
    """The reference equations again, in keras.ops, differentiated automatically."""
    ops = keras.ops
    W, U_, b, gx, bx, gh, bh, gc, bc = weights

    def ln(v, g, b_):
        mean = ops.mean(v, axis=-1, keepdims=True)
        var = ops.var(v, axis=-1, keepdims=True)
        return (v - mean) / ops.sqrt(var + eps) * g + b_

    h = ops.zeros((x.shape[0], U_.shape[0]))
    c = ops.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        z = ln(ops.matmul(x[:, t], W), gx, bx) + ln(ops.matmul(h, U_), gh, bh) + b
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(ln(c, gc, bc))
        outputs.append(h)
    return ops.stack(outputs, axis=1)


def test_hand_written_layer_norm_gradient_matches_autodiff(gradients):
    """LayerNormLSTM's gradients (closed-form layer-norm backward) equal the backend's automatic
    gradients of the reference equations, for the weights and for the inputs."""
    x = keras.Variable(random_inputs(20))
    layer = LayerNormLSTM(U, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=21)
    target = np.random.default_rng(22).normal(size=(B, T, U)).astype("float32")
    reference = [keras.Variable(w) for w in layer.get_weights()]
    loss, _, got = gradients(
        lambda: keras.ops.sum(
            keras.ops.square(keras.ops.subtract(layer(x, training=True), target))
        ),
        layer.trainable_variables + [x],
    )
    ref_loss, _, want = gradients(
        lambda: keras.ops.sum(
            keras.ops.square(keras.ops.subtract(ops_ln_lstm(x, reference), target))
        ),
        reference + [x],
    )
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    assert len(got) == len(want) == 10
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * np.abs(w).max())


class _FixedKernelDraws(regkeras.ProjectedLSTM):
    """Stands for a weight-drop layer: its per-call draw replaces `U` with a given matrix."""

    replacement = None

    def draw_per_call(self, time_steps, batch_size, training):
        if self.replacement is None:
            return {}, {}
        return {}, {"recurrent_kernel": keras.ops.convert_to_tensor(self.replacement)}


class _LayerNormWithFixedKernel(LayerNormLSTM, _FixedKernelDraws):
    pass


def test_a_replaced_recurrent_kernel_is_centred_too():
    """The layer centres whatever recurrent kernel the per-call draws hand it (weight drop's
    masked matrix, here an arbitrary un-centred one with a large row mean), and the cell,
    given a kernel directly, does the same: both equal the reference with that kernel."""
    x = random_inputs(23)
    layer = _LayerNormWithFixedKernel(U, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=24)
    rng = np.random.default_rng(25)
    replacement = (rng.normal(size=(U, 4 * U)) + 3.0 * rng.normal(size=(U, 1))).astype("float32")
    layer.replacement = replacement
    weights = layer.get_weights()
    with_replacement = weights[:1] + [replacement] + weights[2:]
    np.testing.assert_allclose(
        np_(layer(x)), np_ln_lstm(x, with_replacement)[0], rtol=1e-5, atol=1e-5
    )
    assert not np.allclose(np_(layer(x)), np_ln_lstm(x, weights)[0], atol=1e-3)

    cell = layer.cell
    h0, c0 = (rng.normal(size=(B, U)).astype("float32") for _ in range(2))
    step = keras.ops.convert_to_tensor(x[:, 0])
    h, (_, c) = cell.recurrent_step(
        cell.project_inputs(step),
        [keras.ops.convert_to_tensor(h0), keras.ops.convert_to_tensor(c0)],
        recurrent_kernel=keras.ops.convert_to_tensor(replacement),
    )
    W, _, b, gx, bx, gh, bh, gc, bc = weights
    z = np_layer_norm(x[:, 0] @ W, gx, bx) + np_layer_norm(h0 @ replacement, gh, bh) + b
    i, f, g, o = np.split(z, 4, axis=-1)
    ref_c = sigmoid(f) * c0 + sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(np_(c), ref_c, rtol=1e-5, atol=1e-5)
    ref_h = sigmoid(o) * np.tanh(np_layer_norm(ref_c, gc, bc))
    np.testing.assert_allclose(np_(h), ref_h, rtol=1e-5, atol=1e-5)


def test_centred_projection_is_the_centred_product():
    """`project_inputs` returns `x·W` minus its mean over the gate features (the algebra the
    fast path rests on), to float32 rounding."""
    cell = LayerNormLSTMCell(U)
    cell.build((B, D))
    randomize_weights(cell, seed=26)
    x = random_inputs(27)[:, 0]
    W = cell.get_weights()[0].astype("float64")
    product = x.astype("float64") @ W
    want = product - product.mean(axis=-1, keepdims=True)
    got = np_(cell.project_inputs(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(product).max())
    np.testing.assert_allclose(got.mean(axis=-1), 0.0, atol=1e-5 * np.abs(product).max())


def test_weight_drop_combined_with_layer_norm_runs_and_is_plain_at_inference():
    class WeightDropLayerNormLSTM(LayerNormLSTM, WeightDropLSTM):
        pass

    x = random_inputs(28)
    layer = WeightDropLayerNormLSTM(U, weight_dropout=0.5, seed=3, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=29)
    dropped = np_(layer(x, training=True))
    assert np.all(np.isfinite(dropped))
    assert not np.allclose(dropped, np_(layer(x)), atol=1e-3)
    np.testing.assert_allclose(
        np_(layer(x)), np_ln_lstm(x, layer.get_weights())[0], rtol=1e-5, atol=1e-5
    )


def test_config_round_trip():
    layer = LayerNormLSTM(
        U,
        norm_epsilon=1e-4,
        norm_gamma_initializer="glorot_uniform",
        norm_beta_initializer="ones",
        dropout=0.1,
        return_sequences=True,
        seed=3,
    )
    x = random_inputs(15)
    layer(x)
    config = layer.get_config()
    assert config["norm_epsilon"] == 1e-4 and config["seed"] == 3
    json.dumps(keras.saving.serialize_keras_object(layer))
    clone = LayerNormLSTM.from_config(config)
    assert clone.get_config() == config
    clone(x)
    assert np.allclose(np_(clone.cell.kernel_norm_beta), 1.0)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np_(clone(x)), np_(layer(x)), rtol=1e-6)
    cell = LayerNormLSTMCell(U, norm_epsilon=1e-2)
    assert LayerNormLSTMCell.from_config(cell.get_config()).get_config() == cell.get_config()


def test_saved_models_load_in_a_fresh_process(tmp_path, load_in_fresh_process):
    x = random_inputs(16)
    builders = {
        "layer": lambda: LayerNormLSTM(U, return_sequences=True),
        "cell": lambda: keras.layers.RNN(LayerNormLSTMCell(U), return_sequences=True),
        "output_norm": lambda: lstm_with_output_norm(
            U, lstm_class=WeightDropLSTM, weight_dropout=0.2
        ),
    }
    for name, build in builders.items():
        inputs = keras.Input((T, D))
        block = build()
        model = keras.Model(inputs, keras.layers.Dense(3)(block(inputs)))
        randomize_weights(model, seed=17)
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.npy", np_(model(x)))
    np.save(tmp_path / "x.npy", x)
    stdout = load_in_fresh_process(tmp_path, builders)
    assert stdout.count("ok ") == len(builders), stdout


@pytest.mark.parametrize("block", ["layer", "output_norm"])
def test_mixed_precision_forward_and_train_step(block, mixed_bfloat16):
    inputs = keras.Input((T,), dtype="int32")
    h = keras.layers.Embedding(10, D)(inputs)
    rnn = LayerNormLSTM(U, return_sequences=True) if block == "layer" else lstm_with_output_norm(U)
    h = rnn(h)
    logits = keras.layers.Dense(10, dtype="float32")(h)
    model = keras.Model(inputs, logits)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.random.default_rng(0).integers(0, 10, (4, T))
    assert keras.backend.standardize_dtype(rnn(model.layers[1](ids)).dtype) == "bfloat16"
    assert np.isfinite(model.train_on_batch(ids, ids))


# --- the simpler "layer norm before the output" composition ---------------------------------


def test_output_norm_is_lstm_then_layer_normalization():
    x = random_inputs(18)
    block = lstm_with_output_norm(U, epsilon=1e-3)
    out = np_(block(x))
    randomize_weights(block, seed=19)
    W, U_, b, gamma, beta = block.get_weights()
    out = np_(block(x))
    expected = np_layer_norm(np_lstm(x, W, U_, b), gamma, beta)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert isinstance(block.layers[0], keras.layers.LSTM)
    last = lstm_with_output_norm(U, return_sequences=False, lstm_class=LayerNormLSTM)
    assert last(x).shape == (B, U) and isinstance(last.layers[0], LayerNormLSTM)
    mask = np.ones((B, T), bool)
    mask[:, 3:] = False
    with pytest.warns(UserWarning, match="mask"):  # Keras: the block does not pass masks on
        masked = last(x, mask=mask)
    # The LSTM saw the mask.
    np.testing.assert_allclose(np_(masked), np_(last(x[:, :3])), rtol=1e-5, atol=1e-6)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "factory,error,argument",
    [
        (lambda: LayerNormLSTM(0), ValueError, "units"),
        (lambda: LayerNormLSTMCell(-2), ValueError, "units"),
        (lambda: LayerNormLSTM("8"), TypeError, "units"),
        (lambda: LayerNormLSTM(4, norm_epsilon="1e-3"), TypeError, "norm_epsilon"),
        (lambda: LayerNormLSTM(4, norm_epsilon=0), ValueError, "norm_epsilon"),
        (lambda: LayerNormLSTMCell(4, norm_epsilon=-1e-3), ValueError, "norm_epsilon"),
        (lambda: LayerNormLSTM(4, dropout=1.0), ValueError, "dropout"),
        (lambda: LayerNormLSTM(4, recurrent_dropout=-0.2), ValueError, "recurrent_dropout"),
        (lambda: lstm_with_output_norm(0), ValueError, "units"),
        (lambda: lstm_with_output_norm(4, epsilon=0.0), ValueError, "epsilon"),
        (lambda: lstm_with_output_norm(4, lstm_class="LSTM"), TypeError, "lstm_class"),
        (lambda: lstm_with_output_norm(4, return_state=True), ValueError, "return_state"),
    ],
)
def test_bad_arguments_raise_errors_naming_them(factory, error, argument):
    with pytest.raises(error, match=f"`{argument}") as info:
        factory()
    assert type(info.value) is error


def test_wrong_input_rank_raises():
    with pytest.raises(ValueError, match="ndim=3"):
        LayerNormLSTM(U)(np.zeros((B, T, D, 1), "float32"))


def test_exported_from_package():
    for name in ("LayerNormLSTMCell", "LayerNormLSTM", "lstm_with_output_norm"):
        assert getattr(regkeras, name) is getattr(regkeras.normalization, name)
