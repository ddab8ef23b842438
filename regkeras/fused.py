"""Whole-sequence LSTM with hand-written backpropagation through time.

Automatic differentiation of a time loop differentiates it one step at a time: at every step
of the backward loop it computes the gradient for `h_{t-1}` *and* adds `h_{t-1}ᵀ·da_t` into the
gradient of the recurrent kernel, and it stacks and unstacks every intermediate of every op.
A fused LSTM kernel (cuDNN, PyTorch's CPU LSTM) does less: the backward loop computes only what
the recurrence needs, the gate gradients `da_t` and `da_t·Uᵀ`, and the weight gradients
come afterwards from the whole sequence at once, `dU = H_prevᵀ·dA`: one large matrix product
instead of `T` small ones. This module writes that out with `keras.ops` and
`keras.ops.custom_gradient`, so it runs on every Keras backend:

- `lstm_sequence`: the LSTM of `keras.layers.LSTMCell` (sigmoid gates, tanh), optionally with
  a variational dropout mask on `h_{t-1}` and per-step "keep the old state" weights, which
  express zoneout and Keras masking alike;
- the same function with `layer_norm=...`: Ba et al.'s layer-normalized cell, in the form
  `regkeras.LayerNormLSTMCell` computes it (the input term normalized before the loop, `h·U`
  and the cell state normalized at every step).

The regkeras LSTM layers call it in training when their configuration allows
(`fused="auto"`); their tests check it against automatic differentiation of the
step-by-step layer, on every backend.
"""

import keras
from keras import ops

__all__ = ["lstm_sequence"]

_LOW_PRECISION = ("float16", "bfloat16")


def _rms_stats(x, epsilon):
    """`(x / rms(x), 1 / rms(x))` over the last axis, with statistics in float32."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    x32 = ops.cast(x, "float32") if dtype in _LOW_PRECISION else x
    inv = ops.rsqrt(ops.mean(ops.square(x32), axis=-1, keepdims=True) + epsilon)
    return ops.cast(x32 * inv, dtype), ops.cast(inv, dtype)


def _standardize(x, epsilon):
    """`((x - mean) / std, 1 / std)` over the last axis, with statistics in float32."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    x32 = ops.cast(x, "float32") if dtype in _LOW_PRECISION else x
    centered = x32 - ops.mean(x32, axis=-1, keepdims=True)
    inv = ops.rsqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + epsilon)
    return ops.cast(centered * inv, dtype), ops.cast(inv, dtype)


def _rms_norm_backward(dy_hat, x_hat, inv):
    """Gradient for `x` of `x_hat = x / rms(x)`, given the gradient `dy_hat` for `x_hat`."""
    return inv * (dy_hat - x_hat * ops.mean(dy_hat * x_hat, axis=-1, keepdims=True))


def _standardize_backward(dy_hat, x_hat, inv):
    """Gradient for `x` of `x_hat = (x - mean) / std`, given the gradient for `x_hat`."""
    return inv * (
        dy_hat
        - ops.mean(dy_hat, axis=-1, keepdims=True)
        - x_hat * ops.mean(dy_hat * x_hat, axis=-1, keepdims=True)
    )


def _as_tensor(x):
    """`x` as a tensor, a variable as a read of its value (a custom gradient may not see
    variables: TensorFlow would want their gradients separately); None stays None."""
    if x is None:
        return None
    if isinstance(x, keras.Variable):
        return ops.copy(x)
    return ops.convert_to_tensor(x)


def _sum_over_steps(x):
    """Sums `x` `(T, batch, n)` over time and batch, to `(n,)`.

    Written as `ones·X`: a column sum of a tall matrix is a slow reduction on CPU (about
    3x slower than this product on the 2-core development machine).
    """
    x = ops.reshape(x, (-1, x.shape[-1]))
    return ops.matmul(ops.ones((1, ops.shape(x)[0]), dtype=x.dtype), x)[0]


# On TensorFlow, compile the time loops of `lstm_sequence` with XLA (in `tf.function` graphs
# with a fixed sequence length). XLA fuses each step's dozens of small element-wise ops, whose
# one-by-one dispatch otherwise dominates a step on CPU (+15-20% training throughput for the
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
):
    """Runs an LSTM over a whole time-major sequence, with a hand-written gradient.

    The step, for `t = 1..T` (gates in Keras' order i, f, c, o):

        a_t = z_t + (m ⊙ h_{t-1})·U + b
        c'_t = σ(a_f) ⊙ c_{t-1} + σ(a_i) ⊙ tanh(a_c);   h'_t = σ(a_o) ⊙ tanh(c'_t)
        c_t = (1 - k^c_t) ⊙ c'_t + k^c_t ⊙ c_{t-1};     h_t = (1 - k^h_t) ⊙ h'_t + k^h_t ⊙ h_{t-1}

    `z = x·W` is computed by the caller for all steps at once. `m` is a variational dropout
    mask (one per sequence, already scaled by `1 / (1 - rate)`), and the keep weights `k`
    mix the new and the old state: 1 at a padded step, a random 0/1 mask for zoneout in
    training, the zoneout rate at inference, 0 (or None) otherwise.

    With `layer_norm`, the step is Ba et al.'s layer-normalized cell in the form of
    `regkeras.LayerNormLSTMCell`: `z` is then the already normalized input term
    `LN(x·W)·γ_x + β` (every bias included), `U` is column-centred, and

        a_t = z_t + γ_h ⊙ rms_normalize((m ⊙ h_{t-1})·U)
        h'_t = σ(a_o) ⊙ tanh(γ_c ⊙ standardize(c'_t) + β_c)

    The backward pass is one reverse loop that computes only the gate gradients and
    `da_t·Uᵀ`; the gradients of `U`, the bias and the norm gains then come from the whole
    sequence in a few large products and sums.

    Args:
        z: `(T, batch, 4·units)`, the input term of every step.
        h0, c0: `(batch, units)` initial states.
        recurrent_kernel: `(units, 4·units)` matrix `U` (a tensor, not a variable).
        bias: `(4·units,)` or None (None with `layer_norm`: fold it into `z`).
        recurrent_mask: None or `(batch, units)` multiplier of `h_{t-1}` before `U`.
        keep_c, keep_h: None or keep weights broadcastable to `(T, batch, units)`, e.g.
            `(T, batch, 1)` for padding or a scalar tensor for zoneout at inference.
        layer_norm: None, or a dict with `recurrent_gamma` `(4·units,)`, `state_gamma`,
            `state_beta` `(units,)` and `epsilon` (a float).

    Returns:
        `(outputs, h_T, c_T)`: `outputs` `(T, batch, units)` holds every `h_t`.
    """
    if layer_norm is not None and bias is not None:
        raise ValueError("`bias` must be None with `layer_norm`: add it to `z` instead.")
    z, h0, c0, recurrent_kernel, bias, recurrent_mask, keep_c, keep_h = (
        _as_tensor(x) for x in (z, h0, c0, recurrent_kernel, bias, recurrent_mask, keep_c, keep_h)
    )
    if layer_norm is not None:
        layer_norm = {k: v if k == "epsilon" else _as_tensor(v) for k, v in layer_norm.items()}
    units = h0.shape[-1]
    dtype = z.dtype
    norm = layer_norm is not None
    epsilon = float(layer_norm["epsilon"]) if norm else 0.0

    # The tensors the custom-gradient function takes (and returns gradients for), in order.
    args = {"z": z, "h0": h0, "c0": c0, "kernel": recurrent_kernel}
    if bias is not None:
        args["bias"] = bias
    if norm:
        for key in ("recurrent_gamma", "state_gamma", "state_beta"):
            args[key] = layer_norm[key]
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

    @ops.custom_gradient
    def run(*values):
        a = dict(zip(names, values))
        kernel = a["kernel"]

        def keep_weights(keeps_t):
            """keep_c, keep_h for this step: a slice, a constant, or None."""
            given = dict(zip(per_step_keeps, keeps_t))
            return [given.get(k, a.get(k)) for k in ("keep_c", "keep_h")]

        def step(inputs_t, states):
            z_t, *keeps_t = inputs_t
            kc, kh = keep_weights(keeps_t)
            h, c = states
            hd = h * a["recurrent_mask"] if "recurrent_mask" in a else h
            r = ops.matmul(hd, kernel)
            if norm:
                r_hat, r_inv = _rms_stats(r, epsilon)
                pre = z_t + r_hat * a["recurrent_gamma"]
            else:
                pre = z_t + r
                if "bias" in a:
                    pre = pre + a["bias"]
            i, f, g, o = ops.split(pre, 4, axis=-1)
            i, f, g, o = ops.sigmoid(i), ops.sigmoid(f), ops.tanh(g), ops.sigmoid(o)
            c_new = f * c + i * g
            if norm:
                c_hat, c_inv = _standardize(c_new, epsilon)
                tanh_c = ops.tanh(c_hat * a["state_gamma"] + a["state_beta"])
            else:
                tanh_c = ops.tanh(c_new)
            h_new = o * tanh_c
            # (1 - k)·new + k·old: exactly the old state where k = 1 (a padded step).
            c_out = c_new if kc is None else (1.0 - kc) * c_new + kc * c
            h_out = h_new if kh is None else (1.0 - kh) * h_new + kh * h
            # What the backward step needs, prepared here where it does not wait on the
            # recurrence: d_pre = [dc, dc, dc, dh] ⊙ gate_jacobian, d_tanh = dh ⊙ o ⊙ (1 - t²).
            gate_jacobian = ops.concatenate(
                [g * i * (1.0 - i), c * f * (1.0 - f), i * (1.0 - g * g), tanh_c * o * (1.0 - o)],
                axis=-1,
            )
            saved = [h_out, gate_jacobian, o * (1.0 - tanh_c * tanh_c), f]
            if norm:
                saved += [r_hat, r_inv, c_hat, c_inv]
            return saved, [h_out, c_out]

        step_inputs = [a["z"]] + [a[k] for k in per_step_keeps]
        saved, (h_last, c_last) = _time_loop(step, step_inputs, [a["h0"], a["c0"]])
        h_seq = saved[0]
        # One output tensor (PyTorch's custom gradients take one): every h_t, then c_T.
        result = ops.concatenate([h_seq, c_last[None]], axis=0)

        def grad(*upstream_args, upstream=None):
            d_result = upstream_args[0] if upstream is None else upstream
            d_h_seq, dc_last = d_result[:-1], d_result[-1]
            kernel_t = ops.transpose(kernel)

            def backward_step(inputs_t, states):
                d_out, gate_jacobian, tanh_grad, f, *rest = inputs_t
                if norm:
                    r_hat, r_inv, c_hat, c_inv = rest[:4]
                    rest = rest[4:]
                kc, kh = keep_weights(rest)
                dh, dc = states
                dh = dh + d_out
                if kc is not None:
                    dc_keep, dc = dc * kc, dc * (1.0 - kc)
                if kh is not None:
                    dh_keep, dh = dh * kh, dh * (1.0 - kh)
                d_tanh = dh * tanh_grad
                if norm:
                    dc = dc + _standardize_backward(d_tanh * a["state_gamma"], c_hat, c_inv)
                else:
                    dc = dc + d_tanh
                d_pre = ops.concatenate([dc, dc, dc, dh], axis=-1) * gate_jacobian
                outputs = [d_pre]
                d_r = d_pre
                if norm:
                    d_r = _rms_norm_backward(d_pre * a["recurrent_gamma"], r_hat, r_inv)
                    outputs += [d_r, d_tanh]
                dh_prev = ops.matmul(d_r, kernel_t)
                if "recurrent_mask" in a:
                    dh_prev = dh_prev * a["recurrent_mask"]
                dc_prev = dc * f
                if kc is not None:
                    dc_prev = dc_prev + dc_keep
                if kh is not None:
                    dh_prev = dh_prev + dh_keep
                return outputs, [dh_prev, dc_prev]

            backward_inputs = [d_h_seq] + saved[1:] + [a[k] for k in per_step_keeps]
            d_seq, (dh0, dc0) = _time_loop(
                backward_step,
                backward_inputs,
                [ops.zeros_like(a["h0"]), dc_last],
                reverse=True,
            )
            d_pre, d_r = (d_seq[0], d_seq[1]) if norm else (d_seq[0], d_seq[0])

            def flat(x):
                return ops.reshape(x, (-1, x.shape[-1]))

            h_prev = ops.concatenate([a["h0"][None], h_seq[:-1]], axis=0)
            if "recurrent_mask" in a:
                h_prev = h_prev * a["recurrent_mask"]
            grads = {
                "z": d_pre,
                "h0": dh0,
                "c0": dc0,
                "kernel": ops.matmul(ops.transpose(flat(h_prev)), flat(d_r)),
            }
            if "bias" in a:
                grads["bias"] = _sum_over_steps(d_pre)
            if norm:
                d_tanh, r_hat, c_hat = d_seq[2], saved[4], saved[6]
                grads["recurrent_gamma"] = _sum_over_steps(d_pre * r_hat)
                grads["state_gamma"] = _sum_over_steps(d_tanh * c_hat)
                grads["state_beta"] = _sum_over_steps(d_tanh)
            # The masks and keep weights are not trained: zero gradients (JAX needs values).
            return tuple(grads.get(n, ops.zeros_like(a[n])) for n in names)

        return result, grad

    result = run(*[args[n] for n in names])
    h_seq = result[:-1]
    return h_seq, h_seq[-1], result[-1]
