"""Tests for regkeras.generation: sampling, stateless/stateful generation, MC dropout."""

import keras
import numpy as np
import pytest

import regkeras.models
from regkeras.generation import (
    MCDropoutPrediction,
    generate_ids,
    generate_text,
    mc_dropout_predict,
    sample_next_token,
)

ALPHABET = list("abcdefgh")
V = len(ALPHABET)


class CharVocab:
    """Stand-in for regkeras.data.Vocabulary (encode/decode/level)."""

    level = "char"

    def encode(self, text):
        return np.array([ALPHABET.index(c) for c in text], dtype="int32")

    def decode(self, ids):
        return "".join(ALPHABET[int(i)] for i in ids)


class WordVocab:
    level = "word"
    words = ["the", "cat", "sat", "on", "mat"]

    def encode(self, text):
        return np.array([self.words.index(w) for w in text.split()], dtype="int32")

    def decode(self, ids):
        return " ".join(self.words[int(i)] for i in ids)


def successor_model(vocab=V, batch_shape=(None, None)):
    """Logits favour (last token + 1) mod vocab: greedy generation counts upward."""
    ids = keras.Input(batch_shape=batch_shape, dtype="int32")
    table = 10.0 * np.roll(np.eye(vocab), 1, axis=1)  # row i peaks at column i+1
    init = keras.initializers.Constant(table)
    logits = keras.layers.Embedding(vocab, vocab, embeddings_initializer=init)(ids)
    return keras.Model(ids, logits)


def lstm_model(batch_shape=(None, None), stateful=False, seed=5):
    keras.utils.set_random_seed(seed)
    ids = keras.Input(batch_shape=batch_shape, dtype="int32")
    h = keras.layers.Embedding(V, 8)(ids)
    h = keras.layers.LSTM(12, return_sequences=True, stateful=stateful)(h)
    init = keras.initializers.RandomNormal(stddev=2.0)
    logits = keras.layers.Dense(V, kernel_initializer=init)(h)
    return keras.Model(ids, logits)


def test_sample_next_token_matches_softmax_frequencies():
    logits = np.array([1.0, 0.0, 2.0, -1.0])
    rng = np.random.default_rng(0)
    for temperature in (1.0, 0.5, 2.0):
        draws = [sample_next_token(logits, temperature=temperature, seed=rng) for _ in range(4000)]
        freq = np.bincount(draws, minlength=4) / len(draws)
        p = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
        np.testing.assert_allclose(freq, p, atol=0.025)


def test_top_k_and_greedy():
    logits = np.array([1.0, 0.0, 2.0, -1.0, 1.5])
    assert sample_next_token(logits, temperature=0) == 2
    assert sample_next_token(logits, temperature="greedy") == 2
    assert sample_next_token(logits, top_k=1, seed=3) == 2
    rng = np.random.default_rng(1)
    draws = {sample_next_token(logits, top_k=2, seed=rng) for _ in range(300)}
    assert draws == {2, 4}
    # renormalized among the top 2: p(2) = e^2 / (e^2 + e^1.5)
    draws = [sample_next_token(logits, top_k=2, seed=rng) for _ in range(4000)]
    assert np.mean(np.array(draws) == 2) == pytest.approx(1 / (1 + np.exp(-0.5)), abs=0.025)
    # very low temperature approaches argmax
    assert {sample_next_token(logits, temperature=1e-3, seed=rng) for _ in range(50)} == {2}


def test_greedy_generation_with_stateless_model():
    text = generate_text(successor_model(), CharVocab(), "ab", length=8, temperature=0)
    assert text == "abcdefghab"
    assert generate_text(successor_model(), CharVocab(), "ab", length=3, temperature=0,
                         include_prompt=False) == "cde"


def test_word_level_joins_with_spaces():
    model = successor_model(vocab=5)
    assert generate_text(model, WordVocab(), "the cat", length=3, temperature=0) == (
        "the cat sat on mat")


def test_same_seed_same_text_and_different_seed_differs():
    model = lstm_model()
    a = generate_text(model, CharVocab(), "abc", length=40, temperature=1.5, seed=11)
    b = generate_text(model, CharVocab(), "abc", length=40, temperature=1.5, seed=11)
    c = generate_text(model, CharVocab(), "abc", length=40, temperature=1.5, seed=12)
    assert a == b and a != c and len(a) == 43


def _copy(src, dst):
    dst.set_weights(src.get_weights())
    return dst


def test_stateful_fixed_batch_matches_stateless_full_context():
    # An RNN fed its whole history at once equals the stateful one fed a token at a time.
    stateless = lstm_model()
    stateful = _copy(stateless, lstm_model(batch_shape=(4, None), stateful=True))
    for kwargs in ({"temperature": 0}, {"temperature": 1.0, "seed": 3}):
        ref = generate_ids(stateless, [1, 2, 3, 0], 25, context_length=1000, **kwargs)
        got = generate_ids(stateful, [1, 2, 3, 0], 25, **kwargs)
        np.testing.assert_array_equal(got, ref)
    # states are reset first: generating twice gives the same ids
    again = generate_ids(stateful, [1, 2, 3, 0], 25, temperature=1.0, seed=3)
    np.testing.assert_array_equal(again, ref)


def test_stateful_fallback_feeds_identical_rows(monkeypatch):
    # When a model cannot be rebuilt with batch size 1, every row of the fixed batch gets the
    # same tokens and row 0 is read.
    import regkeras.generation as generation

    def fail(model, batch):
        raise ValueError("cannot rebuild")

    monkeypatch.setattr(generation, "_twin", fail)
    stateless = lstm_model()
    stateful = _copy(stateless, lstm_model(batch_shape=(4, None), stateful=True))
    ref = generate_ids(stateless, [1, 2, 3], 10, temperature=0, context_length=1000)
    np.testing.assert_array_equal(generate_ids(stateful, [1, 2, 3], 10, temperature=0), ref)
    fixed = _copy(stateless, lstm_model(batch_shape=(None, 5)))
    with pytest.raises(ValueError, match="fixed sequence length"):
        generate_ids(fixed, [1, 2, 3], 4)


class StatefulSubclass(keras.Model):
    def __init__(self):
        super().__init__()
        self.embed = keras.layers.Embedding(V, 8)
        self.lstm = keras.layers.LSTM(12, return_sequences=True, stateful=True)
        self.out = keras.layers.Dense(V)

    def call(self, x, training=False):
        return self.out(self.lstm(self.embed(x)))


def test_subclassed_stateful_model_uses_its_state_batch_size():
    model = StatefulSubclass()
    model(np.zeros((3, 4), dtype="int32"))  # states are created for batch size 3
    a = generate_ids(model, [1, 2], 8, temperature=1.0, seed=0)
    b = generate_ids(model, [1, 2], 8, temperature=1.0, seed=0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (8,)


def test_fixed_sequence_length_models_are_rebuilt():
    free = lstm_model()
    fixed = _copy(free, lstm_model(batch_shape=(None, 5)))
    fixed_stateful = _copy(free, lstm_model(batch_shape=(3, 5), stateful=True))
    ref = generate_ids(free, [4, 5, 6], 12, temperature=0, context_length=1000)
    np.testing.assert_array_equal(generate_ids(fixed, [4, 5, 6], 12, temperature=0,
                                               context_length=1000), ref)
    np.testing.assert_array_equal(generate_ids(fixed_stateful, [4, 5, 6], 12, temperature=0), ref)


def test_sliding_window_uses_only_recent_context():
    model = lstm_model()
    ids = generate_ids(model, [1, 2, 3, 4, 5, 6], 6, temperature=0, context_length=3)
    history = [1, 2, 3, 4, 5, 6]
    for token in ids:  # NumPy-side reference of the window: argmax of the last 3 ids' logits
        logits = keras.ops.convert_to_numpy(model(np.array([history[-3:]], dtype="int32")))
        assert token == int(np.argmax(logits[0, -1]))
        history.append(int(token))


def test_probability_models():
    ids = keras.Input((None,), dtype="int32")
    table = 10.0 * np.roll(np.eye(V), 1, axis=1)
    h = keras.layers.Embedding(V, V, embeddings_initializer=keras.initializers.Constant(table))(ids)
    probs = keras.Model(ids, keras.layers.Softmax()(h))
    assert generate_text(probs, CharVocab(), "c", length=3, temperature=0,
                         from_logits=False) == "cdef"


@pytest.mark.skipif(not hasattr(regkeras.models, "build_language_model"),
                    reason="regkeras.models.build_language_model not there yet")
def test_with_build_language_model_stateful():
    stateless = regkeras.models.build_language_model(V, embedding_dim=6, units=8, num_layers=1,
                                                     dropout=0.3, seed=0)
    stateful = regkeras.models.build_language_model(V, embedding_dim=6, units=8, num_layers=1,
                                                    dropout=0.3, seed=0, stateful=True,
                                                    batch_size=4)
    stateful.set_weights(stateless.get_weights())
    a = generate_text(stateless, CharVocab(), "abc", length=15, temperature=0.7, seed=1,
                      context_length=1000)
    b = generate_text(stateful, CharVocab(), "abc", length=15, temperature=0.7, seed=1)
    assert a == b


def dropout_model(rate):
    keras.utils.set_random_seed(2)
    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(V, 8)(ids)
    h = keras.layers.Dropout(rate)(h)
    h = keras.layers.Dense(16, activation="tanh")(h)
    h = keras.layers.Dropout(rate)(h)
    return keras.Model(ids, keras.layers.Dense(V)(h))


X = np.array([[0, 1, 2, 3], [4, 5, 6, 7]], dtype="int32")


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_mc_dropout_statistics_match_numpy():
    model = dropout_model(0.5)
    pred = mc_dropout_predict(model, X, num_samples=16, seed=0, return_samples=True)
    assert isinstance(pred, MCDropoutPrediction)
    assert pred.samples.shape == (16, 2, 4, V)
    np.testing.assert_allclose(pred.mean, pred.samples.mean(0), rtol=1e-12)
    np.testing.assert_allclose(pred.std, pred.samples.std(0), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(pred.mean.sum(-1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(pred.entropy, -(pred.mean * np.log(pred.mean)).sum(-1), rtol=1e-9)
    # mutual information = entropy of the mean - mean entropy of the samples (BALD)
    sample_entropy = -(pred.samples * np.log(pred.samples)).sum(-1).mean(0)
    np.testing.assert_allclose(pred.mutual_information, pred.entropy - sample_entropy,
                               rtol=1e-9, atol=1e-12)
    assert pred.mutual_information.shape == pred.entropy.shape
    assert np.all(pred.mutual_information >= 0) and pred.mutual_information.max() > 1e-4
    assert pred.std.max() > 1e-3  # dropout really is on
    # every sample is a softmax of a stochastic pass, different from the deterministic one
    det = _softmax(keras.ops.convert_to_numpy(model(X, training=False)).astype("float64"))
    assert not np.allclose(pred.samples[0], det, atol=1e-4)


def test_mc_dropout_reproducible_and_leaves_rng_alone():
    model = dropout_model(0.5)
    state_before = [np.array(v) for v in model.variables if "seed_generator" in v.path]
    a = mc_dropout_predict(model, X, num_samples=5, seed=7)
    b = mc_dropout_predict(model, X, num_samples=5, seed=7)
    c = mc_dropout_predict(model, X, num_samples=5, seed=8)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.allclose(a.mean, c.mean)
    state_after = [np.array(v) for v in model.variables if "seed_generator" in v.path]
    for s0, s1 in zip(state_before, state_after):
        np.testing.assert_array_equal(s0, s1)


def test_mc_dropout_without_dropout_is_deterministic():
    model = dropout_model(0.0)
    with pytest.warns(UserWarning, match="no active dropout"):
        pred = mc_dropout_predict(model, X, num_samples=3)
    det = _softmax(keras.ops.convert_to_numpy(model(X)).astype("float64"))
    np.testing.assert_allclose(pred.mean, det, rtol=1e-5)
    assert pred.std.max() < 1e-12
    np.testing.assert_allclose(pred.mutual_information, 0.0, atol=1e-9)  # the masks agree


def test_mc_dropout_keeps_samples_only_when_asked():
    model = dropout_model(0.5)
    lean = mc_dropout_predict(model, X, num_samples=4, seed=3)
    full = mc_dropout_predict(model, X, num_samples=4, seed=3, return_samples=True)
    assert lean.samples is None and full.samples.shape == (4, 2, 4, V)
    np.testing.assert_allclose(lean.mean, full.mean, rtol=1e-12)
    np.testing.assert_allclose(lean.mutual_information, full.mutual_information, rtol=1e-12)


def test_argument_validation():
    model = successor_model()
    with pytest.raises(ValueError, match="temperature"):
        sample_next_token([1.0, 2.0], temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        sample_next_token([1.0, 2.0], top_k=0)
    with pytest.raises(ValueError, match="prompt"):
        generate_text(model, CharVocab(), "")
    with pytest.raises(TypeError, match="vocab"):
        generate_text(model, object(), "ab")
    with pytest.raises(ValueError, match="length"):
        generate_ids(model, [1], -1)
    with pytest.raises(ValueError, match="context_length"):
        generate_ids(model, [1], 3, context_length=0)
    with pytest.raises(ValueError, match="num_samples"):
        mc_dropout_predict(model, X, num_samples=1)


def test_a_vocabulary_that_does_not_match_the_model_is_a_clear_error():
    """It used to return garbage ('ĄďĆĀ<unk>Ĕ'); save/load already refused the mismatch."""
    import regkeras as rk

    model = rk.build_language_model(12, embedding_dim=4, units=4, num_layers=1, seed=0)
    other = rk.build_vocabulary("abcdef")  # 7 tokens with <unk>, the model predicts 12
    with pytest.raises(ValueError, match=r"`vocab` has \d+ tokens but the model predicts 12"):
        rk.generate_text(model, other, "abc", length=3, seed=0)
