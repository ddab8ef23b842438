# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Early stopping: know when to quit
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/regkeras/regkeras/blob/main/chapters/04_early_stopping.ipynb)
#
# **The question.** Training loss keeps falling; validation loss falls, bottoms out and
# climbs. When exactly should training stop, which weights should we keep, and what happens
# if the run is killed half-way?
#
# **What you will see.**
#
# 1. the notes' loop (best validation loss, a patience counter, save the best weights) in a
#    few lines, and proof that it stops at the same epoch and keeps the same weights as
#    `regkeras.BestWeightsEarlyStopping` and Keras' `EarlyStopping(restore_best_weights=True)`;
# 2. two traps: the notes' off-by-one, and what Keras does when training ends before patience
#    runs out or during a warm-up;
# 3. the notes' curve with the best epoch and the stop point marked, and a best-model file;
# 4. a run killed after a few epochs and resumed, ending with exactly the weights of a run
#    that was never interrupted.

# %% [markdown]
# ## Setup

# %%
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
if "google.colab" in sys.modules:
    # %pip install -q "regkeras @ git+https://github.com/regkeras/regkeras"

# %%
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

import regkeras

SEED = 0
keras.utils.set_random_seed(SEED)
SCALE = float(os.environ.get("REGKERAS_SCALE", "1"))  # 1 = the committed CPU run; try 4+ with a GPU

# %% [markdown]
# A one-layer character LSTM (256 units) on a 12,000-character slice of Tiny Shakespeare,
# half for training and a quarter each for validation and test. With so little data it
# overfits within about ten epochs, which is what we want to watch. `REGKERAS_SCALE=4` uses
# 48,000 characters and up to 160 epochs (not run here).
#
# The training windows are **not shuffled** here: every epoch sees the same order, so two runs
# from the same seed are identical step by step. That makes the exact comparisons below
# possible (for resuming, a per-epoch *seeded* shuffle works too).

# %%
text = regkeras.load_text("tiny_shakespeare")[: int(12_000 * SCALE)]
vocab = regkeras.build_vocabulary(text, level="char")
train_ids, val_ids, _ = regkeras.split_text(vocab.encode(text), fractions=(0.5, 0.25, 0.25))
train_ds = regkeras.window_dataset(train_ids, 16, 32, shuffle=False)
val_ds = regkeras.window_dataset(val_ids, 16, 64, shuffle=False)
MAX_EPOCHS, PATIENCE = int(40 * SCALE), 3  # the notes suggest patience 5-10; 3 keeps the CPU run short


def make_model():
    keras.utils.set_random_seed(SEED)  # the same initial weights every time
    model = regkeras.build_language_model(vocab.size, embedding_dim=32, units=256,
                                          num_layers=1, seed=SEED)
    model.compile(keras.optimizers.Adam(1e-2, clipnorm=1.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# %% [markdown]
# ## 1. The loop from scratch
#
# One epoch at a time: train, measure validation loss, remember the best weights, count the
# epochs without improvement, stop when the count reaches `patience`, and finally put the
# best weights back.

# %%
def fit_with_early_stopping(model, patience, max_epochs):
    best_val, best_epoch, best_weights, wait, val_losses = np.inf, None, None, 0, []
    for epoch in range(max_epochs):
        logs = model.fit(train_ds, validation_data=val_ds, epochs=1, verbose=0).history
        val_losses.append(logs["val_loss"][0])
        if val_losses[-1] < best_val:
            best_val, best_epoch, best_weights, wait = val_losses[-1], epoch, model.get_weights(), 0
        else:
            wait += 1
            if wait >= patience:  # the notes write `> patience`: see section 2
                break
    model.set_weights(best_weights)
    return dict(stopped_epoch=epoch, best_epoch=best_epoch, val_losses=val_losses)


scratch_model = make_model()
scratch = fit_with_early_stopping(scratch_model, PATIENCE, MAX_EPOCHS)
print(f"scratch loop: best epoch {scratch['best_epoch'] + 1}, stopped after epoch "
      f"{scratch['stopped_epoch'] + 1}")
print("val losses:", np.round(scratch["val_losses"], 3))

# %% [markdown]
# (Epochs are printed 1-based, as Keras prints them; the attributes are 0-based.)
#
# Now the library: `regkeras.BestWeightsEarlyStopping` and Keras' own `EarlyStopping` in the
# same `fit`, with a `TrainingMonitor` to draw the curve and a `BestModelCheckpoint` that
# saves the best model to disk.

# %%
workdir = tempfile.mkdtemp()
lib_model = make_model()
monitor = regkeras.TrainingMonitor()
stop = regkeras.BestWeightsEarlyStopping(patience=PATIENCE)
keras_stop = keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True)
best_path = os.path.join(workdir, "best.keras")
checkpoint = regkeras.BestModelCheckpoint(best_path)
history = lib_model.fit(train_ds, validation_data=val_ds, epochs=MAX_EPOCHS, verbose=0,
                        callbacks=[monitor, stop, keras_stop, checkpoint])
print(f"BestWeightsEarlyStopping: best epoch {stop.best_epoch + 1}, stopped after "
      f"{stop.stopped_epoch + 1}; keras EarlyStopping: best {keras_stop.best_epoch + 1}, "
      f"stopped after {keras_stop.stopped_epoch + 1}")

# %%
assert stop.stopped_epoch == keras_stop.stopped_epoch == scratch["stopped_epoch"], "stop epochs differ"
assert stop.best_epoch == keras_stop.best_epoch == scratch["best_epoch"], "best epochs differ"
np.testing.assert_allclose(history.history["val_loss"], scratch["val_losses"], rtol=1e-5)
for lib_w, scratch_w in zip(lib_model.get_weights(), scratch_model.get_weights()):
    np.testing.assert_allclose(lib_w, scratch_w, rtol=1e-5, atol=1e-6)
print("same curve, same stop epoch, same best epoch, same final weights")

# %% [markdown]
# And the kept weights really are the best epoch's: evaluating the model after `fit` gives
# the lowest validation loss of the history, not the last one. The checkpoint file holds the
# same model.

# %%
val_after_fit = lib_model.evaluate(val_ds, verbose=0)
best_in_history = min(history.history["val_loss"])
last_in_history = history.history["val_loss"][-1]
from_file = keras.saving.load_model(best_path).evaluate(val_ds, verbose=0)
print(f"val loss after fit {val_after_fit:.4f}; best in history {best_in_history:.4f}; "
      f"last epoch {last_in_history:.4f}; best.keras {from_file:.4f}")
np.testing.assert_allclose(val_after_fit, best_in_history, rtol=1e-5)
np.testing.assert_allclose(from_file, best_in_history, rtol=1e-5)
assert last_in_history > best_in_history + 0.01, "the run should have overfitted by the stop"

# %% [markdown]
# ## 2. Two traps
#
# **The notes' off-by-one.** The notes' loop does `no_improve += 1` and stops when
# `no_improve > patience`: with `patience = 5` it trains *six* epochs past the best, not
# five. Keras, regkeras and the loop above stop when the count *reaches* `patience`. Replay
# both rules on a made-up validation curve:

# %%
def stop_epoch(val_losses, patience, notes_rule=False):
    best, wait = np.inf, 0
    for epoch, val in enumerate(val_losses):
        if val < best:
            best, wait = val, 0
        else:
            wait += 1
            if (wait > patience) if notes_rule else (wait >= patience):
                return epoch
    return None


curve = [3.0, 2.5, 2.2, 2.3, 2.1, 2.4, 2.5, 2.6, 2.7, 2.8, 2.9]  # best at index 4
print("Keras rule stops at index", stop_epoch(curve, 3),
      "| notes' rule stops at index", stop_epoch(curve, 3, notes_rule=True))
assert stop_epoch(curve, 3, notes_rule=True) == stop_epoch(curve, 3) + 1


# %% [markdown]
# Nothing is lost but an epoch of compute, as long as you also restore the best weights;
# but `patience` then means something different in the notes and in Keras.
#
# **When training ends without patience running out.** In tf.keras 2.x, `EarlyStopping`
# restored the best weights only when it *stopped* training: a run that reached `epochs`
# first kept its last weights. Keras 3 (3.15 here) restores in `on_train_end` whatever ended
# training. We can check that, and a remaining difference, without training: drive the
# callbacks by hand on a toy model whose single weight is the epoch number.

# %%
def drive(callback, val_losses):
    """Feed a callback the given validation losses; returns the epoch whose weight it kept."""
    toy = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    toy.stop_training = False  # fit() sets this; we play fit's part
    callback.set_model(toy)
    callback.on_train_begin()
    for epoch, val in enumerate(val_losses):
        toy.set_weights([np.full((1, 1), epoch, "float32")])
        callback.on_epoch_end(epoch, {"val_loss": val})
        if toy.stop_training:
            break
    callback.on_train_end()
    return int(toy.get_weights()[0][0, 0])


short = curve[:7]  # the run ends 2 epochs after the best, patience 3 never runs out
print("ends early, keras:", drive(keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True), short),
      "| regkeras:", drive(regkeras.BestWeightsEarlyStopping(patience=3), short))
warm = [2.0, 1.5, 1.8, 1.9, 2.0, 2.1, 2.2]  # best at index 1, inside a warm-up of 3 epochs
print("warm-up,    keras:", drive(keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True,
                                                             start_from_epoch=3), warm),
      "| regkeras:", drive(regkeras.BestWeightsEarlyStopping(patience=3, start_from_epoch=3), warm))

# %%
assert drive(keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True), short) == 4
assert drive(regkeras.BestWeightsEarlyStopping(patience=3, start_from_epoch=3), warm) == 1
assert drive(keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True,
                                           start_from_epoch=3), warm) != 1

# %% [markdown]
# So with Keras 3.15 "keeps the last weights if training ends before patience runs out" is no
# longer true (it was for tf.keras 2.x, and older tutorials still say so). What remains: Keras
# ignores the epochs of the `start_from_epoch` warm-up entirely, so if the best epoch falls
# inside it, Keras cannot return to it; `BestWeightsEarlyStopping` tracks the best from the
# first epoch and only delays the *stopping*. (It also never takes a `NaN` as a best value.)

# %% [markdown]
# ## 3. The notes' picture
#
# Training loss keeps falling; validation loss turns up; the star marks the best epoch (the
# weights we keep), the cross and dotted line the epoch at which patience ran out.

# %%
regkeras.plot_history(monitor, title=f"early stopping, patience {PATIENCE}")

# %% [markdown]
# Compare the notes' example: "Epoch 10: val 1.8 ⚠️ … Go back to Epoch 10 (best validation
# loss)". In their own table epoch 5 had the lower validation loss (1.3): the weights to go
# back to are those of the minimum of the validation curve, not of the epoch where you first
# noticed overfitting.

# %% [markdown]
# ## 4. Resuming an interrupted run
#
# Long runs die (preemption, a closed laptop). `keras.callbacks.BackupAndRestore` saves the
# weights, the optimizer state and the epoch after every epoch; `ResumableBackupAndRestore`
# also saves the state of the early-stopping callback (best value, patience count, best
# weights) and of dropout's random generators. Simulate a crash after epoch 5, then run the
# *same* `fit` again with fresh objects:

# %%
class SimulatedCrash(RuntimeError):
    pass


class CrashAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise SimulatedCrash(f"killed after epoch {epoch + 1}")


backup_dir = os.path.join(workdir, "backup")
CRASH_AT = 4  # 0-based: the run dies after its 5th epoch
try:
    stop1 = regkeras.BestWeightsEarlyStopping(patience=PATIENCE)
    backup1 = regkeras.ResumableBackupAndRestore(backup_dir, state_callbacks=[stop1])
    make_model().fit(train_ds, validation_data=val_ds, epochs=MAX_EPOCHS, verbose=0,
                     callbacks=[stop1, backup1, CrashAfter(CRASH_AT)])  # backup before crash
except SimulatedCrash as crash:
    print("crash:", crash, "| the backup resumes at epoch",
          regkeras.ResumableBackupAndRestore.resume_epoch(backup_dir) + 1)

# %%
resumed_model = make_model()  # a new process would start exactly like this
stop2 = regkeras.BestWeightsEarlyStopping(patience=PATIENCE)
backup2 = regkeras.ResumableBackupAndRestore(backup_dir, state_callbacks=[stop2])
resumed = resumed_model.fit(train_ds, validation_data=val_ds, epochs=MAX_EPOCHS, verbose=0,
                            callbacks=[stop2, backup2])
print(f"resumed at epoch {backup2.restored_epoch + 1}, ran {len(resumed.history['loss'])} more "
      f"epochs; best epoch {stop2.best_epoch + 1}, stopped after {stop2.stopped_epoch + 1}")

# %%
assert backup2.restored_epoch == CRASH_AT + 1
assert (stop2.best_epoch, stop2.stopped_epoch) == (stop.best_epoch, stop.stopped_epoch)
np.testing.assert_allclose(resumed.history["val_loss"],
                           history.history["val_loss"][CRASH_AT + 1:], rtol=1e-5)
for resumed_w, straight_w in zip(resumed_model.get_weights(), lib_model.get_weights()):
    np.testing.assert_allclose(resumed_w, straight_w, rtol=1e-5, atol=1e-6)
print("interrupted + resumed == uninterrupted: same curve, same stop, same final weights")

# %% [markdown]
# Without the early-stopping state in the backup, the resumed run would forget that the best
# epoch may lie *before* the crash, and its patience count would start again from zero.

# %% [markdown]
# ## Summary
#
# * Early stopping is five lines: best value, best weights, a patience counter, stop, restore.
#   Our loop, `regkeras.BestWeightsEarlyStopping` and Keras' `EarlyStopping(restore_best_weights=True)`
#   stopped at the same epoch with identical weights.
# * Keep the weights of the *minimum* of the validation curve; after `fit` the model's
#   validation loss equals that minimum (`BestModelCheckpoint` keeps it on disk too).
# * The notes' `no_improve > patience` waits `patience + 1` epochs; Keras waits `patience`.
# * Keras 3 restores the best weights however training ends, but ignores the warm-up epochs;
#   tf.keras 2.x kept the last weights when `epochs` ran out first.
# * `ResumableBackupAndRestore` makes a killed run end exactly where an uninterrupted one does.

# %% [markdown]
# ## Exercises
#
# 1. Rerun section 1 with `patience` 1, 5 and 10. How many epochs does each cost, and how
#    much better is the kept validation loss? Where would you set it for this model?
# 2. Add `min_delta=0.01` to the early-stopping callbacks. Does the run stop earlier? Why can
#    `min_delta` make the kept weights slightly worse than the true minimum?
# 3. Turn on `shuffle=True` with a fixed `seed` in `window_dataset`. Does the resumed run still
#    match the uninterrupted one? What would you need to store to make it match?
# 4. (Open) Validation loss on 3,000 characters is noisy. Plot the curve for three seeds and
#    discuss how the noise should influence the choice of `patience`.
