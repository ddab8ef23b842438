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

# %% [markdown]
# ## Overview
#
# **The question.** "Merity et al.'s AWD-LSTM (2017, *Regularizing and Optimizing LSTM
# Language Models*) stacks five tools on one LSTM: weight drop on the recurrent matrix,
# embedding dropout, activation regularization (AR/TAR), weight tying and a learning-rate
# schedule (NT-ASGD). What does each one do, and which of them earns its place on a model I
# can train in seconds?"
#
# In this chapter you will
#
# 1. build each tool from scratch in a few lines and check it equals the library's layer;
# 2. train a word-level model on Penn Treebank text small enough to **overfit within
#    seconds** (the regime these tools were designed for) and remove one tool at a time from
#    the full combination, as the paper's own ablation does, over **three seeds**, every
#    configuration scored at its last and at its best epoch;
# 3. ask when a learning-rate schedule would act on those runs, and train the combination
#    with one;
# 4. put the CPU numbers next to the full-scale ones; and
# 5. leave dropout on at prediction time (**MC dropout**, Gal & Ghahramani 2016): its held-out
#    loss against the deterministic model, and whether its uncertainty rises on text unlike
#    the training text.

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

SEED = 0  # the from-scratch checks use one seed: they are identities
SEEDS = (0, 1, 2)  # every measured effect is repeated over three seeds
keras.utils.set_random_seed(SEED)

# Sized for 2 CPU cores (about 4 minutes). SCALE multiplies the training text and the epochs.
SCALE = float(os.environ.get("REGKERAS_SCALE", "1"))
TRAIN_WORDS = int(10_000 * SCALE)
HELDOUT_WORDS = 10_000  # validation and test, each
EPOCHS = int(8 * SCALE)
VOCAB, SEQ_LEN, BATCH, LEARNING_RATE = 2_000, 35, 16, 1e-2

# %% [markdown]
# ## The corpus: word-level Penn Treebank, small enough to overfit
#
# A character model trained for a few seconds mostly *underfits* (chapters 1-5); the
# AWD-LSTM's tools fight overfitting, so they need a model that memorizes. A word-level model
# does that fast: most of its parameters are one embedding row and one softmax row per word,
# and a rare word's rows are fitted to its handful of occurrences. The course ships PTB's
# validation and test files (not its training file), so we **train on the first 10,000 words
# of `ptb.valid`** and hold out two disjoint 10,000-word parts of `ptb.test` as validation
# and test. The vocabulary is the 2,000 most frequent training words; the rest read as
# `<unk>`.

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
unk_rate = {split: float(np.mean(getattr(corpus, f"{split}_ids") == 0))  # <unk> is id 0
            for split in ("train", "val", "test")}
print("share of <unk>:", {split: f"{rate:.1%}" for split, rate in unk_rate.items()})

# %% [markdown]
# ## 1. The five tools, from scratch
#
# ### Embedding dropout: drop whole words
#
# Ordinary dropout on the embedding output drops *features* of a word. Embedding dropout
# (Gal & Ghahramani 2016) drops a word's **whole row** of the embedding matrix, for the whole
# batch: every occurrence of that word reads as a zero vector, and the kept rows are scaled by
# `1 / (1 - rate)`. The model must predict without some words, however often they appear.

# %%
def embedding_dropout(matrix, ids, rate, rng):
    keep = rng.random(matrix.shape[0]) >= rate  # one coin per word of the vocabulary
    return (matrix * keep[:, None] / (1 - rate))[ids], keep


layer = regkeras.EmbeddingDropout(10, 4, rate=0.5, seed=SEED)
ids = np.array([[1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]])
layer(ids)  # build
dropped = keras.ops.convert_to_numpy(layer(ids, training=True))
matrix = keras.ops.convert_to_numpy(layer.embeddings)
kept = np.any(dropped[0] != 0, axis=-1)  # which occurrences survived
np.testing.assert_allclose(dropped[0][kept], matrix[ids[0][kept]] / 0.5, rtol=1e-6)
np.testing.assert_allclose(dropped[0][~kept], 0.0)
np.testing.assert_array_equal(kept[:6], kept[6:])  # one coin per word, not per occurrence
mine, keep = embedding_dropout(matrix, ids, 0.5, np.random.default_rng(SEED))
np.testing.assert_allclose(mine[0][keep[ids[0]]], matrix[ids[0][keep[ids[0]]]] / 0.5)
np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(ids)), matrix[ids])  # inference
print("kept occurrences:", kept.astype(int), "(a word is kept or dropped everywhere)")

# %% [markdown]
# ### AR and TAR: penalties on the activations
#
# **AR** adds `ar * mean(h²)` to the loss (keep the LSTM's outputs small, applied after the
# output dropout), **TAR** adds `tar * mean((h[t] - h[t-1])²)` (keep them from jumping
# between steps, applied before it); the paper calls the two coefficients α and β. The
# builder's `ar=`/`tar=` and the layer, `ActivationRegularization`, use the same names.

# %%
h = np.random.default_rng(1).normal(size=(2, 6, 4)).astype("float32")
ar_mine = np.mean(h ** 2)
tar_mine = np.mean((h[:, 1:] - h[:, :-1]) ** 2)
np.testing.assert_allclose(float(regkeras.regularizers.ar_penalty(h)), ar_mine, rtol=1e-6)
np.testing.assert_allclose(float(regkeras.regularizers.tar_penalty(h)), tar_mine, rtol=1e-6)
reg = regkeras.ActivationRegularization(ar=2.0, tar=1.0)
reg(h, training=True)
np.testing.assert_allclose(float(sum(reg.losses)), 2 * ar_mine + tar_mine, rtol=1e-5)
print(f"AR {ar_mine:.3f}, TAR {tar_mine:.3f}, added to the loss: {2 * ar_mine + tar_mine:.3f}")

# %% [markdown]
# ### Weight drop: DropConnect on the recurrent matrix
#
# A fresh dropout mask on `h[t-1]` at every step perturbs the memory differently at every
# step (chapter 7 measured when that erases it). Weight drop instead drops entries of the
# **hidden-to-hidden matrix** `U`, once per batch: every step of the sequence uses the same
# thinned `U`, so the recurrence is perturbed but consistent, and fast fused LSTM kernels still
# apply. One LSTM step with a dropped `U`:

# %%
def lstm_step(x, h, c, W, U, b):
    z = x @ W + h @ U + b
    i, f, g, o = np.split(z, 4, axis=-1)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


rng = np.random.default_rng(2)
units = 3
W, U, b = rng.normal(size=(2, 4 * units)), rng.normal(size=(units, 4 * units)), np.zeros(4 * units)
U_dropped = U * (rng.random(U.shape) >= 0.5) / 0.5  # one mask for the whole sequence
x = rng.normal(size=(1, 2))
h_full, _ = lstm_step(x, np.ones((1, units)), np.zeros((1, units)), W, U, b)
h_drop, _ = lstm_step(x, np.ones((1, units)), np.zeros((1, units)), W, U_dropped, b)
print("h with U:", h_full.round(3), " with U dropped:", h_drop.round(3))

# %% [markdown]
# The library's `WeightDropLSTM` (`weight_dropout=` of `build_language_model`) does this
# inside its fused engine. In inference it uses the full `U`, so it computes exactly what a
# `keras.layers.LSTM` with the same weights computes; in training it does not:

# %%
wd = regkeras.WeightDropLSTM(units, weight_dropout=0.5, return_sequences=True, seed=SEED)
seq = rng.normal(size=(1, 5, 2)).astype("float32")
inference = keras.ops.convert_to_numpy(wd(seq))
plain = keras.layers.LSTM(units, return_sequences=True)
plain(seq)
plain.set_weights(wd.get_weights())
np.testing.assert_allclose(inference, keras.ops.convert_to_numpy(plain(seq)), atol=1e-5)
kernel, recurrent_kernel, bias = (keras.ops.convert_to_numpy(w) for w in wd.get_weights())
h, c, mine = np.zeros((1, units)), np.zeros((1, units)), []
for t in range(seq.shape[1]):  # the step above, with Keras' weights: the same numbers
    h, c = lstm_step(seq[:, t], h, c, kernel, recurrent_kernel, bias)
    mine.append(h)
np.testing.assert_allclose(np.stack(mine, 1), inference, atol=1e-5)
training_out = keras.ops.convert_to_numpy(wd(seq, training=True))
assert not np.allclose(training_out, inference), "in training the recurrent matrix is thinned"
print("inference = keras.layers.LSTM = the NumPy step; training differs")

# %% [markdown]
# ### Weight tying
#
# The softmax layer maps a hidden vector to one score per word: a `[units, vocab]` matrix,
# like the embedding's `[vocab, dim]` transposed. Tying **reuses the embedding** (Press & Wolf
# 2017; Inan et al. 2017): logits `= h @ E^T + b`, half the word parameters, and every
# gradient that reaches an output row also trains that word's input row.

# %%
MODEL = {"embedding_dim": 128, "units": 128, "num_layers": 1}
untied = regkeras.build_language_model(corpus.vocab_size, **MODEL)
tied = regkeras.build_language_model(corpus.vocab_size, **MODEL, tie_weights=True)
print(f"parameters: untied {untied.count_params():,}, tied {tied.count_params():,} "
      f"for {corpus.train_ids.size:,} training words")
assert untied.count_params() - tied.count_params() == 128 * corpus.vocab_size

embedding = tied.get_layer("embedding")
hidden = np.random.default_rng(3).normal(size=(1, 2, 128)).astype("float32")
logits = keras.ops.convert_to_numpy(embedding(hidden, reverse=True))
E, bias = (keras.ops.convert_to_numpy(v) for v in (embedding.embeddings, embedding.bias))
np.testing.assert_allclose(logits, hidden @ E.T + bias, rtol=1e-4, atol=1e-4)

# %% [markdown]
# ### A learning-rate schedule: NT-ASGD's trigger
#
# Merity et al. train with SGD and switch to *averaged* SGD when the validation loss is worse
# than the best of the epochs more than `n` epochs ago (the non-monotonic trigger: no
# threshold to tune, only a patience). The trigger, from scratch:

# %%
def nt_trigger(val_losses, n=5):
    """The first epoch (0-based) at which NT-ASGD would switch to averaging, or None."""
    for t in range(n, len(val_losses)):
        if val_losses[t] > min(val_losses[:t - n + 1]):
            return t
    return None


assert nt_trigger([5.0, 4.8, 4.7, 4.75, 4.8, 4.9, 5.0, 5.1], n=3) == 5
assert nt_trigger([5.0, 4.9, 4.8, 4.7], n=2) is None

# %% [markdown]
# This course trains with Adam, where averaging is not the usual move; the same idea, "act
# when validation stops improving", is Keras' `ReduceLROnPlateau`, which cuts the learning
# rate instead. Section 3 asks when either would act.
#
# ## 2. The ablation: remove one tool at a time
#
# The full combination (`awd`: tied weights, locked dropout 0.4 between the layers,
# embedding dropout 0.1, weight drop 0.3, AR 2 and TAR 1 — the paper's rates for the parts a
# one-layer model has) against the unregularized `baseline`, and five rows that each remove
# one tool from `awd`. Every run has the same data, epochs, batch size, optimizer (Adam at a
# constant 1e-2) and scoring: validation loss after every epoch, the table shows the last
# epoch's and the best epoch's.

# %%
AWD = {"tie_weights": True, "dropout": 0.4, "variational": True, "embedding_dropout": 0.1,
       "weight_dropout": 0.3, "ar": 2.0, "tar": 1.0}
TOOLS = {"tying": ("tie_weights",), "locked_dropout": ("dropout", "variational"),
         "embedding_dropout": ("embedding_dropout",), "weight_drop": ("weight_dropout",),
         "ar_tar": ("ar", "tar")}


def without(*switches):
    return {key: value for key, value in AWD.items() if key not in switches}


configs = [regkeras.ExperimentConfig("baseline", learning_rate=LEARNING_RATE),
           regkeras.ExperimentConfig("awd", model=AWD, learning_rate=LEARNING_RATE)]
configs += [regkeras.ExperimentConfig(f"awd-{tool}", model=without(*switches),
                                      learning_rate=LEARNING_RATE)
            for tool, switches in TOOLS.items()]
ablation = regkeras.run_seeds(configs, corpus, seeds=SEEDS, epochs=EPOCHS, batch_size=BATCH,
                              seq_len=SEQ_LEN, model_kwargs=MODEL, eval_batch_size=256)
COLUMNS = ("last_train_loss", "last_val_loss", "best_val_loss", "best_epoch")
print(f"nats/word, mean ± sd over seeds {SEEDS}")
print(ablation.table(COLUMNS))

# %%
fig, ax = plt.subplots(figsize=(8, 4.6))
ablation.plot(ax=ax, train=False, title="Validation loss per configuration (mean of 3 seeds)")
ax.set_ylabel("validation loss (nats/word)")
ax.set_xlabel("epoch")
ax.legend(fontsize=8)
fig.suptitle(f"Word-level PTB, {corpus.train_ids.size:,} training words (★ best mean epoch)")
fig.tight_layout()
plt.show()

# %% [markdown]
# (For `awd` and three of its leave-one-out rows the held-out loss is *below* the training
# loss; without tying or without the locked dropout it is not. Not a bug:
# the held-out text has more `<unk>` than the training text — words outside the training
# vocabulary — and `<unk>` is a frequent, easy token. Compare configurations on the same
# split, never one split with another.)

# %%
def values(name, column="best_val_loss", runs=ablation):
    return np.array(runs.values(name, column))


baseline, awd = values("baseline"), values("awd")
print(f"baseline  best {regkeras.seed_stats(baseline)}  last "
      f"{regkeras.seed_stats(values('baseline', 'last_val_loss'))}")
print(f"awd       best {regkeras.seed_stats(awd)}  last "
      f"{regkeras.seed_stats(values('awd', 'last_val_loss'))}")
change = {}  # best validation loss without the tool minus with it, seed by seed
for tool in TOOLS:
    change[tool] = values(f"awd-{tool}") - awd
    print(f"without {tool:18s} best {regkeras.seed_stats(values(f'awd-{tool}'))}  "
          f"change vs awd {regkeras.seed_stats(change[tool])}  per seed {change[tool].round(3)}")

# %%
# The claims this section makes, checked on the numbers just computed:
assert regkeras.clearly_lower(baseline, values("baseline", "last_val_loss")), "baseline overfits"
assert regkeras.clearly_lower(awd, baseline), "the combination beats the baseline at its best"
assert regkeras.clearly_lower(values("awd", "last_val_loss"), values("baseline", "last_val_loss"))
assert values("awd", "best_epoch").min() == EPOCHS, "awd is still improving when the budget ends"
if SCALE == 1:  # what the text below says about the committed run
    assert not any(regkeras.clearly_lower(awd, values(f"awd-{tool}")) for tool in TOOLS), \
        "no single removal is clearly worse than the whole combination"
    assert np.all(change["tying"] < 0), "without tying is better on every seed"
    assert change["locked_dropout"].mean() < 0, "without locked dropout is better on average"

# %% [markdown]
# **What the fair numbers say.** The baseline overfits: its best epoch comes early and its
# last is clearly worse. The full combination beats it clearly, at the best epoch and even
# more at the last (it has not overfitted at all: its best epoch is the last one). But the
# leave-one-out rows show that at this scale **no single tool is needed**: remove any one
# and the others cover for it, none of the five removals is
# clearly worse than `awd` by the course's rule (difference of means larger than the
# summed spread). Removing weight tying even *lowers* the best loss, by 0.02-0.03 on every
# seed (at the last epoch the two are level: 4.925 against 4.921), and removing the locked
# dropout lowers it on average, unevenly (by 0.001 to 0.044 per seed), at the edge of the
# course's rule. The
# reason is in the training column and in the curves: `awd` is still improving when the 8
# epochs end. Five regularizers at once are more than this model needs for this budget; they
# slow it down more than they protect it, and no four of them do clearly worse.
#
# ## 3. A learning-rate schedule
#
# A schedule acts when validation stalls. Applied to the curves just measured, NT-ASGD's
# trigger (with the small patience `n = 2` these short runs allow) fires on the overfitting
# baseline and **never on `awd`**, whose best epoch is its last: inside this
# budget a plateau schedule (NT-ASGD, or Keras' `ReduceLROnPlateau`, its Adam-era cousin)
# would never change the regularized model's learning rate. On the baseline it would cut the
# rate around its best epoch; early stopping (chapter 4) keeps the best weights anyway.

# %%
triggers = {name: [nt_trigger(ablation.comparisons[seed].histories[name]["val_loss"], n=2)
                   for seed in SEEDS] for name in ("baseline", "awd")}
print("epoch (0-based) at which NT-ASGD would switch, per seed:", triggers)
if SCALE == 1:
    assert all(t is None for t in triggers["awd"]), "awd never stalls within the budget"
    assert all(t is not None for t in triggers["baseline"]), "the baseline does"

# %% [markdown]
# That is the trigger read off curves trained at a constant rate. Trained *with* a schedule,
# the combination meets a keener one than NT-ASGD's: `ReduceLROnPlateau(factor=0.5,
# patience=1)` halves Adam's rate after a single epoch whose validation loss is not a new
# best, with no patience to wait through noise. The same data, epochs, seeds and scoring as
# the rows above:

# %%
class RatePerEpoch(keras.callbacks.Callback):
    """The learning rate each epoch trains at, one list per run (`run_seeds` runs in turn)."""

    def __init__(self):
        super().__init__()
        self.runs = []

    def on_train_begin(self, logs=None):
        self.runs.append([])

    def on_epoch_begin(self, epoch, logs=None):
        rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        self.runs[-1].append(float(rate))


# `val_xent` (the plain cross-entropy) is what the best epoch is chosen on, too.
schedule = keras.callbacks.ReduceLROnPlateau(monitor="val_xent", factor=0.5, patience=1)
rate_log = RatePerEpoch()
scheduled_runs = regkeras.run_seeds(
    [regkeras.ExperimentConfig("awd+plateau", model=AWD, learning_rate=LEARNING_RATE)], corpus,
    seeds=SEEDS, epochs=EPOCHS, batch_size=BATCH, seq_len=SEQ_LEN, model_kwargs=MODEL,
    eval_batch_size=256, callbacks=[schedule, rate_log])
scheduled = values("awd+plateau", runs=scheduled_runs)
rates = rate_log.runs  # in the order of SEEDS
cuts = [[epoch for epoch in range(1, EPOCHS) if rate[epoch] < rate[epoch - 1]] for rate in rates]
print(f"awd, constant rate   best {regkeras.seed_stats(awd)}")
print(f"awd + plateau        best {regkeras.seed_stats(scheduled)}  "
      f"last {regkeras.seed_stats(values('awd+plateau', 'last_val_loss', scheduled_runs))}")
print("epochs (0-based) at which the rate was halved, per seed:", cuts)
print("final learning rate per seed:", [f"{rate[-1]:.2g}" for rate in rates])
print("best loss with the schedule minus without, per seed:", np.round(scheduled - awd, 3))

# %%
assert not regkeras.clearly_lower(scheduled, awd), "the schedule does not clearly help awd"
assert not regkeras.clearly_lower(awd, scheduled), "... nor clearly hurt it"
for seed_cuts, change in zip(cuts, scheduled - awd):
    if not seed_cuts:  # never cut: the very same run as at a constant rate
        assert abs(change) < 1e-4, "a schedule that never acts changes nothing"
if SCALE == 1:  # what the text below says about the committed run
    assert any(cuts), "one noisy epoch is enough to halve the rate"
    assert all(change > 0 for seed_cuts, change in zip(cuts, scheduled - awd) if seed_cuts), (
        "every seed whose rate was halved ends worse than at a constant rate")

# %% [markdown]
# Where an epoch is no new best — noise in a curve that is still falling — the keen schedule
# halves the rate (the printout says on which seeds, and when), and that run then learns more
# slowly for the rest of the budget: every seed whose rate was cut ends worse than at a
# constant rate, and a seed without a cut is the very same run. On average that is worse, but
# within the seed spread, so not a clear loss either. A plateau schedule is a tool for the end
# of a long run, when the curve has flattened for real; Merity et al. use a patience of 5
# epochs over hundreds. Inside a short budget, a model that is still improving needs its full
# rate.
#
# ## 4. At full scale
#
# The AWD-LSTM of the paper is a three-layer LSTM (1150 units, 24M parameters) trained for
# hundreds of epochs on PTB's 930,000 training words, then fine-tuned and averaged: **60.0
# validation / 57.3 test perplexity**, against 86.2 / 82.7 for Zaremba et al.'s medium and
# 82.2 / 78.4 for their large model (dropout only; `benchmarks/ptb_zaremba.py` trains those
# configurations). The paper's own ablation removes one tool at a time from that model, as
# section 2 does here; read its table next to ours. There, with a model that keeps learning
# for hundreds of epochs, every tool has overfitting to fight; here, with 10,000 words and 8
# epochs, four tools are enough.
#
# The course's own full-scale measurement points the same way as section 2:
# `benchmarks/quality.py` on Tiny Shakespeare (`benchmarks/RESULTS.md`, 30-minute budget,
# 20.5M characters) found that adding weight drop 0.3 to a model with dropout and weight decay
# narrowed its train-validation gap (0.27 to 0.19) but made its validation loss *worse*
# (1.3785 against 1.3525 nats/char): a model short of updates does not need more
# regularization. `REGKERAS_SCALE=4` runs this chapter on 40,000 words for 32 epochs (about
# 16 times the CPU time; not run here).
#
# ## 5. MC dropout: dropout at prediction time
#
# Gal & Ghahramani read a dropout network as an approximate Bayesian model: each mask is one
# sample of the weights, so averaging the softmax over many masks approximates the predictive
# distribution (the deterministic model, dropout off, approximates that average by scaling the
# weights instead). `mc_dropout_predict` does the averaging; from scratch it is a loop:

# %%
def windows_of(ids, count):
    usable = (ids.size // (SEQ_LEN + 1)) * (SEQ_LEN + 1)
    rows = ids[:usable].reshape(-1, SEQ_LEN + 1)[:count]
    return rows[:, :-1], rows[:, 1:]


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


def nll(probs, targets):
    return float(-np.mean(np.log(np.take_along_axis(probs, targets[..., None], -1))))


x_val, y_val = windows_of(corpus.val_ids, 96)  # 3,360 held-out words
awd_model = ablation.comparisons[SEED].models["awd"]
x_few, y_few = x_val[:32], y_val[:32]
mine = np.mean([softmax(keras.ops.convert_to_numpy(awd_model(x_few, training=True)))
                for _ in range(20)], axis=0)
mc = regkeras.mc_dropout_predict(awd_model, x_few, num_samples=20, seed=SEED)
np.testing.assert_allclose(mc.mean.sum(-1), 1.0, rtol=1e-6)
assert abs(nll(mine, y_few) - nll(mc.mean, y_few)) < 0.02  # other masks, the same average
print(f"seed {SEED}, 1,120 words: MC loss, my loop {nll(mine, y_few):.4f}, "
      f"mc_dropout_predict {nll(mc.mean, y_few):.4f} nats/word")

# %% [markdown]
# Now over the three seeds' `awd` models and all 3,360 words, on held-out PTB and on the same
# words **shuffled** (real words, no grammar: text the model has never seen the like of). Per
# text: the held-out loss of the deterministic prediction and of the average of 20 masks, and
# two uncertainties of the average — the **predictive entropy** (all of the uncertainty) and
# the **mutual information** (that entropy minus the masks' mean entropy: the part that comes
# from the masks *disagreeing*, the model's doubt about its own weights).

# %%
shuffled = np.random.default_rng(SEED).permutation(corpus.val_ids[:x_val.size + 1])
x_shuffled, y_shuffled = windows_of(shuffled, 96)
texts = {"ptb": (x_val, y_val), "shuffled": (x_shuffled, y_shuffled)}
measures = ("deterministic_loss", "mc_loss", "entropy", "mutual_information")
results = {(measure, text): [] for measure in measures for text in texts}
per_position = {}
for seed in SEEDS:
    model = ablation.comparisons[seed].models["awd"]
    for text, (inputs, targets) in texts.items():
        prediction = regkeras.mc_dropout_predict(model, inputs, num_samples=20, seed=seed)
        deterministic = softmax(keras.ops.convert_to_numpy(model(inputs, training=False)))
        results["deterministic_loss", text].append(nll(deterministic, targets))
        results["mc_loss", text].append(nll(prediction.mean, targets))
        for kind in ("entropy", "mutual_information"):
            results[kind, text].append(float(getattr(prediction, kind).mean()))
            if seed == SEED:
                per_position[kind, text] = getattr(prediction, kind).ravel()
print(f"nats per word, mean ± sd over seeds {SEEDS}")
for measure in measures:
    print(f"{measure:20s} " + "   ".join(
        f"{text} {regkeras.seed_stats(results[measure, text])}" for text in texts))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for ax, kind in zip(axes, ("entropy", "mutual_information")):
    for text, color in (("ptb", "C0"), ("shuffled", "C3")):
        ax.hist(per_position[kind, text], bins=60, alpha=0.55, color=color, density=True,
                label=f"{text} (mean {per_position[kind, text].mean():.3f} nats)")
    ax.set_xlabel(f"{kind.replace('_', ' ')} per position (nats)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
axes[0].set_title("Predictive entropy of the 20-mask average")
axes[1].set_title("Mutual information (the masks disagreeing)")
fig.suptitle(f"MC dropout on held-out PTB and on the same words shuffled (awd, seed {SEED})")
fig.tight_layout()
plt.show()

# %%
def result(measure, text):
    return np.array(results[measure, text])


assert regkeras.clearly_lower(result("mc_loss", "ptb"), result("deterministic_loss", "ptb")), \
    "averaging the masks beats dropout off on held-out text"
assert np.all(result("mc_loss", "ptb") < result("deterministic_loss", "ptb"))
assert regkeras.clearly_lower(result("mc_loss", "ptb"), result("mc_loss", "shuffled")), \
    "shuffled text is much harder"
loss_rise = result("mc_loss", "shuffled") - result("mc_loss", "ptb")
entropy_rise = result("entropy", "shuffled") - result("entropy", "ptb")
print(f"shuffling raises the loss by {regkeras.seed_stats(loss_rise)}, "
      f"the entropy by {regkeras.seed_stats(entropy_rise)} nats")
assert regkeras.clearly_lower(entropy_rise, loss_rise), "the entropy does not follow the loss"
if SCALE == 1:  # what the text below says about the committed run
    for kind in ("entropy", "mutual_information"):
        assert not regkeras.clearly_lower(result(kind, "ptb"), result(kind, "shuffled")), \
            f"{kind} does not tell shuffled text from real text at this scale"
    assert loss_rise.mean() > 0.3, "the loss rises by almost half a nat"
    for text in texts:
        assert np.all(result("entropy", text) > result("mc_loss", text)), "under-confident"

# %% [markdown]
# **What MC dropout buys here, and what it does not.** Averaging 20 masks gives a clearly
# lower held-out loss than switching dropout off, on every seed: the average is a better
# prediction than the scaled-weights shortcut. But its uncertainty is no alarm for strange
# text. Shuffling the words raises the loss by almost half a nat, while the predictive entropy
# and the mutual information stay where they were on real text (the two histograms lie on top
# of each other): the model does worse on word salad without being any less sure of itself.
# (It is *under*-confident on both texts — its entropy is above its loss — and shuffling only
# closes part of that distance; a plausible reason is that a model trained on 10,000 words
# leans mostly on how frequent each word is, and shuffling keeps the frequencies.) Whether MC
# dropout's uncertainty detects out-of-distribution text is an empirical question for each
# model; for this one the answer is no.
#
# ## Summary
#
# - Embedding dropout drops whole words; weight drop thins the recurrent matrix once per
#   batch; AR/TAR penalize large and jumpy activations; tying reuses the embedding as the
#   softmax (40% fewer parameters here); NT-ASGD (or `ReduceLROnPlateau`) acts when validation
#   stalls. Each is a few lines, and each layer equals the library's.
# - They fight overfitting, so they show only where a model overfits: a word-level model on a
#   small text, not a character model trained for seconds.
# - Together they clearly beat the unregularized model, at its best epoch and at its last. Taken
#   apart, over three seeds and scored at last and best epoch alike, no single one of them was
#   needed at this budget; at the best epoch tying cost a little on every seed (at the last,
#   nothing), the locked dropout on average: the
#   combination is tuned for a 24M-parameter model trained for hundreds of epochs, not for
#   ours. Ablate before you copy a recipe.
# - NT-ASGD's patient trigger never fires on a model still improving when the budget ends; a
#   keen plateau schedule (patience 1) fires on noise and slows it down.
# - MC dropout's average predicts better than dropout off; its uncertainty (entropy, mutual
#   information) did not rise on shuffled text, although the loss did.
#
# ## Exercises
#
# 1. Add one tool at a time to the baseline instead of removing one at a time from `awd`. Do
#    the two ablations agree on which tool matters most?
# 2. Give every configuration 16 epochs and `keras.callbacks.ReduceLROnPlateau(factor=0.25,
#    patience=1)` (`callbacks=` of `run_seeds`). Does `awd` now stall, does the schedule
#    fire, and do the leave-one-out rows change sign?
# 3. Run the chapter with `REGKERAS_SCALE=4`. Which differences grow, which vanish?
# 4. Open-ended: map Tiny Shakespeare into the PTB vocabulary (`vocab.encode(tokenize(text,
#    "word"))`) and compare MC dropout's entropy and mutual information there. Is either a
#    usable out-of-distribution detector for this model?
