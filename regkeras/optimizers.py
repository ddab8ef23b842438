"""Weight decay, the notes' third weapon, on top of Keras' own optimizers.

Two forms of "prefer small weights" are provided so that a chapter can compare them:

* **Decoupled** weight decay (Loshchilov & Hutter, 2019, "Decoupled Weight Decay
  Regularization"): :func:`make_adamw` builds a ``keras.optimizers.AdamW`` that shrinks the
  chosen weights directly, outside the gradient, and leaves biases, normalization gains and
  offsets (and optionally embeddings) alone.
* **Coupled** L2 regularization, the notes' ``Loss + λ‖w‖²``: :func:`add_l2_regularization`
  attaches ``keras.regularizers.L2(λ)`` to the same selection of weights, so the penalty's
  gradient ``2λw`` flows through the optimizer like any other gradient.

The exact relation between the two, in Keras' conventions:

* Keras' decoupled step (any optimizer given ``weight_decay=wd``) is
  ``w ← w − lr·wd·w`` followed by the optimizer's usual update from the loss gradient,
  so ``wd`` is multiplied by the learning rate (as in PyTorch's ``AdamW``). In Loshchilov &
  Hutter's notation (``w ← (1 − λ)w − α∇f``) this means ``λ = lr·wd``.
* Under plain SGD the two forms are the same algorithm: SGD on ``Loss + l2·‖w‖²`` is SGD
  with ``weight_decay = 2·l2`` (``L2(l2)`` adds ``l2·Σw²``, whose gradient is ``2·l2·w``).
  :func:`l2_to_weight_decay` does the conversion.
* Under Adam they differ: the coupled penalty's gradient is divided by Adam's running
  ``√v`` like the rest of the gradient, so weights with large or noisy gradients are decayed
  *less* and weights with tiny gradients are pushed toward zero by about ``lr`` per step
  whatever ``l2`` is; AdamW shrinks every selected weight by the same factor
  ``(1 − lr·wd)`` per step. That is the paper's argument for decoupling.

Which weights decay is decided by substring patterns matched against each variable's *path*
(``"lstm/lstm_cell/bias"``, ``"layer_normalization/gamma"``, ``"embedding/embeddings"``),
so weights of custom layers are caught by their layer's name as well as their own.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable

import keras

from regkeras.validation import check_non_negative, check_positive, message

__all__ = [
    "DECAY_EXCLUDE_PATTERNS",
    "EMBEDDING_PATTERNS",
    "weight_decay_mask",
    "make_adamw",
    "add_l2_regularization",
    "l2_to_weight_decay",
]

#: Substrings of a variable path that mark it as exempt from weight decay: biases,
#: normalization gains (``gamma``, ``*_norm_gamma``, ``scale`` inside a norm layer) and
#: offsets (``beta``), and anything living in a layer whose name contains ``norm``.
DECAY_EXCLUDE_PATTERNS = ("bias", "gamma", "beta", "norm", "layer_normalization")

#: Substrings that mark embedding tables (Keras ``Embedding`` stores ``embeddings``).
EMBEDDING_PATTERNS = ("embedding",)


def _finite_number(value, name, *, positive):
    """`value` as a float; ValueError unless a finite real number > 0 (or >= 0)."""
    return check_positive(name, value) if positive else check_non_negative(name, value)


def _patterns(exclude, exclude_embeddings):
    if exclude is None:
        exclude = DECAY_EXCLUDE_PATTERNS
    if isinstance(exclude, str) or not isinstance(exclude, Iterable):
        raise TypeError(
            "`exclude` must be a sequence of substrings such as ('bias', 'gamma') "
            f"(not a single string). Received: exclude={exclude!r}"
        )
    exclude = tuple(exclude)
    for pattern in exclude:
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(
                "Every entry of `exclude` must be a non-empty string. "
                f"Received: exclude={exclude!r}"
            )
    if not isinstance(exclude_embeddings, bool):
        raise TypeError(
            f"`exclude_embeddings` must be True or False. Received: {exclude_embeddings!r}"
        )
    if exclude_embeddings:
        exclude = exclude + tuple(p for p in EMBEDDING_PATTERNS if p not in exclude)
    return exclude


def _variables_of(model_or_variables):
    if isinstance(model_or_variables, keras.layers.Layer):
        if not model_or_variables.built:
            raise ValueError(
                "The model must be built before its variables can be selected for weight "
                "decay: call it on a batch or pass an `Input` first."
            )
        return list(model_or_variables.trainable_variables)
    if isinstance(model_or_variables, Iterable) and not isinstance(model_or_variables, str):
        variables = list(model_or_variables)
        for v in variables:
            if not hasattr(v, "path"):
                raise TypeError(
                    "Expected a Keras model/layer or a list of Keras variables; found "
                    f"{type(v).__name__} in the list."
                )
        return variables
    raise TypeError(
        "`model` must be a Keras model or layer, or a list of Keras variables. "
        f"Received: {type(model_or_variables).__name__}"
    )


def _is_excluded(variable, patterns):
    path = variable.path.lower()
    return any(p.lower() in path for p in patterns)


def weight_decay_mask(model, *, exclude=None, exclude_embeddings=False):
    """Which trainable variables of a model weight decay applies to.

    The selection rule shared by :func:`make_adamw` and :func:`add_l2_regularization`:
    a variable is exempt when any pattern of ``exclude`` (case-insensitive substring)
    occurs in its path, e.g. ``"lstm/lstm_cell/bias"`` or ``"layer_normalization/gamma"``.

    Args:
        model: A built Keras model or layer, or a list of Keras variables.
        exclude: Substrings marking exempt variables. Defaults to
            :data:`DECAY_EXCLUDE_PATTERNS` (biases, normalization gains and offsets).
        exclude_embeddings: Also exempt embedding tables (:data:`EMBEDDING_PATTERNS`).

    Returns:
        A dict ``{variable path: True if it decays}`` in the model's variable order.

    Example:

    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> weight_decay_mask(model)
    {'sequential/dense/kernel': True, 'sequential/dense/bias': False}
    """
    patterns = _patterns(exclude, exclude_embeddings)
    return {v.path: not _is_excluded(v, patterns) for v in _variables_of(model)}


def make_adamw(
    learning_rate=1e-3,
    weight_decay=1e-3,
    *,
    model=None,
    exclude=None,
    exclude_embeddings=False,
    clipnorm=1.0,
    **kwargs,
):
    """AdamW with decoupled weight decay that spares biases and normalization parameters.

    Builds ``keras.optimizers.AdamW`` (Loshchilov & Hutter, 2019) and calls its
    ``exclude_from_weight_decay`` so that biases, layer-normalization gains/offsets and,
    if asked, embedding tables are not decayed. Gradient clipping by norm is on by default
    (``clipnorm=1.0``), the usual safeguard for recurrent networks.

    Keras multiplies ``weight_decay`` by the learning rate: each step shrinks a decayed weight
    by the factor ``(1 - learning_rate * weight_decay)`` before the Adam update. The default
    ``1e-3`` sits in the notes' range ``1e-4 .. 1e-3``; with ``learning_rate=1e-3`` it is a
    very gentle pull, and values of ``0.01 .. 0.1`` are common for AdamW in practice.

    Args:
        learning_rate: Float or ``keras.optimizers.schedules.LearningRateSchedule``, > 0.
        weight_decay: Decoupled decay coefficient ``>= 0`` (``0`` turns decay off).
        model: Optional built model (recommended). When given, its variables are matched by
            full path (catching e.g. every variable of a layer named ``"...norm..."``) and
            passed as ``var_list``. The patterns are always passed as ``var_names`` too, which
            Keras matches against the backend variable's name: the full path on TensorFlow
            (``"custom_norm/scale:0"``) but only the short name on JAX/PyTorch (``"scale"``),
            so only ``model=`` gives the same selection on every backend.
        exclude: Substrings marking exempt variables; defaults to
            :data:`DECAY_EXCLUDE_PATTERNS`.
        exclude_embeddings: Also exempt embedding tables.
        clipnorm: Clip each gradient to this norm (``None`` turns clipping off). Ignored when
            ``global_clipnorm`` is passed in ``kwargs``.
        **kwargs: Passed on to ``keras.optimizers.AdamW`` (``beta_1``, ``epsilon``, ...).

    Returns:
        A ``keras.optimizers.AdamW`` instance, not yet built.

    Example:

    >>> model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4),
    ...                           keras.layers.LayerNormalization(), keras.layers.Dense(2)])
    >>> optimizer = make_adamw(1e-3, weight_decay=1e-3, model=model)
    >>> model.compile(optimizer=optimizer, loss="mse")
    """
    schedule = isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule) or (
        callable(learning_rate))
    if not schedule:
        requirement = "a finite float > 0 or a LearningRateSchedule"
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise TypeError(message("learning_rate", requirement, learning_rate))
        if not 0 < learning_rate < math.inf:  # NaN fails too
            raise ValueError(message("learning_rate", requirement, learning_rate))
    if isinstance(learning_rate, numbers.Real):
        learning_rate = float(learning_rate)
    weight_decay = _finite_number(weight_decay, "weight_decay", positive=False)
    if clipnorm is not None:
        clipnorm = _finite_number(clipnorm, "clipnorm", positive=True)
    patterns = _patterns(exclude, exclude_embeddings)
    if kwargs.get("global_clipnorm") is not None or kwargs.get("clipvalue") is not None:
        clipnorm = None
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate, weight_decay=float(weight_decay), clipnorm=clipnorm, **kwargs
    )
    var_list = None
    if model is not None:
        var_list = [v for v in _variables_of(model) if _is_excluded(v, patterns)]
    # Keras joins var_names into one regex and searches the short name; escape the patterns
    # and make them case-insensitive so they mean what `weight_decay_mask` says.
    var_names = [f"(?i:{re.escape(p)})" for p in patterns]
    optimizer.exclude_from_weight_decay(var_list=var_list, var_names=var_names)
    return optimizer


def add_l2_regularization(model, l2=1e-4, *, exclude=None, exclude_embeddings=False):
    """Coupled weight decay: add ``l2 * ||w||^2`` to the loss for a model's weights.

    The notes' ``Loss + λ‖w‖²`` form. Attaches ``keras.regularizers.L2(l2)`` to every
    trainable variable that :func:`weight_decay_mask` selects (so biases and normalization
    parameters are spared, as in :func:`make_adamw`); Keras then adds the penalties to
    ``model.losses`` and to the training loss. Call it after building and before
    ``compile``/``fit``. The penalty is a training-time setting: it is not stored in a saved
    ``.keras`` file, so call it again after loading if you continue training.

    Under SGD this equals decoupled decay with ``weight_decay = 2 * l2``
    (:func:`l2_to_weight_decay`); under Adam it does not (see the module docstring).

    Args:
        model: A built Keras model or layer.
        l2: Penalty coefficient ``>= 0``; ``0`` removes the penalties again.
        exclude: Substrings marking exempt variables; defaults to
            :data:`DECAY_EXCLUDE_PATTERNS`.
        exclude_embeddings: Also exempt embedding tables.

    Returns:
        The list of variable paths that now carry the penalty.

    Example:

    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> add_l2_regularization(model, 1e-4)
    ['sequential/dense/kernel']
    >>> model.compile(optimizer="adam", loss="mse")
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"`model` must be a Keras model or layer. Received: {type(model).__name__}"
        )
    l2 = _finite_number(l2, "l2", positive=False)
    patterns = _patterns(exclude, exclude_embeddings)
    chosen = []
    for variable in _variables_of(model):
        if _is_excluded(variable, patterns):
            continue
        variable.regularizer = keras.regularizers.L2(float(l2)) if l2 > 0 else None
        if l2 > 0:
            chosen.append(variable.path)
    return chosen


def l2_to_weight_decay(l2):
    """The Keras ``weight_decay`` that matches an ``L2(l2)`` penalty under plain SGD.

    ``keras.regularizers.L2(l2)`` adds ``l2 * sum(w**2)``; its gradient ``2 * l2 * w`` makes
    an SGD step ``w -= lr * (g + 2 * l2 * w)``, which is exactly Keras' decoupled step
    ``w -= lr * weight_decay * w`` followed by ``w -= lr * g`` with
    ``weight_decay = 2 * l2``. (With the ``l2/2 * ||w||^2`` convention the two numbers are
    equal.) The learning rate cancels because Keras multiplies ``weight_decay`` by it.

    Args:
        l2: The L2 penalty coefficient, ``>= 0``.

    Returns:
        ``2 * l2`` as a float.

    Example:

    >>> l2_to_weight_decay(5e-4)
    0.001
    """
    return 2.0 * _finite_number(l2, "l2", positive=False)

