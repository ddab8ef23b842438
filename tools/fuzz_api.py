"""Call the public API with hostile values and sort what each call does (issue #19).

    python tools/fuzz_api.py              # the counts, then every call that went wrong
    python tools/fuzz_api.py --all        # every call, one line each
    python tools/fuzz_api.py --only generation.generate_ids

Every public function and class of regkeras (the ``__all__`` of each submodule) has a
*target* here -- a valid call, and a rule for each argument it fuzzes (what the argument
allows) -- or an entry in `NOT_FUZZED` that says why not (result records, kernels, loaders). Each argument in turn is replaced by every value of a hostile pool (huge,
negative, float, NaN, bool and ``None`` seeds and sizes; empty and zero-length arrays, wrong
ranks and dtypes, token ids out of range; empty strings and vocabularies; fractions that leave
an empty part; mismatched lengths; wrong types), and the outcome is one of:

* ``clear``: a `ValueError`/`TypeError` raised by regkeras itself, naming the argument, of the
  class the one rule of `regkeras.validation` gives (TypeError for a wrong type, ValueError for
  a value outside the allowed ones) -- or a valid value accepted;
* ``wrong class``: a clear message, but a TypeError where a ValueError is due or back;
* ``obscure``: any other exception, or one raised inside TensorFlow, Keras or NumPy, or one
  whose message does not name the argument;
* ``silent``: an invalid value accepted.

Valid values of expensive targets (training, tuning) are not run: only their refusals are.
The exit status is 1 when any call is not clear; `tests/test_properties.py` runs every
target and asserts that. The figures are recorded in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import math
import numbers
import os
import pathlib
import sys
import tempfile
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

OUTCOMES = ("clear", "wrong class", "obscure", "silent")

# ---------------------------------------------------------------------------------------------
# What an argument allows: a rule returns None for a valid value, else the exception class
# the one rule of regkeras.validation gives for it.


def _int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def int_at_least(low):
    def rule(value):
        if not _int(value):
            return TypeError
        return None if value >= low else ValueError
    return rule


POSITIVE_INT = int_at_least(1)
NON_NEGATIVE_INT = int_at_least(0)


def SEED(value):  # noqa: N802 - a constant-like rule
    if value is None:
        return None
    if not _int(value):
        return TypeError
    return None if 0 <= value <= 2**32 - 1 else ValueError


def float_in(low=None, high=None, *, low_open=False, high_open=False, finite=True):
    def rule(value):
        if not _real(value):
            return TypeError
        value = float(value)
        if math.isnan(value) or (finite and math.isinf(value)):
            return ValueError
        if low is not None and (value <= low if low_open else value < low):
            return ValueError
        if high is not None and (value >= high if high_open else value > high):
            return ValueError
        return None
    return rule


RATE = float_in(0, 1, high_open=True)
POSITIVE = float_in(0, low_open=True)
NON_NEGATIVE = float_in(0)


def TEMPERATURE(value):  # noqa: N802 - a finite number >= 0, or the string 'greedy'
    if isinstance(value, str):
        return None if value == "greedy" else ValueError
    return NON_NEGATIVE(value)


def FLAG(value):  # noqa: N802
    return None if isinstance(value, bool) else TypeError


def TEXT(value):  # noqa: N802
    if not isinstance(value, str):
        return TypeError
    return None if value else ValueError


def optional(rule):
    return lambda value: None if value is None else rule(value)


def one_of(*choices):
    def rule(value):
        if not isinstance(value, str):
            return TypeError
        return None if value in choices else ValueError
    return rule


def type_only(*types):
    """For arguments whose values are fuzzed only by type (objects: models, vocabularies)."""
    return lambda value: None if isinstance(value, types) else TypeError


# The scalar pool every fuzzed argument receives.
SCALARS = (
    ("None", None), ("True", True), ("-1", -1), ("0", 0), ("1", 1), ("2**70", 2**70),
    ("2.0", 2.0), ("0.5", 0.5), ("nan", float("nan")), ("inf", float("inf")),
    ("'x'", "x"), ("''", ""), ("[]", []), ("object()", object()),
)


@dataclasses.dataclass
class Case:
    """One hostile value for one argument: `expected` is None when the value is valid."""

    argument: str
    label: str
    value: object
    expected: type | None


def scalar_cases(argument, rule, skip=()):
    return [Case(argument, label, value, rule(value)) for label, value in SCALARS
            if label not in skip]


def ids_cases(argument, size, *, rank=1, integral_floats=False):
    """Hostile token-id arrays for an argument that takes ids of a vocabulary of `size`.

    With `integral_floats` (a layer's inputs: Keras' own Embedding takes float ids) floats
    holding whole numbers are valid and fractional or NaN ones are a ValueError."""
    float_error = ValueError if integral_floats else TypeError
    good = np.arange(24, dtype="int64") % size
    shape = (-1,) if rank == 1 else (2, -1)

    def ids(values, dtype="int64"):
        return np.asarray(values, dtype=dtype).reshape(shape)

    wrong_rank = good.reshape(2, 3, 4) if rank == 2 else good.reshape(4, 6)
    cases = [
        ("valid", ids(good), None),
        ("empty", np.zeros((0,) if rank == 1 else (2, 0), dtype="int64"), ValueError),
        (f"rank {wrong_rank.ndim}", wrong_rank, ValueError),
        ("negative id", ids(np.where(np.arange(24) == 3, -1, good)), ValueError),
        (f"id {size} (= vocabulary size)", ids(np.where(np.arange(24) == 5, size, good)),
         ValueError),
        ("id 2**40", ids(np.where(np.arange(24) == 5, 2**40, good)), ValueError),
        ("float ids 1.5", ids(good + 0.5, "float64") % size, float_error),
        ("NaN id", ids(np.where(np.arange(24) == 2, np.nan, good), "float64"), float_error),
        ("bool ids", ids(good % 2, bool), TypeError),
        ("strings", ids([str(v) for v in good], object), TypeError),
        ("None", None, TypeError),
    ]
    if integral_floats:
        cases.append(("floats holding integers", ids(good, "float32"), None))
    return [Case(argument, label, value, expected) for label, value, expected in cases]


# ---------------------------------------------------------------------------------------------
# The context a valid call needs: small vocabularies, a model, a corpus (made once).


class Context:
    """What the valid calls need, made on first use: a 7-token vocabulary, models, a corpus."""

    def __init__(self, folder):
        import keras

        import regkeras as rk

        self.folder = folder
        keras.utils.set_random_seed(0)
        self.rk = rk
        self.vocab = rk.Vocabulary(list("abcdef"))  # 7 tokens with <unk>
        self.ids = np.arange(60, dtype="int32") % self.vocab.size
        self.history = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6]}

    @functools.cached_property
    def model(self):
        return self.rk.build_language_model(self.vocab.size, embedding_dim=4, units=4,
                                            dropout=0.2, seed=0)

    @functools.cached_property
    def compiled_model(self):
        import keras

        model = self.rk.build_language_model(self.vocab.size, embedding_dim=4, units=4, seed=0)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    @functools.cached_property
    def other_model(self):
        return self.rk.build_language_model(self.vocab.size + 3, embedding_dim=4, units=4)

    @functools.cached_property
    def corpus(self):
        return self.rk.corpus_from_text("abcdef fedcba " * 30)

    @functools.cached_property
    def saved_model_path(self):
        path = self.path("saved.keras")
        self.rk.save_language_model(self.model, self.vocab, path)
        return path

    def path(self, name):
        return os.path.join(self.folder, name)


@dataclasses.dataclass
class Target:
    """A public callable, its valid call, and the hostile cases of its arguments."""

    name: str
    call: object          # context -> callable
    base: object          # context -> dict of a valid call's keyword arguments
    cases: object         # context -> list of Case
    run_valid: bool = True  # False: valid values would train or change the process
    single_input: bool = False  # called as call(value): a layer or model on its input


def _t(name, call, base, cases, **options):
    return Target(name, call, base, cases, **options)


def _scalars(**rules):
    """cases(context) for scalar arguments: rules by argument name (with skips)."""
    def cases(c):
        out = []
        for argument, rule in rules.items():
            skip = ()
            if isinstance(rule, tuple):
                rule, skip = rule
            out.extend(scalar_cases(argument, rule, skip))
        return out
    return cases


def _plus(*makers):
    return lambda c: [case for make in makers for case in make(c)]


def _explicit(*triples):
    """cases(context) from (argument, label, value or context -> value, expected)."""
    def cases(c):
        return [Case(a, label, v(c) if callable(v) and not isinstance(v, type) else v, e)
                for a, label, v, e in triples]
    return cases


HUGE = ("2**70",)  # sizes where a valid huge value would only exhaust the memory


def targets():
    """Every fuzzed public callable."""
    return [
        # --- datasets
        _t("datasets.RecipeChain", lambda c: c.rk.RecipeChain, lambda c: {"seed": 0},
           _scalars(seed=SEED)),
        _t("datasets.recipes", lambda c: c.rk.recipes, lambda c: {"num_words": 20, "seed": 0},
           _scalars(num_words=(POSITIVE_INT, HUGE), seed=SEED)),
        _t("datasets.recipes_entropy_rate", lambda c: c.rk.recipes_entropy_rate,
           lambda c: {"seed": 0}, _scalars(seed=SEED)),
        _t("datasets.load_text", lambda c: c.rk.load_text, lambda c: {"name": "recipes"},
           _plus(_scalars(download=FLAG, verify=FLAG),
                 _explicit(("name", "None", None, TypeError), ("name", "5", 5, TypeError),
                           ("name", "''", "", ValueError))),
           run_valid=False),
        _t("datasets.verify_file", lambda c: c.rk.verify_file, lambda c: {"path": __file__},
           _explicit(("sha256", "5", 5, TypeError), ("sha256", "'xyz'", "xyz", ValueError))),
        _t("datasets.git_blob_sha1", lambda c: c.rk.git_blob_sha1, lambda c: {"data": b"x"},
           _scalars(data=type_only(bytes))),
        _t("datasets.file_checksum", lambda c: c.rk.file_checksum,
           lambda c: {"path": __file__, "algorithm": "sha256"},
           _scalars(algorithm=one_of("sha256", "git_sha1"))),
        # --- data
        _t("data.tokenize", lambda c: c.rk.tokenize, lambda c: {"text": "ab", "level": "char"},
           _scalars(text=type_only(str), level=one_of("char", "word"),
                    eos_token=optional(TEXT))),
        _t("data.Vocabulary", lambda c: c.rk.Vocabulary, lambda c: {"tokens": ["a", "b"]},
           _plus(_scalars(level=one_of("char", "word"), unk_token=TEXT,
                          eos_token=optional(TEXT)),
                 _explicit(("tokens", "[]", [], ValueError),
                           ("tokens", "'ab' (a str)", "ab", TypeError),
                           ("tokens", "None", None, TypeError),
                           ("tokens", "[1, 2]", [1, 2], TypeError),
                           ("tokens", "['a', 'a']", ["a", "a"], ValueError),
                           ("tokens", "['']", [""], ValueError),
                           ("tokens", "['ab'] at char level", ["ab"], ValueError)))),
        _t("data.build_vocabulary", lambda c: c.rk.build_vocabulary,
           lambda c: {"text": "aab"},
           _plus(_scalars(level=one_of("char", "word"),
                          max_size=optional(int_at_least(2)), min_count=POSITIVE_INT),
                 _explicit(("text", "''", "", ValueError), ("text", "[]", [], ValueError),
                           ("text", "None", None, TypeError), ("text", "5", 5, TypeError)))),
        _t("data.split_text", lambda c: c.rk.split_text, lambda c: {"seq": "abcdefghij"},
           _explicit(("fractions", "(0.8, 0.1, 0.1)", (0.8, 0.1, 0.1), None),
                     ("fractions", "sum 1.2", (0.8, 0.2, 0.2), ValueError),
                     ("fractions", "sum 0.9", (0.7, 0.1, 0.1), ValueError),
                     ("fractions", "negative", (1.2, -0.1, -0.1), ValueError),
                     ("fractions", "NaN", (0.8, float("nan"), 0.1), ValueError),
                     ("fractions", "two numbers", (0.9, 0.1), ValueError),
                     ("fractions", "zero train", (0.0, 0.5, 0.5), ValueError),
                     ("fractions", "bools", (True, False, False), TypeError),
                     ("fractions", "None", None, TypeError),
                     ("fractions", "'0.8'", "0.8", TypeError),
                     ("fractions", "val part rounds to empty", (0.95, 0.04, 0.01), ValueError),
                     ("seq", "''", "", ValueError), ("seq", "None", None, TypeError),
                     ("seq", "5", 5, TypeError),
                     ("seq", "2-D array", np.zeros((2, 5)), ValueError))),
        _t("data.window_dataset", lambda c: c.rk.window_dataset,
           lambda c: {"ids": c.ids, "seq_len": 4, "batch_size": 2},
           _plus(_scalars(seq_len=POSITIVE_INT, batch_size=POSITIVE_INT, shuffle=FLAG,
                          seed=SEED, stride=optional(POSITIVE_INT), drop_remainder=FLAG),
                 lambda c: [case for case in ids_cases("ids", 2**31 - 1)
                            if "vocabulary size" not in case.label])),
        _t("data.bptt_dataset", lambda c: c.rk.bptt_dataset,
           lambda c: {"ids": c.ids, "seq_len": 4, "batch_size": 2},
           _plus(_scalars(seq_len=POSITIVE_INT, batch_size=POSITIVE_INT),
                 lambda c: [case for case in ids_cases("ids", 2**31 - 1)
                            if "vocabulary size" not in case.label])),
        _t("data.training_windows", lambda c: c.rk.training_windows,
           lambda c: {"ids": c.ids, "seq_len": 4, "batch_size": 2, "seed": 0,
                      "first_epoch": 0, "epochs": 2},
           _plus(_scalars(seq_len=POSITIVE_INT, batch_size=POSITIVE_INT, seed=(SEED, ("None",)),
                          first_epoch=(int_at_least(0), HUGE), epochs=(POSITIVE_INT, HUGE),
                          steps_per_epoch=optional(POSITIVE_INT)),
                 _explicit(("seed", "None", None, TypeError)))),
        _t("data.count_batches", lambda c: c.rk.count_batches, lambda c: {
            "dataset": c.rk.window_dataset(c.ids, 4, 2)},
           _explicit(("dataset", "None", None, TypeError), ("dataset", "[1, 2]", [1, 2],
                                                            TypeError))),
        _t("data.vocabulary_size", lambda c: c.rk.vocabulary_size,
           lambda c: {"vocab": c.vocab},
           _explicit(("vocab", "None", None, TypeError), ("vocab", "5", 5, TypeError),
                     ("vocab", "[]", [], ValueError), ("vocab", "['a', 'b']", ["a", "b"],
                                                       None))),
        _t("data.Corpus", lambda c: c.rk.Corpus, lambda c: {
            "vocab": c.vocab, "train_ids": c.ids, "val_ids": c.ids[:20], "test_ids": c.ids[:20]},
           _plus(lambda c: ids_cases("train_ids", c.vocab.size),
                 lambda c: ids_cases("val_ids", c.vocab.size),
                 _scalars(level=one_of("char", "word"), name=TEXT,
                          entropy_rate=optional(NON_NEGATIVE)),
                 _explicit(("vocab", "None", None, TypeError),
                           ("vocab", "a list", ["a", "b"], TypeError)))),
        _t("data.corpus_from_text", lambda c: c.rk.corpus_from_text,
           lambda c: {"text": "abcdef fedcba " * 10},
           _plus(_scalars(level=one_of("char", "word"), min_count=POSITIVE_INT,
                          max_vocab=optional(int_at_least(2)),
                          entropy_rate=optional(NON_NEGATIVE), name=TEXT),
                 _explicit(("fractions", "empty test part (0.9, 0.1, 0)", (0.9, 0.1, 0.0),
                            ValueError),
                           ("fractions", "empty val part (0.9, 0, 0.1)", (0.9, 0.0, 0.1),
                            ValueError),
                           ("fractions", "sum 1.1", (0.9, 0.1, 0.1), ValueError),
                           ("text", "''", "", ValueError), ("text", "None", None, TypeError)))),
        _t("data.load_corpus", lambda c: c.rk.load_corpus,
           lambda c: {"name": "recipes", "num_words": 300},
           _plus(_scalars(seed=SEED, min_count=POSITIVE_INT, max_vocab=optional(int_at_least(2)),
                          level=optional(one_of("char", "word"))),
                 _explicit(("fractions", "empty test part", (0.9, 0.1, 0.0), ValueError),
                           ("fractions", "empty val part", (0.9, 0.0, 0.1), ValueError),
                           ("num_words", "0", 0, ValueError),
                           ("num_words", "2.5", 2.5, TypeError),
                           ("name", "None", None, TypeError), ("name", "5", 5, TypeError),
                           ("name", "''", "", ValueError)))),
        _t("data.vocabulary_path", lambda c: c.rk.vocabulary_path,
           lambda c: {"model_path": "m.keras"},
           _explicit(("model_path", "None", None, TypeError), ("model_path", "5", 5, TypeError),
                     ("model_path", "''", "", ValueError),
                     ("model_path", "'m.h5'", "m.h5", ValueError))),
        _t("data.save_language_model", lambda c: c.rk.save_language_model,
           lambda c: {"model": c.model, "vocab": c.vocab, "path": c.path("lm.keras")},
           _explicit(("vocab", "another size", lambda c: c.rk.Vocabulary(list("ab")), ValueError),
                     ("vocab", "None", None, TypeError), ("model", "None", None, TypeError),
                     ("path", "None", None, TypeError), ("path", "'lm.h5'", "lm.h5", ValueError))),
        _t("data.load_language_model", lambda c: c.rk.load_language_model,
           lambda c: {"path": c.saved_model_path},
           _plus(_scalars(compile=FLAG, safe_mode=FLAG),
                 _explicit(("path", "None", None, TypeError), ("path", "5", 5, TypeError)))),
        _t("data.Vocabulary.decode", lambda c: c.vocab.decode, lambda c: {"ids": [1, 2]},
           lambda c: [case for case in ids_cases("ids", c.vocab.size)
                      if case.label not in ("empty", "rank 2")]),
        # --- metrics
        _t("metrics.perplexity", lambda c: c.rk.perplexity, lambda c: {"loss_nats": 1.0},
           _explicit(("loss_nats", "None", None, TypeError), ("loss_nats", "'x'", "x", TypeError),
                     ("loss_nats", "-1", -1.0, ValueError), ("loss_nats", "True", True,
                                                             TypeError))),
        _t("metrics.bits_per_char", lambda c: c.rk.bits_per_char, lambda c: {"loss_nats": 1.0},
           _explicit(("loss_nats", "None", None, TypeError), ("loss_nats", "-1", -1.0,
                                                             ValueError))),
        _t("metrics.BitsPerCharacter", lambda c: c.rk.BitsPerCharacter, lambda c: {},
           _scalars(from_logits=FLAG, ignore_class=optional(_integer_any),
                    name=optional(TEXT))),
        _t("metrics.Perplexity", lambda c: c.rk.Perplexity, lambda c: {},
           _scalars(from_logits=FLAG, ignore_class=optional(_integer_any),
                    name=optional(TEXT))),
        _t("metrics.CrossEntropy", lambda c: c.rk.CrossEntropy, lambda c: {},
           _scalars(from_logits=FLAG, ignore_class=optional(_integer_any),
                    name=optional(TEXT))),
        # --- layers
        _t("dropout.LockedDropout", lambda c: c.rk.LockedDropout, lambda c: {"rate": 0.5},
           _scalars(rate=RATE, seed=SEED)),
        _t("dropout.EmbeddingDropout", lambda c: c.rk.EmbeddingDropout,
           lambda c: {"input_dim": 7, "output_dim": 3},
           _scalars(input_dim=(POSITIVE_INT, HUGE), output_dim=(POSITIVE_INT, HUGE), rate=RATE,
                    seed=SEED, mask_zero=FLAG, logits_bias=FLAG)),
        _t("dropout.EmbeddingDropout(ids)", _embedding_call, lambda c: {"x": np.ones((2, 3), int)},
           lambda c: [case for case in ids_cases("inputs", 7, rank=2, integral_floats=True)
                      if case.label not in ("empty", "rank 3", "strings", "None")],
           single_input=True),
        _t("recurrent.ProjectedLSTM", lambda c: c.rk.ProjectedLSTM, lambda c: {"units": 3},
           _scalars(units=(POSITIVE_INT, HUGE), dropout=RATE, recurrent_dropout=RATE, seed=SEED,
                    weight_dropout=RATE, return_sequences=FLAG, stateful=FLAG)),
        _t("recurrent.ZoneoutLSTMCell", lambda c: c.rk.ZoneoutLSTMCell, lambda c: {"units": 3},
           _scalars(units=(POSITIVE_INT, HUGE), zoneout_c=RATE, zoneout_h=RATE)),
        _t("normalization.LayerNormLSTM", lambda c: c.rk.LayerNormLSTM, lambda c: {"units": 3},
           _scalars(units=(POSITIVE_INT, HUGE), norm_epsilon=POSITIVE, seed=SEED)),
        _t("recurrent.LSTM layers (sequences)", _lstm_call,
           lambda c: {"x": np.ones((2, 5, 3), "float32")},
           _explicit(("sequences", "zero-length time axis", np.ones((2, 0, 3), "float32"),
                      ValueError),
                     ("inputs", "rank 2", np.ones((2, 3), "float32"), ValueError),
                     ("sequences", "no features", np.ones((2, 5, 0), "float32"), ValueError)),
           single_input=True),
        _t("recurrent.WeightDropLSTM", lambda c: c.rk.WeightDropLSTM, lambda c: {"units": 3},
           _scalars(units=(POSITIVE_INT, HUGE), weight_dropout=RATE)),
        _t("recurrent.ZoneoutLSTM", lambda c: c.rk.ZoneoutLSTM, lambda c: {"units": 3},
           _scalars(units=(POSITIVE_INT, HUGE), zoneout_c=RATE, zoneout_h=RATE, seed=SEED)),
        _t("recurrent.ProjectedLSTMCell", lambda c: c.rk.ProjectedLSTMCell,
           lambda c: {"units": 3},
           _scalars(units=(POSITIVE_INT, HUGE), dropout=RATE, use_bias=FLAG, seed=SEED)),
        _t("normalization.LayerNormLSTMCell", lambda c: c.rk.LayerNormLSTMCell,
           lambda c: {"units": 3}, _scalars(units=(POSITIVE_INT, HUGE), norm_epsilon=POSITIVE)),
        _t("normalization.lstm_with_output_norm", lambda c: c.rk.lstm_with_output_norm,
           lambda c: {"units": 3},
           _scalars(units=(POSITIVE_INT, HUGE), epsilon=POSITIVE, return_sequences=FLAG)),
        _t("regularizers.ActivationRegularization", lambda c: c.rk.ActivationRegularization,
           lambda c: {}, _scalars(ar=NON_NEGATIVE, tar=NON_NEGATIVE)),
        _t("regularizers.ar_penalty", lambda c: c.rk.ar_penalty,
           lambda c: {"outputs": np.ones((2, 3, 4), "float32")},
           _explicit(("outputs", "rank 2", np.ones((2, 3), "float32"), ValueError),
                     ("outputs", "None", None, TypeError))),
        _t("regularizers.tar_penalty", lambda c: c.rk.tar_penalty,
           lambda c: {"outputs": np.ones((2, 3, 4), "float32")},
           _explicit(("outputs", "rank 2", np.ones((2, 3), "float32"), ValueError),
                     ("outputs", "None", None, TypeError))),
        # --- models, spec, optimizers
        _t("models.build_language_model", lambda c: c.rk.build_language_model,
           lambda c: {"vocab_size": 7, "embedding_dim": 4, "units": 4},
           _scalars(vocab_size=(POSITIVE_INT, HUGE), embedding_dim=(POSITIVE_INT, HUGE),
                    dropout=RATE, seed=SEED, tie_weights=FLAG, l2=NON_NEGATIVE)),
        _t("models.LanguageModel(ids)", _model_call, lambda c: {"x": np.ones((2, 5), "int32")},
           lambda c: [case for case in ids_cases("inputs", 7, rank=2, integral_floats=True)
                      if case.label not in ("strings", "None")],
           single_input=True),
        _t("models.LanguageModel.fit (labels)", lambda c: c.compiled_model.fit,
           lambda c: {"x": np.ones((2, 12), "int32"), "y": np.ones((2, 12), "int32"),
                      "epochs": 1, "verbose": 0},
           lambda c: [case for case in ids_cases("y", c.vocab.size, rank=2)
                      if case.label != "None"]),
        _t("spec.LanguageModelSpec", lambda c: c.rk.LanguageModelSpec,
           lambda c: {"vocab_size": 7}, _scalars(vocab_size=(POSITIVE_INT, HUGE), seed=SEED)),
        _t("models.describe", lambda c: c.rk.describe, lambda c: {"model": c.model},
           _plus(_scalars(as_text=FLAG), _explicit(("model", "None", None, TypeError),
                                                   ("model", "'m'", "m", TypeError)))),
        _t("models.reset_states", lambda c: c.rk.reset_states, lambda c: {"model": c.model},
           _explicit(("model", "None", None, TypeError))),
        _t("optimizers.make_adamw", lambda c: c.rk.make_adamw, lambda c: {},
           _scalars(learning_rate=POSITIVE, weight_decay=NON_NEGATIVE, clipnorm=optional(POSITIVE),
                    exclude_embeddings=FLAG)),
        _t("optimizers.add_l2_regularization", lambda c: c.rk.add_l2_regularization,
           lambda c: {"model": c.rk.build_language_model(7, embedding_dim=4, units=4)},
           _scalars(l2=NON_NEGATIVE)),
        _t("optimizers.l2_to_weight_decay", lambda c: c.rk.l2_to_weight_decay,
           lambda c: {"l2": 1e-4}, _scalars(l2=NON_NEGATIVE)),
        _t("optimizers.weight_decay_mask", lambda c: c.rk.weight_decay_mask,
           lambda c: {"model": c.model},
           _plus(_scalars(exclude_embeddings=FLAG), _explicit(("model", "None", None,
                                                               TypeError)))),
        # --- callbacks
        _t("callbacks.BestWeightsEarlyStopping", lambda c: c.rk.BestWeightsEarlyStopping,
           lambda c: {}, _scalars(patience=NON_NEGATIVE_INT, min_delta=NON_NEGATIVE,
                                  start_from_epoch=NON_NEGATIVE_INT, monitor=TEXT,
                                  restore_best_weights=FLAG)),
        _t("callbacks.BestModelCheckpoint", lambda c: c.rk.BestModelCheckpoint,
           lambda c: {"filepath": c.path("best.keras")},
           _plus(_scalars(verbose=NON_NEGATIVE_INT, monitor=TEXT),
                 _explicit(("filepath", "None", None, TypeError),
                           ("filepath", "'best.txt'", "best.txt", ValueError)))),
        _t("callbacks.TrainingMonitor", lambda c: c.rk.TrainingMonitor, lambda c: {},
           _scalars(monitor=TEXT, live=FLAG, add_to_logs=FLAG)),
        _t("callbacks.training_callbacks", lambda c: c.rk.training_callbacks, lambda c: {},
           _scalars(patience=optional(NON_NEGATIVE_INT), min_delta=NON_NEGATIVE,
                    terminate_on_nan=FLAG, monitor=TEXT)),
        _t("callbacks.ResumableBackupAndRestore", lambda c: c.rk.ResumableBackupAndRestore,
           lambda c: {"backup_dir": c.path("backup")},
           _plus(_scalars(delete_checkpoint=FLAG),
                 _explicit(("save_freq", "0", 0, ValueError), ("save_freq", "1.5", 1.5, TypeError),
                           ("save_freq", "'batch'", "batch", ValueError),
                           ("backup_dir", "None", None, TypeError),
                           ("backup_dir", "''", "", ValueError)))),
        _t("callbacks.history_dict", lambda c: c.rk.history_dict,
           lambda c: {"history": c.history},
           _explicit(("history", "None", None, TypeError), ("history", "[1.0]", [1.0], TypeError),
                     ("history", "{'loss': ['a']}", {"loss": ["a"]}, ValueError),
                     ("history", "{'loss': 1.0}", {"loss": 1.0}, ValueError))),
        _t("callbacks.plot_history", lambda c: c.rk.plot_history,
           lambda c: {"histories": c.history},
           _plus(_scalars(metric=TEXT, log_scale=FLAG, gap=FLAG),
                 _explicit(("histories", "None", None, TypeError),
                           ("histories", "{}", {}, ValueError)))),
        _t("callbacks.get_callback", lambda c: c.rk.get_callback,
           lambda c: {"callbacks": c.rk.training_callbacks(),
                      "cls": c.rk.BestWeightsEarlyStopping},
           _explicit(("cls", "None", None, TypeError), ("callbacks", "None", None, TypeError),
                     ("callbacks", "5", 5, TypeError))),
        # --- diagnosis
        _t("diagnosis.diagnose", lambda c: c.rk.diagnose, lambda c: {"history": c.history},
           _plus(_scalars(monitor=TEXT, baseline_loss=optional(POSITIVE),
                          floor_loss=optional(NON_NEGATIVE),
                          spike_tolerance=float_in(0, low_open=True, finite=False),
                          overfit_tolerance=float_in(0, low_open=True, finite=False)),
                 _explicit(("history", "1 val value, 3 train values",
                            {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1]}, ValueError),
                           ("history", "4 val values, 3 train values",
                            {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 2.0, 1.9, 1.8]},
                            ValueError),
                           ("history", "{}", {}, ValueError),
                           ("history", "None", None, TypeError),
                           ("history", "{'loss': []}", {"loss": []}, ValueError)))),
        # --- generation
        _t("generation.sample_next_token", lambda c: c.rk.sample_next_token,
           lambda c: {"logits": [0.1, 2.0, -1.0]},
           _plus(_scalars(temperature=TEMPERATURE, top_k=optional(POSITIVE_INT), seed=SEED),
                 _explicit(("logits", "[]", [], ValueError),
                           ("logits", "NaN", [float("nan"), 1.0], ValueError),
                           ("logits", "rank 2", [[1.0, 2.0]], ValueError),
                           ("logits", "strings", ["a", "b"], TypeError)))),
        _t("generation.generate_ids", lambda c: c.rk.generate_ids,
           lambda c: {"model": c.model, "prompt_ids": [1, 2], "length": 2},
           _plus(_scalars(length=(NON_NEGATIVE_INT, HUGE), temperature=TEMPERATURE,
                          top_k=optional(POSITIVE_INT), seed=SEED,
                          context_length=optional(POSITIVE_INT), from_logits=FLAG),
                 lambda c: ids_cases("prompt_ids", c.vocab.size),
                 _explicit(("model", "None", None, TypeError)))),
        _t("generation.generate_text", lambda c: c.rk.generate_text,
           lambda c: {"model": c.model, "vocab": c.vocab, "prompt": "ab", "length": 2},
           _plus(_scalars(length=(NON_NEGATIVE_INT, HUGE), seed=SEED, include_prompt=FLAG,
                          prompt=TEXT),
                 _explicit(("vocab", "another size", lambda c: c.rk.Vocabulary(list("ab")),
                            ValueError),
                           ("vocab", "None", None, TypeError),
                           ("model", "None", None, TypeError)))),
        _t("generation.mc_dropout_predict", lambda c: c.rk.mc_dropout_predict,
           lambda c: {"model": c.model, "x": np.ones((2, 4), "int32"), "num_samples": 2},
           _plus(_scalars(num_samples=(int_at_least(2), HUGE), seed=SEED, from_logits=FLAG,
                          return_samples=FLAG),
                 lambda c: [case for case in ids_cases("x", c.vocab.size, rank=2)
                            if case.label not in ("strings",)],
                 _explicit(("model", "None", None, TypeError)))),
        # --- experiments
        _t("experiments.ExperimentConfig", lambda c: c.rk.ExperimentConfig,
           lambda c: {"name": "cfg"},
           _scalars(learning_rate=POSITIVE, weight_decay=NON_NEGATIVE, clipnorm=optional(POSITIVE),
                    early_stopping=FLAG, patience=NON_NEGATIVE_INT, name=TEXT)),
        _t("experiments.run_experiment", lambda c: c.rk.run_experiment,
           lambda c: {"config": "baseline", "corpus": c.corpus, "epochs": 1, "seq_len": 8,
                      "batch_size": 2, "steps_per_epoch": 1, "max_eval_batches": 1},
           _plus(_scalars(epochs=POSITIVE_INT, batch_size=POSITIVE_INT, seq_len=POSITIVE_INT,
                          seed=SEED, steps_per_epoch=optional(POSITIVE_INT),
                          max_eval_batches=optional(POSITIVE_INT),
                          eval_batch_size=optional(POSITIVE_INT)),
                 _explicit(("model_builder", "a builder of another vocabulary size",
                            lambda c: (lambda vocab_size, **kw: c.rk.build_language_model(
                                vocab_size + 5, **kw)), ValueError),
                           ("corpus", "ids beyond its vocabulary", lambda c: _bad_corpus(c),
                            ValueError),
                           ("corpus", "None", None, TypeError))),
           run_valid=False),
        _t("experiments.run_experiments", lambda c: c.rk.run_experiments,
           lambda c: {"configs": ["baseline"], "corpus": c.corpus, "epochs": 1},
           _explicit(("configs", "[]", [], ValueError), ("configs", "None", None, TypeError),
                     ("configs", "['no such']", ["no such"], ValueError),
                     ("configs", "['baseline', 'baseline']", ["baseline", "baseline"],
                      ValueError)),
           run_valid=False),
        _t("experiments.run_seeds", lambda c: c.rk.run_seeds,
           lambda c: {"configs": ["baseline"], "corpus": c.corpus, "epochs": 1},
           _explicit(("seeds", "2**70", (2**70,), ValueError), ("seeds", "(-1,)", (-1,),
                                                                ValueError),
                     ("seeds", "()", (), ValueError), ("seeds", "(1.5,)", (1.5,), TypeError),
                     ("seeds", "(0, 0)", (0, 0), ValueError)),
           run_valid=False),
        _t("experiments.seed_stats", lambda c: c.rk.seed_stats, lambda c: {"values": [1.0, 2.0]},
           _explicit(("values", "[]", [], ValueError), ("values", "None", None, TypeError),
                     ("values", "[nan]", [float("nan")], ValueError),
                     ("values", "[1.0, inf]", [1.0, float("inf")], ValueError),
                     ("values", "['a']", ["a"], TypeError),
                     ("values", "[True]", [True], TypeError))),
        _t("experiments.clearly_lower", lambda c: c.rk.clearly_lower,
           lambda c: {"a": [1.0, 1.1], "b": [2.0, 2.1]},
           _explicit(("a", "[]", [], ValueError), ("b", "None", None, TypeError),
                     ("a", "[nan]", [float("nan")], ValueError))),
        _t("experiments.heldout_loss", lambda c: c.rk.heldout_loss,
           lambda c: {"model": c.model, "ids": c.ids, "seq_len": 4, "batch_size": 4},
           _plus(_scalars(seq_len=(POSITIVE_INT, HUGE), batch_size=(POSITIVE_INT, HUGE)),
                 lambda c: ids_cases("ids", c.vocab.size),
                 _explicit(("model", "None", None, TypeError)))),
        _t("experiments.heldout_difference", lambda c: c.rk.heldout_difference,
           lambda c: {"model_a": c.model, "model_b": c.model, "ids": c.ids, "seq_len": 4,
                      "batch_size": 4},
           _explicit(("model_b", "another vocabulary size", lambda c: c.other_model, ValueError),
                     ("ids", "id = vocabulary size", lambda c: np.full(20, c.vocab.size),
                      ValueError),
                     ("model_a", "None", None, TypeError))),
        _t("experiments.format_table", lambda c: c.rk.format_table,
           lambda c: {"rows": [{"name": "a", "val_loss": 1.0}]},
           _plus(_scalars(fmt=one_of("text", "markdown", "md"), floatfmt=TEXT),
                 _explicit(("rows", "None", None, TypeError), ("rows", "[1]", [1], TypeError)))),
        # --- tuning
        _t("tuning.tune", lambda c: c.rk.tune,
           lambda c: {"corpus": c.corpus, "max_trials": 1, "epochs": 1, "seq_len": 8,
                      "batch_size": 2, "steps_per_epoch": 1, "directory": c.path("tune")},
           _scalars(max_trials=POSITIVE_INT, epochs=POSITIVE_INT, seq_len=POSITIVE_INT,
                    batch_size=POSITIVE_INT, seed=SEED, overwrite=FLAG,
                    learning_rate=POSITIVE, tuner=one_of("random", "bayesian", "hyperband")),
           run_valid=False),
        _t("tuning.trials_table", lambda c: c.rk.trials_table,
           lambda c: {"rows": [{"trial": "0", "val_loss": 1.0}]},
           _plus(_scalars(fmt=one_of("text", "markdown", "md")),
                 _explicit(("rows", "None", None, TypeError)))),
        # --- distribute
        _t("distribute.make_strategy", lambda c: c.rk.make_strategy, lambda c: {},
           _explicit(("kind", "'gpus'", "gpus", ValueError), ("kind", "5", 5, TypeError),
                     ("kind", "None", None, TypeError)),
           run_valid=False),
        _t("distribute.use_logical_cpus", lambda c: c.rk.use_logical_cpus, lambda c: {},
           _scalars(count=POSITIVE_INT), run_valid=False),
        _t("distribute.is_chief", lambda c: c.rk.is_chief, lambda c: {},
           _explicit(("strategy", "'chief'", "chief", TypeError), ("strategy", "5", 5, TypeError),
                     ("strategy", "a model", lambda c: c.model, TypeError))),
    ]


# Public callables the fuzzer does not call, and why.
NOT_FUZZED = {
    "datasets.DatasetInfo": "a record of the dataset table, not built by users",
    "datasets.available_datasets": "takes no arguments",
    "datasets.tiny_shakespeare": "load_text('tiny_shakespeare', ...), fuzzed as load_text",
    "datasets.ptb": "load_text('ptb...'), fuzzed as load_text; needs the corpus files",
    "engine.lstm_sequence": "the LSTM layers' kernel, on tensors they shape (fuzzed through them)",
    "engine.lstm_step": "one step of lstm_sequence",
    "engine.lstm_step_backward": "the backward step of lstm_sequence",
    "engine.lstm_step_with_gradient": "a step of lstm_sequence for custom gradients",
    "engine.standard_gates": "the gate activations of lstm_step, on its pre-activations",
    "diagnosis.Diagnosis": "a result record made by diagnose",
    "generation.MCDropoutPrediction": "a result record made by mc_dropout_predict",
    "experiments.ExperimentResult": "a result record made by run_experiment",
    "experiments.Comparison": "a result record made by run_experiments",
    "experiments.SeedComparison": "a result record made by run_seeds",
    "experiments.SeedStats": "a result record made by seed_stats",
    "tuning.TuningResult": "a result record made by tune",
    "distribute.ClipAfterReduceAdamW": "keras.optimizers.AdamW's arguments, checked by Keras",
    "metrics.perplexity_and_bits": "never raises by design: a missing or negative loss gives "
                                   "NaN, so that a log or a table keeps going",
}


def _integer_any(value):
    return None if _int(value) else TypeError


def _embedding_call(c):
    layer = c.rk.EmbeddingDropout(7, 3, rate=0.5, seed=0)
    return lambda inputs: layer(inputs, training=True)


def _lstm_call(c):
    layers = [c.rk.ProjectedLSTM(4, return_sequences=True), c.rk.LayerNormLSTM(4),
              c.rk.WeightDropLSTM(4), c.rk.ZoneoutLSTM(4)]

    def call(inputs):
        for layer in layers:
            layer(inputs, training=True)
    return call


def _model_call(c):
    return lambda x: c.model(x, training=False)


def _bad_corpus(c):
    corpus = c.rk.corpus_from_text("abcdef fedcba " * 30)
    # A corpus put together by hand with ids its vocabulary does not have.
    return type("HandMadeCorpus", (), {"vocab": corpus.vocab, "train_ids": corpus.train_ids + 50,
                                       "val_ids": corpus.val_ids, "test_ids": corpus.test_ids,
                                       "entropy_rate": None})()


# ---------------------------------------------------------------------------------------------
# Running and sorting


@dataclasses.dataclass
class Outcome:
    target: str
    case: Case
    kind: str
    detail: str


def _raised_by_regkeras(err):
    """Whether the innermost frame of the traceback is regkeras' own code (or Keras' check
    of a layer's declared `input_spec`, the rank check regkeras' layers delegate to Keras)."""
    frames = traceback.extract_tb(err.__traceback__)
    innermost = pathlib.Path(frames[-1].filename if frames else "")
    return "regkeras" in innermost.parts[-2:-1] or innermost.parts[-2:] == ("layers",
                                                                            "input_spec.py")


def _names(text, argument):
    """Whether a message names `argument`: `argument` in backticks or as `argument=`, or
    (a name long enough not to be found by chance) anywhere."""
    if argument == "inputs" and "Input 0" in text:  # Keras' input_spec message
        return True
    return (f"`{argument}" in text or f"{argument}=" in text
            or (len(argument) > 3 and argument in text))


def classify(case, run, *, run_valid=True):
    """Runs one case and says what it did: (outcome, detail)."""
    if case.expected is None and not run_valid:
        return "clear", "valid, not run"
    try:
        run()
    except (ValueError, TypeError) as err:
        text = " ".join(str(err).split())
        named = _names(text, case.argument)
        ours = _raised_by_regkeras(err)
        detail = f"{type(err).__name__}: {text[:160]}"
        if not (named and ours):
            return "obscure", detail
        if case.expected is not None and type(err) is not case.expected:
            return "wrong class", f"wanted {case.expected.__name__}; " + detail
        return "clear", detail
    except Exception as err:  # noqa: BLE001 - every other exception is what is being counted
        return "obscure", f"{type(err).__name__}: {' '.join(str(err).split())[:160]}"
    if case.expected is None:
        return "clear", "valid, accepted"
    return "silent", f"accepted; wanted {case.expected.__name__}"


def run_target(target, context):
    """Every case of one target: a list of Outcome."""
    function = target.call(context)
    base = target.base(context)
    outcomes = []
    for case in target.cases(context):
        if target.single_input:
            def run(value=case.value):
                return function(value)
        else:
            def run(kwargs={**base, case.argument: case.value}):
                return function(**kwargs)
        kind, detail = classify(case, run, run_valid=target.run_valid)
        outcomes.append(Outcome(target.name, case, kind, detail))
    return outcomes


def public_callables():
    """Every callable name of the submodules' `__all__` (what the fuzzer should reach)."""
    import regkeras as rk

    names = []
    for module_name in rk._REEXPORTED:
        module = getattr(rk, module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value) and not (isinstance(value, type) and issubclass(value,
                                                                              BaseException)):
                names.append(f"{module_name}.{name}")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="one line per call")
    parser.add_argument("--only", action="append", help="a target name (repeatable)")
    args = parser.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="regkeras-fuzz-") as folder:
        context = Context(folder)
        chosen = [t for t in targets() if not args.only or t.name in args.only]
        outcomes = [o for t in chosen for o in run_target(t, context)]
    counts = collections.Counter(o.kind for o in outcomes)
    reached = {t.name.split("(")[0].split(" ")[0] for t in chosen}
    for o in outcomes:
        if args.all or o.kind != "clear":
            print(f"{o.kind:11s} {o.target}: {o.case.argument}={o.case.label} -> {o.detail}")
    invalid = [o for o in outcomes if o.case.expected is not None]
    refused = sum(1 for o in invalid if o.kind == "clear")
    print(f"\n{len(outcomes)} calls of {len(chosen)} targets: "
          + ", ".join(f"{counts.get(k, 0)} {k}" for k in OUTCOMES))
    print(f"{len(invalid)} calls with an invalid value, {refused} of them refused with a clear "
          "error")
    if not args.only:
        public = set(public_callables())
        missing = sorted(public - reached)
        unexplained = [name for name in missing if name not in NOT_FUZZED]
        print(f"{len(public & reached)} of the {len(public)} public callables fuzzed; not "
              f"called ({len(missing)}, reasons in NOT_FUZZED): {', '.join(missing)}")
        if unexplained:
            print(f"not fuzzed and not explained: {', '.join(unexplained)}")
            return 1
    return 0 if counts.get("clear", 0) == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
