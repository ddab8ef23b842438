"""Tests for regkeras.recurrent: ProjectedLSTM, WeightDropLSTM, ZoneoutLSTMCell, ZoneoutLSTM.

Numerics are checked against a NumPy transcription of the LSTM equations (Keras' gate order
i, f, c, o) with the layers' own weights; drop-in behaviour against keras.layers.LSTM.
"""

import itertools
import json

import keras
import numpy as np
import pytest

import regkeras
from regkeras import ProjectedLSTM, WeightDropLSTM, ZoneoutLSTM, ZoneoutLSTMCell

B, T, D, U = 3, 5, 4, 6


def np_(x):
    """Any backend's tensor (a torch one that requires grad included) as a NumPy array."""
    return keras.ops.convert_to_numpy(x)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_lstm_step(x_t, h, c, W, U_, b):
    """One LSTM step as in Hochreiter 1997 / keras.layers.LSTMCell."""
    i, f, g, o = np.split(x_t @ W + h @ U_ + b, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def np_lstm(x, W, U_, b, keep_c=None, keep_h=None):
    """Runs the whole sequence; `keep_c`/`keep_h` (T, B, U) arrays or scalars apply zoneout."""
    h = np.zeros((x.shape[0], U_.shape[0]))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        h_new, c_new = np_lstm_step(x[:, t], h, c, W, U_, b)
        if keep_c is not None:
            kc = keep_c[t] if np.ndim(keep_c) else keep_c
            kh = keep_h[t] if np.ndim(keep_h) else keep_h
            c_new = kc * c + (1 - kc) * c_new
            h_new = kh * h + (1 - kh) * h_new
        h, c = h_new, c_new
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def random_inputs(seed=0, shape=(B, T, D)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def randomize_weights(layer, seed=0):
    """Sets every weight (biases included) to random values, so each one matters."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])


def as_list(out):
    return [np_(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def make_layer(kind, **kwargs):
    if kind == "projected":
        return ProjectedLSTM(U, **kwargs)
    if kind == "weight_drop":
        return WeightDropLSTM(U, weight_dropout=0.5, seed=1, **kwargs)
    if kind == "zoneout":
        return ZoneoutLSTM(U, zoneout_c=0.3, zoneout_h=0.2, seed=1, **kwargs)
    raise ValueError(kind)


KINDS = ["projected", "weight_drop", "zoneout"]
FLAGS = list(itertools.product([False, True], repeat=5))


# --- drop-in for keras.layers.LSTM ----------------------------------------------------------


@pytest.mark.parametrize("return_sequences,return_state,go_backwards,stateful,unroll", FLAGS)
def test_matches_keras_lstm_for_every_flag(
    return_sequences, return_state, go_backwards, stateful, unroll
):
    """Without regularization (or at inference) every layer computes keras.layers.LSTM's numbers;
    in training the regularized ones return the same shapes. Stateful layers are called twice,
    so the second call checks the carried state."""
    flags = dict(
        return_sequences=return_sequences,
        return_state=return_state,
        go_backwards=go_backwards,
        stateful=stateful,
        unroll=unroll,
    )
    x = random_inputs()
    calls = 2 if stateful else 1
    reference = keras.layers.LSTM(U, **flags)
    expected = [as_list(reference(x)) for _ in range(calls)]
    layers = [
        ProjectedLSTM(U, **flags),
        WeightDropLSTM(U, weight_dropout=0.0, **flags),
        ZoneoutLSTM(U, zoneout_c=0.0, zoneout_h=0.0, **flags),
    ]
    for layer in layers:
        layer(x)
        layer.set_weights(reference.get_weights())
        if stateful:
            layer.reset_state()
        for call in range(calls):
            got = as_list(layer(x, training=True))
            assert len(got) == len(expected[call])
            for g, e in zip(got, expected[call]):
                np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)
    for kind in ("weight_drop", "zoneout"):
        layer = make_layer(kind, **flags)
        for call in range(calls):
            got = as_list(layer(x, training=True))
            assert [g.shape for g in got] == [e.shape for e in expected[call]]
            assert all(np.all(np.isfinite(g)) for g in got)


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_carries_state_like_keras(kind):
    x = random_inputs()
    reference = keras.layers.LSTM(U, stateful=True, return_sequences=True)
    reference(x)
    layer = make_layer(kind, stateful=True, return_sequences=True)
    layer(x)
    layer.set_weights(reference.get_weights())
    layer.reset_state()
    reference.reset_state()
    first = np_(layer(x))  # inference: weight drop is identity; zoneout differs
    second = np_(layer(x))
    assert not np.allclose(first, second)  # the second call started from the carried state
    layer.reset_state()
    np.testing.assert_allclose(np_(layer(x)), first, rtol=1e-6, atol=1e-6)
    if kind != "zoneout":
        np.testing.assert_allclose(np_(reference(x)), first, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np_(reference(x)), second, rtol=1e-6, atol=1e-6)


def test_weight_drop_zero_takes_keras_weights_exactly():
    """Same weight layout as keras.layers.LSTM: weights copy both ways, outputs agree."""
    x = random_inputs(1)
    keras_lstm = keras.layers.LSTM(U, return_sequences=True)
    ours = WeightDropLSTM(U, weight_dropout=0.0, return_sequences=True)
    keras_lstm(x)
    ours(x)
    assert [w.shape for w in ours.weights] == [w.shape for w in keras_lstm.weights]
    ours.set_weights(keras_lstm.get_weights())
    np.testing.assert_allclose(np_(ours(x, training=True)), np_(keras_lstm(x)), rtol=1e-6,
                               atol=1e-6)
    randomize_weights(ours, seed=3)
    keras_lstm.set_weights(ours.get_weights())
    np.testing.assert_allclose(np_(ours(x, training=True)), np_(keras_lstm(x)), rtol=1e-6,
                               atol=1e-6)


def test_initial_state_is_used():
    x = random_inputs()
    rng = np.random.default_rng(5)
    h0, c0 = (rng.normal(size=(B, U)).astype("float32") for _ in range(2))
    reference = keras.layers.LSTM(U, return_sequences=True)
    reference(x)
    layer = ProjectedLSTM(U, return_sequences=True)
    layer(x)
    layer.set_weights(reference.get_weights())
    got = layer(x, initial_state=[h0, c0])
    got = np_(got)
    np.testing.assert_allclose(got, np_(reference(x, initial_state=[h0, c0])), rtol=1e-6,
                               atol=1e-6)
    assert not np.allclose(got, np_(layer(x)))


# --- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_padded_batch_matches_unpadded(kind):
    """Row 1 is 3 steps long, padded to 5 with garbage: its outputs on the valid steps and its
    final state equal those of the unpadded sequence; masked steps repeat the last output."""
    x = random_inputs(2)
    mask = np.ones((B, T), bool)
    mask[1, 3:] = False
    layer = make_layer(kind, return_sequences=True, return_state=True)
    layer(x)
    randomize_weights(layer, seed=4)
    seq, h, c = as_list(layer(x, mask=mask))
    seq1, h1, c1 = as_list(layer(x[1:2, :3]))
    np.testing.assert_allclose(seq[1:2, :3], seq1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seq[1, 3:], np.repeat(seq1[:, -1], 2, axis=0), atol=1e-6)
    np.testing.assert_allclose(h[1:2], h1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c[1:2], c1, rtol=1e-5, atol=1e-6)
    # The other rows are unaffected by row 1's mask.
    full = as_list(layer(x))[0]
    np.testing.assert_allclose(seq[[0, 2]], full[[0, 2]], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["weight_drop", "zoneout"])
def test_masked_step_carries_state_in_training(kind):
    """With the regularizer active, a masked middle step changes neither output nor state."""
    x = random_inputs(3)
    mask = np.ones((B, T), bool)
    mask[:, 2] = False
    layer = make_layer(kind, return_sequences=True, return_state=True)
    seq = as_list(layer(x, mask=mask, training=True))[0]
    np.testing.assert_array_equal(seq[:, 2], seq[:, 1])
    assert not np.allclose(seq[:, 3], seq[:, 2])


def test_weight_drop_training_mask_handles_padding():
    """Same seed -> same DropConnect mask whatever the length, so padding changes nothing."""
    x = random_inputs(4)
    mask = np.ones((B, T), bool)
    mask[:, 3:] = False
    a = WeightDropLSTM(U, weight_dropout=0.4, seed=9, return_sequences=True)
    b = WeightDropLSTM(U, weight_dropout=0.4, seed=9, return_sequences=True)
    a(x[:, :1])
    b(x[:, :1])
    b.set_weights(a.get_weights())
    padded = np_(a(x, mask=mask, training=True))
    short = np_(b(x[:, :3], training=True))
    np.testing.assert_allclose(padded[:, :3], short, rtol=1e-6, atol=1e-6)


# --- weight drop ----------------------------------------------------------------------------


def capture(obj, method_name):
    """Wraps obj.method_name so that every tensor (or tuple) it returns is recorded."""
    records = []
    original = getattr(obj, method_name)

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        if isinstance(result, tuple):
            records.append(tuple(np_(r) for r in result))
        else:
            records.append(np_(result))
        return result

    setattr(obj, method_name, wrapped)
    return records


def test_weight_drop_numerics_with_its_mask_and_identity_at_inference():
    rate = 0.5
    x = random_inputs(5)
    layer = WeightDropLSTM(U, weight_dropout=rate, seed=3, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=6)
    W, U_, b = layer.get_weights()
    masks = capture(layer, "sample_weight_mask")

    # Inference: no mask drawn, plain LSTM.
    np.testing.assert_allclose(np_(layer(x)), np_lstm(x, W, U_, b)[0], rtol=1e-5, atol=1e-5)
    assert masks == []

    # Training: one mask per call, the same at every step (the reference uses it at all steps).
    first = np_(layer(x, training=True))
    second = np_(layer(x, training=True))
    assert len(masks) == 2
    for out, mask in zip((first, second), masks):
        assert mask.shape == (U, 4 * U)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        expected = np_lstm(x, W, U_ * mask / (1 - rate), b)[0]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(masks[0], masks[1])  # a new mask for every call
    assert not np.allclose(first, second)


def test_weight_drop_mask_rate():
    for rate in (0.2, 0.6):
        layer = WeightDropLSTM(16, weight_dropout=rate, seed=0)
        layer(np.zeros((2, 3, 4), "float32"))
        kept = np.mean([np_(layer.sample_weight_mask()).mean() for _ in range(4)])
        assert abs(kept - (1 - rate)) < 0.03, (rate, kept)  # 4096 draws: sd ~0.008


def test_weight_drop_seed_reproduces_masks():
    x = random_inputs(6)
    outs = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        layer = WeightDropLSTM(U, weight_dropout=0.5, seed=seed, return_sequences=True)
        layer(x)
        randomize_weights(layer, seed=0)
        outs[name] = np_(layer(x, training=True))
    np.testing.assert_array_equal(outs["a"], outs["b"])
    assert not np.allclose(outs["a"], outs["c"])


@pytest.mark.tensorflow_only("calls the layer inside a tf.function")
def test_weight_drop_in_a_tf_function_changes_masks_between_calls():
    """Under tf.function, the seed generator still gives a new mask each call."""
    import tensorflow as tf

    layer = WeightDropLSTM(U, weight_dropout=0.5, seed=2, return_sequences=True)
    x = random_inputs(7)
    layer(x)

    @tf.function
    def run(x):
        return layer(x, training=True)

    a, b = np_(run(x)), np_(run(x))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(np_(layer(x)), np_(layer(x)))  # inference is deterministic


@pytest.mark.parametrize("kind", ["weight_drop", "zoneout"])
def test_compiled_train_steps_draw_new_masks(kind):
    """In fit's compiled train step (tf.function, jax.jit, or torch's eager step), the
    seed generator's state is carried between steps: with a learning rate of 0 the weights
    stay put, so three steps on the same batch differ only through new masks."""
    x = random_inputs(7)
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, make_layer(kind, return_sequences=True)(inputs))
    model.compile(keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    y = np.zeros((B, T, U), "float32")
    losses = [float(np_(model.train_on_batch(x, y))) for _ in range(3)]
    assert len(set(losses)) == 3, losses
    inference = np_(model.predict(x, verbose=0))
    np.testing.assert_allclose(np_(model(x)), inference, rtol=1e-6, atol=1e-6)


# --- zoneout --------------------------------------------------------------------------------


def test_zoneout_inference_is_the_expectation():
    zc, zh = 0.3, 0.2
    x = random_inputs(8)
    layer = ZoneoutLSTM(U, zoneout_c=zc, zoneout_h=zh, return_sequences=True, return_state=True)
    layer(x)
    randomize_weights(layer, seed=9)
    W, U_, b = layer.get_weights()
    seq, h, c = as_list(layer(x))
    ref_seq, ref_h, ref_c = np_lstm(x, W, U_, b, keep_c=zc, keep_h=zh)
    np.testing.assert_allclose(seq, ref_seq, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, ref_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, ref_c, rtol=1e-5, atol=1e-5)
    assert not np.allclose(seq, np_lstm(x, W, U_, b)[0])  # zoneout did change the numbers


def test_zoneout_training_numerics_with_its_masks():
    x = random_inputs(9, shape=(B, 8, D))
    layer = ZoneoutLSTM(U, zoneout_c=0.5, zoneout_h=0.3, seed=4, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=10)
    W, U_, b = layer.get_weights()
    masks = capture(layer.cell, "sample_zoneout_masks")
    out = np_(layer(x, training=True))
    assert len(masks) == 1
    keep_c, keep_h = (m.astype("float64") for m in masks[0])  # boolean: True = keep old
    assert masks[0][0].dtype == bool and keep_c.shape == keep_h.shape == (8, B, U)
    assert not np.array_equal(keep_c[0], keep_c[1])  # fresh masks at every step
    expected = np_lstm(x, W, U_, b, keep_c=keep_c, keep_h=keep_h)[0]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_zoneout_mask_rates_and_seeds():
    cell = ZoneoutLSTMCell(16, zoneout_c=0.5, zoneout_h=0.1, seed=5)
    keep_c, keep_h = (np_(m) for m in cell.sample_zoneout_masks((40, 25)))
    assert abs(keep_c.mean() - 0.5) < 0.03  # 16000 draws each: sd 0.004 and 0.0024
    assert abs(keep_h.mean() - 0.1) < 0.02
    again = ZoneoutLSTMCell(16, zoneout_c=0.5, zoneout_h=0.1, seed=5)
    np.testing.assert_array_equal(np_(again.sample_zoneout_masks((40, 25))[0]), keep_c)
    other = ZoneoutLSTMCell(16, zoneout_c=0.5, zoneout_h=0.1, seed=6)
    assert not np.array_equal(np_(other.sample_zoneout_masks((40, 25))[0]), keep_c)


def zoneout_layer_and_cell_rnn(x):
    layer = ZoneoutLSTM(U, zoneout_c=0.4, zoneout_h=0.2, return_sequences=True)
    cell = ZoneoutLSTMCell(U, zoneout_c=0.4, zoneout_h=0.2, seed=1)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    layer(x)
    rnn(x)
    randomize_weights(layer, seed=11)
    rnn.set_weights(layer.get_weights())
    return layer, rnn


def test_zoneout_cell_in_keras_rnn_matches_the_layer():
    """The per-step path (keras.layers.RNN + cell) equals the hoisted layer at inference."""
    x = random_inputs(10)
    layer, rnn = zoneout_layer_and_cell_rnn(x)
    np.testing.assert_allclose(np_(rnn(x)), np_(layer(x)), rtol=1e-5, atol=1e-6)


def test_zoneout_cell_in_keras_rnn_draws_fresh_masks_every_step():
    """In training the cell draws new masks at every step of keras.layers.RNN's loop."""
    x = random_inputs(10)
    layer, rnn = zoneout_layer_and_cell_rnn(x)
    if keras.backend.backend() == "jax":
        # JAX traces the step once into lax.scan: per-step draws would repeat, so the cell
        # refuses to train there and points to ZoneoutLSTM (tested on JAX like everywhere).
        with pytest.raises(NotImplementedError, match="ZoneoutLSTM"):
            rnn(x, training=True)
        return
    masks = capture(rnn.cell, "sample_zoneout_masks")
    train_out = np_(rnn(x, training=True))
    # One draw per step (the TensorFlow loop also calls the step once to infer shapes).
    assert len(masks) >= T and masks[0][0].shape == (B, U)
    assert not np.array_equal(masks[-1][0], masks[-2][0])
    assert not np.allclose(train_out, np_(layer(x)))


# --- dropout, gradients, config -------------------------------------------------------------


def test_variational_dropout_masks_are_per_sequence():
    """dropout / recurrent_dropout: with recurrent_dropout only, the output equals the numpy
    LSTM whose h is multiplied by one fixed mask; dropout changes outputs only in training."""
    x = random_inputs(11)
    layer = ProjectedLSTM(U, dropout=0.5, recurrent_dropout=0.5, seed=0, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=12)
    W, U_, b = layer.get_weights()
    np.testing.assert_allclose(np_(layer(x)), np_lstm(x, W, U_, b)[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(np_(layer(x, training=True)), np_(layer(x)))


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_every_weight(kind, gradients):
    x = random_inputs(12)
    layer = make_layer(kind, return_sequences=True)
    layer(x)
    _, _, grads = gradients(
        lambda: keras.ops.sum(keras.ops.square(layer(x, training=True))),
        layer.trainable_variables,
    )
    assert len(grads) == 3
    for var, grad in zip(layer.trainable_variables, grads):
        assert np.all(np.isfinite(grad)), var.path
        assert np.any(grad != 0), var.path


@pytest.mark.parametrize("kind", ["projected", "zoneout"])
def test_gradients_match_finite_differences(kind, gradients):
    """Backpropagation through the shared time loop (projection outside the loop, a padded
    row, zoneout's inference blend) agrees with central differences of the loss. (float32,
    as JAX runs without x64: a step of 1e-2, the loss summed in float64, 2% tolerance; a
    wrong gradient is off by far more.)"""
    x = random_inputs(16)
    layer = make_layer(kind, return_sequences=True)
    layer(x)
    randomize_weights(layer, seed=17)
    mask = np.ones((B, T), bool)
    mask[0, 3:] = False
    target = np.random.default_rng(18).normal(size=(B, T, U)).astype("float32")

    _, _, grads = gradients(
        lambda: keras.ops.sum(keras.ops.square(keras.ops.subtract(layer(x, mask=mask), target))),
        layer.trainable_variables,
    )

    def loss():
        return np.sum((np_(layer(x, mask=mask)).astype("float64") - target) ** 2)

    weights = layer.get_weights()
    rng = np.random.default_rng(19)
    for k, (w, g) in enumerate(zip(weights, grads)):
        for _ in range(3):
            index = tuple(int(rng.integers(n)) for n in w.shape)
            values = []
            for step in (1e-2, -1e-2):
                moved = [v.copy() for v in weights]
                moved[k][index] += step
                layer.set_weights(moved)
                values.append(loss())
            layer.set_weights(weights)
            numeric = (values[0] - values[1]) / 2e-2
            np.testing.assert_allclose(g[index], numeric, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    layer = make_layer(kind, return_sequences=True, dropout=0.1, recurrent_dropout=0.2)
    x = random_inputs(13)
    layer(x)
    config = layer.get_config()
    json.dumps(keras.saving.serialize_keras_object(layer))  # serializable
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np_(clone(x)), np_(layer(x)), rtol=1e-6)
    cell = ZoneoutLSTMCell(U, zoneout_c=0.25, zoneout_h=0.1, seed=3)
    assert ZoneoutLSTMCell.from_config(cell.get_config()).get_config() == cell.get_config()


def test_config_keeps_layer_specific_arguments():
    assert WeightDropLSTM(4, weight_dropout=0.3).get_config()["weight_dropout"] == 0.3
    config = ZoneoutLSTM(4, zoneout_c=0.2, zoneout_h=0.1, seed=7).get_config()
    assert (config["zoneout_c"], config["zoneout_h"], config["seed"]) == (0.2, 0.1, 7)


# --- mixed precision, saving, errors --------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_precision_forward_and_train_step(kind, mixed_bfloat16):
    inputs = keras.Input((T,), dtype="int32")
    h = keras.layers.Embedding(10, D)(inputs)
    h = make_layer(kind, return_sequences=True)(h)
    logits = keras.layers.Dense(10, dtype="float32")(h)
    model = keras.Model(inputs, logits)
    assert model.layers[2].compute_dtype == "bfloat16"
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.random.default_rng(0).integers(0, 10, (4, T))
    out = model.layers[2](model.layers[1](ids))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    loss = model.train_on_batch(ids, ids)
    assert np.isfinite(loss)


def test_saved_models_load_in_a_fresh_process(tmp_path, load_in_fresh_process):
    """Every layer (and the cell inside keras.layers.RNN) survives .keras saving; the loader
    imports only regkeras and uses safe_mode=True."""
    x = random_inputs(14)
    builders = {
        "projected": lambda: ProjectedLSTM(U, return_sequences=True),
        "weight_drop": lambda: WeightDropLSTM(U, weight_dropout=0.3, seed=1, return_sequences=True),
        "zoneout": lambda: ZoneoutLSTM(U, zoneout_c=0.3, zoneout_h=0.1, return_sequences=True),
        "zoneout_cell": lambda: keras.layers.RNN(
            ZoneoutLSTMCell(U, zoneout_c=0.2), return_sequences=True
        ),
    }
    for name, build in builders.items():
        inputs = keras.Input((T, D))
        layer = build()
        model = keras.Model(inputs, keras.layers.Dense(3)(layer(inputs)))
        randomize_weights(layer, seed=15)
        model.save(tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}.npy", np_(model(x)))
    np.save(tmp_path / "x.npy", x)
    stdout = load_in_fresh_process(tmp_path, builders)
    assert stdout.count("ok ") == len(builders), stdout
    assert "WeightDropLSTM" in stdout and "ZoneoutLSTM" in stdout


@pytest.mark.parametrize(
    "factory,argument,exception",
    [
        (lambda: WeightDropLSTM(0), "units", ValueError),
        (lambda: ZoneoutLSTM(-3), "units", ValueError),
        (lambda: ProjectedLSTM(2.5), "units", TypeError),
        (lambda: ZoneoutLSTMCell(0), "units", ValueError),
        (lambda: WeightDropLSTM(4, weight_dropout=1.0), "weight_dropout", ValueError),
        (lambda: WeightDropLSTM(4, weight_dropout=-0.1), "weight_dropout", ValueError),
        (lambda: ZoneoutLSTM(4, zoneout_c=1.5), "zoneout_c", ValueError),
        (lambda: ZoneoutLSTMCell(4, zoneout_h=-0.5), "zoneout_h", ValueError),
        (lambda: ZoneoutLSTM(4, zoneout_h="0.1"), "zoneout_h", TypeError),
        (lambda: ProjectedLSTM(4, dropout=1.0), "dropout", ValueError),
        (lambda: WeightDropLSTM(4, recurrent_dropout=2), "recurrent_dropout", ValueError),
    ],
)
def test_bad_arguments_raise_errors_naming_them(factory, argument, exception):
    """The one rule: a wrong type is a TypeError, a wrong value of the right type a ValueError."""
    with pytest.raises(exception, match=f"^`{argument}` must be .* Received: {argument}=") as info:
        factory()
    assert type(info.value) is exception


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_input_rank_raises(kind):
    layer = make_layer(kind)
    with pytest.raises(ValueError, match="ndim=3"):
        layer(np.zeros((B, D), "float32"))


def test_exported_from_package():
    for name in ("ProjectedLSTM", "WeightDropLSTM", "ZoneoutLSTMCell", "ZoneoutLSTM"):
        assert getattr(regkeras, name) is getattr(regkeras.recurrent, name)


def test_layers_show_their_cell_settings_as_keras_lstm_does():
    layer = WeightDropLSTM(U, dropout=0.2, recurrent_dropout=0.3, use_bias=False,
                           activation="relu")
    keras_lstm = keras.layers.LSTM(U, dropout=0.2, recurrent_dropout=0.3, use_bias=False,
                                   activation="relu")
    for name in ("units", "dropout", "recurrent_dropout", "use_bias", "unit_forget_bias"):
        assert getattr(layer, name) == getattr(keras_lstm, name), name
    assert layer.activation is keras_lstm.activation
