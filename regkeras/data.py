"""The text pipeline: vocabularies, contiguous splits, `tf.data` pipelines of next-token windows.

A language model reads token ids and predicts the next id at every position. This module
turns text into ids (`Vocabulary`, `build_vocabulary`), cuts the ids into contiguous
train/validation/test parts (`split_text`), and serves them to Keras as `(inputs, targets)`
batches in which the targets are the inputs shifted one step (`window_dataset` for shuffled
windows, `bptt_dataset` for the contiguous streams a stateful model reads). `load_corpus` does
all of it in one call, and `save_language_model` / `load_language_model` keep a model and its
vocabulary together.

Word level follows Zaremba et al. (2014): text is split on whitespace and every line end
becomes an ``"<eos>"`` token, so PTB's one-sentence-per-line files give sentence boundaries.
"""

import collections
import dataclasses
import json
import math
import os

import keras
import numpy as np

from regkeras import datasets as _datasets
from regkeras import files as _files
from regkeras.models import output_width
from regkeras.validation import (
    check_bool,
    check_choice,
    check_int,
    check_non_negative,
    check_positive_int,
    check_seed,
    check_string,
    described,
    message,
)

__all__ = [
    "UNK",
    "EOS",
    "tokenize",
    "Vocabulary",
    "build_vocabulary",
    "split_text",
    "window_dataset",
    "training_windows",
    "count_batches",
    "vocabulary_size",
    "bptt_dataset",
    "Corpus",
    "corpus_from_text",
    "load_corpus",
    "vocabulary_path",
    "save_language_model",
    "load_language_model",
]

UNK = "<unk>"
"""The token that stands for anything not in the vocabulary."""
EOS = "<eos>"
"""The word-level token that marks a line end."""

_LEVELS = ("char", "word")


def _check_level(level):
    return check_choice("level", level, _LEVELS, lower=False)


def tokenize(text, level="char", *, eos_token=EOS):
    """Split text into tokens: characters, or whitespace-separated words with line-end markers.

    Args:
        text: a `str`.
        level: ``"char"`` (every character, newlines included, is a token) or ``"word"``
            (whitespace-separated words; each line end becomes `eos_token`).
        eos_token: the word-level line-end token, or `None` to drop line ends.

    Line endings: at character level the text is kept exactly as given, so a Windows
    ``"\\r\\n"`` is two tokens and `Vocabulary.decode` gives back the same characters (files
    read by `regkeras.datasets.load_text` already have ``"\\n"`` line ends). At word level
    whitespace is not kept anyway: ``"\\r\\n"``, ``"\\n"`` and a lone ``"\\r"`` each mark one
    line end.

    Returns:
        A `str` (char level: a string is already a sequence of characters) or a list of words.

    Example:

    >>> tokenize("boil water\\nadd pasta\\n", level="word")
    ['boil', 'water', '<eos>', 'add', 'pasta', '<eos>']
    """
    _check_level(level)
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str, got {type(text).__name__}.")
    if eos_token is not None:
        check_string("eos_token", eos_token, "a non-empty string or None")
    if level == "char":
        return text
    if eos_token is None:
        return text.split()
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # every line-end convention
    return text.replace("\n", f" {eos_token} ").split()


class Vocabulary:
    """A fixed mapping between tokens and integer ids, with ``<unk>`` for anything unseen.

    Ids run from 0 to `size - 1` in the order of `tokens`; the unknown token is always id 0.
    Encoding is vectorised with NumPy at character level (a megabyte of text takes
    milliseconds) and a dictionary look-up per word at word level.

    Args:
        tokens: the tokens in id order. `unk_token` is put first if it is missing. At character
            level every other token must be a single character.
        level: ``"char"`` or ``"word"``.
        unk_token: the unknown token.
        eos_token: the word-level line-end token (see `tokenize`), or `None`.

    Example:

    >>> vocab = Vocabulary(["<unk>", "a", "b"], level="char")
    >>> vocab.encode("abc").tolist()
    [1, 2, 0]
    >>> vocab.decode([1, 2])
    'ab'
    """

    def __init__(self, tokens, level="char", *, unk_token=UNK, eos_token=EOS):
        _check_level(level)
        check_string("unk_token", unk_token)
        if eos_token is not None:
            check_string("eos_token", eos_token, "a non-empty string or None")
        if isinstance(tokens, str) or not isinstance(tokens, collections.abc.Iterable):
            raise TypeError(f"`tokens` must be a list of str, got {type(tokens).__name__}.")
        tokens = list(tokens)
        if not tokens:
            raise ValueError(message("tokens", "a non-empty list of str (the unknown token is "
                                     "added if missing)", tokens))
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"`tokens` must hold non-empty str, got {token!r}.")
            if not token:
                raise ValueError(f"`tokens` must hold non-empty str, got {token!r}.")
        if len(set(tokens)) != len(tokens):
            dupes = sorted(t for t, c in collections.Counter(tokens).items() if c > 1)
            raise ValueError(f"`tokens` must be unique; repeated: {dupes[:10]}.")
        if unk_token in tokens:
            tokens.remove(unk_token)
        tokens.insert(0, unk_token)
        for token in tokens[1:]:
            if level == "char" and len(token) != 1:
                raise ValueError(f"Char-level `tokens` must be single characters, got {token!r}.")
            if level == "word" and any(c.isspace() for c in token):
                raise ValueError(f"Word-level `tokens` must not contain whitespace: {token!r}.")
        self.level = level
        self.unk_token = unk_token
        self.eos_token = eos_token
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}
        if level == "char":
            chars = [(ord(t), i) for i, t in enumerate(tokens) if i > 0]
            chars.sort()
            self._codepoints = np.array([c for c, _ in chars], dtype=np.int64)
            self._codepoint_ids = np.array([i for _, i in chars], dtype=np.int32)
        self._token_array = np.array(tokens, dtype=object)

    # ---- basic facts
    @property
    def size(self):
        """Number of tokens, `<unk>` included: the model's output width."""
        return len(self.tokens)

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self._ids

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((self.level, tuple(self.tokens)))

    def __repr__(self):
        preview = ", ".join(repr(t) for t in self.tokens[:8])
        more = ", ..." if self.size > 8 else ""
        return f"Vocabulary(level={self.level!r}, size={self.size}, tokens=[{preview}{more}])"

    @property
    def unk_id(self):
        """Id of the unknown token (always 0)."""
        return 0

    def token_to_id(self, token):
        """Id of one token (`unk_id` for an unknown one)."""
        return self._ids.get(token, 0)

    def id_to_token(self, token_id):
        """Token of one id."""
        return self.tokens[self._check_ids(np.asarray(token_id)).item()]

    # ---- encode / decode
    def tokenize(self, text):
        """Split text into tokens at this vocabulary's level (see `regkeras.data.tokenize`)."""
        return tokenize(text, self.level, eos_token=self.eos_token)

    def encode(self, text):
        """Token ids of a text (or of an already tokenised list of str).

        Args:
            text: a `str`, or a sequence of tokens.

        Returns:
            A 1-D `np.int32` array; unknown tokens become `unk_id`.
        """
        if isinstance(text, str) and self.level == "char":
            codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
            codes = codes.astype(np.int64)
            if self._codepoints.size == 0:
                return np.zeros(codes.shape, dtype=np.int32)
            pos = np.searchsorted(self._codepoints, codes)
            pos = np.minimum(pos, self._codepoints.size - 1)
            found = self._codepoints[pos] == codes
            return np.where(found, self._codepoint_ids[pos], 0).astype(np.int32)
        if isinstance(text, str):
            tokens = self.tokenize(text)
        elif isinstance(text, (list, tuple, np.ndarray)):
            tokens = text
        else:
            raise TypeError(f"`text` must be a str or a list of tokens, got {type(text).__name__}.")
        get = self._ids.get
        return np.fromiter((get(t, 0) for t in tokens), dtype=np.int32, count=len(tokens))

    def _check_ids(self, ids):
        if ids.size == 0 and ids.dtype == np.float64:  # `[]`: NumPy's default dtype
            ids = ids.astype(np.int32)
        requirement = f"token ids: integers in [0, {self.size})"
        if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(message("ids", requirement, _Shown(ids)))
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise ValueError(message("ids", requirement, _Shown(ids)))
        return ids

    def decode(self, ids):
        """Text of a sequence of ids (a batch of sequences gives a list of texts).

        Characters are concatenated; words are joined by spaces, with `eos_token` rendered as
        a line break. The unknown id is rendered as `unk_token`.

        Args:
            ids: integer array-like (list, NumPy array, tensor) of rank 0, 1 or 2.

        Returns:
            A `str`, or a list of `str` for rank-2 input.
        """
        ids = self._check_ids(np.asarray(ids))
        if ids.ndim == 2:
            return [self.decode(row) for row in ids]
        if ids.ndim > 2:
            raise ValueError(message("ids", "token ids of rank 0, 1 or 2", _Shown(ids)))
        tokens = self._token_array[ids.reshape(-1)]
        if self.level == "char":
            return "".join(tokens)
        pieces = []
        for token in tokens:
            if token == self.eos_token:
                pieces.append("\n")
                continue
            if pieces and pieces[-1] != "\n":
                pieces.append(" ")
            pieces.append(token)
        return "".join(pieces)

    # ---- serialization
    def get_config(self):
        """A JSON-friendly dict that `from_config` turns back into an equal vocabulary."""
        return {
            "level": self.level,
            "tokens": list(self.tokens),
            "unk_token": self.unk_token,
            "eos_token": self.eos_token,
        }

    @classmethod
    def from_config(cls, config):
        """The vocabulary described by `get_config()`."""
        config = dict(config)
        config.pop("format", None)
        config.pop("version", None)
        return cls(**config)

    def to_json(self, path=None):
        """The vocabulary as a JSON string; written to `path` too when given."""
        config = {"format": "regkeras.Vocabulary", "version": 1, **self.get_config()}
        text = json.dumps(config, ensure_ascii=False, indent=1)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: only \u escapes can store it
            text = json.dumps(config, ensure_ascii=True, indent=1)
        if path is not None:  # write, then rename: never a half-written vocabulary
            _files.write_file(path, text)
        return text

    @classmethod
    def from_json(cls, source):
        """A vocabulary from a JSON string (as `to_json` writes) or from a path to such a file."""
        if isinstance(source, os.PathLike) or (
            isinstance(source, str) and not source.lstrip().startswith("{")
        ):
            with open(source, encoding="utf-8") as f:
                source = f.read()
        if not isinstance(source, str):
            raise TypeError(f"`source` must be a JSON str or a path, got {type(source).__name__}.")
        config = json.loads(source)
        if config.get("format", "regkeras.Vocabulary") != "regkeras.Vocabulary":
            raise ValueError(f"Not a regkeras vocabulary: format={config.get('format')!r}.")
        return cls.from_config(config)


def build_vocabulary(text, level="char", *, max_size=None, min_count=1, unk_token=UNK,
                     eos_token=EOS):
    """Build a `Vocabulary` from a training text.

    Order is deterministic: ``<unk>`` is id 0; characters follow in code-point order (as in
    char-rnn and nanoGPT); words follow by decreasing count, ties alphabetically (as in
    Zaremba's PTB reader), so truncating with `max_size` keeps the most frequent words.

    Args:
        text: a `str`, or an already tokenised list of str.
        level: ``"char"`` or ``"word"``.
        max_size: the largest vocabulary size, `<unk>` included; `None` for no limit.
        min_count: tokens seen fewer times become `<unk>`.
        unk_token: the unknown token.
        eos_token: the word-level line-end token, or `None` (see `tokenize`).

    Returns:
        A `Vocabulary`.

    Example:

    >>> build_vocabulary("the cat the mat", level="word").tokens
    ['<unk>', 'the', 'cat', 'mat']
    """
    _check_level(level)
    if max_size is not None and check_positive_int("max_size", max_size) < 2:
        raise ValueError(message("max_size", "at least 2 (<unk> and one token) or None", max_size))
    check_positive_int("min_count", min_count)
    if isinstance(text, str):
        if not text:
            raise ValueError("`text` is empty: nothing to build a vocabulary from.")
        tokens = tokenize(text, level, eos_token=eos_token)
    elif isinstance(text, (list, tuple)):
        tokens = text
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise TypeError(f"A list `text` must hold non-empty str tokens, got {token!r}.")
    else:
        raise TypeError(f"`text` must be a str or a list of tokens, got {type(text).__name__}.")
    if len(tokens) == 0:
        raise ValueError("`text` holds no tokens: nothing to build a vocabulary from.")

    if level == "char" and isinstance(tokens, str):
        codes = np.frombuffer(tokens.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        values, counts = np.unique(codes, return_counts=True)
        counted = [(chr(int(v)), int(c)) for v, c in zip(values, counts)]
    else:
        counted = list(collections.Counter(tokens).items())
    counted = [(t, c) for t, c in counted if c >= min_count and t != unk_token]
    if level == "char":
        counted.sort(key=lambda tc: tc[0])
        if max_size is not None and len(counted) > max_size - 1:
            kept = sorted(counted, key=lambda tc: (-tc[1], tc[0]))[: max_size - 1]
            counted = sorted(kept, key=lambda tc: tc[0])
    else:
        counted.sort(key=lambda tc: (-tc[1], tc[0]))
        if max_size is not None:
            counted = counted[: max_size - 1]
    return Vocabulary([unk_token] + [t for t, _ in counted], level=level,
                      unk_token=unk_token, eos_token=eos_token)


def _check_fractions(fractions):
    if isinstance(fractions, np.ndarray) and fractions.ndim == 1:
        fractions = tuple(fractions.tolist())
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, collections.abc.Sequence):
        raise TypeError(message("fractions", "a sequence of 3 numbers (train, val, test)",
                                fractions))
    if len(fractions) != 3:
        raise ValueError(message("fractions", "3 entries (train, val, test)", fractions))
    values = []
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)):
            raise TypeError(message("fractions", "3 numbers (train, val, test)", fractions))
        if not math.isfinite(f) or f < 0:
            raise ValueError(message("fractions", "3 finite, non-negative numbers", fractions))
        values.append(float(f))
    if abs(math.fsum(values) - 1.0) > 1e-6:
        raise ValueError(message("fractions", "3 numbers that sum to 1", fractions)
                         + f" (sum {math.fsum(values):.6g})")
    if values[0] == 0:
        raise ValueError(message("fractions", "3 numbers with a positive train fraction",
                                 fractions))
    return values


def split_text(seq, fractions=(0.8, 0.1, 0.1)):
    """Cut a sequence into contiguous train, validation and test parts, in that order.

    Boundaries are ``floor(n * 0.8)`` and ``floor(n * 0.9)`` for the default fractions, so the
    test part is exactly the last 10% that nanoGPT holds out of Tiny Shakespeare (111,540
    characters). Contiguous parts keep neighbouring text out of the held-out sets; a random
    split of overlapping windows would leak it.

    Args:
        seq: a `str`, list, tuple or 1-D array (text, tokens or ids).
        fractions: three non-negative numbers summing to 1: train, validation, test.

    Returns:
        A tuple `(train, val, test)` of slices of `seq`.

    Example:

    >>> split_text("abcdefghij")
    ('abcdefgh', 'i', 'j')
    """
    if isinstance(seq, collections.abc.Mapping) or not (
        isinstance(seq, (collections.abc.Sequence, np.ndarray))
    ):
        raise TypeError(f"`seq` must be a str, list, tuple or 1-D array, got {type(seq).__name__}.")
    if isinstance(seq, np.ndarray) and seq.ndim != 1:
        raise ValueError(f"`seq` must be 1-D, got shape {seq.shape}.")
    values = _check_fractions(fractions)
    n = len(seq)
    if n == 0:
        raise ValueError("`seq` is empty: nothing to split.")
    b1 = min(n, int(math.floor(n * values[0] + 1e-6)))
    b2 = min(n, int(math.floor(n * math.fsum(values[:2]) + 1e-6)))
    if values[2] == 0:
        b2 = n
    parts = (seq[:b1], seq[b1:b2], seq[b2:])
    for part, f, label in zip(parts, values, ("train", "val", "test")):
        if f > 0 and len(part) == 0:
            raise ValueError(
                f"A sequence of length {n} is too short for fractions {tuple(fractions)}: the "
                f"{label} part would be empty."
            )
    return parts


class _Shown:
    """How a message shows a rejected array: dtype, shape and range, not every value."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        value = self.value
        if not isinstance(value, np.ndarray):
            text = repr(value)
            return text if len(text) <= 60 else text[:57] + "..."
        shown = f"<{value.dtype} array of shape {value.shape}"
        if value.size and (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            with np.errstate(invalid="ignore"):
                shown += f", values in [{value.min()}, {value.max()}]"
        return shown + ">"


def check_token_ids(name, ids, vocab_size=None, *, ndim=1):
    """`ids` as an `int32` NumPy array, if they are token ids of a vocabulary of `vocab_size`.

    Token ids are integers (floats would be truncated by an embedding, NaN is no id, bools
    are not ids) in ``[0, vocab_size)``: a negative id or one past the vocabulary makes
    TensorFlow fail deep inside an embedding look-up on a CPU, reads zeros on a GPU, and a
    negative one silently reads the last row. The check runs once, where ids enter the
    library (the data pipelines, generation, evaluation, the experiment runner), so the layers'
    `call` pays nothing for it at every step.

    Args:
        name: the argument's name, for the message.
        ids: array-like of ids.
        vocab_size: how many ids there are (the vocabulary's, the model's size), or `None`
            for any non-negative id that fits in `int32`.
        ndim: the rank `ids` must have (1 for a split or a prompt, 2 for a batch).

    Returns:
        The ids as an `np.int32` array.

    Raises:
        TypeError: `ids` is text or not an array of integers.
        ValueError: `ids` is empty, of another rank, or holds an id outside the vocabulary.
    """
    rank = "1-D" if ndim == 1 else f"rank-{ndim}"
    if vocab_size is None:
        requirement = f"a non-empty {rank} array of non-negative integer token ids"
        limit = np.iinfo(np.int32).max
    else:
        requirement = (f"a non-empty {rank} array of integer token ids in [0, {vocab_size}) "
                       f"(the vocabulary has {vocab_size} tokens)")
        limit = int(vocab_size) - 1
    if isinstance(ids, (str, bytes)):
        raise TypeError(message(name, requirement + "; encode text with a Vocabulary",
                                _Shown(ids)))
    try:
        array = np.asarray(ids)
    except ValueError:  # ragged nested lists
        raise ValueError(message(name, requirement, _Shown(ids))) from None
    if array.size == 0 and array.dtype == np.float64 and ids is not None:
        array = array.astype(np.int32)  # `[]`: NumPy's default dtype, reported as empty
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(message(name, requirement, _Shown(array if ids is not None else ids)))
    if array.ndim != ndim or array.size == 0:
        raise ValueError(message(name, requirement, _Shown(array)))
    if array.min() < 0 or array.max() > limit:
        raise ValueError(message(name, requirement, _Shown(array)))
    return array.astype(np.int32, copy=False)


def check_corpus(corpus, splits=("train_ids", "val_ids", "test_ids")):
    """`corpus` if it has a vocabulary and every split in `splits` holds its token ids.

    For the functions that train on a corpus they did not build (`run_experiment`, `tune`):
    a split with ids its vocabulary lacks, float or NaN labels, or an empty split is refused
    before any training, instead of failing inside `fit` (or after it, when scoring).
    """
    missing = [attr for attr in ("vocab", *splits) if not hasattr(corpus, attr)]
    if missing:
        raise TypeError(message(
            "corpus", "a corpus name or a regkeras.data.Corpus (with vocab, "
            + ", ".join(splits) + f"); it has no {missing[0]!r}", _Shown(corpus)))
    size = vocabulary_size(corpus.vocab)
    for split in splits:
        check_token_ids(f"corpus.{split}", getattr(corpus, split), size)
    return corpus


def window_dataset(ids, seq_len, batch_size, *, shuffle=True, seed=None, stride=None,
                   drop_remainder=True):
    """A `tf.data.Dataset` of `(inputs, targets)` windows, the targets shifted by one token.

    Window `k` covers ids ``[k * stride, k * stride + seq_len]``; its inputs are the first
    `seq_len` ids and its targets the last `seq_len`. Windows are drawn in a fresh shuffled
    order every epoch (`tf.data` shuffle: the same `seed` under the same global seed, which
    `keras.utils.set_random_seed` sets, repeats the order).

    Args:
        ids: 1-D integer token ids.
        seq_len: tokens per input window.
        batch_size: windows per batch.
        shuffle: whether to shuffle the windows.
        seed: the shuffle seed, or `None`.
        stride: tokens between window starts; default `seq_len` (windows do not overlap,
            each id is a target once per epoch).
        drop_remainder: drop the last short batch (keeps batch shapes static).

    Returns:
        A `tf.data.Dataset` of `(x, y)`, both `int32` of shape `(batch_size, seq_len)`.

    Example:

    >>> ds = window_dataset(np.arange(100), seq_len=8, batch_size=4, seed=0)
    >>> x, y = next(iter(ds))
    >>> bool((x[:, 1:] == y[:, :-1]).numpy().all())
    True
    """
    ids = check_token_ids("ids", ids)
    seq_len = check_positive_int("seq_len", seq_len)
    batch_size = check_positive_int("batch_size", batch_size)
    stride = seq_len if stride is None else check_positive_int("stride", stride)
    check_bool("shuffle", shuffle)
    check_bool("drop_remainder", drop_remainder)
    seed = check_seed("seed", seed)
    if seq_len + 1 > ids.size:
        raise ValueError(
            f"`seq_len` + 1 = {seq_len + 1} is longer than the data ({ids.size} ids): "
            "a window needs seq_len inputs plus one target beyond them."
        )
    num_windows = (ids.size - seq_len - 1) // stride + 1
    if drop_remainder and num_windows < batch_size:
        raise ValueError(
            f"`batch_size` {batch_size} is larger than the {num_windows} windows available "
            f"({ids.size} ids, seq_len {seq_len}, stride {stride}); lower it or pass "
            "drop_remainder=False."
        )
    import tensorflow as tf  # here, not at the top: `import regkeras` needs no TensorFlow

    data = tf.constant(ids)
    starts = tf.data.Dataset.from_tensor_slices(
        np.arange(num_windows, dtype=np.int32) * np.int32(stride)
    )
    if shuffle:
        starts = starts.shuffle(num_windows, seed=seed, reshuffle_each_iteration=True)
    starts = starts.batch(batch_size, drop_remainder=drop_remainder)
    offsets = tf.range(seq_len + 1, dtype=tf.int32)

    def gather(batch_starts):
        windows = tf.gather(data, batch_starts[:, None] + offsets[None, :])
        return windows[:, :-1], windows[:, 1:]

    windows = starts.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _without_autotune(windows.prefetch(tf.data.AUTOTUNE))


def _without_autotune(dataset):
    """The dataset with tf.data's autotuning thread switched off.

    Gathering windows from one in-memory tensor needs no tuning, and the tuning thread costs:
    an iterator cannot be destroyed until that thread wakes, which stalled the end of `fit` by
    up to 3.8 s (every second run of a chapter's ablation on 2 cores; `py-spy` showed the main
    thread in `~LogicalThreadWrapper`), and its periodic work takes CPU from training. The
    `AUTOTUNE` values in `window_dataset` stay meaningful without it: the map runs on as many
    threads as there are cores and the prefetch buffer tunes itself. Datasets built from these
    (`take`, `concatenate` in `training_windows`) inherit the option.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def bptt_dataset(ids, seq_len, batch_size):
    """Contiguous batches for a stateful model: truncated backpropagation through time.

    As in Zaremba et al. (2014), the ids are cut into `batch_size` equal contiguous streams
    (the leftover tail is dropped) and read `seq_len` tokens at a time, so row `i` of batch
    `k + 1` continues row `i` of batch `k`. A stateful LSTM carries its state from one batch to
    the next and so sees context far beyond `seq_len`; reset the states at each epoch start.
    The batches are never shuffled.

    Args:
        ids: 1-D integer token ids.
        seq_len: tokens per step of truncated backpropagation.
        batch_size: number of parallel streams (the model's fixed batch size).

    Returns:
        A `tf.data.Dataset` of `(x, y)`, both `int32` of shape `(batch_size, seq_len)`,
        with `(len(ids) // batch_size - 1) // seq_len` batches.

    Example:

    >>> ds = bptt_dataset(np.arange(20), seq_len=3, batch_size=2)
    >>> [x.numpy()[0].tolist() for x, _ in ds]
    [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    """
    ids = check_token_ids("ids", ids)
    seq_len = check_positive_int("seq_len", seq_len)
    batch_size = check_positive_int("batch_size", batch_size)
    per_stream = ids.size // batch_size
    num_batches = (per_stream - 1) // seq_len if per_stream > 0 else 0
    if num_batches < 1:
        raise ValueError(
            f"{ids.size} ids are too few for batch_size {batch_size} and seq_len {seq_len}: "
            f"each of the {batch_size} streams needs at least seq_len + 1 = {seq_len + 1} ids."
        )
    streams = ids[: batch_size * per_stream].reshape(batch_size, per_stream)
    used = num_batches * seq_len
    x = streams[:, :used].reshape(batch_size, num_batches, seq_len).transpose(1, 0, 2)
    y = streams[:, 1 : used + 1].reshape(batch_size, num_batches, seq_len).transpose(1, 0, 2)
    import tensorflow as tf  # here, not at the top: `import regkeras` needs no TensorFlow

    batches = tf.data.Dataset.from_tensor_slices((np.ascontiguousarray(x), np.ascontiguousarray(y)))
    return _without_autotune(batches)


# --------------------------------------------------------------------------------------------
# Corpora


@dataclasses.dataclass(repr=False, eq=False)
class Corpus:
    """A corpus ready for training: its vocabulary and the ids of its three contiguous splits.

    Attributes:
        vocab: the `Vocabulary` (built from the training split).
        train_ids, val_ids, test_ids: 1-D `np.int32` arrays, non-empty, of ids the
            vocabulary has (checked when the corpus is made: `ValueError`/`TypeError`
            otherwise).
        name: where it came from.
        level: ``"char"`` or ``"word"``.
        entropy_rate: for the embedded recipe corpus, the exact entropy rate of its source in
            nats per token (per character at char level, per word at word level): the lowest
            held-out loss any model can reach. `None` for real text, whose floor is unknown.
    """

    vocab: Vocabulary
    train_ids: np.ndarray
    val_ids: np.ndarray
    test_ids: np.ndarray
    name: str = "text"
    level: str = "char"
    entropy_rate: float | None = None

    def __post_init__(self):
        # Checked once here, so that training on the corpus cannot meet float, NaN or
        # out-of-vocabulary labels inside `fit`, nor an empty split when scoring.
        if not isinstance(self.vocab, Vocabulary):
            raise TypeError(message("vocab", "a regkeras Vocabulary", _Shown(self.vocab)))
        for split in ("train_ids", "val_ids", "test_ids"):
            setattr(self, split, check_token_ids(split, getattr(self, split), self.vocab.size))
        check_string("name", self.name)
        _check_level(self.level)
        if self.level != self.vocab.level:
            raise ValueError(message("level", f"the vocabulary's level {self.vocab.level!r}",
                                     self.level))
        self.entropy_rate = check_non_negative("entropy_rate", self.entropy_rate,
                                               allow_none=True)

    @property
    def vocab_size(self):
        """`vocab.size`: the model's output width."""
        return self.vocab.size

    def ids(self, split):
        """The ids of ``"train"``, ``"val"`` (or ``"valid"``) or ``"test"``."""
        key = {"train": "train_ids", "val": "val_ids", "valid": "val_ids",
               "validation": "val_ids", "test": "test_ids"}.get(split)
        if key is None:
            raise ValueError(message("split", "'train', 'val' or 'test'", split))
        return getattr(self, key)

    def window_dataset(self, split, seq_len, batch_size, **kwargs):
        """`window_dataset` over one split; held-out splits default to ``shuffle=False``."""
        if split != "train":
            kwargs.setdefault("shuffle", False)
        return window_dataset(self.ids(split), seq_len, batch_size, **kwargs)

    def bptt_dataset(self, split, seq_len, batch_size):
        """`bptt_dataset` over one split."""
        return bptt_dataset(self.ids(split), seq_len, batch_size)

    def __repr__(self):
        floor = "" if self.entropy_rate is None else f", entropy_rate={self.entropy_rate:.4f}"
        return (f"Corpus(name={self.name!r}, level={self.level!r}, vocab_size={self.vocab_size}, "
                f"train={self.train_ids.size}, val={self.val_ids.size}, "
                f"test={self.test_ids.size}{floor})")


def corpus_from_text(text, *, name="text", level="char", fractions=None, max_vocab=None,
                     min_count=1, entropy_rate=None):
    """A `Corpus` from one text: tokenise, split contiguously, build the vocabulary on train.

    Args:
        text: a non-empty `str`.
        name: a label for the corpus.
        level: ``"char"`` or ``"word"``.
        fractions: `(train, val, test)`, three positive numbers summing to 1; `None` means
            `(0.8, 0.1, 0.1)`.
        max_vocab: the largest vocabulary size (see `build_vocabulary`).
        min_count: rarer training tokens become `<unk>`.
        entropy_rate: the source's known entropy rate, if any, in nats per token.

    Returns:
        A `Corpus`.

    Example:

    >>> corpus = corpus_from_text("to be or not to be " * 20)
    >>> corpus.train_ids.size, corpus.test_ids.size
    (304, 38)
    """
    _check_level(level)
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError(f"`text` is empty or only whitespace: nothing to train on ({text!r:.40}).")
    if max_vocab is not None and check_positive_int("max_vocab", max_vocab) < 2:
        raise ValueError(message("max_vocab", "at least 2 (<unk> and one token) or None",
                                 max_vocab))
    fractions = (0.8, 0.1, 0.1) if fractions is None else fractions
    if 0 in _check_fractions(fractions):  # a corpus is trained, validated and tested on
        raise ValueError(message("fractions", "3 positive numbers (train, val, test) that sum "
                                 "to 1: a corpus needs all three parts", fractions))
    tokens = tokenize(text, level)
    train, val, test = split_text(tokens, fractions)
    vocab = build_vocabulary(train, level, max_size=max_vocab, min_count=min_count)
    return Corpus(vocab, vocab.encode(train), vocab.encode(val), vocab.encode(test),
                  name=name, level=level, entropy_rate=entropy_rate)


def load_corpus(name, *, level=None, data_dir=None, fractions=None, max_vocab=None,
                min_count=1, num_words=None, seed=None, **load_kwargs):
    """Load a corpus by name, ready to train on: the one-call entry of the course.

    ``"ptb"`` uses the official Penn Treebank train/valid/test files (vocabulary from train,
    10,000 words with ``<eos>``, as in Zaremba et al.). Every other source is one text cut
    contiguously by `fractions` (default 80/10/10), with the vocabulary built on the training
    part. ``"recipes"`` also carries its exact entropy rate (`Corpus.entropy_rate`).

    Args:
        name: a name `regkeras.datasets.load_text` accepts (``"tiny_shakespeare"``,
            ``"ptb"``, ``"ptb.valid"``, ``"ptb.test"``, ``"recipes"``) or a text file path.
        level: ``"char"``, ``"word"``, or `None`: word for PTB names, char otherwise.
        data_dir: a folder to look in first for corpus files.
        fractions: `(train, val, test)` for single-text corpora; must be `None` for
            ``"ptb"``, which has official splits.
        max_vocab: the largest vocabulary size.
        min_count: rarer training tokens become ``<unk>``.
        num_words: recipes only: corpus size in words (default 30,000).
        seed: recipes only: the chain and sample seed (default 0).
        **load_kwargs: `download`, `verify`, `cache_dir` for `load_text`.

    Returns:
        A `Corpus`.

    Example:

    >>> corpus = load_corpus("recipes", num_words=2000)
    >>> corpus.level, round(corpus.entropy_rate, 1)
    ('char', 0.5)
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    check_string("name", name, "a dataset name or a file path")
    unknown = sorted(set(load_kwargs) - {"download", "verify", "cache_dir"})
    if unknown:
        raise TypeError(f"load_corpus() got unexpected keyword argument(s) {unknown}; the "
                        "loader options are `download`, `verify` and `cache_dir`.")
    key = name.strip().lower().replace("-", "_")
    is_recipes = key == "recipes"
    if not is_recipes and (num_words is not None or seed is not None):
        raise ValueError("`num_words` and `seed` apply only to the 'recipes' corpus.")
    if level is None:
        level = "word" if key.startswith("ptb") else "char"
    _check_level(level)

    if key == "ptb":
        if fractions is not None:
            raise ValueError("'ptb' has official train/valid/test splits, so `fractions` must "
                             "be None; load 'ptb.train' to split the training file yourself.")
        texts = [_datasets.ptb(split, data_dir=data_dir, **load_kwargs)
                 for split in ("train", "valid", "test")]
        token_lists = [tokenize(t, level) for t in texts]
        vocab = build_vocabulary(token_lists[0], level, max_size=max_vocab, min_count=min_count)
        ids = [vocab.encode(t) for t in token_lists]
        return Corpus(vocab, *ids, name="ptb", level=level)

    entropy_rate = None
    if is_recipes:
        seed = 0 if seed is None else check_seed("seed", seed)
        kwargs = {} if num_words is None else {"num_words": num_words}
        text = _datasets.recipes(seed=seed, **kwargs)
        chain = _datasets.RecipeChain(seed)
        entropy_rate = chain.entropy_rate if level == "char" else chain.word_entropy_rate
    else:
        text = _datasets.load_text(name, data_dir=data_dir, **load_kwargs)
    return corpus_from_text(text, name=name, level=level, fractions=fractions,
                            max_vocab=max_vocab, min_count=min_count, entropy_rate=entropy_rate)


# --------------------------------------------------------------------------------------------
# A model and its vocabulary, saved side by side


def _path(name, path):
    """`path` as a str, if it is a non-empty str or os.PathLike (TypeError/ValueError)."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    return check_string(name, path, "a file path (str or os.PathLike)")


def vocabulary_path(model_path):
    """Where `save_language_model` puts the vocabulary: ``model.keras`` -> ``model.vocab.json``."""
    model_path = _path("model_path", model_path)
    if not model_path.endswith(".keras"):
        raise ValueError(message("model_path", "a path ending in '.keras'", model_path))
    return model_path[: -len(".keras")] + ".vocab.json"


def save_language_model(model, vocab, path):
    """Save a language model (``.keras``) and its vocabulary beside it (``.vocab.json``).

    Args:
        model: a `keras.Model` whose output width is `vocab.size`.
        vocab: the `Vocabulary` the model was trained with.
        path: the model file, ending in ``.keras``.

    Returns:
        `(model_path, vocab_path)`.

    Example:

    >>> save_language_model(model, corpus.vocab, "runs/lm.keras")  # doctest: +SKIP
    ('runs/lm.keras', 'runs/lm.vocab.json')
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}.")
    if not isinstance(vocab, Vocabulary):
        raise TypeError(f"`vocab` must be a regkeras Vocabulary, got {type(vocab).__name__}.")
    path = _path("path", path)
    if not path.endswith(".keras"):
        raise ValueError(message("path", "a path ending in '.keras'", path))
    vocab_file = vocabulary_path(path)
    width = output_width(model)
    if width is not None and width != vocab.size:
        raise ValueError(message("vocab", "the vocabulary the model was trained with (the "
                                 f"model predicts {width} classes)",
                                 described(f"a vocabulary of {vocab.size} tokens")))
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    model.save(path)
    vocab.to_json(vocab_file)
    return path, vocab_file


def load_language_model(path, *, compile=True, safe_mode=True):
    """Load what `save_language_model` saved: `(model, vocab)`.

    Only ``import regkeras`` is needed: every regkeras layer and metric is registered for
    Keras serialization, so the default ``safe_mode=True`` works.

    Args:
        path: the ``.keras`` file.
        compile: whether to restore the optimizer, loss and metrics too.
        safe_mode: passed to `keras.saving.load_model`.

    Returns:
        `(model, vocab)`.

    Example:

    >>> model, vocab = load_language_model("runs/lm.keras")  # doctest: +SKIP
    """
    path = _path("path", path)
    check_bool("compile", compile)
    check_bool("safe_mode", safe_mode)
    if not path.endswith(".keras"):
        raise ValueError(message("path", "a path ending in '.keras'", path))
    vocab_file = vocabulary_path(path)
    missing = [p for p in (path, vocab_file) if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"Missing file(s) of the saved language model: {missing}.")
    model = keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)
    vocab = Vocabulary.from_json(vocab_file)
    width = output_width(model)
    if width is not None and width != vocab.size:
        raise ValueError(f"The model at {path} predicts {width} classes but its vocabulary has "
                         f"{vocab.size} tokens.")
    return model, vocab


def vocabulary_size(vocab):
    """The number of ids of `vocab`: a `Vocabulary` (its `size`) or any sized sequence."""
    requirement = "a Vocabulary (or a sized sequence of tokens) with at least one token"
    size = getattr(vocab, "size", None)
    if size is None:
        if isinstance(vocab, (str, bytes)) or not isinstance(vocab, collections.abc.Sized):
            raise TypeError(message("vocab", requirement, _Shown(vocab)))
        size = len(vocab)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(message("vocab", requirement, _Shown(vocab)))
    if size < 1:
        raise ValueError(message("vocab", requirement, _Shown(vocab)))
    return int(size)


def count_batches(dataset):
    """The number of batches of a `tf.data.Dataset` (iterating it when its size is unknown)."""
    if not callable(getattr(dataset, "cardinality", None)):
        raise TypeError(message("dataset", "a tf.data.Dataset", _Shown(dataset)))
    n = int(dataset.cardinality())
    if n >= 0:
        return n
    return sum(1 for _ in dataset)


def training_windows(ids, seq_len, batch_size, seed, first_epoch, epochs, steps_per_epoch=None):
    """Epochs `[first_epoch, epochs)` of shuffled training windows, one dataset.

    Each epoch is `window_dataset(ids, ..., shuffle=True)` with its own seed (`seed * 10007 +
    epoch`), so a run resumed at `first_epoch` sees exactly the batches the uninterrupted run
    would have seen; `steps_per_epoch` caps each epoch. Used by `regkeras.experiments` and
    `regkeras.tuning`.

    Returns:
        `(dataset, batches_per_epoch)`.

    Raises:
        ValueError: the ids are too short for one batch.
    """

    seed = check_seed("seed", seed, allow_none=False)  # each epoch's shuffle seed comes from it
    epochs = check_positive_int("epochs", epochs)
    # A resumed run may start at `epochs` (every epoch done, the result not yet recorded).
    first_epoch = check_int("first_epoch", first_epoch, minimum=0)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch, allow_none=True)
    if steps_per_epoch is not None and steps_per_epoch > np.iinfo(np.int64).max:
        raise ValueError(message("steps_per_epoch", "a positive integer < 2**63 or None",
                                 steps_per_epoch))

    def epoch_windows(epoch):
        ds = window_dataset(ids, seq_len, batch_size, shuffle=True, seed=seed * 10007 + epoch)
        return ds.take(steps_per_epoch) if steps_per_epoch else ds

    steps = count_batches(epoch_windows(0))
    if steps == 0:
        raise ValueError(
            f"The training split is too short for one batch of `batch_size`={batch_size} "
            f"windows of {seq_len} tokens; lower batch_size or seq_len."
        )
    dataset = epoch_windows(first_epoch)
    for epoch in range(first_epoch + 1, epochs):
        dataset = dataset.concatenate(epoch_windows(epoch))
    return dataset, steps  # window_dataset's options (no autotuning) carry through
