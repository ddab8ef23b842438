"""Odd text through the text pipeline (issue #7, item 3): empty, one character, non-ASCII,
Windows line endings, whitespace only, unknown tokens at inference, text too short to window.

The decisions these tests pin down (also in `regkeras.data.tokenize`'s docstring):

* character level keeps text exactly: `"\\r\\n"` is two characters and round-trips, as do
  emoji, combining marks and CJK (tokens are Unicode code points);
* word level marks `"\\r\\n"`, `"\\n"` and a lone `"\\r"` each as one `<eos>`;
* `load_text` (files) normalises line endings to `"\\n"`;
* unseen tokens encode to `<unk>` (id 0), and generating from a prompt of unseen characters
  works; text that cannot make one window is a ValueError naming `seq_len`/`batch_size`.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regkeras as rk

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

ODD = [
    "a",
    "\r\n",
    "line one\r\nline two\r\n",
    "old mac\rline",
    "caf\u00e9 vs cafe\u0301",          # precomposed and combining acute
    "emoji \U0001F600\U0001F44D\U0001F3FD and a family \U0001F468\u200d\U0001F469\u200d\U0001F467",
    "\u6f22\u5b57\u3068\u304b\u306a \uD55C\uAE00",  # CJK, kana, hangul
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # right-to-left scripts
    "tab\tand\u00a0no-break\u3000ideographic space",
    "\x00\x01 control \ufeff bom",
    " ",
    "\n\n\n",
    "lone surrogate \ud800 kept",
]

# Text made of any code points (including the odd ones above) and line-end conventions.
texts = st.one_of(
    st.text(min_size=1, max_size=40),
    st.lists(st.sampled_from(ODD), min_size=1, max_size=4).map("".join),
    st.text(alphabet=st.sampled_from(list("ab \r\n\t\u00e9\U0001F600\u6f22")), min_size=1,
            max_size=30),
)


@SETTINGS
@given(text=texts)
def test_char_level_round_trip_is_exact(text):
    vocab = rk.build_vocabulary(text, level="char")
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and ids.size == len(text)
    assert ids.min() >= 1  # every character of the training text is known
    assert vocab.decode(ids) == text
    # a character vocabulary lists each code point once, in code-point order
    assert vocab.tokens[1:] == sorted(set(text) - {"<unk>"})


@SETTINGS
@given(text=texts)
def test_word_level_round_trip_up_to_whitespace(text):
    tokens = rk.tokenize(text, level="word")
    if not tokens:  # whitespace only, no line end
        with pytest.raises(ValueError, match="no tokens"):
            rk.build_vocabulary(text, level="word")
        return
    vocab = rk.build_vocabulary(text, level="word")
    decoded = vocab.decode(vocab.encode(text))
    assert rk.tokenize(decoded, level="word") == tokens
    # every line-end convention is one <eos>
    lines = text.replace("\r\n", "\n").replace("\r", "\n").count("\n")
    assert tokens.count("<eos>") == lines


def test_windows_line_endings():
    text = "first line\r\nsecond line\r\n"
    vocab = rk.build_vocabulary(text)
    assert "\r" in vocab and "\n" in vocab
    assert vocab.decode(vocab.encode(text)) == text  # preserved exactly at char level
    unix = text.replace("\r\n", "\n")
    assert rk.tokenize(text, level="word") == rk.tokenize(unix, level="word") == [
        "first", "line", "<eos>", "second", "line", "<eos>"]
    assert rk.tokenize("a\rb", level="word") == ["a", "<eos>", "b"]


def test_load_text_normalises_line_endings(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes("\ufeffone\r\ntwo\rthree\n".encode("utf-8"))
    assert rk.load_text(str(path)) == "one\ntwo\nthree\n"
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        rk.load_text(str(bad))
    blank = tmp_path / "blank.txt"
    blank.write_text(" \r\n\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        rk.load_text(str(blank))


@SETTINGS
@given(train=texts, other=texts)
def test_unknown_characters_encode_to_unk(train, other):
    vocab = rk.build_vocabulary(train)
    ids = vocab.encode(other)
    known = np.array([c in set(train) and c != "<unk>" for c in other])
    assert ((ids == 0) == ~known).all()
    # known characters decode back; unknown ones read as the unknown token
    expected = "".join(c if k else vocab.unk_token for c, k in zip(other, known))
    assert vocab.decode(ids) == expected


def test_unknown_words_encode_to_unk():
    vocab = rk.build_vocabulary("the cat sat\r\non the mat", level="word")
    ids = vocab.encode("the \u732b sat on \U0001F408")
    assert ids.tolist() == [vocab.token_to_id("the"), 0, vocab.token_to_id("sat"),
                            vocab.token_to_id("on"), 0]
    assert vocab.decode(ids) == "the <unk> sat on <unk>"


def test_empty_and_tiny_text():
    vocab = rk.build_vocabulary("ab")
    assert vocab.encode("").shape == (0,) and vocab.decode([]) == ""
    for level in ("char", "word"):
        with pytest.raises(ValueError, match="empty"):
            rk.build_vocabulary("", level=level)
        with pytest.raises(ValueError, match="empty"):
            rk.corpus_from_text("", level=level)
    assert rk.build_vocabulary("x").tokens == ["<unk>", "x"]
    with pytest.raises(ValueError, match="too short"):
        rk.corpus_from_text("x")  # one character cannot make three splits
    with pytest.raises(ValueError, match="whitespace"):
        rk.corpus_from_text(" \t\r\n ")
    with pytest.raises(ValueError, match="no tokens"):
        rk.build_vocabulary("   \t ", level="word")
    assert rk.build_vocabulary("   \t ").tokens == ["<unk>", "\t", " "]


@pytest.mark.parametrize("n, seq_len, batch_size", [(1, 1, 1), (5, 5, 1), (5, 4, 2), (3, 8, 1)])
def test_text_shorter_than_a_window(n, seq_len, batch_size):
    ids = np.ones(n, dtype="int32")
    with pytest.raises(ValueError, match="seq_len|batch_size"):
        rk.window_dataset(ids, seq_len, batch_size)
    with pytest.raises(ValueError, match="seq_len"):
        rk.bptt_dataset(ids, seq_len, batch_size)


def test_corpus_of_odd_text_trains_a_window():
    text = "".join(ODD) * 4
    corpus = rk.corpus_from_text(text)
    assert corpus.vocab.decode(corpus.train_ids) == text[: corpus.train_ids.size]
    x, y = next(iter(corpus.window_dataset("train", seq_len=8, batch_size=2, seed=0)))
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    with pytest.raises(ValueError, match="seq_len"):
        corpus.window_dataset("val", seq_len=corpus.val_ids.size, batch_size=1)


def test_vocabulary_json_round_trip_of_odd_tokens(tmp_path):
    text = "".join(ODD)
    for level in ("char", "word"):
        vocab = rk.build_vocabulary(text, level=level)
        path = tmp_path / f"{level}.vocab.json"
        vocab.to_json(path)
        loaded = rk.Vocabulary.from_json(path)
        assert loaded == vocab and loaded.tokens == vocab.tokens
        assert rk.Vocabulary.from_json(vocab.to_json()) == vocab
        np.testing.assert_array_equal(loaded.encode(text), vocab.encode(text))


def test_generate_text_with_unseen_and_odd_prompts():
    vocab = rk.build_vocabulary("ab\r\n\u00e9\U0001F600 ")
    model = rk.build_language_model(vocab.size, embedding_dim=4, units=4, num_layers=1, seed=0)
    # every prompt character unseen: encoded as <unk> and generation still works
    out = rk.generate_text(model, vocab, "\u732b\u732b", length=3, temperature=0, seed=0)
    assert out.startswith("\u732b\u732b") and len(out) >= 2 + 3
    # non-ASCII and Windows line endings in the prompt are kept verbatim
    prompt = "a\r\n\U0001F600"
    out = rk.generate_text(model, vocab, prompt, length=4, seed=1)
    assert out.startswith(prompt)
    continuation = rk.generate_text(model, vocab, prompt, length=4, seed=1, include_prompt=False)
    assert out == prompt + continuation
    assert set(vocab.encode(continuation).tolist()) <= set(range(vocab.size))
    with pytest.raises(ValueError, match="prompt"):
        rk.generate_text(model, vocab, "", length=3)
    words = rk.build_vocabulary("a b\nb a", level="word")
    word_model = rk.build_language_model(words.size, embedding_dim=4, units=4, num_layers=1)
    with pytest.raises(ValueError, match="no tokens"):
        rk.generate_text(word_model, words, "   ", length=2)
    text = rk.generate_text(word_model, words, "zebra \u732b", length=2, seed=0)
    assert text.startswith("zebra \u732b ") and len(text.split()) == 4
