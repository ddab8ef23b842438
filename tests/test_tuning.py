"""Tests for regkeras.tuning: the KerasTuner hypermodel, tiny seeded searches, resuming."""

import json
import math
import types

import keras
import numpy as np
import pytest

import regkeras
from regkeras import tuning
from regkeras.callbacks import BestWeightsEarlyStopping
from regkeras.dropout import LockedDropout
from regkeras.normalization import LayerNormLSTM

keras_tuner = pytest.importorskip("keras_tuner")

V = 10
TINY = dict(max_trials=2, epochs=2, seq_len=8, batch_size=8, learning_rate=1e-2,
            model_kwargs={"units": 8, "embedding_dim": 8})


class _Vocab:
    size = V


class _GuardedCorpus(types.SimpleNamespace):
    """A corpus whose test split fails the test if anything reads it."""

    @property
    def test_ids(self):
        raise AssertionError("the search read the test split")


def make_corpus(seed=0):
    """A noisy periodic token stream (learnable, with held-out splits of the same process)."""
    rng = np.random.default_rng(seed)
    n = 900
    ids = np.arange(n) % 5
    ids = np.where(rng.random(n) < 0.2, rng.integers(0, V, size=n), ids).astype("int32")
    return _GuardedCorpus(vocab=_Vocab(), train_ids=ids[:700], val_ids=ids[700:],
                          name="toy", level="char")


def _hp(**values):
    hypermodel = tuning.RegularizationHyperModel(V, model_kwargs={"units": 4, "embedding_dim": 4})
    hp = hypermodel.space()
    hp.values.update(values)
    return hypermodel, hp


def _in_space(row, hypermodel):
    lo, hi, step = hypermodel.dropout
    k = (row["dropout"] - lo) / step
    return (row["dropout_type"] in hypermodel.dropout_types
            and lo - 1e-9 <= row["dropout"] <= hi + 1e-9 and abs(k - round(k)) < 1e-6
            and row["weight_decay"] in hypermodel.weight_decay
            and row["layer_norm"] in hypermodel.layer_norm
            and isinstance(row["patience"], int)
            and hypermodel.patience[0] <= row["patience"] <= hypermodel.patience[1])


def test_hypermodel_builds_what_the_hyperparameters_say():
    hypermodel, hp = _hp(dropout_type="variational", dropout=0.3, weight_decay=1e-2,
                         layer_norm=True, patience=4)
    model = hypermodel.build(hp)
    layers = model.layers
    assert any(isinstance(layer, LockedDropout) and math.isclose(layer.rate, 0.3)
               for layer in layers)
    assert any(isinstance(layer, LayerNormLSTM) for layer in layers)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert math.isclose(float(model.optimizer.weight_decay), 1e-2)

    hypermodel, hp = _hp(dropout_type="zaremba", dropout=0.0, weight_decay=0.0,
                         layer_norm=False, patience=2)
    model = hypermodel.build(hp)
    assert not any(isinstance(layer, (LockedDropout, LayerNormLSTM)) for layer in model.layers)
    assert type(model.optimizer) is keras.optimizers.Adam


def test_fit_reads_patience_and_trains_on_the_given_splits(monkeypatch):
    hypermodel, hp = _hp(patience=5)
    model = hypermodel.build(hp)
    seen = {}

    def fake_fit(x, validation_data=None, callbacks=None, **kwargs):
        seen.update(x=x, val=validation_data, callbacks=callbacks, **kwargs)
        return "history"

    monkeypatch.setattr(model, "fit", fake_fit)
    corpus = make_corpus()
    out = hypermodel.fit(hp, model, train_ids=corpus.train_ids, val_ids=corpus.val_ids,
                         epochs=3, seq_len=8, batch_size=8, callbacks=[])
    assert out == "history"
    stoppers = [cb for cb in seen["callbacks"] if isinstance(cb, BestWeightsEarlyStopping)]
    assert len(stoppers) == 1 and stoppers[0].patience == 5
    assert seen["epochs"] == 3 and seen["steps_per_epoch"] == (700 - 1) // 8 // 8
    val_tokens = sum(int(np.size(y)) for _, y in seen["val"])
    assert val_tokens == ((200 - 8 - 1) // 8 + 1) * 8
    with pytest.raises(TypeError, match="train_ids= and val_ids="):
        hypermodel.fit(hp, model, corpus.train_ids)


def test_same_seed_same_initial_model():
    hypermodel, hp = _hp(dropout=0.2, layer_norm=True)
    a = [np.array(w) for w in hypermodel.build(hp).get_weights()]
    b = [np.array(w) for w in hypermodel.build(hp).get_weights()]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_tiny_search_is_seeded_finds_its_best_and_resumes(tmp_path):
    corpus = make_corpus()
    result = tuning.tune(corpus, directory=tmp_path, project_name="a", seed=5, **TINY)
    rows = result.rows
    assert [r["trial"] for r in rows] == ["0", "1"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    hypermodel = result.hypermodel
    assert all(_in_space(r, hypermodel) for r in rows), rows
    # each trial's score is the lowest validation loss of its own learning curve
    for row in rows:
        curve = result.history(row)["val_loss"]
        assert len(curve) == row["epochs_run"] <= TINY["epochs"]
        assert row["val_loss"] == pytest.approx(min(curve), rel=1e-6)
        assert row["best_epoch"] == int(np.argmin(curve)) + 1
    winner = min(rows, key=lambda r: r["val_loss"])
    assert result.best_hyperparameters == {k: winner[k] for k in result.best_hyperparameters}
    assert set(result.best_hyperparameters) == {"dropout_type", "dropout", "weight_decay",
                                                "layer_norm", "patience"}
    table = result.table()
    assert table.splitlines()[2].split()[0] == winner["trial"]  # best first
    # the best model is rebuilt with its best epoch's weights: evaluating it reproduces the score
    model = result.best_model()
    val = regkeras.data.window_dataset(corpus.val_ids, TINY["seq_len"], TINY["batch_size"],
                                       shuffle=False, drop_remainder=False)
    assert model.evaluate(val, verbose=0) == pytest.approx(winner["val_loss"], rel=1e-5)
    json.dumps(result.to_json())  # JSON-ready

    # the same seed in another folder repeats the search: same hyperparameters, same scores
    again = tuning.tune(corpus, directory=tmp_path, project_name="b", seed=5, **TINY)
    for r, s in zip(rows, again.rows):
        assert {k: v for k, v in r.items() if k != "val_loss"} == \
            {k: v for k, v in s.items() if k != "val_loss"}
        assert s["val_loss"] == pytest.approx(r["val_loss"], abs=1e-5)

    # rerunning into the first folder resumes: no new trial, no training
    calls = []
    cls = tuning._hypermodel_class()
    original = cls.fit

    def counting_fit(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    cls.fit = counting_fit
    try:
        resumed = tuning.tune(corpus, directory=tmp_path, project_name="a", seed=5, **TINY)
    finally:
        cls.fit = original
    assert calls == [] and resumed.rows == rows
    # more trials in the same folder: only the new one trains
    cls.fit = counting_fit
    try:
        more = tuning.tune(corpus, directory=tmp_path, project_name="a", seed=5,
                           **{**TINY, "max_trials": 3})
    finally:
        cls.fit = original
    assert len(calls) == 1 and more.rows[:2] == rows and len(more.rows) == 3


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_other_tuners_run(tmp_path, kind):
    if kind == "bayesian":
        pytest.importorskip("sklearn", reason="KerasTuner's BayesianOptimization needs it")
    result = tuning.tune(make_corpus(), tuner=kind, directory=tmp_path, project_name=kind,
                         seed=1, space={"layer_norm": False}, **TINY)
    done = [r for r in result.rows if r["status"] == "COMPLETED"]
    assert 1 <= len(done) <= TINY["max_trials"]
    assert all(_in_space(r, result.hypermodel) for r in done)
    assert result.best_hyperparameters["layer_norm"] is False


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"tuner": "grid"}, ValueError, "`tuner` must be one of"),
        ({"max_trials": 0}, ValueError, "`max_trials` must be an integer >= 1"),
        ({"epochs": True}, TypeError, "`epochs` must be an integer >= 1"),
        ({"epochs": 0}, ValueError, "`epochs` must be an integer >= 1. Received: epochs=0"),
        ({"seed": -1}, ValueError, "`seed` must be an integer in [0, 4294967295]"),
        ({"seed": 2**70}, ValueError, "`seed` must be an integer in [0, 4294967295]"),
        ({"overwrite": "yes"}, TypeError, "`overwrite` must be True or False"),
        ({"verbose": 3}, ValueError, "`verbose` must be 0, 1 or 2"),
        ({"hyperband_factor": 1}, ValueError, "`hyperband_factor` must be an integer >= 2"),
        ({"space": [0.1]}, TypeError, "`space` must be a dict"),
        ({"space": {"dropout_types": ("zoneout",)}}, ValueError, "`dropout_types` must be"),
        ({"space": {"dropout": (0.0, 0.5)}}, TypeError, "`dropout` must be a (min, max, step)"),
        ({"space": {"dropout": (0.5, 0.2, 0.1)}}, ValueError,
         "`dropout[1]` must be a finite float in [0.5, 0.95]"),
        ({"space": {"dropout": (0.0, 1.0, 0.1)}}, ValueError,
         "`dropout[1]` must be a finite float in [0.0, 0.95]"),
        ({"space": {"weight_decay": (0.0, -1e-3)}}, ValueError,
         "`weight_decay[i]` must be a finite float >= 0"),
        ({"space": {"weight_decay": ()}}, TypeError, "`weight_decay` must be a non-empty"),
        ({"space": {"layer_norm": ("cell",)}}, ValueError, "`layer_norm` must be True, False"),
        ({"space": {"patience": (3, 1)}}, ValueError, "`patience[1]` must be an integer >= 3"),
        ({"space": {"learning_rate": 0.1}}, ValueError, "`space` keys must be among"),
        ({"learning_rate": 0.0}, ValueError, "`learning_rate` must be a finite float > 0"),
        ({"model_kwargs": {"dropout": 0.5}}, ValueError, "must not set the searched"),
    ],
)
def test_bad_arguments_raise_clear_errors(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=_escape(message)) as info:
        tuning.tune(make_corpus(), directory=tmp_path, **kwargs)
    assert type(info.value) is error


def test_bad_corpus_and_hypermodel_arguments(tmp_path):
    with pytest.raises(TypeError, match="has no 'val_ids'"):
        tuning.tune(types.SimpleNamespace(vocab=_Vocab(), train_ids=np.arange(50)),
                    directory=tmp_path)
    with pytest.raises(ValueError, match="`vocab_size` must be an integer >= 1"):
        tuning.RegularizationHyperModel(0)
    with pytest.raises(TypeError, match=_escape("`seed` must be an integer in [0, 4294967295]")):
        tuning.RegularizationHyperModel(V, seed=1.5)


def test_trials_table_sorts_best_first():
    rows = [{"trial": "0", "dropout": 0.1, "val_loss": 2.0, "status": "COMPLETED"},
            {"trial": "1", "dropout": 0.3, "val_loss": float("nan"), "status": "FAILED"},
            {"trial": "2", "dropout": 0.2, "val_loss": 1.5, "status": "COMPLETED"}]
    lines = tuning.trials_table(rows).splitlines()
    assert lines[0].split() == ["trial", "dropout", "val_loss", "status"]
    assert [line.split()[0] for line in lines[2:]] == ["2", "0", "1"]
    assert tuning.trials_table(rows, fmt="markdown").startswith("| trial | dropout |")


def test_keras_tuner_is_not_imported_by_regkeras():
    import subprocess
    import sys

    code = "import sys, regkeras; print('keras_tuner' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def _escape(text):
    import re

    return re.escape(text)


def test_a_second_search_on_one_folder_is_refused_at_once(tmp_path, monkeypatch):
    import subprocess
    import sys

    from regkeras.files import FolderInUseError

    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)
    hold = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode())\n"
            "print('locked', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path / ".a.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderInUseError, match=f"in use by another run .process "
                                                   f"{holder.pid}"):
            tuning.tune("recipes", directory=tmp_path, project_name="a", **TINY)
        assert not (tmp_path / "a").exists(), "refused before the tuner touched the folder"
    finally:
        holder.kill()
        holder.wait()
