"""Layer normalization for LSTMs: Ba et al.'s layer-normalized LSTM cell, and the simpler
"layer norm before the LSTM output" composition from the course notes.

`LayerNormLSTM` runs on regkeras' shared LSTM engine (`regkeras.engine`, through
`regkeras.recurrent.ProjectedLSTM`): the input projection `W·x` is computed for the whole
sequence before the time loop; the three layer norms run inside the loop, with the engine's
hand-written gradients. The cell only supplies the weights of the engine's layer-normalized
step (`LayerNormLSTMCell.step_weights`). The layer norms of `W·x` and `U·h` are cheaper than
they look: the mean over the `4·units` features of `h·U` is `h·mean(U, axis=-1)`, so with the
column-centred kernels `W_c`, `U_c` (each row minus its mean, computed once per call) `x·W_c`
and `h·U_c` are already centred, and each step only divides them by their root mean square.
Same function, same weights; the results differ from normalizing `x·W` and `h·U` directly by
float32 rounding. Like every regkeras LSTM, it also takes `weight_dropout`, `zoneout_c` and
`zoneout_h`.
"""


import keras
from keras import ops

from .engine import center_columns
from .recurrent import (
    LSTM_CELL_ARGS,
    ZONEOUT_ARGS,
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

    Standalone: copy `normalization.py`, `recurrent.py`, `engine.py`, `validation.py` from
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
                weight = self.add_weight(  # used in the recurrence's dtype: no autocast
                    name=name, shape=(size * self.units,), initializer=initializer,
                    autocast=False,
                )
                setattr(self, name, weight)

    def project_inputs(self, inputs, training=False):
        """`dropout(x)·W_c`, with `W_c` the kernel minus the mean of each row.

        The result is `x·W` minus its mean over the `4·units` features, i.e. already
        centred for the layer norm of `W·x` (see `regkeras.engine.center_columns`), for one
        step or a whole sequence.
        """
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        # Centred in the weight's own precision, then cast for the product.
        return ops.matmul(inputs, ops.cast(center_columns(self.kernel), self.compute_dtype))

    def step_weights(self, h, training=False, recurrent_kernel=None):
        """The weights of the engine's layer-normalized step, made once per call.

        The column-centred recurrent kernel (of `recurrent_kernel` when given, e.g. a
        weight-dropped matrix, else of the weight), the sum of the two gate norms' biases and
        the LSTM bias (`input_beta`), the norm gains and the state norm's bias, `epsilon`,
        and in training the recurrent-dropout mask.
        """
        weights = super().step_weights(h, training, recurrent_kernel)
        read = lambda weight: ops.cast(ops.copy(weight), self.recurrence_dtype)  # noqa: E731
        beta = read(self.kernel_norm_beta) + read(self.recurrent_norm_beta)
        if self.use_bias:
            beta = beta + weights.pop("bias")
        weights.update(
            kernel=center_columns(weights["kernel"]),
            input_gamma=read(self.kernel_norm_gamma),
            input_beta=beta,
            recurrent_gamma=read(self.recurrent_norm_gamma),
            state_gamma=read(self.state_norm_gamma),
            state_beta=read(self.state_norm_beta),
            epsilon=self.norm_epsilon,
        )
        return weights

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

    Standalone: copy `normalization.py`, `recurrent.py`, `engine.py`, `validation.py` from
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
    cell_args = LSTM_CELL_ARGS + ZONEOUT_ARGS + NORM_ARGS

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
