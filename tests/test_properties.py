"""Hard to misuse: property-based tests of argument validation (issue #7, item 3).

Every property runs both ways. Hypothesis draws values from a wide pool (numbers of every
kind including NaN, inf, bools and NumPy scalars, strings, None, containers); each value is
classified as valid or invalid by the range the docstring documents, and then:

* a valid value must construct (or run) without error;
* an invalid value must raise `ValueError` or `TypeError` whose message names the argument,
  never an error from deep inside TensorFlow/NumPy and never silent acceptance.

Constructing a layer is cheap, so constructor properties build objects only; the call-time
rank checks use a handful of explicit cases.
"""

import math
import numbers

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regkeras as rk

# Function-scoped autouse fixture (conftest's seeding) is fine here: it only resets Keras.
FAST = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOWER = settings(max_examples=12, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------------------------------------
# The pool of argument values and the documented ranges
# ---------------------------------------------------------------------------------------------

numbers_ = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-0.5, max_value=1.5),
    st.sampled_from([0.0, 1.0, 0.999, -0.0, 1e-12, float("nan"), float("inf"), -float("inf")]),
    st.integers(min_value=-10, max_value=100),
    st.sampled_from([0, 1, 2, -1]),
    st.builds(np.float32, st.floats(min_value=-1, max_value=2, width=32)),
    st.builds(np.int64, st.integers(min_value=-3, max_value=50)),
)
junk = st.one_of(
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.sampled_from([[0.5], (1,), {"a": 1}, b"x", 1j, object()]),
)
anything = st.one_of(numbers_, junk)


def _real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _integral(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_rate(x):
    """A float in [0, 1): dropout-like rates."""
    return _real(x) and 0.0 <= x < 1.0


def is_positive_int(x):
    return _integral(x) and x > 0


def is_non_negative_int(x):
    return _integral(x) and x >= 0


def is_finite_non_negative(x):
    return _real(x) and math.isfinite(x) and x >= 0


def is_finite_positive(x):
    return _real(x) and math.isfinite(x) and x > 0


def is_bool(x):
    return isinstance(x, bool)


def is_seed(x):
    """None or an integer in [0, 2**32 - 1] (NumPy's and therefore Keras' seeding range)."""
    return x is None or (_integral(x) and 0 <= x <= 2**32 - 1)


def rule_exception(value, kind):
    """The one exception rule of `regkeras.validation` for an invalid `value`: TypeError when
    it is not of the argument's type, ValueError when it is but is not allowed."""
    right_type = {"number": _real, "integer": _integral, "bool": lambda x: isinstance(x, bool),
                  "seed": lambda x: x is None or _integral(x)}[kind](value)
    return ValueError if right_type else TypeError


def check(build, valid, name, *, value=None, kind=None):
    """`build()` succeeds when `valid`, else raises ValueError/TypeError naming `name`.

    With `kind` ("number", "integer", "bool" or "seed"), the exception must also follow the
    one rule (`rule_exception`) and the one message style.
    """
    if valid:
        return build()
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    message = str(info.value)
    assert name in message, f"the error does not name `{name}`: {message}"
    if kind is not None:
        assert type(info.value) is rule_exception(value, kind), (value, message)
        assert message.startswith(f"`{name}` must be ") and f"Received: {name}=" in message, (
            message)
    return None


# ---------------------------------------------------------------------------------------------
# Layers: dropout, regularizers, recurrent, normalization
# ---------------------------------------------------------------------------------------------


@FAST
@given(rate=anything)
def test_locked_dropout_rate(rate):
    layer = check(lambda: rk.LockedDropout(rate), is_rate(rate), "rate", value=rate,
                  kind="number")
    if layer is not None:
        assert layer.rate == float(rate) and isinstance(layer.get_config()["rate"], float)


@FAST
@given(input_dim=anything, output_dim=st.one_of(st.just(3), anything), rate=anything)
def test_embedding_dropout_arguments(input_dim, output_dim, rate):
    problems = [name for name, ok in (("input_dim", is_positive_int(input_dim)),
                                      ("output_dim", is_positive_int(output_dim)),
                                      ("rate", is_rate(rate))) if not ok]
    build = lambda: rk.EmbeddingDropout(input_dim, output_dim, rate=rate)  # noqa: E731
    if not problems:
        layer = build()
        assert (layer.input_dim, layer.output_dim) == (int(input_dim), int(output_dim))
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{name}`" in str(info.value) for name in problems), str(info.value)


@FAST
@given(seed=anything, mask_zero=anything, reverse_dtype=st.one_of(
    st.none(), st.sampled_from(["float32", "float16", "bfloat16", "int32", "bogus", 5])))
def test_embedding_dropout_flags(seed, mask_zero, reverse_dtype):
    layer_ok = {"seed": is_seed(seed), "mask_zero": is_bool(mask_zero),
                "reverse_dtype": reverse_dtype in (None, "float32", "float16", "bfloat16")}
    build = lambda: rk.EmbeddingDropout(5, 3, seed=seed, mask_zero=mask_zero,  # noqa: E731
                                        reverse_dtype=reverse_dtype)
    if all(layer_ok.values()):
        build()
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    bad = [name for name, ok in layer_ok.items() if not ok]
    assert any(f"`{name}`" in str(info.value) for name in bad), str(info.value)


@FAST
@given(ar=anything, tar=st.one_of(st.just(0.0), anything))
def test_activation_regularization_coefficients(ar, tar):
    bad = [n for n, v in (("ar", ar), ("tar", tar)) if not is_finite_non_negative(v)]
    build = lambda: rk.ActivationRegularization(ar=ar, tar=tar)  # noqa: E731
    if not bad:
        layer = build()
        assert layer.get_config()["ar"] == float(ar)
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) for n in bad), str(info.value)


LSTM_LAYERS = {
    "ProjectedLSTM": (rk.ProjectedLSTM, {}),
    "WeightDropLSTM": (rk.WeightDropLSTM, {"weight_dropout": is_rate}),
    "ZoneoutLSTM": (rk.ZoneoutLSTM, {"zoneout_c": is_rate, "zoneout_h": is_rate}),
    "ZoneoutLSTMCell": (rk.ZoneoutLSTMCell, {"zoneout_c": is_rate, "zoneout_h": is_rate}),
    "LayerNormLSTM": (rk.LayerNormLSTM, {"norm_epsilon": is_finite_positive}),
    "LayerNormLSTMCell": (rk.LayerNormLSTMCell, {"norm_epsilon": is_finite_positive}),
    "ProjectedLSTMCell": (rk.ProjectedLSTMCell, {}),
}
COMMON_LSTM_ARGS = {"dropout": is_rate, "recurrent_dropout": is_rate}


@FAST
@given(kind=st.sampled_from(sorted(LSTM_LAYERS)), units=anything)
def test_lstm_units(kind, units):
    cls, _ = LSTM_LAYERS[kind]
    layer = check(lambda: cls(units), is_positive_int(units), "units", value=units,
                  kind="integer")
    if layer is not None:
        assert layer.units == int(units)


@settings(FAST, max_examples=60)
@given(kind=st.sampled_from(sorted(LSTM_LAYERS)), data=st.data())
def test_lstm_rates_and_options(kind, data):
    cls, own = LSTM_LAYERS[kind]
    rules = {**COMMON_LSTM_ARGS, **own}
    name = data.draw(st.sampled_from(sorted(rules)), label="argument")
    value = data.draw(anything, label="value")
    layer = check(lambda: cls(4, **{name: value}), rules[name](value), name, value=value,
                  kind="number")
    if layer is not None:
        cell = getattr(layer, "cell", layer)
        held = getattr(layer, name, getattr(cell, name, None))
        assert held == float(value)


@FAST
@given(kind=st.sampled_from(["ProjectedLSTM", "WeightDropLSTM", "ZoneoutLSTM", "LayerNormLSTM"]),
       data=st.data())
def test_lstm_layer_flags(kind, data):
    cls, _ = LSTM_LAYERS[kind]
    name = data.draw(st.sampled_from(["return_sequences", "return_state", "go_backwards",
                                      "stateful", "unroll", "use_bias", "unit_forget_bias"]))
    value = data.draw(st.one_of(st.booleans(), anything))
    check(lambda: cls(4, **{name: value}), is_bool(value), name, value=value, kind="bool")


@FAST
@given(seed=anything)
def test_lstm_seed(seed):
    check(lambda: rk.WeightDropLSTM(4, seed=seed), is_seed(seed), "seed", value=seed,
          kind="seed")


@FAST
@given(units=anything, epsilon=st.one_of(st.just(1e-3), anything),
       return_sequences=st.one_of(st.just(True), anything))
def test_lstm_with_output_norm(units, epsilon, return_sequences):
    rules = {"units": is_positive_int(units), "epsilon": is_finite_positive(epsilon),
             "return_sequences": is_bool(return_sequences)}
    build = lambda: rk.lstm_with_output_norm(  # noqa: E731
        units, epsilon=epsilon, return_sequences=return_sequences)
    if all(rules.values()):
        assert isinstance(build(), keras.Sequential)
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) for n, ok in rules.items() if not ok)


def test_lstm_with_output_norm_bad_class_and_state():
    with pytest.raises(TypeError, match="lstm_class"):
        rk.lstm_with_output_norm(4, lstm_class="LSTM")
    with pytest.raises(ValueError, match="return_state"):
        rk.lstm_with_output_norm(4, return_state=True)
    with pytest.raises(TypeError, match="name"):
        rk.lstm_with_output_norm(4, name=5)


# The brief's named examples, spelled out (hypothesis may or may not draw each one).
NAMED_BAD_RATES_CASES = [1.0, float("nan"), -0.1, float("inf"), True, "0.5", None]


def test_named_bad_rates():
    for case in NAMED_BAD_RATES_CASES:
        _test_named_bad_rates(case)


def _test_named_bad_rates(value):
    for build in (lambda: rk.LockedDropout(value),
                  lambda: rk.EmbeddingDropout(4, 2, rate=value),
                  lambda: rk.WeightDropLSTM(4, weight_dropout=value),
                  lambda: rk.ZoneoutLSTMCell(4, zoneout_c=value),
                  lambda: rk.LayerNormLSTM(4, dropout=value)):
        with pytest.raises((ValueError, TypeError), match="must be a float in"):
            build()


NAMED_BAD_UNITS_CASES = [0, -3, 2.5, True, "4", None, np.float64(4.0)]


def test_named_bad_units():
    for case in NAMED_BAD_UNITS_CASES:
        _test_named_bad_units(case)


def _test_named_bad_units(value):
    exception = rule_exception(value, "integer")
    for build in (lambda: rk.ProjectedLSTM(value), lambda: rk.ZoneoutLSTM(value),
                  lambda: rk.LayerNormLSTMCell(value), lambda: rk.lstm_with_output_norm(value)):
        with pytest.raises(exception, match="`units` must be a positive integer") as info:
            build()
        assert type(info.value) is exception


# --- wrong input rank at call time: a clear ValueError before any TensorFlow kernel runs.

WRONG_INPUT_RANK_IS_A_CLEAR_ERROR_CASES = [
    (lambda: rk.LockedDropout(0.5), (2, 3)),
    (lambda: rk.LockedDropout(0.5), (2, 3, 4, 5)),
    (lambda: rk.ActivationRegularization(ar=1.0), (2, 3)),
    (lambda: rk.ProjectedLSTM(4), (2, 3)),
    (lambda: rk.WeightDropLSTM(4), (2, 3, 4, 5)),
    (lambda: rk.ZoneoutLSTM(4), (3,)),
    (lambda: rk.LayerNormLSTM(4), (2, 3)),
]


def test_wrong_input_rank_is_a_clear_error():
    for case in WRONG_INPUT_RANK_IS_A_CLEAR_ERROR_CASES:
        _test_wrong_input_rank_is_a_clear_error(*case)


def _test_wrong_input_rank_is_a_clear_error(layer_fn, shape):
    layer = layer_fn()
    with pytest.raises(ValueError, match=r"(?i)rank|ndim"):
        layer(np.ones(shape, dtype="float32"))


def test_embedding_reverse_width_and_metric_rank_errors():
    emb = rk.EmbeddingDropout(6, 4)
    emb(np.array([[1, 2]]))
    with pytest.raises(ValueError, match="output_dim=4"):
        emb(np.ones((1, 2, 5), dtype="float32"), reverse=True)
    metric = rk.Perplexity()
    with pytest.raises(ValueError, match="y_pred"):
        metric.update_state(np.zeros((2, 3), "int32"), np.zeros((2, 3), "float32"))


# ---------------------------------------------------------------------------------------------
# build_language_model: each switch and the invalid combinations
# ---------------------------------------------------------------------------------------------

SWITCHES = {
    "vocab_size": is_positive_int,
    "embedding_dim": is_positive_int,
    "units": lambda x: is_positive_int(x) or (  # one int, or one per layer (num_layers=1)
        isinstance(x, (list, tuple)) and len(x) == 1 and is_positive_int(x[0])),
    "num_layers": is_positive_int,
    "dropout": is_rate,
    "input_dropout": is_rate,
    "hidden_dropout": is_rate,
    "output_dropout": is_rate,
    "recurrent_dropout": is_rate,
    "weight_dropout": is_rate,
    "embedding_dropout": is_rate,
    "zoneout_c": is_rate,
    "zoneout_h": is_rate,
    "ar": is_finite_non_negative,
    "tar": is_finite_non_negative,
    "l2": is_finite_non_negative,
    "variational": is_bool,
    "tie_weights": is_bool,
    "stateful": is_bool,
    "mask_zero": is_bool,
    "batch_size": is_positive_int,
    "seq_len": is_positive_int,
    "seed": is_seed,
}
TINY = {"vocab_size": 7, "embedding_dim": 4, "units": 4, "num_layers": 1}


def _build(**changes):
    kwargs = {**TINY, **changes}
    return rk.build_language_model(kwargs.pop("vocab_size"), **kwargs)


@SLOWER
@given(data=st.data())
def test_build_language_model_numeric_switches(data):
    name = data.draw(st.sampled_from(sorted(SWITCHES)), label="switch")
    value = data.draw(anything, label="value")
    valid = SWITCHES[name](value)
    if name == "tie_weights" and value is True:
        changes = {"tie_weights": True}  # units == embedding_dim in TINY: allowed
    elif name == "stateful" and value is True:
        changes = {"stateful": True, "batch_size": 2}
    elif name in ("seq_len", "batch_size", "seed") and value is None:
        valid, changes = True, {name: None}  # documented default
    elif name in ("input_dropout", "hidden_dropout", "output_dropout") and value is None:
        valid, changes = True, {name: None}
    elif name == "num_layers" and value is None:
        valid, changes = True, {name: None}
    else:
        changes = {name: value}
    if valid and isinstance(value, (int, np.integer)) and not isinstance(value, bool) and (
            name in ("vocab_size", "embedding_dim", "units", "num_layers", "batch_size",
                     "seq_len")):
        changes[name] = min(int(value), 6)  # keep the valid models tiny
    model = check(lambda: _build(**changes), valid, name)
    if model is not None:
        assert model.output_shape[-1] == changes.get("vocab_size", TINY["vocab_size"])


BUILD_LANGUAGE_MODEL_BAD_CHOICES_CASES = [
    ("cell", "transformer"), ("cell", 3), ("layer_norm", "Cell"), ("layer_norm", "batch"),
    ("layer_norm", 1), ("output", "softmax"), ("output", None), ("name", ""), ("name", "a/b"),
    ("name", 5), ("zoneout_c", (0.1,)), ("zoneout_h", 1.0), ("units", []),
    ("units", [4, 0]), ("units", np.array([4, 4])),
]


def test_build_language_model_bad_choices():
    for case in BUILD_LANGUAGE_MODEL_BAD_CHOICES_CASES:
        _test_build_language_model_bad_choices(*case)


def _test_build_language_model_bad_choices(name, value):
    with pytest.raises((ValueError, TypeError), match=f"`{name}`"):
        _build(**{name: value})


BUILD_LANGUAGE_MODEL_INVALID_COMBINATIONS_CASES = [
    ({"cell": "gru", "weight_dropout": 0.5}, ["weight_dropout", "cell"]),
    ({"cell": "rnn", "layer_norm": "cell"}, ["layer_norm", "cell"]),
    ({"cell": "gru", "zoneout_c": 0.1}, ["zoneout_c", "cell"]),
    ({"stateful": True}, ["stateful", "batch_size"]),
    ({"tie_weights": True, "units": 8}, ["tie_weights", "embedding_dim"]),
    ({"units": [4, 4], "num_layers": 3}, ["num_layers", "units"]),
]


def test_build_language_model_invalid_combinations():
    for case in BUILD_LANGUAGE_MODEL_INVALID_COMBINATIONS_CASES:
        _test_build_language_model_invalid_combinations(*case)


def _test_build_language_model_invalid_combinations(changes, names):
    with pytest.raises(ValueError) as info:
        _build(**changes)
    for name in names:
        assert name in str(info.value)


BUILD_LANGUAGE_MODEL_VALID_COMBINATIONS_CASES = [
    {"cell": "GRU"}, {"layer_norm": "output", "weight_dropout": 0.3}, {"layer_norm": False},
    {"zoneout_c": 0.5, "zoneout_h": 0.0}, {"units": [4, 4], "num_layers": None}, {"tie_weights": True, "embedding_dropout": 0.1},
    {"stateful": True, "batch_size": 2, "seq_len": 3}, {"output": "probabilities"},
    {"dropout": np.float32(0.25), "variational": True},
]


def test_build_language_model_valid_combinations():
    for case in BUILD_LANGUAGE_MODEL_VALID_COMBINATIONS_CASES:
        _test_build_language_model_valid_combinations(case)


def _test_build_language_model_valid_combinations(changes):
    model = _build(**changes)
    assert model.output_shape[-1] == TINY["vocab_size"]


# ---------------------------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------------------------


@FAST
@given(learning_rate=st.one_of(st.just(1e-3), anything),
       weight_decay=st.one_of(st.just(0.0), anything),
       clipnorm=st.one_of(st.none(), anything))
def test_make_adamw_arguments(learning_rate, weight_decay, clipnorm):
    rules = {"learning_rate": is_finite_positive(learning_rate),
             "weight_decay": is_finite_non_negative(weight_decay),
             "clipnorm": clipnorm is None or is_finite_positive(clipnorm)}
    build = lambda: rk.make_adamw(learning_rate, weight_decay,  # noqa: E731
                                  clipnorm=clipnorm)
    if all(rules.values()):
        opt = build()
        assert float(opt.weight_decay) == pytest.approx(float(weight_decay))
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) for n, ok in rules.items() if not ok)


def test_make_adamw_schedule_and_bad_exclude():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)
    assert isinstance(rk.make_adamw(schedule), keras.optimizers.AdamW)
    for exclude in ("bias", 5, [1], [""]):
        with pytest.raises(TypeError, match="exclude"):
            rk.make_adamw(exclude=exclude)
    with pytest.raises(TypeError, match="exclude_embeddings"):
        rk.make_adamw(exclude_embeddings="yes")
    with pytest.raises(TypeError, match="model"):
        rk.make_adamw(model="model")


@FAST
@given(l2=anything)
def test_add_l2_regularization_coefficient(l2):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    chosen = check(lambda: rk.add_l2_regularization(model, l2), is_finite_non_negative(l2),
                   "l2")
    if chosen is not None:
        assert chosen == ([model.layers[0].kernel.path] if l2 > 0 else [])
        check(lambda: rk.l2_to_weight_decay(l2), True, "l2")
    else:
        check(lambda: rk.l2_to_weight_decay(l2), False, "l2")


def test_add_l2_regularization_needs_a_model():
    for bad in (None, "model", [1, 2]):
        with pytest.raises(TypeError, match="model"):
            rk.add_l2_regularization(bad, 1e-4)


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------


@FAST
@given(data=st.data())
def test_early_stopping_arguments(data):
    rules = {"patience": is_non_negative_int, "min_delta": is_finite_non_negative,
             "start_from_epoch": is_non_negative_int, "verbose": is_non_negative_int,
             "baseline": lambda x: x is None or (_real(x) and math.isfinite(x)),
             "restore_best_weights": is_bool, "monitor": lambda x: isinstance(x, str) and x != "",
             "mode": lambda x: x in ("auto", "min", "max")}
    name = data.draw(st.sampled_from(sorted(rules)), label="argument")
    value = data.draw(st.one_of(anything, st.sampled_from(["auto", "min", "max", "val_loss"])),
                      label="value")
    check(lambda: rk.BestWeightsEarlyStopping(**{name: value}), rules[name](value), name)


@FAST
@given(filepath=st.one_of(st.sampled_from(["best.keras", "w.weights.h5", "best.h5", "best",
                                           "x.keras.txt"]), anything),
       verbose=st.one_of(st.just(0), anything))
def test_best_model_checkpoint_arguments(filepath, verbose):
    rules = {"filepath": isinstance(filepath, str) and (
        filepath.endswith(".keras") or filepath.endswith(".weights.h5")),
        "verbose": is_non_negative_int(verbose)}
    build = lambda: rk.BestModelCheckpoint(filepath, verbose=verbose)  # noqa: E731
    if all(rules.values()):
        build()
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) for n, ok in rules.items() if not ok)


@FAST
@given(save_freq=st.one_of(st.just("epoch"), anything),
       delete_checkpoint=st.one_of(st.just(True), anything))
def test_backup_and_restore_arguments(tmp_path_factory, save_freq, delete_checkpoint):
    rules = {"save_freq": save_freq == "epoch" or is_positive_int(save_freq),
             "delete_checkpoint": is_bool(delete_checkpoint)}
    folder = str(tmp_path_factory.mktemp("backup"))
    build = lambda: rk.ResumableBackupAndRestore(  # noqa: E731
        folder, save_freq=save_freq, delete_checkpoint=delete_checkpoint)
    if all(rules.values()):
        build()
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) for n, ok in rules.items() if not ok)


def test_backup_and_restore_bad_paths_and_callbacks(tmp_path):
    for bad in ("", None, 5):
        with pytest.raises((ValueError, TypeError), match="backup_dir"):
            rk.ResumableBackupAndRestore(bad)
    for bad in (5, rk.BestWeightsEarlyStopping(), [object()]):
        with pytest.raises(TypeError, match="state_callbacks"):
            rk.ResumableBackupAndRestore(str(tmp_path), state_callbacks=bad)


@FAST
@given(data=st.data())
def test_training_monitor_and_training_callbacks(data):
    name = data.draw(st.sampled_from(["monitor", "png_path", "live", "add_to_logs", "title"]))
    value = data.draw(st.one_of(anything, st.just("x.png")))
    rules = {"monitor": lambda x: isinstance(x, str) and x != "",
             "png_path": lambda x: x is None or isinstance(x, str),
             "live": is_bool, "add_to_logs": is_bool,
             "title": lambda x: x is None or isinstance(x, str)}
    check(lambda: rk.TrainingMonitor(**{name: value}), rules[name](value), name)


@FAST
@given(data=st.data())
def test_training_callbacks_arguments(data):
    rules = {"patience": lambda x: x is None or is_non_negative_int(x),
             "min_delta": is_finite_non_negative, "start_from_epoch": is_non_negative_int,
             "terminate_on_nan": is_bool, "verbose": is_non_negative_int,
             "monitor": lambda x: isinstance(x, str) and x != "",
             "training_monitor": is_bool}
    name = data.draw(st.sampled_from(sorted(rules)), label="argument")
    value = data.draw(anything, label="value")
    result = check(lambda: rk.training_callbacks(**{name: value}), rules[name](value), name)
    if result is not None:
        assert all(isinstance(cb, keras.callbacks.Callback) for cb in result)


def test_training_callbacks_options_that_would_be_ignored():
    with pytest.raises(ValueError, match="png_path"):
        rk.training_callbacks(training_monitor=False, png_path="curves.png")
    with pytest.raises(ValueError, match="training_monitor"):
        rk.training_callbacks(training_monitor=rk.TrainingMonitor(), live=True)
    with pytest.raises(ValueError, match="`filepath`"):
        rk.training_callbacks(checkpoint_path="best.txt")
    with pytest.raises(ValueError, match="backup_dir"):
        rk.training_callbacks(backup_dir="")


# ---------------------------------------------------------------------------------------------
# Text pipeline: vocabularies, splits, datasets, corpora
# ---------------------------------------------------------------------------------------------

levels = st.one_of(st.sampled_from(["char", "word", "CHAR", "Word", "chars", ""]), junk)


@FAST
@given(level=levels)
def test_level_strings(level):
    valid = level in ("char", "word")
    check(lambda: rk.Vocabulary(["a", "b"], level=level), valid, "level")
    check(lambda: rk.build_vocabulary("a b a", level=level), valid, "level")
    check(lambda: rk.tokenize("a b", level=level), valid, "level")


@FAST
@given(max_size=st.one_of(st.none(), anything), min_count=st.one_of(st.just(1), anything))
def test_build_vocabulary_sizes(max_size, min_count):
    text = "aab"  # counts: a 2, b 1
    rules = {"max_size": max_size is None or (is_positive_int(max_size) and max_size >= 2),
             "min_count": is_positive_int(min_count)}
    build = lambda: rk.build_vocabulary(text, max_size=max_size, min_count=min_count)  # noqa
    if all(rules.values()):
        vocab = build()  # a min_count above every count leaves only <unk> (test_data agrees)
        kept = [t for t, c in (("a", 2), ("b", 1)) if c >= min_count]
        assert vocab.size == 1 + min(len(kept), (max_size or 3) - 1)
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) or n in str(info.value)
               for n, ok in rules.items() if not ok)


BUILD_VOCABULARY_BAD_TEXT_CASES = [
    (5, "text"), (b"abc", "text"), ("", "empty"), ([], "no tokens"), (["a", 1], "tokens"),
    (["a", ["b"]], "tokens"), (["a", ""], "tokens"), ("  \t ", None),
]


def test_build_vocabulary_bad_text():
    for case in BUILD_VOCABULARY_BAD_TEXT_CASES:
        _test_build_vocabulary_bad_text(*case)


def _test_build_vocabulary_bad_text(text, match):
    if match is None:  # whitespace is text at character level
        assert rk.build_vocabulary(text).tokens == ["<unk>", "\t", " "]
        with pytest.raises(ValueError, match="no tokens"):
            rk.build_vocabulary(text, level="word")
        return
    with pytest.raises((ValueError, TypeError), match=match):
        rk.build_vocabulary(text, level="word" if isinstance(text, list) else "char")


def test_vocabulary_bad_tokens():
    for tokens, match in ((5, "tokens"), ("abc", "tokens"), (["a", "a"], "unique"),
                          (["ab"], "single characters"), ([1], "tokens")):
        with pytest.raises((ValueError, TypeError), match=match):
            rk.Vocabulary(tokens)
    with pytest.raises(ValueError, match="whitespace"):
        rk.Vocabulary(["a b"], level="word")
    for name, value, exception in (("unk_token", "", ValueError), ("unk_token", 5, TypeError),
                                   ("eos_token", "", ValueError), ("eos_token", 5, TypeError)):
        with pytest.raises(exception, match=name) as info:
            rk.Vocabulary(["a"], **{name: value})
        assert type(info.value) is exception


fraction = st.one_of(st.floats(min_value=-0.2, max_value=1.2), st.sampled_from(
    [0.0, 0.1, 0.8, 1.0, float("nan"), float("inf")]), st.integers(-1, 2))


@FAST
@given(fractions=st.one_of(st.tuples(fraction, fraction, fraction),
                           st.lists(fraction, min_size=0, max_size=4), junk),
       n=st.integers(min_value=0, max_value=40))
def test_split_text_fractions(fractions, n):
    seq = "x" * n
    ok_shape = isinstance(fractions, (tuple, list)) and len(fractions) == 3
    ok_values = ok_shape and all(
        _real(f) and math.isfinite(f) and f >= 0 for f in fractions)
    ok_sum = ok_values and abs(math.fsum(float(f) for f in fractions) - 1.0) <= 1e-6 and (
        fractions[0] > 0)
    if not ok_sum:
        with pytest.raises((ValueError, TypeError)) as info:
            rk.split_text(seq, fractions)
        assert "fraction" in str(info.value)
        return
    try:
        parts = rk.split_text(seq, fractions)
    except ValueError as err:  # too short for a non-empty part: a clear message
        assert n == 0 or "too short" in str(err), str(err)
        return
    assert "".join(parts) == seq
    for part, f in zip(parts, fractions):
        assert (len(part) > 0) == (f > 0)


def test_split_text_bad_sequences():
    for seq in (5, None, {"a": 1}, {1, 2}):
        with pytest.raises(TypeError, match="seq"):
            rk.split_text(seq)
    with pytest.raises(ValueError, match="1-D"):
        rk.split_text(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="empty"):
        rk.split_text("")
    assert rk.split_text("abcdefghij", np.array([0.8, 0.1, 0.1])) == ("abcdefgh", "i", "j")


@FAST
@given(n=st.integers(min_value=0, max_value=30), seq_len=anything,
       batch_size=st.one_of(st.integers(min_value=-2, max_value=12), anything))
def test_window_dataset_sizes(n, seq_len, batch_size):
    ids = np.arange(n, dtype="int32") % 5
    ok_len = is_positive_int(seq_len)
    ok_batch = is_positive_int(batch_size)
    if not (ok_len and ok_batch):
        bad = [name for name, ok in (("seq_len", ok_len), ("batch_size", ok_batch)) if not ok]
        with pytest.raises((ValueError, TypeError)) as info:
            rk.window_dataset(ids, seq_len, batch_size)
        message = str(info.value)
        assert any(f"`{name}`" in message for name in bad) or "ids" in message, message
        return
    windows = (n - seq_len - 1) // seq_len + 1 if n >= seq_len + 1 else 0
    if n == 0 or windows < batch_size:
        with pytest.raises(ValueError) as info:
            rk.window_dataset(ids, seq_len, batch_size)
        assert any(word in str(info.value) for word in ("seq_len", "batch_size", "empty"))
        return
    ds = rk.window_dataset(ids, seq_len, batch_size, shuffle=False)
    assert ds.element_spec[0].shape.as_list() == [batch_size, seq_len]


@FAST
@given(n=st.integers(min_value=0, max_value=30), seq_len=anything,
       batch_size=st.one_of(st.integers(min_value=-2, max_value=12), anything))
def test_bptt_dataset_sizes(n, seq_len, batch_size):
    ids = np.arange(n, dtype="int32") % 5
    ok_len = is_positive_int(seq_len)
    ok_batch = is_positive_int(batch_size)
    if not (ok_len and ok_batch):
        bad = [name for name, ok in (("seq_len", ok_len), ("batch_size", ok_batch)) if not ok]
        with pytest.raises((ValueError, TypeError)) as info:
            rk.bptt_dataset(ids, seq_len, batch_size)
        message = str(info.value)
        assert any(f"`{name}`" in message for name in bad) or "ids" in message, message
        return
    per_stream = n // batch_size
    if n == 0 or per_stream < seq_len + 1:
        with pytest.raises(ValueError) as info:
            rk.bptt_dataset(ids, seq_len, batch_size)
        assert "seq_len" in str(info.value) or "empty" in str(info.value)
        return
    ds = rk.bptt_dataset(ids, seq_len, batch_size)
    assert len(list(ds)) == (per_stream - 1) // seq_len


WINDOW_AND_BPTT_BAD_IDS_CASES = [
    ("abc", "ids"), (np.arange(10.0), "ids"), ([], "empty"), (np.zeros((3, 4), int), "1-D"),
    ([-1, 2, 3, 4], "non-negative"), ([[1], [2, 3]], "ids"), ([True, False] * 5, "ids"),
]


def test_window_and_bptt_bad_ids():
    for case in WINDOW_AND_BPTT_BAD_IDS_CASES:
        _test_window_and_bptt_bad_ids(*case)


def _test_window_and_bptt_bad_ids(ids, match):
    for make in (lambda: rk.window_dataset(ids, 2, 1), lambda: rk.bptt_dataset(ids, 2, 1)):
        with pytest.raises((ValueError, TypeError), match=match):
            make()


def test_window_dataset_flags():
    ids = np.arange(20)
    for name in ("shuffle", "drop_remainder"):
        for value in ("yes", 1, None):
            with pytest.raises(TypeError, match=name):
                rk.window_dataset(ids, 4, 2, **{name: value})
    for name, value in (("stride", 0), ("stride", 1.5), ("seed", 1.5), ("seed", "1")):
        with pytest.raises((ValueError, TypeError), match=name):
            rk.window_dataset(ids, 4, 2, **{name: value})


@FAST
@given(num_words=st.one_of(st.none(), anything), seed=st.one_of(st.none(), anything))
def test_load_corpus_recipes_arguments(num_words, seed):
    rules = {"num_words": num_words is None or (is_positive_int(num_words)),
             "seed": seed is None or is_non_negative_int(seed)}
    if rules["num_words"] and num_words is not None:
        num_words = min(int(num_words), 60) + 20  # long enough for three non-empty splits
    build = lambda: rk.load_corpus("recipes", num_words=num_words, seed=seed)  # noqa: E731
    if all(rules.values()):
        if num_words is None:
            return  # the default 30,000 words are slow to sample per example
        corpus = build()
        assert corpus.vocab_size >= 2 and corpus.entropy_rate > 0
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) for n, ok in rules.items() if not ok)


LOAD_CORPUS_BAD_ARGUMENTS_CASES = [
    ({"name": 5}, TypeError, "name"),
    ({"name": ""}, ValueError, "name"),
    ({"name": None}, TypeError, "name"),
    ({"name": "no_such_corpus"}, ValueError, "Unknown dataset"),
    ({"name": "missing/file.txt"}, FileNotFoundError, "No such file"),
    ({"name": "recipes", "level": "chars"}, ValueError, "level"),
    ({"name": "recipes", "fractions": (0.5, 0.2, 0.2)}, ValueError, "fractions"),
    ({"name": "recipes", "max_vocab": 0}, ValueError, "max_vocab"),
    ({"name": "recipes", "min_count": 0}, ValueError, "min_count"),
    ({"name": "recipes", "bogus": 1}, TypeError, "bogus"),
    ({"name": "tiny_shakespeare", "num_words": 10}, ValueError, "num_words"),
    ({"name": "tiny_shakespeare", "data_dir": 5}, TypeError, "data_dir"),
    ({"name": "tiny_shakespeare", "download": "no"}, TypeError, "download"),
    ({"name": "tiny_shakespeare", "verify": 0}, TypeError, "verify"),
    ({"name": "ptb", "fractions": (0.8, 0.1, 0.1)}, ValueError, "fractions"),
]


def test_load_corpus_bad_arguments():
    for case in LOAD_CORPUS_BAD_ARGUMENTS_CASES:
        _test_load_corpus_bad_arguments(*case)


def _test_load_corpus_bad_arguments(kwargs, error, match):
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    if "num_words" not in kwargs and name == "recipes":
        kwargs["num_words"] = 300
    with pytest.raises(error, match=match):
        rk.load_corpus(name, **kwargs)


@FAST
@given(seed=anything, num_words=st.one_of(st.integers(min_value=-2, max_value=30), anything))
def test_recipe_chain_arguments(seed, num_words):
    ok_seed = is_non_negative_int(seed)
    chain = check(lambda: rk.RecipeChain(seed), ok_seed, "seed")
    chain = chain or rk.RecipeChain(0)
    text = check(lambda: chain.sample(num_words), is_positive_int(num_words), "num_words")
    if text is not None:
        assert len(text.split(" ")) == num_words
        assert math.isfinite(chain.log_prob(text))
    check(lambda: rk.recipes(num_words, seed=seed),
          is_positive_int(num_words) and ok_seed, "num_words" if ok_seed else "seed")


def test_recipe_chain_log_prob_bad_text():
    chain = rk.RecipeChain(0)
    with pytest.raises(TypeError, match="text"):
        chain.log_prob(5)
    for text in ("", "boil  water", "not a recipe word"):
        with pytest.raises(ValueError, match="recipe chain"):
            chain.log_prob(text)
    with pytest.raises(ValueError, match="start"):
        chain.sample_ids(3, start="zzz")


# ---------------------------------------------------------------------------------------------
# Metrics, generation, diagnosis, experiments
# ---------------------------------------------------------------------------------------------


@FAST
@given(loss=st.one_of(anything, st.lists(st.floats(allow_nan=True), max_size=4),
                      st.sampled_from([[[1.0], [2.0, 3.0]], [1.0, "a"], [[0.5, 1.0]]])))
def test_perplexity_and_bits_per_char(loss):
    try:
        array = np.asarray(loss, dtype=float)
        numeric = not isinstance(loss, (bool, str, bytes)) and not (
            isinstance(loss, list) and any(isinstance(v, bool) for v in loss))
    except (TypeError, ValueError):
        numeric = False
    valid = numeric and loss is not None and not np.any(array < 0)
    if isinstance(loss, complex):
        valid = False
    ppl = check(lambda: rk.perplexity(loss), valid, "loss_nats")
    bpc = check(lambda: rk.bits_per_char(loss), valid, "loss_nats")
    if valid:
        with np.errstate(over="ignore"):
            np.testing.assert_allclose(ppl, np.exp(array))
        np.testing.assert_allclose(bpc, array / math.log(2.0))


METRIC_CONSTRUCTORS_CASES = [
    ({"from_logits": 1}, "from_logits", TypeError), ({"ignore_class": 1.5}, "ignore_class", TypeError),
    ({"ignore_class": True}, "ignore_class", TypeError), ({"name": 5}, "name", TypeError),
    ({"name": ""}, "name", ValueError),
]


def test_metric_constructors():
    for case in METRIC_CONSTRUCTORS_CASES:
        _test_metric_constructors(*case)


def _test_metric_constructors(kwargs, match, exception):
    for cls in (rk.CrossEntropy, rk.Perplexity, rk.BitsPerCharacter):
        with pytest.raises(exception, match=match) as info:
            cls(**kwargs)
        assert type(info.value) is exception


@FAST
@given(temperature=st.one_of(st.just("greedy"), st.sampled_from(["hot", "GREEDY"]), anything),
       top_k=st.one_of(st.none(), anything), seed=st.one_of(st.none(), anything))
def test_sample_next_token_arguments(temperature, top_k, seed):
    rules = {"temperature": temperature == "greedy" or (
        _real(temperature) and math.isfinite(temperature) and temperature >= 0),
        "top_k": top_k is None or is_positive_int(top_k),
        "seed": seed is None or is_non_negative_int(seed)}
    logits = [0.5, 2.0, -1.0, 0.0]
    build = lambda: rk.sample_next_token(logits, temperature=temperature,  # noqa: E731
                                         top_k=top_k, seed=seed)
    if all(rules.values()):
        token = build()
        assert 0 <= token < len(logits)
        if temperature == "greedy" or temperature == 0 or top_k == 1:
            assert token == 1
        return
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert any(f"`{n}`" in str(info.value) for n, ok in rules.items() if not ok)


SAMPLE_NEXT_TOKEN_BAD_LOGITS_CASES = [
    ([], ValueError), ([[1.0, 2.0]], ValueError), (["a", "b"], TypeError),
    ([float("nan"), 1.0], ValueError), ([float("inf"), 1.0], ValueError),
    ([-float("inf")] * 3, ValueError), ([[1.0], [1.0, 2.0]], ValueError),
]


def test_sample_next_token_bad_logits():
    for case in SAMPLE_NEXT_TOKEN_BAD_LOGITS_CASES:
        _test_sample_next_token_bad_logits(*case)


def _test_sample_next_token_bad_logits(logits, error):
    with pytest.raises(error, match="logits"):
        rk.sample_next_token(logits)


@FAST
@given(temperature=st.floats(min_value=1e-300, max_value=1e-3) | st.just(5e-324))
def test_sample_next_token_tiny_temperature_is_greedy(temperature):
    # Dividing first would overflow to inf - inf = NaN; the result must be the argmax.
    logits = np.array([3.0, 7.5, -2.0, 7.4, -np.inf])
    assert rk.sample_next_token(logits, temperature=temperature, seed=0) == 1


@FAST
@given(data=st.data())
def test_diagnose_arguments(data):
    rules = {name: (lambda x: _real(x) and x > 0) for name in (
        "spike_tolerance", "overfit_tolerance", "stall_tolerance",
        "still_improving_tolerance", "floor_tolerance", "baseline_margin")}
    rules["baseline_loss"] = lambda x: x is None or is_finite_positive(x)
    rules["floor_loss"] = lambda x: x is None or is_finite_non_negative(x)
    rules["monitor"] = lambda x: isinstance(x, str) and x != ""
    name = data.draw(st.sampled_from(sorted(rules)), label="argument")
    value = data.draw(anything, label="value")
    history = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.6]}
    result = check(lambda: rk.diagnose(history, **{name: value}), rules[name](value), name)
    if result is not None:
        assert result.verdict in rk.ADVICE


DIAGNOSE_BAD_HISTORIES_CASES = [
    (5, TypeError, "History"), ({}, ValueError, "loss"), ({"loss": []}, ValueError, "loss"),
    ({"loss": ["a", 1.0]}, ValueError, "'loss'"), ({"loss": [None]}, ValueError, "'loss'"),
    ({"loss": [1.0], "val_loss": [object()]}, ValueError, "'val_loss'"),
]


def test_diagnose_bad_histories():
    for case in DIAGNOSE_BAD_HISTORIES_CASES:
        _test_diagnose_bad_histories(*case)


def _test_diagnose_bad_histories(history, error, match):
    with pytest.raises(error, match=match):
        rk.diagnose(history)


@FAST
@given(data=st.data())
def test_experiment_config_fields(data):
    rules = {"learning_rate": is_finite_positive, "weight_decay": is_finite_non_negative,
             "clipnorm": lambda x: x is None or is_finite_positive(x),
             "early_stopping": is_bool, "patience": is_non_negative_int,
             "name": lambda x: isinstance(x, str) and x != "" and "/" not in x,
             "model": lambda x: isinstance(x, dict) and all(
                 isinstance(k, str) and k.isidentifier() for k in x)}
    name = data.draw(st.sampled_from(sorted(rules)), label="field")
    value = data.draw(st.one_of(anything, st.sampled_from(
        ["a/b", "ok", {"dropout": 0.3}, {1: 2}, {"not valid": 1}])), label="value")
    fields = {"name": "cfg", name: value}
    config = check(lambda: rk.ExperimentConfig(**fields), rules[name](value), name)
    if config is not None:
        # replace() validates as well
        check(lambda: config.replace(learning_rate=-1.0), False, "learning_rate")


# ---------------------------------------------------------------------------------------------
# The fuzz list of issue #19: every public callable, every hostile value (tools/fuzz_api.py)
# ---------------------------------------------------------------------------------------------


def _load_fuzzer():
    import importlib.util
    import pathlib
    import sys

    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "fuzz_api.py"
    spec = importlib.util.spec_from_file_location("fuzz_api", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


FUZZER = _load_fuzzer()


@pytest.mark.parametrize("target", FUZZER.targets(), ids=lambda target: target.name)
def test_every_hostile_value_ends_in_a_clear_error(target, tmp_path):
    """Each argument of the target gets the hostile pool; every call must be `clear`: a
    ValueError/TypeError of the one rule, raised by regkeras, naming the argument (or a valid
    value accepted). `python tools/fuzz_api.py` prints the same table."""
    outcomes = FUZZER.run_target(target, FUZZER.Context(str(tmp_path)))
    assert any(o.case.expected is not None for o in outcomes), "nothing hostile was tried"
    bad = [f"{o.kind}: {o.case.argument}={o.case.label} -> {o.detail}" for o in outcomes
           if o.kind != "clear"]
    assert not bad, "\n".join(bad)


def test_the_fuzzer_reaches_the_whole_public_api():
    reached = {target.name.split(" ")[0].split("(")[0] for target in FUZZER.targets()}
    unexplained = sorted(set(FUZZER.public_callables()) - reached - set(FUZZER.NOT_FUZZED))
    assert not unexplained, f"public callables neither fuzzed nor listed in NOT_FUZZED: " \
                            f"{unexplained}"


def test_the_fuzzer_tells_the_outcomes_apart():
    """The classifier itself can fail a call: an obscure error, a silent acceptance, a clear
    message of the wrong class, and a message that does not name the argument."""
    from regkeras.validation import check_positive_int

    invalid = FUZZER.Case("units", "0", 0, ValueError)

    def obscure():
        return 1 // 0

    def not_named():
        raise ValueError("something went wrong")

    def wrong_class():
        raise TypeError("`units` must be a positive integer. Received: units=0")

    assert FUZZER.classify(invalid, obscure)[0] == "obscure"
    assert FUZZER.classify(invalid, lambda: None)[0] == "silent"
    assert FUZZER.classify(invalid, not_named)[0] == "obscure"
    assert FUZZER.classify(invalid, lambda: check_positive_int("units", 0))[0] == "clear"
    assert FUZZER.classify(invalid, lambda: check_positive_int("units", 1.5))[0] == (
        "wrong class")  # a TypeError where the rule gives a ValueError
    assert FUZZER.classify(invalid, wrong_class)[0] == "obscure"  # not raised by regkeras
    valid = FUZZER.Case("units", "3", 3, None)
    assert FUZZER.classify(valid, lambda: None)[0] == "clear"
    # An error from inside NumPy naming the argument by chance is not regkeras' own.
    assert FUZZER.classify(FUZZER.Case("a", "x", "x", ValueError),
                           lambda: np.zeros(2).reshape("a"))[0] == "obscure"


# The cases issue #19 names, one by one, with the exact exception each must end in.

ISSUE_19_TEXT = "abcdef fedcba " * 30


def _issue_19_cases():
    vocab = rk.Vocabulary(list("abcdef"))  # 7 ids
    model = rk.build_language_model(7, embedding_dim=4, units=4, dropout=0.2, seed=0)
    corpus = rk.corpus_from_text(ISSUE_19_TEXT)
    embedding = rk.EmbeddingDropout(7, 3, rate=0.5, seed=0)
    ids = np.arange(40) % 7
    return [
        ("a seed of 2**70 (run_experiment)", lambda: rk.run_experiment(
            "baseline", corpus, epochs=1, seed=2**70), ValueError, "seed"),
        ("a seed of 2**70 (recipes)", lambda: rk.recipes(10, seed=2**70), ValueError, "seed"),
        ("a seed of 2**70 (mc_dropout_predict)", lambda: rk.mc_dropout_predict(
            model, ids[:8].reshape(2, 4), num_samples=2, seed=2**70), ValueError, "seed"),
        ("a zero-length time axis (model)", lambda: model(np.zeros((2, 0), "int32")),
         ValueError, "inputs"),
        ("a zero-length time axis (mc_dropout_predict)", lambda: rk.mc_dropout_predict(
            model, np.zeros((2, 0), "int32"), num_samples=2), ValueError, "x"),
        ("an out-of-range id (EmbeddingDropout)", lambda: embedding(np.array([[1, 7]])),
         ValueError, "inputs"),
        ("a negative id (EmbeddingDropout, which accepted it)",
         lambda: embedding(np.array([[1, -1]])), ValueError, "inputs"),
        ("a negative id (model)", lambda: model(np.array([[1, -1]])), ValueError, "inputs"),
        ("an out-of-range id (generate_ids)", lambda: rk.generate_ids(model, [1, 7], 2),
         ValueError, "prompt_ids"),
        ("NaN labels in fit", lambda: _fit_with_labels(model, np.array(
            [[1.0, np.nan, 2.0]])), TypeError, "y"),
        ("float labels in fit", lambda: _fit_with_labels(model, np.array([[1.5, 2.0, 3.0]])),
         TypeError, "y"),
        ("NaN labels in a corpus", lambda: rk.Corpus(vocab, np.where(ids == 3, np.nan, ids),
                                                     ids, ids), TypeError, "train_ids"),
        ("Vocabulary([])", lambda: rk.Vocabulary([]), ValueError, "tokens"),
        ("an empty validation part", lambda: rk.corpus_from_text(
            ISSUE_19_TEXT, fractions=(0.9, 0.0, 0.1)), ValueError, "fractions"),
        ("an empty test part", lambda: rk.load_corpus(
            "recipes", num_words=300, fractions=(0.9, 0.1, 0.0)), ValueError, "fractions"),
        ("float token ids (mc_dropout_predict)", lambda: rk.mc_dropout_predict(
            model, np.full((2, 4), 1.7), num_samples=2), TypeError, "x"),
        ("float token ids (EmbeddingDropout)", lambda: embedding(np.array([[1.7, 2.0]])),
         ValueError, "inputs"),
        ("diagnose with 1 validation value against 3 training values", lambda: rk.diagnose(
            {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1]}), ValueError, "history"),
        ("seed_stats of a NaN", lambda: rk.seed_stats([1.0, float("nan")]), ValueError,
         "values"),
        ("an empty vocabulary's size", lambda: rk.vocabulary_size([]), ValueError, "vocab"),
        # Every function that takes a model with a vocabulary (or ids with a vocabulary size)
        # checks that they match, as generate_text does (tests/test_generation.py).
        ("heldout_loss with ids past the model's vocabulary", lambda: rk.heldout_loss(
            model, np.full(40, 7), seq_len=4, batch_size=2), ValueError, "ids"),
        ("heldout_difference of two vocabularies", lambda: rk.heldout_difference(
            model, rk.build_language_model(9, embedding_dim=4, units=4), ids, seq_len=4,
            batch_size=2), ValueError, "model_b"),
        ("mc_dropout_predict with ids past the model's vocabulary", lambda: rk.mc_dropout_predict(
            model, np.full((2, 4), 9), num_samples=2), ValueError, "x"),
        ("run_experiment with a builder of another vocabulary", lambda: rk.run_experiment(
            "baseline", corpus, epochs=1, model_builder=lambda size, **kw: rk.build_language_model(
                size + 1, **kw)), ValueError, "model_builder"),
        ("tune on a corpus whose ids its vocabulary lacks", lambda: rk.tune(
            _HandMadeCorpus(corpus.vocab, corpus.train_ids + 40, corpus.val_ids), max_trials=1,
            epochs=1), ValueError, "corpus.train_ids"),
        ("save_language_model with another vocabulary", lambda: rk.save_language_model(
            model, rk.Vocabulary(list("ab")), "never-written.keras"), ValueError, "vocab"),
    ]


class _HandMadeCorpus:
    """A corpus put together by hand (as `run_experiment` and `tune` accept), unchecked."""

    def __init__(self, vocab, train_ids, val_ids):
        self.vocab, self.train_ids, self.val_ids = vocab, train_ids, val_ids


def _fit_with_labels(model, labels):
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model.fit(np.ones(labels.shape, "int32"), labels, epochs=1, verbose=0)


def test_the_fuzz_list_of_issue_19():
    failures = []
    for what, call, exception, argument in _issue_19_cases():
        try:
            call()
        except Exception as err:  # noqa: BLE001 - the class is what is checked
            if type(err) is not exception or f"`{argument}" not in str(err):
                failures.append(f"{what}: {type(err).__name__}: {err}")
            continue
        failures.append(f"{what}: accepted")
    assert not failures, "\n".join(failures)
