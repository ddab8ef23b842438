"""Activation regularization (AR) and temporal activation regularization (TAR).

Merity, Keskar & Socher (2017), "Regularizing and Optimizing LSTM Language Models", add two
penalties on the hidden states of the last LSTM layer to the training loss:

* AR  = ar * mean(h_t ** 2): keeps activations small. Applied to the *dropped* outputs.
* TAR = tar * mean((h_t - h_{t-1}) ** 2): keeps the hidden state from jumping between steps.
  Applied to the *undropped* outputs (the difference of two dropped states is mostly noise).

`ActivationRegularization` is an identity layer that adds the penalty with `add_loss` during
training; place one after the dropout for AR and one before it for TAR, as
`regkeras.build_language_model` does. The plain functions compute the unscaled means.
"""

import warnings

import keras
from keras import ops

from .validation import check_non_negative

__all__ = ["ActivationRegularization", "ar_penalty", "tar_penalty"]


def _check_sequence(outputs, name="outputs"):
    if getattr(outputs, "shape", None) is None:
        raise TypeError(f"`{name}` must be a tensor of rank 3 [batch, time, features]. "
                        f"Received: {name}={outputs!r}")
    if len(outputs.shape) != 3:
        raise ValueError(
            f"`{name}` must have rank 3 [batch, time, features]. "
            f"Received shape: {tuple(outputs.shape)}"
        )


def _step_weights(outputs, mask):
    """Float32 weights of shape [batch, time]: the mask as 0/1, or all ones."""
    if mask is None:
        return ops.ones(ops.shape(outputs)[:2], dtype="float32")
    return ops.cast(mask, "float32")


def ar_penalty(outputs, mask=None):
    """Mean squared activation, the AR term of Merity et al. (2017) before scaling by `ar`.

    Averages `h ** 2` over the features, then over the valid (unmasked) time steps of every
    sequence in the batch. Without a mask this is simply `mean(h ** 2)`.

    Args:
        outputs: Float tensor `[batch, time, features]` (the LSTM outputs).
        mask: Optional boolean `[batch, time]`; `False` steps are left out.

    Returns:
        A float32 scalar tensor.

    Example:

    >>> h = keras.ops.convert_to_tensor([[[1.0, 3.0], [2.0, 0.0]]])
    >>> float(ar_penalty(h))  # (1 + 9 + 4 + 0) / 4
    3.5
    """
    _check_sequence(outputs)
    h = ops.cast(outputs, "float32")
    weights = _step_weights(h, mask)
    per_step = ops.mean(ops.square(h), axis=-1)
    return ops.sum(per_step * weights) / ops.maximum(ops.sum(weights), 1.0)


def tar_penalty(outputs, mask=None):
    """Mean squared step-to-step change, the TAR term of Merity et al. (2017) before `tar` (beta).

    Averages `(h_t - h_{t-1}) ** 2` over the features, then over the pairs of consecutive
    steps that are both valid, so no difference is taken across padding.

    Args:
        outputs: Float tensor `[batch, time, features]` (the LSTM outputs).
        mask: Optional boolean `[batch, time]`; `False` steps are left out.

    Returns:
        A float32 scalar tensor (0 for sequences of length 1).

    Example:

    >>> h = keras.ops.convert_to_tensor([[[1.0, 3.0], [2.0, 0.0]]])
    >>> float(tar_penalty(h))  # ((2 - 1) ** 2 + (0 - 3) ** 2) / 2
    5.0
    """
    _check_sequence(outputs)
    h = ops.cast(outputs, "float32")
    weights = _step_weights(h, mask)
    per_pair = ops.mean(ops.square(h[:, 1:] - h[:, :-1]), axis=-1)
    pair_weights = weights[:, 1:] * weights[:, :-1]
    return ops.sum(per_pair * pair_weights) / ops.maximum(ops.sum(pair_weights), 1.0)


@keras.saving.register_keras_serializable(package="regkeras")
class ActivationRegularization(keras.layers.Layer):
    """Adds the AR and TAR penalties of Merity et al. (2017) to the loss; passes its input through.

    In training, adds `ar * ar_penalty(h) + tar * tar_penalty(h)` to the model's losses
    (`model.losses`, which `fit` adds to the data loss), honouring a Keras mask: padded steps
    count for neither term and no difference is taken across them. At inference it adds
    nothing. The output is always the input unchanged. Following the paper, use `ar` on the
    dropped outputs of the last LSTM layer and `tar` on its undropped outputs (two layers).
    The names are those of `build_language_model`'s and `LanguageModelSpec`'s switches; the
    paper calls the coefficients alpha and beta, which this layer accepted before (they still
    work, with a `DeprecationWarning`, and saved models that use them load unchanged).

    Standalone: copy `regularizers.py`, `validation.py` from `regkeras/` into one package folder
    of your project; they import each other relatively and need only Keras
    (`tests/test_standalone.py` checks this).

    Args:
        ar: Non-negative float, the AR coefficient (the paper's alpha; Merity et al. use 2).
        tar: Non-negative float, the TAR coefficient (the paper's beta; Merity et al. use 1).
        alpha: Deprecated name of `ar`.
        beta: Deprecated name of `tar`.
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: Float tensor `[batch, time, features]`.
        training: Python boolean; the loss is added only when `True`.
        mask: Optional boolean mask `[batch, time]` (passed on by Keras automatically).

    Returns:
        `inputs`, unchanged (the mask also passes through).

    Example:

    >>> h = keras.Input((None, 8))
    >>> tar = ActivationRegularization(tar=1.0)(h)               # on the raw LSTM output
    >>> dropped = keras.layers.Dropout(0.4)(tar)
    >>> ar = ActivationRegularization(ar=2.0)(dropped)           # on the dropped output
    """

    def __init__(self, ar=0.0, tar=0.0, *, alpha=None, beta=None, **kwargs):
        super().__init__(**kwargs)
        ar = _renamed("alpha", alpha, "ar", ar)
        tar = _renamed("beta", beta, "tar", tar)
        self.ar = check_non_negative("ar", ar)
        self.tar = check_non_negative("tar", tar)
        self.supports_masking = True

    @property
    def alpha(self):
        """Deprecated name of `ar`."""
        return self.ar

    @property
    def beta(self):
        """Deprecated name of `tar`."""
        return self.tar

    @classmethod
    def from_config(cls, config):
        # Files saved before the rename hold `alpha`/`beta`: they load without a warning.
        config = dict(config)
        for old, new in (("alpha", "ar"), ("beta", "tar")):
            if old in config:
                config[new] = config.pop(old)
        return cls(**config)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "ActivationRegularization expects `inputs` of rank 3 [batch, time, features]. "
                f"Received input shape: {tuple(input_shape)}"
            )
        self.built = True

    def penalty(self, inputs, mask=None):
        """The loss this layer adds in training: `ar * AR + tar * TAR` (float32 scalar)."""
        total = ops.zeros((), dtype="float32")
        if self.ar:
            total = total + self.ar * ar_penalty(inputs, mask)
        if self.tar:
            total = total + self.tar * tar_penalty(inputs, mask)
        return total

    def call(self, inputs, training=False, mask=None):
        if training and (self.ar or self.tar):
            self.add_loss(self.penalty(inputs, mask))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ar": self.ar, "tar": self.tar}


def _renamed(old_name, old_value, new_name, new_value):
    """`new_value`, or `old_value` given under the deprecated `old_name` (with a warning)."""
    if old_value is None:
        return new_value
    if new_value:
        raise TypeError(f"Give `{new_name}` or its former name `{old_name}`, not both.")
    warnings.warn(f"`{old_name}` is deprecated; use `{new_name}` (same meaning).",
                  DeprecationWarning, stacklevel=3)
    return old_value
