"""Argument checks shared by every module of regkeras: one message style, one exception rule.

The rule: a value of the wrong *type* raises `TypeError`; a value of the right type but outside
the allowed set raises `ValueError`. Every message names the argument, says what is allowed and
shows what was received, in the style of Keras' own messages:

    `units` must be a positive integer. Received: units=0

Booleans are not numbers here (``units=True`` is a `TypeError`), NumPy scalars are (an
``np.int64`` passes `check_int`), and integers pass the float checks. Each check returns the value
converted to the plain Python type, so callers can write ``self.rate = check_rate("rate", rate)``.

This module needs nothing but the standard library, so a layer copied into another project can
copy it alongside (or inline the two or three checks it uses).
"""

import math
import numbers

__all__ = [
    "MAX_SEED",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_non_negative",
    "check_positive",
    "check_positive_int",
    "check_rate",
    "check_seed",
    "check_string",
    "described",
    "message",
]

# The largest seed every consumer takes: NumPy's legacy seeding (used by
# `keras.utils.set_random_seed`) stops at 2**32 - 1, and TensorFlow fails obscurely past 2**63.
MAX_SEED = 2**32 - 1


def message(name, requirement, value):
    """The one message style: "`name` must be <requirement>. Received: name=<value>".

    For checks this module does not have (a shape, a combination of arguments), so that their
    messages read like the rest.
    """
    return f"`{name}` must be {requirement}. Received: {name}={value!r}"


_message = message


class described:  # noqa: N801 - used like a function: message(name, rule, described(...))
    """A value for `message` that shows as `text`: for values too large or too opaque to print
    (an array, a model), e.g. ``described("a model predicting 10 tokens")``."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"<{self.text}>"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_bool(name, value):
    """Returns `value` if it is `True` or `False`, else raises TypeError."""
    if not isinstance(value, bool):
        raise TypeError(_message(name, "True or False", value))
    return value


def check_int(name, value, *, minimum=None, allow_none=False):
    """Returns `value` as an `int`.

    Args:
        name: The argument's name, for the message.
        value: The value to check.
        minimum: Optional smallest allowed value (inclusive).
        allow_none: Whether `None` is allowed (and returned as is).

    Raises:
        TypeError: `value` is not an integer (a bool, a float, a string...).
        ValueError: `value` is below `minimum`.
    """
    if value is None and allow_none:
        return None
    requirement = "an integer" if minimum is None else f"an integer >= {minimum}"
    if allow_none:
        requirement += " or None"
    if not _is_int(value):
        raise TypeError(_message(name, requirement, value))
    if minimum is not None and value < minimum:
        raise ValueError(_message(name, requirement, value))
    return int(value)


def check_positive_int(name, value, *, allow_none=False):
    """Returns `value` as an `int` if it is an integer >= 1 (TypeError / ValueError otherwise)."""
    if value is None and allow_none:
        return None
    requirement = "a positive integer" + (" or None" if allow_none else "")
    if not _is_int(value):
        raise TypeError(_message(name, requirement, value))
    if value < 1:
        raise ValueError(_message(name, requirement, value))
    return int(value)


def check_float(name, value, *, low=None, high=None, low_open=False, high_open=False,
                finite=False, allow_none=False):
    """Returns `value` as a `float` if it is a real number in the given interval.

    Args:
        name: The argument's name, for the message.
        value: The value to check (an int passes and is converted).
        low, high: Optional bounds; `None` leaves that side unbounded.
        low_open, high_open: Whether the bound itself is excluded.
        finite: Whether infinities are refused too (NaN always is).
        allow_none: Whether `None` is allowed (and returned as is).

    Raises:
        TypeError: `value` is not a real number.
        ValueError: `value` is NaN, infinite when `finite`, or outside the interval.
    """
    if value is None and allow_none:
        return None
    requirement = ("a finite float" if finite else "a float") + _interval(
        low, high, low_open, high_open)
    if allow_none:
        requirement += " or None"
    if not _is_real(value):
        raise TypeError(_message(name, requirement, value))
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if math.isnan(value) or (finite and math.isinf(value)) or too_low or too_high:
        raise ValueError(_message(name, requirement, value))
    return value


def _interval(low, high, low_open, high_open):
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_rate(name, value):
    """Returns `value` as a `float` if it is a dropout-style rate in [0, 1)."""
    return check_float(name, value, low=0, high=1, high_open=True)


def check_non_negative(name, value, *, allow_none=False):
    """Returns `value` as a `float` if it is a finite real number >= 0 (coefficients, decays)."""
    return check_float(name, value, low=0, finite=True, allow_none=allow_none)


def check_positive(name, value, *, allow_none=False):
    """Returns `value` as a `float` if it is a finite real number > 0 (epsilons, scales)."""
    return check_float(name, value, low=0, low_open=True, finite=True, allow_none=allow_none)


def check_string(name, value, requirement="a non-empty string"):
    """Returns `value` if it is a non-empty `str` (TypeError for other types, ValueError if empty).

    `requirement` says what the string is for, e.g. "a metric name such as 'val_loss'".
    """
    if not isinstance(value, str):
        raise TypeError(_message(name, requirement, value))
    if not value:
        raise ValueError(_message(name, requirement, value))
    return value


def check_choice(name, value, choices, *, lower=True, requirement=None):
    """Returns `value` if it is one of `choices` (strings compared in lower case by default).

    `requirement` replaces the default "one of 'a', 'b'" in the message, for arguments whose
    other allowed values the caller has already handled (e.g. "'auto', True or False").

    Raises:
        TypeError: `choices` are strings and `value` is not one.
        ValueError: `value` is not one of `choices`.
    """
    choices = tuple(choices)
    if requirement is None:
        requirement = "one of " + ", ".join(repr(choice) for choice in choices)
    if all(isinstance(choice, str) for choice in choices):
        if not isinstance(value, str):
            raise TypeError(_message(name, requirement, value))
        if lower:
            value = value.lower()
    if value not in choices:
        raise ValueError(_message(name, requirement, value))
    return value


def check_seed(name, value, *, allow_none=True):
    """Returns `value` as an `int` (or `None`) if it is an integer in [0, MAX_SEED] (or `None`
    when `allow_none`, the default)."""
    if value is None and allow_none:
        return None
    requirement = f"an integer in [0, {MAX_SEED}]" + (" or None" if allow_none else "")
    if not _is_int(value):
        raise TypeError(_message(name, requirement, value))
    if not 0 <= value <= MAX_SEED:
        raise ValueError(_message(name, requirement, value))
    return int(value)
