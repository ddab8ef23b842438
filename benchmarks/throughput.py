"""Training throughput of regkeras' LSTM layers against keras.layers.LSTM.

Trains a character language model (embedding, 2 LSTM layers of 256 units, dense logits over 65
symbols; sequences of 100, batches of 64) one `train_on_batch` at a time and reports tokens/s
for every variant. Variants are measured interleaved, round after round, so that drifting load
on a shared machine hits them all alike; the report gives the median over rounds, the spread,
the ratio to plain `keras.layers.LSTM`, and what each regularizer costs as a fraction of the
regularized layer's step time (measured against regkeras' plain `ProjectedLSTM`).

    python benchmarks/throughput.py                  # full run (several minutes on 2 cores)
    python benchmarks/throughput.py --quick          # a short check that everything runs
    python benchmarks/throughput.py --variants keras,projected,weight_drop --rounds 8

Timings on a machine shared with other jobs vary by ±30%: compare ratios from the same run.
"""

import argparse
import os
import platform
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import regkeras  # noqa: E402

# name -> (description, layer factory(units) -> layer, compile keyword arguments, baseline name
# for the "cost of the regularizer" column or None).
VARIANTS = {
    "keras": ("keras.layers.LSTM", lambda u: keras.layers.LSTM(u, return_sequences=True), {}, None),
    "keras_recurrent_dropout": (
        "keras.layers.LSTM(recurrent_dropout=0.25)",
        lambda u: keras.layers.LSTM(u, return_sequences=True, recurrent_dropout=0.25),
        {},
        "keras",
    ),
    "projected": (
        "regkeras.ProjectedLSTM (plain, hoisted x·W)",
        lambda u: regkeras.ProjectedLSTM(u, return_sequences=True),
        {},
        None,
    ),
    "projected_unroll": (
        "regkeras.ProjectedLSTM(unroll=True)",
        lambda u: regkeras.ProjectedLSTM(u, return_sequences=True, unroll=True),
        {},
        None,
    ),
    "projected_xla": (
        "regkeras.ProjectedLSTM, compile(jit_compile=True)",
        lambda u: regkeras.ProjectedLSTM(u, return_sequences=True),
        {"jit_compile": True},
        None,
    ),
    "variational_dropout": (
        "regkeras.ProjectedLSTM(dropout=0.25, recurrent_dropout=0.25)",
        lambda u: regkeras.ProjectedLSTM(
            u, return_sequences=True, dropout=0.25, recurrent_dropout=0.25
        ),
        {},
        "projected",
    ),
    "weight_drop": (
        "regkeras.WeightDropLSTM(weight_dropout=0.5)",
        lambda u: regkeras.WeightDropLSTM(u, weight_dropout=0.5, return_sequences=True),
        {},
        "projected",
    ),
    "zoneout": (
        "regkeras.ZoneoutLSTM(zoneout_c=0.5, zoneout_h=0.05)",
        lambda u: regkeras.ZoneoutLSTM(u, zoneout_c=0.5, zoneout_h=0.05, return_sequences=True),
        {},
        "projected",
    ),
    "layer_norm": (
        "regkeras.LayerNormLSTM",
        lambda u: regkeras.LayerNormLSTM(u, return_sequences=True),
        {},
        "projected",
    ),
    "output_norm": (
        "regkeras.lstm_with_output_norm (keras LSTM + LayerNormalization)",
        lambda u: regkeras.lstm_with_output_norm(u),
        {},
        "keras",
    ),
}
QUICK = ["keras", "projected", "weight_drop", "zoneout", "layer_norm"]


def machine_description():
    """CPU model, core count and library versions, for the report's header."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tensorflow as tf

    return (
        f"{cpu}; {os.cpu_count()} logical cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__} ({keras.backend.backend()} backend)"
    )


def load_average():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def build_model(layer_factory, compile_kwargs, args):
    """Embedding -> num_layers x LSTM -> Dense logits, compiled with Adam and sparse CE."""
    inputs = keras.Input((args.seq_len,), batch_size=args.batch_size, dtype="int32")
    x = keras.layers.Embedding(args.vocab_size, args.embedding_dim)(inputs)
    for _ in range(args.num_layers):
        x = layer_factory(args.units)(x)
    logits = keras.layers.Dense(args.vocab_size)(x)
    model = keras.Model(inputs, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **compile_kwargs,
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--quick", action="store_true", help=f"variants {QUICK}, 2 rounds")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=3, help="train steps timed per round")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=65)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default, all cores)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    names = QUICK if args.quick else [n.strip() for n in args.variants.split(",") if n.strip()]
    rounds = 2 if args.quick else args.rounds
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be at least 1")

    print(f"Machine: {machine_description()}")
    print(f"Load average at start: {load_average()}")
    if args.threads:
        print(f"TensorFlow threads: {args.threads} intra-op, {args.threads} inter-op")
    print(
        f"Model: embedding {args.embedding_dim} -> {args.num_layers} x LSTM({args.units}) -> "
        f"dense {args.vocab_size}; batch {args.batch_size} x {args.seq_len} tokens; "
        f"{rounds} rounds x {args.steps} steps per variant"
    )
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.seq_len)
    x = rng.integers(0, args.vocab_size, shape).astype("int32")
    y = rng.integers(0, args.vocab_size, shape).astype("int32")

    models = {}
    for name in names:
        description, factory, compile_kwargs, _ = VARIANTS[name]
        start = time.perf_counter()
        model = build_model(factory, compile_kwargs, args)
        model.train_on_batch(x, y)  # traces and compiles the train step
        model.train_on_batch(x, y)
        models[name] = model
        print(f"  built {name:<24} in {time.perf_counter() - start:5.1f} s  ({description})")
        sys.stdout.flush()

    seconds = {name: [] for name in names}  # per-step wall time, one entry per round
    faults = {name: [] for name in names}  # per-step minor page faults, one entry per round
    cpu = {name: [] for name in names}  # per-step process CPU time, one entry per round
    for r in range(rounds):
        for name in names:
            model = models[name]
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            cpu_start, start = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            seconds[name].append((time.perf_counter() - start) / args.steps)
            cpu[name].append((time.process_time() - cpu_start) / args.steps)
            faults_after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            faults[name].append((faults_after - faults_before) / args.steps)
        print(f"  round {r + 1}/{rounds} done (load {load_average()})")
        sys.stdout.flush()

    tokens = args.batch_size * args.seq_len
    step = {name: statistics.median(seconds[name]) for name in names}
    reference = step.get("keras")
    print()
    print(
        f"{'variant':<25}{'tokens/s':>10}{'(min-max)':>17}{'x keras':>9}{'reg. cost':>11}"
        f"{'cpu s/step':>12}{'faults/step':>13}"
    )
    for name in names:
        speeds = [tokens / s for s in seconds[name]]
        ratio = f"{reference / step[name]:.2f}" if reference else "-"
        baseline = VARIANTS[name][3]
        cost = "-"
        if baseline in step:
            cost = f"{(step[name] - step[baseline]) / step[name]:+.0%}"
        print(
            f"{name:<25}{tokens / step[name]:>10.0f}"
            f"{f'({min(speeds):.0f}-{max(speeds):.0f})':>17}{ratio:>9}{cost:>11}"
            f"{statistics.median(cpu[name]):>12.2f}{statistics.median(faults[name]):>13.0f}"
        )
    print()
    print(
        "tokens/s: median over rounds of batch*seq_len / seconds per train step. "
        "x keras: speed relative to keras.layers.LSTM in this run. reg. cost: the extra step "
        "time of the regularized layer over its unregularized baseline (keras.layers.LSTM for "
        "Keras variants, regkeras.ProjectedLSTM for regkeras ones), as a fraction of the "
        "regularized step time. cpu s/step: process CPU time per train step (all threads; "
        "less sensitive to other jobs than wall time, but includes idle spinning). faults/step: minor page faults per train step (memory "
        "the allocator handed back to the OS and touched again; slow on virtual machines)."
    )
    print(f"Load average at end: {load_average()}")


if __name__ == "__main__":
    main()
