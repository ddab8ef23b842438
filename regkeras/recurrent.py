"""The regkeras LSTM cells and layers: one engine, every regularizer of the recurrence.

Every LSTM in regkeras (these and `regkeras.LayerNormLSTM`) computes its step with
`regkeras.engine`, and every one of them takes every regularizer of the recurrence: dropout
and recurrent dropout (Keras' arguments), `weight_dropout` (DropConnect on `U`, one mask per
call), `zoneout_c`/`zoneout_h` (zoneout, fresh masks per step), on top of padding masks.
`WeightDropLSTM` and `ZoneoutLSTM` are `ProjectedLSTM` with those regularizers on by default;
`LayerNormLSTM(units, weight_dropout=0.5, zoneout_c=0.1)` combines all three.

An LSTM step computes ``x_t·W + h_{t-1}·U``; only the second half depends on the previous
step. So the layer first projects the whole sequence at once, one ``[T·B, D] × [D, 4U]``
matmul, and the time loop then does only ``h·U``, the gates and the state update.
`keras.layers.LSTM` on CPU computes ``x_t·W`` inside every step instead. A cell therefore comes
in two halves (`ProjectedLSTMCell`):

- ``project_inputs(inputs)``: input dropout and ``x·W``, for one step or a whole sequence;
- ``recurrent_step(z, states)``: everything that needs ``h_{t-1}``: the engine's step with the
  cell's ``step_weights`` (`U` or weight drop's masked `U`, the bias or the norm vectors, the
  recurrent-dropout mask) and ``keep_weights`` (zoneout).

``call`` chains the two, so each cell is also an ordinary Keras RNN cell
(``keras.layers.RNN(ZoneoutLSTMCell(32))``). Random draws that must stay fixed for a whole
sequence (the DropConnect mask) or that are needed at every step (zoneout masks) are made once
per call, outside the loop (``ProjectedLSTM.draw_per_call``), which keeps the loop free of
random-number state.

By default (``fused="auto"``) the layers run the whole sequence with
`regkeras.engine.lstm_sequence`, whose hand-written backward pass computes the weight gradients
from the whole sequence in a few large products, as fused LSTM kernels do; step by step
(``fused=False``) each step uses the same forward and backward (`lstm_step_with_gradient`).
The tests check both against automatic differentiation of the equations, NumPy references,
finite differences and `keras.layers.LSTM`.
"""

import inspect

import keras
from keras import ops

# keras.layers.RNN runs its time loop with the backend's `rnn` function and makes the dropout
# masks of its cells with the `DropoutRNNCell` mixin (one mask per sequence, reused at every
# step). Keras exports neither, so we import them from where keras.layers.LSTM does.
from keras.src.backend import rnn as _backend_rnn
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from .engine import NORM_VECTORS, _as_tensor, lstm_sequence, lstm_step, lstm_step_with_gradient
from .validation import (
    check_bool,
    check_choice,
    check_positive_int,
    check_rate,
    check_seed,
    described,
    message,
)

__all__ = [
    "ProjectedLSTMCell",
    "ProjectedLSTM",
    "WeightDropLSTM",
    "ZoneoutLSTMCell",
    "ZoneoutLSTM",
]

# Arguments of keras.layers.LSTMCell other than `units`: a regkeras LSTM layer hands these to
# its cell and keeps the rest (return_sequences, stateful, name, ...) for keras.layers.RNN.
LSTM_CELL_ARGS = (
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unit_forget_bias",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
)


# The zoneout rates every regkeras LSTM cell takes (0 by default).
ZONEOUT_ARGS = ("zoneout_c", "zoneout_h")


def _declares_fused_sequence(cls):
    """Whether the class that defines `cls.recurrent_step` declares `supports_fused_sequence`.

    Looked up on that class itself, not inherited: a subclass that changes the step must say
    that its `fused_sequence` computes the new step. (`fused_recurrent_step = recurrent_step`,
    the older form of the declaration, is still understood.)
    """
    for klass in cls.__mro__:
        own = vars(klass)
        if "recurrent_step" in own:
            return bool(own.get("supports_fused_sequence", False)) or (
                own.get("fused_recurrent_step") is own["recurrent_step"])
    return False


def _accepts(function, name):
    """Whether `function` takes a keyword argument `name` (or any, through `**kwargs`)."""
    parameters = inspect.signature(function).parameters.values()
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


def reverse_time(x):
    """`x` reversed along its first (time) axis; None and scalars unchanged."""
    if x is None or len(x.shape) == 0:
        return x
    return ops.flip(x, axis=0)


def pop_cell_kwargs(kwargs, names=LSTM_CELL_ARGS):
    """Moves the cell's arguments out of a layer's `kwargs` (in place) into a new dict."""
    return {name: kwargs.pop(name) for name in names if name in kwargs}


@keras.saving.register_keras_serializable(package="regkeras")
class ProjectedLSTMCell(keras.layers.Layer, DropoutRNNCell):
    """LSTM cell split into an input projection and a recurrent step (Hochreiter 1997).

    The equations, weights and weight layout (`kernel`, `recurrent_kernel`, `bias`, gates in
    the order i, f, c, o) are those of `keras.layers.LSTMCell`, so `set_weights` works across
    the two. `project_inputs` holds the part of a step that does not need the previous state,
    so that `ProjectedLSTM` can run it on a whole sequence at once; `recurrent_step` holds the
    rest. Subclasses change one half or the other.

    Standalone: copy `recurrent.py`, `engine.py`, `validation.py` from `regkeras/` into one
    package folder of your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        units: Positive integer, size of the hidden and cell states.
        activation: Activation of the candidate and of the cell state. Default `"tanh"`.
        recurrent_activation: Activation of the gates. Default `"sigmoid"`.
        use_bias: Whether to add a bias. Default `True`.
        kernel_initializer, recurrent_initializer, bias_initializer: Initializers of `W`
            (`(input_dim, 4 * units)`), `U` (`(units, 4 * units)`) and the bias.
        unit_forget_bias: Add 1 to the forget gate's bias at initialization. Default `True`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Weight regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Weight constraints.
        dropout: Float in [0, 1), fraction of the inputs dropped; one mask per sequence.
        recurrent_dropout: Float in [0, 1), fraction of `h_{t-1}` dropped before `U`; one
            mask per sequence (Gal & Ghahramani 2016).
        seed: Integer seed for the cell's random draws.
        zoneout_c, zoneout_h: Floats in [0, 1), zoneout rates of the cell and hidden states
            (Krueger et al. 2016; see `ZoneoutLSTMCell`). Default 0: no zoneout.

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: List `[h, c]` of two `(batch, units)` tensors.
        training: Python boolean; dropout applies only when `True`.

    Returns:
        `(h, [h, c])`: the output and the new states.

    Example:

    >>> rnn = keras.layers.RNN(ProjectedLSTMCell(4), return_sequences=True)
    >>> tuple(rnn(np.zeros((2, 3, 5))).shape)
    (2, 3, 4)
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        zoneout_c=0.0,
        zoneout_h=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.unit_forget_bias = check_bool("unit_forget_bias", unit_forget_bias)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.zoneout_c = check_rate("zoneout_c", zoneout_c)
        self.zoneout_h = check_rate("zoneout_h", zoneout_h)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, 4 * self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            autocast=False,  # cast by `project_inputs` (see `recurrence_dtype`)
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(self.units, 4 * self.units),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
            autocast=False,  # the recurrence runs in `recurrence_dtype`
        )
        self.bias = None
        if self.use_bias:
            bias_initializer = self.bias_initializer
            if self.unit_forget_bias:
                units, base = self.units, self.bias_initializer

                def bias_initializer(shape, dtype=None):
                    # i and c, o gates from the user's initializer, forget gate starts at 1.
                    return ops.concatenate(
                        [
                            base((units,), dtype=dtype),
                            ops.ones((units,), dtype=dtype),
                            base((2 * units,), dtype=dtype),
                        ]
                    )

            self.bias = self.add_weight(
                name="bias",
                shape=(4 * self.units,),
                initializer=bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
                autocast=False,
            )

    def project_inputs(self, inputs, training=False):
        """`dropout(x)·W` for one step `(batch, D)` or a time-major sequence `(T, batch, D)`.

        The input-dropout mask has shape `(batch, D)`, so on a sequence it broadcasts over
        time: the same units are dropped at every step. (`keras.layers.RNN` makes the mask
        from the first step before the loop starts and clears it afterwards.) The bias is
        added inside the step, as keras.layers.LSTMCell does: on the small per-step tensor
        that is cheaper than one more pass over the large `(T, batch, 4·units)` result, and
        it keeps Keras' order of summation, `(x·W + h·U) + b`.
        """
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        return ops.matmul(inputs, ops.cast(self.kernel, self.compute_dtype))

    @property
    def recurrence_dtype(self):
        """The dtype the recurrence runs in: float32 under float16/bfloat16 compute dtypes.

        Under mixed precision (`"mixed_bfloat16"`, `"mixed_float16"`) the large products run
        in the low-precision compute dtype: `x·W` for the whole sequence, its gradients for
        `x` and `W`, and `dU` from the whole sequence (see `regkeras.engine.lstm_sequence`).
        The time loop keeps `h`, `c`, `U`, the gates and the norm statistics in float32: its
        products are small (`(batch, units) × (units, 4·units)`), compiled loops on CPUs run
        low precision slower (XLA converts element by element), and a low-precision state
        loses small updates over long sequences. The outputs and states the layer returns are
        in the compute dtype again. (docs/architecture.md, "Mixed precision", has the
        measurements.)
        """
        dtype = keras.backend.standardize_dtype(self.compute_dtype)
        return "float32" if dtype in ("float16", "bfloat16") else dtype

    def step_weights(self, h, training=False, recurrent_kernel=None):
        """The weights of the engine's step (`regkeras.engine`), made once per call.

        `U` (or `recurrent_kernel` when given: weight drop passes its masked matrix), the
        bias, and in training the recurrent-dropout mask for `h` (one per sequence). Read
        here, once, rather than inside the time loop: a variable used inside the loop is
        read, and its value kept for the backward pass, at every step.
        """
        dtype = self.recurrence_dtype
        kernel = self.recurrent_kernel if recurrent_kernel is None else recurrent_kernel
        weights = {"kernel": ops.cast(_as_tensor(kernel), dtype)}
        if self.use_bias:
            weights["bias"] = ops.cast(ops.copy(self.bias), dtype)
        if training and self.recurrent_dropout > 0:
            # Made from h in the recurrence's dtype: 1 / (1 - rate) exact to float32.
            weights["recurrent_mask"] = self.get_recurrent_dropout_mask(ops.cast(h, dtype))
        return weights

    def sample_zoneout_masks(self, shape):
        """Boolean keep-masks `(keep_c, keep_h)` of shape `shape + (units,)`.

        `True` means the unit keeps its old value; it is `True` with probability `zoneout_c`
        (resp. `zoneout_h`).
        """
        shape = tuple(shape) + (self.units,)
        keep_c = keras.random.uniform(shape, seed=self.seed_generator) < self.zoneout_c
        keep_h = keras.random.uniform(shape, seed=self.seed_generator) < self.zoneout_h
        return keep_c, keep_h

    def keep_weights(self, keep_c=None, keep_h=None):
        """The engine's keep weights `(k_c, k_h)` for zoneout.

        Given masks (training: `sample_zoneout_masks`, True = keep the old value) become 0/1
        weights; without them a step uses the expectation, the zoneout rate itself
        (`z · old + (1 - z) · new`); None where the rate is 0 (always the new state).
        """
        weights = []
        for mask, rate in ((keep_c, self.zoneout_c), (keep_h, self.zoneout_h)):
            if rate == 0:
                weights.append(None)
            elif mask is not None:
                weights.append(ops.cast(mask, self.recurrence_dtype))
            else:
                weights.append(ops.convert_to_tensor(rate, dtype=self.recurrence_dtype))
        return tuple(weights)

    def fused_keep_weights(self, per_step, training=False):
        """`keep_weights` of the per-step draws of `ProjectedLSTM.draw_per_call` (older name)."""
        return self.keep_weights(per_step.get("keep_c"), per_step.get("keep_h"))

    def uses_engine_gradient(self):
        """Whether the engine's hand-written backward applies (sigmoid gates, tanh)."""
        return (self.activation is keras.activations.tanh
                and self.recurrent_activation is keras.activations.sigmoid)

    def recurrent_step(
        self, z, states, training=False, recurrent_kernel=None, keep_c=None, keep_h=None,
        weights=None,
    ):
        """One step from the projected input `z` (`(batch, 4·units)`) and `states = [h, c]`.

        The engine's step (`regkeras.engine.lstm_step`) with this cell's weights:
        `recurrent_kernel`, when given, replaces `U` for this step (weight drop passes the
        masked matrix here); `keep_c`, `keep_h` are zoneout's boolean keep masks (training),
        without which a cell with zoneout uses its expectation; `weights`, when given, is
        `step_weights(...)` made once per call by the layer.
        """
        z, h_tm1, c_tm1 = (ops.cast(x, self.recurrence_dtype) for x in (z, *states))
        if weights is None:
            weights = self.step_weights(h_tm1, training, recurrent_kernel)
        keep_c, keep_h = self.keep_weights(keep_c, keep_h)
        if self.uses_engine_gradient():
            h, c = lstm_step_with_gradient(z, h_tm1, c_tm1, weights, keep_c, keep_h)
        else:  # other activations: automatic differentiation of the same forward step
            h, c = lstm_step(z, h_tm1, c_tm1, weights, keep_c, keep_h,
                             self.activation, self.recurrent_activation)
        # Back to the dtype the states came in: the layers start their loop in the
        # recurrence's dtype, keras.layers.RNN(cell) in the compute dtype.
        h, c = ops.cast(h, states[0].dtype), ops.cast(c, states[1].dtype)
        return h, [h, c]

    # This class's `fused_sequence` computes exactly its `recurrent_step`: the explicit
    # declaration that a class writing its own `recurrent_step` must repeat (or it runs step
    # by step; see `fused_unsupported_reason`).
    supports_fused_sequence = True

    def call(self, inputs, states, training=False):
        keep_c = keep_h = None
        if training and (self.zoneout_c > 0 or self.zoneout_h > 0):
            if keras.backend.backend() == "jax":
                # Masks drawn inside lax.scan's traced step would silently repeat at every step
                # and every call: refuse rather than train with the wrong regularizer.
                raise NotImplementedError(
                    f"{type(self).__name__} cannot draw fresh zoneout masks per step inside "
                    "keras.layers.RNN on the JAX backend (the step is traced once). Use the "
                    "layer (regkeras.ZoneoutLSTM, LayerNormLSTM, ... with zoneout_c/zoneout_h), "
                    "which draws every step's masks before the loop."
                )
            keep_c, keep_h = self.sample_zoneout_masks(ops.shape(inputs)[:1])
        z = self.project_inputs(inputs, training)
        return self.recurrent_step(z, states, training, keep_c=keep_c, keep_h=keep_h)

    def fused_unsupported_reason(self):
        """Why `fused_sequence` cannot stand in for stepping `recurrent_step`, or None.

        The fused sequence computes the standard equations with sigmoid gates and tanh, and
        only the `recurrent_step` of the class that wrote it: a subclass that overrides
        `recurrent_step` runs step by step unless it also provides `fused_sequence`.
        """
        if self.activation is not keras.activations.tanh:
            return "`activation` is not 'tanh'"
        if self.recurrent_activation is not keras.activations.sigmoid:
            return "`recurrent_activation` is not 'sigmoid'"
        if not _declares_fused_sequence(type(self)):
            return (f"{type(self).__name__} overrides `recurrent_step` without declaring "
                    "`supports_fused_sequence = True` (and a matching `fused_sequence`)")
        return None

    def fused_sequence(
        self, z, states, training=False, recurrent_kernel=None, keep_c=None, keep_h=None,
        weights=None,
    ):
        """Runs `recurrent_step` over a whole time-major sequence, with the fused gradient.

        `z` is `project_inputs` of the sequence, `(T, batch, 4·units)`; `keep_c`, `keep_h`
        are the engine's keep weights (zoneout and padding together, made by the layer);
        `weights` is `step_weights(...)`. Returns `(outputs, h_T, c_T)`, outputs time-major.
        """
        recurrence = self.recurrence_dtype
        h0, c0 = (ops.cast(x, recurrence) for x in states)
        if weights is None:
            weights = self.step_weights(h0, training, recurrent_kernel)
        norm = None
        if "input_gamma" in weights:
            norm = {k: ops.cast(weights[k], recurrence) for k in NORM_VECTORS}
            norm["epsilon"] = weights["epsilon"]
        mask = weights.get("recurrent_mask")
        # z stays in the compute dtype: the engine casts it once for the loop, and returns
        # the outputs and final states in it.
        return lstm_sequence(
            z, h0, c0, ops.cast(weights["kernel"], recurrence),
            weights.get("bias"), None if mask is None else ops.cast(mask, recurrence),
            keep_c, keep_h, layer_norm=norm, save_for_backward=training,
        )

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": ser(self.kernel_initializer),
            "recurrent_initializer": ser(self.recurrent_initializer),
            "bias_initializer": ser(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": ser(self.kernel_regularizer),
            "recurrent_regularizer": ser(self.recurrent_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "kernel_constraint": ser(self.kernel_constraint),
            "recurrent_constraint": ser(self.recurrent_constraint),
            "bias_constraint": ser(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "zoneout_c": self.zoneout_c,
            "zoneout_h": self.zoneout_h,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="regkeras")
class ProjectedLSTM(keras.layers.RNN):
    """Drop-in `keras.layers.LSTM` whose input projection runs outside the time loop.

    The shared fast path of the regkeras LSTMs (Hochreiter 1997 equations). It transposes the
    inputs to time-major, projects every step with one matmul (`cell.project_inputs`), makes
    the per-call random draws (`draw_per_call`), and runs `cell.recurrent_step` with the same
    backend loop as `keras.layers.RNN`, so masking, `go_backwards`, `stateful`, `unroll` and
    initial states behave exactly as in Keras. Used as is, it is a plain LSTM with Keras' weight
    layout: `layer.set_weights(keras_lstm.get_weights())` gives the same outputs.

    Standalone: copy `recurrent.py`, `engine.py`, `validation.py` from `regkeras/` into one
    package folder of your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        units: Positive integer, size of the hidden and cell states.
        return_sequences: Return the whole output sequence instead of the last output.
        return_state: Also return the final states `h` and `c`.
        go_backwards: Process the sequence backwards (and return the reversed sequence).
        stateful: Carry the final states of a batch over as initial states of the next.
        unroll: Unroll the time loop (needs a fixed sequence length).
        fused: How the time loop runs. `"auto"` (default): as one whole-sequence op with
            a hand-written backward pass (`regkeras.engine.lstm_sequence`: the weight
            gradients come from the whole sequence in a few large products, as in cuDNN's
            and PyTorch's fused LSTMs; at inference it keeps no intermediates) whenever the
            configuration allows, else step by step, differentiated automatically. `True`:
            fused, or a `ValueError` if the configuration does not allow it (`unroll=True`,
            an activation other than tanh/sigmoid). `False`: always step by step. Both
            compute the same function.
        weight_dropout: Float in [0, 1), DropConnect on the recurrent kernel `U` in
            training: one mask per call, shared by every step and sequence (Merity et al.
            2017; see `WeightDropLSTM`). Default 0.
        zoneout_c, zoneout_h: Floats in [0, 1), zoneout rates of the cell and hidden states
            (Krueger et al. 2016; see `ZoneoutLSTMCell`). Default 0.
        **kwargs: Every other `keras.layers.LSTM` argument: `activation`,
            `recurrent_activation`, `use_bias`, the initializers, regularizers and constraints,
            `unit_forget_bias`, `dropout`, `recurrent_dropout`, `seed`,
            `activity_regularizer`, `zero_output_for_mask`, and base layer arguments.

    Call arguments:
        sequences: A 3D tensor `(batch, timesteps, features)`.
        initial_state: Optional list `[h, c]` of `(batch, units)` tensors.
        mask: Optional boolean `(batch, timesteps)`; a masked step keeps the previous state.
        training: Python boolean; the regularizers apply only when `True`.

    Returns:
        As `keras.layers.LSTM`: `(batch, units)`, or `(batch, timesteps, units)` with
        `return_sequences`, followed by the states `h` and `c` with `return_state`.

    Example:

    >>> lstm = ProjectedLSTM(8, return_sequences=True)
    >>> tuple(lstm(np.zeros((2, 5, 3))).shape)
    (2, 5, 8)
    """

    cell_class = ProjectedLSTMCell
    cell_args = LSTM_CELL_ARGS + ZONEOUT_ARGS

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        fused="auto",
        weight_dropout=0.0,
        **kwargs,
    ):
        for flag in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
            check_bool(flag, locals()[flag])
        self.weight_dropout = check_rate("weight_dropout", weight_dropout)
        self.fused = fused if isinstance(fused, bool) else check_choice(
            "fused", fused, ("auto",), lower=False, requirement="'auto', True or False")
        cell = self.cell_class(
            units,
            **pop_cell_kwargs(kwargs, self.cell_args),
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstm_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)
        if fused is True and self.fused_unsupported_reason() is not None:
            raise ValueError(
                f"`fused=True` is not possible here: {self.fused_unsupported_reason()}. "
                "Use fused='auto' or fused=False."
            )

    def build(self, sequences_shape, initial_state_shape=None):
        # Checked once, here, not in `call`: an empty time or feature axis otherwise fails
        # deep inside TensorFlow (a strided slice, a matmul) at the first step.
        shape = tuple(sequences_shape)
        if len(shape) == 3 and (shape[1] == 0 or shape[2] == 0):
            raise ValueError(message("sequences", "a tensor (batch, timesteps, features) with "
                                     "at least one time step and one feature",
                                     described(f"shape {shape}")))
        super().build(sequences_shape, initial_state_shape)

    def fused_unsupported_reason(self):
        """Why this layer cannot run the fused sequence (`fused="auto"` then steps), or None."""
        if self.fused is False:
            return "`fused=False`"
        if self.unroll:
            return "`unroll=True` asks for the step-by-step loop"
        return self.cell.fused_unsupported_reason()

    @property
    def units(self):
        return self.cell.units

    def sample_weight_mask(self):
        """A fresh keep-mask for `U`: shape `(units, 4 * units)`, 1 = kept, 0 = dropped."""
        cell = self.cell
        noise = keras.random.uniform(cell.recurrent_kernel.shape, seed=cell.seed_generator)
        return ops.cast(noise >= self.weight_dropout, cell.recurrence_dtype)

    def draw_per_call(self, time_steps, batch_size, training):
        """Random draws made once per call, before the loop. Subclasses may add their own.

        Returns `(per_step, per_call)`: two dicts of keyword arguments for
        `cell.recurrent_step`. Values in `per_step` are time-major tensors `(T, batch, ...)`,
        sliced one step at a time by the loop; values in `per_call` are used whole at every
        step. In training: weight drop's masked `U` (`recurrent_kernel`, one mask per call)
        and zoneout's keep masks for every step (`keep_c`, `keep_h`).
        """
        per_step, per_call = {}, {}
        if not training:
            return per_step, per_call
        if self.weight_dropout > 0:
            kernel = self.cell.recurrent_kernel * self.sample_weight_mask()
            per_call["recurrent_kernel"] = kernel / (1.0 - self.weight_dropout)
        cell = self.cell
        if getattr(cell, "zoneout_c", 0) > 0 or getattr(cell, "zoneout_h", 0) > 0:
            keep_c, keep_h = cell.sample_zoneout_masks((time_steps, batch_size))
            per_step.update(keep_c=keep_c, keep_h=keep_h)
        return per_step, per_call

    def inner_loop(self, sequences, initial_state, mask, training=False):
        # Called by keras.layers.RNN.call, which has already prepared the initial (or stored)
        # states and the cell's dropout masks.
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        cell = self.cell
        # 1. Time-major first: transposing the D-wide inputs is cheaper than the 4U-wide result.
        inputs = ops.transpose(sequences, (1, 0, 2))
        # 2. x·W for every step in one matmul.
        projected = cell.project_inputs(inputs, training=training)
        # 3. Random draws for the whole call, outside the loop.
        time_steps, batch_size = ops.shape(inputs)[0], ops.shape(inputs)[1]
        per_step, per_call = self.draw_per_call(time_steps, batch_size, training)
        if mask is not None:
            mask = ops.transpose(mask, (1, 0))
        per_call = dict(per_call)
        drawn_kernel = per_call.pop("recurrent_kernel", None)
        # The step's weights, read once for the whole call (from the masked U if drawn).
        weights = cell.step_weights(initial_state[0], training, drawn_kernel)
        if (
            self.fused_unsupported_reason() is None
            and set(per_step) <= {"keep_c", "keep_h"}
            and not per_call
        ):
            return self.fused_loop(projected, initial_state, mask, per_step, weights, training)
        if _accepts(cell.recurrent_step, "weights"):
            per_call["weights"] = weights
        elif drawn_kernel is not None:  # a step written before `weights` existed
            per_call["recurrent_kernel"] = drawn_kernel

        names = list(per_step)
        # The states travel through the loop in the recurrence's dtype (float32 under mixed
        # precision), as on the fused path; keras.layers.RNN gave them in the compute dtype.
        initial_state = [ops.cast(s, cell.recurrence_dtype) for s in initial_state]

        def step(step_inputs, states):
            z, *rest = step_inputs
            per_step_t = dict(zip(names, rest))
            return cell.recurrent_step(z, list(states), training, **per_step_t, **per_call)

        last_output, outputs, states = _backend_rnn(
            step,
            (projected, *per_step.values()),  # a flat tuple, read one time step at a time
            list(initial_state),
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=self.unroll,
            input_length=sequences.shape[1],
            time_major=True,
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )
        return last_output, ops.transpose(outputs, (1, 0, 2)), states

    def fused_loop(self, projected, initial_state, mask, per_step, weights, training):
        """`inner_loop` with `cell.fused_sequence`: the same results as `keras.layers.RNN`.

        A padded step keeps the previous state (keep weight 1); its output is the previous
        output (before the first valid step: zeros, or the initial `h` on JAX, as Keras' own
        loops do), or zeros with `zero_output_for_mask`.
        """
        cell = self.cell
        keep_c, keep_h = cell.keep_weights(per_step.get("keep_c"), per_step.get("keep_h"))
        if mask is not None:
            padded = 1.0 - ops.cast(mask[..., None], cell.recurrence_dtype)  # (T, batch, 1)
            keep_c = padded if keep_c is None else padded + (1.0 - padded) * keep_c
            keep_h = padded if keep_h is None else padded + (1.0 - padded) * keep_h
        if self.go_backwards:
            projected, mask = ops.flip(projected, axis=0), reverse_time(mask)
            keep_c, keep_h = reverse_time(keep_c), reverse_time(keep_h)
        outputs, h, c = cell.fused_sequence(
            projected, list(initial_state), training, keep_c=keep_c, keep_h=keep_h,
            weights=weights,
        )
        if mask is not None:
            shown = None
            if self.zero_output_for_mask:
                shown = mask
            elif keras.backend.backend() != "jax":
                # The previous output: the carried h, but zeros before the first valid step
                # (Keras' TensorFlow and PyTorch loops; its JAX loop shows the initial h).
                shown = ops.cumsum(ops.cast(mask, "int32"), axis=0) > 0
            if shown is not None:
                outputs = ops.where(shown[..., None], outputs, ops.zeros_like(outputs))
        return outputs[-1], ops.transpose(outputs, (1, 0, 2)), [h, c]

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config, "fused": self.fused,
                "weight_dropout": self.weight_dropout}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


# As keras.layers.LSTM does, the layer shows its cell's settings (`layer.recurrent_dropout`, ...).
for _name in LSTM_CELL_ARGS + ZONEOUT_ARGS:
    if _name != "seed":
        setattr(ProjectedLSTM, _name, _cell_property(_name))


@keras.saving.register_keras_serializable(package="regkeras")
class WeightDropLSTM(ProjectedLSTM):
    """LSTM with DropConnect on the recurrent kernel (weight drop; Merity et al. 2017, AWD-LSTM).

    In training, each call draws one mask over the hidden-to-hidden matrix `U`, drops a
    fraction `weight_dropout` of its entries (scaling the rest by `1 / (1 - weight_dropout)`),
    and runs every time step, for every sequence in the batch, with that one matrix. Unlike
    dropout on `h`, this leaves the recurrent state itself intact. At inference `U` is used
    unchanged, so the layer is an ordinary LSTM; with `weight_dropout=0` it computes the same
    numbers as `keras.layers.LSTM` with the same weights. It is `ProjectedLSTM` with
    `weight_dropout` on by default: zoneout (`zoneout_c`, `zoneout_h`) and dropout combine
    with it, and `LayerNormLSTM(weight_dropout=...)` is the layer-normalized form.

    Standalone: copy `recurrent.py`, `engine.py`, `validation.py` from `regkeras/` into one
    package folder of your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        units: Positive integer, size of the hidden and cell states.
        weight_dropout: Float in [0, 1), fraction of `U`'s entries dropped per call.
            Default 0.5 (AWD-LSTM's setting for word-level models).
        return_sequences, return_state, go_backwards, stateful, unroll: As
            `keras.layers.LSTM`.
        **kwargs: Every other `keras.layers.LSTM` argument (`activation`, initializers,
            regularizers, constraints, `dropout`, `recurrent_dropout`, `seed`, `name`, ...).
            `seed` also seeds the weight-drop masks.

    Call arguments:
        sequences: A 3D tensor `(batch, timesteps, features)`.
        initial_state: Optional list `[h, c]` of `(batch, units)` tensors.
        mask: Optional boolean `(batch, timesteps)`; a masked step keeps the previous state.
        training: Python boolean; weight drop applies only when `True`.

    Returns:
        As `keras.layers.LSTM`.

    Example:

    >>> lstm = WeightDropLSTM(8, weight_dropout=0.5, return_sequences=True, seed=0)
    >>> tuple(lstm(np.ones((2, 5, 3)), training=True).shape)
    (2, 5, 8)
    """

    def __init__(self, units, weight_dropout=0.5, **kwargs):
        super().__init__(units, weight_dropout=weight_dropout, **kwargs)


@keras.saving.register_keras_serializable(package="regkeras")
class ZoneoutLSTMCell(ProjectedLSTMCell):
    """LSTM cell with zoneout (Krueger et al. 2016, "Zoneout: Regularizing RNNs by Randomly
    Preserving Hidden Activations").

    In training, at every step each unit of the cell state keeps its previous value with
    probability `zoneout_c` instead of taking the LSTM's update, and each unit of the hidden
    state does so with probability `zoneout_h`; fresh masks are drawn at every step. As in the
    paper, the candidate `h` is computed from the updated (not zoned-out) cell state. At
    inference the cell uses the expectation, `z · old + (1 - z) · new`, for both states.

    Prefer the layer, `ZoneoutLSTM`, which draws every step's masks before the loop: under
    the JAX backend `keras.layers.RNN` traces a cell's step once into `lax.scan`, so masks
    drawn inside the step would repeat at every step and every call; the cell therefore
    raises `NotImplementedError` in training on JAX (inference works on every backend).

    Standalone: copy `recurrent.py`, `engine.py`, `validation.py` from `regkeras/` into one
    package folder of your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        units: Positive integer, size of the hidden and cell states.
        zoneout_c: Float in [0, 1), probability that a cell-state unit keeps its value.
            Default 0.5 (the paper's setting for character-level PTB).
        zoneout_h: Float in [0, 1), probability that a hidden-state unit keeps its value.
            Default 0.05.
        **kwargs: The arguments of `ProjectedLSTMCell` / `keras.layers.LSTMCell`
            (`activation`, initializers, `dropout`, `recurrent_dropout`, `seed`, ...).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: List `[h, c]` of two `(batch, units)` tensors.
        training: Python boolean; random zoneout when `True`, its expectation otherwise.

    Returns:
        `(h, [h, c])`: the output and the new states.

    Example:

    >>> rnn = keras.layers.RNN(ZoneoutLSTMCell(4, zoneout_c=0.5, zoneout_h=0.05))
    >>> tuple(rnn(np.zeros((2, 3, 5))).shape)
    (2, 4)
    """

    def __init__(self, units, zoneout_c=0.5, zoneout_h=0.05, **kwargs):
        super().__init__(units, zoneout_c=zoneout_c, zoneout_h=zoneout_h, **kwargs)


@keras.saving.register_keras_serializable(package="regkeras")
class ZoneoutLSTM(ProjectedLSTM):
    """LSTM layer with zoneout (Krueger et al. 2016): units randomly keep their previous value.

    The layer form of `ZoneoutLSTMCell`, on the shared fast path: the input projection runs
    once for the whole sequence and the zoneout masks for every step are drawn in one go
    before the loop. Training uses random masks (separate rates for the cell state `c` and
    the hidden state `h`); inference uses the expectation `z · old + (1 - z) · new`.

    Standalone: copy `recurrent.py`, `engine.py`, `validation.py` from `regkeras/` into one
    package folder of your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        units: Positive integer, size of the hidden and cell states.
        zoneout_c: Float in [0, 1), probability that a cell-state unit keeps its value.
            Default 0.5.
        zoneout_h: Float in [0, 1), probability that a hidden-state unit keeps its value.
            Default 0.05.
        return_sequences, return_state, go_backwards, stateful, unroll: As
            `keras.layers.LSTM`.
        **kwargs: Every other `keras.layers.LSTM` argument (`activation`, initializers,
            regularizers, constraints, `dropout`, `recurrent_dropout`, `seed`, `name`, ...).

    Call arguments:
        sequences: A 3D tensor `(batch, timesteps, features)`.
        initial_state: Optional list `[h, c]` of `(batch, units)` tensors.
        mask: Optional boolean `(batch, timesteps)`; a masked step keeps the previous state.
        training: Python boolean; random zoneout when `True`, its expectation otherwise.

    Returns:
        As `keras.layers.LSTM`.

    Example:

    >>> lstm = ZoneoutLSTM(8, zoneout_c=0.5, zoneout_h=0.05, return_sequences=True)
    >>> tuple(lstm(np.ones((2, 5, 3)), training=True).shape)
    (2, 5, 8)
    """

    cell_class = ZoneoutLSTMCell

    def __init__(self, units, zoneout_c=0.5, zoneout_h=0.05, **kwargs):
        super().__init__(units, zoneout_c=zoneout_c, zoneout_h=zoneout_h, **kwargs)
