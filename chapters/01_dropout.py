# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Dropout: random forgetting
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/regkeras/regkeras/blob/main/chapters/01_dropout.ipynb)
#
# **The question.** "If I switch off random units while training, why does the network get
# *better*, and where exactly in an LSTM should the switching-off happen?"
#
# In this chapter you will:
#
# 1. write dropout yourself in three lines of `keras.random`, and check that it is what
#    `keras.layers.Dropout` does, including the `1 / (1 - p)` rescaling that the usual
#    one-line description ("set some neurons to 0") leaves out;
# 2. look at the masks: a fresh mask at every time step (Zaremba et al., 2014), one mask per
#    sequence (variational or *locked* dropout, Gal & Ghahramani, 2016), a mask on the
#    recurrent weights (weight drop, Merity et al., 2017) and a mask on whole words
#    (embedding dropout);
# 3. train the same language model with and without dropout and measure two claims:
#    the gap between training and validation loss shrinks, and the trained network keeps
#    working when some of its units are knocked out (the "sports team" picture).

# %% [markdown]
# ## Setup

# %%
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
if "google.colab" in sys.modules:
    # %pip install -q "regkeras @ git+https://github.com/regkeras/regkeras"

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

import regkeras

SEED = int(os.environ.get("REGKERAS_SEED", "0"))
keras.utils.set_random_seed(SEED)
SCALE = float(os.environ.get("REGKERAS_SCALE", "1"))  # 1 = the committed CPU run; try 4+ with a GPU

# %% [markdown]
# `SCALE=1` is the committed CPU run: 1,500 recipe words (about 7,000 characters) and 30 epochs
# per model, a few minutes on a laptop. At full scale (`REGKERAS_SCALE=4`) the corpus is 6,000
# words and each model trains for 120 epochs.
#
# ## 1. Dropout in three lines
#
# During training, dropout multiplies each activation by a random *keep* bit: 0 with
# probability `p`, 1 otherwise. The course notes stop there ("randomly disable some
# neurons"), but that is only half of it: the surviving values are also multiplied by
# `1 / (1 - p)`. This "inverted" scaling keeps the expected value of every unit unchanged,
# so at test time, when nothing is dropped, the next layer sees inputs of the same size as
# during training and the layer can simply be switched off.

# %%
def apply_keep_mask(x, keep, rate):
    """Zero `x` where `keep` is False and scale the rest by 1 / (1 - rate)."""
    return ops.where(keep, x / (1.0 - rate), ops.zeros_like(x))


def inverted_dropout(x, rate, seed_generator):
    """Drop each entry of `x` with probability `rate` (one fresh mask for every entry)."""
    keep = keras.random.uniform(ops.shape(x), seed=seed_generator) >= rate
    return apply_keep_mask(x, keep, rate)


seeds = keras.random.SeedGenerator(SEED)
x = ops.arange(1.0, 9.0)
print("x        ", ops.convert_to_numpy(x))
print("dropped  ", ops.convert_to_numpy(inverted_dropout(x, 0.5, seeds)))

# %% [markdown]
# Why the rescaling matters: average many dropped copies of a vector of ones. With the
# `1 / (1 - p)` factor the average stays 1; the notes' plain "set to 0" version shrinks it to
# `1 - p`, so a network trained that way would see inputs twice as large (for `p = 0.5`) at
# test time as it ever saw in training.

# %%
rate = 0.5
ones = ops.ones((20000, 8))
mean_inverted = float(ops.mean(inverted_dropout(ones, rate, seeds)))
mean_plain = float(ops.mean(ops.cast(keras.random.uniform((20000, 8), seed=seeds) >= rate,
                                     "float32")))
print(f"mean after inverted dropout: {mean_inverted:.3f}; after plain zeroing: {mean_plain:.3f}")
assert abs(mean_inverted - 1.0) < 0.02 and abs(mean_plain - (1 - rate)) < 0.02

# %% [markdown]
# ## 2. The same thing as `keras.layers.Dropout`
#
# `keras.layers.Dropout` draws its random bits with the backend's own stateless dropout op,
# so the same seed does not give the same bits as our `keras.random.uniform`. What must agree
# is the logic and the statistics: every output of the layer is either 0 or `x / (1 - p)`
# (so our `apply_keep_mask`, given the layer's keep pattern, reproduces it exactly), the
# fraction kept is `1 - p` for both, and at inference the layer does nothing.

# %%
rate = 0.3
x = keras.random.normal((64, 256), seed=seeds)  # no exact zeros
y = keras.layers.Dropout(rate, seed=SEED)(x, training=True)
keep_keras = ops.not_equal(y, 0.0)
np.testing.assert_allclose(apply_keep_mask(x, keep_keras, rate), y, rtol=1e-6)
np.testing.assert_allclose(keras.layers.Dropout(rate)(x, training=False), x)

kept = {"keras.layers.Dropout": float(ops.mean(ops.cast(keep_keras, "float32"))),
        "inverted_dropout": float(ops.mean(ops.cast(
            ops.not_equal(inverted_dropout(x, rate, seeds), 0.0), "float32")))}
sigma = np.sqrt(rate * (1 - rate) / np.prod(x.shape))  # binomial standard error
print({k: round(v, 4) for k, v in kept.items()}, f"expected {1 - rate} +- {sigma:.4f}")
assert all(abs(v - (1 - rate)) < 4 * sigma for v in kept.values())

# %% [markdown]
# ## 3. Where the masks go in a recurrent network
#
# A language model's activations have a time axis, `[batch, time, features]`, and that raises
# a question a feed-forward net never asks: should the mask change from one time step to the
# next?
#
# * **Zaremba et al. (2014)**: `keras.layers.Dropout` on the sequence, only on the
#   *non-recurrent* connections (after the embedding, between layers, before the softmax).
#   Each step gets a fresh mask. The recurrent path `h[t-1] -> h[t]` is left alone, because
#   a fresh mask there at every step would erase the memory a little more at each step.
# * **Variational / locked dropout (Gal & Ghahramani, 2016)**: one mask per sequence, reused
#   at every step (`regkeras.LockedDropout`). With a fixed mask it is also safe to drop the
#   recurrent state itself: that is what `keras.layers.LSTM(dropout=..., recurrent_dropout=...)`
#   does, with one mask per sequence for the inputs and one for `h[t-1]`.
#
# Our scratch version of locked dropout draws a mask of shape `[batch, 1, features]` and lets
# broadcasting repeat it along time:

# %%
def locked_dropout(x, rate, seed_generator):
    """One keep-mask per sequence, shared by all time steps of `x` ([batch, time, features])."""
    batch, _, features = ops.shape(x)
    keep = keras.random.uniform((batch, 1, features), seed=seed_generator) >= rate
    return apply_keep_mask(x, keep, rate)


x = keras.random.normal((8, 40, 24), seed=seeds)
y = regkeras.LockedDropout(0.5, seed=SEED)(x, training=True)
keep_locked = ops.not_equal(y[:, :1, :], 0.0)  # the mask read off the first step
np.testing.assert_allclose(apply_keep_mask(x, keep_locked, 0.5), y, rtol=1e-6)

zaremba = ops.convert_to_numpy(keras.layers.Dropout(0.5, seed=SEED)(x, training=True)) != 0
locked = ops.convert_to_numpy(y) != 0
scratch = ops.convert_to_numpy(locked_dropout(x, 0.5, seeds)) != 0


def changes_over_time(keep):
    """Fraction of (sequence, unit) pairs whose keep bit changes at some step."""
    return float((keep != keep[:, :1, :]).any(axis=1).mean())


print({name: changes_over_time(k) for name, k in
       [("Dropout (Zaremba)", zaremba), ("LockedDropout", locked), ("scratch locked", scratch)]})
assert changes_over_time(locked) == changes_over_time(scratch) == 0.0
assert changes_over_time(zaremba) > 0.99

# %% [markdown]
# Two more places to drop, both from AWD-LSTM (Merity et al., 2017):
#
# * **Weight drop** (`regkeras.WeightDropLSTM`): DropConnect on the hidden-to-hidden matrix
#   `U`. One mask over `U`'s entries is drawn per batch, and every step of every sequence runs
#   with the same thinned matrix. The state `h` itself is never zeroed, and the layer works with
#   Keras' fused LSTM math unchanged. At inference it is a plain LSTM.
# * **Embedding dropout** (`regkeras.EmbeddingDropout`): drop whole rows of the embedding
#   matrix, that is whole *words*: a dropped word reads as a zero vector everywhere it occurs in
#   the batch.
#
# We check the two claims we rely on: weight drop at inference computes what
# `keras.layers.LSTM` computes with the same weights, and a dropped word is dropped at all its
# occurrences.

# %%
xs = keras.random.normal((2, 6, 5), seed=seeds)
lstm = keras.layers.LSTM(12, return_sequences=True)
weight_drop = regkeras.WeightDropLSTM(12, weight_dropout=0.5, return_sequences=True, seed=SEED)
lstm(xs), weight_drop(xs)
weight_drop.set_weights(lstm.get_weights())
np.testing.assert_allclose(weight_drop(xs), lstm(xs), atol=1e-6)
difference = float(ops.max(ops.abs(weight_drop(xs, training=True) - lstm(xs))))
print(f"max |training - inference| of the weight-dropped LSTM: {difference:.3f}")
u_mask = ops.convert_to_numpy(weight_drop.sample_weight_mask())  # [units, 4 * units]

embedding = regkeras.EmbeddingDropout(12, 6, rate=0.3, seed=SEED)
words = np.tile(np.arange(12), (3, 4))  # every word 4 times in each of 3 rows
vectors = ops.convert_to_numpy(embedding(words, training=True))  # [3, 48, 6]
zeroed = (vectors == 0).all(-1)
per_word = [np.unique(zeroed[words == w]) for w in range(12)]
assert all(len(u) == 1 for u in per_word), "a word is either dropped everywhere or nowhere"
print("dropped words:", [w for w in range(12) if per_word[w][0]])

# %% [markdown]
# The four masks side by side (white = kept, black = dropped). Time runs left to right in the
# first two: Zaremba's mask is salt and pepper, the locked mask is horizontal stripes, a unit
# is either in or out for the whole sequence. The weight-drop mask lives on the matrix `U`
# (rows: `h[t-1]`, columns: the four gates), and embedding dropout blacks out a word at every
# position where it occurs (our toy sentence repeats every 12 words, so the columns repeat).

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3))
panels = [(zaremba[0].T, "Dropout: fresh mask per step", "time step", "unit"),
          (locked[0].T, "LockedDropout: one mask per sequence", "time step", "unit"),
          (u_mask, "WeightDropLSTM: mask on U", "gate unit", "h[t-1] unit"),
          (vectors[0].T != 0, "EmbeddingDropout: whole words", "position", "embedding dim")]
for ax, (image, title, xlabel, ylabel) in zip(axes, panels):
    ax.imshow(image, cmap="gray", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. All of it behind one builder
#
# `regkeras.build_language_model` places these layers for us. `dropout` is Zaremba's
# placement, `variational=True` swaps the per-step masks for locked ones, `recurrent_dropout`
# is Keras' own variational dropout on `h[t-1]`, `weight_drop` swaps the LSTM for
# `WeightDropLSTM`, and `embedding_dropout` swaps the embedding for `EmbeddingDropout`.
# `regkeras.describe` reads the switches back from the layers. (On a CPU a plain LSTM is
# `ProjectedLSTM`: the same function and weights as `keras.layers.LSTM`, trained about 1.5x
# faster by a hand-written backward pass, `regkeras.fused`; on a GPU the builder picks
# `keras.layers.LSTM`, which runs cuDNN there.)

# %%
variants = {
    "Zaremba": dict(dropout=0.5),
    "variational": dict(dropout=0.5, variational=True, recurrent_dropout=0.25),
    "AWD-style": dict(dropout=0.4, variational=True, weight_drop=0.5, embedding_dropout=0.1),
}
for name, switches in variants.items():
    model = regkeras.build_language_model(30, embedding_dim=8, units=16, seed=SEED, **switches)
    layers = [type(layer).__name__ for layer in model.layers[1:-1]]
    print(f"{name:12s} {regkeras.describe(model, as_text=True)}\n{'':12s} {' -> '.join(layers)}")

# %% [markdown]
# ## 5. Experiment: does dropout close the gap?
#
# The setting of chapter 0, where an unregularized LSTM memorized its training text: a
# character-level model with 256 units on 1,500 words of generated recipes, whose exact
# entropy rate (the best loss any model can reach on new text) we know. We train it twice
# from the same initial seed, once as it is and once with `dropout=0.5` at Zaremba's places
# (here, with one layer: after the embedding and before the softmax).

# %%
NUM_WORDS = int(1500 * SCALE)  # full scale (SCALE=4): 6,000 words
EPOCHS = int(30 * SCALE)  # full scale: 120 epochs
corpus = regkeras.load_corpus("recipes", num_words=NUM_WORDS, seed=SEED)
train_ds = corpus.window_dataset("train", 64, 16, seed=SEED)
val_ds = corpus.window_dataset("val", 64, 64, shuffle=False, drop_remainder=False)
print(corpus, f"entropy floor {corpus.entropy_rate:.3f} nats/char")


def train_model(dropout):
    keras.utils.set_random_seed(SEED)  # same initial weights and batch order for both runs
    model = regkeras.build_language_model(corpus.vocab_size, embedding_dim=32, units=256,
                                          num_layers=1, dropout=dropout, seed=SEED)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(train_ds, validation_data=val_ds, epochs=EPOCHS, shuffle=False,
                        verbose=0)  # train_ds reshuffles itself every epoch
    return model, history


baseline, baseline_history = train_model(dropout=0.0)
regularized, regularized_history = train_model(dropout=0.5)

# %%
histories = {"no dropout": baseline_history, "dropout 0.5": regularized_history}
fig = regkeras.plot_history(histories, title="Train (solid) vs validation (dashed)")
fig.axes[0].axhline(corpus.entropy_rate, color="black", linestyle=":", label="entropy floor")
fig.axes[0].legend()
fig

# %%
gaps = {}
for name, history in histories.items():
    train_loss, val_loss = history.history["loss"][-1], history.history["val_loss"][-1]
    gaps[name] = val_loss - train_loss
    print(f"{name:12s} final train {train_loss:.3f}  val {val_loss:.3f}  gap {gaps[name]:+.3f}  "
          f"best val {min(history.history['val_loss']):.3f}")
assert gaps["dropout 0.5"] < gaps["no dropout"] - 0.15, (
    f"dropout should shrink the train-val gap: {gaps['dropout 0.5']:.3f} vs "
    f"{gaps['no dropout']:.3f} without dropout")

# %% [markdown]
# Without dropout the training loss dives under the entropy floor (impossible on new text:
# the model is reciting its training set) while the validation loss turns back up. With
# dropout the training loss, measured *with* the masks on, stays level with the validation
# loss, which is measured without them: the gap is about zero (slightly negative in some
# runs). Two honest caveats: a
# negative gap does not mean the model is better on new text than on old, only that the
# training number is taken from a handicapped network; and at this small scale the dropout
# run's best validation loss is only a little lower (by 0.02–0.04 nats with seeds 0, 1, 2). The difference that dropout buys here is mostly
# *stability*: the baseline must be stopped at the right epoch (chapter 4), the dropout
# model can keep training.
#
# ## 6. The sports team, measured
#
# The notes' analogy: a team that always passes to its star loses when the star is injured;
# a team where everyone can pass does not. Dropout trains with random "injuries", so the
# claim is that a dropout-trained network relies less on any single unit. We test it
# directly: after training, knock out a growing fraction of the 256 LSTM output units before
# the softmax layer (the same units for both models) and watch the validation loss. There
# are two ways to injure a unit, and the difference turns out to matter:
#
# * **zeroed**: the units are set to 0 and nothing else changes;
# * **zeroed and rescaled**: the surviving units are multiplied by `1 / (1 - fraction)`,
#   exactly the kind of injury inverted dropout rehearses in training.

# %%
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
n = (corpus.val_ids.size - 1) // 64 * 64
val_x = corpus.val_ids[:n].reshape(-1, 64)  # the validation text as 64-character rows
val_y = corpus.val_ids[1:n + 1].reshape(-1, 64)


def lstm_outputs(model):
    """The LSTM's output sequence on the validation rows, [rows, 64, units]."""
    return keras.Model(model.input, model.get_layer("rnn_1").output).predict(val_x, verbose=0)


def knockout_curve(model, hidden, fractions, rescale, repeats=5):
    """Validation loss for each fraction of the LSTM's output units knocked out."""
    softmax = model.get_layer("softmax")  # the dropout layer in between is off at inference
    units = hidden.shape[-1]
    curve = []
    for fraction in fractions:
        rng = np.random.default_rng(SEED)  # the same injured units for every model
        losses = []
        for _ in range(repeats):
            keep = np.ones(units, "float32")
            keep[rng.choice(units, int(fraction * units), replace=False)] = 0.0
            scale = 1.0 / (1.0 - fraction) if rescale else 1.0
            losses.append(float(loss_fn(val_y, softmax(hidden * keep * scale))))
        curve.append(np.mean(losses))
    return np.array(curve)


models = {"no dropout": baseline, "dropout 0.5": regularized}
hidden = {name: lstm_outputs(model) for name, model in models.items()}
# With nothing knocked out this is just the model's own validation loss:
for name, model in models.items():
    np.testing.assert_allclose(knockout_curve(model, hidden[name], [0.0], rescale=False)[0],
                               float(loss_fn(val_y, model.predict(val_x, verbose=0))),
                               rtol=1e-4)

# %%
fractions = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
rise = {}
for name, model in models.items():
    for rescale in (False, True):
        curve = knockout_curve(model, hidden[name], fractions, rescale)
        rise[name, rescale] = curve - curve[0]

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
for ax, rescale in zip(axes, (False, True)):
    for name in models:
        ax.plot(np.array(fractions) * 100, rise[name, rescale], marker="o", label=name)
    ax.set(xlabel="% of LSTM units knocked out at test time",
           title="zeroed and rescaled" if rescale else "zeroed")
axes[0].set_ylabel("rise in validation loss (nats)")
axes[0].legend()
plt.show()
for (name, rescale), curve in rise.items():
    print(f"{name:12s} {'rescaled' if rescale else 'zeroed  '} loss rise: {np.round(curve[1:], 3)}")

# %%
mean_rise = {key: float(curve[1:].mean()) for key, curve in rise.items()}
print({f"{name}, {'rescaled' if r else 'zeroed'}": round(v, 3)
       for (name, r), v in mean_rise.items()})
assert mean_rise["dropout 0.5", True] < 0.6 * mean_rise["no dropout", True], (
    f"the dropout-trained model should shrug off rescaled knockouts: mean loss rise "
    f"{mean_rise['dropout 0.5', True]:.3f} vs {mean_rise['no dropout', True]:.3f} without dropout")

# %% [markdown]
# The analogy holds, with a twist the notes do not mention. Against the injury it rehearsed
# (units missing, the others turned up), the dropout-trained model loses about a quarter of
# what the baseline loses (0.06 against 0.21–0.26 nats on average, in our runs with seeds 0,
# 1 and 2): its units have learned to cover for each other. Against plain zeroing the two
# curves are close (the dropout model ahead by only 0.01–0.04 nats on average in the same
# runs): removing units without turning up the rest also shrinks the logits, and that costs
# both networks about the same. Dropout spreads the work over many units; it does not
# make any of them spare, and no network shrugs off losing 60% of its units.
#
# ## Summary
#
# * Dropout multiplies activations by random keep bits **and** rescales the survivors by
#   `1 / (1 - p)`, so the expected activation is unchanged and the layer is simply off at test
#   time. Our three-line version matches `keras.layers.Dropout` in logic and statistics.
# * In a recurrent network the question is the time axis: Zaremba's dropout draws a fresh
#   mask per step and stays off the recurrent path; locked (variational) dropout reuses one
#   mask per sequence, which also makes it safe on `h[t-1]` (`recurrent_dropout`); weight drop
#   masks the recurrent matrix instead of the state; embedding dropout removes whole words.
# * `regkeras.build_language_model(dropout=..., variational=..., recurrent_dropout=...,
#   weight_drop=..., embedding_dropout=...)` places all of them.
# * Measured on the recipes corpus: dropout 0.5 closes the train–validation gap, and the
#   trained network degrades far more gracefully when hidden units are knocked out the way
#   dropout knocks them out (survivors rescaled); against plain zeroing both models suffer
#   about equally.
#
# ## Exercises
#
# 1. Retrain the dropout model with `variational=True` (locked masks). Is the gap different?
#    Is the knockout curve? Why might a model trained with locked masks be *more* robust to a
#    knockout that lasts for the whole sequence, as ours does?
# 2. A third way to injure a unit: replace it by its average value over the validation text
#    instead of 0 ("mean ablation"). Which of the two knockout curves does it resemble, and
#    why?
# 3. Sweep `dropout` over 0.1, 0.3, 0.5, 0.7 and plot the final gap and the best validation
#    loss against the rate. Where does dropout start to underfit?
# 4. (Open-ended) Monte-Carlo dropout keeps the masks on at test time and averages many
#    predictions (`regkeras.generation.mc_dropout_predict`). Does averaging 20 masked
#    predictions beat the single deterministic one on the validation text?
