"""benchmarks/ptb_zaremba.py: the published hyperparameters, the loss scaling, and the smoke run."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import regkeras

# Zaremba, Sutskever & Vinyals 2014, section 4.1 and Table 1: (hidden size, unroll, dropout,
# init scale, clip, epochs, epochs at lr 1, lr decay factor, valid ppl, test ppl).
PAPER = {
    "small": (200, 20, 0.0, 0.1, 5, 13, 4, 2.0, 120.7, 114.5),
    "medium": (650, 35, 0.5, 0.05, 5, 39, 6, 1.2, 86.2, 82.7),
    "large": (1500, 35, 0.65, 0.04, 10, 55, 14, 1.15, 82.2, 78.4),
}


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("ptb_zaremba")


def test_table_is_regkeras_table_with_the_benchmarks_cells(bench):
    results = {
        "small": {"config": {"num_layers": 2, "hidden_size": 200},
                  "final": {"epochs_run": 13, "best_epoch": 12, "valid_ppl": 120.71,
                            "test_ppl": 114.46, "minutes": 3.25},
                  "paper": {"valid_ppl": 120.7, "test_ppl": 114.5}},
        "modern": {"config": {"num_layers": 2, "hidden_size": 650},
                   "final": {"epochs_run": 39, "best_epoch": 30, "valid_ppl": 80.0,
                             "test_ppl": 77.04, "minutes": 100.0},
                   "paper": {"valid_ppl": None, "test_ppl": None}},
    }
    lines = bench.format_table(results).splitlines()
    assert lines[0].split() == ["config", "LSTM", "epochs", "best", "valid", "ppl", "test",
                                "ppl", "paper", "valid", "paper", "test", "minutes"]
    # The cells the benchmark's own formatter printed before it used regkeras' one.
    assert [line.split() for line in lines[2:]] == [
        ["small", "2x200", "13", "12", "120.7", "114.5", "120.7", "114.5", "3.2"],
        ["modern", "2x650", "39", "30", "80.0", "77.0", "-", "-", "100.0"]]


@pytest.mark.parametrize("name", sorted(PAPER))
def test_configs_are_the_published_ones(bench, name):
    hidden, steps, dropout, init, clip, epochs, flat, decay, valid, test = PAPER[name]
    c = bench.CONFIGS[name]
    assert (c.hidden_size, c.num_layers, c.num_steps, c.batch_size, c.vocab_size) == (
        hidden, 2, steps, 20, 10000)
    assert (c.dropout, c.init_scale, c.max_grad_norm) == (dropout, init, clip)
    assert (c.optimizer, c.learning_rate, c.max_epochs) == ("sgd", 1.0, epochs)
    assert (c.decay_after, c.lr_decay) == (flat, decay)
    assert (c.paper_valid, c.paper_test) == (valid, test)
    assert not c.layer_norm and c.weight_dropout == 0 and c.patience is None


@pytest.mark.parametrize("name", sorted(PAPER))
def test_learning_rate_schedule(bench, name):
    _, _, _, _, _, epochs, flat, decay, _, _ = PAPER[name]
    config = bench.CONFIGS[name]
    lrs = [bench.learning_rate(config, e) for e in range(1, epochs + 1)]
    # lr 1 for the first `flat` epochs, then divided by `decay` once more every epoch.
    expected = [1.0] * flat
    while len(expected) < epochs:
        expected.append(expected[-1] / decay)
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_modern_variant(bench):
    c = bench.CONFIGS["modern"]
    medium = bench.CONFIGS["medium"]
    assert (c.hidden_size, c.num_steps, c.batch_size, c.max_epochs) == (
        medium.hidden_size, medium.num_steps, medium.batch_size, medium.max_epochs)
    assert c.layer_norm and c.weight_dropout > 0 and c.optimizer == "adamw"
    assert c.weight_decay > 0 and c.patience and c.paper_valid is None


@pytest.mark.parametrize("name", ["small", "medium", "large"])
def test_full_size_model_matches_config(bench, name):
    hidden, steps, dropout, init, clip, *_ = PAPER[name]
    model = bench.build_model(bench.CONFIGS[name], 10000, seed=0)
    layers = {layer.name: layer for layer in model.layers}
    assert model.inputs[0].shape == (20, steps)
    assert layers["embedding"].output_dim == hidden
    plain_lstms = (keras.layers.LSTM, regkeras.ProjectedLSTM)  # GPU: cuDNN; CPU: fused
    lstms = [layer for layer in model.layers if type(layer) in plain_lstms]
    assert [(lstm.units, lstm.stateful) for lstm in lstms] == [(hidden, True)] * 2
    assert all(lstm.cell.recurrent_dropout == 0 and lstm.cell.dropout == 0 for lstm in lstms)
    assert layers["softmax"].units == 10000
    # Zaremba placement: after the embedding, between the layers, before the softmax.
    drops = {n: l.rate for n, l in layers.items() if isinstance(l, keras.layers.Dropout)}
    expected = {} if dropout == 0 else dict.fromkeys(
        ["input_dropout", "hidden_dropout_1", "output_dropout"], dropout)
    assert drops == expected
    # Every parameter uniform in [-init, init].
    for weight in model.trainable_weights:
        values = keras.ops.convert_to_numpy(weight)
        assert np.abs(values).max() <= init
        if values.size > 1000:
            assert np.abs(values).max() > 0.99 * init
            assert abs(values.mean()) < 0.02 * init
            np.testing.assert_allclose(values.std(), init / math.sqrt(3), rtol=0.02)
    # The summed loss's update, carried by the optimizer: lr x steps, clip / steps.
    optimizer = model.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0
    np.testing.assert_allclose(float(optimizer.learning_rate), steps, rtol=1e-6)
    np.testing.assert_allclose(optimizer.global_clipnorm, clip / steps, rtol=1e-12)


def test_modern_model(bench):
    config = bench.smoke_config(bench.CONFIGS["modern"])
    model = bench.build_model(config, 50, seed=0)
    rnns = [layer for layer in model.layers if isinstance(layer, regkeras.LayerNormLSTM)]
    assert len(rnns) == 2  # layer-normalized with weight drop: one engine, one layer
    for rnn in rnns:
        assert isinstance(rnn.cell, regkeras.LayerNormLSTMCell)
        assert rnn.weight_dropout == config.weight_dropout and rnn.stateful
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == config.weight_decay
    assert model.optimizer.global_clipnorm == config.max_grad_norm
    # Keras' default initializers, not the paper's uniform range (the smoke run trains it).
    assert config.init_scale is None


@pytest.mark.parametrize("clip", [5.0, 0.05])
def test_scaled_sgd_step_is_the_papers_update(bench, clip):
    """One Keras step == SGD on the loss summed over time, clipped at `clip`, lr 0.7."""
    config = bench.dataclasses.replace(
        bench.smoke_config(bench.CONFIGS["small"]), max_grad_norm=clip, learning_rate=0.7,
        hidden_size=8,
    )
    vocab = 30
    model = bench.build_model(config, vocab, seed=3)
    rng = np.random.default_rng(1)
    shape = (config.batch_size, config.num_steps)
    x = rng.integers(0, vocab, shape).astype("int32")
    y = rng.integers(0, vocab, shape).astype("int32")
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    # The paper's update: gradient of sum_t mean_batch CE, global-norm clip, lr step.
    regkeras.reset_states(model)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        ce = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        loss = keras.ops.sum(keras.ops.mean(ce, axis=0))
    grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_weights)]
    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    factor = min(1.0, clip / norm)
    expected = [w - 0.7 * factor * g for w, g in zip(before, grads)]
    if clip < 1:
        assert factor < 0.5  # the clip is active in this case
    regkeras.reset_states(model)
    bench.set_learning_rate(model, config, epoch=1)
    model.train_on_batch(x, y)
    for w, e in zip(model.trainable_weights, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(w), e, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_smoke_run(bench, data_dir, tmp_path, capsys):
    out = tmp_path / "ptb.json"
    report = bench.main(["--smoke", "--data-dir", data_dir, "--out", str(out)])
    printed = capsys.readouterr().out
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["smoke"] and list(report["results"]) == ["small", "medium", "large", "modern"]
    vocab = report["vocab_size"]
    for name, result in report["results"].items():
        config = bench.CONFIGS[name]
        smoke = bench.smoke_config(config)
        # The smoke run keeps the recipe: dropout, init, clip, optimizer, decay factor.
        assert result["config"] == bench.dataclasses.asdict(smoke)
        for key in ("dropout", "init_scale", "max_grad_norm", "optimizer", "lr_decay"):
            assert result["config"][key] == getattr(config, key)
        epochs = result["epochs"]
        assert [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
        assert [e["lr"] for e in epochs] == [bench.learning_rate(smoke, e["epoch"]) for e in epochs]
        for e in epochs:
            for key in ("train_ppl", "valid_ppl", "test_ppl"):
                assert 1 < e[key] < 2 * vocab
        final = result["final"]
        if smoke.patience is None:
            assert final["valid_ppl"] == epochs[-1]["valid_ppl"]
            assert epochs[-1]["train_ppl"] < epochs[0]["train_ppl"]
        else:
            best = min(epochs, key=lambda e: e["valid_ppl"])
            assert final["best_epoch"] == best["epoch"]
            assert final["valid_ppl"] == pytest.approx(best["valid_ppl"], rel=1e-3)
        row = next(line for line in printed.splitlines() if line.startswith(f"{name} "))
        assert f"{final['valid_ppl']:.1f}" in row and f"{final['test_ppl']:.1f}" in row
        if config.paper_valid is not None:
            assert f"{config.paper_valid:.1f}" in row and f"{config.paper_test:.1f}" in row
