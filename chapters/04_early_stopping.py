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
# ## Overview
#
# **The question.** Training loss keeps falling; validation loss falls, bottoms out and
# climbs. When exactly should training stop, which weights should we keep, what does it buy,
# and what happens if the run is killed half-way?
#
# **What you will see.**
#
# 1. the notes' loop (best validation loss, a patience counter, save the best weights) in a
#    few lines, and proof that it stops at the same epoch and keeps the same weights as
#    `regkeras.BestWeightsEarlyStopping` and Keras' `EarlyStopping(restore_best_weights=True)`;
# 2. two traps: the notes' off-by-one, and what Keras does when training ends before patience
#    runs out or during a warm-up;
# 3. the notes' curve with the best epoch and the stop point marked, and what patience 5
#    really does with the notes' own example epochs;
# 4. three seeds: where the best and the stop epochs fall, and how much lower the kept
#    validation loss is than the last epoch's;
# 5. a run killed after a few epochs and resumed, ending with exactly the weights of a run
#    that was never interrupted.

# %% [markdown]
# ## Setup

# %%
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
if "google.colab" in sys.modules:  # install the course's package with its extras
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "regkeras[course] @ git+https://github.com/regkeras/regkeras"], check=True)

# %%
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

import regkeras

SEED = 0  # the exact comparisons (sections 1 and 5) use one seed: they are identities
SEEDS = (0, 1, 2)  # the measured effect (section 4) is repeated over three seeds
keras.utils.set_random_seed(SEED)
SCALE = float(os.environ.get("REGKERAS_SCALE", "1"))  # 1 = the committed CPU run; try 4+ with a GPU

# %% [markdown]
# A one-layer character LSTM (256 units) on a 20,000-character slice of Tiny Shakespeare:
# the first 30% (6,000 characters) for training, the next 60% (12,000) for validation and the
# last 10% (2,000, not used in this chapter) for test. The training set is tiny on purpose: the
# model overfits within about ten epochs, which is what we want to watch. The validation set is
# large on purpose: every decision in this chapter is read off the validation curve, so that
# curve must measure the model rather than the luck of a short text (section 4 measures its
# noise). `REGKERAS_SCALE=4` uses 80,000 characters and up to 160
# epochs (not run here).
#
# The training windows are **not shuffled** here: every epoch sees the same order, so two runs
# from the same seed are identical step by step. That makes the exact comparisons below
# possible (for resuming, a per-epoch *seeded* shuffle works too).

# %%
text = regkeras.load_text("tiny_shakespeare")[: int(20_000 * SCALE)]
vocab = regkeras.build_vocabulary(text, level="char")
train_ids, val_ids, _ = regkeras.split_text(vocab.encode(text), fractions=(0.3, 0.6, 0.1))
print(f"train {len(train_ids):,} characters, validation {len(val_ids):,} characters")
train_ds = regkeras.window_dataset(train_ids, 16, 32, shuffle=False)
val_ds = regkeras.window_dataset(val_ids, 16, 64, shuffle=False)
MAX_EPOCHS, PATIENCE = int(40 * SCALE), 5  # patience 5: the low end of the notes' 5-10


def make_model(seed=SEED):
    keras.utils.set_random_seed(seed)  # the same initial weights every time
    model = regkeras.build_language_model(vocab.size, embedding_dim=32, units=256,
                                          num_layers=1, seed=seed)
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
assert stop.stopped_epoch == keras_stop.stopped_epoch == scratch["stopped_epoch"], "stops differ"
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
print(f"patience {PATIENCE}: Keras rule stops at index", stop_epoch(curve, PATIENCE),
      "| notes' rule stops at index", stop_epoch(curve, PATIENCE, notes_rule=True))
assert stop_epoch(curve, PATIENCE) == 4 + PATIENCE
assert stop_epoch(curve, PATIENCE, notes_rule=True) == stop_epoch(curve, PATIENCE) + 1


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


def keras_early_stopping(**kwargs):
    return keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True, **kwargs)


short = curve[:7]  # the run ends 2 epochs after the best, patience 3 never runs out
print("ends early, keras:", drive(keras_early_stopping(), short),
      "| regkeras:", drive(regkeras.BestWeightsEarlyStopping(patience=3), short))
warm = [2.0, 1.5, 1.8, 1.9, 2.0, 2.1, 2.2]  # best at index 1, inside a warm-up of 3 epochs
print("warm-up,    keras:", drive(keras_early_stopping(start_from_epoch=3), warm),
      "| regkeras:", drive(regkeras.BestWeightsEarlyStopping(patience=3, start_from_epoch=3), warm))

# %%
assert drive(keras_early_stopping(), short) == 4
assert drive(regkeras.BestWeightsEarlyStopping(patience=3, start_from_epoch=3), warm) == 1
assert drive(keras_early_stopping(start_from_epoch=3), warm) != 1

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
regkeras.plot_history(monitor, title=f"seed {SEED}: early stopping, patience {PATIENCE}")
plt.show()

# %% [markdown]
# **The notes' example epochs do not add up.** The notes give two early-stopping examples.
# In the first ("Four weapons") the validation loss is 2.4, 1.3, 1.8, 2.2 at epochs 1, 5, 10,
# 15, and the advice is "STOP at 15, go back to epoch 10 (best validation loss)". In the
# second ("Example 1") it is 4.4, 1.3, 1.0, 1.2, 1.25 at epochs 0, 50, 100, 150, 155, with
# patience 5, and "early stopping triggered" at 155. Draw a curve through each table (straight
# lines between the points the notes give) and hand it to the same stopping rule and to the
# library callback:

# %%
def through(table):
    """Epochs and a validation curve through the notes' (epoch: loss) points, linear between."""
    epochs = np.arange(min(table), max(table) + 1)
    return epochs, np.interp(epochs, list(table), list(table.values()))


notes_examples = {"four weapons": {1: 2.4, 5: 1.3, 10: 1.8, 15: 2.2},
                  "example 1": {0: 4.4, 50: 1.3, 100: 1.0, 150: 1.2, 155: 1.25}}
replayed = {}
for name, table in notes_examples.items():
    epochs, vals = through(table)
    stop_at, late_stop = stop_epoch(vals, PATIENCE), stop_epoch(vals, PATIENCE, notes_rule=True)
    kept = drive(regkeras.BestWeightsEarlyStopping(patience=PATIENCE), vals)
    replayed[name] = dict(best=epochs[np.argmin(vals)], stop=epochs[stop_at], kept=epochs[kept])
    print(f"{name}: best epoch {epochs[np.argmin(vals)]}, patience {PATIENCE} stops at epoch "
          f"{epochs[stop_at]} (notes' `>` rule: {epochs[late_stop]}), the callback keeps epoch "
          f"{epochs[kept]}")

# %%
assert replayed["four weapons"] == dict(best=5, stop=10, kept=5)
assert replayed["example 1"] == dict(best=100, stop=105, kept=100)

# %% [markdown]
# In the first example the weights to go back to are epoch 5's (val 1.3), not epoch 10's
# (1.8): epoch 10 is where overfitting became *visible*, and with patience 5 it is also where
# training stops — there is no need to continue to epoch 15. In the second, a best epoch at
# 100 and patience 5 stop training at epoch 105 (106 with the notes' `>`), not 155; stopping at
# 155 would take a patience of 55, or a validation loss that kept improving until epoch 150,
# where the notes' own table says 1.2, worse than the 1.0 of epoch 100.
#
# **The fitness-journey analogy** ("work out more → get fit → keep working → get injured;
# early stopping = stop before the injury") gets the shape right: more training helps until it
# hurts. It gets the mechanism wrong in two ways. Early stopping cannot stop *before* the
# decline: it only knows the peak has passed after `patience` epochs of getting worse, so it
# always trains past the best epoch (by exactly `PATIENCE` epochs: that is how the rule
# works). And the damage is not permanent: the best weights were saved, so training goes back to the fittest
# day, which no athlete can. What stopping saves is compute; what restoring saves is the model.

# %% [markdown]
# ## 4. Three seeds: where the best epoch falls and what it is worth
#
# One run shows the idea; a claim about what early stopping *gains* needs more than one seed.
# Train each seed for a fixed budget of 20 epochs **without** stopping, then replay the
# stopping rule on its validation curve (sections 1 and 3 showed the rule and the callbacks
# agree on any curve). That gives, per seed, the best epoch, the stop epoch, and three
# validation losses: at the kept (best) weights, at the stop without restoring, and at the end
# of the budget, the model you get without early stopping.

# %%
BUDGET = int(20 * SCALE)
seed_runs = {}
for seed in SEEDS:
    model = make_model(seed)
    tracker = regkeras.BestWeightsEarlyStopping(patience=BUDGET)  # never stops; restores the best
    curves = model.fit(train_ds, validation_data=val_ds, epochs=BUDGET, verbose=0,
                       callbacks=[tracker]).history
    val = np.asarray(curves["val_loss"])
    stop_at = stop_epoch(val, PATIENCE)
    assert stop_at is not None, f"seed {seed}: patience never ran out within {BUDGET} epochs"
    kept = int(np.argmin(val[: stop_at + 1]))  # what early stopping keeps
    seed_runs[seed] = dict(curves=curves, best=int(np.argmin(val)), kept=kept, stop=stop_at,
                           kept_val=val[kept], stop_val=val[stop_at], last_val=val[-1],
                           # the text's noise, measured at the kept weights the tracker restored
                           se=regkeras.heldout_loss(model, val_ids, seq_len=16)[1])
    print(f"seed {seed}: best epoch {kept + 1}, stop after {stop_at + 1}; val loss kept "
          f"{val[kept]:.3f}, at the stop {val[stop_at]:.3f}, after {BUDGET} epochs {val[-1]:.3f}")

# %%
def over_seeds(key):
    return regkeras.seed_stats([seed_runs[seed][key] for seed in SEEDS])


best_epoch = regkeras.seed_stats([seed_runs[s]["kept"] + 1 for s in SEEDS])
stop_after = regkeras.seed_stats([seed_runs[s]["stop"] + 1 for s in SEEDS])
kept_val, stop_val = over_seeds("kept_val"), over_seeds("stop_val")
last_val = over_seeds("last_val")
print(f"over seeds {SEEDS}: best epoch {best_epoch.format('.1f')}, stop after "
      f"{stop_after.format('.1f')} of {BUDGET}")
print(f"validation loss (nats/char): kept {kept_val}, at the stop {stop_val}, "
      f"after {BUDGET} epochs {last_val}")
print(f"early stopping gains {last_val.mean - kept_val.mean:.3f} nats/char over the last epoch "
      f"and trains {BUDGET - stop_after.mean:.1f} fewer epochs")
se = over_seeds("se")
print(f"standard error of the kept validation loss on {len(val_ids):,} characters: {se}; "
      f"the gain is {(last_val.mean - kept_val.mean) / se.mean:.0f} standard errors")

# %%
section_1_curve = history.history["val_loss"]  # seed 0 is section 1's run, continued
np.testing.assert_allclose(seed_runs[SEED]["curves"]["val_loss"][: len(section_1_curve)],
                           section_1_curve, rtol=1e-5)
for seed in SEEDS:
    run = seed_runs[seed]
    assert run["kept"] == run["best"], f"seed {seed}: a lower minimum came after the stop"
    assert run["stop"] - run["kept"] == PATIENCE
assert max(best_epoch.values) - min(best_epoch.values) <= 2, "best epochs spread widely"
assert regkeras.clearly_lower(kept_val, last_val), "keeping the best should beat the last epoch"
assert regkeras.clearly_lower(kept_val, stop_val), "restoring should beat stopping alone"
assert last_val.mean - kept_val.mean > 4 * max(se.values), "the gain should dwarf the text's noise"

# %%
regkeras.plot_history({f"seed {s}": seed_runs[s]["curves"] for s in SEEDS},
                      stopped={f"seed {s}": seed_runs[s]["stop"] for s in SEEDS}, gap=False,
                      title=f"{BUDGET} epochs per seed; ✕: where patience {PATIENCE} would stop")
plt.show()

# %% [markdown]
# (Seeds 0 and 2 share their best and stop epochs, so their marks overlap.) What the three
# seeds say (numbers printed above):
#
# * **The best epoch is stable**: epoch 8.3 ± 0.6 (8, 9, 8), and patience 5 found the true
#   minimum of the whole 20-epoch budget in every seed: no lower validation loss came after
#   the stop, which by the rule's construction comes exactly 5 epochs after the best.
# * **Keeping the best weights is worth far more than any noise.** The kept model's
#   validation loss (2.507 ± 0.012 nats/char) is 0.670 nats/char below the model after 20
#   epochs (3.178 ± 0.070): many times the seed spread, and about 26 times the standard error
#   of one validation loss on 12,000 characters (0.026, measured over non-overlapping windows
#   by `regkeras.heldout_loss`). Stopping alone, without restoring, keeps `PATIENCE` epochs of
#   overfitting (2.670 ± 0.016 at the stop).
# * **Why patience 5** (the low end of the notes' 5–10): on this curve the validation loss
#   rises steadily after its minimum, so five epochs are enough to be sure, and every extra
#   epoch of patience is an epoch of pure overfitting paid for on every run. A noisier curve
#   (smaller validation set, heavy dropout, a larger learning rate) or one with plateaus needs
#   more patience; exercise 1 measures the trade-off.
#
# The validation split is large for the same reason: the standard error shrinks like one over
# the square root of the text's length, and a curve read off a few thousand characters would
# put the "best" epoch partly where the noise happens to dip.

# %% [markdown]
# ## 5. Resuming an interrupted run
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
#   Our loop, `regkeras.BestWeightsEarlyStopping` and Keras'
#   `EarlyStopping(restore_best_weights=True)` stopped at the same epoch with identical
#   weights, and a killed run resumed with `ResumableBackupAndRestore` ended exactly where an
#   uninterrupted one did.
# * Keep the weights of the *minimum* of the validation curve, not of the epoch where
#   overfitting became visible: the notes' first example should go back to epoch 5, not 10, and
#   a best epoch of 100 with patience 5 stops at 105, not 155.
# * Over three seeds, with 12,000 validation characters, the best epoch is stable and the kept
#   weights beat the last epoch of a 20-epoch budget by far more than the seed spread; the
#   stop always comes `patience` epochs after the best.
# * The notes' `no_improve > patience` waits `patience + 1` epochs; Keras waits `patience`.
#   Keras 3 restores the best weights however training ends, but ignores the warm-up epochs;
#   tf.keras 2.x kept the last weights when `epochs` ran out first.

# %% [markdown]
# ## Exercises
#
# 1. Rerun section 4 with `PATIENCE` 1, 3 and 10. How many epochs does each cost, and is the
#    kept validation loss ever worse than with 5? Where would you set it for this model?
# 2. Add `min_delta=0.01` to the early-stopping callbacks. Does the run stop earlier? Why can
#    `min_delta` make the kept weights slightly worse than the true minimum?
# 3. Turn on `shuffle=True` with a fixed `seed` in `window_dataset`. Does the resumed run still
#    match the uninterrupted one? What would you need to store to make it match?
# 4. (Open) Shrink the validation split to 3,000 characters (`fractions=(0.3, 0.15, 0.55)`)
#    and rerun section 4 with five seeds. How much do the best epochs and the kept losses
#    scatter now, and how should that noise influence the choice of `patience`?
