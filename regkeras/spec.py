"""The description of a language model: every switch of the course in one validated object.

`LanguageModelSpec` holds what `build_language_model` takes, checked and put in one canonical
form (units as a tuple per layer, the dropout rates folded the same way however they were
given), under the layers' names for every knob (`weight_dropout`, `zoneout_c`, `zoneout_h`).
The model built from it keeps it (`model.spec`) and saves it in its `.keras` file, so
`describe`, generation, experiments, tuning and the command line read one object instead of
guessing from layer names; its JSON form (`to_json`/`from_json`) is what the command line
reads and writes.

    spec = LanguageModelSpec(65, units=256, dropout=0.4, layer_norm="cell")
    model = spec.build()                  # == build_language_model(65, units=256, ...)
    model.spec == spec                    # True (up to `fused_lstm`, resolved when built)
    spec.replace(dropout=0.0).build()     # the same model without dropout
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings

from regkeras.validation import (
    check_bool,
    check_choice,
    check_non_negative,
    check_positive_int,
    check_rate,
    check_seed,
    check_string,
    message,
)

__all__ = ["LanguageModelSpec"]

CELLS = ("lstm", "gru", "rnn")
LAYER_NORMS = (None, "cell", "output")
OUTPUTS = ("logits", "probabilities")
# The switches that need regkeras' LSTM layers (cell="lstm"); any of them combine.
_LSTM_ONLY = ("weight_dropout", "layer_norm='cell'", "zoneout_c", "zoneout_h")
# Field names of earlier versions, read from saved specs: old name -> current name.
RENAMED_FIELDS = {"weight_drop": "weight_dropout"}
# Fields of earlier versions that became two: old name -> the current names. Before 0.2 the
# spec and the builder took zoneout as one `zoneout` (a rate or a (cell, hidden) pair).
SPLIT_FIELDS = {"zoneout": ("zoneout_c", "zoneout_h")}
ZONEOUT_REPLACEMENT = ("`zoneout` is now `zoneout_c` and `zoneout_h`, the layers' names: "
                       "zoneout=(c, h) is zoneout_c=c, zoneout_h=h, and zoneout=z sets both to z; "
                       "`zoneout` will be removed.")


def _units_per_layer(units, num_layers):
    if isinstance(units, (list, tuple)):
        if not units:
            raise ValueError(message("units", "a positive integer or a non-empty list of them",
                                     units))
        per_layer = tuple(check_positive_int("units", u) for u in units)
        layers = None if num_layers is None else check_positive_int("num_layers", num_layers)
        if layers is not None and layers != len(per_layer):
            raise ValueError(
                f"`num_layers`={num_layers} does not match the {len(per_layer)} entries of "
                f"`units`={list(units)}; give one or make them agree."
            )
        return per_layer
    units = check_positive_int("units", units)
    num_layers = 2 if num_layers is None else check_positive_int("num_layers", num_layers)
    return (units,) * num_layers


def split_zoneout(zoneout):
    """The `(zoneout_c, zoneout_h)` rates of the former `zoneout` argument (a rate or a pair)."""
    if isinstance(zoneout, (list, tuple)):
        if len(zoneout) != 2:
            raise ValueError(message("zoneout", "a float or a pair (cell_rate, hidden_rate)",
                                     zoneout))
        return check_rate("zoneout", zoneout[0]), check_rate("zoneout", zoneout[1])
    rate = check_rate("zoneout", zoneout)
    return rate, rate


def former_zoneout(zoneout, zoneout_c, zoneout_h, *, stacklevel):
    """`(zoneout_c, zoneout_h)` from the former `zoneout` argument, with its DeprecationWarning.

    `stacklevel` points the warning at the user's call (the builder and the spec differ).
    """
    warnings.warn(ZONEOUT_REPLACEMENT, DeprecationWarning, stacklevel=stacklevel + 1)
    if zoneout_c or zoneout_h:
        raise ValueError(
            "Give zoneout as `zoneout_c`/`zoneout_h` or (deprecated) as `zoneout`, not both. "
            f"Received: zoneout={zoneout!r}, zoneout_c={zoneout_c!r}, zoneout_h={zoneout_h!r}")
    return split_zoneout(zoneout)


def upgrade_field_names(config):
    """A saved spec's config (or builder arguments) with the names of earlier versions made
    current, silently: what an earlier version wrote must load without warnings."""
    config = {RENAMED_FIELDS.get(key, key): value for key, value in config.items()}
    for old, new in SPLIT_FIELDS.items():
        if old in config:
            config.update(zip(new, split_zoneout(config.pop(old))))
    return config


def _layer_norm_mode(layer_norm):
    if layer_norm is False:
        return None
    if layer_norm is True:
        return "cell"
    if layer_norm not in LAYER_NORMS:
        raise ValueError(message(
            "layer_norm", "None/False, 'cell' (or True: Ba et al.'s LayerNormLSTM) or 'output' "
            "(LayerNormalization after each recurrent layer)", layer_norm))
    return layer_norm


def _fused_lstm(value):
    if isinstance(value, bool):
        return value
    return check_choice("fused_lstm", value, ("auto",), lower=False,
                        requirement="'auto', True or False")


def _optional_rate(name, value):
    return None if value is None else check_rate(name, value)


@dataclasses.dataclass(frozen=True)
class LanguageModelSpec:
    """What a regkeras language model is: its size and every regularizer switch, validated.

    The arguments are those of `regkeras.build_language_model` (whose docstring says what each
    does); this object checks them once, with the same errors, and keeps them in one canonical
    form, so that two specs describing the same model compare equal:

    * `units` becomes a tuple with one entry per layer and `num_layers` its length;
    * the dropout rates are folded: when every place that has a dropout layer gets the same
      rate, `dropout` is that rate and the per-place overrides are `None`; `variational` is
      `False` when no dropout layer is left.

    Args:
        vocab_size: Positive integer, the number of token ids. The others (embedding_dim,
            units, num_layers, cell, dropout, input_dropout, hidden_dropout, output_dropout,
            variational, recurrent_dropout, weight_dropout, embedding_dropout, layer_norm,
            zoneout_c, zoneout_h, ar, tar, tie_weights, l2, stateful, batch_size, seq_len,
            mask_zero, output, fused_lstm, seed, name): as in `build_language_model`. One
            name means something else on a layer: `dropout` is the rate of the dropout layers
            between the layers (Zaremba's placement), not a Keras recurrent layer's
            `dropout=` (its input dropout); `ar`/`tar` are `ActivationRegularization`'s.
        zoneout: Deprecated, the former form of `zoneout_c`/`zoneout_h` (a rate for both or
            a `(cell_rate, hidden_rate)` pair); it warns. Saved specs that have it load
            without a warning.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a value outside its range, or switches that cannot be combined (each
            message names the argument).

    Example:

    >>> spec = LanguageModelSpec(50, units=[32, 16], dropout=0.3, zoneout_c=0.1, zoneout_h=0.1)
    >>> spec.units, spec.zoneout_c
    ((32, 16), 0.1)
    >>> spec.text()
    'dropout 0.3 (per step) + zoneout 0.1'
    >>> LanguageModelSpec.from_json(spec.to_json()) == spec
    True
    """

    vocab_size: int
    embedding_dim: int = 64
    units: tuple = 128
    num_layers: int | None = None
    cell: str = "lstm"
    dropout: float = 0.0
    input_dropout: float | None = None
    hidden_dropout: float | None = None
    output_dropout: float | None = None
    variational: bool = False
    recurrent_dropout: float = 0.0
    weight_dropout: float = 0.0
    embedding_dropout: float = 0.0
    layer_norm: str | None = None
    zoneout_c: float = 0.0
    zoneout_h: float = 0.0
    ar: float = 0.0
    tar: float = 0.0
    tie_weights: bool = False
    l2: float = 0.0
    stateful: bool = False
    batch_size: int | None = None
    seq_len: int | None = None
    mask_zero: bool = False
    output: str = "logits"
    fused_lstm: object = "auto"
    seed: int | None = None
    name: str = "language_model"

    def __post_init__(self):
        set_ = lambda field, value: object.__setattr__(self, field, value)  # noqa: E731
        set_("vocab_size", check_positive_int("vocab_size", self.vocab_size))
        set_("embedding_dim", check_positive_int("embedding_dim", self.embedding_dim))
        units = _units_per_layer(self.units, self.num_layers)
        set_("units", units)
        set_("num_layers", len(units))
        set_("cell", check_choice("cell", self.cell, CELLS))
        dropout = check_rate("dropout", self.dropout)
        rates = {key: _optional_rate(key, getattr(self, key))
                 for key in ("input_dropout", "hidden_dropout", "output_dropout")}
        variational = check_bool("variational", self.variational)
        for key in ("recurrent_dropout", "weight_dropout", "embedding_dropout"):
            set_(key, check_rate(key, getattr(self, key)))
        set_("layer_norm", _layer_norm_mode(self.layer_norm))
        for key in ("zoneout_c", "zoneout_h"):
            set_(key, check_rate(key, getattr(self, key)))
        for key in ("ar", "tar", "l2"):
            set_(key, check_non_negative(key, getattr(self, key)))
        for key in ("tie_weights", "stateful", "mask_zero"):
            set_(key, check_bool(key, getattr(self, key)))
        set_("batch_size", check_positive_int("batch_size", self.batch_size, allow_none=True))
        set_("seq_len", check_positive_int("seq_len", self.seq_len, allow_none=True))
        set_("output", check_choice("output", self.output, OUTPUTS, lower=False))
        set_("fused_lstm", _fused_lstm(self.fused_lstm))
        set_("seed", check_seed("seed", self.seed))
        check_string("name", self.name, "a non-empty string without '/'")
        if "/" in self.name:
            raise ValueError(message("name", "a non-empty string without '/'", self.name))
        self._fold_dropout(dropout, rates, variational)
        self._check_combinations()

    def _fold_dropout(self, dropout, rates, variational):
        """One form for the same dropout layers, however the rates were given."""
        effective = {
            "input_dropout": dropout if rates["input_dropout"] is None else rates["input_dropout"],
            # Only stacked layers have a place between them.
            "hidden_dropout": (dropout if rates["hidden_dropout"] is None
                               else rates["hidden_dropout"]) if self.num_layers > 1 else None,
            "output_dropout": (dropout if rates["output_dropout"] is None
                               else rates["output_dropout"]),
        }
        present = [r for r in effective.values() if r is not None]
        nonzero = [r for r in present if r > 0.0]
        common = nonzero[0] if nonzero and all(r == nonzero[0] for r in present) else 0.0
        object.__setattr__(self, "dropout", common)
        for key, rate in effective.items():
            object.__setattr__(self, key, None if rate in (None, common) else rate)
        object.__setattr__(self, "variational", variational and bool(nonzero))

    def _check_combinations(self):
        needs_lstm = {"weight_dropout": self.weight_dropout > 0.0,
                      "layer_norm='cell'": self.layer_norm == "cell",
                      "zoneout_c": self.zoneout_c > 0.0, "zoneout_h": self.zoneout_h > 0.0}
        chosen = [key for key in _LSTM_ONLY if needs_lstm[key]]
        if self.cell != "lstm" and chosen:
            raise ValueError(
                f"{', '.join(f'`{key}`' for key in chosen)} need(s) cell='lstm'. "
                f"Received: cell={self.cell!r}"
            )
        if self.stateful and self.batch_size is None:
            raise ValueError("`stateful=True` needs a fixed `batch_size` (an integer). "
                             "Received: batch_size=None")
        if self.tie_weights and self.units[-1] != self.embedding_dim:
            raise ValueError(
                f"`tie_weights=True` needs the last recurrent layer's units ({self.units[-1]}) "
                f"to equal `embedding_dim` ({self.embedding_dim}); pass units as a list ending "
                f"in {self.embedding_dim}, e.g. units={[*self.units[:-1], self.embedding_dim]}."
            )

    # ---------------------------------------------------------------------------------------
    # Reading it
    # ---------------------------------------------------------------------------------------

    def rate(self, place):
        """The dropout rate at `place` ("input", "hidden" or "output"), overrides applied."""
        place = check_choice("place", place, ("input", "hidden", "output"))
        override = getattr(self, f"{place}_dropout")
        return self.dropout if override is None else override

    @property
    def has_zoneout(self):
        """Whether zoneout is on (on the cell, the hidden state or both)."""
        return bool(self.zoneout_c or self.zoneout_h)

    @property
    def plain_lstm(self):
        """Whether the recurrent layers are plain LSTMs (no switch replaces the layer)."""
        return self.cell == "lstm" and not (self.weight_dropout or self.layer_norm == "cell"
                                            or self.has_zoneout)

    def text(self):
        """A one-line summary of the active regularizers ("none" for an unregularized model)."""
        parts = []
        if self.dropout or self.input_dropout or self.hidden_dropout or self.output_dropout:
            kind = "per sequence" if self.variational else "per step"
            if self.input_dropout is None and self.hidden_dropout is None and (
                    self.output_dropout is None):
                parts.append(f"dropout {_number(self.dropout)} ({kind})")
            else:
                triple = [self.rate("input"), self.dropout if self.hidden_dropout is None
                          else self.hidden_dropout, self.rate("output")]
                parts.append("dropout in/hidden/out " + "/".join(map(_number, triple))
                             + f" ({kind})")
        for label, value in (("recurrent dropout", self.recurrent_dropout),
                             ("weight drop", self.weight_dropout),
                             ("embedding dropout", self.embedding_dropout)):
            if value:
                parts.append(f"{label} {_number(value)}")
        if self.layer_norm:
            parts.append(f"layer norm ({self.layer_norm})")
        if self.has_zoneout:
            c, h = self.zoneout_c, self.zoneout_h
            parts.append(f"zoneout {_number(c) if c == h else _number(c) + '/' + _number(h)}")
        for label, value in (("AR", self.ar), ("TAR", self.tar), ("L2", self.l2)):
            if value:
                parts.append(f"{label} {_number(value)}")
        if self.tie_weights:
            parts.append("tied weights")
        return " + ".join(parts) if parts else "none"

    def builder_kwargs(self):
        """The keyword arguments of `build_language_model` that rebuild this model: every
        field, `units` as a list (`describe` returns these without `seed` and `name`)."""
        return self.to_config()

    @property
    def zoneout(self):
        """Deprecated: `(zoneout_c, zoneout_h)`, the former `zoneout` field (it warns)."""
        warnings.warn(ZONEOUT_REPLACEMENT, DeprecationWarning, stacklevel=2)
        return self.zoneout_c, self.zoneout_h

    # ---------------------------------------------------------------------------------------
    # Changing, building and serializing it
    # ---------------------------------------------------------------------------------------

    def replace(self, **changes):
        """A new, validated spec with some fields changed (`units` may change the layer count)."""
        if "zoneout" in changes:
            changes["zoneout_c"], changes["zoneout_h"] = former_zoneout(
                changes.pop("zoneout"), changes.get("zoneout_c"), changes.get("zoneout_h"),
                stacklevel=2)
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"LanguageModelSpec has no field(s) {unknown}.")
        if "units" in changes and "num_layers" not in changes:
            changes["num_layers"] = None
        return dataclasses.replace(self, **changes)

    def build(self):
        """The Keras model this spec describes (see `build_language_model`)."""
        from regkeras.models import LanguageModel

        return LanguageModel(self)

    def to_config(self):
        """A JSON-ready dict of every field (lists for the tuples)."""
        config = dataclasses.asdict(self)
        config["units"] = list(self.units)
        return config

    @classmethod
    def from_config(cls, config):
        """The spec of a `to_config()` dict (unknown keys are an error; the names of earlier
        versions, such as `weight_drop` and `zoneout`, are read as their current ones, silently)."""
        if not isinstance(config, dict):
            raise TypeError(message("config", "a dict from LanguageModelSpec.to_config()",
                                    config))
        fields = {f.name for f in dataclasses.fields(cls)}
        config = upgrade_field_names(config)
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(f"Unknown LanguageModelSpec field(s) {unknown}; known: "
                             f"{sorted(fields)}.")
        return cls(**config)

    def to_json(self, indent=1):
        return json.dumps({"format": "regkeras.LanguageModelSpec", **self.to_config()},
                          indent=indent)

    @classmethod
    def from_json(cls, text):
        """The spec of `to_json()`'s text."""
        try:
            config = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"Not a LanguageModelSpec JSON text: {err}") from None
        if not isinstance(config, dict) or config.pop("format", None) != (
                "regkeras.LanguageModelSpec"):
            raise ValueError("Not a LanguageModelSpec JSON text (its 'format' must be "
                             "'regkeras.LanguageModelSpec').")
        return cls.from_config(config)


def _taking_former_zoneout(init):
    """The dataclass's `__init__`, also taking the former `zoneout` argument (with a warning).

    A wrapper rather than a `dataclasses.InitVar`: `dataclasses.replace` reads every InitVar
    back from the instance, which would read the deprecated `zoneout` property.
    """

    @functools.wraps(init)
    def __init__(self, *args, zoneout=None, **kwargs):
        if zoneout is not None:
            kwargs["zoneout_c"], kwargs["zoneout_h"] = former_zoneout(
                zoneout, kwargs.get("zoneout_c"), kwargs.get("zoneout_h"), stacklevel=2)
        init(self, *args, **kwargs)

    return __init__


LanguageModelSpec.__init__ = _taking_former_zoneout(LanguageModelSpec.__init__)


def _number(value):
    return f"{value:g}"
