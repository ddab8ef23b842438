"""Tests for regkeras.experiments: the ablation runner, resumable runs, the results table."""

import math
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import regkeras.data
import regkeras.models
from regkeras.experiments import (
    CONFIGS,
    TABLE_COLUMNS,
    Comparison,
    ExperimentConfig,
    SeedComparison,
    clearly_lower,
    format_table,
    heldout_loss,
    run_experiment,
    run_experiments,
    run_seeds,
    seed_stats,
)

V = 12


def _standin_window_dataset(ids, seq_len, batch_size, *, shuffle=True, seed=None, stride=None,
                            drop_remainder=True):
    """The agreed regkeras.data.window_dataset API, for when helper A's is not there yet."""
    ids = np.asarray(ids, dtype="int32")
    stride = stride or seq_len
    starts = np.arange(0, len(ids) - seq_len, stride)
    windows = np.stack([ids[s:s + seq_len + 1] for s in starts])
    ds = tf.data.Dataset.from_tensor_slices((windows[:, :-1], windows[:, 1:]))
    if shuffle:
        ds = ds.shuffle(len(windows), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder)


@pytest.fixture(autouse=True)
def _window_dataset(monkeypatch):
    if not hasattr(regkeras.data, "window_dataset"):
        monkeypatch.setattr(regkeras.data, "window_dataset", _standin_window_dataset,
                            raising=False)


class _Vocab:
    size = V


def make_corpus(n_train=1600, n_val=300, n_test=300, seed=0):
    """A noisy periodic token stream: learnable, with held-out splits of the same process."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    ids = np.arange(n) % 7
    noise = rng.random(n) < 0.25
    ids = np.where(noise, rng.integers(0, V, size=n), ids).astype("int32")
    return types.SimpleNamespace(
        vocab=_Vocab(), train_ids=ids[:n_train], val_ids=ids[n_train:n_train + n_val],
        test_ids=ids[n_train + n_val:], entropy_rate=None, name="toy", level="char")


def tiny_builder(vocab_size, *, embedding_dim=8, units=16, num_layers=1, dropout=0.0,
                 layer_norm=None, seed=None):
    """Stand-in for regkeras.models.build_language_model (same keywords, tiny)."""
    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(vocab_size, embedding_dim)(ids)
    for _ in range(num_layers):
        h = keras.layers.LSTM(units, return_sequences=True)(h)
        if layer_norm:
            h = keras.layers.LayerNormalization()(h)
    h = keras.layers.Dropout(dropout, seed=seed)(h)
    return keras.Model(ids, keras.layers.Dense(vocab_size)(h))


COMMON = dict(epochs=6, batch_size=16, seq_len=10, model_builder=tiny_builder,
              model_kwargs={"embedding_dim": 8, "units": 16})


def _numpy_xent(model, ids, seq_len):
    """Mean next-token cross-entropy (nats) over all non-overlapping windows, in NumPy."""
    starts = np.arange(0, len(ids) - seq_len, seq_len)
    windows = np.stack([ids[s:s + seq_len + 1] for s in starts])
    logits = keras.ops.convert_to_numpy(model(windows[:, :-1], training=False)).astype("float64")
    logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    picked = np.take_along_axis(logits, windows[:, 1:, None], axis=-1)[..., 0]
    return float(np.mean(logz - picked))


def test_comparison_rows_are_consistent():
    corpus = make_corpus()
    configs = ["baseline", ExperimentConfig("es", model={"dropout": 0.2}, learning_rate=0.02,
                                            early_stopping=True, patience=1)]
    cmp = run_experiments(configs, corpus, **COMMON)
    assert isinstance(cmp, Comparison) and [r["name"] for r in cmp.rows] == ["baseline", "es"]
    for row in cmp.rows:
        assert set(row) == set(TABLE_COLUMNS)
        name = row["name"]
        model, history = cmp.models[name], cmp.histories[name]
        assert row["params"] == model.count_params()
        assert row["epochs_run"] == len(history["loss"]) == len(history["epoch"])
        assert row["gap"] == pytest.approx(row["val_loss"] - row["train_loss"])
        assert row["val_ppl"] == pytest.approx(math.exp(row["val_loss"]))
        assert row["test_bpc"] == pytest.approx(row["test_loss"] / math.log(2))
        assert row["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
        assert row["verdict"] in ("underfitting", "overfitting", "unstable", "healthy")
        # the table's losses are plain cross-entropies of the final model, checked in NumPy
        assert row["test_loss"] == pytest.approx(_numpy_xent(model, corpus.test_ids, 10), rel=1e-4)
        assert row["val_loss"] == pytest.approx(_numpy_xent(model, corpus.val_ids, 10), rel=1e-4)
    base, es = cmp.row("baseline"), cmp.row("es")
    assert base["epochs_run"] == 6 and base["stopped_epoch"] is None
    # baseline keeps the last epoch's weights, early stopping the best epoch's
    assert base["val_loss"] == pytest.approx(cmp.histories["baseline"]["val_loss"][-1], rel=1e-4)
    assert es["val_loss"] == pytest.approx(min(cmp.histories["es"]["val_loss"]), rel=1e-4)
    if es["stopped_epoch"] is not None:
        assert es["stopped_epoch"] == es["epochs_run"] == es["best_epoch"] + 1
    # Both scoring points for every configuration, each checked in NumPy on its weights.
    for row in cmp.rows:
        history = cmp.histories[row["name"]]
        assert row["best_val_loss"] == pytest.approx(min(history["val_loss"]), rel=1e-4)
        assert row["last_val_loss"] == pytest.approx(history["val_loss"][-1], rel=1e-4)
        assert row["best_val_loss"] <= row["last_val_loss"] + 1e-6
        for point in ("last", "best"):
            assert row[f"{point}_gap"] == pytest.approx(
                row[f"{point}_val_loss"] - row[f"{point}_train_loss"])
    kept = {"baseline": "last", "es": "best"}
    for name, point in kept.items():
        row = cmp.row(name)
        for split in ("train", "val", "test"):
            assert row[f"{split}_loss"] == row[f"{point}_{split}_loss"]
    # curves carry perplexity and bits for plotting
    np.testing.assert_allclose(cmp.histories["baseline"]["val_bpc"],
                               np.array(cmp.histories["baseline"]["val_loss"]) / math.log(2))
    fig = cmp.plot()
    assert len(fig.axes[0].collections) == 2
    assert "baseline" in cmp.table() and cmp.table(fmt="markdown").startswith("| name |")


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after:
            raise KeyboardInterrupt("killed")


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    corpus = make_corpus()
    config = ExperimentConfig("drop", model={"dropout": 0.3}, weight_decay=0.1,
                              early_stopping=True, patience=3)
    a = run_experiment(config, corpus, backup_dir=tmp_path / "a", seed=3, **COMMON)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, corpus, backup_dir=tmp_path / "b", seed=3,
                       callbacks=[_Interrupt(2)], **COMMON)
    assert not (tmp_path / "b" / "drop.result.json").exists()
    said = []
    b = run_experiment(config, corpus, backup_dir=tmp_path / "b", seed=3, progress=said.append,
                       **COMMON)
    assert said[0].startswith(f"drop: resumed from the backup in {tmp_path / 'b' / 'drop'}: ")
    assert "training continues at epoch" in said[0]
    assert any(line.startswith("scoring the best epoch's weights on train, val and test")
               for line in said[1:])
    assert b.history["epoch"] == a.history["epoch"]
    np.testing.assert_allclose(b.history["val_loss"], a.history["val_loss"], rtol=1e-5)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_allclose(wb, wa, atol=1e-5)
    for key in ("val_loss", "test_loss", "train_loss"):
        assert b.row[key] == pytest.approx(a.row[key], rel=1e-5)
    for key in ("best_epoch", "stopped_epoch"):  # ints, or None when training ran to the end
        assert b.row[key] == a.row[key]
    # Calling again finds the finished result (and weights) instead of training again.
    said.clear()
    c = run_experiment(config, corpus, backup_dir=tmp_path / "b", seed=3, progress=said.append,
                       **COMMON)
    assert said == [f"drop: already finished in {tmp_path / 'b' / 'drop'}; its result is "
                    "loaded, nothing is trained again"]
    assert c.row == b.row and c.history == b.history
    for wc, wb in zip(c.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wc, wb)
    with pytest.raises(ValueError, match="different configuration"):
        run_experiment(config.replace(patience=4), corpus, backup_dir=tmp_path / "b", **COMMON)



class _Slow(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)


def test_a_resumed_run_reports_the_time_of_every_session(tmp_path):
    """wall_s covers the interrupted session too (up to its last backup), not only the resumed
    part: here the first session spends >= 5 s in its two backed-up epochs."""
    corpus = make_corpus()
    config = ExperimentConfig("drop", model={"dropout": 0.3})
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, corpus, backup_dir=tmp_path, seed=3,
                       callbacks=[_Slow(2.5), _Interrupt(2)], **COMMON)
    started = time.perf_counter()
    resumed = run_experiment(config, corpus, backup_dir=tmp_path, seed=3, **COMMON)
    session = time.perf_counter() - started
    assert resumed.row["wall_s"] >= 5.0, resumed.row["wall_s"]
    assert resumed.row["wall_s"] > session - 60  # sanity: the clock is in seconds

def test_configs_are_the_course_set():
    assert list(CONFIGS) == ["baseline", "dropout", "layernorm", "weight_decay",
                             "early_stopping", "all"]
    assert CONFIGS["baseline"].model == {} and CONFIGS["baseline"].weight_decay == 0
    assert 0.3 <= CONFIGS["dropout"].model["dropout"] <= 0.5
    stop = CONFIGS["early_stopping"]
    assert stop.early_stopping and 5 <= stop.patience <= 10
    full = CONFIGS["all"]
    assert full.early_stopping and full.weight_decay > 0 and full.model["dropout"] > 0
    assert full.model["layer_norm"]
    changed = CONFIGS["all"].replace(model={"dropout": 0.5})
    assert changed.model["dropout"] == 0.5 and changed.model["layer_norm"] == "cell"
    assert CONFIGS["all"].model["dropout"] == 0.3  # the original is untouched


def test_format_table_text_and_markdown():
    rows = [
        {"name": "baseline", "params": 123456, "best_epoch": 3, "stopped_epoch": None,
         "val_loss": 1.23456, "verdict": "overfitting"},
        {"name": "all", "params": 99, "best_epoch": 12, "stopped_epoch": 15,
         "val_loss": float("nan"), "verdict": "healthy"},
    ]
    text = format_table(rows)
    assert text.splitlines() == [
        "name       params  best_epoch  stopped_epoch  val_loss  verdict",
        "--------  -------  ----------  -------------  --------  -----------",
        "baseline  123,456           3              -     1.235  overfitting",
        "all            99          12             15       nan  healthy",
    ]
    md = format_table(rows, fmt="markdown", columns=["name", "val_loss"], floatfmt=".2f")
    assert md.splitlines() == [
        "| name | val_loss |",
        "| --- | ---: |",
        "| baseline | 1.23 |",
        "| all | nan |",
    ]


def test_format_table_per_column_formats():
    rows = [{"name": "a", "tokens": 3072000, "gap": -0.05123, "rate": 20480.4,
             "ci": "0.72 ± 0.01"},
            {"name": "b", "tokens": 12, "gap": 0.18, "rate": None, "ci": "-"}]
    md = format_table(rows, fmt="markdown", columns=["name", "tokens", "gap", "rate", "ci"],
                      formats={"tokens": ",", "gap": "+.4f", "rate": ",.0f"})
    assert md.splitlines()[2:] == ["| a | 3,072,000 | -0.0512 | 20,480 | 0.72 ± 0.01 |",
                                   "| b | 12 | +0.1800 | - | - |"]
    with pytest.raises(ValueError, match=r"`formats\['gap'\]` must be a format spec"):
        format_table(rows, formats={"gap": "q"})
    with pytest.raises(TypeError, match="`formats` must be a dict"):
        format_table(rows, formats=[".2f"])


def test_argument_validation():
    corpus = make_corpus(n_train=300, n_val=100, n_test=100)
    with pytest.raises(ValueError, match="Unknown configuration"):
        run_experiment("dropout_everywhere", corpus, **COMMON)
    with pytest.raises(TypeError, match="corpus"):
        run_experiment("baseline", object(), **COMMON)
    with pytest.raises(ValueError, match="epochs"):
        run_experiment("baseline", corpus, **{**COMMON, "epochs": 0})
    with pytest.raises(ValueError, match="unique"):
        run_experiments(["baseline", "baseline"], corpus, **COMMON)
    with pytest.raises(TypeError, match="keras.Model"):
        run_experiment("baseline", corpus, **{**COMMON, "model_builder": lambda v, **k: None})
    with pytest.raises(ValueError, match="batch_size"):
        run_experiment("baseline", corpus, **{**COMMON, "batch_size": 64})
    with pytest.raises(ValueError, match="learning_rate"):
        ExperimentConfig("x", learning_rate=0)
    with pytest.raises(ValueError, match="name"):
        ExperimentConfig("a/b")
    with pytest.raises(ValueError, match="fmt"):
        format_table([{"a": 1}], fmt="html")
    with pytest.raises(TypeError, match="rows"):
        format_table([1, 2])


@pytest.mark.skipif(
    not (hasattr(regkeras.models, "build_language_model")
         and hasattr(regkeras.data, "load_corpus")),
    reason="the real model builder / corpus loader are not there yet",
)
def test_with_real_builder_and_corpus(monkeypatch):
    corpus = regkeras.data.load_corpus("recipes")
    row = run_experiment("dropout", corpus, epochs=1, batch_size=8, seq_len=16,
                         steps_per_epoch=3, max_eval_batches=2,
                         model_kwargs={"embedding_dim": 8, "units": 8}).row
    assert row["epochs_run"] == 1 and math.isfinite(row["test_loss"])
    if corpus.entropy_rate is not None:
        assert row["floor_bpc"] == pytest.approx(corpus.entropy_rate / math.log(2))


def test_baseline_is_scored_at_its_best_epoch_too():
    """A run that overfits: its best-epoch numbers come from the best epoch's weights, which
    the runner restores just to measure them, then puts the last weights back."""
    corpus = make_corpus(n_train=400, n_val=300, n_test=300)
    config = ExperimentConfig("overfit", learning_rate=0.05)
    result = run_experiment(config, corpus, **{**COMMON, "epochs": 8})
    row, history = result.row, result.history
    best = int(np.argmin(history["val_loss"]))
    assert row["best_epoch"] == best + 1
    # the model kept is the last epoch's: its losses in NumPy equal the last_* columns
    assert row["last_test_loss"] == pytest.approx(
        _numpy_xent(result.model, corpus.test_ids, 10), rel=1e-4)
    if best < len(history["val_loss"]) - 1:
        assert row["best_val_loss"] < row["last_val_loss"]


def test_seed_stats_and_clearly_lower():
    stats = seed_stats([1.0, 1.2, 1.1])
    assert stats.mean == pytest.approx(1.1) and stats.sd == pytest.approx(0.1)
    assert stats.n == 3 and str(stats) == "1.100 ± 0.100" and stats.format(".2f") == "1.10 ± 0.10"
    assert seed_stats([2.5]).sd == 0.0
    assert seed_stats(stats) is stats
    assert clearly_lower([1.0, 1.1, 1.05], [1.4, 1.5, 1.45])
    assert not clearly_lower([1.4, 1.5, 1.45], [1.0, 1.1, 1.05])  # higher, not lower
    # a mean difference (0.075) smaller than the summed spread (0.21 + 0.035) is not a claim
    assert not clearly_lower([1.0, 1.3], [1.2, 1.25])
    with pytest.raises(ValueError, match="values"):
        seed_stats([])
    with pytest.raises(TypeError, match="values"):
        seed_stats(["a"])


def test_run_seeds_repeats_the_ablation_per_seed(tmp_path):
    corpus = make_corpus()
    common = {k: v for k, v in COMMON.items()}
    common["epochs"] = 2
    runs = run_seeds(["baseline", ExperimentConfig("es", early_stopping=True, patience=1)],
                     corpus, seeds=(0, 1, 2), backup_dir=tmp_path, **common)
    assert isinstance(runs, SeedComparison) and runs.names == ["baseline", "es"]
    assert len(runs.rows) == 6 and {r["seed"] for r in runs.rows} == {0, 1, 2}
    values = runs.values("baseline", "best_val_loss")
    assert len(set(values)) == 3, "each seed trains a different model"
    assert runs.stats("baseline", "best_val_loss").mean == pytest.approx(np.mean(values))
    # each seed equals a single run with that seed
    single = run_experiment("baseline", corpus, seed=1, **common)
    assert single.row["best_val_loss"] == pytest.approx(values[1], rel=1e-5)
    assert (tmp_path / "seed_2" / "baseline.result.json").exists()
    table = runs.table(["best_val_loss", "best_epoch"])
    assert "±" in table and "baseline" in table
    fig = runs.plot()
    assert fig.axes[0].get_xlabel() == "epoch" and "nats" in fig.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="seeds"):
        run_seeds(["baseline"], corpus, seeds=(0, 0), **common)
    with pytest.raises(TypeError, match="seeds="):
        run_seeds(["baseline"], corpus, seed=0, **common)


def test_heldout_loss_has_a_standard_error():
    corpus = make_corpus()
    result = run_experiment("baseline", corpus, **{**COMMON, "epochs": 1})
    loss, se, n = heldout_loss(result.model, corpus.val_ids, seq_len=10, batch_size=8)
    assert n == len(range(0, len(corpus.val_ids) - 10, 10))
    assert loss == pytest.approx(_numpy_xent(result.model, corpus.val_ids, 10), rel=1e-5)
    assert 0 < se < loss


from hypothesis import given, settings, strategies as st  # noqa: E402

_finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(_finite, min_size=1, max_size=8), st.lists(_finite, min_size=1, max_size=8))
def test_seed_arithmetic_properties(a, b):
    stats = seed_stats(a)
    assert min(a) - 1e-6 <= stats.mean <= max(a) + 1e-6 and stats.sd >= 0
    assert not (clearly_lower(a, b) and clearly_lower(b, a)), "at most one is clearly lower"
    assert not clearly_lower(a, a)


def test_seed_functions_reject_bad_input():
    with pytest.raises(TypeError, match="values"):
        seed_stats(3.0)
    with pytest.raises(TypeError, match="`b` must be an iterable of finite numbers"):
        clearly_lower([1.0], None)
    with pytest.raises(ValueError, match="`values` must be an iterable of finite numbers"):
        seed_stats([1.0, float("nan")])
    corpus = make_corpus()
    for bad in ((), (1, 1), (-1,), (0.5,), "01", (True,)):
        with pytest.raises((ValueError, TypeError), match="seeds"):
            run_seeds(["baseline"], corpus, seeds=bad, **COMMON)


def test_best_epoch_is_chosen_on_the_plain_cross_entropy():
    """With a coupled L2 penalty in the model, `val_loss` includes it; the best epoch and early
    stopping must follow the plain cross-entropy (`val_xent`) that the table reports."""
    corpus = make_corpus()

    def l2_builder(vocab_size, *, embedding_dim=8, units=16, seed=None, **_):
        ids = keras.Input((None,), dtype="int32")
        h = keras.layers.Embedding(vocab_size, embedding_dim)(ids)
        h = keras.layers.LSTM(units, return_sequences=True)(h)
        logits = keras.layers.Dense(vocab_size, kernel_regularizer=keras.regularizers.L2(0.5))(h)
        return keras.Model(ids, logits)

    result = run_experiment(ExperimentConfig("l2", early_stopping=True, patience=2), corpus,
                            **{**COMMON, "model_builder": l2_builder})
    xent = result.history["val_xent"]
    assert np.all(np.array(result.history["val_loss"]) > np.array(xent))  # the penalty is in
    assert result.row["best_epoch"] == int(np.argmin(xent)) + 1
    assert result.row["best_val_loss"] == pytest.approx(min(xent), rel=1e-4)
