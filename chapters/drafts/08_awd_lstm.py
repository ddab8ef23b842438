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
# # The AWD-LSTM toolkit, at a scale where it matters
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/regkeras/regkeras/blob/main/chapters/08_awd_lstm.ipynb)
#
# **DRAFT — not yet a chapter.** Kept in `chapters/drafts/` so the chapter tests (which
# require an executed `.ipynb` for every `chapters/NN_*.py`) stay green; `git mv` it to
# `chapters/08_awd_lstm.py` when it is finished. Measured so far (2026-12-02, this file as
# committed up to the ablation; 10 epochs, ReduceLROnPlateau(factor 0.25, patience 1),
# seeds 0-2, nats/word on 10,000 held-out words; mean ± sd):
#
# | config | last train | last val | best val | best epoch |
# |---|---|---|---|---|
# | baseline | 4.316 ± 0.149 | 4.861 ± 0.013 | 4.851 ± 0.010 | 9.7 |
# | tied | 4.548 ± 0.009 | 4.833 ± 0.008 | 4.833 ± 0.008 | 10 |
# | locked_dropout 0.4 | 4.500 ± 0.073 | 4.825 ± 0.007 | 4.825 ± 0.007 | 10 |
# | embedding_dropout 0.1 | 4.384 ± 0.101 | 4.822 ± 0.008 | 4.818 ± 0.008 | 9.7 |
# | weight_drop 0.3 | 4.301 ± 0.081 | 4.837 ± 0.022 | 4.830 ± 0.012 | 9.7 |
# | awd (all) | 4.774 ± 0.007 | 4.801 ± 0.011 | 4.801 ± 0.011 | 10 |
#
# The whole run cost 372 s user + 10 s sys (over the 240 s budget: 18 runs of ~21 s). With
# the schedule the baseline barely overfits in 10 epochs (best 4.851 vs last 4.861), so the
# assertion "the baseline overfits" failed; without the schedule, 12 epochs, seed 0 only, it
# does (val best 4.844 at epoch 9, last 4.918; tied 4.823 best / 4.826 last; awd 4.774, still
# falling). To do: fit the budget (fewer configs or epochs, or a smaller softmax), decide the
# schedule, re-check every assertion, fill the paper's Table 5 from the paper.
#
# MC-dropout part, run separately (awd only, same settings, seeds 0-2; 88 s user + 14 s sys
# including the three trainings): on the first 64 validation windows of 35 words, seed 0,
# deterministic 4.888, MC mean of 20 masks 4.877, the scratch loop 4.880 nats/word.
# Predictive entropy (mean over positions 5+, 20 masks): held-out PTB 5.441 ± 0.022, the same
# words shuffled 5.475 ± 0.030 nats: higher on shuffled text but NOT clearly (difference 0.034
# < the summed sd 0.052), so the entropy assertion below fails at this scale. Candidates: more
# windows, another corpus (Tiny Shakespeare through the PTB vocabulary), or report that the
# model's entropy stays near its unigram entropy on both and show the loss instead.
#
# ## Overview
#
# Merity et al. (2017, "Regularizing and Optimizing LSTM Language Models") combined five tools
# into the AWD-LSTM: weight drop on the recurrent matrix, embedding dropout, activation
# regularization (AR/TAR), weight tying and a learning-rate schedule (NT-ASGD). **The question:**
# what does each of them do, and does any of it matter on a model you can train in seconds?
# In this chapter you will
#
# 1. build each tool from scratch in a few lines and check it equals the library's layer,
# 2. train a word-level model on Penn Treebank text small enough to **overfit within seconds**
#    (the regime these tools were designed for), with an ablation over **three seeds**, every
#    configuration scored at its last and its best epoch,
# 3. read Merity et al.'s published ablation next to the CPU run, and
# 4. leave dropout on at prediction time (**MC dropout**, Gal & Ghahramani) and compare its
#    held-out loss and its predictive entropy on text the model has seen the like of against
#    shuffled text it has never seen.

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
import keras
import matplotlib.pyplot as plt
import numpy as np

import regkeras
from regkeras.data import Corpus, build_vocabulary, tokenize

SEEDS = (0, 1, 2)
keras.utils.set_random_seed(SEEDS[0])

# Sized for 2 CPU cores. SCALE multiplies the training text and the epochs.
SCALE = float(os.environ.get("REGKERAS_SCALE", "1"))
TRAIN_WORDS = int(20_000 * SCALE)
HELDOUT_WORDS = 10_000
EPOCHS = int(10 * SCALE)
VOCAB = 2_000
SEQ_LEN, BATCH, LEARNING_RATE = 35, 32, 1e-2

# %% [markdown]
# ## The corpus: word-level Penn Treebank, small enough to overfit
#
# A character model trained for a few seconds mostly *underfits*; the AWD-LSTM's tools fight
# overfitting, so they need a model that memorizes. A word-level model does that fast: most
# of its parameters are one embedding row and one softmax row per word, and a rare word's rows
# are fitted to its handful of occurrences. The course ships PTB's validation and test files
# (not its training file), so we **train on the start of `ptb.valid`** and hold out two
# disjoint halves of `ptb.test` as validation and test. The vocabulary is the training text's
# most frequent words; the rest become `<unk>`.

# %%
train_tokens = tokenize(regkeras.datasets.load_text("ptb.valid"), "word")[:TRAIN_WORDS]
heldout_tokens = tokenize(regkeras.datasets.load_text("ptb.test"), "word")
vocab = build_vocabulary(train_tokens, "word", max_size=VOCAB)
corpus = Corpus(vocab, vocab.encode(train_tokens),
                vocab.encode(heldout_tokens[:HELDOUT_WORDS]),
                vocab.encode(heldout_tokens[HELDOUT_WORDS:2 * HELDOUT_WORDS]),
                name="ptb (valid -> train, test -> val/test)", level="word")
print(corpus)
print(f"uniform guess: {np.log(corpus.vocab_size):.2f} nats/word")

# %% [markdown]
# ## The five tools, from scratch
#
# ### Embedding dropout: drop whole words
#
# Ordinary dropout on the embedding output drops *features* of a word. Embedding dropout drops
# a word's **whole row** of the embedding matrix, for the whole batch: every occurrence of
# that word reads as a zero vector, and the kept rows are scaled by `1 / (1 - rate)`.

# %%
def embedding_dropout(matrix, ids, rate, rng):
    keep = rng.random(matrix.shape[0]) >= rate  # one coin per word of the vocabulary
    return (matrix * keep[:, None] / (1 - rate))[ids], keep


layer = regkeras.EmbeddingDropout(10, 4, rate=0.5, seed=0)
ids = np.array([[1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]])
layer(ids)  # build
dropped = keras.ops.convert_to_numpy(layer(ids, training=True))
matrix = keras.ops.convert_to_numpy(layer.embeddings)
kept_rows = np.array([np.any(dropped[0, i] != 0) for i in range(ids.shape[1])])
np.testing.assert_allclose(dropped[0][kept_rows], matrix[ids[0][kept_rows]] / 0.5, rtol=1e-6)
np.testing.assert_allclose(dropped[0][~kept_rows], 0.0)
np.testing.assert_array_equal(kept_rows[:6], kept_rows[6:])  # one coin per word, not per use
mine, keep = embedding_dropout(matrix, ids, 0.5, np.random.default_rng(0))
np.testing.assert_allclose(mine[0][keep[ids[0]]], matrix[ids[0][keep[ids[0]]]] / 0.5)
print("kept occurrences:", kept_rows.astype(int), "(the same word is kept or dropped everywhere)")

# %% [markdown]
# ### AR and TAR: penalties on the activations
#
# AR adds `alpha * mean(h²)` (keep the LSTM's outputs small), TAR adds
# `beta * mean((h_t - h_{t-1})²)` (keep them from jumping between steps).

# %%
h = np.random.default_rng(1).normal(size=(2, 6, 4)).astype("float32")
ar_mine = np.mean(h ** 2)
tar_mine = np.mean((h[:, 1:] - h[:, :-1]) ** 2)
np.testing.assert_allclose(float(regkeras.regularizers.ar_penalty(h)), ar_mine, rtol=1e-6)
np.testing.assert_allclose(float(regkeras.regularizers.tar_penalty(h)), tar_mine, rtol=1e-6)
reg = regkeras.ActivationRegularization(alpha=2.0, beta=1.0)
reg(h, training=True)
np.testing.assert_allclose(float(sum(reg.losses)), 2 * ar_mine + tar_mine, rtol=1e-5)
print(f"AR {ar_mine:.3f}, TAR {tar_mine:.3f}, added to the loss: {2 * ar_mine + tar_mine:.3f}")

# %% [markdown]
# ### Weight drop: DropConnect on the recurrent matrix
#
# Dropout on `h_{t-1}` with a fresh mask every step erases memory (chapter 7). Weight drop
# instead drops entries of the **hidden-to-hidden matrix** `U`, once per batch: every step of
# the sequence uses the same thinned `U`, so the recurrence is perturbed but consistent, and
# the fast fused LSTM kernels still apply. In a few lines, one LSTM step with a dropped `U`:

# %%
def lstm_step(x, h, c, W, U, b):
    z = x @ W + h @ U + b
    i, f, g, o = np.split(z, 4, axis=-1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sig(f) * c + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c), c


rng = np.random.default_rng(2)
units = 3
W, U, b = rng.normal(size=(2, 4 * units)), rng.normal(size=(units, 4 * units)), np.zeros(4 * units)
U_dropped = U * (rng.random(U.shape) >= 0.5) / 0.5  # one mask for the whole sequence
x = rng.normal(size=(1, 2))
h_full, _ = lstm_step(x, np.ones((1, units)), np.zeros((1, units)), W, U, b)
h_drop, _ = lstm_step(x, np.ones((1, units)), np.zeros((1, units)), W, U_dropped, b)
print("h with U:", h_full.round(3), " with U dropped:", h_drop.round(3))

# %% [markdown]
# The library's `WeightDropLSTM` (and `weight_dropout=` of `build_language_model`) does this
# inside its fused engine; with the rate at 0 it is an ordinary LSTM, and in inference it uses
# the full `U`:

# %%
wd = regkeras.WeightDropLSTM(units, weight_dropout=0.5, return_sequences=True, seed=0)
seq = rng.normal(size=(1, 5, 2)).astype("float32")
inference = keras.ops.convert_to_numpy(wd(seq))
plain = keras.layers.LSTM(units, return_sequences=True)
plain(seq)
plain.set_weights(wd.get_weights())
np.testing.assert_allclose(inference, keras.ops.convert_to_numpy(plain(seq)), atol=1e-5)
training_out = keras.ops.convert_to_numpy(wd(seq, training=True))
assert not np.allclose(training_out, inference), "in training the recurrent matrix is thinned"

# %% [markdown]
# ### Weight tying
#
# The softmax layer maps a hidden vector to one score per word: a `[units, vocab]` matrix,
# like the embedding's `[vocab, dim]` transposed. Tying **reuses the embedding** (Press & Wolf
# 2017; Inan et al. 2017): half the word parameters, and every gradient that reaches an output
# row also trains that word's input row.

# %%
MODEL = {"embedding_dim": 128, "units": 128, "num_layers": 1}
untied = regkeras.build_language_model(corpus.vocab_size, **MODEL)
tied = regkeras.build_language_model(corpus.vocab_size, **MODEL, tie_weights=True)
print(f"parameters: untied {untied.count_params():,}, tied {tied.count_params():,} "
      f"for {corpus.train_ids.size:,} training words")
assert untied.count_params() - tied.count_params() == 128 * corpus.vocab_size

# %% [markdown]
# ### A learning-rate schedule: NT-ASGD's trigger
#
# Merity et al. train with SGD and switch to *averaged* SGD when the validation loss has not
# improved on the best of the epochs more than `n` epochs ago (the non-monotonic trigger).
# The trigger, from scratch:

# %%
def nt_trigger(val_losses, n=5):
    """The first epoch (0-based) where NT-ASGD would switch to averaging, or None."""
    for t in range(n, len(val_losses)):
        if val_losses[t] > min(val_losses[:t - n + 1]):
            return t
    return None


assert nt_trigger([5.0, 4.8, 4.7, 4.75, 4.8, 4.9, 5.0, 5.1], n=3) == 5
assert nt_trigger([5.0, 4.9, 4.8, 4.7], n=2) is None

# %% [markdown]
# With Adam, the course's optimizer, the same idea is Keras' `ReduceLROnPlateau`: cut the
# learning rate when validation stops improving. Every configuration below gets the same
# schedule, so it is part of the protocol, not of one row.
#
# ## The ablation
#
# Six configurations, one tool added at a time, then all of them (AWD-LSTM's rates scaled to a
# one-layer model): every run has the same data, epochs, batch size, schedule and scoring.

# %%
AWD = {"tie_weights": True, "dropout": 0.4, "variational": True, "embedding_dropout": 0.1,
       "weight_dropout": 0.3, "ar": 2.0, "tar": 1.0}
configs = [regkeras.ExperimentConfig(name, model=model, learning_rate=LEARNING_RATE)
           for name, model in [
               ("baseline", {}),
               ("tied", {"tie_weights": True}),
               ("locked_dropout", {"dropout": 0.4, "variational": True}),
               ("embedding_dropout", {"embedding_dropout": 0.1}),
               ("weight_drop", {"weight_dropout": 0.3}),
               ("awd", AWD)]]
schedule = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.25, patience=1)
ablation = regkeras.run_seeds(configs, corpus, seeds=SEEDS, epochs=EPOCHS, batch_size=BATCH,
                              seq_len=SEQ_LEN, model_kwargs=MODEL, eval_batch_size=256,
                              callbacks=[schedule])
COLUMNS = ("last_train_loss", "last_val_loss", "best_val_loss", "best_epoch")
print(f"nats/word, mean ± sd over seeds {SEEDS}")
print(ablation.table(COLUMNS))

# %%
fig, ax = plt.subplots(figsize=(8, 4.6))
ablation.plot(ax=ax, train=False, title="Validation loss per configuration")
ax.set_ylabel("validation loss (nats/word)")
ax.set_xlabel("epoch")
ax.legend(fontsize=8)
fig.suptitle(f"Word-level PTB, {corpus.train_ids.size:,} training words, seeds {SEEDS} "
             "(★ best mean epoch)")
fig.tight_layout()
plt.show()

# %%
def stats(name, column):
    return ablation.stats(name, column)


base = stats("baseline", "best_val_loss")
assert regkeras.clearly_lower(stats("awd", "best_val_loss").values, base.values), "AWD helps"
for name in ("tied", "locked_dropout", "embedding_dropout", "weight_drop", "awd"):
    print(f"{name:18s} best val {stats(name, 'best_val_loss')}  vs baseline {base}")

# %% [markdown]
# ## What the paper measured at full scale
#
# Merity et al. (2017, Table 5) removed one tool at a time from the full AWD-LSTM on PTB
# (3 layers, 1150 units, 24M parameters, 750 epochs); their numbers (perplexity, validation /
# test) are quoted here, not measured in this notebook:
#
# | model (Merity et al. 2017, Table 5) | validation ppl | test ppl |
# |---|---|---|
# | AWD-LSTM (tied) | 60.0 | 57.3 |
# | – fine-tuning (TODO: from the paper) | TODO | TODO |
# | (the other rows of Table 5: one tool removed at a time) | TODO | TODO |
#
# TODO(draft): copy the remaining rows of Table 5 from the paper itself (not from memory) and
# rewrite the next sentence from them; the draft's author remembered only that removing weight
# drop costs the most, which must be checked too.
#
# Weight drop matters most at that scale (to be checked against the table).
#
# ## MC dropout: dropout at prediction time
#
# Gal & Ghahramani read a dropout network as an approximate Bayesian model: each mask is one
# sample of the weights, so averaging the softmax over many masks approximates the predictive
# distribution. `mc_dropout_predict` does exactly that; from scratch it is a loop:

# %%
awd_model = ablation.comparisons[SEEDS[0]].models["awd"]
windows = corpus.val_ids[: (corpus.val_ids.size // (SEQ_LEN + 1)) * (SEQ_LEN + 1)]
windows = windows.reshape(-1, SEQ_LEN + 1)[:64]
x, y = windows[:, :-1], windows[:, 1:]


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


mine = np.mean([softmax(keras.ops.convert_to_numpy(awd_model(x, training=True)))
                for _ in range(20)], axis=0)
mc = regkeras.mc_dropout_predict(awd_model, x, num_samples=20, seed=0)
assert mine.shape == mc.mean.shape
np.testing.assert_allclose(mc.mean.sum(-1), 1.0, rtol=1e-4)


def nll(probs):
    return float(-np.mean(np.log(np.take_along_axis(probs, y[..., None], -1) + 1e-12)))


deterministic = softmax(keras.ops.convert_to_numpy(awd_model(x, training=False)))
print(f"held-out loss: deterministic {nll(deterministic):.3f}, MC (20 masks) {nll(mc.mean):.3f}, "
      f"my loop {nll(mine):.3f} nats/word")

# %% [markdown]
# Predictive uncertainty: the entropy of the averaged prediction on held-out PTB text against
# the same words **shuffled** (real words, no grammar: text the model has never seen the like
# of), over three seeds.

# %%
shuffled = np.random.default_rng(0).permutation(x.ravel()).reshape(x.shape)
entropies = {"ptb": [], "shuffled": []}
for seed in SEEDS:
    model = ablation.comparisons[seed].models["awd"]
    for name, inputs in (("ptb", x), ("shuffled", shuffled)):
        entropies[name].append(float(regkeras.mc_dropout_predict(
            model, inputs, num_samples=20, seed=seed).entropy[:, 5:].mean()))
ent = {name: regkeras.seed_stats(values) for name, values in entropies.items()}
print(f"predictive entropy (nats): held-out PTB {ent['ptb']}, shuffled {ent['shuffled']}")
assert regkeras.clearly_lower(entropies["ptb"], entropies["shuffled"]), "more unsure on noise"

# %% [markdown]
# ## Summary
#
# - Embedding dropout drops whole words; weight drop thins the recurrent matrix once per batch;
#   AR/TAR penalize large and jumpy activations; tying reuses the embedding as the softmax;
#   NT-ASGD (or `ReduceLROnPlateau`) lowers the step when validation stalls.
# - They fight overfitting, so they show only where the model overfits: a word-level model on
#   a small text, not a character model trained for seconds.
# - Score every configuration at its last and best epoch, over seeds; at full scale the paper
#   finds weight drop the most important tool.
# - MC dropout averages the predictions of many masks; its entropy rises on text unlike the
#   training text.
#
# ## Exercises
#
# 1. Remove one tool at a time from `awd` (as in the paper's table) instead of adding one at a
#    time. Do the two ablations agree on which tool matters most?
# 2. Replace `ReduceLROnPlateau` with plain Adam at a fixed learning rate. Which rows change?
# 3. Raise `SCALE` to 4. Which differences grow, which vanish?
# 4. Open-ended: compare MC dropout's entropy on Tiny Shakespeare mapped into the PTB
#    vocabulary. Is entropy a usable out-of-distribution detector here?
