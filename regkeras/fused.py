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
  `regkeras.LayerNormLSTMCell` computes it (`x·W`, `h·U` and the cell state normalized at
  every step, all inside the loop).

The regkeras LSTM layers run on it whenever their configuration allows (`fused="auto"`), in
training and at inference (where it keeps nothing for a backward pass); their tests check it
against automatic differentiation of the step-by-step layer, on every backend.
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
    `regkeras.LayerNormLSTMCell`: `z = x·W_c` and `U` come with centred columns (every row
    minus its mean), so their layer norms are divisions by the root mean square, and

        a_t = γ_x ⊙ rms_normalize(z_t) + γ_h ⊙ rms_normalize((m ⊙ h_{t-1})·U) + β
        h'_t = σ(a_o) ⊙ tanh(γ_c ⊙ standardize(c'_t) + β_c)

    The backward pass is one reverse loop that computes the gate gradients, `da_t·Uᵀ` and
    running sums for the bias and the norm vectors; `dU` then comes from the whole sequence
    in one large product.

    Args:
        z: `(T, batch, 4·units)`, the input term of every step.
        h0, c0: `(batch, units)` initial states.
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
        `(outputs, h_T, c_T)`: `outputs` `(T, batch, units)` holds every `h_t`.

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
    if layer_norm is not None:
        layer_norm = {k: v if k == "epsilon" else _as_tensor(v) for k, v in layer_norm.items()}
    dtype = z.dtype
    # The bias and norm-vector gradients are sums over every step and batch row: float32 at
    # least (float16/bfloat16 would lose most of them), float64 for a float64 layer.
    sum_dtype = "float64" if keras.backend.standardize_dtype(dtype) == "float64" else "float32"
    norm = layer_norm is not None
    epsilon = float(layer_norm["epsilon"]) if norm else 0.0

    # The tensors the custom-gradient function takes (and returns gradients for), in order.
    args = {"z": z, "h0": h0, "c0": c0, "kernel": recurrent_kernel}
    if bias is not None:
        args["bias"] = bias
    norm_vectors = ("input_gamma", "input_beta", "recurrent_gamma", "state_gamma", "state_beta")
    if norm:
        for key in norm_vectors:
            args[key] = layer_norm[key]
    # Gradients summed over every step inside the backward loop: name -> (per-step value).
    summed = [k for k in ("bias", *norm_vectors) if k in args]
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
        kernel = a["kernel"]

        def keep_weights(keeps_t):
            """keep_c, keep_h for this step: a slice, a constant, or None."""
            given = dict(zip(per_step_keeps, keeps_t))
            return [given.get(k, a.get(k)) for k in ("keep_c", "keep_h")]

        def step(inputs_t, states, save):
            z_t, *keeps_t = inputs_t
            kc, kh = keep_weights(keeps_t)
            h, c = states
            hd = h * a["recurrent_mask"] if "recurrent_mask" in a else h
            r = ops.matmul(hd, kernel)
            if norm:
                r_hat, r_inv = _rms_stats(r, epsilon)
                z_hat, _ = _rms_stats(z_t, epsilon)
                pre = z_hat * a["input_gamma"] + r_hat * a["recurrent_gamma"] + a["input_beta"]
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
            if not save:
                return [h_out], [h_out, c_out]
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

        def forward(save):
            return _time_loop(
                lambda inputs_t, states: step(inputs_t, states, save),
                step_inputs,
                [a["h0"], a["c0"]],
            )

        saved, (_, c_last) = forward(save_for_backward)
        h_seq = saved[0]

        def batch_sum(x):
            """Sum over the batch in `sum_dtype` (these sums run over every step)."""
            return ops.sum(ops.cast(x, sum_dtype), axis=0)

        def grad(*upstream_args, upstream=None):
            if single_output:
                d_result = upstream_args[0] if upstream is None else upstream
                d_h_seq, dc_last = d_result[:-1], d_result[-1]
            else:  # TensorFlow passes one gradient per output, JAX one tuple
                d_h_seq, dc_last = (
                    upstream_args[0] if len(upstream_args) == 1 else upstream_args
                )
                d_h_seq = ops.zeros_like(h_seq) if d_h_seq is None else d_h_seq
                dc_last = ops.zeros_like(c_last) if dc_last is None else dc_last
            if save_for_backward:
                saved_ = saved
            else:  # recompute the forward pass, this time keeping what the backward needs
                saved_, _ = forward(True)
            kernel_t = ops.transpose(kernel)

            def backward_step(inputs_t, states):
                d_out, gate_jacobian, tanh_grad, f, *rest = inputs_t
                if norm:
                    r_hat, r_inv, c_hat, c_inv, z_t = rest[:5]
                    rest = rest[5:]
                kc, kh = keep_weights(rest)
                dh, dc, *sums = states
                sums = dict(zip(summed, sums))
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
                if norm:
                    z_hat, z_inv = _rms_stats(z_t, epsilon)
                    d_z = _rms_norm_backward(d_pre * a["input_gamma"], z_hat, z_inv)
                    d_r = _rms_norm_backward(d_pre * a["recurrent_gamma"], r_hat, r_inv)
                    terms = {
                        "input_gamma": d_pre * z_hat,
                        "input_beta": d_pre,
                        "recurrent_gamma": d_pre * r_hat,
                        "state_gamma": d_tanh * c_hat,
                        "state_beta": d_tanh,
                    }
                    outputs = [d_z, d_r]
                else:
                    d_r = d_pre
                    terms = {"bias": d_pre}
                    outputs = [d_pre]
                new_sums = [sums[k] + batch_sum(terms[k]) for k in summed]
                dh_prev = ops.matmul(d_r, kernel_t)
                if "recurrent_mask" in a:
                    dh_prev = dh_prev * a["recurrent_mask"]
                dc_prev = dc * f
                if kc is not None:
                    dc_prev = dc_prev + dc_keep
                if kh is not None:
                    dh_prev = dh_prev + dh_keep
                return outputs, [dh_prev, dc_prev, *new_sums]

            backward_inputs = [d_h_seq] + saved_[1:]
            if norm:
                backward_inputs.append(a["z"])
            backward_inputs += [a[k] for k in per_step_keeps]
            zero_sums = [ops.zeros(a[k].shape, sum_dtype) for k in summed]
            d_seq, (dh0, dc0, *sums) = _time_loop(
                backward_step,
                backward_inputs,
                [ops.zeros_like(a["h0"]), dc_last, *zero_sums],
                reverse=True,
            )
            d_z, d_r = (d_seq[0], d_seq[1]) if norm else (d_seq[0], d_seq[0])
            # dU = Σ_t (m ⊙ h_{t-1})ᵀ·d_r_t, with h_0 apart (no copy of the h sequence).
            h_prev = h_seq[:-1]
            h_first = a["h0"]
            if "recurrent_mask" in a:
                h_prev, h_first = h_prev * a["recurrent_mask"], h_first * a["recurrent_mask"]
            flat = lambda x: ops.reshape(x, (-1, x.shape[-1]))  # noqa: E731
            d_kernel = ops.matmul(ops.transpose(h_first), d_r[0])
            if h_seq.shape[0] != 1:
                d_kernel = d_kernel + ops.matmul(ops.transpose(flat(h_prev)), flat(d_r[1:]))
            grads = {"z": d_z, "h0": dh0, "c0": dc0, "kernel": d_kernel}
            for key, total in zip(summed, sums):
                grads[key] = ops.cast(total, a[key].dtype)
            # The masks and keep weights are not trained: zero gradients (JAX needs values).
            return tuple(grads.get(n, ops.zeros_like(a[n])) for n in names)

        if single_output:
            return ops.concatenate([h_seq, c_last[None]], axis=0), grad
        return (h_seq, c_last), grad

    result = run(*[args[n] for n in names])
    h_seq, c_last = (result[:-1], result[-1]) if single_output else result
    return h_seq, h_seq[-1], c_last
