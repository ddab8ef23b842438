"""Numerical health of a whole training run: a NaN stops it cleanly; bfloat16 trains end to end.

tests/test_callbacks.py checks the callbacks on a toy regression and tests/test_models.py one
mixed-precision train step; here the language model goes through `fit` with the library's own
optimizer and callbacks: the loss is made to blow up at a known step, and a fully regularized
model trains, saves and loads under `mixed_bfloat16`.
"""

import math

import keras
import numpy as np
import pytest

from regkeras.callbacks import BestWeightsEarlyStopping, get_callback, training_callbacks
from regkeras.models import build_language_model
from regkeras.optimizers import make_adamw

TEXT = "the cat sat on the mat. the dog sat on the log. " * 6
CHARS = sorted(set(TEXT))
T = 10


def windows():
    ids = np.array([CHARS.index(c) + 1 for c in TEXT], "int32")
    w = np.stack([ids[i:i + T + 1] for i in range(0, len(ids) - T - 1, 4)])
    return w[:, :-1], w[:, 1:]


def loss_fn():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class WeightsPerEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = [np.array(w) for w in self.model.get_weights()]


class HugeLearningRateAt(keras.callbacks.Callback):
    """Sets the learning rate to 1e30 from epoch `epoch` on: the next update ruins the weights."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.optimizer.learning_rate.assign(1e30)


def nan_run(verbose):
    x, y = windows()
    model = build_language_model(len(CHARS) + 1, embedding_dim=8, units=8, dropout=0.1, seed=0)
    model.compile(make_adamw(1e-2, 0.01, model=model, clipnorm=None), loss_fn())
    callbacks = training_callbacks(patience=10, verbose=verbose)
    model.fit(x, y, batch_size=8, validation_data=(x, y), epochs=10, shuffle=False, verbose=0,
              callbacks=[HugeLearningRateAt(3)] + callbacks)


@pytest.mark.slow
def test_verbose_restore_message_is_printed(capsys):
    nan_run(verbose=1)
    assert "Restoring model weights from the end of the best epoch" in capsys.readouterr().out


@pytest.mark.slow
def test_nan_loss_stops_the_language_model_and_keeps_its_best_weights(capsys):
    x, y = windows()
    model = build_language_model(len(CHARS) + 1, embedding_dim=8, units=8, dropout=0.1, seed=0)
    # No clipping: a clipped step of size lr * 1 would still be enormous, but keep it plain.
    model.compile(make_adamw(1e-2, 0.01, model=model, clipnorm=None), loss_fn())
    record = WeightsPerEpoch()
    callbacks = training_callbacks(patience=10)
    history = model.fit(x, y, batch_size=8, validation_data=(x, y), epochs=10, shuffle=False,
                        verbose=0, callbacks=[record, HugeLearningRateAt(3)] + callbacks)
    losses = history.history["loss"]
    # It stopped in the poisoned epoch (the 4th), not after 10, and the history says why.
    assert len(losses) == 4
    assert all(math.isfinite(v) for v in losses[:3]) and not math.isfinite(losses[3])
    assert model.stop_training
    out = capsys.readouterr().out
    assert "Invalid loss, terminating training" in out
    # The best finite epoch's weights are back in the model.
    stop = get_callback(callbacks, BestWeightsEarlyStopping)
    val = history.history["val_loss"]
    finite = [i for i, v in enumerate(val) if math.isfinite(v)]
    best = min(finite, key=lambda i: val[i])
    assert stop.best_epoch == best and best <= 2
    for restored, kept in zip(model.get_weights(), record.weights[best]):
        np.testing.assert_array_equal(restored, kept)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    logits = keras.ops.convert_to_numpy(model(x[:2]))
    assert np.isfinite(logits).all()


ALL_ON = dict(embedding_dropout=0.05, input_dropout=0.2, hidden_dropout=0.1, output_dropout=0.2,
              variational=True, recurrent_dropout=0.1, layer_norm="output", ar=1.0, tar=1.0,
              tie_weights=True, units=[12, 8], embedding_dim=8, l2=1e-5, mask_zero=True, seed=3)


@pytest.mark.slow
@pytest.mark.parametrize("replacement", [dict(weight_dropout=0.3), dict(layer_norm="cell"),
                                         dict(zoneout_c=0.1, zoneout_h=0.05)],
                         ids=["weight_drop", "layer_norm_cell", "zoneout"])
def test_mixed_bfloat16_trains_saves_and_loads_with_every_switch(replacement, mixed_bfloat16,
                                                                  tmp_path):
    x, y = windows()
    model = build_language_model(len(CHARS) + 1, **dict(ALL_ON, **replacement))
    assert model.get_layer("rnn_1").compute_dtype == "bfloat16"
    model.compile(make_adamw(1e-2, 0.01, model=model), loss_fn())
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                        callbacks=training_callbacks(patience=None, training_monitor=False))
    after = model.evaluate(x, y, verbose=0)
    assert all(math.isfinite(v) for v in history.history["loss"])
    assert after < before - 0.1, (before, after)
    logits = model(x[:4])
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.get_layer("rnn_1").dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x[:4])),
                                  keras.ops.convert_to_numpy(logits))
