"""The description of a language model: every switch of the course in one validated object.

`LanguageModelSpec` holds what `build_language_model` takes, checked and put in one canonical
form (units as a tuple per layer, zoneout as a `(cell, hidden)` pair, the dropout rates folded
the same way however they were given). The model built from it keeps it (`model.spec`) and
saves it in its `.keras` file, so `describe`, generation, experiments, tuning and the command
line read one object instead of guessing from layer names; its JSON form
(`to_json`/`from_json`) is what the command line reads and writes.

    spec = LanguageModelSpec(65, units=256, dropout=0.4, layer_norm="cell")
    model = spec.build()                  # == build_language_model(65, units=256, ...)
    model.spec == spec                    # True (up to `fused_lstm`, resolved when built)
    spec.replace(dropout=0.0).build()     # the same model without dropout
"""

from __future__ import annotations

import dataclasses
import json

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
_LSTM_ONLY = ("weight_dropout", "layer_norm='cell'", "zoneout")
# Field names of earlier versions, read from saved specs: old name -> current name.
RENAMED_FIELDS = {"weight_drop": "weight_dropout"}


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


def _zoneout_pair(zoneout):
    if isinstance(zoneout, (list, tuple)):
        if len(zoneout) != 2:
            raise ValueError(message("zoneout", "a float or a pair (cell_rate, hidden_rate)",
                                     zoneout))
        return check_rate("zoneout", zoneout[0]), check_rate("zoneout", zoneout[1])
    rate = check_rate("zoneout", zoneout)
    return rate, rate


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
    * `zoneout` becomes a `(cell_rate, hidden_rate)` pair;
    * the dropout rates are folded: when every place that has a dropout layer gets the same
      rate, `dropout` is that rate and the per-place overrides are `None`; `variational` is
      `False` when no dropout layer is left.

    Args:
        vocab_size: Positive integer, the number of token ids. The others (embedding_dim,
            units, num_layers, cell, dropout, input_dropout, hidden_dropout, output_dropout,
            variational, recurrent_dropout, weight_dropout, embedding_dropout, layer_norm,
            zoneout, ar, tar, tie_weights, l2, stateful, batch_size, seq_len, mask_zero,
            output, fused_lstm, seed, name): as in `build_language_model`.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a value outside its range, or switches that cannot be combined (each
            message names the argument).

    Example:

    >>> spec = LanguageModelSpec(50, units=[32, 16], dropout=0.3, zoneout=0.1)
    >>> spec.units, spec.zoneout
    ((32, 16), (0.1, 0.1))
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
    zoneout: tuple = 0.0
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
        set_("zoneout", _zoneout_pair(self.zoneout))
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
                      "zoneout": self.zoneout != (0.0, 0.0)}
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
    def plain_lstm(self):
        """Whether the recurrent layers are plain LSTMs (no switch replaces the layer)."""
        return self.cell == "lstm" and not (self.weight_dropout or self.layer_norm == "cell"
                                            or self.zoneout != (0.0, 0.0))

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
        if self.zoneout != (0.0, 0.0):
            c, h = self.zoneout
            parts.append(f"zoneout {_number(c) if c == h else _number(c) + '/' + _number(h)}")
        for label, value in (("AR", self.ar), ("TAR", self.tar), ("L2", self.l2)):
            if value:
                parts.append(f"{label} {_number(value)}")
        if self.tie_weights:
            parts.append("tied weights")
        return " + ".join(parts) if parts else "none"

    def builder_kwargs(self):
        """The keyword arguments of `build_language_model` that rebuild this model: `units` as a
        list, `zoneout` a float when both rates agree (`describe` returns these without `seed`
        and `name`)."""
        kwargs = self.to_config()
        c, h = self.zoneout
        kwargs["zoneout"] = c if c == h else (c, h)
        return kwargs

    # ---------------------------------------------------------------------------------------
    # Changing, building and serializing it
    # ---------------------------------------------------------------------------------------

    def replace(self, **changes):
        """A new, validated spec with some fields changed (`units` may change the layer count)."""
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
        config["zoneout"] = list(self.zoneout)
        return config

    @classmethod
    def from_config(cls, config):
        """The spec of a `to_config()` dict (unknown keys are an error; the names of earlier
        versions, such as `weight_drop`, are read as their current ones)."""
        if not isinstance(config, dict):
            raise TypeError(message("config", "a dict from LanguageModelSpec.to_config()",
                                    config))
        fields = {f.name for f in dataclasses.fields(cls)}
        config = {RENAMED_FIELDS.get(key, key): value for key, value in config.items()}
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


def _number(value):
    return f"{value:g}"
