"""build_language_model: every switch, training vs inference, save/load, dtypes, learning."""

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import regkeras
from regkeras.dropout import EmbeddingDropout, LockedDropout
from regkeras.models import build_language_model, describe, reset_states
from regkeras.normalization import LayerNormLSTM
from regkeras.recurrent import WeightDropLSTM, ZoneoutLSTM
from regkeras.regularizers import ActivationRegularization

VOCAB, EMB, UNITS, B, T = 12, 8, 8, 2, 5


# Every switch, alone and together. The three LSTM replacements (weight drop, Ba's layer-norm
# cell, zoneout) exclude each other, so "all switches" exists once per replacement.
EVERYTHING = dict(
    embedding_dropout=0.1, input_dropout=0.4, hidden_dropout=0.25, output_dropout=0.3,
    variational=True, recurrent_dropout=0.1, layer_norm="output", ar=2.0, tar=1.0,
    tie_weights=True, units=[12, EMB], l2=1e-5, mask_zero=True, seed=3,
)
CONFIGS = {
    "baseline": {},
    "zaremba_dropout": dict(dropout=0.5),
    "variational_dropout": dict(dropout=0.3, variational=True),
    "recurrent_dropout": dict(recurrent_dropout=0.25),
    "dropout_per_place": dict(input_dropout=0.4, hidden_dropout=0.2, output_dropout=0.3),
    "embedding_dropout": dict(embedding_dropout=0.2),
    "weight_drop": dict(weight_dropout=0.5),
    "layer_norm_cell": dict(layer_norm="cell"),
    "layer_norm_output": dict(layer_norm="output"),
    "zoneout": dict(zoneout_c=0.1, zoneout_h=0.1),
    "zoneout_pair": dict(zoneout_c=0.15, zoneout_h=0.05),
    "ar_tar": dict(ar=2.0, tar=1.0, dropout=0.2),
    "tied": dict(tie_weights=True),
    "tied_units_list": dict(tie_weights=True, units=[16, EMB], embedding_dim=EMB),
    "l2": dict(l2=1e-4),
    "stateful": dict(stateful=True, batch_size=B),
    "stateful_fixed_length": dict(stateful=True, batch_size=B, seq_len=T, dropout=0.2),
    "mask_zero": dict(mask_zero=True, ar=1.0, tar=1.0),
    "three_layers": dict(num_layers=3, dropout=0.1),
    "gru": dict(cell="gru", dropout=0.2, recurrent_dropout=0.1),
    "simple_rnn": dict(cell="rnn", num_layers=1, layer_norm="output"),
    "probabilities": dict(output="probabilities"),
    "awd_small": dict(dropout=0.1, variational=True, embedding_dropout=0.05, weight_dropout=0.3,
                      ar=1.0, tar=1.0, tie_weights=True),
    "all_weight_drop": dict(EVERYTHING, weight_dropout=0.5),
    "all_layer_norm_cell": dict(EVERYTHING, layer_norm="cell"),
    "all_zoneout": dict(EVERYTHING, zoneout_c=0.1, zoneout_h=0.05),
}
ALL_SWITCHES = ["all_weight_drop", "all_layer_norm_cell", "all_zoneout"]


def build(config):
    kwargs = dict(dict(embedding_dim=EMB, units=UNITS), **CONFIGS[config])
    return build_language_model(VOCAB, **kwargs)


def np_(x):
    return keras.ops.convert_to_numpy(x)


def batch_ids(seed=0, pad=False):
    ids = np.random.default_rng(seed).integers(1, VOCAB, size=(B, T)).astype("int32")
    if pad:
        ids[1, 3:] = 0
    return ids


# ------------------------------------------------------------------------------------------
# Shapes, dtypes, inference vs training, describe
# ------------------------------------------------------------------------------------------


def test_public_names_are_exported_by_the_package():
    for name in ("build_language_model", "describe", "reset_states", "LockedDropout",
                 "EmbeddingDropout", "ActivationRegularization", "ar_penalty", "tar_penalty"):
        assert hasattr(regkeras, name), name
    assert regkeras.build_language_model is build_language_model


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_configuration_builds_and_runs(config):
    model = build(config)
    ids = batch_ids(pad=CONFIGS[config].get("mask_zero", False))
    trained = model(ids, training=True)
    inferred = model(ids)
    for out in (trained, inferred):
        assert tuple(out.shape) == (B, T, VOCAB)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert np.isfinite(np_(out)).all()
    if CONFIGS[config].get("output") == "probabilities":
        np.testing.assert_allclose(np_(inferred).sum(-1), 1.0, rtol=1e-5)
    if not CONFIGS[config].get("stateful"):  # inference is deterministic
        np.testing.assert_array_equal(np_(model(ids)), np_(inferred))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_describe_reads_the_switches_back(config):
    model = build(config)
    found = describe(model)
    given = dict(dict(embedding_dim=EMB, units=UNITS), **CONFIGS[config])
    given.pop("seed", None)
    for key, value in given.items():
        if key == "units":
            value = value if isinstance(value, list) else [value] * found["num_layers"]
        assert found[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    rebuilt = build_language_model(**found)
    assert describe(rebuilt) == found
    assert rebuilt.count_params() == model.count_params()
    assert isinstance(describe(model, as_text=True), str)


def test_describe_text_for_ablation_tables():
    assert describe(build("baseline"), as_text=True) == "none"
    assert describe(build("zaremba_dropout"), as_text=True) == "dropout 0.5 (per step)"
    text = describe(build("all_weight_drop"), as_text=True)
    for part in ("dropout in/hidden/out 0.4/0.25/0.3 (per sequence)", "recurrent dropout 0.1",
                 "weight drop 0.5", "embedding dropout 0.1", "layer norm (output)", "AR 2",
                 "TAR 1", "L2 1e-05", "tied weights"):
        assert part in text, (part, text)
    assert "zoneout 0.15/0.05" in describe(build("zoneout_pair"), as_text=True)
    with pytest.raises(ValueError, match="build_language_model"):
        describe(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


def test_dropout_placement_and_mask_kinds():
    zaremba = build("zaremba_dropout")
    names = [layer.name for layer in zaremba.layers]
    # After the embedding, between the layers, before the softmax; never inside the recurrence.
    assert names.index("embedding") < names.index("input_dropout") < names.index("rnn_1")
    assert names.index("rnn_1") < names.index("hidden_dropout_1") < names.index("rnn_2")
    assert names.index("rnn_2") < names.index("output_dropout") < names.index("softmax")
    for name in ("input_dropout", "hidden_dropout_1", "output_dropout"):
        layer = zaremba.get_layer(name)
        assert type(layer) is keras.layers.Dropout and layer.rate == 0.5
    assert zaremba.get_layer("rnn_1").recurrent_dropout == 0.0
    variational = build("variational_dropout")
    for name in ("input_dropout", "hidden_dropout_1", "output_dropout"):
        assert isinstance(variational.get_layer(name), LockedDropout)
    assert build("recurrent_dropout").get_layer("rnn_2").recurrent_dropout == 0.25
    assert isinstance(build("embedding_dropout").get_layer("embedding"), EmbeddingDropout)
    assert type(build("baseline").get_layer("embedding")) is keras.layers.Embedding


@pytest.mark.parametrize("fused_lstm,layer", [(True, regkeras.ProjectedLSTM),
                                              (False, keras.layers.LSTM)])
def test_fused_lstm_picks_the_plain_lstm_layer(fused_lstm, layer):
    model = build_language_model(VOCAB, embedding_dim=EMB, units=UNITS, dropout=0.2,
                                 recurrent_dropout=0.1, fused_lstm=fused_lstm)
    assert all(type(model.get_layer(f"rnn_{i}")) is layer for i in (1, 2))
    assert describe(model)["fused_lstm"] is fused_lstm
    # The regularizer layers are regkeras layers whatever the switch says.
    assert describe(build_language_model(VOCAB, weight_dropout=0.5, fused_lstm=False))[
        "fused_lstm"] == "auto"
    with pytest.raises(ValueError, match="`fused_lstm`"):
        build_language_model(VOCAB, fused_lstm="yes")


def test_fused_and_keras_lstm_models_compute_the_same_function():
    ids = batch_ids()
    fused, plain = (build_language_model(VOCAB, embedding_dim=EMB, units=UNITS, fused_lstm=f)
                    for f in (True, False))
    plain.set_weights(fused.get_weights())
    np.testing.assert_allclose(np_(fused(ids)), np_(plain(ids)), rtol=1e-5, atol=1e-5)


def test_regkeras_layers_are_used_for_their_switches():
    weight_drop = build("weight_drop").get_layer("rnn_1")
    assert isinstance(weight_drop, WeightDropLSTM) and weight_drop.weight_dropout == 0.5
    zoneout = build("zoneout_pair").get_layer("rnn_2")
    assert isinstance(zoneout, ZoneoutLSTM)
    assert (zoneout.cell.zoneout_c, zoneout.cell.zoneout_h) == (0.15, 0.05)
    assert isinstance(build("layer_norm_cell").get_layer("rnn_1"), LayerNormLSTM)
    output_norm = build("layer_norm_output")
    assert type(output_norm.get_layer("rnn_1")) is regkeras.ProjectedLSTM  # CPU: fused
    assert describe(output_norm)["fused_lstm"] is True
    assert isinstance(output_norm.get_layer("layer_norm_1"), keras.layers.LayerNormalization)
    assert type(build("gru").get_layer("rnn_1")) is keras.layers.GRU
    assert type(build("simple_rnn").get_layer("rnn_1")) is keras.layers.SimpleRNN


@pytest.mark.parametrize("config", ["zaremba_dropout", "variational_dropout", "embedding_dropout",
                                    "weight_drop", "zoneout", "recurrent_dropout"])
def test_training_is_random_and_inference_is_not(config):
    model = build(config)
    ids = batch_ids()
    first, second = np_(model(ids, training=True)), np_(model(ids, training=True))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np_(model(ids)), np_(model(ids)))
    assert not np.allclose(first, np_(model(ids)))


def test_seed_reproduces_the_masks():
    def run(seed):
        model = build_language_model(VOCAB, embedding_dim=EMB, units=UNITS, dropout=0.5,
                                     embedding_dropout=0.3, variational=True,
                                     recurrent_dropout=0.2, seed=seed)
        keras.utils.set_random_seed(0)  # same weights; masks depend on the seed only
        model.set_weights([np.random.default_rng(0).normal(size=w.shape) * 0.3
                           for w in model.get_weights()])
        keras.utils.set_random_seed(99)
        return np_(model(batch_ids(), training=True))

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


# ------------------------------------------------------------------------------------------
# Numerics against NumPy
# ------------------------------------------------------------------------------------------


def hidden_of_last_layer(model, ids):
    last = [layer for layer in model.layers if layer.name.startswith("rnn_")][-1]
    return np_(keras.Model(model.input, last.output)(ids))


def test_tied_logits_equal_hidden_times_embedding_transpose():
    model = build("tied_units_list")
    emb = model.get_layer("embedding")
    emb.bias.assign(np.random.default_rng(0).normal(size=VOCAB).astype("float32"))
    assert "softmax" not in [layer.name for layer in model.layers]
    ids = batch_ids()
    h = hidden_of_last_layer(model, ids)
    expected = h @ np_(emb.embeddings).T + np_(emb.bias)
    np.testing.assert_allclose(np_(model(ids)), expected, rtol=1e-5, atol=1e-6)
    untied = build_language_model(VOCAB, embedding_dim=EMB, units=[16, EMB])
    assert untied.count_params() - model.count_params() == VOCAB * EMB  # one matrix saved


def test_l2_is_coupled_on_every_weight_matrix():
    model = build("l2")
    penalty = sum(float(loss) for loss in model.losses)
    matrices = [w for w in model.trainable_weights if len(w.shape) == 2]
    assert len(matrices) == 1 + 2 * 2 + 1  # embedding, 2 x (kernel, recurrent), softmax
    expected = 1e-4 * sum(float(np.sum(np_(w).astype(np.float64) ** 2)) for w in matrices)
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)


def test_ar_tar_penalties_on_the_last_layer():
    model = build_language_model(VOCAB, embedding_dim=EMB, units=UNITS, ar=2.0, tar=1.0,
                                 mask_zero=True)
    ids = batch_ids(pad=True)
    model(ids, training=True)
    h = hidden_of_last_layer(model, ids)
    mask = ids != 0
    ar = np.mean((h[mask] ** 2).mean(-1))
    pairs = mask[:, 1:] & mask[:, :-1]
    tar = np.mean(((h[:, 1:] - h[:, :-1]) ** 2).mean(-1)[pairs])
    np.testing.assert_allclose(sum(float(x) for x in model.losses), 2.0 * ar + tar, rtol=1e-4)
    model(ids)
    assert model.losses == []
    # AR reads the dropped output, TAR the raw one: the AR layer sits after the output dropout.
    dropped = build("ar_tar")
    names = [layer.name for layer in dropped.layers]
    assert names.index("tar") < names.index("output_dropout") < names.index("ar")
    assert isinstance(dropped.get_layer("ar"), ActivationRegularization)


def test_masked_padding_does_not_change_valid_steps():
    model = build("mask_zero")
    short = np.array([[3, 4, 5]], "int32")
    padded = np.array([[3, 4, 5, 0, 0]], "int32")
    np.testing.assert_allclose(np_(model(padded))[:, :3], np_(model(short)), rtol=1e-5, atol=1e-6)
    assert getattr(model.outputs[0], "_keras_mask", None) is not None  # the loss can use it


def test_stateful_model_carries_state_until_reset():
    model = build("stateful")
    ids = batch_ids()
    first = np_(model(ids))
    second = np_(model(ids))
    assert not np.allclose(first, second)
    assert reset_states(model) == 2
    np.testing.assert_allclose(np_(model(ids)), first, rtol=1e-6)
    assert model.inputs[0].shape[0] == B


@pytest.mark.parametrize("config", ALL_SWITCHES)
def test_gradients_reach_every_weight(config):
    model = build(config)
    ids = batch_ids()
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        logits = model(ids, training=True)
        loss = loss_fn(np.roll(ids, -1, axis=1), logits) + tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    for weight, grad in zip(model.trainable_variables, grads):
        assert grad is not None, weight.path
        assert np.abs(np_(tf.convert_to_tensor(grad))).sum() > 0, weight.path


# ------------------------------------------------------------------------------------------
# Arguments
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(vocab_size=0), "vocab_size"),
        (dict(embedding_dim=-3), "embedding_dim"),
        (dict(units=0), "units"),
        (dict(units=[8, 0]), "units"),
        (dict(units=[]), "units"),
        (dict(num_layers=0), "num_layers"),
        (dict(units=[8, 8], num_layers=3), "num_layers"),
        (dict(cell="transformer"), "cell"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(input_dropout=1.5), "input_dropout"),
        (dict(hidden_dropout=-1), "hidden_dropout"),
        (dict(output_dropout=2), "output_dropout"),
        (dict(recurrent_dropout=1.0), "recurrent_dropout"),
        (dict(weight_dropout=1.0), "weight_dropout"),
        (dict(embedding_dropout=-0.5), "embedding_dropout"),
        (dict(zoneout_c=1.0), "zoneout_c"),
        (dict(zoneout_h=-0.1), "zoneout_h"),
        (dict(ar=-1.0), "ar"),
        (dict(tar=-2.0), "tar"),
        (dict(l2=-1e-4), "l2"),
        (dict(layer_norm="batch"), "layer_norm"),
        (dict(output="probs"), "output"),
        (dict(batch_size=0), "batch_size"),
        (dict(seq_len=-1), "seq_len"),
        (dict(stateful=True), "batch_size"),
        (dict(tie_weights=True, units=16), "tie_weights"),
        (dict(cell="gru", weight_dropout=0.5), "cell"),
        (dict(cell="rnn", layer_norm="cell"), "cell"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    kwargs = dict(dict(vocab_size=VOCAB, embedding_dim=EMB, units=UNITS), **kwargs)
    with pytest.raises(ValueError, match=match):
        build_language_model(**kwargs)


def test_bad_types_and_input_rank():
    with pytest.raises(TypeError, match="tie_weights"):
        build_language_model(VOCAB, tie_weights="yes")
    with pytest.raises(TypeError, match="seed"):
        build_language_model(VOCAB, seed=1.5)
    model = build("baseline")
    with pytest.raises(ValueError, match="input shape"):
        model(np.zeros((B, T, 3), "int32"))
    with pytest.raises(TypeError, match="model"):
        describe("model")
    with pytest.raises(TypeError, match="model"):
        reset_states(None)


# ------------------------------------------------------------------------------------------
# Mixed precision, save/load, learning
# ------------------------------------------------------------------------------------------


def test_mixed_precision_forward_and_train_step(mixed_bfloat16):
    model = build("all_weight_drop")
    ids = batch_ids(pad=True)
    logits = model(ids, training=True)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert keras.backend.standardize_dtype(model.get_layer("rnn_1").compute_dtype) == "bfloat16"
    # The logits themselves are computed in float32, tied or not.
    assert model.get_layer("embedding").reverse_dtype == "float32"
    assert build("baseline").get_layer("softmax").compute_dtype == "float32"
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.train_on_batch(ids, np.roll(ids, -1, axis=1))
    assert np.isfinite(loss)
    for config in ("all_layer_norm_cell", "all_zoneout"):
        out = build(config)(ids, training=True)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert np.isfinite(np_(out)).all()


SAVED = ["all_weight_drop", "all_layer_norm_cell", "all_zoneout", "gru",
         "stateful_fixed_length", "probabilities", "zaremba_dropout"]

LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import regkeras, keras

    folder = sys.argv[1]
    expected = json.load(open(folder + "/cases.json"))
    for name, described in expected.items():
        model = keras.saving.load_model(f"{folder}/{name}.keras", safe_mode=True)
        data = np.load(f"{folder}/{name}.npz")
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(data["ids"])),
                                      data["logits"], err_msg=name)
        found = json.loads(json.dumps(regkeras.describe(model)))  # tuples -> lists, as saved
        assert found == described, (name, found)
        print("ok", name)
    """
)


def test_saved_models_load_in_a_fresh_process(tmp_path):
    cases = {}
    for name in SAVED:
        model = build(name)
        ids = batch_ids(pad=CONFIGS[name].get("mask_zero", False))
        model(ids, training=True)  # move the random generators on; must not matter
        if CONFIGS[name].get("stateful"):
            reset_states(model)
        np.savez(tmp_path / f"{name}.npz", ids=ids, logits=np_(model(ids)))
        model.save(tmp_path / f"{name}.keras")
        cases[name] = describe(model)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "load.py").write_text(LOADER)
    result = subprocess.run([sys.executable, str(tmp_path / "load.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=300,
                            cwd=pathlib.Path(__file__).parent)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split().count("ok") == len(SAVED)


@pytest.mark.slow
@pytest.mark.parametrize("config", ["baseline", "awd_small"])
def test_a_few_steps_on_repeated_text_reduce_the_loss(config):
    text = "the cat sat on the mat. " * 30
    chars = sorted(set(text))
    ids = np.array([chars.index(c) + 1 for c in text], "int32")  # 0 stays free for padding
    windows = np.stack([ids[i:i + 11] for i in range(0, len(ids) - 11, 3)])
    x, y = windows[:, :-1], windows[:, 1:]
    model = build_language_model(len(chars) + 1, embedding_dim=16, units=16, seed=0,
                                 **CONFIGS[config])
    model.compile(keras.optimizers.Adam(2e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=6, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.6 * before, (before, after)
