"""Dropout for recurrent language models: locked (variational) dropout and embedding dropout.

Two ways of dropping units in a recurrent language model live here as layers:

* `LockedDropout` samples one mask per sequence and reuses it at every time step (the
  "variational" dropout of Gal & Ghahramani, 2016). Ordinary `keras.layers.Dropout` on a
  `[batch, time, features]` tensor draws a fresh mask at every step instead: that is the
  placement of Zaremba et al. (2014), which `regkeras.build_language_model` uses by default.
* `EmbeddingDropout` is an embedding layer that drops whole rows of its matrix (whole words)
  and can also be called in reverse to turn hidden states into logits with the same matrix
  (tied input and output embeddings, Press & Wolf 2017; Inan et al. 2017).
"""

import keras
from keras import ops

from .validation import check_bool, check_positive_int, check_rate, check_seed, described, message

__all__ = ["LockedDropout", "EmbeddingDropout"]


def _eager_values(tensor):
    """The values of `tensor` as a NumPy array when they are at hand (an eager call), else
    None: a symbolic tensor inside a compiled function has none (TensorFlow and JAX refuse
    to convert it, each with its own exception)."""
    try:
        return ops.convert_to_numpy(tensor)
    except Exception:  # noqa: BLE001 - whichever the backend raises for a symbolic tensor
        return None


def check_eager_token_ids(name, inputs, input_dim, training=False):
    """Refuses ids outside `[0, input_dim)` and non-integer ids, when the call runs eagerly.

    A negative id would silently read the last row of an embedding (`ops.take` counts from
    the end), one past the end fails deep inside TensorFlow, a fractional float is truncated.
    Inside a compiled function (`fit`, `predict`, `tf.function`, `jax.jit`) the values are
    unknown and reading them would cost every step, and so would it in the training steps of
    PyTorch, whose `fit` runs eagerly: there it is skipped, and regkeras' data pipelines and
    models check the ids where they enter instead.
    """
    if training and keras.backend.backend() == "torch":
        return
    values = _eager_values(inputs)
    if values is None or values.size == 0:
        return
    requirement = f"token ids in [0, {input_dim}) (integers, or floats holding integers)"
    if values.dtype.kind not in "iuf":
        raise TypeError(message(name, requirement, described(f"an array of dtype {values.dtype}")))
    low, high = values.min(), values.max()
    fractional = values.dtype.kind == "f" and bool((values != values.round()).any())
    if fractional or not (low >= 0 and high < input_dim):  # NaN fails both comparisons
        shown = f"ids in [{low}, {high}]" + (", not all integers" if fractional else "")
        raise ValueError(message(name, requirement, described(shown)))


@keras.saving.register_keras_serializable(package="regkeras")
class LockedDropout(keras.layers.Layer):
    """Dropout with one mask per sequence (variational dropout, Gal & Ghahramani 2016).

    For inputs of shape `[batch, time, features]` a single Bernoulli mask of shape
    `[batch, 1, features]` is drawn per call and broadcast over the time axis, so a feature
    that is dropped for one sequence is dropped at every step of it. Kept units are scaled by
    `1 / (1 - rate)`; at inference the layer is the identity. A Keras mask passes through.

    Standalone: copy `dropout.py`, `validation.py` from `regkeras/` into one package folder of
    your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        rate: Float in [0, 1). Fraction of the features to drop.
        seed: Optional integer seed for the mask (a `keras.random.SeedGenerator` is built
            from it, so a seeded layer draws the same sequence of masks).
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor of shape `[batch, time, features]`.
        training: Python boolean; dropout is applied only when `True`.
        mask: Optional boolean mask `[batch, time]`; passed through unchanged.

    Returns:
        A tensor of the same shape and dtype as `inputs`.

    Example:

    >>> layer = LockedDropout(0.5, seed=1)
    >>> x = keras.ops.ones((2, 4, 3))
    >>> y = keras.ops.convert_to_numpy(layer(x, training=True))
    >>> bool((y == y[:, :1, :]).all())  # the same mask at every time step
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "LockedDropout expects `inputs` of rank 3 [batch, time, features]. "
                f"Received input shape: {tuple(input_shape)}"
            )
        self.built = True

    def call(self, inputs, training=False):
        if len(inputs.shape) != 3:
            raise ValueError(
                "LockedDropout expects `inputs` of rank 3 [batch, time, features]. "
                f"Received input shape: {tuple(inputs.shape)}"
            )
        if not training or self.rate == 0.0:
            return inputs
        return keras.random.dropout(
            inputs, self.rate, noise_shape=(None, 1, None), seed=self.seed_generator
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="regkeras")
class EmbeddingDropout(keras.layers.Layer):
    """Embedding that drops whole words (Gal & Ghahramani 2016; Merity et al. 2017).

    Works like `keras.layers.Embedding` (same weights, `mask_zero`), but in training each call
    drops whole rows of the embedding matrix with probability `rate` and scales the kept rows
    by `1 / (1 - rate)`: a dropped word reads as a zero vector wherever it appears in the
    batch. Called with `reverse=True` the same layer maps hidden states `h` to logits
    `h @ E^T` (plus an optional bias), which ties the input and output embeddings; the
    reverse mode always uses the full, undropped matrix.

    Standalone: copy `dropout.py`, `validation.py` from `regkeras/` into one package folder of
    your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        input_dim: Positive integer, the vocabulary size.
        output_dim: Positive integer, the embedding size.
        rate: Float in [0, 1). Probability of dropping a row (a word) of the matrix.
        embeddings_initializer: Initializer of the `[input_dim, output_dim]` matrix.
        embeddings_regularizer: Optional regularizer of the matrix (e.g. coupled L2).
        embeddings_constraint: Optional constraint of the matrix.
        mask_zero: Boolean. If `True`, id 0 is padding and the forward mode emits a Keras
            mask `ids != 0` (as `keras.layers.Embedding` does).
        logits_bias: Boolean. If `True`, the reverse mode adds a trainable bias of shape
            `[input_dim]` (as an untied `Dense` softmax layer would have).
        reverse_dtype: Optional float dtype of the reverse-mode matmul and its logits
            (default: the layer's compute dtype). `"float32"` keeps full-precision logits
            under a mixed-precision policy, as `build_language_model` does.
        seed: Optional integer seed for the row masks.
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Integer ids of any shape (forward mode), or a float tensor `[..., output_dim]`
            of hidden states (reverse mode).
        training: Python boolean; rows are dropped only when `True` (forward mode only).
        reverse: Boolean. `False` (default) looks ids up; `True` returns logits.

    Returns:
        Forward: the embeddings, shape `inputs.shape + (output_dim,)`.
        Reverse: the logits, shape `inputs.shape[:-1] + (input_dim,)`, in `reverse_dtype`.

    Example:

    >>> emb = EmbeddingDropout(10, 4, rate=0.1, seed=0)
    >>> ids = keras.ops.convert_to_tensor([[1, 2, 3]])
    >>> vectors = emb(ids, training=True)        # [1, 3, 4], some words zeroed
    >>> logits = emb(vectors, reverse=True)      # [1, 3, 10] = vectors @ E^T
    >>> tuple(logits.shape)
    (1, 3, 10)
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        rate=0.0,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        logits_bias=False,
        reverse_dtype=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.rate = check_rate("rate", rate)
        check_bool("mask_zero", mask_zero)
        check_bool("logits_bias", logits_bias)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = keras.constraints.get(embeddings_constraint)
        if reverse_dtype is not None:
            given = reverse_dtype
            try:
                reverse_dtype = keras.backend.standardize_dtype(reverse_dtype)
            except (ValueError, TypeError, AttributeError):
                reverse_dtype = None  # not a dtype at all: reported just below
            if reverse_dtype is None or not keras.backend.is_float_dtype(reverse_dtype):
                raise ValueError(
                    f"`reverse_dtype` must be a float dtype or None. "
                    f"Received: reverse_dtype={given!r}"
                )
        self.mask_zero = mask_zero
        self.logits_bias = logits_bias
        self.reverse_dtype = reverse_dtype
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # The reverse mode passes the mask of its hidden states through.
        self.supports_masking = True

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            autocast=False,  # cast by hand: the gathered rows, or the matrix in reverse mode
        )
        self.bias = None
        if self.logits_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.input_dim,), initializer="zeros", autocast=False
            )
        self.built = True

    def row_mask(self):
        """One keep-mask over the vocabulary, `[input_dim]`: 0 or `1 / (1 - rate)` per row."""
        ones = ops.ones((self.input_dim,), dtype="float32")
        return keras.random.dropout(ones, self.rate, seed=self.seed_generator)

    def call(self, inputs, training=False, reverse=False):
        if reverse:
            if inputs.shape[-1] is not None and inputs.shape[-1] != self.output_dim:
                raise ValueError(
                    f"In reverse mode EmbeddingDropout expects `inputs` with last dimension "
                    f"output_dim={self.output_dim}. Received input shape: {tuple(inputs.shape)}"
                )
            dtype = self.reverse_dtype or self.compute_dtype
            kernel = ops.cast(self.embeddings, dtype)
            logits = ops.matmul(ops.cast(inputs, dtype), ops.transpose(kernel))
            if self.bias is not None:
                logits = logits + ops.cast(self.bias, dtype)
            return logits
        check_eager_token_ids("inputs", inputs, self.input_dim, training)
        if "int" not in keras.backend.standardize_dtype(inputs.dtype):
            inputs = ops.cast(inputs, "int32")
        vectors = ops.take(self.embeddings, inputs, axis=0)
        if training and self.rate > 0.0:
            # Gathering the row mask with the same ids is the same as masking the matrix
            # first, without touching the rows no id in the batch reads.
            keep = ops.take(self.row_mask(), inputs, axis=0)
            vectors = vectors * ops.expand_dims(keep, -1)
        return ops.cast(vectors, self.compute_dtype)

    def compute_mask(self, inputs, previous_mask=None):
        if "int" in keras.backend.standardize_dtype(inputs.dtype):
            return ops.not_equal(inputs, 0) if self.mask_zero else None
        return previous_mask  # reverse mode: hidden states keep their mask

    def compute_output_spec(self, inputs, training=False, reverse=False):
        if reverse:
            shape = (*inputs.shape[:-1], self.input_dim)
            return keras.KerasTensor(shape, dtype=self.reverse_dtype or self.compute_dtype)
        return keras.KerasTensor((*inputs.shape, self.output_dim), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "rate": self.rate,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": keras.constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "logits_bias": self.logits_bias,
            "reverse_dtype": self.reverse_dtype,
            "seed": self.seed,
        }
