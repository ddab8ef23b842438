"""Tests for regkeras.callbacks: best weights after fit, resumable runs, the training monitor."""

import json
import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from regkeras.callbacks import (
    BestModelCheckpoint,
    BestWeightsEarlyStopping,
    ResumableBackupAndRestore,
    TrainingMonitor,
    get_callback,
    history_dict,
    plot_history,
    training_callbacks,
)

# A regression whose validation targets are half the training targets: as the model fits
# the training set, the validation loss first falls, then rises, so the best epoch is in
# the middle of the run and early stopping has something to do.
_RNG = np.random.default_rng(0)
X = _RNG.normal(size=(64, 4)).astype("float32")
W_TRUE = np.array([[1.5], [-2.0], [0.7], [1.0]], dtype="float32")
Y = X @ W_TRUE
XV = _RNG.normal(size=(32, 4)).astype("float32")
YV = 0.5 * (XV @ W_TRUE)


def make_model(seed=7):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss="mse")
    return model


class WeightsRecorder(keras.callbacks.Callback):
    """Stores the model's weights at the end of every epoch (a copy)."""

    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [np.array(w) for w in self.model.get_weights()]


def fit(model, epochs, callbacks, initial=()):
    return model.fit(X, Y, validation_data=(XV, YV), epochs=epochs, batch_size=16,
                     shuffle=False, verbose=0, callbacks=list(initial) + list(callbacks))


def assert_same_weights(a, b, atol=0.0):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


def test_restores_best_epoch_when_patience_runs_out():
    model = make_model()
    rec = WeightsRecorder()
    stop = BestWeightsEarlyStopping(patience=2)
    history = fit(model, 40, [rec, stop])
    val = np.array(history.history["val_loss"])
    best = int(np.argmin(val))
    assert 0 < best < len(val) - 1, "the fixture should have an interior best epoch"
    assert stop.stopped_early and stop.best_epoch == best
    assert len(val) == best + 1 + 2  # stopped after `patience` epochs without improvement
    assert_same_weights(model.get_weights(), rec.weights[best])
    assert not np.allclose(model.get_weights()[0], rec.weights[len(val) - 1][0])


def test_restores_best_epoch_when_epochs_run_out():
    model = make_model()
    rec = WeightsRecorder()
    stop = BestWeightsEarlyStopping(patience=100)
    history = fit(model, 12, [rec, stop])
    val = np.array(history.history["val_loss"])
    assert len(val) == 12 and not stop.stopped_early
    best = int(np.argmin(val))
    assert best < 11
    assert_same_weights(model.get_weights(), rec.weights[best])


def test_restores_best_epoch_even_with_warmup_longer_than_run():
    # keras.callbacks.EarlyStopping ignores the warm-up epochs entirely and restores nothing;
    # ours still tracks the best epoch and restores it.
    keras_model, ours_model = make_model(), make_model()
    rec_k, rec_o = WeightsRecorder(), WeightsRecorder()
    keras_stop = keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True,
                                               start_from_epoch=50)
    ours = BestWeightsEarlyStopping(patience=1, start_from_epoch=50)
    fit(keras_model, 10, [rec_k, keras_stop])
    history = fit(ours_model, 10, [rec_o, ours])
    best = int(np.argmin(history.history["val_loss"]))
    assert best < 9
    assert_same_weights(keras_model.get_weights(), rec_k.weights[9])  # Keras: last epoch
    assert_same_weights(ours_model.get_weights(), rec_o.weights[best])  # ours: best epoch


def test_nan_never_counts_as_best():
    model = make_model()
    ours = BestWeightsEarlyStopping(patience=3)
    theirs = keras.callbacks.EarlyStopping(patience=3)
    for cb in (ours, theirs):
        cb.set_model(model)
        cb.on_train_begin()
        for epoch, value in enumerate([float("nan"), 2.0, 1.0, 1.5]):
            cb.on_epoch_end(epoch, {"val_loss": value})
    assert ours.best == 1.0 and ours.best_epoch == 2 and ours.wait == 1
    assert math.isnan(theirs.best)  # Keras' NaN "best" that nothing improves on


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_best_model_checkpoint_keeps_best_epoch(tmp_path):
    model = make_model()
    rec = WeightsRecorder()
    path = tmp_path / "best.weights.h5"
    ckpt = BestModelCheckpoint(path)
    history = fit(model, 10, [rec, ckpt])
    best = int(np.argmin(history.history["val_loss"]))
    saved = make_model()
    saved.load_weights(path)
    assert_same_weights(saved.get_weights(), rec.weights[best])
    # NaN is not an improvement, and an interior NaN does not reset the best.
    other = tmp_path / "x.weights.h5"
    cb = BestModelCheckpoint(other)
    cb.set_model(model)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"val_loss": float("nan")})
    assert cb.best is None and not other.exists()  # Keras would keep NaN as its best
    for epoch, value in enumerate([1.0, float("inf"), 1.5], start=1):
        cb.on_epoch_end(epoch, {"val_loss": value})
    assert cb.best == 1.0 and other.exists()
    cb.on_epoch_end(4, {"val_loss": 0.5})
    assert cb.best == 0.5
    cb.set_state({"best": float("nan")})  # a NaN best restored from an old backup
    cb.on_epoch_end(5, {"val_loss": 3.0})
    assert cb.best == 3.0


class Interrupt(keras.callbacks.Callback):
    """Simulates a crash: raises right after the end of epoch `after` (0-based)."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.after:
            raise KeyboardInterrupt(f"killed after epoch {epoch}")


def _uninterrupted(tmp_path, epochs, patience):
    model = make_model()
    cbs = training_callbacks(patience=patience, backup_dir=tmp_path / "a",
                             checkpoint_path=tmp_path / "a.weights.h5")
    fit(model, epochs, cbs)
    return model, cbs


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    epochs, patience = 14, 4
    model_a, cbs_a = _uninterrupted(tmp_path, epochs, patience)
    stop_a = get_callback(cbs_a, BestWeightsEarlyStopping)
    mon_a = get_callback(cbs_a, TrainingMonitor)
    assert not os.path.exists(tmp_path / "a"), "a completed run deletes its backup"

    # Same run, killed after epoch k (after the best epoch, before early stopping fires),
    # then restarted with a fresh model object and fresh callbacks on the same backup dir.
    k = stop_a.best_epoch + 1
    assert k < len(mon_a.epochs) - 1
    model_b = make_model()
    cbs_b = training_callbacks(patience=patience, backup_dir=tmp_path / "b",
                               checkpoint_path=tmp_path / "b.weights.h5")
    with pytest.raises(KeyboardInterrupt):
        fit(model_b, epochs, cbs_b + [Interrupt(after=k)])
    assert ResumableBackupAndRestore.resume_epoch(tmp_path / "b") == k + 1

    model_c = make_model(seed=99)  # different initial weights and dropout seed
    cbs_c = training_callbacks(patience=patience, backup_dir=tmp_path / "b",
                               checkpoint_path=tmp_path / "b.weights.h5")
    history_c = fit(model_c, epochs, cbs_c)
    stop_c = get_callback(cbs_c, BestWeightsEarlyStopping)
    mon_c = get_callback(cbs_c, TrainingMonitor)
    assert len(history_c.history["loss"]) == len(mon_a.epochs) - (k + 1)
    assert stop_c.best_epoch == stop_a.best_epoch and stop_c.stopped_epoch == stop_a.stopped_epoch
    assert mon_c.epochs == mon_a.epochs
    np.testing.assert_allclose(mon_c.history["val_loss"], mon_a.history["val_loss"], rtol=1e-6)
    assert_same_weights(model_c.get_weights(), model_a.get_weights(), atol=1e-6)
    ckpt_a, ckpt_c = make_model(), make_model()
    ckpt_a.load_weights(tmp_path / "a.weights.h5")
    ckpt_c.load_weights(tmp_path / "b.weights.h5")
    assert_same_weights(ckpt_c.get_weights(), ckpt_a.get_weights(), atol=1e-6)


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import keras
    from test_callbacks import make_model, fit
    from regkeras.callbacks import training_callbacks

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == {k}:
                os.kill(os.getpid(), signal.SIGKILL)

    model = make_model()
    cbs = training_callbacks(patience={patience}, backup_dir={backup!r})
    fit(model, {epochs}, cbs + [Kill()])
    """
)


@pytest.mark.slow
def test_sigkilled_process_resumes_to_the_same_weights(tmp_path):
    epochs, patience, k = 10, 50, 4
    model_a = make_model()
    fit(model_a, epochs, training_callbacks(patience=patience, backup_dir=tmp_path / "a"))
    backup = str(tmp_path / "b")
    script = _KILL_SCRIPT.format(tests=os.path.dirname(__file__), k=k, patience=patience,
                                 backup=backup, epochs=epochs)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert ResumableBackupAndRestore.resume_epoch(backup) == k + 1
    model_b = make_model(seed=3)
    cbs = training_callbacks(patience=patience, backup_dir=backup)
    history = fit(model_b, epochs, cbs)
    assert len(history.history["loss"]) == epochs - (k + 1)
    assert get_callback(cbs, TrainingMonitor).epochs == list(range(epochs))
    assert_same_weights(model_b.get_weights(), model_a.get_weights(), atol=1e-6)


def test_backup_without_regkeras_state_differs_from_uninterrupted(tmp_path):
    # Why the subclass exists: Keras' BackupAndRestore does not restore the dropout RNG, so
    # an interrupted run with dropout does not end where the uninterrupted one ends.
    epochs, k = 6, 2
    model_a = make_model()
    fit(model_a, epochs, [keras.callbacks.BackupAndRestore(str(tmp_path / "a"))])
    model_b = make_model()
    with pytest.raises(KeyboardInterrupt):
        fit(model_b, epochs, [keras.callbacks.BackupAndRestore(str(tmp_path / "b")),
                              Interrupt(k)])
    model_c = make_model()
    fit(model_c, epochs, [keras.callbacks.BackupAndRestore(str(tmp_path / "b"))])
    diff = max(np.abs(x - y).max() for x, y in zip(model_c.get_weights(), model_a.get_weights()))
    assert diff > 1e-4


def test_training_monitor_records_perplexity_and_bits(tmp_path):
    model = make_model()
    png = tmp_path / "curves" / "run.png"
    monitor = TrainingMonitor(png_path=png)
    stop = BestWeightsEarlyStopping(patience=2)
    history = fit(model, 30, [monitor, stop])
    loss = np.array(history.history["loss"])
    val = np.array(history.history["val_loss"])
    np.testing.assert_allclose(monitor.history["perplexity"], np.exp(loss), rtol=1e-6)
    np.testing.assert_allclose(monitor.history["val_bpc"], val / np.log(2), rtol=1e-6)
    # added to the logs, so Keras' own History (and TensorBoard, CSVLogger) see them too
    np.testing.assert_allclose(history.history["val_perplexity"], np.exp(val), rtol=1e-6)
    assert monitor.best_epoch == int(np.argmin(val)) == stop.best_epoch
    assert monitor.stopped_epoch == len(val) - 1
    assert png.exists() and png.stat().st_size > 1000
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_history_marks_best_and_stop(tmp_path):
    a = {"loss": [3.0, 2.0, 1.5, 1.2, 1.0], "val_loss": [3.1, 2.2, 1.9, 2.0, 2.3]}
    b = {"loss": [3.0, 2.5, 2.1, 1.9, 1.8], "val_loss": [3.0, 2.4, 2.0, 1.85, 1.8]}
    fig = plot_history({"baseline": a, "regularized": b}, stopped={"baseline": 4},
                       path=tmp_path / "cmp.png")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "baseline best (epoch 3)" in labels
    assert "regularized best (epoch 5)" in labels
    assert "baseline early stop (epoch 5)" in labels
    assert not any("regularized early stop" in t for t in labels)
    assert (tmp_path / "cmp.png").stat().st_size > 1000
    # perplexity / bits are derived from the losses when the history lacks them
    fig = plot_history(a, metric="bpc")
    val_line = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"][0]
    np.testing.assert_allclose(val_line.get_ydata(), np.array(a["val_loss"]) / np.log(2))
    # one shaded gap polygon per run
    fig = plot_history({"baseline": a, "regularized": b})
    assert len(fig.axes[0].collections) == 2


def test_training_callbacks_contents_and_order(tmp_path):
    cbs = training_callbacks(patience=7, checkpoint_path=tmp_path / "m.keras",
                             backup_dir=tmp_path / "bk")
    kinds = [type(cb).__name__ for cb in cbs]
    assert kinds == ["TerminateOnNaN", "TrainingMonitor", "BestWeightsEarlyStopping",
                     "BestModelCheckpoint", "ResumableBackupAndRestore"]
    stop = get_callback(cbs, BestWeightsEarlyStopping)
    assert stop.patience == 7 and stop.restore_best_weights and stop.monitor == "val_loss"
    backup = get_callback(cbs, ResumableBackupAndRestore)
    assert backup.state_callbacks == [cbs[1], cbs[2], cbs[3]]
    assert [type(c).__name__ for c in training_callbacks(training_monitor=False,
                                                         terminate_on_nan=False)] == [
        "BestWeightsEarlyStopping"]
    with pytest.raises(LookupError):
        get_callback(training_callbacks(), BestModelCheckpoint)


def test_tensorboard_option(tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ImportError, match="tensorboard"):
            training_callbacks(tensorboard_dir=tmp_path / "tb")
        return
    cbs = training_callbacks(tensorboard_dir=tmp_path / "tb", patience=None)
    assert [type(cb).__name__ for cb in cbs][-1] == "TensorBoard"
    fit(make_model(), 2, cbs)
    files = [f for _, _, fs in os.walk(tmp_path / "tb") for f in fs]
    assert any(f.startswith("events.out.tfevents") for f in files)


def test_nan_loss_terminates_and_keeps_best_weights():
    model = make_model()
    rec = WeightsRecorder()

    class Poison(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 3:  # blow the weights up so that the next epoch's loss is NaN
                for v in self.model.trainable_variables:
                    v.assign(v * float("nan"))

    cbs = training_callbacks(patience=20)
    history = fit(model, 20, cbs, initial=[rec, Poison()])
    assert len(history.history["loss"]) <= 5
    best = int(np.nanargmin(history.history["val_loss"]))
    assert best <= 3
    assert_same_weights(model.get_weights(), rec.weights[best])


def test_argument_validation(tmp_path):
    with pytest.raises(ValueError, match="patience"):
        BestWeightsEarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        BestWeightsEarlyStopping(mode="up")
    with pytest.raises(ValueError, match="filepath"):
        BestModelCheckpoint(tmp_path / "model.h5")
    with pytest.raises(TypeError, match="state_callbacks"):
        ResumableBackupAndRestore(tmp_path, state_callbacks=[keras.callbacks.History()])
    with pytest.raises(ValueError, match="backup_dir"):
        ResumableBackupAndRestore("")
    with pytest.raises(TypeError, match="training_monitor"):
        training_callbacks(training_monitor="yes")
    with pytest.raises(ValueError, match="metric"):
        plot_history({"loss": [1.0]}, metric="accuracy")
    with pytest.raises(TypeError):
        history_dict([1.0, 2.0])


def test_history_dict_accepts_history_monitor_and_dict():
    model = make_model()
    monitor = TrainingMonitor()
    h = fit(model, 2, [monitor])
    assert history_dict(h)["loss"] == pytest.approx(h.history["loss"])
    assert history_dict(monitor)["val_loss"] == pytest.approx(h.history["val_loss"])
    json.dumps(history_dict(monitor))  # plain floats


def test_live_display_in_notebook(monkeypatch):
    display_module = pytest.importorskip("IPython.display")
    calls = []

    class Handle:
        def update(self, fig):
            calls.append(("update", fig))

    def fake_display(fig, display_id=None):
        calls.append(("display", fig))
        return Handle()

    monkeypatch.setattr(display_module, "display", fake_display)
    monitor = TrainingMonitor(live=True)
    fit(make_model(), 3, [monitor])
    # one output area, created once and then redrawn (3 epochs + the final state)
    assert [kind for kind, _ in calls] == ["display", "update", "update", "update"]
    assert all(hasattr(fig, "savefig") for _, fig in calls)


def _killed_run(backup, k=4, epochs=10):
    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, epochs, training_callbacks(patience=50, backup_dir=backup) + [Interrupt(k)])


def _checkpoint_dirs(backup):
    return sorted(p for p in os.listdir(backup) if p.startswith("ckpt-"))


@pytest.mark.parametrize("damage", ["truncate-weights", "garbage-manifest", "delete-state"])
def test_damaged_newest_checkpoint_falls_back_to_the_previous_with_a_warning(tmp_path, damage):
    epochs, k = 10, 4
    model_a = make_model()
    fit(model_a, epochs, training_callbacks(patience=50, backup_dir=tmp_path / "a"))
    backup = tmp_path / "b"
    _killed_run(backup, k, epochs)
    names = _checkpoint_dirs(backup)
    assert len(names) == 2, "the previous complete checkpoint is kept"
    newest = backup / names[-1]
    if damage == "truncate-weights":
        path = newest / "model.weights.h5"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage-manifest":
        (newest / "MANIFEST.json").write_text("{not json")
    else:
        os.remove(newest / "state.npz")
    assert ResumableBackupAndRestore.resume_epoch(backup) == k  # the previous one's epoch
    model_b = make_model(seed=3)
    with pytest.warns(UserWarning, match=f"{names[-1]}.*resuming from the previous complete "
                                         f"one, {names[0]}"):
        fit(model_b, epochs, training_callbacks(patience=50, backup_dir=backup))
    assert_same_weights(model_b.get_weights(), model_a.get_weights())


def test_no_complete_checkpoint_is_one_clear_error(tmp_path):
    backup = tmp_path / "b"
    _killed_run(backup)
    for name in _checkpoint_dirs(backup):
        (backup / name / "MANIFEST.json").write_text("")
    with pytest.raises(ValueError, match=r"backup in '.*b' cannot be resumed.*delete the folder"
                                         r".*--fresh") as info:
        fit(make_model(), 10, training_callbacks(patience=50, backup_dir=backup))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="cannot be resumed"):
        ResumableBackupAndRestore.resume_epoch(backup)


def test_old_format_backup_with_damaged_parts_is_one_clear_error(tmp_path):
    # The single-folder layout of regkeras <= 0.2, as the kills of issue #19 left it.
    backup = tmp_path / "old"
    backup.mkdir()
    (backup / "training_metadata.json").write_text("")
    with pytest.raises(ValueError, match="training_metadata.json is damaged.*--fresh"):
        ResumableBackupAndRestore.resume_epoch(backup)
    (backup / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    with pytest.raises(ValueError, match="random-number and callback state for epoch 3"):
        fit(make_model(), 10, training_callbacks(patience=50, backup_dir=backup))


def test_the_weights_file_leaves_out_exactly_the_seed_generator_states(tmp_path):
    """What state.npz must carry: the model variables Keras' weights file does not restore."""
    import regkeras as rk

    keras.utils.set_random_seed(0)
    model = rk.build_language_model(30, embedding_dim=8, units=[16, 8], dropout=0.3,
                                    variational=True, weight_dropout=0.2, zoneout_c=0.1,
                                    embedding_dropout=0.1, seed=0)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.random.default_rng(0).integers(0, 30, size=(4, 6))
    model.fit(ids, ids, epochs=2, verbose=0)  # moves every seed generator on
    model.save_weights(tmp_path / "m.weights.h5")
    fresh = rk.build_language_model(30, embedding_dim=8, units=[16, 8], dropout=0.3,
                                    variational=True, weight_dropout=0.2, zoneout_c=0.1,
                                    embedding_dropout=0.1, seed=5)
    fresh.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fresh.fit(ids, ids, epochs=1, verbose=0)
    fresh.load_weights(tmp_path / "m.weights.h5")
    not_restored = [k for k, (a, b) in enumerate(zip(model.variables, fresh.variables))
                    if not np.array_equal(keras.ops.convert_to_numpy(a),
                                          keras.ops.convert_to_numpy(b))]
    outside = [k for k, _ in rk.callbacks._variables_outside_weights(model)]
    assert not_restored == outside and len(outside) == 6  # 6 dropout layers draw masks
    assert all(model.variables[k].path.endswith("seed_generator_state") for k in outside)


def test_state_npz_holds_only_what_the_weights_file_leaves_out(tmp_path):
    backup = tmp_path / "b"
    _killed_run(backup)
    with np.load(backup / _checkpoint_dirs(backup)[-1] / "state.npz") as data:
        variables = sorted(k for k in data.files if k.startswith("var"))
    model = make_model()
    assert variables == [f"var{k}" for k, v in enumerate(model.variables)
                         if v.path.endswith("seed_generator_state")] == ["var2"]


def test_a_checkpoint_holding_every_variable_still_resumes_exactly(tmp_path, monkeypatch):
    """The first checkpoint folders stored every model variable in state.npz."""
    import regkeras.callbacks as callbacks_module

    epochs, k = 10, 4
    model_a = make_model()
    fit(model_a, epochs, training_callbacks(patience=50, backup_dir=tmp_path / "a"))
    backup = tmp_path / "b"
    with monkeypatch.context() as patch:
        patch.setattr(callbacks_module, "_variables_outside_weights",
                      lambda model: list(enumerate(model.variables)))
        _killed_run(backup, k, epochs)
    with np.load(backup / _checkpoint_dirs(backup)[-1] / "state.npz") as data:
        assert len([key for key in data.files if key.startswith("var")]) == 5
    model_b = make_model(seed=3)
    fit(model_b, epochs, training_callbacks(patience=50, backup_dir=backup))
    assert_same_weights(model_b.get_weights(), model_a.get_weights())
