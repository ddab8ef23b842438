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
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The memorization trap
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/regkeras/regkeras/blob/main/chapters/00_memorization_trap.ipynb)

# %% [markdown]
# ## Overview
#
# *"My model's training loss keeps going down, so why does it get worse on text it has never
# seen?"* That is the question this chapter answers, and the rest of the course is about fixing
# it.
#
# The course notes start with a toy: train on `"hello world hello world"`, test on
# `"hello there"`, and the model says `"world"`. We will:
#
# 1. make that toy real and look at the probabilities the model gives to the next word;
# 2. count parameters against "patterns", because the notes' *"5M parameters vs 100 patterns"*
#    is loose, and the real counts say more;
# 3. split a corpus 80/10/10 and explain why the test part is used only once;
# 4. train an unregularized LSTM on a small corpus whose **best possible** loss is known
#    exactly, and watch its training loss go *below* that floor. No model can get there by
#    learning the language, so the only way is to memorize the training text.

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

import regkeras

SEED = 0
keras.utils.set_random_seed(SEED)

SCALE = float(os.environ.get("REGKERAS_SCALE", "1"))  # 1 = the committed CPU run; try 4+ with a GPU

# %% [markdown]
# ## 1. "hello world hello world" → "hello there"
#
# The training text has one fact in it: after `hello` comes `world`. The test text breaks it.
# The vocabulary knows all three words (plus `<unk>` for anything else), but only the training
# text decides the probabilities.

# %%
train_text = " ".join(["hello world"] * 50)
test_text = "hello there"
vocab = regkeras.build_vocabulary(train_text + " " + test_text, level="word", eos_token=None)
train_ids, test_ids = vocab.encode(train_text), vocab.encode(test_text)
print(vocab.tokens, train_ids[:6], test_ids)

# %% [markdown]
# First, the simplest language model there is, from scratch: count which word follows which
# (a bigram table) and normalize each row.

# %%
counts = np.zeros((vocab.size, vocab.size))
np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
hello, world, there = (vocab.encode(w)[0] for w in ("hello", "world", "there"))
p_count = counts[hello] / counts[hello].sum()
print("P(next | hello) by counting:",
      {token: round(float(p), 3) for token, p in zip(vocab.tokens, p_count)})

# %% [markdown]
# The counting model gives `there` probability 0, so its loss on the test pair is
# $-\log 0 = \infty$. A neural model is smoother than a table, but trained on this text it
# learns the same thing. Here is a tiny LSTM language model (embedding → LSTM → logits) fitted
# on windows of the training text.

# %%
tiny = regkeras.build_language_model(vocab.size, embedding_dim=8, units=16, num_layers=1,
                                     seed=SEED)
tiny.compile(optimizer=keras.optimizers.Adam(0.02),
             loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
windows = np.stack([train_ids[i:i + 9] for i in range(0, len(train_ids) - 9)])
tiny_history = tiny.fit(windows[:, :-1], windows[:, 1:], batch_size=len(windows), epochs=60,
                        verbose=0)
print(f"training loss: {tiny_history.history['loss'][0]:.3f} -> "
      f"{tiny_history.history['loss'][-1]:.4f} nats")

# %% [markdown]
# Now feed it the test text. The logits at position 0 are its guess for the word after
# `hello`; the target is `there`.

# %%
logits = keras.ops.convert_to_numpy(tiny(test_ids[None, :-1]))[0, 0]
p_lstm = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()  # softmax
for token, p in zip(vocab.tokens, p_lstm):
    print(f"  P({token!r:8} | hello) = {p:.4f}")

fig, ax = plt.subplots(figsize=(5, 2.6))
ax.bar(vocab.tokens, p_lstm, color=["grey" if t != "there" else "crimson" for t in vocab.tokens])
ax.set(title="LSTM's next word after 'hello' (test target in red)", ylabel="probability")
plt.show()

# %% [markdown]
# The loss on this one test token is $-\log P(\text{there} \mid \text{hello})$. Computed by
# hand from the logits, it must equal what Keras' sparse cross-entropy (the loss we train
# with) reports:

# %%
test_loss_by_hand = -np.log(p_lstm[there])
test_loss_keras = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
    test_ids[1:2], logits[None, :])
np.testing.assert_allclose(test_loss_by_hand, keras.ops.convert_to_numpy(test_loss_keras),
                           rtol=1e-4)
print(f"test loss on 'there': {test_loss_by_hand:.2f} nats "
      f"(training loss was {tiny_history.history['loss'][-1]:.4f})")

# %%
assert p_lstm[world] > 0.9 and p_lstm[there] < 0.05, (
    f"expected the model to bet on 'world' after 'hello', got P(world)={p_lstm[world]:.3f}, "
    f"P(there)={p_lstm[there]:.3f}")
assert test_loss_by_hand > 10 * tiny_history.history["loss"][-1], "test loss should dwarf train"

# %% [markdown]
# Notice what went wrong, and what did not. Given *this* training text, betting on `world` is
# the right answer: nothing in it hints that anything else can follow `hello`. The model has
# a near-zero training loss and a huge test loss because the training text is too small to
# show the variety of the language. Regularization cannot invent `there`, but it can keep a
# model from being *certain*: add-one smoothing of the count table, the oldest regularizer of
# language modelling, already turns the infinite loss into a finite one:

# %%
p_smoothed = (counts[hello] + 1) / (counts[hello] + 1).sum()
print(f"add-one smoothing: P(there | hello) = {p_smoothed[there]:.3f}, "
      f"loss {-np.log(p_smoothed[there]):.2f} nats instead of infinity")

# %% [markdown]
# ## 2. Parameters vs patterns
#
# The notes explain overfitting as *"5M parameters to learn 100 patterns"*. The intuition is
# right (a model with spare capacity can store the training text itself), but both numbers
# are made up. Let us count for the model and corpus we will train in section 4: a
# character-level LSTM with 256 units on a small slice of the `recipes` corpus.
#
# An LSTM layer has four gates, each with an input kernel, a recurrent kernel and a bias:
# $4\,(u\,(d + u) + u)$ weights for $u$ units and inputs of size $d$.

# %%
NUM_WORDS = int(1500 * SCALE)  # full scale (SCALE=4): 6,000 words
corpus = regkeras.load_corpus("recipes", num_words=NUM_WORDS, seed=SEED)
V, EMBED, UNITS = corpus.vocab_size, 32, 256

by_formula = {"embedding": V * EMBED,
              "lstm": 4 * (UNITS * (EMBED + UNITS) + UNITS),
              "softmax": UNITS * V + V}
model = regkeras.build_language_model(V, embedding_dim=EMBED, units=UNITS, num_layers=1,
                                      seed=SEED)
model.build((None, None))
np.testing.assert_equal(sum(by_formula.values()), model.count_params())
print(by_formula, "total", model.count_params())

# %% [markdown]
# And the "patterns". The `recipes` corpus is generated by a known source (a Markov chain over
# cooking words, `regkeras.RecipeChain`), so we can count its true structure: how many words it
# has and how many word-to-word transitions are allowed. Everything else there is to learn is
# the probabilities of those transitions. The training text itself can also be counted: its
# characters (each one a prediction target) and its distinct character n-grams.

# %%
chain = regkeras.RecipeChain(seed=SEED)
train_chars = corpus.vocab.decode(corpus.train_ids)
print(f"source: {len(chain.words)} words, {int((chain.transition_matrix > 0).sum())} allowed "
      f"transitions")
print(f"training text: {len(train_chars)} characters (= prediction targets)")
for n in (1, 2, 4, 8, 16, 32, 64):
    distinct = len({train_chars[i:i + n] for i in range(len(train_chars) - n + 1)})
    print(f"  distinct {n:2d}-grams: {distinct:5d} of {len(train_chars) - n + 1} positions")

# %% [markdown]
# The real counts tell a sharper story than "5M vs 100":
#
# * The model has about **300,000** parameters; the training text has about **5,700**
#   characters, so there are more than 50 parameters per target it has to predict. That,
#   not a count of abstract "patterns", is what makes memorizing possible: the model can give
#   every training position its own answer.
# * "Patterns" is not one number. The source has ~1,000 word transitions, but in the *text*
#   the number of distinct n-grams grows with n until nearly every 32-character context occurs
#   once. A model that conditions on long contexts (an LSTM reads 64 characters per window
#   here) can key its predictions on contexts that are unique, and a unique context is a
#   memorized position.
# * 5M is the size of a mid-sized language model (e.g. two LSTM layers of ~800 units): at the
#   notes' scale the ratio of parameters to training characters of a small corpus would be
#   larger still.

# %%
assert model.count_params() > 10 * len(train_chars), "many parameters per training target"

# %% [markdown]
# ## 3. The 80/10/10 split, and why the test set is touched once
#
# `regkeras.split_text` cuts a text into three **contiguous** parts: the first 80% to train on,
# the next 10% to *validate* (choose epochs, dropout rates, learning rates: every decision),
# and the last 10% to *test*. Contiguous, because neighbouring windows of text overlap: a random
# split would put near-copies of training windows into the held-out parts.

# %%
text = regkeras.recipes(num_words=NUM_WORDS, seed=SEED)
train_part, val_part, test_part = regkeras.split_text(text)
n = len(text)
print(f"{n} characters -> train {len(train_part)}, val {len(val_part)}, test {len(test_part)}")
assert (len(train_part), len(train_part) + len(val_part)) == (int(n * 0.8), int(n * 0.9))
assert train_part + val_part + test_part == text
assert (len(train_part), len(val_part), len(test_part)) == (
    corpus.train_ids.size, corpus.val_ids.size, corpus.test_ids.size)  # what load_corpus uses
print(corpus)

# %% [markdown]
# Why only once? Every time you look at a number and change something because of it, that
# number stops being an honest estimate: you have picked the run that happened to do well on
# *those* characters. That is the validation set's job, and its loss ends up slightly
# optimistic. The test set stays honest only if no decision ever depended on it, so it is
# evaluated once, at the very end, on the model you already chose. (In section 4 we do
# exactly that: the test loss is computed in one cell, after training.)

# %% [markdown]
# ## 4. Watching a model memorize
#
# The `recipes` corpus has a property no real corpus has: we know its **entropy rate**, the
# average number of nats per character that a perfect model of the source would pay on new text
# (`corpus.entropy_rate`). No model can score below it on held-out text, and a model that has
# learned the language would sit at about that level on training text too. A training loss
# *below* the floor is therefore proof that the model predicts the training characters better
# than the source itself could: it has memorized them.
#
# The model is the unregularized 256-unit LSTM counted above, trained with Adam on windows of
# 64 characters. (`window_dataset` shuffles the training windows itself, so `fit` is told not
# to.)

# %%
floor = corpus.entropy_rate
EPOCHS = int(40 * SCALE)  # full scale: 160 epochs
train_ds = corpus.window_dataset("train", 64, 16, seed=SEED)
val_ds = corpus.window_dataset("val", 64, 64, drop_remainder=False)

model.compile(optimizer=keras.optimizers.Adam(0.01),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
history = model.fit(train_ds, validation_data=val_ds, epochs=EPOCHS, shuffle=False, verbose=0)
train_loss, val_loss = np.array(history.history["loss"]), np.array(history.history["val_loss"])
print(f"entropy floor {floor:.3f} nats/char")
for epoch in range(0, EPOCHS, max(1, EPOCHS // 6)):
    print(f"epoch {epoch + 1:3d}: train {train_loss[epoch]:.3f}  val {val_loss[epoch]:.3f}")
print(f"epoch {EPOCHS:3d}: train {train_loss[-1]:.3f}  val {val_loss[-1]:.3f}")

# %%
fig = regkeras.plot_history(history, title=f"Unregularized LSTM on {NUM_WORDS:,} recipe words")
fig.axes[0].axhline(floor, color="black", linestyle=":", label="entropy floor")
fig.axes[0].legend()
fig

# %% [markdown]
# Two things happen, in this order:
#
# 1. **Overfitting.** For the first epochs both curves fall together: the model is learning
#    the words and the grammar, which help on any recipe text. Then the validation loss bottoms
#    out (the star) and climbs, while the training loss keeps falling. From there on, every
#    step that helps on training text hurts on new text.
# 2. **Memorization.** The training loss crosses the dotted line. The loss Keras reports during
#    an epoch averages over changing weights, so we measure the final model once more on the
#    training windows before asserting it.

# %%
best = int(np.argmin(val_loss))
final_train = model.evaluate(corpus.window_dataset("train", 64, 64, shuffle=False,
                                                   drop_remainder=False), verbose=0)
print(f"best val epoch {best + 1}: val {val_loss[best]:.3f}; at the end val {val_loss[-1]:.3f}")
print(f"final model on training text: {final_train:.3f} nats/char, floor {floor:.3f}")

# %%
assert val_loss[-1] > val_loss.min() + 0.05, (
    f"validation loss should have risen from its minimum {val_loss.min():.3f}, "
    f"ended at {val_loss[-1]:.3f}")
assert train_loss[-1] < train_loss[best] - 0.1, (
    f"training loss should keep falling after the best validation epoch: "
    f"{train_loss[best]:.3f} -> {train_loss[-1]:.3f}")
assert final_train < floor < val_loss[-1], (
    f"expected train {final_train:.3f} < floor {floor:.3f} < val {val_loss[-1]:.3f}")

# %% [markdown]
# The model pays less than the floor on text it has seen and far more than the floor on text it
# has not. The gap between the two is the price of memorization.
#
# Now, the one time we touch the test set:

# %%
test_loss = model.evaluate(corpus.window_dataset("test", 64, 64, drop_remainder=False),
                           verbose=0)
print(f"test loss {test_loss:.3f} nats/char "
      f"({regkeras.bits_per_char(test_loss):.3f} bits/char), floor {floor:.3f}")
assert test_loss > floor, "no model beats the entropy floor on unseen text"

# %% [markdown]
# With `REGKERAS_SCALE=4` (6,000 words, 160 epochs; a GPU helps) the training set is four times
# larger, so memorizing it takes longer, but an unregularized 256-unit LSTM still has some 13
# parameters per training character and ends up the same way. Making it *not* do that, while
# keeping the good part of the curve, is what the next chapters are for.

# %% [markdown]
# ## Summary
#
# * A model is fitted to the training text, not to the language: `hello → world` is the right
#   answer for a training text that never shows anything else, and a model that is sure of it
#   pays dearly (here about 7 nats on one token, thousands of times its training loss) when
#   the test text says otherwise.
# * Overfitting shows as training loss falling while validation loss rises; the validation
#   minimum is where learning the language stopped paying.
# * With a known entropy floor, memorization is not a matter of opinion: a training loss below
#   the floor cannot come from learning the source.
# * The capacity to memorize comes from parameters per training target (≈ 50 here), not from
#   a vague count of "patterns"; distinct long contexts in a text are almost all unique.
# * Split contiguously 80/10/10; make every decision on validation; evaluate test once.

# %% [markdown]
# ## Exercises
#
# 1. Retrain section 4 with `units=32`. How many parameters per training character is that?
#    Does the training loss still cross the floor within 40 epochs?
# 2. Double `NUM_WORDS` and keep everything else fixed. At which epoch does validation loss
#    reach its minimum now, and how far below the floor does the training loss get?
# 3. Run section 4 on a slice of real text instead: `regkeras.load_corpus("tiny_shakespeare")`
#    with `train_ids[:6000]`. There is no floor to draw. What evidence of memorization is left?
# 4. (Open-ended) In section 1, the smoothed count model pays a finite price for `there`.
#    What would the neural equivalent of add-one smoothing be? Keep your answer; later chapters
#    meet several candidates (dropout, label smoothing, weight decay).
