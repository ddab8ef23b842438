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
# # How a recurrent language model is trained: the mechanics the four weapons rely on
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/regkeras/regkeras/blob/main/chapters/07_training_mechanics.ipynb)

# %% [markdown]
# ## Overview
#
# **The question.** "The other chapters say 'perplexity', 'carry the state', 'clip the
# gradient', 'not on the recurrent connections' and `temperature=0.8` as if I knew why. What
# do these words mean, and what happens if I get them wrong?"
#
# In this chapter you will:
#
# 1. convert one loss into nats, perplexity and bits per character by hand, check the result
#    against `regkeras.Perplexity`, `regkeras.BitsPerCharacter` and
#    `regkeras.metrics.perplexity_and_bits`, and turn a character model's score into a
#    word-level perplexity (why word papers quote perplexity and character papers bits);
# 2. measure the same models two ways: with their state carried from batch to batch
#    (truncated backpropagation through time, `bptt_dataset`, `reset_states`) and on
#    independent windows from a zero state, and draw the held-out loss against the context
#    the model has seen;
# 3. blow up a run with a learning rate that is too high, watch the gradient norm step by step
#    with and without clipping (written from scratch first, checked equal to Keras'
#    `clipnorm`), and let `regkeras.diagnose` call it "unstable";
# 4. test Zaremba et al.'s reason for keeping dropout off the recurrent connections on a task
#    that needs a long memory: a fresh mask at every step against one mask per sequence
#    (variational) against none, over three seeds, and see where the memory is erased;
# 5. write temperature and top-k sampling from scratch, check them token for token against
#    `regkeras.generate_text`, and measure what temperature does to samples.

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
import math

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from keras import ops

import regkeras

SEED = 0  # the exact checks use one seed: they are identities
SEEDS = (0, 1, 2)  # every measured effect is repeated over three seeds
keras.utils.set_random_seed(SEED)
SCALE = float(os.environ.get("REGKERAS_SCALE", "1"))  # 1 = the committed CPU run; try 4+ with a GPU

# %% [markdown]
# The corpus is the generated `recipes` text: a word-level Markov chain whose exact entropy
# rate (the lowest loss any model can reach) is known. 12,000 words, about 57,000 characters,
# split 60/30/10 so that the validation text is large (about 17,000 characters) and the
# differences measured on it are well above its noise. The language models are tiny (one
# 64-unit LSTM layer) and train for 6 short epochs. `REGKERAS_SCALE=4` uses 48,000 words and
# 24 epochs (not run here).

# %%
corpus = regkeras.load_corpus("recipes", num_words=int(12_000 * SCALE), fractions=(0.6, 0.3, 0.1))
chain = regkeras.RecipeChain(seed=0)  # the chain that generated the corpus
print(corpus)
print(f"train {corpus.train_ids.size:,} characters, validation {corpus.val_ids.size:,}; "
      f"floor (entropy rate) {corpus.entropy_rate:.4f} nats/char")
assert abs(chain.entropy_rate - corpus.entropy_rate) < 1e-12
V, BATCH, SEQ_LEN, EPOCHS = corpus.vocab_size, 32, 32, int(6 * SCALE)


def make_model(seed, stateful=False, batch_size=None):
    keras.utils.set_random_seed(seed)
    model = regkeras.build_language_model(V, embedding_dim=16, units=64, num_layers=1,
                                          stateful=stateful, batch_size=batch_size, seed=seed)
    model.compile(keras.optimizers.Adam(1e-2, clipnorm=1.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# %% [markdown]
# Two ways to feed the same training text, used in sections 1, 2 and 5. **Independent
# windows** (`window_dataset`): 32-character windows in a shuffled order, every window starts
# from a zero state. **Truncated backpropagation through time** (`bptt_dataset`, Zaremba et
# al., 2014): the text is cut into 32 parallel streams, read 32 characters at a time, so row
# `i` of one batch continues row `i` of the previous one; a *stateful* model keeps its LSTM
# state between batches, and we reset it (`regkeras.reset_states`) at the start of every
# epoch. Gradients still flow back only 32 steps (that is the "truncated"); the state, the
# model's memory, flows forward without limit.

# %%
windows_train = corpus.window_dataset("train", SEQ_LEN, BATCH, seed=SEED)
bptt_train = corpus.bptt_dataset("train", SEQ_LEN, BATCH)
print(f"{regkeras.count_batches(windows_train)} window batches and "
      f"{regkeras.count_batches(bptt_train)} BPTT batches per epoch")

models = {}  # (how it was trained, seed) -> a stateless model with the trained weights
for seed in SEEDS:
    windowed = make_model(seed)
    windowed.fit(windows_train, epochs=EPOCHS, verbose=0, shuffle=False)  # tf.data shuffles
    models["windows", seed] = windowed
    stateful = make_model(seed, stateful=True, batch_size=BATCH)
    for epoch in range(EPOCHS):
        regkeras.reset_states(stateful)  # each epoch reads the streams from their start
        stateful.fit(bptt_train, epochs=1, verbose=0, shuffle=False)  # streams stay in order
    twin = stateful.spec.replace(stateful=False, batch_size=None).build()  # same weights,
    twin.set_weights(stateful.get_weights())  # any batch size, zero state every call
    models["bptt", seed] = twin

# %% [markdown]
# ## 1. Perplexity, nats and bits per character
#
# A language model's loss is the mean of `-ln p(true next token)`: **nats** per token (natural
# log). Two other scales are the same number in other clothes:
#
# * **perplexity** `exp(loss)`: the model is as uncertain as if it chose uniformly among that
#   many tokens. A uniform guess over `k` tokens has perplexity exactly `k`;
# * **bits per character** `loss / ln 2`: the same log in base 2, the length in bits of the
#   code an arithmetic coder driven by the model would write per character.
#
# By hand, on the validation text, for the window-trained model of seed 0:

# %%
model = models["windows", SEED]
val_x = corpus.val_ids[: (corpus.val_ids.size - 1) // SEQ_LEN * SEQ_LEN].reshape(-1, SEQ_LEN)
val_y = corpus.val_ids[1: val_x.size + 1].reshape(-1, SEQ_LEN)
logits = model.predict(val_x, batch_size=256, verbose=0).astype("float64")
log_probs = logits - logits.max(-1, keepdims=True)
log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))  # log softmax
nats = -np.take_along_axis(log_probs, val_y[..., None], -1)[..., 0]  # [windows, SEQ_LEN]
loss = nats.mean()
print(f"{nats.size:,} characters: {loss:.4f} nats/char = perplexity {math.exp(loss):.3f} "
      f"= {loss / math.log(2):.4f} bits/char")

# %%
ppl_metric, bpc_metric = regkeras.Perplexity(), regkeras.BitsPerCharacter()
for start in range(0, len(val_x), 64):  # in batches, as `evaluate` would feed them
    ppl_metric.update_state(val_y[start:start + 64], logits[start:start + 64])
    bpc_metric.update_state(val_y[start:start + 64], logits[start:start + 64])
np.testing.assert_allclose(float(ppl_metric.result()), math.exp(loss), rtol=1e-5)
np.testing.assert_allclose(float(bpc_metric.result()), loss / math.log(2), rtol=1e-5)
np.testing.assert_allclose(regkeras.metrics.perplexity_and_bits(loss),
                           (math.exp(loss), loss / math.log(2)), rtol=1e-12)
uniform = np.zeros((1, 1, V))  # every character equally likely
np.testing.assert_allclose(regkeras.perplexity(float(-np.log(1 / V))), V)
np.testing.assert_allclose(float(regkeras.Perplexity()(np.zeros((1, 1), "int32"), uniform)), V,
                           rtol=1e-5)
print("by hand = Perplexity = BitsPerCharacter = perplexity_and_bits; uniform guess: "
      f"perplexity {V}, {math.log2(V):.2f} bits/char")

# %% [markdown]
# The metrics add up the nats of every character and take `exp` (or divide by `ln 2`) once, at
# the end. Averaging the perplexities of the batches instead gives a larger number, always
# (the exponential is convex: Jensen's inequality), and the more the batches differ, the
# larger the error:

# %%
batch_losses = nats[: len(nats) // 8 * 8].reshape(-1, 8 * SEQ_LEN)  # 8 windows per "batch"
mean_of_ppls = np.exp(batch_losses.mean(1)).mean()
print(f"mean of per-batch perplexities {mean_of_ppls:.3f} > perplexity of the mean loss "
      f"{math.exp(loss):.3f}")
assert mean_of_ppls > math.exp(loss)

# %% [markdown]
# **Why word-level papers report perplexity and character-level papers bits.** For words the
# perplexity is a readable number: Zaremba et al.'s medium model has a Penn Treebank test
# perplexity of 82.7, "as unsure as a choice among 83 words" out of 10,000. For characters the
# perplexity sits between 1 and about 4 and hides differences in the second decimal
# (perplexity 2.0 against 2.1 is 1.00 against 1.07 bits), while bits per character are what
# compression is measured in (Shannon's estimates for English, text-compression benchmarks),
# so that is the unit those papers use. Neither number is comparable across the two kinds of
# model until both are put on the same unit over the *same text*: the total nats divided by
# the number of words. Our character model scored per word, next to the exact floor (the
# chain's word entropy rate):

# %%
words_in_val = len(corpus.vocab.decode(corpus.val_ids[1: val_x.size + 1]).split())
nats_per_word = nats.sum() / words_in_val
chars_per_word = nats.size / words_in_val
table = {"this model": loss, "floor (the chain)": corpus.entropy_rate, "uniform guess": math.log(V)}
print(f"{'':18s} {'nats/char':>9s} {'bits/char':>9s} {'ppl/char':>8s} {'bits/word':>9s} "
      f"{'ppl/word':>9s}   ({chars_per_word:.2f} characters per word, spaces included)")
for name, per_char in table.items():
    per_word = per_char * chars_per_word
    print(f"{name:18s} {per_char:9.4f} {per_char / math.log(2):9.4f} {math.exp(per_char):8.3f} "
          f"{per_word / math.log(2):9.3f} {math.exp(per_word):9.2f}")
np.testing.assert_allclose(math.exp(nats_per_word), math.exp(loss * chars_per_word))
floor_word_ppl = math.exp(chain.word_entropy_rate)
print(f"the chain's word perplexity: {floor_word_ppl:.2f} "
      f"(exp of {chain.word_entropy_rate:.4f} nats/word, "
      f"{chain.mean_chars_per_word:.2f} chars/word)")
assert abs(chars_per_word - chain.mean_chars_per_word) < 0.1, "the sample's word length"
assert math.exp(corpus.entropy_rate) < math.exp(loss) < 1.5 * math.exp(corpus.entropy_rate)
assert math.exp(nats_per_word) > 2 * floor_word_ppl, "per word the same gap looks far larger"

# %% [markdown]
# A character perplexity 25% above the floor's (1.99 against 1.59) is a word perplexity about
# three times the floor's (25 against 9): the per-character excess is multiplied by the ~4.7
# characters of every word inside the exponential. The same model, the same text, very different
# impressions: always say
# which unit, and per what.

# %% [markdown]
# ## 2. Carried state against independent windows
#
# The same trained weights can be measured two ways on the validation text:
#
# * **carried state**: a stateful copy (batch of 32 streams) reads the text with
#   `bptt_dataset`, its state carried from batch to batch, reset once at the start: every
#   character after the first few of a stream is predicted with all the text before it;
# * **independent windows**: 32-character windows, each from a zero state
#   (`regkeras.heldout_loss`, which also gives the standard error): the first characters of
#   every window are predicted with almost no context.

# %%
def carried_loss(model, ids, batch_size=BATCH, seq_len=SEQ_LEN):
    """Mean loss over `ids` read by a stateful copy of `model`, its state carried."""
    reader = model.spec.replace(stateful=True, batch_size=batch_size).build()
    reader.set_weights(model.get_weights())
    regkeras.reset_states(reader)
    total, count = 0.0, 0
    for x, y in regkeras.bptt_dataset(ids, seq_len, batch_size):
        xent = ops.sparse_categorical_crossentropy(y, reader(x, training=False), from_logits=True)
        total, count = total + float(ops.sum(xent)), count + int(np.prod(y.shape))
    return total / count


def loss_by_position(model, ids, length=64):
    """Mean loss at each position of `length`-character windows that start from zero."""
    n = (ids.size - 1) // length * length
    x, y = ids[:n].reshape(-1, length), ids[1:n + 1].reshape(-1, length)
    xent = ops.sparse_categorical_crossentropy(y, model.predict(x, batch_size=256, verbose=0),
                                               from_logits=True)
    return ops.convert_to_numpy(xent).mean(0)


scores = {}
for (trained, seed), model in models.items():
    windowed, se, n_windows = regkeras.heldout_loss(model, corpus.val_ids, seq_len=SEQ_LEN)
    scores[trained, seed] = dict(carried=carried_loss(model, corpus.val_ids), windows=windowed,
                                 se=se, by_position=loss_by_position(model, corpus.val_ids))
print(f"validation: {corpus.val_ids.size:,} characters, {n_windows} windows of {SEQ_LEN}")


def stat(trained, key):
    return regkeras.seed_stats([scores[trained, s][key] for s in SEEDS])


# Two yardsticks for the first prediction of a window, which sees one character: a guess from
# the character frequencies alone, and the best guess from the previous character alone (the
# unigram and bigram entropies of the training text).
train_ids = np.asarray(corpus.train_ids)
pair_counts = np.zeros((corpus.vocab_size, corpus.vocab_size))
np.add.at(pair_counts, (train_ids[:-1], train_ids[1:]), 1)
pair_p = pair_counts / pair_counts.sum()
char_p = pair_p.sum(axis=0)
unigram_entropy = -np.sum(char_p[char_p > 0] * np.log(char_p[char_p > 0]))
given_previous = np.divide(pair_p, pair_p.sum(1, keepdims=True), out=np.zeros_like(pair_p),
                           where=pair_p > 0)
seen = pair_p > 0
bigram_entropy = -np.sum(pair_p[seen] * np.log(given_previous[seen]))
print(f"a guess from the character frequencies: {unigram_entropy:.2f} nats; from the previous "
      f"character: {bigram_entropy:.2f}")
first_char = {trained: regkeras.seed_stats([scores[trained, s]["by_position"][0] for s in SEEDS])
              for trained in ("windows", "bptt")}
for trained in ("windows", "bptt"):
    late = regkeras.seed_stats([scores[trained, s]["by_position"][16:].mean() for s in SEEDS])
    first = first_char[trained]
    print(f"trained on {trained:7s}: carried state {stat(trained, 'carried')}, independent "
          f"windows {stat(trained, 'windows')} (standard error {stat(trained, 'se').mean:.3f}); "
          f"zero state, 1st character {first}, characters 17-64 {late}")

# %%
fig, ax = plt.subplots(figsize=(9, 4.2))
positions = np.arange(1, 65)
for trained, color in (("windows", "C0"), ("bptt", "C3")):
    curves = np.array([scores[trained, s]["by_position"] for s in SEEDS])
    ax.plot(positions, curves.mean(0), color=color,
            label=f"trained on {trained}: zero state, loss at each position")
    ax.fill_between(positions, curves.mean(0) - curves.std(0, ddof=1),
                    curves.mean(0) + curves.std(0, ddof=1), color=color, alpha=0.2)
    ax.axhline(stat(trained, "carried").mean, color=color, linestyle=":",
               label=f"trained on {trained}: carried state (whole text)")
ax.axhline(corpus.entropy_rate, color="black", linestyle="--", label="floor (entropy rate)")
ax.axvline(SEQ_LEN, color="grey", linewidth=0.8)
ax.set(xscale="log", xlabel="characters of context seen from a zero state (log scale)",
       ylabel="validation loss (nats/char)", ylim=(0.3, 3.0),
       title=f"Held-out loss against context (mean ± sd of {len(SEEDS)} seeds; "
             f"grey: the {SEQ_LEN}-character training window)")
ax.legend(fontsize=8)
plt.show()

# %%
for trained in ("windows", "bptt"):
    carried, windowed = stat(trained, "carried"), stat(trained, "windows")
    late = [scores[trained, s]["by_position"][16:].mean() for s in SEEDS]
    assert regkeras.clearly_lower(carried, windowed), f"{trained}: carrying the state helps"
    assert windowed.mean - carried.mean > 4 * stat(trained, "se").mean, "well above the noise"
    assert min(scores[trained, s]["by_position"][0] for s in SEEDS) > 2 * max(late), "cold start"
    assert abs(np.mean(late) - carried.mean) < 0.05, "beyond ~16 characters, context adds little"
# The window-trained model's first prediction lies between the two yardsticks; the BPTT-trained
# model, which seldom starts from zero in training, pays more for it and for whole windows.
assert bigram_entropy < first_char["windows"].mean < unigram_entropy
assert regkeras.clearly_lower(first_char["windows"], first_char["bptt"]), "a larger cold start"
assert regkeras.clearly_lower(stat("windows", "windows"), stat("bptt", "windows")), (
    "the BPTT-trained model scores worse on independent windows")

# %% [markdown]
# What carrying the state buys here (numbers above):
#
# * **The cold start, and only that.** From a zero state the first prediction of a window, made
#   from one character, costs the window-trained model 2.15 nats: between a guess from the
#   character frequencies (2.79) and the best guess from the previous character alone (1.88);
#   the second and third cost a little less; after one or two words of context the loss is
#   flat. Independent 32-character windows
#   pay that cold start in every window; the carried state pays it once per stream, so the
#   same weights score clearly lower read with their state carried, for both models, by many
#   standard errors of the validation loss.
# * **No long-range memory, because the text has none.** The recipe chain is first order in
#   words: the previous word is all the context there is, and from a zero state the loss after
#   16 characters is within a few hundredths of the carried-state loss. On real text (Penn
#   Treebank for Zaremba et al., 35-word truncation) the state also carries the topic and the
#   sentence across the window boundary; there the same measurement shows the loss still
#   falling beyond the window.
# * **Carrying the state is a way of reading, more than a way of training.** Read with a
#   carried state, the window-trained model and the BPTT-trained one are level (0.597 ± 0.009
#   against 0.587 ± 0.011 nats/char: within the seed spread, no claim either way). The
#   window-trained model's state never saw more than 32 steps in training and still works
#   over 500, because nothing in this text needs more. The BPTT-trained model pays a larger
#   cold start (it rarely starts from zero in training: 2.77 against 2.15 nats for the first
#   character, about a guess from the frequencies), so it scores clearly worse on independent
#   windows (0.769 against 0.690). BPTT's other gain is efficiency: every
#   character of the training text is predicted
#   once with context, without overlapping windows.

# %% [markdown]
# ## 3. An unstable run, and gradient clipping
#
# Zaremba et al. trained with plain SGD at learning rate 1 and clipped the norm of the
# gradient at 5. Clipping rescales a gradient that is too long back to a maximum length and
# leaves shorter ones alone: `g ← g · min(1, c / ‖g‖)`. Keras has two versions: `clipnorm=c`
# clips each weight's gradient by its own norm, `global_clipnorm=c` clips the whole gradient
# by its global norm (Zaremba's). From scratch, checked against both on one step of SGD:

# %%
def clip_each(grads, c):
    return [g * min(1.0, c / float(tf.norm(g))) for g in grads]


def clip_global(grads, c):
    norm = math.sqrt(sum(float(tf.reduce_sum(g * g)) for g in grads))
    return [g * min(1.0, c / norm) for g in grads]


loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
x, y = next(iter(windows_train))
probe = make_model(SEED)
start = probe.get_weights()
with tf.GradientTape() as tape:
    raw_loss = loss_fn(y, probe(x, training=True))
grads = [tf.convert_to_tensor(g) for g in tape.gradient(raw_loss, probe.trainable_variables)]
for scratch, clip in ((clip_each, dict(clipnorm=0.05)), (clip_global, dict(global_clipnorm=0.05))):
    results = []
    for given, optimizer in ((grads, keras.optimizers.SGD(1.0, **clip)),
                             (scratch(grads, 0.05), keras.optimizers.SGD(1.0))):
        probe.set_weights(start)
        optimizer.apply_gradients(zip(given, probe.trainable_variables))
        results.append(probe.get_weights())
    for keras_w, scratch_w in zip(*results):
        np.testing.assert_allclose(keras_w, scratch_w, rtol=1e-5, atol=1e-7)
print("one SGD step: scratch clip_each = clipnorm, scratch clip_global = global_clipnorm")
print("gradient norms of the weights:", [round(float(tf.norm(g)), 3) for g in grads])

# %% [markdown]
# Now a learning rate that is too high: SGD at 20 instead of Zaremba's 1, on the same tiny
# model, 300 steps, with and without `clipnorm=0.25`. The training loop is `fit`'s, written
# out so that we can keep the gradient norm of every step (before clipping). Every 15 steps
# count as an "epoch" for the history that `diagnose` reads, with the validation loss on the
# first 4,096 validation characters.

# %%
UNSTABLE_LR, CLIP, STEPS, STEPS_PER_EPOCH = 20.0, 0.25, int(300 * SCALE), 15
val_batch = (val_x[:128], val_y[:128])


def train_sgd(seed, clipnorm):
    model = make_model(seed)
    optimizer = keras.optimizers.SGD(UNSTABLE_LR, clipnorm=clipnorm)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))  # clips if asked
        return loss, tf.linalg.global_norm(grads)

    data = corpus.window_dataset("train", SEQ_LEN, BATCH, seed=seed).repeat()
    losses, norms, history = [], [], {"loss": [], "val_loss": []}
    for i, (x, y) in zip(range(STEPS), data):
        loss, norm = step(x, y)
        losses.append(float(loss)), norms.append(float(norm))
        if (i + 1) % STEPS_PER_EPOCH == 0:
            history["loss"].append(float(np.mean(losses[-STEPS_PER_EPOCH:])))
            history["val_loss"].append(float(loss_fn(val_batch[1], model(val_batch[0]))))
    return dict(losses=np.array(losses), norms=np.array(norms), history=history)


sgd_runs = {(clip, seed): train_sgd(seed, clip) for clip in (None, CLIP) for seed in SEEDS}
verdicts = {key: regkeras.diagnose(run["history"]) for key, run in sgd_runs.items()}
for (clip, seed), run in sgd_runs.items():
    print(f"clipnorm={clip}, seed {seed}: largest gradient norm {np.nanmax(run['norms']):8.1f}, "
          f"final validation loss {run['history']['val_loss'][-1]:.3f}, "
          f"diagnose: {verdicts[clip, seed].verdict}")
print()
print(verdicts[None, SEED])

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for clip, color, label in ((None, "C3", "no clipping"), (CLIP, "C0", f"clipnorm={CLIP}")):
    for seed in SEEDS:
        run = sgd_runs[clip, seed]
        first = seed == SEEDS[0]
        axes[0].plot(run["norms"], color=color, alpha=0.6, linewidth=0.8,
                     label=label if first else None)
        axes[1].plot(run["losses"], color=color, alpha=0.6, linewidth=0.8,
                     label=label if first else None)
axes[0].axhline(CLIP, color="C0", linestyle=":", label=f"clip threshold {CLIP} (per weight)")
axes[0].set(yscale="log", xlabel="training step", ylabel="global gradient norm before clipping",
            title=f"SGD, learning rate {UNSTABLE_LR:g}: gradient norm per step, {len(SEEDS)} seeds")
axes[1].axhline(math.log(V), color="grey", linestyle="--", label="uniform guess, ln V")
axes[1].set(xlabel="training step", ylabel="training loss (nats/char)", ylim=(0, 14),
            title="training loss per step")
for ax in axes:
    ax.legend(fontsize=8)
plt.show()

# %%
final_val = {clip: regkeras.seed_stats([sgd_runs[clip, s]["history"]["val_loss"][-1]
                                        for s in SEEDS]) for clip in (None, CLIP)}
peak_norm = {clip: regkeras.seed_stats([np.nanmax(sgd_runs[clip, s]["norms"]) for s in SEEDS])
             for clip in (None, CLIP)}
print(f"final validation loss: no clipping {final_val[None]}, clipnorm {CLIP}: {final_val[CLIP]}")
print(f"largest gradient norm: no clipping {peak_norm[None]}, clipnorm {CLIP}: {peak_norm[CLIP]}")
assert all(verdicts[None, s].verdict == "unstable" for s in SEEDS)
assert not any(verdicts[CLIP, s].verdict == "unstable" for s in SEEDS)
assert regkeras.clearly_lower(final_val[CLIP], final_val[None])
assert final_val[None].mean > math.log(V) > final_val[CLIP].mean + 1.0, "worse than guessing"

# %% [markdown]
# Without clipping every seed blows up within the first few steps: one step lands where the
# gradient is long, the next step is 20 times that length, and the loss jumps above that of a
# uniform guess (`ln 26 ≈ 3.26` nats) and stays there, with gradient norms in the tens to
# thousands (the run is chaotic: on another machine of the same kind the peaks differ).
# `diagnose` reads only the per-epoch losses and calls every one of them "unstable" (the
# training loss jumped 10% or more above its best so far), with the tuning guide's advice: reduce
# the
# learning rate, clip the gradients. With `clipnorm=0.25` the same learning rate trains: no
# step can move a weight matrix further than `20 × 0.25 = 5` in norm, so the rare long
# gradient turns into an ordinary step, and the run reaches a loss well below the guess
# (`diagnose` never calls them unstable; it reads the clipped runs' short, noisy curves, one
# validation loss on 4,096 characters every 15 steps, as healthy or underfitting). What
# clipping does not do is make a high learning rate a good idea: it trades explosions for
# steps of a fixed size in the direction of the gradient. (Adam, the optimizer of the other
# chapters, divides by the gradient's running size and is far harder to blow up; the course
# keeps `clipnorm=1.0` on it as insurance, as `make_adamw` does.)

# %% [markdown]
# ## 4. Why Zaremba kept dropout off the recurrent connections
#
# Zaremba et al. (2014): "The main idea is to apply the dropout operator only to the
# non-recurrent connections". Their reason: a fresh mask on the recurrent path at every step
# corrupts what the network carries from step to step, once per step, so information that
# must survive `d` steps is hit `d` times. Gal & Ghahramani (2016) then showed that a mask
# drawn **once per sequence** can go on the recurrent connection (Keras'
# `recurrent_dropout`). We test both on a task that needs nothing *but* memory.
#
# **The task.** A sequence of 32 tokens: noise tokens (8 kinds) and, `d` steps before the end,
# one key (16 kinds). At the end the model must name the key. Chance is 1/16; a model that
# remembers gets it right at every distance `d` from 1 to 31.

# %%
KEYS, NOISE, STEPS_T = 16, 8, 32


def recall_task(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(KEYS, KEYS + NOISE, size=(n, STEPS_T))
    distance = rng.integers(1, STEPS_T, size=n)  # steps from the key to the end
    keys = rng.integers(0, KEYS, size=n)
    x[np.arange(n), STEPS_T - 1 - distance] = keys
    return x.astype("int32"), keys.astype("int32"), distance


task_x, task_y, _ = recall_task(int(3072 * SCALE), seed=100)
test_x, test_y, test_d = recall_task(4096, seed=200)
print(task_x[0], "->", task_y[0])

# %% [markdown]
# The layer: an LSTM cell run step by step, with a dropout mask on `h[t-1]` before it enters
# the cell (the recurrent connection), drawn fresh at every step (`"per_step"`), once per
# sequence (`"per_sequence"`, variational), or not at all. The same code draws every kind of
# mask, so the three differ only in the mask. For section 4's second experiment it can also
# mask the cell state `c[t-1]` (`where="c"`), the LSTM's long-term memory.

# %%
class MaskedRecurrenceLSTM(keras.layers.Layer):
    """An LSTM whose recurrent input h[t-1] (or cell state c[t-1]) is dropped in training."""

    def __init__(self, units, rate=0.0, mode="none", where="h", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.rate, self.mode, self.where = units, rate, mode, where
        self.cell = keras.layers.LSTMCell(units)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.cell.build((input_shape[0], input_shape[-1]))

    def masks(self, batch, steps):
        shape = (batch, steps if self.mode == "per_step" else 1, self.units)
        keep = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) >= self.rate,
                        "float32")
        # h[t-1] is rescaled as in all dropout; c is carried, so a rescale would compound
        return keep / (1.0 - self.rate) if self.where == "h" else keep

    def call(self, x, training=False):
        steps = x.shape[1]
        h = c = ops.zeros((ops.shape(x)[0], self.units))
        masks = self.masks(ops.shape(x)[0], steps) if training and self.mode != "none" else None
        for t in range(steps):
            if masks is not None:
                mask = masks[:, t if self.mode == "per_step" else 0]
                h, c = (h * mask, c) if self.where == "h" else (h, c * mask)
            h, (_, c) = self.cell(x[:, t], [h, c])
        return h


def recall_model(mode, rate, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((STEPS_T,), dtype="int32")
    hidden = MaskedRecurrenceLSTM(32, rate, mode, seed=seed, name="lstm")(
        keras.layers.Embedding(KEYS + NOISE, 16)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(KEYS)(hidden))
    model.compile(keras.optimizers.Adam(1e-2, clipnorm=1.0), loss_fn)
    return model


# %% [markdown]
# Checks first: without masks the layer is `keras.layers.LSTM` with the same weights; with a
# mask, one step of it is the `regkeras` engine's LSTM step given that mask as its
# `recurrent_mask` (the mask `recurrent_dropout` uses), which multiplies `h[t-1]` before
# `U`, exactly as our layer does.

# %%
layer = MaskedRecurrenceLSTM(8, 0.5, "per_step", seed=SEED)
xs = keras.random.normal((4, 6, 5), seed=SEED)
reference = keras.layers.LSTM(8)
reference(xs), layer(xs)
reference.set_weights(layer.get_weights())
np.testing.assert_allclose(layer(xs), reference(xs), atol=1e-6)
kernel, recurrent_kernel, bias = layer.get_weights()
h0, c0 = (keras.random.normal((4, 8), seed=s) for s in (1, 2))
mask = layer.masks(4, 1)[:, 0]
h_ours, (_, c_ours) = layer.cell(xs[:, 0], [h0 * mask, c0])
h_engine, c_engine = regkeras.lstm_step(ops.matmul(xs[:, 0], kernel), h0, c0,
                                        {"kernel": recurrent_kernel, "bias": bias,
                                         "recurrent_mask": mask})
np.testing.assert_allclose(h_ours, h_engine, atol=1e-6)
np.testing.assert_allclose(c_ours, c_engine, atol=1e-6)
print("no mask = keras.layers.LSTM; masked step = regkeras.lstm_step with recurrent_mask")

# %% [markdown]
# **Experiment 1: train with each mask on `h[t-1]`** (rate 0.5, three seeds each), then
# measure the recall accuracy at every distance on 4,096 fresh test sequences (about 130 per
# distance), masks off, as the model is used.

# %%
MODES, RATE = ("none", "per_sequence", "per_step"), 0.5
RECALL_EPOCHS = int(8 * SCALE)


def accuracy_by_distance(model, training=False):
    logits = model(test_x, training=training) if training else model.predict(
        test_x, batch_size=1024, verbose=0)
    right = np.argmax(ops.convert_to_numpy(logits), -1) == test_y
    return np.array([right[test_d == d].mean() for d in range(1, STEPS_T)])


recall = {}
for mode in MODES:
    for seed in SEEDS:
        model = recall_model(mode, RATE, seed)
        model.fit(task_x, task_y, batch_size=64, epochs=RECALL_EPOCHS, verbose=0)
        recall[mode, seed] = model
accuracy = {mode: np.array([accuracy_by_distance(recall[mode, s]) for s in SEEDS])
            for mode in MODES}
far = {mode: regkeras.seed_stats(accuracy[mode][:, 19:].mean(1)) for mode in MODES}
near = {mode: regkeras.seed_stats(accuracy[mode][:, :5].mean(1)) for mode in MODES}
for mode in MODES:
    print(f"trained with {mode:12s} masks on h[t-1]: accuracy at distance 1-5 {near[mode]}, "
          f"at distance 20-31 {far[mode]}")

# %% [markdown]
# **Experiment 2: where the memory is erased.** Take the models trained without dropout and
# evaluate them with the masks *on* (the view the network gets at every training step), rate
# 0.25: on `h[t-1]`, and on the cell state `c[t-1]`, fresh every step or once per sequence.

# %%
EVAL_RATE = 0.25
masked_eval = {}
for where in ("h", "c"):
    for mode in ("per_sequence", "per_step"):
        curves = []
        for seed in SEEDS:
            lstm = recall["none", seed].get_layer("lstm")
            lstm.rate, lstm.mode, lstm.where = EVAL_RATE, mode, where
            curves.append(accuracy_by_distance(recall["none", seed], training=True))
            lstm.rate, lstm.mode, lstm.where = RATE, "none", "h"  # back as trained
        masked_eval[where, mode] = np.array(curves)
for (where, mode), curves in masked_eval.items():
    print(f"no-dropout models, masks on {where}[t-1] ({mode:12s}) at test: accuracy at distance "
          f"1-5 {regkeras.seed_stats(curves[:, :5].mean(1))}, "
          f"20-31 {regkeras.seed_stats(curves[:, 19:].mean(1))}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
distances = np.arange(1, STEPS_T)
for mode, color in zip(MODES, ("black", "C0", "C3")):
    mean, sd = accuracy[mode].mean(0), accuracy[mode].std(0, ddof=1)
    axes[0].plot(distances, mean, color=color, label=f"trained with {mode} masks")
    axes[0].fill_between(distances, mean - sd, mean + sd, color=color, alpha=0.15)
axes[0].set(title=f"1. Trained with dropout {RATE} on h[t-1]; tested without masks",
            xlabel="distance from the key to the end (steps)", ylabel="recall accuracy")
styles = {("h", "per_sequence"): ("C0", "--"), ("h", "per_step"): ("C3", "--"),
          ("c", "per_sequence"): ("C0", "-"), ("c", "per_step"): ("C3", "-")}
axes[1].plot(distances, accuracy["none"].mean(0), color="black", label="no masks")
for (where, mode), curves in masked_eval.items():
    color, style = styles[where, mode]
    axes[1].plot(distances, curves.mean(0), color=color, linestyle=style,
                 label=f"{mode} masks on {where}[t-1]")
axes[1].set(title=f"2. Trained without dropout; tested with masks ({EVAL_RATE}) on",
            xlabel="distance from the key to the end (steps)")
for ax in axes:
    ax.axhline(1 / KEYS, color="grey", linestyle=":", label="chance (1/16)")
    ax.legend(fontsize=8)
fig.suptitle(f"Recall over {len(SEEDS)} seeds (mean; band ± 1 sd)")
plt.show()

# %%
step_c, seq_c = masked_eval["c", "per_step"], masked_eval["c", "per_sequence"]
step_c_far = regkeras.seed_stats(step_c[:, 19:].mean(1))
step_c_near = regkeras.seed_stats(step_c[:, :5].mean(1))
seq_c_far = regkeras.seed_stats(seq_c[:, 19:].mean(1))
assert regkeras.clearly_lower(step_c_far, step_c_near), "fresh masks on c erase with distance"
assert regkeras.clearly_lower(step_c_far, seq_c_far), "one mask per sequence does not"
assert step_c_far.mean < 3 / KEYS, "far keys are close to chance"
for mode in ("per_sequence", "per_step"):
    assert far[mode].mean > 0.9, f"trained with {mode} masks on h, the LSTM still remembers"

# %% [markdown]
# What the two panels say (numbers printed above):
#
# * **Zaremba's mechanism is real, on the memory.** A fresh mask at every step on the LSTM's
#   cell state `c` erases what it holds: each unit survives `d` steps with probability
#   `0.75^d`, and the accuracy falls from about 0.9 for a key a few steps back to near
#   chance for one 20-31 steps back. One mask per sequence on `c` removes the same fraction of
#   units but the *same* units at every step: the memory in the others is untouched, and the
#   accuracy falls far less with distance (from about 0.92 to 0.77; some of the network's
#   units, missing for the whole sequence, were needed by a model never trained without
#   them). That is Gal & Ghahramani's point: it is the fresh
#   mask at every step, not dropout on the recurrence as such, that destroys memory.
# * **On `h[t-1]` the LSTM shrugs it off, here.** Trained with dropout 0.5 on `h[t-1]`, fresh
#   every step or once per sequence, the LSTMs recall keys 20-31 steps back as well as those
#   just seen: `h[t-1]` only feeds the gates, and the key itself sits in `c`, which that mask
#   never touches. (At this budget the dropout-trained models are even more reliable than the
#   unregularized ones; with three seeds and a small task, we do not make a claim of it.) So
#   at CPU scale we cannot show a fresh mask on `h[t-1]` erasing memory; the erasure appears
#   when the mask reaches the state that carries the memory, as it does in a plain RNN (where
#   `h` is the memory) and in early LSTM dropout variants that masked `c`. (Masks on `h[t-1]`
#   at test do cost a model trained without dropout accuracy: per-sequence masks more than
#   fresh ones, clearly for far keys (0.70 against 0.94), at the limit of the seed spread for
#   near ones (0.78 against 0.94), and the fresh masks at near and far keys alike. That is the
#   cost of an unrehearsed injury, not memory loss.)
#   Semeniuta et al.
#   (2016) made the same observation and drop only the LSTM's new candidate values `g`.
# * **What the course does.** Zaremba's placement (`dropout=`, off the recurrence) and the
#   per-sequence masks (`variational=True`, `recurrent_dropout=`) are safe; weight drop masks
#   `U` once per batch, which is again the same mask at every step.

# %% [markdown]
# ## 5. Sampling: temperature and top-k
#
# A language model gives a distribution over the next token; generating text means drawing
# from it, feeding the draw back, and drawing again. Two knobs change the distribution before
# the draw:
#
# * **temperature** `T`: divide the logits by `T` before the softmax, `p_T ∝ p^(1/T)`. `T < 1`
#   sharpens (the likely get likelier), `T > 1` flattens, `T → 0` is the argmax (greedy);
# * **top-k**: keep only the `k` most likely tokens, renormalize, draw among them.

# %%
def sampling_distribution(logits, temperature=1.0, top_k=None):
    z = (np.asarray(logits, "float64") - np.max(logits)) / temperature
    if top_k is not None:
        z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
    p = np.exp(z)
    return p / p.sum()


def entropy_bits(p):
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


example = np.log([0.5, 0.25, 0.15, 0.07, 0.03])
for temperature, top_k in ((1.0, None), (0.5, None), (2.0, None), (1.0, 2)):
    p = sampling_distribution(example, temperature, top_k)
    print(f"T={temperature}, top_k={top_k}: p = {np.round(p, 3)}, "
          f"entropy {entropy_bits(p):.2f} bits")
np.testing.assert_allclose(sampling_distribution(example), np.exp(example) / np.exp(example).sum())
sharp = sampling_distribution(example, 0.5)
np.testing.assert_allclose(sharp, np.exp(example) ** 2 / (np.exp(example) ** 2).sum())
assert sampling_distribution(example, 1e-3)[0] > 0.999, "T -> 0 is the argmax"

# %% [markdown]
# The check against the library: `generate_text` draws each token with a NumPy generator
# seeded by `seed`. Our loop, feeding the model the last 100 characters, computing our
# distribution and drawing with the same generator, must write the same text, token for
# token.

# %%
def scratch_generate(model, prompt, length, temperature, top_k, seed):
    rng, ids = np.random.default_rng(seed), list(corpus.vocab.encode(prompt))
    for _ in range(length):
        logits = ops.convert_to_numpy(model.predict_on_batch(np.array([ids[-100:]], "int32")))
        ids.append(int(rng.choice(V, p=sampling_distribution(logits[0, -1], temperature, top_k))))
    return corpus.vocab.decode(ids[len(corpus.vocab.encode(prompt)):])


model, prompt = models["windows", SEED], "boil "
for temperature, top_k in ((0.8, None), (1.5, 5)):
    ours = scratch_generate(model, prompt, 80, temperature, top_k, seed=7)
    library = regkeras.generate_text(model, corpus.vocab, prompt, length=80,
                                     temperature=temperature, top_k=top_k, seed=7,
                                     include_prompt=False)
    assert ours == library, (ours, library)
    print(f"T={temperature}, top_k={top_k}: {library!r}")
greedy = regkeras.generate_text(model, corpus.vocab, prompt, length=80, temperature=0)
assert greedy == regkeras.generate_text(model, corpus.vocab, prompt, length=80, temperature=0,
                                        seed=123), "greedy ignores the seed"
print("scratch sampler = generate_text, token for token")

# %% [markdown]
# What temperature does to text. Each of the three window-trained models writes 240
# characters at every setting (the same sampling seed), and we score the samples with two
# numbers: **how many word pairs are legal recipe grammar** (both words exist and the chain
# allows the transition: quality) and **distinct-2** (distinct word pairs / word pairs:
# variety). Beside them, the entropy of the model's sampling distribution on the validation
# text, in bits per character.

# %%
SETTINGS = ((0.0, None), (0.5, None), (0.8, None), (1.0, None), (1.5, None), (1.5, 3))
legal = set(zip(*np.nonzero(chain.transition_matrix)))
index = {word: i for i, word in enumerate(chain.words)}


def score_sample(text):
    words = text.split()
    pairs = list(zip(words, words[1:]))
    ok = [a in index and b in index and (index[a], index[b]) in legal for a, b in pairs]
    return np.mean(ok), len(set(pairs)) / max(len(pairs), 1)


val_logits = {seed: models["windows", seed].predict(val_x[:64], verbose=0).reshape(-1, V)
              for seed in SEEDS}
samples, sample_scores = {}, {}
for temperature, top_k in SETTINGS:
    rows = []
    for seed in SEEDS:
        text = regkeras.generate_text(models["windows", seed], corpus.vocab, ". ", length=240,
                                      temperature=temperature, top_k=top_k, seed=seed,
                                      include_prompt=False)
        samples[temperature, top_k, seed] = text
        entropy = (np.mean([entropy_bits(sampling_distribution(row, temperature, top_k))
                            for row in val_logits[seed][::4]]) if temperature > 0 else 0.0)
        rows.append((*score_sample(text), entropy))
    sample_scores[temperature, top_k] = [regkeras.seed_stats(column) for column in zip(*rows)]
print(f"{'setting':16s} {'legal pairs':>15s} {'distinct-2':>15s} {'entropy bits/char':>18s}")
for (temperature, top_k), (ok, distinct, entropy) in sample_scores.items():
    print(f"{f'T={temperature:g}' + (f', top-{top_k}' if top_k else ''):16s} {ok.format():>15s} "
          f"{distinct.format():>15s} {entropy.format():>18s}")

# %%
for temperature, top_k in ((0.0, None), (0.8, None), (1.5, None), (1.5, 3)):
    print(f"--- T={temperature:g}{f', top-{top_k}' if top_k else ''} (seed 0):")
    print(samples[temperature, top_k, SEED][:160])

# %%
fig, ax = plt.subplots(figsize=(7, 4))
temperatures = [t for t, k in SETTINGS if k is None]
for column, (name, color) in enumerate((("legal word pairs", "C2"), ("distinct-2", "C1"))):
    means = [sample_scores[t, None][column].mean for t in temperatures]
    sds = [sample_scores[t, None][column].sd for t in temperatures]
    ax.errorbar(temperatures, means, yerr=sds, marker="o", capsize=3, color=color, label=name)
    ax.plot([1.5], [sample_scores[1.5, 3][column].mean], "*", markersize=12, color=color,
            label=f"{name}, T=1.5 with top-3")
ax.set(xlabel="temperature (0 = greedy)", ylabel="fraction of word pairs",
       title=f"Quality against variety ({len(SEEDS)} models, 240 characters each; mean ± sd)")
ax.legend(fontsize=8)
plt.show()

# %%
ok, distinct, entropy = ({setting: sample_scores[setting][i] for setting in SETTINGS}
                         for i in range(3))
assert all(entropy[SETTINGS[i]].mean < entropy[SETTINGS[i + 1]].mean for i in range(1, 4))
assert regkeras.clearly_lower(ok[1.5, None], ok[0.5, None]), "hot samples break the grammar"
assert regkeras.clearly_lower(distinct[0.0, None], distinct[1.0, None]), "greedy repeats itself"
assert regkeras.clearly_lower(ok[1.5, None], ok[1.5, 3]), "top-k cuts the implausible tail"

# %% [markdown]
# What the numbers say. **Greedy decoding** (`T = 0`) writes legal text that repeats itself:
# the same few word pairs again and again (the lowest distinct-2). **Low temperatures** keep
# most word pairs legal (about 90% at `T = 0.5`). **High temperatures** flatten the distribution
# (its entropy
# rises with `T`) and sample from its tail: new words, impossible transitions, character soup.
# **Top-k** cuts that tail: at `T = 1.5`, keeping only the 3 most likely characters more than
# doubles the share of legal word pairs (though it stays below `T = 0.8`'s). `T = 1` without top-k
# samples the model's own distribution, which is
# the only setting whose samples are distributed like the model's predictions; the course's
# `temperature=0.8` trades a little of that variety for fewer mistakes, the usual choice for
# showing samples, never for measuring a model (the loss and the perplexity always use the
# model's own distribution, `T = 1`).

# %% [markdown]
# ## Summary
#
# * Loss in nats, perplexity `exp(loss)` and bits `loss / ln 2` are one number on three
#   scales; the metrics accumulate nats and transform once (averaging per-batch perplexities
#   overstates them). Compared across word and character models, only the same text and the
#   same unit count: our character model, 25% above the floor's perplexity per character, is
#   about three times the floor's perplexity per word.
# * Carrying the LSTM state across batches (stateful model, `bptt_dataset`, `reset_states`
#   every epoch) removes the cold start that every independent window pays: the same weights
#   score clearly lower read that way. On this first-order text it buys nothing beyond that;
#   on real text it also carries context across the window.
# * SGD at learning rate 20 blows up on every seed without clipping, gradient norms in the
#   tens to thousands, and `diagnose` says "unstable"; `clipnorm=0.25` (a few lines from
#   scratch, equal
#   to Keras') lets the same run train.
# * A fresh dropout mask at every step erases memory when it reaches the state that holds it
#   (the LSTM's `c`: near chance 20 steps back); one mask per sequence does not. On `h[t-1]`,
#   which feeds only the gates, neither erased the LSTM's memory at this scale.
# * Temperature trades quality for variety; greedy repeats, hot samples break the grammar,
#   top-k trims the tail. Samples use `T ≈ 0.8`; measurements always use `T = 1`.
#
# ## Exercises
#
# 1. Train the same LSTM on Tiny Shakespeare (`regkeras.load_corpus("tiny_shakespeare")`) and
#    redraw section 2's figure. Does the loss keep falling beyond 32 characters of context, and
#    does the carried state beat the late-position loss now?
# 2. Rerun section 3 with `global_clipnorm` instead of `clipnorm`, and with a threshold of 5
#    (Zaremba's). Which threshold still saves the run at learning rate 20? At learning rate 1,
#    how often is the clipping active at all?
# 3. Replace the LSTM cell in `MaskedRecurrenceLSTM` by `keras.layers.SimpleRNNCell`, where
#    `h` is the whole memory, and train it with per-step and per-sequence masks on `h[t-1]`.
#    Does Zaremba's argument now show up in experiment 1?
# 4. (Open) Sample at `T = 1` with a top-k of 1, 3 and 10. Which setting's samples have the
#    lowest loss under the true chain (`chain.log_prob`)? Is the best setting for quality the
#    same as the best for a reader?
