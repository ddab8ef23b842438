"""Layer normalization for LSTMs: Ba et al.'s layer-normalized LSTM cell, and the simpler
"layer norm before the LSTM output" composition from the course notes.

`LayerNormLSTM` runs on regkeras' shared LSTM fast path (`regkeras.recurrent.ProjectedLSTM`):
the input projection `W·x` is computed for the whole sequence before the time loop; the three
layer norms run inside the loop, with hand-written gradients. The layer norms of `W·x` and
`U·h` are cheaper than they look: the mean over the `4·units` features of `h·U` is
`h·mean(U, axis=-1)`, so with the column-centred kernels `W_c`, `U_c` (each row minus its
mean, computed once per call) `x·W_c` and `h·U_c` are already centred, and each step only
divides them by their root mean square (`_normalize_centered_and_add`). Same function, same
weights; the results differ from normalizing `x·W` and `h·U` directly by float32 rounding.
"""


import keras
from keras import ops

from .fused import lstm_sequence
from .recurrent import (
    LSTM_CELL_ARGS,
    ProjectedLSTM,
    ProjectedLSTMCell,
)
from .validation import (
    check_bool,
    check_positive,
    check_positive_int,
    check_string,
    message,
)

__all__ = ["LayerNormLSTMCell", "LayerNormLSTM", "lstm_with_output_norm"]

NORM_ARGS = ("norm_gamma_initializer", "norm_beta_initializer", "norm_epsilon")


def _layer_norm(x, gamma, beta, epsilon):
    """Normalizes the last axis of `x` to zero mean and unit variance, then `· gamma + beta`.

    Statistics are computed in float32 under a 16-bit (mixed precision) policy, as
    `keras.layers.LayerNormalization` does. The gradient is written out by hand (the
    textbook closed form below) rather than left to automatic differentiation, which
    builds about twice as many ops for the mean and variance; inside an LSTM's time loop
    those extra ops run at every step and made the layer markedly slower.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype in ("float16", "bfloat16"):
        x = ops.cast(x, "float32")

    @ops.custom_gradient
    def normalize(x, gamma, beta):
        mean = ops.mean(x, axis=-1, keepdims=True)
        centered = x - mean
        inv_std = ops.rsqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + epsilon)
        x_hat = centered * inv_std

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream
            d_x_hat = dy * gamma
            # d/dx of (x - mean) / std: subtract the means of the gradient along the axis
            # and along x_hat, then rescale.
            dx = inv_std * (
                d_x_hat
                - ops.mean(d_x_hat, axis=-1, keepdims=True)
                - x_hat * ops.mean(d_x_hat * x_hat, axis=-1, keepdims=True)
            )
            leading = tuple(range(len(dy.shape) - 1))
            return dx, ops.sum(dy * x_hat, axis=leading), ops.sum(dy, axis=leading)

        return x_hat * gamma + beta, grad

    y = normalize(x, ops.cast(gamma, x.dtype), ops.cast(beta, x.dtype))
    return ops.cast(y, dtype)


def _center_columns(kernel):
    """`kernel` minus the mean of each of its rows (the mean over the `4·units` gate features).

    For any `h`, `h·center(U) = h·U - mean(h·U)` over the last axis: the mean of the `4·units`
    features of `h·U` is `h·mean(U, axis=-1)`. Centring the (small) kernel once per call
    therefore does the mean-subtraction of the layer norm of `h·U` for every step at once.
    """
    return ops.subtract(kernel, ops.mean(kernel, axis=-1, keepdims=True))


def _normalize_centered_and_add(z, r, z_gamma, r_gamma, beta, epsilon):
    """`LN(z)·z_gamma + LN(r)·r_gamma + beta` for `z`, `r` whose last axis has zero mean.

    Both inputs come from a column-centred kernel (`_center_columns`), so their layer norms
    reduce to dividing by the root mean square (the variance of a zero-mean vector): no mean
    and no subtraction per step. The two normalized terms are added in the same op, with one
    bias (the sum of the two norms' biases and the LSTM bias), and the gradient is written
    out by hand: for `y = γ·x̂`, `x̂ = x / sqrt(mean(x²) + ε)`,
    `dx = (dy·γ - x̂·mean(dy·γ·x̂)) / sqrt(mean(x²) + ε)`. Statistics are computed in float32
    under a 16-bit policy, as `keras.layers.LayerNormalization` does.
    """
    dtype = keras.backend.standardize_dtype(z.dtype)
    if dtype in ("float16", "bfloat16"):
        z, r = ops.cast(z, "float32"), ops.cast(r, "float32")

    @ops.custom_gradient
    def normalize(z, r, z_gamma, r_gamma, beta):
        z_inv_rms = ops.rsqrt(ops.mean(ops.square(z), axis=-1, keepdims=True) + epsilon)
        r_inv_rms = ops.rsqrt(ops.mean(ops.square(r), axis=-1, keepdims=True) + epsilon)
        z_hat = z * z_inv_rms
        r_hat = r * r_inv_rms

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream
            dz_hat = dy * z_gamma
            dr_hat = dy * r_gamma
            dz = z_inv_rms * (dz_hat - z_hat * ops.mean(dz_hat * z_hat, axis=-1, keepdims=True))
            dr = r_inv_rms * (dr_hat - r_hat * ops.mean(dr_hat * r_hat, axis=-1, keepdims=True))
            leading = tuple(range(len(dy.shape) - 1))
            return (
                dz,
                dr,
                ops.sum(dy * z_hat, axis=leading),
                ops.sum(dy * r_hat, axis=leading),
                ops.sum(dy, axis=leading),
            )

        return z_hat * z_gamma + r_hat * r_gamma + beta, grad

    y = normalize(
        z, r, ops.cast(z_gamma, z.dtype), ops.cast(r_gamma, z.dtype), ops.cast(beta, z.dtype)
    )
    return ops.cast(y, dtype)


@keras.saving.register_keras_serializable(package="regkeras")
class LayerNormLSTMCell(ProjectedLSTMCell):
    """LSTM cell with layer normalization (Ba, Kiros & Hinton 2016, "Layer Normalization").

    The input term `W·x` and the recurrent term `U·h` are layer-normalized separately, each
    with its own gain and bias, before the LSTM bias is added; the cell state is normalized
    before the output `tanh`:

        i, f, g, o = LN(W·x) + LN(U·h_{t-1}) + b
        c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
        h_t = σ(o) ⊙ tanh(LN(c_t))

    The carried state `c_t` is the un-normalized one, as in the paper. The six norm vectors
    (`kernel_norm_*`, `recurrent_norm_*` of size `4·units`, `state_norm_*` of size `units`)
    are trainable weights that follow `kernel`, `recurrent_kernel` and `bias` (Keras' LSTM
    layout).

    Standalone: copy `normalization.py`, `recurrent.py`, `fused.py`, `validation.py` from
    `regkeras/` into one package folder of your project; they import each other relatively and
    need only Keras (`tests/test_standalone.py` checks this).

    Args:
        units: Positive integer, size of the hidden and cell states.
        norm_gamma_initializer: Initializer of the three norm gains. Default `"ones"`.
        norm_beta_initializer: Initializer of the three norm biases. Default `"zeros"`.
        norm_epsilon: Positive float added to the variance. Default `1e-3`.
        **kwargs: The arguments of `keras.layers.LSTMCell` (`activation`, initializers,
            regularizers, constraints, `dropout`, `recurrent_dropout`, `seed`, ...).

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: List `[h, c]` of two `(batch, units)` tensors.
        training: Python boolean; dropout applies only when `True`.

    Returns:
        `(h, [h, c])`: the output and the new states.

    Example:

    >>> rnn = keras.layers.RNN(LayerNormLSTMCell(4), return_sequences=True)
    >>> tuple(rnn(np.ones((2, 3, 5))).shape)
    (2, 3, 4)
    """

    def __init__(
        self,
        units,
        norm_gamma_initializer="ones",
        norm_beta_initializer="zeros",
        norm_epsilon=1e-3,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.norm_gamma_initializer = keras.initializers.get(norm_gamma_initializer)
        self.norm_beta_initializer = keras.initializers.get(norm_beta_initializer)
        self.norm_epsilon = check_positive("norm_epsilon", norm_epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        for prefix, size in (("kernel", 4), ("recurrent", 4), ("state", 1)):
            for suffix, initializer in (
                ("gamma", self.norm_gamma_initializer),
                ("beta", self.norm_beta_initializer),
            ):
                name = f"{prefix}_norm_{suffix}"
                weight = self.add_weight(
                    name=name, shape=(size * self.units,), initializer=initializer
                )
                setattr(self, name, weight)

    def project_inputs(self, inputs, training=False):
        """`dropout(x)·W_c`, with `W_c` the kernel minus the mean of each row.

        The result is `x·W` minus its mean over the `4·units` features, i.e. already
        centred for the layer norm of `W·x` (see `_center_columns`), for one step or a whole
        sequence.
        """
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        return ops.matmul(inputs, _center_columns(self.kernel))

    def loop_constants(self, recurrent_kernel=None):
        """What every step needs and no step changes: computed once per call by the layer.

        Returns a dict: the column-centred recurrent kernel (of the `recurrent_kernel`
        argument when given, e.g. a weight-dropped matrix, else of the weight); the sum of
        the two gate norms' biases and the LSTM bias; and the norm vectors, read once
        (`ops.copy`: with TensorFlow a variable used inside the time loop is read, and its
        value kept for the backward pass, at every step).
        """
        if recurrent_kernel is None:
            recurrent_kernel = self.recurrent_kernel
        beta = self.kernel_norm_beta + self.recurrent_norm_beta
        if self.use_bias:
            beta = beta + self.bias
        return {
            "centered_recurrent_kernel": _center_columns(recurrent_kernel),
            "gate_beta": beta,
            "kernel_norm_gamma": ops.copy(self.kernel_norm_gamma),
            "recurrent_norm_gamma": ops.copy(self.recurrent_norm_gamma),
            "state_norm_gamma": ops.copy(self.state_norm_gamma),
            "state_norm_beta": ops.copy(self.state_norm_beta),
        }

    def recurrent_step(self, z, states, training=False, recurrent_kernel=None, constants=None):
        """One step from the projected input `z = x·W_c` (`(batch, 4·units)`) and `[h, c]`.

        `z` comes from `project_inputs`, which centres it; its layer norm runs here, on the
        small per-step tensor (normalizing the large `(T, batch, 4·units)` tensor in one go
        measured slower on CPU). `constants` is `loop_constants(recurrent_kernel)`, which the
        layer computes once per call; when absent (a cell stepped by `keras.layers.RNN`) it is
        computed here.
        """
        h_tm1, c_tm1 = states
        if constants is None:
            constants = self.loop_constants(recurrent_kernel)
        if training and self.recurrent_dropout > 0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        gates = _normalize_centered_and_add(
            z,
            ops.matmul(h_tm1, constants["centered_recurrent_kernel"]),
            constants["kernel_norm_gamma"],
            constants["recurrent_norm_gamma"],
            constants["gate_beta"],
            self.norm_epsilon,
        )
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c = self.recurrent_activation(f) * c_tm1 + self.recurrent_activation(i) * self.activation(g)
        c_normed = _layer_norm(
            c, constants["state_norm_gamma"], constants["state_norm_beta"], self.norm_epsilon
        )
        h = self.recurrent_activation(o) * self.activation(c_normed)
        return h, [h, c]

    supports_fused_sequence = True  # fused_sequence computes this recurrent_step

    def fused_sequence(
        self,
        z,
        states,
        training=False,
        recurrent_kernel=None,
        constants=None,
        keep_c=None,
        keep_h=None,
    ):
        """`recurrent_step` over a whole time-major sequence, with the fused gradient
        (`regkeras.fused.lstm_sequence`, which normalizes all three terms inside its loop)."""
        h0, c0 = states
        if constants is None:
            constants = self.loop_constants(recurrent_kernel)
        mask = None
        if training and self.recurrent_dropout > 0:
            mask = self.get_recurrent_dropout_mask(h0)
        names = {
            "input_gamma": "kernel_norm_gamma",
            "input_beta": "gate_beta",
            "recurrent_gamma": "recurrent_norm_gamma",
            "state_gamma": "state_norm_gamma",
            "state_beta": "state_norm_beta",
        }
        norm = {key: ops.cast(constants[name], z.dtype) for key, name in names.items()}
        norm["epsilon"] = self.norm_epsilon
        kernel = ops.cast(constants["centered_recurrent_kernel"], z.dtype)
        return lstm_sequence(
            z, h0, c0, kernel, None, mask, keep_c, keep_h, layer_norm=norm,
            save_for_backward=training,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "norm_gamma_initializer": keras.initializers.serialize(self.norm_gamma_initializer),
            "norm_beta_initializer": keras.initializers.serialize(self.norm_beta_initializer),
            "norm_epsilon": self.norm_epsilon,
        }


@keras.saving.register_keras_serializable(package="regkeras")
class LayerNormLSTM(ProjectedLSTM):
    """Layer-normalized LSTM layer (Ba, Kiros & Hinton 2016), a drop-in for `keras.layers.LSTM`.

    The layer form of `LayerNormLSTMCell`: it takes every `keras.layers.LSTM` argument plus
    the norm's epsilon and initializers. It runs on the shared fast path: `W·x` is computed
    for the whole sequence in one matmul before the time loop, which then normalizes `W·x`,
    `U·h` and the cell state step by step. Compare `lstm_with_output_norm`, which normalizes
    only the layer's output.

    Standalone: copy `normalization.py`, `recurrent.py`, `fused.py`, `validation.py` from
    `regkeras/` into one package folder of your project; they import each other relatively and
    need only Keras (`tests/test_standalone.py` checks this).

    Args:
        units: Positive integer, size of the hidden and cell states.
        norm_gamma_initializer: Initializer of the norm gains. Default `"ones"`.
        norm_beta_initializer: Initializer of the norm biases. Default `"zeros"`.
        norm_epsilon: Positive float added to the variance. Default `1e-3`.
        return_sequences, return_state, go_backwards, stateful, unroll: As
            `keras.layers.LSTM`.
        **kwargs: Every other `keras.layers.LSTM` argument (`activation`, initializers,
            regularizers, constraints, `dropout`, `recurrent_dropout`, `seed`, `name`, ...).

    Call arguments:
        sequences: A 3D tensor `(batch, timesteps, features)`.
        initial_state: Optional list `[h, c]` of `(batch, units)` tensors.
        mask: Optional boolean `(batch, timesteps)`; a masked step keeps the previous state.
        training: Python boolean; dropout applies only when `True`.

    Returns:
        As `keras.layers.LSTM`.

    Example:

    >>> lstm = LayerNormLSTM(8, return_sequences=True)
    >>> tuple(lstm(np.ones((2, 5, 3))).shape)
    (2, 5, 8)
    """

    cell_class = LayerNormLSTMCell
    cell_args = LSTM_CELL_ARGS + NORM_ARGS

    def __init__(
        self,
        units,
        norm_gamma_initializer="ones",
        norm_beta_initializer="zeros",
        norm_epsilon=1e-3,
        **kwargs,
    ):
        super().__init__(
            units,
            norm_gamma_initializer=norm_gamma_initializer,
            norm_beta_initializer=norm_beta_initializer,
            norm_epsilon=norm_epsilon,
            **kwargs,
        )

    def draw_per_call(self, time_steps, batch_size, training):
        # The cell's per-call constants (centred recurrent kernel, summed biases) are made here,
        # once, outside the time loop, from whatever recurrent kernel the draws chose.
        per_step, per_call = super().draw_per_call(time_steps, batch_size, training)
        per_call = dict(per_call)
        per_call["constants"] = self.cell.loop_constants(per_call.pop("recurrent_kernel", None))
        return per_step, per_call


def lstm_with_output_norm(
    units,
    *,
    epsilon=1e-3,
    return_sequences=True,
    lstm_class=None,
    name=None,
    **lstm_kwargs,
):
    """An LSTM followed by layer normalization of its output ("layer norm before the output").

    The course notes' simpler recipe: `LSTM(return_sequences=True)` then
    `keras.layers.LayerNormalization`, returned as a small `keras.Sequential` that can be used
    as a layer. It differs from Ba et al.'s `LayerNormLSTM` in *where* the normalization
    acts. Here the recurrence is an ordinary LSTM and only the sequence handed to the next
    layer is normalized (once per step, over the `units` features), so the pre-activations of
    the gates and the cell state inside the loop are not normalized and the cell can still
    saturate or drift over long sequences. In exchange it costs one cheap op per layer and
    keeps the plain LSTM's speed (cuDNN on GPU with `keras.layers.LSTM`). `LayerNormLSTM`
    normalizes `W·x`, `U·h` and `c_t` at every step, which is what stabilizes the
    recurrent dynamics in the paper.

    Args:
        units: Positive integer, size of the LSTM's states.
        epsilon: Positive float, the normalization's epsilon. Default `1e-3`.
        return_sequences: Whether the LSTM returns the whole sequence. Default `True`.
        lstm_class: The LSTM layer class; default `keras.layers.LSTM`. Any regkeras LSTM
            (`WeightDropLSTM`, `ZoneoutLSTM`, ...) works too.
        name: Optional name of the returned model.
        **lstm_kwargs: Passed to `lstm_class` (`dropout`, `recurrent_dropout`, `seed`, ...).
            `return_state` is not supported (a `Sequential` has one output).

    Returns:
        A `keras.Sequential` `[lstm_class(units, ...), LayerNormalization(epsilon)]`. A mask
        given to it (e.g. from `Embedding(mask_zero=True)`) reaches the LSTM, but Keras does
        not hand it on to the layers after the block (it warns); where a later layer or the
        loss needs the mask, chain the two layers in a functional model instead.

    Example:

    >>> block = lstm_with_output_norm(8)
    >>> tuple(block(np.ones((2, 5, 3))).shape)
    (2, 5, 8)
    """
    check_positive_int("units", units)
    epsilon = check_positive("epsilon", epsilon)
    if lstm_class is None:
        lstm_class = keras.layers.LSTM
    if not (isinstance(lstm_class, type) and issubclass(lstm_class, keras.layers.Layer)):
        raise TypeError(message("lstm_class", "a Keras layer class", lstm_class))
    check_bool("return_sequences", return_sequences)
    if name is not None:
        check_string("name", name, "a non-empty string or None")
    if lstm_kwargs.get("return_state"):
        raise ValueError(
            "`return_state=True` is not supported by lstm_with_output_norm: "
            "the returned Sequential has a single output."
        )
    return keras.Sequential(
        [
            lstm_class(units, return_sequences=return_sequences, **lstm_kwargs),
            keras.layers.LayerNormalization(epsilon=epsilon),
        ],
        name=name,
    )
