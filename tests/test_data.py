"""Tests for regkeras.data: vocabularies, splits, tf.data windows, BPTT batches, corpora, saving."""

import json
import os
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from regkeras import data as rd
from regkeras import datasets as ds
from regkeras.metrics import BitsPerCharacter, Perplexity


def _reference_encode(tokens, vocab_tokens):
    """A plain-Python reference: position of each token in the list, or 0 (<unk>)."""
    index = {t: i for i, t in enumerate(vocab_tokens)}
    return np.array([index.get(t, 0) for t in tokens], dtype=np.int32)


# ---------------------------------------------------------------------------------------------
# tokenize / Vocabulary


def test_tokenize_levels():
    assert rd.tokenize("ab\nc") == "ab\nc"
    assert rd.tokenize(" the cat \n sat \n", "word") == ["the", "cat", "<eos>", "sat", "<eos>"]
    assert rd.tokenize("a b\nc", "word", eos_token=None) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="level"):
        rd.tokenize("abc", "byte")
    with pytest.raises(TypeError, match="text"):
        rd.tokenize(["a"], "word")


def test_char_vocabulary_order_and_encoding_matches_reference():
    text = "hello, world!\nhe said.\n"
    vocab = rd.build_vocabulary(text)
    assert vocab.tokens[0] == "<unk>" and vocab.unk_id == 0
    assert vocab.tokens[1:] == sorted(set(text))  # code-point order
    assert vocab.size == len(vocab) == len(set(text)) + 1
    probe = "hold on: \u00e9\U0001F35D wow\n"  # unknown ASCII, accented and astral characters
    np.testing.assert_array_equal(vocab.encode(probe), _reference_encode(probe, vocab.tokens))
    assert vocab.encode(probe).dtype == np.int32
    assert vocab.decode(vocab.encode(text)) == text
    unknown = vocab.encode("z")
    assert unknown.tolist() == [0] and vocab.decode(unknown) == "<unk>"
    assert vocab.encode("").shape == (0,)


def test_word_vocabulary_frequency_order_eos_and_round_trip():
    text = " the cat sat \n the dog sat on the mat \n"
    vocab = rd.build_vocabulary(text, level="word")
    # the:3, <eos>:2, sat:2, then the singletons alphabetically.
    assert vocab.tokens == ["<unk>", "the", "<eos>", "sat", "cat", "dog", "mat", "on"]
    ids = vocab.encode(" the bird sat \n")
    assert ids.tolist() == [1, 0, 3, 2]
    assert vocab.decode(ids) == "the <unk> sat\n"
    words = rd.tokenize(text, "word")
    np.testing.assert_array_equal(vocab.encode(words), _reference_encode(words, vocab.tokens))
    assert vocab.encode(vocab.decode(vocab.encode(text))).tolist() == vocab.encode(text).tolist()
    # PTB already contains <unk>: it stays a single token, id 0.
    ptb_like = rd.build_vocabulary(" a <unk> b \n <unk> \n", level="word")
    assert ptb_like.tokens.count("<unk>") == 1 and ptb_like.encode("<unk>").tolist() == [0]


def test_vocabulary_size_limits():
    text = "aaaa bbb cc d\n"
    vocab = rd.build_vocabulary(text, level="word", max_size=3)
    assert vocab.tokens == ["<unk>", "aaaa", "<eos>"] or vocab.tokens == ["<unk>", "<eos>", "aaaa"]
    vocab = rd.build_vocabulary("aaaa bbb cc d", level="word", min_count=2)
    assert vocab.tokens == ["<unk>"]  # each word occurs once
    chars = rd.build_vocabulary("aaabbc", max_size=3)
    assert chars.tokens == ["<unk>", "a", "b"]  # most frequent kept, code-point order
    for bad, error in (({"max_size": 1}, ValueError), ({"max_size": 2.5}, TypeError),
                       ({"min_count": 0}, ValueError)):
        with pytest.raises(error):
            rd.build_vocabulary("abc", **bad)
    with pytest.raises(ValueError, match="empty"):
        rd.build_vocabulary("")
    with pytest.raises(ValueError, match="no tokens"):
        rd.build_vocabulary([], level="word")


def test_vocabulary_validation():
    with pytest.raises(ValueError, match="single characters"):
        rd.Vocabulary(["<unk>", "ab"], level="char")
    with pytest.raises(ValueError, match="whitespace"):
        rd.Vocabulary(["a b"], level="word")
    with pytest.raises(ValueError, match="unique"):
        rd.Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="level"):
        rd.Vocabulary(["a"], level="sentence")
    with pytest.raises(TypeError, match="tokens"):
        rd.Vocabulary("abc")
    assert rd.Vocabulary(["a", " "]).tokens == ["<unk>", "a", " "]  # <unk> put first
    vocab = rd.Vocabulary(["a", "b"])
    with pytest.raises(TypeError, match="integers"):
        vocab.decode([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        vocab.decode([-1])
    assert vocab.decode(np.array([[1, 2], [2, 1]])) == ["ab", "ba"]
    assert vocab.id_to_token(2) == "b" and vocab.token_to_id("b") == 2
    assert vocab.token_to_id("zzz") == 0


def test_vocabulary_json_and_config_round_trip(tmp_path):
    vocab = rd.build_vocabulary(" \u00e9t\u00e9 <unk> \"q\" \n x \n", level="word")
    assert rd.Vocabulary.from_config(vocab.get_config()) == vocab
    text = vocab.to_json()
    assert json.loads(text)["tokens"] == vocab.tokens
    assert rd.Vocabulary.from_json(text) == vocab
    path = tmp_path / "vocab.json"
    vocab.to_json(str(path))
    restored = rd.Vocabulary.from_json(str(path))
    assert restored == vocab and restored.level == "word" and restored.eos_token == "<eos>"
    assert rd.Vocabulary.from_json(path) == vocab
    chars = rd.build_vocabulary("ab\n\"{")
    assert rd.Vocabulary.from_json(chars.to_json()) == chars
    assert chars != vocab
    with pytest.raises(ValueError, match="Not a regkeras vocabulary"):
        rd.Vocabulary.from_json('{"format": "other"}')


def test_encoding_a_megabyte_is_fast():
    rng = np.random.default_rng(0)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz ,.;:!?\n'ABCDEFG"))
    text = "".join(rng.choice(alphabet, size=1_000_000))
    vocab = rd.build_vocabulary(text[:500_000])
    start = time.perf_counter()
    ids = vocab.encode(text)
    elapsed = time.perf_counter() - start
    assert ids.shape == (1_000_000,)
    np.testing.assert_array_equal(ids[:5000], _reference_encode(text[:5000], vocab.tokens))
    assert elapsed < 1.0, f"encoding 1 MB took {elapsed:.2f} s"


# ---------------------------------------------------------------------------------------------
# split_text


def test_split_is_contiguous_with_floor_boundaries():
    seq = np.arange(1_115_394)
    train, val, test = rd.split_text(seq)
    assert (len(train), len(val), len(test)) == (892_315, 111_539, 111_540)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), seq)
    assert rd.split_text("abcdefghij") == ("abcdefgh", "i", "j")
    assert rd.split_text(list(range(10)), (0.5, 0.5, 0.0)) == (list(range(5)),
                                                               list(range(5, 10)), [])
    assert rd.split_text("abcd", [0.25, 0.25, 0.5]) == ("a", "b", "cd")


@pytest.mark.parametrize("fractions,error,match", [
    ((0.8, 0.1, 0.2), ValueError, "sum to 1"),
    ((0.8, 0.1), ValueError, "3 entries"),
    ((1.2, -0.1, -0.1), ValueError, "non-negative"),
    ((0.0, 0.5, 0.5), ValueError, "train fraction"),
    ((0.8, float("nan"), 0.1), ValueError, "finite"),
    (("0.8", 0.1, 0.1), TypeError, "numbers"),
    (0.8, TypeError, "sequence"),
])
def test_split_rejects_bad_fractions(fractions, error, match):
    with pytest.raises(error, match=match) as info:
        rd.split_text("abcdefghij", fractions)
    assert type(info.value) is error
    assert str(info.value).startswith("`fractions` must be ")


def test_split_rejects_too_short_or_empty():
    with pytest.raises(ValueError, match="too short.*val"):
        rd.split_text("abcde")
    with pytest.raises(ValueError, match="empty"):
        rd.split_text("")
    with pytest.raises(ValueError, match="1-D"):
        rd.split_text(np.zeros((4, 4)))
    with pytest.raises(TypeError):
        rd.split_text(12345)


def test_tiny_shakespeare_test_split_is_nanogpt_validation(data_dir):
    text = ds.tiny_shakespeare(data_dir=data_dir)
    train, val, test = rd.split_text(text)
    assert len(test) == 111_540 and test == text[-111_540:]
    n = len(text)
    assert test == text[int(n * 0.9):]  # nanoGPT's val split
    corpus = rd.load_corpus("tiny_shakespeare", data_dir=data_dir)
    assert corpus.test_ids.size == 111_540
    assert corpus.vocab.decode(corpus.test_ids) == text[-111_540:]


# ---------------------------------------------------------------------------------------------
# window_dataset


def _collect(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


def test_windows_are_next_token_pairs_covering_every_start_once():
    ids = np.arange(1000, 1103, dtype=np.int64)  # 103 ids
    dataset = rd.window_dataset(ids, seq_len=10, batch_size=4, seed=3)
    assert dataset.element_spec[0].shape == (4, 10) and dataset.element_spec[0].dtype == "int32"
    x, y = _collect(dataset)
    # 10 windows of 11 ids fit with stride 10; 2 full batches, the remainder dropped.
    assert len(dataset) == 2 and x.shape == (8, 10)
    for row_x, row_y in zip(x, y):
        start = row_x[0] - 1000
        assert start % 10 == 0
        np.testing.assert_array_equal(row_x, ids[start:start + 10])
        np.testing.assert_array_equal(row_y, ids[start + 1:start + 11])
    all_starts = sorted((r[0] - 1000) for r in _collect(
        rd.window_dataset(ids, 10, 5, seed=3))[0])
    assert all_starts == list(range(0, 100, 10))


def test_window_shuffle_is_seeded_and_reshuffles_each_epoch():
    ids = np.arange(400)
    first = _collect(rd.window_dataset(ids, 7, 4, seed=42))[0][:, 0]
    keras.utils.set_random_seed(1234)  # same global seed as the first construction
    again = _collect(rd.window_dataset(ids, 7, 4, seed=42))[0][:, 0]
    np.testing.assert_array_equal(first, again)
    keras.utils.set_random_seed(1234)
    dataset = rd.window_dataset(ids, 7, 4, seed=43)
    epoch1 = _collect(dataset)[0][:, 0]
    epoch2 = _collect(dataset)[0][:, 0]
    assert not np.array_equal(epoch1, first)
    assert not np.array_equal(epoch1, epoch2)
    # 57 windows, 14 full batches: each epoch sees 56 distinct windows (a random one is left out).
    assert len(set(epoch1)) == len(set(epoch2)) == 56
    assert set(epoch1) | set(epoch2) <= set(range(0, 57 * 7, 7))
    ordered = _collect(rd.window_dataset(ids, 7, 4, shuffle=False))[0][:, 0]
    np.testing.assert_array_equal(ordered, np.arange(0, 7 * len(ordered), 7))


def test_window_stride_and_remainder():
    ids = np.arange(20)
    x, y = _collect(rd.window_dataset(ids, 5, 3, shuffle=False, stride=2, drop_remainder=False))
    assert x[:, 0].tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
    np.testing.assert_array_equal(y, x + 1)
    dataset = rd.window_dataset(ids, 5, 3, shuffle=False, stride=2, drop_remainder=False)
    assert [int(b[0].shape[0]) for b in dataset] == [3, 3, 2]


def test_window_dataset_rejects_bad_input():
    ids = np.arange(50)
    with pytest.raises(ValueError, match="longer than the data"):
        rd.window_dataset(ids, 50, 1)
    with pytest.raises(ValueError, match="larger than the 4 windows"):
        rd.window_dataset(ids, 12, 5)
    with pytest.raises(TypeError, match="integer"):
        rd.window_dataset(ids.astype(np.float32), 5, 2)
    with pytest.raises(TypeError, match="text"):
        rd.window_dataset("abcdef", 2, 1)
    with pytest.raises(TypeError, match="integer"):
        rd.window_dataset(np.ones(10, dtype=bool), 2, 1)
    with pytest.raises(ValueError, match="1-D"):
        rd.window_dataset(ids.reshape(5, 10), 2, 1)
    with pytest.raises(ValueError, match="non-negative"):
        rd.window_dataset(ids - 1, 2, 1)
    with pytest.raises(ValueError, match="seq_len"):
        rd.window_dataset(ids, 0, 1)
    with pytest.raises(TypeError, match="batch_size"):
        rd.window_dataset(ids, 4, 2.0)
    with pytest.raises(TypeError, match="seq_len"):
        rd.window_dataset(ids, True, 2)
    with pytest.raises(ValueError, match="stride"):
        rd.window_dataset(ids, 4, 2, stride=-1)


# ---------------------------------------------------------------------------------------------
# bptt_dataset


def test_bptt_rows_continue_across_batches():
    ids = np.arange(5000, 5103)  # 103 ids, 4 streams of 25 (3 dropped)
    batches = [(x.numpy(), y.numpy()) for x, y in rd.bptt_dataset(ids, seq_len=6, batch_size=4)]
    assert len(batches) == (25 - 1) // 6 == 4
    # Reference: Zaremba's reader.
    streams = ids[:100].reshape(4, 25)
    for k, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (4, 6) and x.dtype == np.int32
        np.testing.assert_array_equal(x, streams[:, 6 * k:6 * k + 6])
        np.testing.assert_array_equal(y, streams[:, 6 * k + 1:6 * k + 7])
    for (x0, y0), (x1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(x1[:, 0], x0[:, -1] + 1)  # row i continues row i
        np.testing.assert_array_equal(x1[:, 0], y0[:, -1])
    # Each stream is a contiguous stretch of the corpus.
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches], axis=1)[1, :],
                                  np.arange(5025, 5049))


def test_datasets_run_without_the_autotuning_thread():
    """Its thread held up every iterator's destruction (the end of `fit`) by up to 3.8 s."""
    ids = np.arange(400) % 7
    made = {"window_dataset": rd.window_dataset(ids, 8, 4, seed=0),
            "bptt_dataset": rd.bptt_dataset(ids, 8, 4),
            "training_windows": rd.training_windows(ids, 8, 4, 0, 0, 3)[0]}
    for name, dataset in made.items():
        assert dataset.options().autotune.enabled is False, name


def test_bptt_rejects_bad_input():
    with pytest.raises(ValueError, match="too few"):
        rd.bptt_dataset(np.arange(20), seq_len=5, batch_size=4)
    with pytest.raises(ValueError, match="too few"):
        rd.bptt_dataset(np.arange(3), seq_len=1, batch_size=4)
    with pytest.raises(TypeError, match="integer"):
        rd.bptt_dataset(np.linspace(0, 1, 100), 5, 2)
    with pytest.raises(ValueError, match="batch_size"):
        rd.bptt_dataset(np.arange(100), 5, 0)


# ---------------------------------------------------------------------------------------------
# Corpus / load_corpus


def test_load_corpus_recipes():
    corpus = rd.load_corpus("recipes", num_words=3000, seed=2)
    assert corpus.level == "char" and corpus.name == "recipes"
    assert corpus.entropy_rate == pytest.approx(ds.recipes_entropy_rate(2))
    text = ds.recipes(3000, seed=2)
    train, val, test = rd.split_text(text)
    assert corpus.vocab == rd.build_vocabulary(train)
    np.testing.assert_array_equal(corpus.test_ids, corpus.vocab.encode(test))
    assert corpus.vocab.decode(corpus.val_ids) == val
    assert corpus.vocab_size == corpus.vocab.size
    words = rd.load_corpus("recipes", level="word", num_words=3000, seed=2)
    assert words.entropy_rate == pytest.approx(ds.RecipeChain(2).word_entropy_rate)
    assert "<unk>" in words.vocab and "boil" in words.vocab
    assert "recipes" in repr(corpus) and "entropy_rate" in repr(corpus)
    x, y = next(iter(corpus.window_dataset("val", 8, 2)))
    np.testing.assert_array_equal(x.numpy()[0], corpus.val_ids[:8])  # held-out: in order
    assert len(list(corpus.bptt_dataset("train", 16, 4))) > 0


def test_load_corpus_local_file_and_official_ptb_splits(tmp_path, monkeypatch):
    monkeypatch.delenv(ds.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("downloaded"))
    path = tmp_path / "story.txt"
    path.write_text("once upon a time\r\n" * 30, encoding="utf-8")
    corpus = rd.load_corpus(str(path))
    assert corpus.level == "char" and corpus.entropy_rate is None
    assert corpus.vocab.decode(corpus.train_ids).startswith("once upon a time\nonce")
    for split, body in (("train", " a b c \n a b \n"), ("valid", " a d \n"), ("test", " c c \n")):
        (tmp_path / f"ptb.{split}.txt").write_text(body)
    ptb = rd.load_corpus("ptb", data_dir=str(tmp_path), verify=False)
    assert ptb.level == "word" and ptb.name == "ptb"
    assert ptb.vocab.tokens == ["<unk>", "<eos>", "a", "b", "c"]  # built on train only
    assert ptb.vocab.decode(ptb.val_ids) == "a <unk>\n"
    assert ptb.test_ids.tolist() == [4, 4, 1]
    with pytest.raises(ValueError, match="official"):
        rd.load_corpus("ptb", data_dir=str(tmp_path), verify=False, fractions=(0.8, 0.1, 0.1))


def test_load_corpus_real_ptb_valid_is_word_level(data_dir):
    corpus = rd.load_corpus("ptb.valid", data_dir=data_dir)
    assert corpus.level == "word"
    total = corpus.train_ids.size + corpus.val_ids.size + corpus.test_ids.size
    assert total == 73_760  # 70,390 words plus 3,370 <eos>
    assert corpus.vocab.tokens[:3] == ["<unk>", "the", "<eos>"]


def test_load_corpus_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="only to the 'recipes'"):
        rd.load_corpus("tiny_shakespeare", num_words=100)
    with pytest.raises(ValueError, match="level"):
        rd.load_corpus("recipes", level="sentence")
    with pytest.raises(ValueError, match="Unknown dataset"):
        rd.load_corpus("wikitext")
    with pytest.raises(FileNotFoundError):
        rd.load_corpus(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="sum to 1"):
        rd.load_corpus("recipes", num_words=500, fractions=(0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="empty"):
        rd.corpus_from_text("   ")
    with pytest.raises(ValueError, match="split"):
        rd.load_corpus("recipes", num_words=500).ids("dev")


# ---------------------------------------------------------------------------------------------
# saving a model with its vocabulary


def _tiny_language_model(vocab_size):
    inputs = keras.Input(shape=(None,), dtype="int32")
    h = keras.layers.Embedding(vocab_size, 8)(inputs)
    h = keras.layers.LSTM(8, return_sequences=True)(h)
    logits = keras.layers.Dense(vocab_size)(h)
    model = keras.Model(inputs, logits)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[Perplexity(), BitsPerCharacter()])
    return model


_LOAD_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import regkeras
    out = {}
    model, vocab = regkeras.load_language_model(sys.argv[1])  # safe_mode=True by default
    x = np.load(sys.argv[2])
    out["logits"] = model.predict(x, verbose=0).tolist()
    out["tokens"] = vocab.tokens
    out["evaluate"] = model.evaluate(x, x, verbose=0, return_dict=True)
    print("RESULT" + json.dumps(out))
""")


def test_save_and_load_language_model_in_fresh_process(tmp_path):
    vocab = rd.build_vocabulary("boil water . add pasta .")
    model = _tiny_language_model(vocab.size)
    x = vocab.encode("boil pasta .").reshape(1, -1)
    model.fit(x, x, epochs=1, verbose=0)
    model_path, vocab_path = rd.save_language_model(model, vocab, tmp_path / "lm" / "m.keras")
    assert vocab_path == str(tmp_path / "lm" / "m.vocab.json") and os.path.exists(vocab_path)
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, model_path,
                           str(tmp_path / "x.npy")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    np.testing.assert_allclose(out["logits"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert out["tokens"] == vocab.tokens
    expected = model.evaluate(x, x, verbose=0, return_dict=True)
    assert out["evaluate"]["perplexity"] == pytest.approx(expected["perplexity"], rel=1e-5)
    assert out["evaluate"]["bits_per_char"] == pytest.approx(expected["bits_per_char"], rel=1e-5)


def test_save_and_load_errors(tmp_path):
    vocab = rd.build_vocabulary("abc")
    model = _tiny_language_model(vocab.size)
    with pytest.raises(ValueError, match=".keras"):
        rd.save_language_model(model, vocab, tmp_path / "m.h5")
    with pytest.raises(ValueError, match="predicts 4 classes.*5 tokens"):
        rd.save_language_model(model, rd.build_vocabulary("abcd"), tmp_path / "m.keras")
    with pytest.raises(TypeError, match="Vocabulary"):
        rd.save_language_model(model, vocab.tokens, tmp_path / "m.keras")
    with pytest.raises(TypeError, match="keras.Model"):
        rd.save_language_model("model", vocab, tmp_path / "m.keras")
    path, vocab_path = rd.save_language_model(model, vocab, tmp_path / "m.keras")
    os.remove(vocab_path)
    with pytest.raises(FileNotFoundError, match="m.vocab.json"):
        rd.load_language_model(path)
