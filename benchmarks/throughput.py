"""Training and inference throughput of regkeras' LSTM layers against keras.layers.LSTM.

Trains a character language model (embedding, 2 LSTM layers of 256 units, dense logits over 65
symbols; sequences of 100) one `train_on_batch` at a time, and runs it for inference one
`predict_on_batch` at a time, at batch 64 and 256, and reports tokens/s for every variant:
plain `keras.layers.LSTM`, Keras with `recurrent_dropout`, and each regkeras layer and
regularizer, on the fused path they use by default (`regkeras.engine`) and, for
`ProjectedLSTM` and `LayerNormLSTM`, also differentiated step by step (`fused=False`), fused
with a TensorFlow loop that is not XLA-compiled, and under `compile(jit_compile=True)`. If PyTorch is importable, the same model built with `torch.nn.LSTM` is measured
too, as the outside reference (PyTorch is not a requirement of regkeras). Variants are measured
interleaved, round after round, so that drifting load on a shared machine hits them all alike;
the report gives the median over rounds, the spread, the ratio to plain `keras.layers.LSTM`,
and what each regularizer costs as a fraction of the regularized layer's step time (measured
against its unregularized baseline: `keras.layers.LSTM` for Keras variants, regkeras'
plain `ProjectedLSTM` for regkeras ones).

    python benchmarks/throughput.py                  # full run (roughly 15-25 min on 2 cores)
    python benchmarks/throughput.py --quick          # a short check that everything runs
    python benchmarks/throughput.py --variants keras,projected,weight_drop --rounds 8
    python benchmarks/throughput.py --batch-sizes 64 --no-inference --no-torch

Timings on a machine shared with other jobs vary by ±30%: compare ratios from the same run.
"""

import argparse
import contextlib
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import cpu_model  # noqa: E402

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
        "regkeras.ProjectedLSTM (plain, hoisted x·W, fused backward pass)",
        lambda u: regkeras.ProjectedLSTM(u, return_sequences=True),
        {},
        None,
    ),
    "projected_stepwise": (
        "regkeras.ProjectedLSTM(fused=False): step by step (the engine's step and its backward)",
        lambda u: regkeras.ProjectedLSTM(u, return_sequences=True, fused=False),
        {},
        None,
    ),
    "projected_plain_loop": (
        "regkeras.ProjectedLSTM, fused, TensorFlow loop not XLA-compiled",
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
    "zaremba_dropout": (
        "keras.layers.Dropout(0.25) before each regkeras.ProjectedLSTM (Zaremba's placement)",
        lambda u: keras.Sequential(
            [keras.layers.Dropout(0.25), regkeras.ProjectedLSTM(u, return_sequences=True)]
        ),
        {},
        "projected",
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
    "combined": (
        "regkeras.LayerNormLSTM(weight_dropout=0.5, zoneout_c=0.5, zoneout_h=0.05)",
        lambda u: regkeras.LayerNormLSTM(
            u, weight_dropout=0.5, zoneout_c=0.5, zoneout_h=0.05, return_sequences=True
        ),
        {},
        "layer_norm",
    ),
    "layer_norm": (
        "regkeras.LayerNormLSTM",
        lambda u: regkeras.LayerNormLSTM(u, return_sequences=True),
        {},
        "projected",
    ),
    "layer_norm_stepwise": (
        "regkeras.LayerNormLSTM(fused=False): step by step (the engine's step and its backward)",
        lambda u: regkeras.LayerNormLSTM(u, return_sequences=True, fused=False),
        {},
        "projected_stepwise",
    ),
    "layer_norm_plain_loop": (
        "regkeras.LayerNormLSTM, fused, TensorFlow loop not XLA-compiled",
        lambda u: regkeras.LayerNormLSTM(u, return_sequences=True),
        {},
        "projected_plain_loop",
    ),
    "layer_norm_xla": (
        "regkeras.LayerNormLSTM, compile(jit_compile=True)",
        lambda u: regkeras.LayerNormLSTM(u, return_sequences=True),
        {"jit_compile": True},
        "projected_xla",
    ),
    # Mixed precision: the LSTM layers under "mixed_bfloat16" (the embedding and the logits
    # stay float32, as regkeras.build_language_model keeps its logits): the large products in
    # bfloat16 (oneDNN, AMX where the CPU has it), the recurrence in float32
    # (`ProjectedLSTMCell.recurrence_dtype`).
    "projected_bf16": (
        'regkeras.ProjectedLSTM(dtype="mixed_bfloat16")',
        lambda u: regkeras.ProjectedLSTM(u, return_sequences=True, dtype="mixed_bfloat16"),
        {},
        None,
    ),
    "layer_norm_bf16": (
        'regkeras.LayerNormLSTM(dtype="mixed_bfloat16")',
        lambda u: regkeras.LayerNormLSTM(u, return_sequences=True, dtype="mixed_bfloat16"),
        {},
        None,
    ),
    "output_norm": (
        "regkeras.lstm_with_output_norm (keras LSTM + LayerNormalization)",
        lambda u: regkeras.lstm_with_output_norm(u),
        {},
        "keras",
    ),
}
QUICK = ["keras", "projected", "weight_drop", "zoneout", "layer_norm"]
# Variants whose fused TensorFlow time loops run without XLA (regkeras.engine.JIT_COMPILE_TF_LOOPS
# off while their train and predict steps are traced).
PLAIN_LOOP = {"projected_plain_loop", "layer_norm_plain_loop"}


@contextlib.contextmanager
def tf_loop_jit(enabled):
    """Sets `regkeras.engine.JIT_COMPILE_TF_LOOPS` for the traces made inside the block."""
    saved = regkeras.engine.JIT_COMPILE_TF_LOOPS
    regkeras.engine.JIT_COMPILE_TF_LOOPS = enabled
    try:
        yield
    finally:
        regkeras.engine.JIT_COMPILE_TF_LOOPS = saved
TORCH = "torch"  # the optional outside reference, torch.nn.LSTM


def machine_description():
    """CPU model, core count and library versions, for the report's header."""
    import tensorflow as tf

    return (
        f"{cpu_model()}; {os.cpu_count()} logical cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__} ({keras.backend.backend()} backend)"
    )


def load_average():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"



def build_model(layer_factory, compile_kwargs, args, batch_size):
    """Embedding -> num_layers x LSTM -> Dense logits, compiled with Adam and sparse CE."""
    inputs = keras.Input((args.seq_len,), batch_size=batch_size, dtype="int32")
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


def keras_runner(name, args, x, y):
    """`(train_step, infer_step)` closures for a Keras variant at the batch size of `x`."""
    _, factory, compile_kwargs, _ = VARIANTS[name]
    model = build_model(factory, compile_kwargs, args, x.shape[0])

    def train():
        model.train_on_batch(x, y)

    def infer():
        model.predict_on_batch(x)

    return train, infer


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_runner(args, x, y):
    """The same model with `torch.nn.LSTM` (PyTorch's fused CPU kernel) and `torch.optim.Adam`."""
    import torch

    torch.manual_seed(0)

    class CharLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(args.vocab_size, args.embedding_dim)
            self.lstm = torch.nn.LSTM(
                args.embedding_dim, args.units, num_layers=args.num_layers, batch_first=True
            )
            self.dense = torch.nn.Linear(args.units, args.vocab_size)

        def forward(self, ids):
            return self.dense(self.lstm(self.embedding(ids))[0])

    model = CharLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(x.astype("int64"))
    ty = torch.from_numpy(y.astype("int64"))

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(tx).reshape(-1, args.vocab_size), ty.reshape(-1))
        loss.backward()
        optimizer.step()

    def infer():
        model.eval()
        with torch.inference_mode():
            model(tx)

    return train, infer


def time_steps(fn, steps):
    """Runs `fn` `steps` times; returns per-step (wall s, process CPU s, minor page faults)."""
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu_start, start = time.process_time(), time.perf_counter()
    for _ in range(steps):
        fn()
    wall = (time.perf_counter() - start) / steps
    cpu_time = (time.process_time() - cpu_start) / steps
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before) / steps
    return wall, cpu_time, faults


def report(names, batch_size, args, seconds, cpu, faults, modes):
    """Prints one table (one batch size): tokens/s, ratios and regularizer costs per mode."""
    tokens = batch_size * args.seq_len
    print(f"\nBatch {batch_size} x {args.seq_len} tokens ({tokens} tokens per step)")
    header = f"{'variant':<25}"
    for mode in modes:
        header += f"{mode + ' tok/s':>13}{'(min-max)':>17}{'x keras':>9}{'reg. cost':>11}"
    header += f"{'cpu s/step':>12}{'faults/step':>13}"
    print(header)
    step = {
        mode: {n: statistics.median(seconds[mode][n]) for n in names} for mode in modes
    }
    for name in names:
        row = f"{name:<25}"
        for mode in modes:
            s = step[mode]
            speeds = [tokens / t for t in seconds[mode][name]]
            reference = s.get("keras")
            ratio = f"{reference / s[name]:.2f}" if reference else "-"
            baseline = VARIANTS[name][3] if name in VARIANTS else None
            cost = "-"
            if baseline in s:
                cost = f"{(s[name] - s[baseline]) / s[name]:+.0%}"
            row += (
                f"{tokens / s[name]:>13.0f}{f'({min(speeds):.0f}-{max(speeds):.0f})':>17}"
                f"{ratio:>9}{cost:>11}"
            )
        row += f"{statistics.median(cpu[name]):>12.2f}{statistics.median(faults[name]):>13.0f}"
        print(row)
    for name in names:
        full = name[: -len("_bf16")] if name.endswith("_bf16") else None
        if full in names:
            ratios = ", ".join(f"{mode} {step[mode][full] / step[mode][name]:.2f}x"
                               for mode in modes)
            print(f"mixed_bfloat16 / float32, {full}: {ratios}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument(
        "--quick", action="store_true", help=f"variants {QUICK} (+ torch), batch 64, 2 rounds"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=3, help="train steps timed per round")
    parser.add_argument(
        "--infer-steps", type=int, default=None, help="inference steps per round (default: --steps)"
    )
    parser.add_argument("--batch-sizes", default=None, help="comma-separated; default 64,256")
    parser.add_argument("--no-inference", action="store_true", help="time training only")
    parser.add_argument("--no-torch", action="store_true", help="skip torch.nn.LSTM")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=65)
    parser.add_argument("--seq-len", type=int, default=100)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="TensorFlow intra- and inter-op threads and torch threads (0: each library's default)",
    )
    args = parser.parse_args(argv)
    run_start = time.perf_counter()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    names = QUICK if args.quick else [n.strip() for n in args.variants.split(",") if n.strip()]
    rounds = 2 if args.quick else args.rounds
    if args.batch_sizes is None:
        args.batch_sizes = "64" if args.quick else "64,256"
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}")
    unknown = [n for n in names if n not in VARIANTS and n != TORCH]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS) + [TORCH]}")
    if args.rounds < 1 or args.steps < 1 or not batch_sizes or min(batch_sizes) < 1:
        parser.error("--rounds, --steps and every batch size must be at least 1")
    infer_steps = args.steps if args.infer_steps is None else args.infer_steps
    if infer_steps < 1:
        parser.error("--infer-steps must be at least 1")
    has_torch = torch_available()
    if has_torch and not args.no_torch and TORCH not in names:
        names = [*names, TORCH]
    if not has_torch or args.no_torch:
        names = [n for n in names if n != TORCH]
    modes = ["train"] if args.no_inference else ["train", "infer"]

    print(f"Machine: {machine_description()}")
    if has_torch:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
              + (" [not measured: --no-torch]" if args.no_torch else ""))
    else:
        print("PyTorch not installed: torch.nn.LSTM reference skipped")
    print(f"Load average at start: {load_average()}")
    if args.threads:
        print(f"Threads: {args.threads} (TensorFlow intra- and inter-op, torch)")
    print(
        f"Model: embedding {args.embedding_dim} -> {args.num_layers} x LSTM({args.units}) -> "
        f"dense {args.vocab_size}; batches {batch_sizes} x {args.seq_len} tokens; "
        f"{rounds} rounds x "
        f"{args.steps} train + {infer_steps if 'infer' in modes else 0} inference steps per variant"
    )
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = {}
    for b in batch_sizes:
        shape = (b, args.seq_len)
        data[b] = (
            rng.integers(0, args.vocab_size, shape).astype("int32"),
            rng.integers(0, args.vocab_size, shape).astype("int32"),
        )

    runners = {}
    for b in batch_sizes:
        x, y = data[b]
        for name in names:
            start = time.perf_counter()
            if name == TORCH:
                train, infer = torch_runner(args, x, y)
                description = "torch.nn.LSTM, torch.optim.Adam"
            else:
                train, infer = keras_runner(name, args, x, y)
                description = VARIANTS[name][0]
            with tf_loop_jit(name not in PLAIN_LOOP):
                for _ in range(2):  # traces and compiles the train and predict steps
                    train()
                    if "infer" in modes:
                        infer()
            runners[b, name] = {"train": train, "infer": infer}
            print(
                f"  built {name:<24} batch {b:<4} in {time.perf_counter() - start:5.1f} s  "
                f"({description})"
            )
            sys.stdout.flush()

    # seconds[b][mode][name]: per-step wall time, one entry per round; cpu, faults: training.
    seconds = {b: {m: {n: [] for n in names} for m in modes} for b in batch_sizes}
    cpu = {b: {n: [] for n in names} for b in batch_sizes}
    faults = {b: {n: [] for n in names} for b in batch_sizes}
    for r in range(rounds):
        for b in batch_sizes:
            for name in names:
                for mode in modes:
                    steps = args.steps if mode == "train" else infer_steps
                    wall, cpu_time, fault = time_steps(runners[b, name][mode], steps)
                    seconds[b][mode][name].append(wall)
                    if mode == "train":
                        cpu[b][name].append(cpu_time)
                        faults[b][name].append(fault)
        print(f"  round {r + 1}/{rounds} done (load {load_average()})")
        sys.stdout.flush()

    for b in batch_sizes:
        report(names, b, args, seconds[b], cpu[b], faults[b], modes)
    print()
    print(
        "tok/s: median over rounds of batch*seq_len / seconds per step (train: one "
        "train_on_batch, forward + backward + Adam; infer: one predict_on_batch, or a torch "
        "forward under inference_mode). x keras: speed relative to keras.layers.LSTM at the "
        "same batch size and mode. reg. cost: the extra step time of the regularized layer over "
        "its unregularized baseline (keras.layers.LSTM for Keras variants, "
        "regkeras.ProjectedLSTM for regkeras ones), as a fraction of the regularized step time "
        "(at inference dropout, weight drop and zoneout are off or deterministic, so their cost "
        "there should be ~0). cpu s/step: process CPU time per train step (all threads; less "
        "sensitive to other jobs than wall time, but includes idle spinning). faults/step: minor "
        "page faults per train step (memory the allocator handed back to the OS and touched "
        "again; slow on virtual machines)."
    )
    print(f"Load average at end: {load_average()}")
    print(f"Whole run: {(time.perf_counter() - run_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
