"""Recurrent language models with a switch for every regularizer of the course.

`build_language_model` turns the course notes' sketch (`DropoutLSTM(vocab_size, hidden_size,
dropout=0.5)`, then `LayerNormLSTM(model)`) into one plain functional Keras model:

    ids -> embedding -> [dropout] -> N x (recurrent layer -> [dropout]) -> logits

Every regularizer is a keyword argument, so an ablation is a loop over keyword dictionaries.
The arguments are checked and kept as one `regkeras.LanguageModelSpec`; the model is a
`LanguageModel`, which keeps that spec (`model.spec`) and saves it in its `.keras` file, so
`describe(model)` reads the switches back from the spec, for the tables that compare them.
"""

import warnings

import keras
import numpy as np

from regkeras.dropout import EmbeddingDropout, LockedDropout, check_eager_token_ids
from regkeras.normalization import LayerNormLSTM
from regkeras.recurrent import ProjectedLSTM, WeightDropLSTM, ZoneoutLSTM
from regkeras.regularizers import ActivationRegularization
from regkeras.spec import LanguageModelSpec, former_zoneout
from regkeras.validation import described, message

__all__ = ["LanguageModel", "build_language_model", "describe", "reset_states"]


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


def _recurrent_layer(spec, options):
    """One recurrent layer returning sequences; `options` holds the shared LSTM arguments.

    Every regkeras LSTM takes every regularizer of the recurrence (`weight_dropout`,
    `zoneout_c`/`zoneout_h`) on one engine, so the class only names the cell: layer-normalized
    or plain. The named classes are kept for what the layer mainly does (and for the names in
    saved models): `ZoneoutLSTM` when zoneout is on, `WeightDropLSTM` for weight drop alone.
    """
    if spec.cell == "gru":
        return keras.layers.GRU(**options)
    if spec.cell == "rnn":
        return keras.layers.SimpleRNN(**options)
    recurrence = {}
    if spec.weight_dropout > 0.0:
        recurrence["weight_dropout"] = spec.weight_dropout
    if spec.has_zoneout:
        recurrence["zoneout_c"], recurrence["zoneout_h"] = spec.zoneout_c, spec.zoneout_h
    if spec.layer_norm == "cell":
        return LayerNormLSTM(**options, **recurrence)
    if "zoneout_c" in recurrence:
        return ZoneoutLSTM(**options, **recurrence)
    if "weight_dropout" in recurrence:
        return WeightDropLSTM(**options, **recurrence)
    return (ProjectedLSTM if spec.fused_lstm else keras.layers.LSTM)(**options)


def _former_arguments(former, weight_dropout, zoneout_c, zoneout_h):
    """`weight_dropout, zoneout_c, zoneout_h`, or the values given under the arguments' former
    names (`weight_drop`, `zoneout`), each with a DeprecationWarning at the user's call."""
    former = dict(former)
    if "weight_drop" in former:
        warnings.warn("`weight_drop` is now called `weight_dropout`; `weight_drop` will be "
                      "removed.", DeprecationWarning, stacklevel=3)
        weight_dropout = former.pop("weight_drop")
    if "zoneout" in former:
        zoneout_c, zoneout_h = former_zoneout(former.pop("zoneout"), zoneout_c, zoneout_h,
                                              stacklevel=3)
    if former:
        raise TypeError(f"build_language_model() got unexpected keyword argument(s) "
                        f"{sorted(former)}")
    return weight_dropout, zoneout_c, zoneout_h


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
    weight_dropout=0.0,
    embedding_dropout=0.0,
    layer_norm=None,
    zoneout_c=0.0,
    zoneout_h=0.0,
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
    **former,
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
    * `weight_dropout` is DropConnect on the hidden-to-hidden matrix (weight drop,
      `regkeras.WeightDropLSTM`, Merity et al. 2017), one mask per batch; `embedding_dropout` drops whole words
      (`regkeras.EmbeddingDropout`).
    * `layer_norm="cell"` uses Ba et al.'s layer-normalized LSTM cell (`regkeras.LayerNormLSTM`);
      `layer_norm="output"` keeps the recurrent layer and normalizes its output sequence with
      `keras.layers.LayerNormalization` (the course notes' "layer norm before the LSTM output",
      as in `regkeras.lstm_with_output_norm`; it does not touch the recurrence).
    * `zoneout_c` / `zoneout_h` (Krueger et al. 2016, `regkeras.ZoneoutLSTM`): the zoneout
      rates of the cell and of the hidden state, as the layers call them; the paper's
      character-level setting is `zoneout_c=0.5, zoneout_h=0.05`.
    * `ar` / `tar` add Merity et al.'s activation penalties on the last recurrent layer
      (`regkeras.ActivationRegularization`): AR on its dropped output, TAR on its raw output.
    * `l2` is coupled L2 (`keras.regularizers.L2(l2)`, i.e. `l2 * sum(w ** 2)` added to the
      loss) on every weight matrix: embedding, input and recurrent kernels, softmax kernel; not
      on biases or normalization gains. For decoupled weight decay use the optimizer instead.

    Weight drop, a layer-normalized cell and zoneout combine (one engine runs them all in one
    regkeras LSTM layer); all three need `cell="lstm"`.

    Args:
        vocab_size: Positive integer, the number of token ids.
        embedding_dim: Positive integer, the embedding size.
        units: Positive integer (every layer) or a list with one entry per layer.
        num_layers: Number of recurrent layers; default `len(units)` for a list, else 2.
        cell: `"lstm"` (default), `"gru"` or `"rnn"` (`keras.layers.SimpleRNN`).
        dropout: Float in [0, 1), the non-recurrent dropout rate at all three places. It adds
            dropout layers between the layers (Zaremba's placement); it is not a Keras
            recurrent layer's own `dropout=` (dropout of that layer's inputs), which the
            builder leaves at 0.
        input_dropout: Optional rate after the embedding (default: `dropout`).
        hidden_dropout: Optional rate between recurrent layers (default: `dropout`).
        output_dropout: Optional rate before the softmax layer (default: `dropout`).
        variational: Boolean; `True` = one mask per sequence (`LockedDropout`), `False` = a
            fresh mask every step (Zaremba).
        recurrent_dropout: Float in [0, 1), Keras' `recurrent_dropout` of each layer.
        weight_dropout: Float in [0, 1), DropConnect rate on the recurrent kernel (the
            argument of the layers; `weight_drop`, its name before version 0.2, still works
            with a `DeprecationWarning`).
        embedding_dropout: Float in [0, 1), probability of dropping a word's embedding row.
        layer_norm: `None`/`False`, `"cell"` (or `True`) or `"output"`.
        zoneout_c: Float in [0, 1), the probability that a unit of the cell state keeps its
            previous value (`zoneout_c` of the layers).
        zoneout_h: Float in [0, 1), the same for the hidden state. (`zoneout`, their former
            form, a rate for both or a pair `(zoneout_c, zoneout_h)`, still works with a
            `DeprecationWarning`.)
        ar: Non-negative float, AR coefficient (the paper's alpha; AWD-LSTM: 2): the `ar` of
            the `regkeras.ActivationRegularization` layer it adds.
        tar: Non-negative float, TAR coefficient (the paper's beta; AWD-LSTM: 1): that
            layer's `tar`.
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
    weight_dropout, zoneout_c, zoneout_h = _former_arguments(former, weight_dropout, zoneout_c,
                                                             zoneout_h)
    spec = LanguageModelSpec(
        vocab_size, embedding_dim=embedding_dim, units=units, num_layers=num_layers, cell=cell,
        dropout=dropout, input_dropout=input_dropout, hidden_dropout=hidden_dropout,
        output_dropout=output_dropout, variational=variational,
        recurrent_dropout=recurrent_dropout, weight_dropout=weight_dropout,
        embedding_dropout=embedding_dropout, layer_norm=layer_norm, zoneout_c=zoneout_c,
        zoneout_h=zoneout_h, ar=ar, tar=tar, tie_weights=tie_weights, l2=l2, stateful=stateful,
        batch_size=batch_size, seq_len=seq_len, mask_zero=mask_zero, output=output,
        fused_lstm=fused_lstm, seed=seed, name=name,
    )
    return LanguageModel(spec)


@keras.saving.register_keras_serializable(package="regkeras")
class LanguageModel(keras.Model):
    """The functional Keras model a `LanguageModelSpec` describes; it keeps and saves the spec.

    An ordinary functional model (its layers, `summary()`, `fit`, `save` are Keras'), whose
    `get_config()` is its spec: loading a `.keras` file rebuilds the model from the spec and
    then loads the weights, and `model.spec` answers what the model is, with no guessing from
    layer names. Build it with `build_language_model(...)` or `LanguageModelSpec(...).build()`.

    Args:
        spec: A `regkeras.LanguageModelSpec` (or its `to_config()` dict).
        **kwargs: `trainable` (and, for Keras' own use, `name`, which must match the spec).

    Example:

    >>> model = LanguageModel(LanguageModelSpec(20, embedding_dim=8, units=8, dropout=0.2))
    >>> model.spec.text()
    'dropout 0.2 (per step)'
    """

    def __init__(self, spec, **kwargs):
        if isinstance(spec, dict):
            spec = LanguageModelSpec.from_config(spec)
        if not isinstance(spec, LanguageModelSpec):
            raise TypeError(message("spec", "a regkeras.LanguageModelSpec", spec))
        kwargs.pop("name", None)  # always the spec's
        trainable = kwargs.pop("trainable", True)
        if kwargs:
            raise TypeError(f"LanguageModel got unexpected arguments {sorted(kwargs)}.")
        # Which layer a plain LSTM is, decided once here ("auto" where a switch chose another
        # layer), so the saved spec rebuilds exactly the layers whose weights were saved.
        spec = spec.replace(fused_lstm=_resolve_fused_lstm(spec))
        ids, outputs = _graph(spec)
        super().__init__(ids, outputs, name=spec.name, trainable=trainable)
        self._spec = spec

    @property
    def spec(self):
        """The `LanguageModelSpec` this model was built from (`fused_lstm` resolved)."""
        return self._spec

    # Arrays of token ids given to fit/evaluate/predict are checked once, before Keras sees
    # them: float or NaN labels, negative ids or ids past the vocabulary otherwise end in an
    # obscure TensorFlow error inside the first step (or are truncated silently). Datasets
    # are not read ahead; regkeras' own pipelines check their ids when they are made.
    def fit(self, x=None, y=None, *args, **kwargs):
        arrays = {"x": x, "y": y}
        validation = kwargs.get("validation_data")
        if isinstance(validation, tuple) and len(validation) >= 2:
            arrays.update({"validation_data[0]": validation[0],
                           "validation_data[1]": validation[1]})
        self._check_token_arrays(arrays)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_token_arrays({"x": x, "y": y})
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_token_arrays({"x": x})
        return super().predict(x, *args, **kwargs)

    def call(self, inputs, training=None, mask=None, **kwargs):
        # Static shape and eager values only: nothing is added to a compiled step.
        if hasattr(inputs, "shape"):  # one tensor (not Keras' list or dict of one)
            shape = tuple(inputs.shape)
            if len(shape) != len(self.inputs[0].shape) or (len(shape) >= 2 and shape[1] == 0):
                raise ValueError(message("inputs", "token ids of the model's input shape "
                                         "(batch, time), with at least one time step",
                                         described(f"shape {shape}")))
            check_eager_token_ids("inputs", inputs, self._spec.vocab_size, training)
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def _check_token_arrays(self, arrays):
        from regkeras.data import check_token_ids  # data imports this module

        rank = len(self.inputs[0].shape)
        for name, value in arrays.items():
            if isinstance(value, np.ndarray):
                check_token_ids(name, value, self._spec.vocab_size, ndim=rank)

    def get_config(self):
        return {"spec": self._spec.to_config(), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        return cls(LanguageModelSpec.from_config(config.pop("spec")), **config)


def _resolve_fused_lstm(spec):
    if not spec.plain_lstm:
        return "auto"
    if spec.fused_lstm == "auto":
        return not _gpu_available()
    return spec.fused_lstm


def _graph(spec):
    """The functional graph of `spec`: (ids input, logits or probabilities output)."""
    seed = spec.seed

    def regularizer():
        return keras.regularizers.L2(spec.l2) if spec.l2 > 0.0 else None

    # Embedding.
    if spec.stateful:
        ids = keras.Input(batch_shape=(spec.batch_size, spec.seq_len), dtype="int32", name="ids")
    else:
        ids = keras.Input(shape=(spec.seq_len,), batch_size=spec.batch_size, dtype="int32",
                          name="ids")
    if spec.embedding_dropout > 0.0 or spec.tie_weights:
        embedding = EmbeddingDropout(
            spec.vocab_size, spec.embedding_dim, rate=spec.embedding_dropout,
            mask_zero=spec.mask_zero, embeddings_regularizer=regularizer(),
            logits_bias=spec.tie_weights, reverse_dtype="float32", seed=_seed_for(seed, 0),
            name="embedding",
        )
    else:
        embedding = keras.layers.Embedding(
            spec.vocab_size, spec.embedding_dim, mask_zero=spec.mask_zero,
            embeddings_regularizer=regularizer(), name="embedding",
        )
    x = embedding(ids)
    if spec.rate("input") > 0.0:
        x = _dropout_layer(spec.rate("input"), spec.variational, _seed_for(seed, 1),
                           "input_dropout")(x)

    # Recurrent layers.
    for index, layer_units in enumerate(spec.units, start=1):
        options = dict(
            units=layer_units, return_sequences=True, stateful=spec.stateful,
            recurrent_dropout=spec.recurrent_dropout, kernel_regularizer=regularizer(),
            recurrent_regularizer=regularizer(), seed=_seed_for(seed, 10 * index),
            name=f"rnn_{index}",
        )
        x = _recurrent_layer(spec, options)(x)
        if spec.layer_norm == "output":
            x = keras.layers.LayerNormalization(name=f"layer_norm_{index}")(x)
        last = index == spec.num_layers
        if not last and spec.rate("hidden") > 0.0:
            x = _dropout_layer(spec.rate("hidden"), spec.variational,
                               _seed_for(seed, 10 * index + 1), f"hidden_dropout_{index}")(x)

    # Activation penalties around the output dropout, then the softmax layer.
    if spec.tar > 0.0:
        x = ActivationRegularization(tar=spec.tar, name="tar")(x)
    if spec.rate("output") > 0.0:
        x = _dropout_layer(spec.rate("output"), spec.variational, _seed_for(seed, 2),
                           "output_dropout")(x)
    if spec.ar > 0.0:
        x = ActivationRegularization(ar=spec.ar, name="ar")(x)
    if spec.tie_weights:
        x = embedding(x, reverse=True)
    else:
        # float32 even under mixed precision: bfloat16 logits lose the small probabilities.
        x = keras.layers.Dense(spec.vocab_size, kernel_regularizer=regularizer(),
                               dtype="float32", name="softmax")(x)
    activation = "linear" if spec.output == "logits" else "softmax"
    outputs = keras.layers.Activation(activation, dtype="float32", name=spec.output)(x)
    return ids, outputs


# --------------------------------------------------------------------------------------------
# Reading a model back
# --------------------------------------------------------------------------------------------


def _layers_by_name(model):
    return {layer.name: layer for layer in model.layers}


def _l2_of(layer, attribute):
    reg = getattr(layer, attribute, None)
    return float(reg.l2) if isinstance(reg, keras.regularizers.L2) else 0.0


def describe(model, as_text=False):
    """The switches of a model built by `build_language_model`.

    Works on a freshly built model and on one loaded from a `.keras` file. The dictionary holds
    the keyword arguments of `build_language_model` (all but `seed` and `name`), so
    `build_language_model(**describe(model))` rebuilds the same architecture with new weights.
    With `as_text=True` it returns a one-line summary of only the active regularizers, for
    ablation tables (`"none"` for an unregularized model). A `LanguageModel` answers from its
    `spec`; a functional model saved by regkeras 0.1 (before the spec existed) is read from its
    layers.

    Args:
        model: A model built by `build_language_model`.
        as_text: Boolean; return the short text instead of the dictionary.

    Returns:
        A dict of keyword arguments, or a string.

    Example:

    >>> model = build_language_model(30, embedding_dim=8, units=[16, 8], tie_weights=True,
    ...                              variational=True, dropout=0.3, weight_dropout=0.5)
    >>> describe(model)["units"]
    [16, 8]
    >>> describe(model, as_text=True)
    'dropout 0.3 (per sequence) + weight drop 0.5 + tied weights'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(message("model", "a keras.Model", model))
    if not isinstance(as_text, bool):
        raise TypeError(message("as_text", "True or False", as_text))
    spec = model.spec if isinstance(model, LanguageModel) else _spec_from_layers(model)
    if as_text:
        return spec.text()
    kwargs = spec.builder_kwargs()
    del kwargs["seed"], kwargs["name"]
    return kwargs


def _spec_from_layers(model):
    """The spec of a functional model saved by regkeras 0.1, read back from its layer names."""
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

    layer_norm = "output" if "layer_norm_1" in layers else None
    if isinstance(first, LayerNormLSTM):
        layer_norm = "cell"
    weight_dropout = float(getattr(first, "weight_dropout", 0.0))
    zoneout_c, zoneout_h = (float(getattr(first.cell, key, 0.0))
                            for key in ("zoneout_c", "zoneout_h"))

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
        "weight_dropout": weight_dropout,
        "embedding_dropout": float(getattr(embedding, "rate", 0.0)),
        "layer_norm": layer_norm,
        "zoneout_c": zoneout_c,
        "zoneout_h": zoneout_h,
        "ar": float(layers["ar"].ar) if "ar" in layers else 0.0,
        "tar": float(layers["tar"].tar) if "tar" in layers else 0.0,
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
    return LanguageModelSpec(**config, name=model.name)


def output_width(model):
    """The size of a single-output model's last axis (its vocabulary), or None if unknown."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    if not outputs or len(outputs) != 1:
        return None
    return outputs[0].shape[-1]


def token_id_limit(model):
    """How many token ids `model` reads: its embedding's `input_dim` (the spec's vocabulary
    for a `LanguageModel`), else its output width; None if neither is known."""
    if isinstance(model, LanguageModel):
        return model.spec.vocab_size
    for layer in getattr(model, "layers", []):
        if isinstance(layer, (keras.layers.Embedding, EmbeddingDropout)):
            return layer.input_dim
    return output_width(model)


def check_model_vocabulary(name, model, vocab_size):
    """Raises ValueError (naming `name`) unless `model` predicts `vocab_size` tokens.

    For every function that takes a model with a vocabulary (or a vocabulary size): a model
    of another vocabulary would fail deep inside TensorFlow or, worse, run and give garbage.
    A model whose width cannot be read is let through.
    """
    width = output_width(model)
    if width is not None and width != vocab_size:
        raise ValueError(message(name, f"a model of the vocabulary's size ({vocab_size} tokens)",
                                 described(f"a model predicting {width} tokens")))
    return model


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
        raise TypeError(message("model", "a Keras model or layer", model))
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
