"""Where an LSTM layer's inference time goes: the time loop's step, the input products, PyTorch's.

`throughput.py` times whole models. This benchmark takes one layer of that model apart (batch
64, 256 units, 100 steps by default) and times each piece on the path regkeras runs, in
interleaved repetitions, medians reported:

1. **The compiled time loop, per step.** A `tf.while_loop` of `--steps` steps compiled with
   XLA, as `regkeras.engine` runs it, with bodies from nothing (read `z_t`, write `h`) to the
   whole step:
   - element-wise only (`h` tiled in place of the product `h·U`): one tanh, the LSTM
     element-wise part with four separate activations, and with `engine.standard_gates`;
   - the whole step, `engine.lstm_step`, with the one-tanh gates (its default) and with
     sigmoid and tanh passed explicitly (the four-call path), and the product `h·U` alone,
     also with the kernel stored transposed and in bfloat16.
2. **The input products** `x·W` outside the loop, for the layer's two input widths
   (`--embedding-dim` and `--units`): TensorFlow graph (oneDNN), XLA, and PyTorch.
3. **PyTorch's loop**, measured, not inferred: `torch.nn.LSTM` over the same batch with input
   width 1 (its input product then costs next to nothing), and at width `--units`, whose time
   less PyTorch's own input product gives a second estimate.
4. **The whole layer**, one forward at inference: `regkeras.ProjectedLSTM` (fused, its
   default) against `torch.nn.LSTM`, both at input width `--units`.

    python benchmarks/step_profile.py              # about a minute on 2 cores
    python benchmarks/step_profile.py --repeats 15 --no-torch
    python benchmarks/step_profile.py --batch 32 --units 512

Timings on a shared machine vary by ±30 %: compare rows of the same run. TensorFlow backend.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"  # the loop bodies are TensorFlow/XLA programs

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

import regkeras  # noqa: E402
from regkeras import engine  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import load_average, machine_description, torch_available  # noqa: E402


def elementwise_lstm(pre, c, gates):
    """The LSTM step after the product: gates from `pre`, then the new `c` and `h`."""
    if gates == "one_tanh":
        i, f, g, o = engine.standard_gates(pre)
    else:
        i, f, g, o = ops.split(pre, 4, axis=-1)
        i, f, g, o = ops.sigmoid(i), ops.sigmoid(f), ops.tanh(g), ops.sigmoid(o)
    c = f * c + i * g
    return o * ops.tanh(c), c


def loop_bodies(units, kernel):
    """name -> (description, step(z_t, h, c) -> (h, c)). The element-wise bodies stand `h`
    tiled four times in for `h·U`, so that the loop still depends on `h` step to step."""
    weights = {"kernel": kernel}
    # Two other ways to run the same product, kept because each is the obvious next idea:
    # the kernel stored transposed (another GEMM layout), and bfloat16 operands (twice the
    # multiply rate on AVX512_BF16 hardware, if the compiler used it).
    kernel_transposed = ops.transpose(kernel)
    kernel_bf16 = ops.cast(kernel, "bfloat16")

    def product_bf16(h):
        return ops.cast(ops.matmul(ops.cast(h, "bfloat16"), kernel_bf16), "float32")

    def tiled(h):
        return ops.tile(h, [1, 4])

    return {
        "copy": ("read z_t, write h (no product, no activations)",
                 lambda z, h, c: (z[:, :units] + h, c)),
        "tanh": ("one tanh over the (batch, 4·units) pre-activations",
                 lambda z, h, c: (ops.tanh(z + tiled(h))[:, :units], c)),
        "elementwise_four": ("element-wise part: split, three sigmoids, two tanh",
                             lambda z, h, c: elementwise_lstm(z + tiled(h), c, "four")),
        "elementwise_one_tanh": ("element-wise part: engine.standard_gates (one tanh)",
                                 lambda z, h, c: elementwise_lstm(z + tiled(h), c, "one_tanh")),
        "product": ("the product h·U alone (a tanh of a quarter keeps h bounded)",
                    lambda z, h, c: (ops.tanh(ops.matmul(h, kernel)[:, :units]), c)),
        "product_transposed": ("the same with U stored transposed (h·(Uᵀ)ᵀ)",
                               lambda z, h, c: (ops.tanh(tf.linalg.matmul(
                                   h, kernel_transposed, transpose_b=True)[:, :units]), c)),
        "product_bf16": ("the same in bfloat16 (h and U cast, the result cast back)",
                         lambda z, h, c: (ops.tanh(product_bf16(h)[:, :units]), c)),
        "step_four": ("whole step, engine.lstm_step with sigmoid and tanh passed",
                      lambda z, h, c: engine.lstm_step(z, h, c, weights, activation=ops.tanh,
                                                       recurrent_activation=ops.sigmoid)),
        "step_one_tanh": ("whole step, engine.lstm_step (its default: one tanh)",
                          lambda z, h, c: engine.lstm_step(z, h, c, weights)),
    }


def compiled_loop(step, steps, batch, units):
    """`steps` steps of `step` in one XLA-compiled `tf.while_loop`; returns all the `h`."""

    @tf.function(jit_compile=True, autograph=False)  # the loop is explicit, as in the engine
    def run(z):
        def body(t, h, c, outputs):
            h, c = step(z[t], h, c)
            return t + 1, h, c, outputs.write(t, h)

        zeros = tf.zeros((batch, units))
        outputs = tf.TensorArray(tf.float32, steps)
        _, _, _, outputs = tf.while_loop(lambda t, *_: t < steps, body,
                                         (0, zeros, zeros, outputs))
        return outputs.stack()

    return run


def first(result):
    """One number of `result` on the host: waits for it without copying the whole array
    (`.numpy()` of a TensorFlow tensor copies it; PyTorch's shares its memory)."""
    return float(result[(0,) * len(result.shape)])


def median_ms(times):
    return 1000 * statistics.median(times)


def interleave(functions, repeats):
    """`repeats` rounds in which every function runs twice in a row and the second call is
    timed (the same order every round, so drifting load hits all alike); returns name ->
    seconds per call.

    The untimed call absorbs what the previous function leaves behind: worker threads spin
    for a while after their work (PyTorch's OpenMP threads, TensorFlow's Eigen pool) and take
    the cores from whatever runs next. A TensorFlow product timed right after a PyTorch call
    took 23 ms instead of 17. (Sleeping between calls instead made every call slower: on this
    virtual machine an idle core wakes up slowly.)"""
    seconds = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            fn()
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def print_rows(rows, seconds, per, unit):
    """One line per row: median and (min-max), divided by `per` (steps, or 1)."""
    for name, description in rows.items():
        values = [s / per for s in seconds[name]]
        print(f"  {name:<22}{median_ms(values):>9.3f} {unit}"
              f"  ({1000 * min(values):.3f}-{1000 * max(values):.3f})  {description}")


def profile_loop(args, rng):
    units, batch, steps = args.units, args.batch, args.steps
    kernel = tf.constant((rng.standard_normal((units, 4 * units)) / np.sqrt(units))
                         .astype(np.float32))
    z = tf.constant(rng.standard_normal((steps, batch, 4 * units), dtype=np.float32))
    bodies = loop_bodies(units, kernel)
    loops = {name: compiled_loop(step, steps, batch, units) for name, (_, step) in bodies.items()}
    outputs = {name: loops[name](z).numpy() for name in ("step_four", "step_one_tanh",
                                                         "elementwise_four",
                                                         "elementwise_one_tanh")}
    differences = {
        "whole step": float(np.max(np.abs(outputs["step_four"] - outputs["step_one_tanh"]))),
        "element-wise": float(np.max(np.abs(outputs["elementwise_four"]
                                            - outputs["elementwise_one_tanh"]))),
    }
    seconds = interleave({name: (lambda f=f: first(f(z))) for name, f in loops.items()},
                         args.repeats)
    print(f"\n1. Compiled time loop, per step (batch {batch}, {units} units, {steps} steps, "
          f"XLA; median of {args.repeats}, ms per step)")
    print_rows({name: description for name, (description, _) in bodies.items()}, seconds,
               steps, "ms")
    flops = 2 * batch * units * 4 * units
    rates = ", ".join(f"{name} {flops / (median_ms(seconds[name]) / steps) / 1e6:.0f}"
                      for name in ("product", "product_transposed", "product_bf16"))
    print(f"  the product h·U runs at (GFLOP/s) {rates} ({flops / 1e6:.1f} MFLOP per step)")
    print("  four activations against one tanh, largest |h| difference over the loop: "
          + ", ".join(f"{k} {v:.1e}" for k, v in differences.items()))
    return seconds, differences


def input_widths(args):
    return sorted({args.embedding_dim, args.units})


def profile_input_products(args, rng, use_torch):
    """x·W for a time-major `(T, batch, D)` sequence, as the layers compute it (one
    `ops.matmul`, outside the compiled loop), and under XLA and in PyTorch for comparison.
    Each call hands one element to the host, which waits for the product without timing a
    copy of it."""
    rows, functions = {}, {}
    graph_matmul = tf.function(lambda a, b: ops.matmul(a, b)[0, 0, 0])
    xla_matmul = tf.function(lambda a, b: ops.matmul(a, b)[0, 0, 0], jit_compile=True)
    for width in input_widths(args):
        x = rng.standard_normal((args.steps, args.batch, width), dtype=np.float32)
        w = rng.standard_normal((width, 4 * args.units), dtype=np.float32)
        tx, tw = tf.constant(x), tf.constant(w)
        shape = f"[{args.steps}, {args.batch}, {width}] x [{width}, {4 * args.units}]"
        rows[f"tf_graph_{width}"] = f"{shape}, TensorFlow graph (oneDNN), as the layers run it"
        functions[f"tf_graph_{width}"] = lambda a=tx, b=tw: float(graph_matmul(a, b))
        rows[f"tf_xla_{width}"] = f"{shape}, XLA"
        functions[f"tf_xla_{width}"] = lambda a=tx, b=tw: float(xla_matmul(a, b))
        if use_torch:
            import torch

            px, pw = torch.from_numpy(x.reshape(-1, width)), torch.from_numpy(w)
            rows[f"torch_{width}"] = f"{shape}, PyTorch (as one 2-D product)"
            functions[f"torch_{width}"] = lambda a=px, b=pw: float((a @ b)[0, 0])
    seconds = interleave(functions, args.repeats)
    print(f"\n2. Input products x·W outside the loop (median of {args.repeats}, ms per call)")
    print_rows(rows, seconds, 1, "ms")
    return seconds


def torch_lstm_call(width, args, rng):
    import torch

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(width, args.units, batch_first=True).eval()
    x = torch.from_numpy(rng.standard_normal((args.batch, args.steps, width), dtype=np.float32))

    def call():
        with torch.inference_mode():
            return first(lstm(x)[0])

    return call


def regkeras_layer_call(width, args, rng):
    keras.utils.set_random_seed(0)
    layer = regkeras.ProjectedLSTM(args.units, return_sequences=True)
    x = ops.convert_to_tensor(rng.standard_normal((args.batch, args.steps, width),
                                                  dtype=np.float32))
    layer(x)  # builds the weights

    @tf.function
    def call(x):
        return layer(x, training=False)

    return lambda: first(call(x))


def profile_layers(args, rng, use_torch):
    functions = {"regkeras_layer": regkeras_layer_call(args.units, args, rng),
                 "regkeras_width_1": regkeras_layer_call(1, args, rng)}
    rows = {"regkeras_layer": f"regkeras.ProjectedLSTM, input width {args.units}, one call",
            "regkeras_width_1": "regkeras.ProjectedLSTM, input width 1 (its loop, almost alone)"}
    if use_torch:
        functions["torch_layer"] = torch_lstm_call(args.units, args, rng)
        rows["torch_layer"] = f"torch.nn.LSTM, input width {args.units}, one call"
        functions["torch_width_1"] = torch_lstm_call(1, args, rng)
        rows["torch_width_1"] = "torch.nn.LSTM, input width 1 (its loop, almost alone)"
    seconds = interleave(functions, args.repeats)
    print(f"\n3-4. Whole layer, batch {args.batch} x {args.steps} steps, inference "
          f"(median of {args.repeats}, ms per call)")
    print_rows(rows, seconds, 1, "ms")
    per_step = {"regkeras": "regkeras", "torch": "PyTorch"} if use_torch else {
        "regkeras": "regkeras"}
    flops = 2 * args.batch * args.units * 4 * args.units
    for prefix, name in per_step.items():
        step_ms = median_ms(seconds[prefix + "_width_1"]) / args.steps
        print(f"  {name}'s loop, per step: {step_ms:.3f} ms (input width 1; "
              f"{flops / step_ms / 1e6:.0f} GFLOP/s if the product h·U took all of it)")
    if use_torch:
        print("  regkeras.ProjectedLSTM / torch.nn.LSTM, time of one call: "
              f"{median_ms(seconds['regkeras_layer']) / median_ms(seconds['torch_layer']):.2f}x"
              f" at input width {args.units}, "
              f"{median_ms(seconds['regkeras_width_1']) / median_ms(seconds['torch_width_1']):.2f}x"
              " at width 1")
    return seconds


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=positive_int, default=64)
    parser.add_argument("--units", type=positive_int, default=256)
    parser.add_argument("--embedding-dim", type=positive_int, default=64,
                        help="the first layer's input width (the second's is --units)")
    parser.add_argument("--steps", type=positive_int, default=100, help="time steps")
    parser.add_argument("--repeats", type=positive_int, default=7,
                        help="interleaved timed calls of each piece")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    args = parser.parse_args(argv)
    use_torch = torch_available() and not args.no_torch
    print(f"Machine: {machine_description()}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
          + (f", PyTorch {__import__('torch').__version__}"
             f" ({__import__('torch').get_num_threads()} threads)" if use_torch else
             ", PyTorch rows skipped"))
    print(f"Load average at start: {load_average()}")
    rng = np.random.default_rng(0)
    loop, differences = profile_loop(args, rng)
    products = profile_input_products(args, rng, use_torch)
    layers = profile_layers(args, rng, use_torch)
    return {"loop": loop, "differences": differences, "products": products, "layers": layers}


if __name__ == "__main__":
    main()
