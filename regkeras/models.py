"""Recurrent language models with a switch for every regularizer of the course.

`build_language_model` turns the course notes' sketch (`DropoutLSTM(vocab_size, hidden_size,
dropout=0.5)`, then `LayerNormLSTM(model)`) into one plain functional Keras model:

    ids -> embedding -> [dropout] -> N x (recurrent layer -> [dropout]) -> logits

Every regularizer is a keyword argument, so an ablation is a loop over keyword dictionaries,
and `describe(model)` reads the switches back from the layers (also from a loaded `.keras`
file), for the tables that compare them.
"""

import numbers

import keras

from regkeras.dropout import EmbeddingDropout, LockedDropout
from regkeras.normalization import LayerNormLSTM
from regkeras.recurrent import ProjectedLSTM, WeightDropLSTM, ZoneoutLSTM
from regkeras.regularizers import ActivationRegularization

__all__ = ["build_language_model", "describe", "reset_states"]

_CELLS = ("lstm", "gru", "rnn")
_LAYER_NORMS = (None, "cell", "output")
_OUTPUTS = ("logits", "probabilities")
_FUSED_LSTM = ("auto", True, False)


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _rate(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
        0.0 <= value < float("inf")
    ):
        raise ValueError(
            f"`{name}` must be a finite, non-negative float. Received: {name}={value!r}"
        )
    return float(value)


def _bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return value


def _units_per_layer(units, num_layers):
    if isinstance(units, (list, tuple)):
        if not units:
            raise ValueError("`units` must be a positive integer or a non-empty list of them.")
        per_layer = [_positive_int(u, "units") for u in units]
        if num_layers is not None and _positive_int(num_layers, "num_layers") != len(per_layer):
            raise ValueError(
                f"`num_layers`={num_layers} does not match the {len(per_layer)} entries of "
                f"`units`={list(units)}; give one or make them agree."
            )
        return per_layer
    units = _positive_int(units, "units")
    num_layers = 2 if num_layers is None else _positive_int(num_layers, "num_layers")
    return [units] * num_layers


def _zoneout_rates(zoneout):
    """`zoneout` as (z_cell, z_hidden)."""
    if isinstance(zoneout, (list, tuple)):
        if len(zoneout) != 2:
            raise ValueError(
                "`zoneout` must be a float or a pair (cell_rate, hidden_rate). "
                f"Received: zoneout={zoneout!r}"
            )
        return _rate(zoneout[0], "zoneout"), _rate(zoneout[1], "zoneout")
    rate = _rate(zoneout, "zoneout")
    return rate, rate


def _layer_norm_mode(layer_norm):
    if layer_norm is False:
        return None
    if layer_norm is True:
        return "cell"
    if layer_norm not in _LAYER_NORMS:
        raise ValueError(
            "`layer_norm` must be None/False, 'cell' (or True: Ba et al.'s LayerNormLSTM) or "
            f"'output' (LayerNormalization after each recurrent layer). "
            f"Received: layer_norm={layer_norm!r}"
        )
    return layer_norm


def _fused_lstm(value):
    if not (isinstance(value, bool) or (isinstance(value, str) and value == "auto")):
        raise ValueError(f"`fused_lstm` must be 'auto', True or False. Received: fused_lstm={value!r}")
    if value == "auto":
        return not _gpu_available()
    return value


def _gpu_available():
    """Whether the active Keras backend sees a GPU (where keras.layers.LSTM runs cuDNN)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def _seed_for(seed, offset):
    return None if seed is None else seed + offset


# --------------------------------------------------------------------------------------------
# The recurrent layers
# --------------------------------------------------------------------------------------------


def _recurrent_layer(cell, layer_norm, weight_drop, zoneout, fused_lstm, options):
    """One recurrent layer returning sequences; `options` holds the shared LSTM arguments."""
    if cell == "gru":
        return keras.layers.GRU(**options)
    if cell == "rnn":
        return keras.layers.SimpleRNN(**options)
    if layer_norm == "cell":
        return LayerNormLSTM(**options)
    if weight_drop > 0.0:
        return WeightDropLSTM(weight_dropout=weight_drop, **options)
    if zoneout != (0.0, 0.0):
        return ZoneoutLSTM(zoneout_c=zoneout[0], zoneout_h=zoneout[1], **options)
    return (ProjectedLSTM if fused_lstm else keras.layers.LSTM)(**options)


def _dropout_layer(rate, variational, seed, name):
    if variational:
        return LockedDropout(rate, seed=seed, name=name)
    return keras.layers.Dropout(rate, seed=seed, name=name)


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------


def build_language_model(
    vocab_size,
    *,
    embedding_dim=64,
    units=128,
    num_layers=None,
    cell="lstm",
    dropout=0.0,
    input_dropout=None,
    hidden_dropout=None,
    output_dropout=None,
    variational=False,
    recurrent_dropout=0.0,
    weight_drop=0.0,
    embedding_dropout=0.0,
    layer_norm=None,
    zoneout=0.0,
    ar=0.0,
    tar=0.0,
    tie_weights=False,
    l2=0.0,
    stateful=False,
    batch_size=None,
    seq_len=None,
    mask_zero=False,
    output="logits",
    fused_lstm="auto",
    seed=None,
    name="language_model",
):
    """Build a recurrent language model with a switch for every regularizer of the course.

    The model maps token ids `[batch, time]` to next-token **logits** `[batch, time,
    vocab_size]` (float32, also under a mixed-precision policy); train it with
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`. The layers are:
    embedding -> input dropout -> `num_layers` recurrent layers, each but the last followed by
    hidden dropout -> output dropout -> softmax layer (a `Dense`, or the embedding matrix
    transposed when `tie_weights`). All defaults give an unregularized 2-layer LSTM.

    Where the masks go:

    * `dropout` (Zaremba et al. 2014) drops units on the non-recurrent connections only: after
      the embedding, between stacked layers and before the softmax, with `keras.layers.Dropout`,
      i.e. a fresh mask at every time step. `input_dropout`, `hidden_dropout` and
      `output_dropout` override the rate at one of the three places (AWD-LSTM uses 0.4 / 0.3 /
      0.4 at full scale, with 0.65 on the input for word-level PTB).
    * `variational=True` samples those masks once per sequence instead (`LockedDropout`, Gal &
      Ghahramani 2016). `recurrent_dropout` is Keras' own variational dropout of `h_{t-1}`
      inside every recurrent layer (one mask per sequence).
    * `weight_drop` is DropConnect on the hidden-to-hidden matrix (`regkeras.WeightDropLSTM`,
      Merity et al. 2017), one mask per batch; `embedding_dropout` drops whole words
      (`regkeras.EmbeddingDropout`).
    * `layer_norm="cell"` uses Ba et al.'s layer-normalized LSTM cell (`regkeras.LayerNormLSTM`);
      `layer_norm="output"` keeps the recurrent layer and normalizes its output sequence with
      `keras.layers.LayerNormalization` (the course notes' "layer norm before the LSTM output",
      as in `regkeras.lstm_with_output_norm`; it does not touch the recurrence).
    * `zoneout` (Krueger et al. 2016, `regkeras.ZoneoutLSTM`): one rate for both the cell and
      the hidden state, or a pair `(cell_rate, hidden_rate)`; the paper's character-level
      setting is `(0.5, 0.05)`.
    * `ar` / `tar` add Merity et al.'s activation penalties on the last recurrent layer
      (`regkeras.ActivationRegularization`): AR on its dropped output, TAR on its raw output.
    * `l2` is coupled L2 (`keras.regularizers.L2(l2)`, i.e. `l2 * sum(w ** 2)` added to the
      loss) on every weight matrix: embedding, input and recurrent kernels, softmax kernel; not
      on biases or normalization gains. For decoupled weight decay use the optimizer instead.

    Weight drop, a layer-normalized cell and zoneout each replace the LSTM by a different
    layer, so at most one of them can be on; all three need `cell="lstm"`.

    Args:
        vocab_size: Positive integer, the number of token ids.
        embedding_dim: Positive integer, the embedding size.
        units: Positive integer (every layer) or a list with one entry per layer.
        num_layers: Number of recurrent layers; default `len(units)` for a list, else 2.
        cell: `"lstm"` (default), `"gru"` or `"rnn"` (`keras.layers.SimpleRNN`).
        dropout: Float in [0, 1), the non-recurrent dropout rate at all three places.
        input_dropout: Optional rate after the embedding (default: `dropout`).
        hidden_dropout: Optional rate between recurrent layers (default: `dropout`).
        output_dropout: Optional rate before the softmax layer (default: `dropout`).
        variational: Boolean; `True` = one mask per sequence (`LockedDropout`), `False` = a
            fresh mask every step (Zaremba).
        recurrent_dropout: Float in [0, 1), Keras' `recurrent_dropout` of each layer.
        weight_drop: Float in [0, 1), DropConnect rate on the recurrent kernel.
        embedding_dropout: Float in [0, 1), probability of dropping a word's embedding row.
        layer_norm: `None`/`False`, `"cell"` (or `True`) or `"output"`.
        zoneout: Float in [0, 1) or a pair of them `(cell_rate, hidden_rate)`.
        ar: Non-negative float, AR coefficient alpha (AWD-LSTM: 2).
        tar: Non-negative float, TAR coefficient beta (AWD-LSTM: 1).
        tie_weights: Boolean; compute the logits with the transposed embedding matrix (plus a
            bias). Needs the last layer's units equal to `embedding_dim` (pass a list of
            `units`, e.g. `[256, 256, 64]` with `embedding_dim=64`); otherwise ValueError.
        l2: Non-negative float, coupled L2 coefficient on the weight matrices.
        stateful: Boolean; carry the recurrent state from batch to batch (Zaremba's truncated
            BPTT, with `regkeras.data.bptt_dataset`). Needs `batch_size`; call
            `reset_states(model)` between epochs.
        batch_size: Fixed batch size of the input (required when `stateful`).
        seq_len: Optional fixed sequence length (default: any length).
        mask_zero: Boolean; id 0 is padding, masked through the recurrent layers, AR/TAR and
            (as the Keras mask on the output) the loss.
        output: `"logits"` (default) or `"probabilities"` (softmax applied).
        fused_lstm: Which layer a plain LSTM (no weight drop, zoneout or layer-norm cell) is.
            `True`: `regkeras.ProjectedLSTM`, whose fused backward pass trains 1.3-1.6x faster
            than `keras.layers.LSTM` on CPU (`benchmarks/RESULTS.md`); `False`:
            `keras.layers.LSTM`, which runs cuDNN on a GPU; `"auto"` (default): `False` when
            the backend sees a GPU, else `True`. Same weights, same function.
        seed: Optional integer; every random layer gets its own seed derived from it.
        name: The model's name.

    Returns:
        A functional `keras.Model` from int ids `[batch, time]` to float32 logits (or
        probabilities) `[batch, time, vocab_size]`.

    Raises:
        ValueError: for an out-of-range value or an unsupported combination, naming the
            argument.

    Example:

    >>> model = build_language_model(50, embedding_dim=16, units=32, dropout=0.5,
    ...                              ar=2.0, tar=1.0, seed=0)
    >>> logits = model(keras.ops.zeros((2, 7), dtype="int32"))
    >>> tuple(logits.shape)
    (2, 7, 50)
    >>> describe(model, as_text=True)
    'dropout 0.5 (per step) + AR 2 + TAR 1'
    """
    vocab_size = _positive_int(vocab_size, "vocab_size")
    embedding_dim = _positive_int(embedding_dim, "embedding_dim")
    per_layer = _units_per_layer(units, num_layers)
    if not isinstance(cell, str) or cell.lower() not in _CELLS:
        raise ValueError(f"`cell` must be one of {_CELLS}. Received: cell={cell!r}")
    cell = cell.lower()
    dropout = _rate(dropout, "dropout")
    rates = {}
    for key, value in (("input_dropout", input_dropout), ("hidden_dropout", hidden_dropout),
                       ("output_dropout", output_dropout)):
        rates[key] = dropout if value is None else _rate(value, key)
    variational = _bool(variational, "variational")
    recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout")
    weight_drop = _rate(weight_drop, "weight_drop")
    embedding_dropout = _rate(embedding_dropout, "embedding_dropout")
    layer_norm = _layer_norm_mode(layer_norm)
    zoneout = _zoneout_rates(zoneout)
    ar = _non_negative(ar, "ar")
    tar = _non_negative(tar, "tar")
    tie_weights = _bool(tie_weights, "tie_weights")
    l2 = _non_negative(l2, "l2")
    stateful = _bool(stateful, "stateful")
    mask_zero = _bool(mask_zero, "mask_zero")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    if seq_len is not None:
        seq_len = _positive_int(seq_len, "seq_len")
    if output not in _OUTPUTS:
        raise ValueError(f"`output` must be one of {_OUTPUTS}. Received: output={output!r}")
    fused_lstm = _fused_lstm(fused_lstm)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"`seed` must be an integer or None. Received: seed={seed!r}")
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(
            f"`name` must be a non-empty string without '/'. Received: name={name!r}"
        )

    # Combinations.
    lstm_only = {"weight_drop": weight_drop > 0.0, "layer_norm='cell'": layer_norm == "cell",
                 "zoneout": zoneout != (0.0, 0.0)}
    chosen = [key for key, on in lstm_only.items() if on]
    if cell != "lstm" and chosen:
        raise ValueError(
            f"{', '.join(f'`{key}`' for key in chosen)} need(s) cell='lstm'. "
            f"Received: cell={cell!r}"
        )
    if len(chosen) > 1:
        raise ValueError(
            f"{' and '.join(f'`{key}`' for key in chosen)} each replace the LSTM layer by a "
            "different layer (WeightDropLSTM, LayerNormLSTM, ZoneoutLSTM); choose one of them. "
            "layer_norm='output' can be combined with any of them."
        )
    if stateful and batch_size is None:
        raise ValueError("`stateful=True` needs a fixed `batch_size` (an integer). Received: "
                         "batch_size=None")
    if tie_weights and per_layer[-1] != embedding_dim:
        raise ValueError(
            f"`tie_weights=True` needs the last recurrent layer's units ({per_layer[-1]}) to equal "
            f"`embedding_dim` ({embedding_dim}); pass units as a list ending in {embedding_dim}, "
            f"e.g. units={[*per_layer[:-1], embedding_dim]}."
        )

    def regularizer():
        return keras.regularizers.L2(l2) if l2 > 0.0 else None

    # Embedding.
    if stateful:
        ids = keras.Input(batch_shape=(batch_size, seq_len), dtype="int32", name="ids")
    else:
        ids = keras.Input(shape=(seq_len,), batch_size=batch_size, dtype="int32", name="ids")
    if embedding_dropout > 0.0 or tie_weights:
        embedding = EmbeddingDropout(
            vocab_size, embedding_dim, rate=embedding_dropout, mask_zero=mask_zero,
            embeddings_regularizer=regularizer(), logits_bias=tie_weights,
            reverse_dtype="float32", seed=_seed_for(seed, 0), name="embedding",
        )
    else:
        embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=mask_zero,
            embeddings_regularizer=regularizer(), name="embedding",
        )
    x = embedding(ids)
    if rates["input_dropout"] > 0.0:
        x = _dropout_layer(rates["input_dropout"], variational, _seed_for(seed, 1),
                           "input_dropout")(x)

    # Recurrent layers.
    for index, layer_units in enumerate(per_layer, start=1):
        options = dict(
            units=layer_units, return_sequences=True, stateful=stateful,
            recurrent_dropout=recurrent_dropout, kernel_regularizer=regularizer(),
            recurrent_regularizer=regularizer(), seed=_seed_for(seed, 10 * index),
            name=f"rnn_{index}",
        )
        x = _recurrent_layer(cell, layer_norm, weight_drop, zoneout, fused_lstm, options)(x)
        if layer_norm == "output":
            x = keras.layers.LayerNormalization(name=f"layer_norm_{index}")(x)
        last = index == len(per_layer)
        if not last and rates["hidden_dropout"] > 0.0:
            x = _dropout_layer(rates["hidden_dropout"], variational,
                               _seed_for(seed, 10 * index + 1), f"hidden_dropout_{index}")(x)

    # Activation penalties around the output dropout, then the softmax layer.
    if tar > 0.0:
        x = ActivationRegularization(beta=tar, name="tar")(x)
    if rates["output_dropout"] > 0.0:
        x = _dropout_layer(rates["output_dropout"], variational, _seed_for(seed, 2),
                           "output_dropout")(x)
    if ar > 0.0:
        x = ActivationRegularization(alpha=ar, name="ar")(x)
    if tie_weights:
        x = embedding(x, reverse=True)
    else:
        # float32 even under mixed precision: bfloat16 logits lose the small probabilities.
        x = keras.layers.Dense(vocab_size, kernel_regularizer=regularizer(), dtype="float32",
                               name="softmax")(x)
    activation = "linear" if output == "logits" else "softmax"
    outputs = keras.layers.Activation(activation, dtype="float32", name=output)(x)
    return keras.Model(ids, outputs, name=name)


# --------------------------------------------------------------------------------------------
# Reading a model back
# --------------------------------------------------------------------------------------------


def _layers_by_name(model):
    return {layer.name: layer for layer in model.layers}


def _l2_of(layer, attribute):
    reg = getattr(layer, attribute, None)
    return float(reg.l2) if isinstance(reg, keras.regularizers.L2) else 0.0


def describe(model, as_text=False):
    """The switches of a model built by `build_language_model`, read back from its layers.

    Works on a freshly built model and on one loaded from a `.keras` file. The dictionary holds
    the keyword arguments of `build_language_model` (all but `seed` and `name`), so
    `build_language_model(**describe(model))` rebuilds the same architecture with new weights.
    With `as_text=True` it returns a one-line summary of only the active regularizers, for
    ablation tables (`"none"` for an unregularized model).

    Args:
        model: A model built by `build_language_model`.
        as_text: Boolean; return the short text instead of the dictionary.

    Returns:
        A dict of keyword arguments, or a string.

    Example:

    >>> model = build_language_model(30, embedding_dim=8, units=[16, 8], tie_weights=True,
    ...                              variational=True, dropout=0.3, weight_drop=0.5)
    >>> describe(model)["units"]
    [16, 8]
    >>> describe(model, as_text=True)
    'dropout 0.3 (per sequence) + weight drop 0.5 + tied weights'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: {type(model).__name__}")
    layers = _layers_by_name(model)
    rnns = [layers[f"rnn_{i}"] for i in range(1, len(layers) + 1) if f"rnn_{i}" in layers]
    if "embedding" not in layers or not rnns or not ({"logits", "probabilities"} & set(layers)):
        raise ValueError(
            "`model` was not built by regkeras.build_language_model (it lacks the 'embedding', "
            "'rnn_1' or 'logits' layers)."
        )
    embedding = layers["embedding"]
    first = rnns[0]
    kind = type(first).__name__
    cell = {"GRU": "gru", "SimpleRNN": "rnn"}.get(kind, "lstm")

    def rate(layer_name):
        layer = layers.get(layer_name)
        return float(layer.rate) if layer is not None else 0.0

    input_rate = rate("input_dropout")
    hidden_rate = rate("hidden_dropout_1") if len(rnns) > 1 else None
    output_rate = rate("output_dropout")
    present = [r for r in (input_rate, hidden_rate, output_rate) if r is not None]
    nonzero = [r for r in present if r > 0.0]
    dropout = nonzero[0] if nonzero and all(r == nonzero[0] for r in present) else 0.0
    dropout_layers = [layer for key, layer in layers.items() if key.endswith("_dropout")
                      or key.startswith("hidden_dropout_")]
    variational = any(isinstance(layer, LockedDropout) for layer in dropout_layers)

    weight_drop = 0.0
    zoneout = 0.0
    layer_norm = "output" if "layer_norm_1" in layers else None
    if isinstance(first, LayerNormLSTM):
        layer_norm = "cell"
    if isinstance(first, WeightDropLSTM):
        weight_drop = float(first.weight_dropout)
    if isinstance(first, ZoneoutLSTM):
        pair = (float(first.cell.zoneout_c), float(first.cell.zoneout_h))
        zoneout = pair[0] if pair[0] == pair[1] else pair

    batch_shape = model.inputs[0].shape
    stateful = bool(getattr(first, "stateful", False))
    config = {
        "vocab_size": int(embedding.input_dim),
        "embedding_dim": int(embedding.output_dim),
        "units": [int(layer.units) for layer in rnns],
        "num_layers": len(rnns),
        "cell": cell,
        "dropout": dropout,
        "input_dropout": None if input_rate == dropout else input_rate,
        "hidden_dropout": None if hidden_rate in (None, dropout) else hidden_rate,
        "output_dropout": None if output_rate == dropout else output_rate,
        "variational": variational,
        "recurrent_dropout": float(first.cell.recurrent_dropout),
        "weight_drop": weight_drop,
        "embedding_dropout": float(getattr(embedding, "rate", 0.0)),
        "layer_norm": layer_norm,
        "zoneout": zoneout,
        "ar": float(layers["ar"].alpha) if "ar" in layers else 0.0,
        "tar": float(layers["tar"].beta) if "tar" in layers else 0.0,
        "tie_weights": "softmax" not in layers,
        "l2": _l2_of(embedding, "embeddings_regularizer"),
        "stateful": stateful,
        "batch_size": batch_shape[0],
        "seq_len": batch_shape[1],
        "mask_zero": bool(embedding.mask_zero),
        "output": "probabilities" if "probabilities" in layers else "logits",
        # Which layer a plain LSTM is; "auto" where the switches chose another layer.
        "fused_lstm": {ProjectedLSTM: True, keras.layers.LSTM: False}.get(type(first), "auto"),
    }
    return _as_text(config) if as_text else config


def _number(value):
    return f"{value:g}"


def _as_text(config):
    parts = []
    rates = [config["dropout"], config["input_dropout"], config["hidden_dropout"],
             config["output_dropout"]]
    if any(rates):
        kind = "per sequence" if config["variational"] else "per step"
        if config["input_dropout"] is None and config["hidden_dropout"] is None and (
                config["output_dropout"] is None):
            parts.append(f"dropout {_number(config['dropout'])} ({kind})")
        else:
            base = config["dropout"]
            triple = [base if r is None else r for r in rates[1:]]
            parts.append("dropout in/hidden/out " + "/".join(_number(r) for r in triple)
                         + f" ({kind})")
    if config["recurrent_dropout"]:
        parts.append(f"recurrent dropout {_number(config['recurrent_dropout'])}")
    if config["weight_drop"]:
        parts.append(f"weight drop {_number(config['weight_drop'])}")
    if config["embedding_dropout"]:
        parts.append(f"embedding dropout {_number(config['embedding_dropout'])}")
    if config["layer_norm"]:
        parts.append(f"layer norm ({config['layer_norm']})")
    zoneout = config["zoneout"]
    if zoneout:
        text = "/".join(_number(z) for z in zoneout) if isinstance(zoneout, tuple) else (
            _number(zoneout))
        parts.append(f"zoneout {text}")
    if config["ar"]:
        parts.append(f"AR {_number(config['ar'])}")
    if config["tar"]:
        parts.append(f"TAR {_number(config['tar'])}")
    if config["l2"]:
        parts.append(f"L2 {_number(config['l2'])}")
    if config["tie_weights"]:
        parts.append("tied weights")
    return " + ".join(parts) if parts else "none"


def reset_states(model):
    """Reset the state of every stateful recurrent layer of `model` to zeros.

    Keras 3 models have no `reset_states`; a stateful language model (Zaremba's truncated BPTT)
    needs one at the start of every epoch and before generating from a new prompt.

    Args:
        model: A `keras.Model` (or layer) containing recurrent layers.

    Returns:
        The number of layers reset.

    Example:

    >>> model = build_language_model(20, embedding_dim=8, units=8, stateful=True, batch_size=2)
    >>> reset_states(model)
    2
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"`model` must be a Keras model or layer. Received: {type(model).__name__}")
    count = 0
    pending = [model]
    while pending:
        layer = pending.pop()
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
            layer.reset_states()
            count += 1
        if isinstance(layer, keras.Model):
            pending.extend(layer.layers)
    return count
