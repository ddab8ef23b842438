"""Text generation and Monte-Carlo dropout for trained language models.

* :func:`generate_text` samples a continuation of a prompt from a character- or word-level
  model (temperature, top-k, a fixed seed; ``temperature=0`` is greedy argmax). It works with
  stateless models (a sliding window of context is fed at every step) and stateful ones (the
  states are reset, the prompt is fed once, then one token per step), including models built
  with a fixed batch size or sequence length.
* :func:`mc_dropout_predict` keeps dropout on at prediction time (Gal & Ghahramani, 2016) and
  averages ``num_samples`` stochastic forward passes into a predictive mean and spread.

Models are expected to map int ids ``[batch, time]`` to next-token logits
``[batch, time, vocab]``, the package's convention (``from_logits=False`` for models that
output probabilities).
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings

import keras
import numpy as np

from regkeras.data import check_token_ids
from regkeras.models import output_width, token_id_limit
from regkeras.validation import (
    check_bool,
    check_choice,
    check_int,
    check_positive_int,
    check_seed,
    check_string,
    message,
)

__all__ = [
    "sample_next_token",
    "generate_ids",
    "generate_text",
    "MCDropoutPrediction",
    "mc_dropout_predict",
]


def _check_temperature(temperature):
    if isinstance(temperature, str):
        check_choice("temperature", temperature, ("greedy",), lower=False,
                     requirement="a finite float >= 0 or 'greedy'")
        return 0.0
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(message("temperature", "a finite float >= 0 or 'greedy'", temperature))
    if not 0 <= temperature < float("inf"):
        raise ValueError(message("temperature", "a finite float >= 0 or 'greedy'", temperature))
    return float(temperature)


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_seed("seed", seed))


def _sample(logits, temperature, top_k, rng):
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature == 0.0:
        return int(np.argmax(logits))
    # Shift before dividing: a tiny temperature then sends the others to -inf, not to NaN.
    with np.errstate(over="ignore"):
        z = (logits - np.max(logits)) / temperature
    if top_k is not None and top_k < z.size:
        kth = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z)
    p /= p.sum()
    return int(rng.choice(p.size, p=p))


def sample_next_token(logits, *, temperature=1.0, top_k=None, seed=None):
    """Draws one token id from a vector of logits.

    Divides the logits by ``temperature`` (lower = more conservative, higher = more
    surprising), keeps only the ``top_k`` largest if asked, and samples from the softmax.
    ``temperature=0`` (or ``"greedy"``) returns the argmax.

    Args:
        logits: 1-D array of unnormalized log-probabilities.
        temperature: Number ``>= 0`` or ``"greedy"``. Default ``1.0``.
        top_k: Optional positive int: sample only among the ``top_k`` most likely tokens.
        seed: Integer, ``numpy.random.Generator`` or ``None``.

    Returns:
        The sampled token id (int).

    Example:

    >>> sample_next_token([0.1, 2.0, -1.0], temperature=0)
    1
    """
    temperature = _check_temperature(temperature)
    top_k = check_positive_int("top_k", top_k, allow_none=True)
    try:
        logits = np.asarray(logits)
    except ValueError:  # ragged nested lists
        raise ValueError("`logits` must be a non-empty 1-D array of numbers.") from None
    if logits.ndim != 1 or logits.size == 0:
        raise ValueError(f"`logits` must be a non-empty 1-D array. Received shape {logits.shape}")
    if logits.dtype == bool or not (np.issubdtype(logits.dtype, np.floating)
                                    or np.issubdtype(logits.dtype, np.integer)):
        raise TypeError(f"`logits` must hold real numbers. Received dtype {logits.dtype}")
    if np.isnan(logits).any() or np.isposinf(logits).any() or not np.isfinite(logits).any():
        raise ValueError(
            "`logits` must be finite (-inf is allowed for excluded tokens, but not for all of "
            f"them; NaN and +inf are not). Received: {logits!r}"
        )
    return _sample(logits, temperature, top_k, _rng(seed))


def _sublayers(layer):
    """Every layer inside `layer`, through Keras' public attributes: the layers of models and
    Sequential blocks, and the two directions of `Bidirectional`."""
    children = list(getattr(layer, "layers", None) or [])
    for attribute in ("forward_layer", "backward_layer", "layer"):
        child = getattr(layer, attribute, None)
        if isinstance(child, keras.layers.Layer):
            children.append(child)
    found = []
    for child in children:
        found.append(child)
        found.extend(_sublayers(child))
    return found


def _stateful_layers(model):
    return [layer for layer in _sublayers(model) if getattr(layer, "stateful", False)]


def _reset_states(model):
    for layer in _stateful_layers(model):
        if hasattr(layer, "reset_state"):
            layer.reset_state()
        elif hasattr(layer, "reset_states"):
            layer.reset_states()


def _input_shape(model):
    inputs = getattr(model, "inputs", None)
    try:
        if inputs:
            return tuple(inputs[0].shape)
    except (AttributeError, ValueError):
        pass
    return None


def _strip_build_configs(config):
    """Drops recorded build shapes so that layers are rebuilt from the new input shape."""
    if isinstance(config, dict):
        return {k: _strip_build_configs(v) for k, v in config.items() if k != "build_config"}
    if isinstance(config, list):
        return [_strip_build_configs(v) for v in config]
    return config


def _twin(model, batch):
    """The same model with input batch_shape (batch, None) and the same weights."""
    from regkeras.models import LanguageModel

    if isinstance(model, LanguageModel):
        twin = model.spec.replace(batch_size=batch, seq_len=None).build()
        twin.set_weights(model.get_weights())
        return twin
    config = _strip_build_configs(model.get_config())
    patched = False
    for layer in config.get("layers", []):
        if layer.get("class_name") == "InputLayer":
            layer["config"]["batch_shape"] = [batch, None]
            patched = True
    if not patched:
        raise ValueError("no InputLayer in the model's config")
    twin = model.__class__.from_config(config)
    twin.set_weights(model.get_weights())
    twin.predict_on_batch(np.zeros((batch or 1, 2), dtype="int32"))  # fails early if it cannot
    return twin


def _prepare(model):
    """(model to run, batch size to feed, stateful?) for incremental generation."""
    stateful = bool(_stateful_layers(model))
    shape = _input_shape(model)
    batch, steps = (shape[0], shape[1]) if shape is not None and len(shape) >= 2 else (None, None)
    if steps is not None or (stateful and batch not in (None, 1)):
        try:
            return _twin(model, 1 if stateful else None), 1, stateful
        except Exception as err:  # noqa: BLE001 - any failure: fall back or explain
            if steps is not None:
                raise ValueError(
                    f"The model has a fixed sequence length ({steps}) and could not be rebuilt "
                    f"with a free one ({type(err).__name__}: {err}). Build an inference copy "
                    "with seq_len=None and copy the weights (model2.set_weights(...))."
                ) from err
    if stateful and batch is None:
        # e.g. a subclassed model: the batch size its states were created with
        for layer in _stateful_layers(model):
            states = getattr(layer, "states", None)
            if states and states[0] is not None and getattr(states[0], "shape", None):
                batch = int(states[0].shape[0])
                break
    return model, (batch or 1), stateful


def _last_logits(model, ids, batch, from_logits):
    x = np.tile(np.asarray(ids, dtype="int32")[None, :], (batch, 1))
    # predict_on_batch runs a compiled inference step (dropout off) that, after a couple of
    # retraces, accepts any length: much faster than an eager call per token.
    out = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    row = np.asarray(out[0, -1], dtype=np.float64)
    if not from_logits:
        row = np.log(np.clip(row, 1e-30, None))
    return row


def generate_ids(
    model,
    prompt_ids,
    length,
    *,
    temperature=1.0,
    top_k=None,
    seed=None,
    context_length=None,
    from_logits=True,
):
    """Samples ``length`` new token ids after ``prompt_ids`` (see :func:`generate_text`).

    Args:
        model: Keras model from ids ``[batch, time]`` to logits ``[batch, time, vocab]``.
        prompt_ids: Non-empty sequence of int ids.
        length: Number of ids to generate, ``>= 0``.
        temperature: Number ``>= 0`` or ``"greedy"``.
        top_k: Optional positive int.
        seed: Integer, ``numpy.random.Generator`` or ``None``.
        context_length: Stateless models only: how many most recent ids are fed at each step.
            Default ``100``.
        from_logits: ``False`` if the model outputs probabilities.

    Returns:
        A 1-D ``int32`` numpy array of the new ids (prompt not included).

    Example:

    >>> new_ids = generate_ids(model, [5, 3, 8], 20, temperature=0.8, seed=0)
    """
    _check_model(model)
    # The prompt's ids must be ids of the model's vocabulary: checked here, once, rather
    # than met as an obscure error (or a silently wrapped negative id) in the embedding.
    prompt = check_token_ids("prompt_ids", prompt_ids, token_id_limit(model))
    length = check_int("length", length, minimum=0)
    context_length = check_positive_int("context_length", context_length, allow_none=True)
    if context_length is None:
        context_length = 100
    temperature = _check_temperature(temperature)
    top_k = check_positive_int("top_k", top_k, allow_none=True)
    check_bool("from_logits", from_logits)
    rng = _rng(seed)

    runner, batch, stateful = _prepare(model)
    out = []
    if stateful:
        _reset_states(runner)
        logits = _last_logits(runner, prompt, batch, from_logits)
        for i in range(length):
            token = _sample(logits, temperature, top_k, rng)
            out.append(token)
            if i + 1 < length:
                logits = _last_logits(runner, [token], batch, from_logits)
        _reset_states(runner)
    else:
        ids = list(int(t) for t in prompt)
        for _ in range(length):
            logits = _last_logits(runner, ids[-context_length:], batch, from_logits)
            token = _sample(logits, temperature, top_k, rng)
            out.append(token)
            ids.append(token)
    return np.asarray(out, dtype="int32")


def generate_text(
    model,
    vocab,
    prompt,
    *,
    length=200,
    temperature=1.0,
    top_k=None,
    seed=None,
    context_length=None,
    from_logits=True,
    include_prompt=True,
):
    """Continues a prompt by sampling from a trained character- or word-level model.

    The prompt is encoded with ``vocab`` (a :class:`regkeras.data.Vocabulary`, or anything
    with ``encode(text) -> ids`` and ``decode(ids) -> str``), then tokens are drawn one at a
    time with :func:`sample_next_token`. A stateless model is fed the last
    ``context_length`` tokens at every step; a stateful model has its states reset, is fed the
    prompt once and then one token per step (and is reset again at the end). Models with a
    fixed batch size or sequence length are rebuilt with a free one (same weights). The same
    ``seed`` gives the same text; ``temperature=0`` gives the greedy (argmax) text.

    Args:
        model: Keras model from ids ``[batch, time]`` to logits ``[batch, time, vocab]``.
        vocab: The vocabulary the model was trained with.
        prompt: Non-empty text to continue.
        length: Number of tokens (characters or words) to generate. Default ``200``.
        temperature: Number ``>= 0`` or ``"greedy"``. Default ``1.0``.
        top_k: Optional positive int: sample only among the ``top_k`` most likely tokens.
        seed: Integer, ``numpy.random.Generator`` or ``None`` (not reproducible).
        context_length: Stateless models: tokens of context fed per step (default 100).
        from_logits: ``False`` if the model outputs probabilities.
        include_prompt: Return prompt + continuation (default) or the continuation only.

    Returns:
        The generated text (str). Word-level text is joined with spaces.

    Example:

    >>> text = generate_text(model, corpus.vocab, "ROMEO:", length=100, temperature=0.8,
    ...                      top_k=10, seed=0)
    """
    _check_model(model)
    check_string("prompt", prompt, "a non-empty string (the text to continue)")
    check_bool("include_prompt", include_prompt)
    if not (hasattr(vocab, "encode") and hasattr(vocab, "decode")):
        raise TypeError(
            "`vocab` must have encode(text) and decode(ids), e.g. regkeras.data.Vocabulary. "
            f"Received: {type(vocab).__name__}"
        )
    size = getattr(vocab, "size", None)
    width = output_width(model)
    if size is not None and width is not None and width != size:
        raise ValueError(f"`vocab` has {size} tokens but the model predicts {width}: pass the "
                         "vocabulary the model was trained with (saved beside it by "
                         "regkeras.save_language_model).")
    prompt_ids = np.asarray(vocab.encode(prompt))
    if prompt_ids.size == 0:
        raise ValueError(f"The prompt {prompt!r} encodes to no tokens.")
    new_ids = generate_ids(model, prompt_ids.astype("int64"), length, temperature=temperature,
                           top_k=top_k, seed=seed, context_length=context_length,
                           from_logits=from_logits)
    continuation = vocab.decode(new_ids) if len(new_ids) else ""
    if not include_prompt:
        return continuation
    word_level = getattr(vocab, "level", "char") == "word"
    sep = " " if word_level and continuation and not prompt.endswith((" ", "\n")) else ""
    return prompt + sep + continuation


@dataclasses.dataclass
class MCDropoutPrediction:
    """Result of :func:`mc_dropout_predict`.

    Attributes:
        mean: Predictive mean of the probabilities, ``[..., vocab]``.
        std: Standard deviation of the probabilities across samples (model uncertainty).
        entropy: Entropy (nats) of ``mean`` along the last axis: the total predictive
            uncertainty, ``[...]``.
        mutual_information: Entropy of ``mean`` minus the mean entropy of the samples
            (nats, ``[...]``, ``>= 0``): the part of the uncertainty that comes from the
            masks disagreeing (the "epistemic" part in Gal's thesis), as opposed to every
            mask being unsure the same way.
        samples: The per-sample probabilities ``[num_samples, ..., vocab]`` if requested.
    """

    mean: np.ndarray
    std: np.ndarray
    entropy: np.ndarray
    mutual_information: np.ndarray | None = None
    samples: np.ndarray | None = None


def _entropy(probs):
    """Entropy in nats along the last axis (0 log 0 counted as 0)."""
    return -(probs * np.log(np.clip(probs, 1e-30, None))).sum(axis=-1)


def _probabilities_and_entropy(outputs, from_logits, out):
    """One pass's probabilities, written to `out`, and their entropy (nats, last axis).

    From logits the entropy is ``log(sum(exp(z))) - sum(p * z)`` (with ``z`` shifted by its
    maximum): the same number as ``-sum(p * log p)`` without a logarithm per vocabulary entry.
    `outputs` is overwritten.
    """
    if not from_logits:
        np.copyto(out, outputs)
        return _entropy(out)
    outputs -= outputs.max(axis=-1, keepdims=True)
    np.exp(outputs, out=out)
    norm = out.sum(axis=-1, keepdims=True)
    out /= norm
    return np.log(norm[..., 0]) - np.einsum("...v,...v->...", out, outputs)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(message("model", "a keras.Model", model))


def _reads_token_ids(model):
    """Whether `model` has one input, of an integer dtype (a language model's token ids)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return False
    return bool(inputs) and len(inputs) == 1 and "int" in keras.backend.standardize_dtype(
        inputs[0].dtype)


def _seed_state_variables(model):
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def mc_dropout_predict(model, x, *, num_samples=20, seed=None, from_logits=True,
                       return_samples=False):
    """Monte-Carlo dropout: predictive mean and spread with dropout left on (Gal & Ghahramani).

    Runs ``model(x, training=True)`` ``num_samples`` times, so every dropout layer draws a fresh
    mask each time, and summarizes the softmax outputs: their mean (a better-calibrated
    prediction than a single pass with dropout off) and their standard deviation (how much
    the model's own uncertainty moves the prediction). With ``seed`` the dropout random state
    is fixed for the call (and put back afterwards), so the result is reproducible. Note that
    ``training=True`` also advances a stateful model's states.

    Args:
        model: A Keras model with dropout, returning logits (or probabilities).
        x: Model input, e.g. int ids ``[batch, time]``.
        num_samples: Number of stochastic passes, ``>= 2``. Default ``20``.
        seed: Optional int for reproducible masks.
        from_logits: ``False`` if the model outputs probabilities.
        return_samples: Keep every pass's probabilities in the result.

    Returns:
        A :class:`MCDropoutPrediction`.

    Example:

    >>> pred = mc_dropout_predict(model, ids[:4], num_samples=30, seed=0)
    >>> pred.mean.shape == pred.std.shape
    True
    """
    _check_model(model)
    num_samples = check_int("num_samples", num_samples, minimum=2)
    seed = check_seed("seed", seed)
    check_bool("from_logits", from_logits)
    check_bool("return_samples", return_samples)
    if _reads_token_ids(model):
        # A language model: `x` are token ids of its vocabulary (float ids would be
        # truncated, out-of-range ones fail inside the embedding).
        x = check_token_ids("x", x, token_id_limit(model), ndim=len(model.inputs[0].shape))

    state_vars = _seed_state_variables(model)
    saved = [keras.ops.convert_to_numpy(v) for v in state_vars]
    if seed is not None:
        for i, v in enumerate(state_vars):
            # Kept below 2**31: every backend's seed dtype (uint32, int32, int64) holds it.
            v.assign(np.array([(seed * 1000 + i) % 2**31, 0], dtype=saved[i].dtype))
    # Running sums, not a stack of every pass: [num_samples, batch, time, vocab] float64 is
    # hundreds of MB for a word-level model; the sums are arrays of one pass. They are taken
    # around the first pass (the shifted-data formula), so the spread is exactly 0 where the
    # passes agree and does not cancel badly elsewhere; the work is in place, because each
    # temporary of this size costs more to allocate than to compute.
    shift = total = total_sq = work = outputs = probs = None
    sample_entropy = 0.0
    samples = [] if return_samples else None
    try:
        for _ in range(num_samples):
            out = keras.ops.convert_to_numpy(model(x, training=True))
            if shift is None:
                outputs, probs = np.empty(out.shape), np.empty(out.shape)
            np.copyto(outputs, out)  # to float64, into memory that is already paged in
            entropy = _probabilities_and_entropy(outputs, from_logits, out=probs)
            sample_entropy = sample_entropy + entropy
            if shift is None:
                shift, total, total_sq, work = (probs.copy(), np.zeros_like(probs),
                                                np.zeros_like(probs), np.empty_like(probs))
            np.subtract(probs, shift, out=work)
            total += work
            work *= work
            total_sq += work
            if samples is not None:
                samples.append(probs.copy())
    finally:
        if seed is not None:
            for v, value in zip(state_vars, saved):
                v.assign(value)
    total /= num_samples  # the mean offset from the first pass
    mean = shift + total
    total *= total
    np.subtract(total_sq / num_samples, total, out=total)
    spread = np.clip(total, 0.0, None, out=total)
    std = np.sqrt(spread, out=spread)
    if np.all(std <= 1e-12):
        warnings.warn(
            "All Monte-Carlo samples are identical: the model has no active dropout.",
            stacklevel=2,
        )
    entropy = _entropy(mean)
    mutual_information = np.clip(entropy - sample_entropy / num_samples, 0.0, None)
    return MCDropoutPrediction(mean=mean, std=std, entropy=entropy,
                               mutual_information=mutual_information,
                               samples=np.stack(samples) if return_samples else None)
