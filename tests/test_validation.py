"""regkeras.validation: one table of accepted and rejected values, one message style."""
import re

import numpy as np
import pytest

from regkeras import validation as v

ACCEPTED = [
    (v.check_bool, (True,), {}, True),
    (v.check_int, (3,), {}, 3),
    (v.check_int, (np.int64(0),), {"minimum": 0}, 0),
    (v.check_int, (None,), {"allow_none": True}, None),
    (v.check_positive_int, (1,), {}, 1),
    (v.check_positive_int, (None,), {"allow_none": True}, None),
    (v.check_float, (2,), {}, 2.0),
    (v.check_float, (0.5,), {"low": 0, "high": 1}, 0.5),
    (v.check_float, (1.0,), {"low": 0, "high": 1}, 1.0),
    (v.check_rate, (0.0,), {}, 0.0),
    (v.check_rate, (np.float32(0.25),), {}, 0.25),
    (v.check_non_negative, (0,), {}, 0.0),
    (v.check_non_negative, (None,), {"allow_none": True}, None),
    (v.check_choice, ("LSTM", ("lstm", "gru")), {}, "lstm"),
    (v.check_choice, (2, (1, 2, 3)), {}, 2),
    (v.check_seed, (None,), {}, None),
    (v.check_seed, (7,), {}, 7),
    (v.check_seed, (2**32 - 1,), {}, 2**32 - 1),
    (v.check_seed, (np.int64(5),), {"allow_none": False}, 5),
    (v.check_positive, (1e-3,), {}, 1e-3),
    (v.check_float, (float("inf"),), {}, float("inf")),
    (v.check_string, ("val_loss",), {}, "val_loss"),
]

REJECTED = [
    # (check, value, keywords, exception, what the message must say is allowed)
    (v.check_bool, 1, {}, TypeError, "True or False"),
    (v.check_bool, "yes", {}, TypeError, "True or False"),
    (v.check_int, 1.0, {}, TypeError, "an integer"),
    (v.check_int, True, {}, TypeError, "an integer"),
    (v.check_int, -1, {"minimum": 0}, ValueError, "an integer >= 0"),
    (v.check_int, None, {}, TypeError, "an integer"),
    (v.check_positive_int, 0, {}, ValueError, "a positive integer"),
    (v.check_positive_int, "8", {}, TypeError, "a positive integer"),
    (v.check_positive_int, 2.0, {}, TypeError, "a positive integer"),
    (v.check_float, "0.1", {}, TypeError, "a float"),
    (v.check_float, float("nan"), {}, ValueError, "a float"),
    (v.check_float, 0.0, {"low": 0, "low_open": True}, ValueError, "a float > 0"),
    (v.check_float, 2.0, {"high": 1}, ValueError, "a float <= 1"),
    (v.check_rate, 1.0, {}, ValueError, "a float in [0, 1)"),
    (v.check_rate, -0.1, {}, ValueError, "a float in [0, 1)"),
    (v.check_rate, False, {}, TypeError, "a float in [0, 1)"),
    (v.check_rate, None, {}, TypeError, "a float in [0, 1)"),
    (v.check_non_negative, -1e-9, {}, ValueError, "a finite float >= 0"),
    (v.check_non_negative, float("inf"), {}, ValueError, "a finite float >= 0"),
    (v.check_positive, 0.0, {}, ValueError, "a finite float > 0"),
    (v.check_positive, "1", {}, TypeError, "a finite float > 0"),
    (v.check_float, float("-inf"), {"finite": True}, ValueError, "a finite float"),
    (v.check_string, "", {}, ValueError, "a non-empty string"),
    (v.check_string, 3, {}, TypeError, "a non-empty string"),
    (v.check_seed, -1, {}, ValueError, "an integer in [0, 4294967295] or None"),
    (v.check_seed, 2**32, {}, ValueError, "an integer in [0, 4294967295] or None"),
    (v.check_seed, 1.5, {}, TypeError, "an integer in [0, 4294967295] or None"),
    (v.check_seed, 2**70, {}, ValueError, "an integer in [0, 4294967295] or None"),
    (v.check_seed, None, {"allow_none": False}, TypeError, "an integer in [0, 4294967295]"),
    (v.check_seed, 2**70, {"allow_none": False}, ValueError, "an integer in [0, 4294967295]"),
]


@pytest.mark.parametrize("check, args, keywords, expected", ACCEPTED)
def test_accepted_values_come_back_converted(check, args, keywords, expected):
    result = check("arg", *args, **keywords)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("check, value, keywords, exception, allowed", REJECTED)
def test_rejected_values_name_the_argument_the_rule_and_the_value(
        check, value, keywords, exception, allowed):
    with pytest.raises(exception) as info:
        check("my_arg", value, **keywords)
    assert type(info.value) is exception
    assert str(info.value) == f"`my_arg` must be {allowed}. Received: my_arg={value!r}"


@pytest.mark.parametrize("value, exception", [("rnn", ValueError), (3, TypeError), (None, TypeError)])
def test_choice_lists_the_allowed_values(value, exception):
    with pytest.raises(exception, match=re.escape("`cell` must be one of 'lstm', 'gru'. Received: cell=")):
        v.check_choice("cell", value, ("lstm", "gru"))


def test_choice_with_its_own_requirement_text():
    assert v.check_choice("fused", "auto", ("auto",), requirement="'auto', True or False") == "auto"
    with pytest.raises(ValueError, match=re.escape(
            "`fused` must be 'auto', True or False. Received: fused='always'")):
        v.check_choice("fused", "always", ("auto",), requirement="'auto', True or False")


def test_no_module_keeps_a_validator_of_its_own():
    """The checks live in regkeras.validation only: no `_check_*`/`_positive*` helpers that
    re-implement them in other modules (the 25 that once disagreed)."""
    import pathlib

    root = pathlib.Path(v.__file__).parent
    pattern = re.compile(r"^def (_check_(rate|seed|int|real|bool|verbose|positive_int|coefficient|"
                         r"epsilon|top_k)|_positive_int|_positive|_rate|_non_negative|_bool)\(",
                         re.M)
    offenders = [f"{path.name}: {m.group(0)}" for path in root.glob("*.py")
                 if path.name != "validation.py" for m in pattern.finditer(path.read_text())]
    assert not offenders, offenders


def test_described_values_show_as_written():
    shown = v.message("x", "token ids in [0, 7)", v.described("ids in [-1, 6]"))
    assert shown == "`x` must be token ids in [0, 7). Received: x=<ids in [-1, 6]>"
