"""The LSTM engine: one step, written once forward and backward, and the loops that run it.

Every regkeras LSTM computes the same step (gates in Keras' order i, f, c, o)::

    a_t  = z_t + (m ⊙ h_{t-1})·U + b                                   (plain)
    a_t  = γ_x ⊙ rms_normalize(z_t) + γ_h ⊙ rms_normalize((m ⊙ h_{t-1})·U) + β
                                                                         (layer-normalized)
    c'_t = σ(a_f) ⊙ c_{t-1} + σ(a_i) ⊙ tanh(a_c)
    h'_t = σ(a_o) ⊙ tanh(c'_t)      or, layer-normalized,  σ(a_o) ⊙ tanh(γ_c ⊙ standardize(c'_t) + β_c)
    c_t  = (1 - k^c_t) ⊙ c'_t + k^c_t ⊙ c_{t-1};     h_t = (1 - k^h_t) ⊙ h'_t + k^h_t ⊙ h_{t-1}

`z_t = x_t·W` comes from the cell's `project_inputs`, for the whole sequence at once. `m` is a
variational dropout mask on `h_{t-1}` (one per sequence). The keep weights `k` mix the new and
the old state; they express zoneout (a random 0/1 mask in training, the zoneout rate at
inference) and padding (1 at a padded step) alike. The layer-normalized form is Ba et al.'s
cell as `regkeras.LayerNormLSTMCell` computes it: `W` and `U` come with centred columns (every
row minus its mean), so `z_t` and `h·U` already have zero mean over the gate features and
their layer norms are divisions by the root mean square.

The step exists once, in two halves:

- `lstm_step`: the forward step (any activations), which can also return what its backward
  needs;
- `lstm_step_backward`: the backward step (sigmoid gates, tanh): gate gradients, the gradient
  for `h_{t-1}`, `c_{t-1}`, `z_t`, and the per-step terms of the bias and norm-vector
  gradients.

Two paths run it:

- `lstm_step_with_gradient`: one step with that backward as its gradient. The cells' step-by-
  step path (`fused=False`, `keras.layers.RNN(cell)`) calls it inside Keras' time loop.
- `lstm_sequence`: the whole sequence (the fused path, used by default). Automatic
  differentiation of a time loop differentiates it one step at a time, and adds
  `h_{t-1}ᵀ·da_t` into the gradient of `U` at every step. A fused LSTM kernel (cuDNN,
  PyTorch's CPU LSTM) does less: the backward loop computes only what the recurrence needs,
  and the weight gradient comes afterwards from the whole sequence at once,
  `dU = H_prevᵀ·dA`, one large product instead of `T` small ones. `lstm_sequence` does
  that with `keras.ops` and `keras.ops.custom_gradient`, so it runs on every backend.

The weights of a step travel as one dict (`StepWeights` in the docstrings): `kernel` (`U`),
optionally `bias`, `recurrent_mask` (`m`), and, for the layer-normalized step,
`input_gamma`, `input_beta` (every bias summed), `recurrent_gamma` (`4·units`),
`state_gamma`, `state_beta` (`units`) and `epsilon` (a Python float). A cell makes it once per
call (`ProjectedLSTMCell.step_weights`).
"""

import functools

import keras
import numpy as np
from keras import ops

__all__ = [
    "lstm_sequence", "lstm_step", "lstm_step_backward", "lstm_step_with_gradient",
    "standard_gates",
]

_LOW_PRECISION = ("float16", "bfloat16")
NORM_VECTORS = ("input_gamma", "input_beta", "recurrent_gamma", "state_gamma", "state_beta")
# The weights of a step that are trained (the engine returns their gradients), in order.
TRAINED_WEIGHTS = ("kernel", "bias", *NORM_VECTORS)


# --- Normalization statistics, shared by both paths ----------------------------------------


def rms_normalize(x, epsilon):
    """`(x / rms(x), 1 / rms(x))` over the last axis, with statistics in float32."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    x32 = ops.cast(x, "float32") if dtype in _LOW_PRECISION else x
    inv = ops.rsqrt(ops.mean(ops.square(x32), axis=-1, keepdims=True) + epsilon)
    return ops.cast(x32 * inv, dtype), ops.cast(inv, dtype)


def standardize(x, epsilon):
    """`((x - mean) / std, 1 / std)` over the last axis, with statistics in float32."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    x32 = ops.cast(x, "float32") if dtype in _LOW_PRECISION else x
    centered = x32 - ops.mean(x32, axis=-1, keepdims=True)
    inv = ops.rsqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + epsilon)
    return ops.cast(centered * inv, dtype), ops.cast(inv, dtype)


def rms_normalize_backward(dy_hat, x_hat, inv):
    """Gradient for `x` of `x_hat = x / rms(x)`, given the gradient `dy_hat` for `x_hat`."""
    return inv * (dy_hat - x_hat * ops.mean(dy_hat * x_hat, axis=-1, keepdims=True))


def standardize_backward(dy_hat, x_hat, inv):
    """Gradient for `x` of `x_hat = (x - mean) / std`, given the gradient for `x_hat`."""
    return inv * (
        dy_hat
        - ops.mean(dy_hat, axis=-1, keepdims=True)
        - x_hat * ops.mean(dy_hat * x_hat, axis=-1, keepdims=True)
    )


# Older names, kept for code that imported them.
_rms_stats, _standardize = rms_normalize, standardize


def center_columns(kernel):
    """`kernel` minus the mean of each of its rows (the mean over the `4·units` gate features).

    For any `h`, `h·center_columns(U) = h·U - mean(h·U)` over the last axis, since the mean
    of the `4·units` features of `h·U` is `h·mean(U, axis=-1)`. Centring the (small) kernel
    once per call therefore does the mean subtraction of the layer norm of `h·U` (and, for
    `W`, of `x·W`) for every step at once.
    """
    return ops.subtract(kernel, ops.mean(kernel, axis=-1, keepdims=True))


def keep_mix(new, old, keep):
    """`(1 - keep)·new + keep·old`; `new` when `keep` is None. Exactly `old` where keep is 1."""
    return new if keep is None else (1.0 - keep) * new + keep * old


# --- The step, forward and backward --------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _gate_affine(units):
    """`(scale, offset)` of `standard_gates` as NumPy arrays, `(4·units,)` each: 0.5 and 0.5 on
    the sigmoid gates' columns (i, f, o), 1 and 0 on the candidate's (g), so `offset` is
    `1 - scale`. Cached: an eagerly run loop (PyTorch, JAX outside `jit`) calls the step once
    per time step. Arrays, not tensors: a tensor made inside one TensorFlow graph cannot be
    used in another."""
    scale = np.full(4 * units, 0.5)  # float64; cast to the step's dtype where used
    scale[2 * units:3 * units] = 1.0
    offset = 1.0 - scale
    scale.setflags(write=False)
    offset.setflags(write=False)
    return scale, offset


def standard_gates(pre):
    """`sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)` from the pre-activations `pre`.

    With `sigmoid(x) = 0.5·tanh(x/2) + 0.5`, one tanh over all `4·units` columns gives the four
    gates, and XLA's CPU backend runs a step's element-wise part 1.6-1.8x faster than with
    three sigmoids and a tanh over the four quarters (0.15-0.17 against 0.24-0.30 ms per step
    at batch 64 and 256 units on a 2-core Zen 4; inference 1.23-1.30x, benchmarks/RESULTS.md).
    The values agree to rounding in absolute terms (3e-7 in float32); a gate below about 3e-8
    rounds to 0 in float32 where a sigmoid keeps a tiny positive value, which changes nothing
    the step computes.
    """
    dtype = keras.backend.standardize_dtype(pre.dtype)
    scale, offset = (ops.convert_to_tensor(a, dtype)
                     for a in _gate_affine(pre.shape[-1] // 4))
    return ops.split(ops.tanh(pre * scale) * scale + offset, 4, axis=-1)


def _is_layer_normalized(weights):
    return "input_gamma" in weights


def lstm_step(
    z_t, h, c, weights, keep_c=None, keep_h=None, activation=None, recurrent_activation=None,
    save=False,
):
    """One LSTM step, forward (the equations of the module docstring).

    Args:
        z_t: `(batch, 4·units)`, the input term `x_t·W` of this step.
        h, c: `(batch, units)`, the previous states.
        weights: The step's weights (`kernel`, optional `bias`, `recurrent_mask`, norm
            vectors and `epsilon`; see the module docstring).
        keep_c, keep_h: None, a scalar, or keep weights broadcastable to `(batch, units)`.
        activation, recurrent_activation: Callables; default `tanh` and `sigmoid`.
        save: Also return what `lstm_step_backward` needs (sigmoid and tanh only).

    Returns:
        `(h_t, c_t)`, or `(h_t, c_t, saved)` with `save`.
    """
    act = ops.tanh if activation is None else activation
    gate = ops.sigmoid if recurrent_activation is None else recurrent_activation
    norm = _is_layer_normalized(weights)
    epsilon = weights.get("epsilon", 0.0)
    h_dropped = h * weights["recurrent_mask"] if "recurrent_mask" in weights else h
    r = ops.matmul(h_dropped, weights["kernel"])
    if norm:
        r_hat, r_inv = rms_normalize(r, epsilon)
        z_hat, _ = rms_normalize(z_t, epsilon)
        pre = (z_hat * weights["input_gamma"] + r_hat * weights["recurrent_gamma"]
               + weights["input_beta"])
    else:
        pre = z_t + r
        if "bias" in weights:
            pre = pre + weights["bias"]
    if activation is None and recurrent_activation is None:
        i, f, g, o = standard_gates(pre)
    else:
        i, f, g, o = ops.split(pre, 4, axis=-1)
        i, f, g, o = gate(i), gate(f), act(g), gate(o)
    c_new = f * c + i * g
    if norm:
        c_hat, c_inv = standardize(c_new, epsilon)
        tanh_c = act(c_hat * weights["state_gamma"] + weights["state_beta"])
    else:
        tanh_c = act(c_new)
    h_new = o * tanh_c
    c_out, h_out = keep_mix(c_new, c, keep_c), keep_mix(h_new, h, keep_h)
    if not save:
        return h_out, c_out
    # What the backward step needs, prepared here where it does not wait on the recurrence:
    # d_pre = [dc, dc, dc, dh] ⊙ gate_jacobian, d_tanh = dh ⊙ o ⊙ (1 - tanh_c²).
    gate_jacobian = ops.concatenate(
        [g * i * (1.0 - i), c * f * (1.0 - f), i * (1.0 - g * g), tanh_c * o * (1.0 - o)],
        axis=-1,
    )
    saved = [gate_jacobian, o * (1.0 - tanh_c * tanh_c), f]
    if norm:
        saved += [r_hat, r_inv, c_hat, c_inv]
    return h_out, c_out, saved


def lstm_step_backward(dh, dc, saved, z_t, weights, keep_c=None, keep_h=None, kernel_t=None):
    """The backward of `lstm_step` (sigmoid gates, tanh), from the gradients for `h_t`, `c_t`.

    Args:
        dh, dc: `(batch, units)` gradients for the step's outputs `h_t` and `c_t`.
        saved: What `lstm_step(..., save=True)` returned.
        z_t, weights, keep_c, keep_h: As given to `lstm_step`.
        kernel_t: `Uᵀ`, when the caller has it already (a time loop transposes once).

    Returns:
        `(d_z, d_r, dh_prev, dc_prev, terms)`: the gradients for `z_t`, for `r = (m ⊙ h)·U`
        (so `dU = (m ⊙ h)ᵀ·d_r`), for `h_{t-1}` and `c_{t-1}`, and a dict of the per-row
        gradient terms of the bias or norm vectors (`bias` or the five norm vectors), still to
        be summed over the batch.
    """
    gate_jacobian, tanh_grad, f, *norm_saved = saved
    norm = _is_layer_normalized(weights)
    if keep_c is not None:
        dc_keep, dc = dc * keep_c, dc * (1.0 - keep_c)
    if keep_h is not None:
        dh_keep, dh = dh * keep_h, dh * (1.0 - keep_h)
    d_tanh = dh * tanh_grad
    if norm:
        r_hat, r_inv, c_hat, c_inv = norm_saved
        dc = dc + standardize_backward(d_tanh * weights["state_gamma"], c_hat, c_inv)
    else:
        dc = dc + d_tanh
    d_pre = ops.concatenate([dc, dc, dc, dh], axis=-1) * gate_jacobian
    if norm:
        z_hat, z_inv = rms_normalize(z_t, weights["epsilon"])
        d_z = rms_normalize_backward(d_pre * weights["input_gamma"], z_hat, z_inv)
        d_r = rms_normalize_backward(d_pre * weights["recurrent_gamma"], r_hat, r_inv)
        terms = {
            "input_gamma": d_pre * z_hat,
            "input_beta": d_pre,
            "recurrent_gamma": d_pre * r_hat,
            "state_gamma": d_tanh * c_hat,
            "state_beta": d_tanh,
        }
    else:
        d_z = d_r = d_pre
        terms = {"bias": d_pre}
    if kernel_t is None:
        kernel_t = ops.transpose(weights["kernel"])
    dh_prev = ops.matmul(d_r, kernel_t)
    if "recurrent_mask" in weights:
        dh_prev = dh_prev * weights["recurrent_mask"]
    dc_prev = dc * f
    if keep_c is not None:
        dc_prev = dc_prev + dc_keep
    if keep_h is not None:
        dh_prev = dh_prev + dh_keep
    return d_z, d_r, dh_prev, dc_prev, terms


# --- Plumbing shared by the two custom gradients -------------------------------------------


def _as_tensor(x):
    """`x` as a tensor, a variable as a read of its value (a custom gradient may not see
    variables: TensorFlow would want their gradients separately); None stays None."""
    if x is None:
        return None
    if isinstance(x, keras.Variable):
        return ops.copy(x)
    return ops.convert_to_tensor(x)


def _sum_dtype(dtype):
    """The bias and norm-vector gradients are sums over batch rows (and steps): float32 at
    least (float16/bfloat16 would lose most of them), float64 for a float64 layer."""
    return "float64" if keras.backend.standardize_dtype(dtype) == "float64" else "float32"


def _check_weights(weights):
    if "kernel" not in weights:
        raise ValueError("The step's `weights` need a `kernel` (the recurrent matrix U).")
    if _is_layer_normalized(weights):
        missing = [k for k in (*NORM_VECTORS, "epsilon") if k not in weights]
        if missing:
            raise ValueError(f"A layer-normalized step needs {missing} in its `weights`.")
        if "bias" in weights:
            raise ValueError("`bias` must be None with `layer_norm`: give `input_beta` instead.")


def _step_weights(values, epsilon):
    """The step's weights dict from a custom gradient's named inputs (and `epsilon`)."""
    weights = {k: values[k] for k in (*TRAINED_WEIGHTS, "recurrent_mask") if k in values}
    if epsilon is not None:
        weights["epsilon"] = epsilon
    return weights


def _split_upstream(upstream_args, upstream, single_output):
    """The upstream gradients `(d_first, d_second)` of a custom gradient with two outputs."""
    if single_output:  # PyTorch: one output, the two stacked along a leading axis
        d = upstream_args[0] if upstream is None else upstream
        return d[:-1], d[-1]
    # TensorFlow passes one gradient per output, JAX one tuple.
    return upstream_args[0] if len(upstream_args) == 1 else upstream_args


def lstm_step_with_gradient(z_t, h, c, weights, keep_c=None, keep_h=None):
    """`lstm_step` (sigmoid gates, tanh) with `lstm_step_backward` as its gradient.

    The step-by-step path of the cells: Keras' time loop calls this once per step, so
    automatic differentiation of the loop uses the engine's backward instead of tracing every
    op of the step. Same arguments and results as `lstm_step`.
    """
    _check_weights(weights)
    args = {"z": z_t, "h": h, "c": c}
    for key in (*TRAINED_WEIGHTS, "recurrent_mask"):
        if weights.get(key) is not None:
            args[key] = weights[key]
    dtype = ops.convert_to_tensor(z_t).dtype
    for key, keep in (("keep_c", keep_c), ("keep_h", keep_h)):
        if keep is not None:
            args[key] = ops.cast(keep, dtype)
    names = list(args)
    args = {k: _as_tensor(v) for k, v in args.items()}
    epsilon = weights.get("epsilon")
    single_output = keras.backend.backend() == "torch"
    sum_dtype = _sum_dtype(dtype)

    @ops.custom_gradient
    def run(*values):
        a = dict(zip(names, values))
        step_weights = _step_weights(a, epsilon)
        kc, kh = a.get("keep_c"), a.get("keep_h")
        h_out, c_out, saved = lstm_step(a["z"], a["h"], a["c"], step_weights, kc, kh, save=True)

        def grad(*upstream_args, upstream=None):
            dh, dc = _split_upstream(upstream_args, upstream, single_output)
            dh = ops.zeros_like(h_out) if dh is None else dh
            dc = ops.zeros_like(c_out) if dc is None else dc
            if single_output:
                dh = dh[0]
            d_z, d_r, dh_prev, dc_prev, terms = lstm_step_backward(
                dh, dc, saved, a["z"], step_weights, kc, kh)
            h_dropped = a["h"] * a["recurrent_mask"] if "recurrent_mask" in a else a["h"]
            grads = {"z": d_z, "h": dh_prev, "c": dc_prev,
                     "kernel": ops.matmul(ops.transpose(h_dropped), d_r)}
            for key, term in terms.items():
                if key in a:
                    total = ops.sum(ops.cast(term, sum_dtype), axis=0)
                    grads[key] = ops.cast(total, a[key].dtype)
            # Masks and keep weights are not trained: zero gradients (JAX needs values).
            return tuple(grads.get(n, ops.zeros_like(a[n])) for n in names)

        if single_output:
            return ops.stack([h_out, c_out]), grad
        return (h_out, c_out), grad

    result = run(*[args[n] for n in names])
    return (result[0], result[1]) if single_output else tuple(result)


# --- Time loops ----------------------------------------------------------------------------

# On TensorFlow, compile the time loops of `lstm_sequence` with XLA (in `tf.function` graphs
# with a fixed sequence length). XLA fuses each step's dozens of small element-wise ops, whose
# one-by-one dispatch otherwise dominates a step on CPU (1.17-1.34x training throughput for the
# 2x256 character LSTM on the 2-core development machine; benchmarks/RESULTS.md). Set to
# False to run TensorFlow's plain `while_loop`: the same results up to float rounding.
JIT_COMPILE_TF_LOOPS = True


def _time_loop(step, inputs, states, reverse=False):
    """Runs `step(inputs_t, states) -> (outputs_t, new_states)` over time-major `inputs`.

    `inputs` and `outputs_t` are lists of tensors; returns `(outputs, final_states)` with
    every output stacked in time order, also when `reverse` runs the loop from the last step.
    JAX and PyTorch use `keras.ops.scan`. On TensorFlow, Keras' `scan` stores only outputs
    shaped like the carried states and runs one iteration at a time, and the loop of
    `keras.layers.RNN` copies every input (twice when reversed); `_tf_time_loop` is the
    same loop without those copies.
    """
    if keras.backend.backend() == "tensorflow":
        return _tf_time_loop(step, inputs, states, reverse)

    def scan_step(carry, xs):
        outputs, new_states = step(list(xs), list(carry))
        return new_states, outputs

    final, outputs = ops.scan(scan_step, list(states), list(inputs), reverse=reverse)
    return list(outputs), list(final)


def _tf_time_loop(step, inputs, states, reverse):
    """`_time_loop` on TensorFlow: a `while_loop` that reads step `t` of every input in place
    and writes step `t` of every output into a `TensorArray`; XLA-compiled when possible."""
    import tensorflow as tf  # only here: the TensorFlow form of the loop

    length = inputs[0].shape[0]
    static_length = length is not None
    if not static_length:
        length = tf.shape(inputs[0])[0]
    # One step outside the loop gives the outputs' shapes and dtypes (in a graph, nothing
    # uses its results and it is pruned).
    probe, _ = step([x[0] for x in inputs], list(states))

    def body(i, arrays, *carry):
        t = length - 1 - i if reverse else i
        outputs_t, new_states = step([x[t] for x in inputs], list(carry))
        arrays = [a.write(t, o) for a, o in zip(arrays, outputs_t)]
        return (i + 1, arrays, *new_states)

    def loop(*states):
        arrays = [tf.TensorArray(o.dtype, size=length, element_shape=o.shape) for o in probe]
        _, arrays, *final = tf.while_loop(
            lambda i, *_: i < length,
            body,
            (tf.constant(0), arrays, *states),
            parallel_iterations=32,
        )
        return [a.stack() for a in arrays], final

    if JIT_COMPILE_TF_LOOPS and static_length and not tf.executing_eagerly():
        # (Eagerly, a new compiled function per call would recompile at every call.)
        loop = tf.function(loop, jit_compile=True, autograph=False)
    outputs, final = loop(*states)
    return list(outputs), list(final)


# --- The whole sequence --------------------------------------------------------------------


def lstm_sequence(
    z,
    h0,
    c0,
    recurrent_kernel,
    bias=None,
    recurrent_mask=None,
    keep_c=None,
    keep_h=None,
    layer_norm=None,
    save_for_backward=True,
):
    """Runs `lstm_step` over a whole time-major sequence, with a hand-written gradient.

    The step is that of the module docstring. `z = x·W` is computed by the caller for all
    steps at once. `recurrent_mask` is a variational dropout mask (one per sequence, already
    scaled by `1 / (1 - rate)`); the keep weights mix the new and the old state: 1 at a
    padded step, a random 0/1 mask for zoneout in training, the zoneout rate at inference, 0
    (or None) otherwise. With `layer_norm` the step is the layer-normalized one (`z` and `U`
    with centred columns).

    The backward pass is one reverse loop of `lstm_step_backward`, which also keeps running
    sums for the bias and the norm vectors; `dU` then comes from the whole sequence in one
    large product.

    Mixed precision: `z` may be in a lower precision than the states and `U` (bfloat16 or
    float16 with float32 states, as the layers run under `mixed_bfloat16`). Each step then
    runs in the states' dtype: `z` is cast to it, the recurrence, the gates and the saved
    intermediates stay in it, and the outputs, the gradient for `z` and the large product for
    `dU` come back in `z`'s dtype. (Each cast is one pass over the whole sequence, outside the
    time loop: XLA's CPU code converts to and from bfloat16 element by element, and casts
    inside the compiled loop made a training step slower than these passes do.)

    Args:
        z: `(T, batch, 4·units)`, the input term of every step.
        h0, c0: `(batch, units)` initial states, in the dtype of the recurrence (that of
            `recurrent_kernel` and the other weights).
        recurrent_kernel: `(units, 4·units)` matrix `U`.
        bias: `(4·units,)` or None (None with `layer_norm`: give `input_beta` instead).
        recurrent_mask: None or `(batch, units)` multiplier of `h_{t-1}` before `U`.
        keep_c, keep_h: None, a scalar, or keep weights of shape `(T, batch, units)` or
            `(T, batch, 1)` (padding).
        layer_norm: None, or a dict with `input_gamma`, `input_beta` (every bias summed),
            `recurrent_gamma` `(4·units,)`, `state_gamma`, `state_beta` `(units,)` and
            `epsilon` (a float).
        save_for_backward: Keep every step's intermediates for the backward pass (training).
            `False` keeps only the outputs (inference: less memory, faster); a gradient, if
            one is asked for after all, then runs the forward loop again first.

    Returns:
        `(outputs, h_T, c_T)`: `outputs` `(T, batch, units)` holds every `h_t`; all three in
        `z`'s dtype.

    Example:

    >>> z = keras.random.normal((5, 2, 4 * 3))  # T=5 steps, batch 2, 3 units: x·W
    >>> h0 = c0 = keras.ops.zeros((2, 3))
    >>> outputs, h, c = lstm_sequence(z, h0, c0, keras.random.normal((3, 4 * 3)))
    >>> tuple(outputs.shape), tuple(h.shape), tuple(c.shape)
    ((5, 2, 3), (2, 3), (2, 3))
    """
    if layer_norm is not None and bias is not None:
        raise ValueError("`bias` must be None with `layer_norm`: give `input_beta` instead.")
    z, h0, c0, recurrent_kernel, bias, recurrent_mask, keep_c, keep_h = (
        _as_tensor(x) for x in (z, h0, c0, recurrent_kernel, bias, recurrent_mask, keep_c, keep_h)
    )
    io_dtype = z.dtype  # of z, the outputs and the big products
    dtype = h0.dtype  # of the recurrence
    sum_dtype = _sum_dtype(dtype)
    epsilon = None
    # The tensors the custom-gradient function takes (and returns gradients for), in order.
    args = {"z": z, "h0": h0, "c0": c0, "kernel": recurrent_kernel}
    if bias is not None:
        args["bias"] = bias
    if layer_norm is not None:
        epsilon = float(layer_norm["epsilon"])
        for key in NORM_VECTORS:
            args[key] = _as_tensor(layer_norm[key])
    # Gradients summed over every step inside the backward loop.
    summed = [k for k in TRAINED_WEIGHTS[1:] if k in args]
    if recurrent_mask is not None:
        args["recurrent_mask"] = recurrent_mask
    for key, keep in (("keep_c", keep_c), ("keep_h", keep_h)):
        if keep is None:
            continue
        keep = ops.cast(keep, dtype)
        if len(keep.shape) not in (0, 3):
            raise ValueError(
                f"`{key}` must be a scalar or have shape (T, batch, units or 1), "
                f"got shape {tuple(keep.shape)}."
            )
        args[key] = keep  # a per-step weight is read one step at a time, a constant whole
    names = list(args)
    per_step_keeps = [k for k in ("keep_c", "keep_h") if k in args and len(args[k].shape)]
    # PyTorch's custom gradients take one output: there, h_1..h_T and c_T travel as one tensor.
    single_output = keras.backend.backend() == "torch"

    @ops.custom_gradient
    def run(*values):
        a = dict(zip(names, values))
        weights = _step_weights(a, epsilon)

        def keep_weights(keeps_t):
            """keep_c, keep_h for this step: a slice, a constant, or None."""
            given = dict(zip(per_step_keeps, keeps_t))
            return [given.get(k, a.get(k)) for k in ("keep_c", "keep_h")]

        def step(inputs_t, states, save):
            z_t, *keeps_t = inputs_t
            kc, kh = keep_weights(keeps_t)
            result = lstm_step(z_t, *states, weights, kc, kh, save=save)
            h_out, c_out = result[:2]
            return [h_out, *(result[2] if save else [])], [h_out, c_out]

        z_run = ops.cast(a["z"], dtype)  # the whole sequence in the recurrence's dtype
        step_inputs = [z_run] + [a[k] for k in per_step_keeps]

        def forward(save):
            return _time_loop(
                lambda inputs_t, states: step(inputs_t, states, save),
                step_inputs,
                [a["h0"], a["c0"]],
            )

        saved, (_, c_last) = forward(save_for_backward)
        h_seq = ops.cast(saved[0], io_dtype)
        c_out = ops.cast(c_last, io_dtype)

        def grad(*upstream_args, upstream=None):
            d_h_seq, dc_last = _split_upstream(upstream_args, upstream, single_output)
            d_h_seq = ops.zeros_like(h_seq) if d_h_seq is None else d_h_seq
            dc_last = ops.zeros_like(c_last) if dc_last is None else ops.cast(dc_last, dtype)
            saved_ = saved if save_for_backward else forward(True)[0]
            kernel_t = ops.transpose(a["kernel"])
            norm = epsilon is not None

            def backward_step(inputs_t, states):
                d_out, *saved_t = inputs_t
                step_saved = saved_t[:7 if norm else 3]
                rest = saved_t[len(step_saved):]
                z_t = None
                if norm:
                    z_t, rest = rest[0], rest[1:]
                kc, kh = keep_weights(rest)
                dh, dc, *sums = states
                d_z, d_r, dh_prev, dc_prev, terms = lstm_step_backward(
                    dh + d_out, dc, step_saved, z_t, weights, kc, kh, kernel_t)
                new_sums = [
                    total + ops.sum(ops.cast(terms[k], sum_dtype), axis=0)
                    for k, total in zip(summed, sums)
                ]
                outputs = [d_z, d_r] if norm else [d_r]
                return outputs, [dh_prev, dc_prev, *new_sums]

            backward_inputs = [ops.cast(d_h_seq, dtype)] + saved_[1:]
            if norm:
                backward_inputs.append(z_run)
            backward_inputs += [a[k] for k in per_step_keeps]
            zero_sums = [ops.zeros(a[k].shape, sum_dtype) for k in summed]
            d_seq, (dh0, dc0, *sums) = _time_loop(
                backward_step,
                backward_inputs,
                [ops.zeros_like(a["h0"]), dc_last, *zero_sums],
                reverse=True,
            )
            d_seq = [ops.cast(d, io_dtype) for d in d_seq]
            d_z, d_r = (d_seq[0], d_seq[1]) if norm else (d_seq[0], d_seq[0])
            # dU = Σ_t (m ⊙ h_{t-1})ᵀ·d_r_t, with h_0 apart (no copy of the h sequence).
            # (In z's dtype, like the other large products, then accumulated in U's.)
            h_prev = h_seq[:-1]
            h_first = ops.cast(a["h0"], io_dtype)
            if "recurrent_mask" in a:
                mask = ops.cast(a["recurrent_mask"], io_dtype)
                h_prev, h_first = h_prev * mask, h_first * mask
            flat = lambda x: ops.reshape(x, (-1, x.shape[-1]))  # noqa: E731
            d_kernel = ops.cast(ops.matmul(ops.transpose(h_first), d_r[0]), dtype)
            if h_seq.shape[0] != 1:
                product = ops.matmul(ops.transpose(flat(h_prev)), flat(d_r[1:]))
                d_kernel = d_kernel + ops.cast(product, dtype)
            grads = {"z": d_z, "h0": dh0, "c0": dc0, "kernel": d_kernel}
            for key, total in zip(summed, sums):
                grads[key] = ops.cast(total, a[key].dtype)
            # The masks and keep weights are not trained: zero gradients (JAX needs values).
            return tuple(grads.get(n, ops.zeros_like(a[n])) for n in names)

        if single_output:
            return ops.concatenate([h_seq, c_out[None]], axis=0), grad
        return (h_seq, c_out), grad

    result = run(*[args[n] for n in names])
    h_seq, c_last = (result[:-1], result[-1]) if single_output else result
    return h_seq, h_seq[-1], c_last
