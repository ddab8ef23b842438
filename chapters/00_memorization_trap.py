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
# 4. train an unregularized LSTM (three seeds) on a small corpus whose **best possible** loss
#    is known exactly, and watch its training loss go *below* that floor while its validation
#    loss rises. No model can get there by learning the language, so the only way is to
#    memorize the training text.
#
# **A note on the notes' plan.** The notes' five-year-old explanation announces *"Three
# tricks:"* and then lists four items: dropout, normalization, validation and weight decay.
# The count is off, and so is the list: *validation* is not a trick that changes the model, it
# is the judge that tells us whether any trick worked (and, as early stopping, when to stop).
# The course follows the notes' later section instead: **four weapons** (dropout, chapter 1;
# normalization, chapter 2; weight decay, chapter 3; early stopping, chapter 4), each judged
# on validation text, and the test set kept for one last look.

# %% [markdown]
# ## Setup

# %%
import os
import sys
from collections import Counter, defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
if "google.colab" in sys.modules:  # install the course's package with its extras
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "regkeras[course] @ git+https://github.com/regkeras/regkeras"], check=True)

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

import regkeras

SEED = 0  # the toy and the counts; the experiment of section 4 runs every seed in SEEDS
SEEDS = (0, 1, 2)
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
# The notes explain overfitting by *"Parameters: ~5 million (RNN weights), Unique patterns:
# ~100"*: *"like using a laser-guided missile to kill a fly"*. The intuition is right (a
# model with spare capacity can store the training text itself), but both numbers are made
# up. Let us count.
#
# An LSTM layer has four gates, each with an input kernel, a recurrent kernel and a bias:
# $4\,(u\,(d + u) + u)$ weights for $u$ units and inputs of size $d$. We check the formula
# against Keras on a small layer, then use it.

# %%
def lstm_params(units, input_dim):
    """Weights of one LSTM layer: 4 gates x (input kernel + recurrent kernel + bias)."""
    return 4 * (units * (input_dim + units) + units)


small_lstm = keras.layers.LSTM(24)
small_lstm.build((None, None, 10))
np.testing.assert_equal(lstm_params(24, 10), small_lstm.count_params())

# The notes' "5M parameters", which this course used to gloss as "two LSTM layers of ~800 units":
two_by_800 = lstm_params(800, 800) + lstm_params(800, 800)  # input 800 (an 800-d embedding)
char_input = lstm_params(800, 32) + lstm_params(800, 800)  # first layer fed 32-d characters
print(f"two LSTM layers of 800 units: {two_by_800:,} parameters "
      f"({char_input:,} if the first one reads a 32-d character embedding)")
units_for_5m = next(u for u in range(100, 2000) if 2 * lstm_params(u, u) >= 5_000_000)
print(f"two layers reach 5M at about {units_for_5m} units; one layer of 800 units has "
      f"{lstm_params(800, 800):,}")
assert 9.5e6 < two_by_800 < 11e6, "two 800-unit layers are about 10M parameters, not 5M"
assert char_input > 1.5 * 5_000_000, "even with a narrow input they are well over 5M"

# %% [markdown]
# So "two LSTM layers of ~800 units" are about **10 million** parameters, twice the notes'
# 5M (still 7.8M if the first layer reads a narrow character embedding); 5M is two layers of
# ~560 units, or a single 800-unit layer. (The size is of the
# order of the "medium" and "large" LSTMs of Zaremba et al., 2014: 650 and 1,500 units.)
#
# Now the model and the corpus we will train in section 4: a character-level LSTM with 256
# units on a small slice of the `recipes` corpus.

# %%
NUM_WORDS = int(1500 * SCALE)  # full scale (SCALE=4): 6,000 words
corpus = regkeras.load_corpus("recipes", num_words=NUM_WORDS, seed=SEED)
V, EMBED, UNITS = corpus.vocab_size, 32, 256

by_formula = {"embedding": V * EMBED,
              "lstm": lstm_params(UNITS, EMBED),
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
n_transitions = int((chain.transition_matrix > 0).sum())
print(f"source: {len(chain.words)} words, {n_transitions} allowed transitions")
print(f"training text: {len(train_chars)} characters (= prediction targets)")
distinct = {}
for n in (1, 2, 4, 8, 16, 32, 64):
    distinct[n] = len({train_chars[i:i + n] for i in range(len(train_chars) - n + 1)})
    print(f"  distinct {n:2d}-grams: {distinct[n]:5d} of {len(train_chars) - n + 1} positions")
per_target = model.count_params() / len(train_chars)
print(f"parameters per training character: {per_target:.0f}")

# %% [markdown]
# The real counts tell a sharper story than "5M vs 100":
#
# * The model has about **300,000** parameters and the training text about **5,700**
#   characters: some 50 parameters per target it has to predict. That, not a count of
#   abstract "patterns", is what makes memorizing possible: the model can give every training
#   position its own answer.
# * "Patterns" is not one number. The source has 74 words and about 1,000 allowed word
#   transitions (not ~100 parts of speech), but in the *text* the number of distinct n-grams
#   grows with n until nearly every 32-character context occurs once. A model that conditions
#   on long contexts (an LSTM reads up to 64 characters per window here) can key its
#   predictions on contexts that are unique, and a unique context is a memorized position.
# * The missile and the fly: the analogy says "too big for the job", and that is half of the
#   story. Large models overfit small data without regularization, but with it the larger
#   model usually wins: in Zaremba et al. (2014) the regularized 1,500-unit LSTM reached test
#   perplexity 78.4 on Penn Treebank against 114.5 for the small unregularized one. The cure
#   the course teaches is regularization, not a smaller missile (the notes' tuning guide
#   itself lists both "reduce model size" and "increase model size").

# %%
assert per_target > 10, "many parameters per training target"
assert distinct[32] > 0.99 * (len(train_chars) - 31), "almost every 32-char context is unique"
assert n_transitions > 5 * len(chain.words), "the source has far more than one rule per word"

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
# evaluated once, at the very end, on the model you already chose.
#
# **How big must the held-out parts be?** 10% of this small corpus is about 710 characters,
# only 11 windows of 64. A loss measured on so little text would move by about a tenth of a
# nat from one sample of text to the next (we measure it below), as much as the effects we
# want to see. With a real corpus you would hold out more text. Here the source is known, so
# we can do better: besides the 80/10/10 split we draw two **fresh** samples of 4,000 words
# from the same chain (with other sampling seeds), about 19,000 characters each, and use them
# as the validation and test text of section 4. The training text stays the 80% part.

# %%
fresh_val_ids = corpus.vocab.encode(chain.sample(4000, seed=1001))
fresh_test_ids = corpus.vocab.encode(chain.sample(4000, seed=1002))
for name, ids in (("validation", fresh_val_ids), ("test", fresh_test_ids)):
    assert not (ids == corpus.vocab.unk_id).any(), "the fresh text uses the training alphabet"
    print(f"fresh {name} text: {ids.size:,} characters")

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
# This is the notes' student with a photographic memory, made measurable: perfect on the
# textbook (training loss under the floor), worse on the exam's new questions (validation).
#
# The model is the unregularized 256-unit LSTM counted above, trained with Adam on windows of
# 64 characters, once per seed (the seed sets the initial weights and the batch order; the data
# stay the same). `window_dataset` shuffles the training windows itself, so `fit` is told not
# to. Validation is the fresh 19,000-character text, measured after every epoch.

# %%
floor = corpus.entropy_rate
EPOCHS = int(40 * SCALE)  # full scale: 160 epochs
val_ds = regkeras.window_dataset(fresh_val_ids, 64, 256, shuffle=False, drop_remainder=False)
train_eval_ds = corpus.window_dataset("train", 64, 256, drop_remainder=False)  # every window


def train_unregularized(seed):
    keras.utils.set_random_seed(seed)
    model = regkeras.build_language_model(V, embedding_dim=EMBED, units=UNITS, num_layers=1,
                                          seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    initial = model.evaluate(train_eval_ds, verbose=0)
    history = model.fit(corpus.window_dataset("train", 64, 16, seed=seed),
                        validation_data=val_ds, epochs=EPOCHS, shuffle=False, verbose=0)
    return model, initial, history.history


runs = {seed: train_unregularized(seed) for seed in SEEDS}
print(f"entropy floor {floor:.3f} nats/char")
for seed, (_, initial, h) in runs.items():
    best = int(np.argmin(h["val_loss"]))
    print(f"seed {seed}: before training {initial:.3f}; best val epoch {best + 1} "
          f"(train {h['loss'][best]:.3f}, val {h['val_loss'][best]:.3f}); "
          f"epoch {EPOCHS} train {h['loss'][-1]:.3f}, val {h['val_loss'][-1]:.3f}")

# %% [markdown]
# Before training, every seed's loss is about $\ln 26 = 3.26$ nats: a model that knows nothing
# spreads its bets evenly over the 26 symbols. (The notes' example starts at 4.5, which is
# $\ln 90$, a vocabulary of about 90 characters.)

# %%
assert all(abs(initial - np.log(V)) < 0.15 for _, initial, _ in runs.values())

train_curves = np.array([h["loss"] for _, _, h in runs.values()])
val_curves = np.array([h["val_loss"] for _, _, h in runs.values()])
epochs = np.arange(1, EPOCHS + 1)
best_mean = int(np.argmin(val_curves.mean(0)))

fig, ax = plt.subplots(figsize=(8, 4.2))
for curves, label, color in ((train_curves, "training (Keras, during the epoch)", "C0"),
                             (val_curves, "validation (19k fresh characters)", "C1")):
    mean, sd = curves.mean(0), curves.std(0, ddof=1)
    ax.plot(epochs, mean, color=color, label=f"{label}, mean of {len(SEEDS)} seeds")
    ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.2)
ax.axhline(floor, color="black", linestyle=":", label=f"entropy floor {floor:.3f}")
ax.plot(best_mean + 1, val_curves.mean(0)[best_mean], "k*", markersize=14,
        label=f"lowest mean validation loss (epoch {best_mean + 1})")
ax.set(title=f"Unregularized 256-unit LSTM on {corpus.train_ids.size:,} recipe characters "
             "(band: ± 1 sd)",
       xlabel="epoch", ylabel="loss (nats/char)", ylim=(0, 3.6))
ax.legend()
plt.show()

# %% [markdown]
# Two things happen, in this order:
#
# 1. **Overfitting.** For the first epochs both curves fall together: the model is learning
#    the words and the grammar, which help on any recipe text. Then the validation loss bottoms
#    out (the star) and climbs, while the training loss keeps falling. From there on, every
#    step that helps on training text hurts on new text.
# 2. **Memorization.** The training loss crosses the dotted line. The loss Keras reports during
#    an epoch averages over changing weights, so we measure each final model once more on all
#    training windows before asserting it. The validation loss has a measurable noise of its
#    own: `regkeras.heldout_loss` gives its standard error over the 64-character windows, and
#    we compare it with what the 713-character validation split would have given.

# %%
final_train, val_rise, se_fresh, se_split = [], [], [], []
for seed, (model, _, h) in runs.items():
    final_train.append(model.evaluate(train_eval_ds, verbose=0))
    val_rise.append(h["val_loss"][-1] - min(h["val_loss"]))
    se_fresh.append(regkeras.heldout_loss(model, fresh_val_ids, batch_size=256)[1])
    se_split.append(regkeras.heldout_loss(model, corpus.val_ids)[1])
final_train, val_rise = regkeras.seed_stats(final_train), regkeras.seed_stats(val_rise)
print(f"final model on its training text: {final_train} nats/char (floor {floor:.3f})")
print(f"validation rise from its minimum to epoch {EPOCHS}: {val_rise} nats/char")
print(f"standard error of a validation loss: {np.mean(se_fresh):.3f} on the 19k fresh "
      f"characters, {np.mean(se_split):.3f} on the 713-character split")

# %%
assert regkeras.clearly_lower(final_train.values, [floor] * len(SEEDS)), (
    f"every seed's training loss should be below the floor {floor:.3f}: {final_train}")
assert val_rise.mean > val_rise.sd + 4 * np.mean(se_fresh) and min(val_rise.values) > 0.05, (
    f"validation loss should rise clearly from its minimum: {val_rise}")
assert np.mean(se_split) > 4 * np.mean(se_fresh), "the small split is a noisy judge"

# %% [markdown]
# Every seed pays less than the floor on text it has seen and more than the floor on text it
# has not, and its validation loss ends well above its own minimum (by 0.24 ± 0.06 nats in the
# committed run); the rise is some twenty times the standard error of the fresh validation
# text (about 0.01), so it is not noise. On the 713-character split the standard error is
# about 0.1 nats, some 40 % of the effect: too coarse a judge for it, which is why we did not
# judge by it.
#
# ### How low can a training loss go? The notes' "Epoch 999: loss=0.0001"
#
# The notes' example shows an unregularized character model reaching *"loss=0.0001 (perfect
# fit, useless)"* after 999 epochs. Our memorizing models are at 0.18 ± 0.03 nats/char after
# 40 epochs (printed above) and still falling, but 0.0001 is out of reach for a reason we can
# compute. Each
# training window starts with almost no context: the model must guess the 2nd character from
# the 1st, the 3rd from the first two, and so on, and the same short beginnings are followed
# by different characters in different windows. The best any model can do on these training
# windows, even one that has memorized all of them, is to predict for each context the
# frequencies with which characters follow exactly that context in the training windows. Its
# loss is the *memorizer floor*:

# %%
def memorizer_floor(ids, seq_len=64):
    """Lowest loss any model can reach on the training windows: the conditional entropy of the
    next character given its in-window context, with the training windows' own counts."""
    n_windows = (len(ids) - seq_len - 1) // seq_len + 1
    next_counts = defaultdict(Counter)
    for k in range(n_windows):
        window = ids[k * seq_len: k * seq_len + seq_len + 1]
        for t in range(seq_len):
            next_counts[tuple(window[:t + 1])][int(window[t + 1])] += 1
    nats = sum(-m * np.log(m / sum(c.values())) for c in next_counts.values() for m in c.values())
    return nats / (n_windows * seq_len)


memorized_floor = memorizer_floor(corpus.train_ids)
print(f"memorizer floor {memorized_floor:.4f} < our final training loss {final_train} "
      f"< entropy floor {floor:.3f}")
assert memorized_floor < final_train.mean - final_train.sd and memorized_floor > 100 * 1e-4

# %% [markdown]
# So on these windows no model can go below about 0.03 nats/char, hundreds of times the
# notes' 0.0001; a loss that low needs contexts long enough to make every position unique, which a
# model reading one long text without resets could have. And it would not be worth having:
# a training loss under the entropy floor (0.46 here) is already memorization, and the goal is
# the floor on *new* text. Real text has a floor too, only not known exactly: Shannon (1951)
# estimated the entropy of English at roughly 0.6 to 1.3 bits per character, so a character
# model of real text that is doing its job sits near 1 bit/char on held-out text, with a
# training loss close to that, not at 0.0001.
#
# Now, the one time we touch the test set: the fresh 19,000-character test text (the 714
# characters of the split's test part are too few to say much), for the three final models.

# %%
test_ds = regkeras.window_dataset(fresh_test_ids, 64, 256, shuffle=False, drop_remainder=False)
test_loss = regkeras.seed_stats([model.evaluate(test_ds, verbose=0) for model, _, _ in
                                 runs.values()])
print(f"test loss {test_loss} nats/char ({regkeras.bits_per_char(test_loss.mean):.3f} "
      f"bits/char), floor {floor:.3f}")
assert test_loss.mean - test_loss.sd > floor, "no model beats the entropy floor on unseen text"

# %% [markdown]
# With `REGKERAS_SCALE=4` (6,000 words, 160 epochs; a GPU helps) the training set is four times
# larger, so memorizing it takes longer, but an unregularized 256-unit LSTM still has some 13
# parameters per training character and ends up the same way (not run here). Making it *not*
# do that, while keeping the good part of the curve, is what the next chapters are for.

# %% [markdown]
# ## Summary
#
# * A model is fitted to the training text, not to the language: `hello → world` is the right
#   answer for a training text that never shows anything else, and a model that is sure of it
#   pays dearly (here about 7 nats on one token, thousands of times its training loss) when
#   the test text says otherwise.
# * Overfitting shows as training loss falling while validation loss rises; over three seeds
#   the validation loss ends well above its minimum, by far more than its noise on a
#   19,000-character validation text (a 713-character one would not have been enough).
# * With a known entropy floor, memorization is not a matter of opinion: a training loss below
#   the floor cannot come from learning the source. Nor does it go to 0.0001: these windows
#   allow no less than about 0.03 nats/char, even to a perfect memorizer.
# * The capacity to memorize comes from parameters per training target (≈ 50 here), not from
#   a vague count of "patterns" (and two 800-unit LSTM layers are ≈ 10M parameters, not 5M).
# * Split contiguously 80/10/10; make every decision on validation; evaluate test once.
#   Validation is the judge of the four weapons, not a fifth one.

# %% [markdown]
# ## Exercises
#
# 1. Retrain section 4 with `units=32`. How many parameters per training character is that?
#    Does the training loss still cross the floor within 40 epochs?
# 2. Double `NUM_WORDS` and keep everything else fixed. At which epoch does validation loss
#    reach its minimum now, and how far below the floor does the training loss get?
# 3. Run section 4 on a slice of real text instead: `regkeras.load_corpus("tiny_shakespeare")`
#    with `train_ids[:6000]`. There is no entropy floor to draw, but `memorizer_floor` still
#    works. What evidence of memorization is left?
# 4. (Open-ended) In section 1, the smoothed count model pays a finite price for `there`.
#    What would the neural equivalent of add-one smoothing be? Keep your answer; later chapters
#    meet several candidates (dropout, label smoothing, weight decay).
