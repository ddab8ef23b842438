"""Zaremba et al. (2014)'s Penn Treebank table, reproduced with Keras 3 and regkeras.

Zaremba, Sutskever & Vinyals, "Recurrent Neural Network Regularization" (arXiv:1409.2329),
trained word-level language models on PTB (10,000 words) with three configurations, small /
medium / large, and reported validation and test perplexity. This script trains the same
three, exactly as published, plus a "modern" variant of the medium model, and prints a table
next to the paper's numbers:

    config  LSTM      unroll  dropout  init  clip  epochs  lr 1, then per epoch  paper val/test
    small   2 x 200   20      0        0.1   5     13      x0.5 after ep. 4     120.7 / 114.5
    medium  2 x 650   35      0.5      0.05  5     39      /1.2 after ep. 6      86.2 /  82.7
    large   2 x 1500  35      0.65     0.04  10    55      /1.15 after ep. 14    82.2 /  78.4

All three: embedding size = hidden size, batch 20, plain SGD, every parameter initialized
uniformly in [-init, init], non-recurrent dropout only (after the embedding, between the two
LSTM layers and before the softmax, a fresh mask at every step: `build_language_model(dropout=)`),
and the hidden state carried from batch to batch (a stateful model fed by
`regkeras.bptt_dataset`; states reset at the start of every epoch and of every evaluation).

**The loss scale.** The paper's loss (their Torch code) is the cross-entropy *summed* over the
`num_steps` unrolled steps and averaged over the batch; its global gradient norm is clipped at
5 (10) and SGD steps with lr 1. Keras' `SparseCategoricalCrossentropy` averages over time too,
so its gradient is the paper's divided by `num_steps`. The script therefore keeps Keras' loss
(whose value stays the per-word log-perplexity) and reproduces the paper's update exactly by
scaling the optimizer instead: SGD with `learning_rate = lr * num_steps` and
`global_clipnorm = clip / num_steps`. Clipping `g / T` at `c / T` shrinks by the same factor as
clipping `g` at `c`, and `(lr · T) · (g / T)_clipped = lr · g_clipped`.

**Evaluation.** Validation and test perplexity are measured after every epoch with the same
stateful model (batch 20, the training unroll, state carried through the split) in inference
mode; the paper's own code evaluates the test set with batch 1 and unroll 1, which differs only
in the first few words of each of the 20 streams.

**The modern variant** keeps the medium size and data path but swaps the recipe: Ba et al.'s
layer-normalized LSTM cell with DropConnect on the recurrent weights (weight drop 0.5, as in
AWD-LSTM), Zaremba dropout 0.5, AdamW (lr 2e-3, decoupled decay 0.1 sparing biases and norm
gains, gradient norm clipped at 0.25) on Keras' mean loss, Keras' default initializers, and
early stopping on validation perplexity (patience 5, best weights restored) within the same 39
epochs. The paper has no number for it.

Usage:

    python benchmarks/ptb_zaremba.py                       # all four, full PTB (downloads it)
    python benchmarks/ptb_zaremba.py --configs small       # one configuration
    python benchmarks/ptb_zaremba.py --smoke               # the whole path in well under a minute

The full run needs the PTB training file (`ptb.train.txt`, found through `REGKERAS_DATA` or
downloaded with a checksum) and is meant for a GPU: the large model trains for 55 epochs. On a
GPU, TensorFlow runs the plain `keras.layers.LSTM` of the three paper configurations with
cuDNN. `--smoke` trains tiny versions of every configuration (16 units, 3 epochs of a few
batches, the schedule compressed so that the decay is exercised) on the PTB *validation* file
alone, cut 80/10/10 into train/valid/test, and checks that the whole path runs.
"""

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import regkeras  # noqa: E402


@dataclasses.dataclass(frozen=True)
class ZarembaConfig:
    """One training configuration of the table (the paper's names in the comments)."""

    name: str
    hidden_size: int  # hidden_size; also the embedding size
    num_layers: int  # layers
    num_steps: int  # num_steps: the BPTT unroll
    batch_size: int  # batch_size
    vocab_size: int  # vocab_size
    dropout: float  # keep_prob = 1 - dropout, on the non-recurrent connections
    init_scale: float | None  # uniform init in [-init_scale, init_scale]; None: Keras defaults
    optimizer: str  # "sgd" (the paper) or "adamw" (modern)
    learning_rate: float  # learning_rate
    lr_decay: float  # the learning rate is divided by this every epoch after `decay_after`
    decay_after: int  # max_epoch: epochs at the initial learning rate
    max_epochs: int  # max_max_epoch
    max_grad_norm: float  # global gradient norm clip, in the paper's (summed-loss) units
    layer_norm: bool = False  # Ba et al. LSTM cell (modern only)
    weight_dropout: float = 0.0  # DropConnect on the recurrent kernel (modern only)
    weight_decay: float = 0.0  # AdamW decoupled decay (modern only)
    patience: int | None = None  # early stopping on validation perplexity (modern only)
    paper_valid: float | None = None  # the paper's Table 1 numbers
    paper_test: float | None = None


CONFIGS = {
    "small": ZarembaConfig(
        "small", hidden_size=200, num_layers=2, num_steps=20, batch_size=20, vocab_size=10000,
        dropout=0.0, init_scale=0.1, optimizer="sgd", learning_rate=1.0, lr_decay=2.0,
        decay_after=4, max_epochs=13, max_grad_norm=5.0, paper_valid=120.7, paper_test=114.5,
    ),
    "medium": ZarembaConfig(
        "medium", hidden_size=650, num_layers=2, num_steps=35, batch_size=20, vocab_size=10000,
        dropout=0.5, init_scale=0.05, optimizer="sgd", learning_rate=1.0, lr_decay=1.2,
        decay_after=6, max_epochs=39, max_grad_norm=5.0, paper_valid=86.2, paper_test=82.7,
    ),
    "large": ZarembaConfig(
        "large", hidden_size=1500, num_layers=2, num_steps=35, batch_size=20, vocab_size=10000,
        dropout=0.65, init_scale=0.04, optimizer="sgd", learning_rate=1.0, lr_decay=1.15,
        decay_after=14, max_epochs=55, max_grad_norm=10.0, paper_valid=82.2, paper_test=78.4,
    ),
    "modern": ZarembaConfig(
        "modern", hidden_size=650, num_layers=2, num_steps=35, batch_size=20, vocab_size=10000,
        dropout=0.5, init_scale=None, optimizer="adamw", learning_rate=2e-3, lr_decay=1.0,
        decay_after=39, max_epochs=39, max_grad_norm=0.25, layer_norm=True, weight_dropout=0.5,
        weight_decay=0.1, patience=5,
    ),
}


def smoke_config(config):
    """A tiny version of `config` for `--smoke`: same recipe, 16 units, 3 short epochs.

    Dropout, initialization range, clipping, optimizer and decay factor are kept; the
    schedule is compressed (decay after epoch 1) so that the decay runs, and early stopping
    gets a patience of 1.
    """
    return dataclasses.replace(
        config, hidden_size=16, num_steps=5, batch_size=4, max_epochs=3,
        decay_after=1, patience=None if config.patience is None else 1,
    )


def learning_rate(config, epoch):
    """The paper's learning rate in 1-based `epoch`: `lr / decay**max(epoch - decay_after, 0)`."""
    return config.learning_rate / config.lr_decay ** max(epoch - config.decay_after, 0)


def build_model(config, vocab_size, seed=0):
    """The stateful language model of `config`, compiled with its optimizer.

    Returns a `keras.Model` from ids `(batch_size, num_steps)` to logits. Paper
    configurations: `regkeras.build_language_model` (plain LSTMs: `keras.layers.LSTM`, i.e.
    cuDNN, on a GPU, regkeras' fused `ProjectedLSTM` on a CPU; Zaremba dropout) with every
    trainable weight then drawn uniformly from `[-init_scale, init_scale]`, and SGD scaled to
    the paper's summed loss (see the module docstring). Modern: layer-normalized,
    weight-dropped LSTMs and `regkeras.make_adamw`.
    """
    h, b, t = config.hidden_size, config.batch_size, config.num_steps
    if config.optimizer == "sgd":
        model = regkeras.build_language_model(
            vocab_size, embedding_dim=h, units=h, num_layers=config.num_layers,
            dropout=config.dropout, stateful=True, batch_size=b, seq_len=t, seed=seed,
            name=f"zaremba_{config.name}",
        )
        optimizer = keras.optimizers.SGD(
            learning_rate=config.learning_rate * t, global_clipnorm=config.max_grad_norm / t
        )
    else:
        ids = keras.Input(batch_shape=(b, t), dtype="int32", name="ids")
        x = keras.layers.Embedding(vocab_size, h, name="embedding")(ids)
        x = keras.layers.Dropout(config.dropout, seed=seed + 1, name="input_dropout")(x)
        for index in range(1, config.num_layers + 1):
            x = regkeras.LayerNormLSTM(  # with weight drop: one engine, they combine
                h, weight_dropout=config.weight_dropout, return_sequences=True, stateful=True,
                seed=seed + 10 * index, name=f"rnn_{index}",
            )(x)
            label = "output_dropout" if index == config.num_layers else f"hidden_dropout_{index}"
            x = keras.layers.Dropout(config.dropout, seed=seed + 10 * index + 1, name=label)(x)
        logits = keras.layers.Dense(vocab_size, dtype="float32", name="softmax")(x)
        model = keras.Model(ids, logits, name=f"zaremba_{config.name}")
        optimizer = regkeras.make_adamw(
            config.learning_rate, config.weight_decay, model=model, clipnorm=None,
            global_clipnorm=config.max_grad_norm,
        )
    if config.init_scale is not None:
        rng = np.random.default_rng(seed)
        for weight in model.trainable_weights:
            weight.assign(
                rng.uniform(-config.init_scale, config.init_scale, weight.shape).astype("float32")
            )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def set_learning_rate(model, config, epoch):
    """Sets the optimizer's rate for `epoch`; SGD's carries the `num_steps` loss scale."""
    lr = learning_rate(config, epoch)
    scale = config.num_steps if config.optimizer == "sgd" else 1.0
    model.optimizer.learning_rate.assign(lr * scale)
    return lr


def perplexity(model, dataset):
    """exp(mean per-word cross-entropy) over `dataset`, state carried from its first batch."""
    regkeras.reset_states(model)
    loss = model.evaluate(dataset, verbose=0)
    regkeras.reset_states(model)
    return float(math.exp(min(loss, 700.0)))


def run_config(config, corpus, *, seed=0, max_batches=None, log=print):
    """Trains one configuration; returns a dict of per-epoch and final perplexities."""
    keras.utils.set_random_seed(seed)
    model = build_model(config, corpus.vocab_size, seed=seed)
    datasets = {}
    for split in ("train", "valid", "test"):
        ds = corpus.bptt_dataset(split, config.num_steps, config.batch_size)
        if max_batches is not None:
            ds = ds.take(max_batches[split])
        datasets[split] = ds.prefetch(2)
    log(f"\n== {config.name}: {model.count_params():,} parameters, "
        f"{config.num_layers} x {config.hidden_size} LSTM, unroll {config.num_steps}, "
        f"batch {config.batch_size}, dropout {config.dropout}, {config.optimizer}")
    epochs, best, best_weights, waited = [], None, None, 0
    start = time.perf_counter()
    for epoch in range(1, config.max_epochs + 1):
        lr = set_learning_rate(model, config, epoch)
        regkeras.reset_states(model)
        epoch_start = time.perf_counter()
        history = model.fit(datasets["train"], epochs=1, shuffle=False, verbose=0)
        train_ppl = float(math.exp(min(history.history["loss"][-1], 700.0)))
        valid_ppl = perplexity(model, datasets["valid"])
        test_ppl = perplexity(model, datasets["test"])
        seconds = time.perf_counter() - epoch_start
        epochs.append({"epoch": epoch, "lr": lr, "train_ppl": train_ppl, "valid_ppl": valid_ppl,
                       "test_ppl": test_ppl, "seconds": seconds})
        log(f"  epoch {epoch:>2}  lr {lr:.4g}  train {train_ppl:9.2f}  valid {valid_ppl:9.2f}  "
            f"test {test_ppl:9.2f}  ({seconds:.1f} s)")
        sys.stdout.flush()
        if config.patience is not None:
            if best is None or valid_ppl < best["valid_ppl"]:
                best, best_weights, waited = epochs[-1], model.get_weights(), 0
            else:
                waited += 1
                if waited >= config.patience:
                    log(f"  early stopping: no better validation perplexity for {waited} epochs")
                    break
    if best_weights is not None:
        model.set_weights(best_weights)
        final = {"valid_ppl": perplexity(model, datasets["valid"]),
                 "test_ppl": perplexity(model, datasets["test"]), "best_epoch": best["epoch"]}
    else:
        final = {"valid_ppl": epochs[-1]["valid_ppl"], "test_ppl": epochs[-1]["test_ppl"],
                 "best_epoch": epochs[-1]["epoch"]}
    return {
        "config": dataclasses.asdict(config),
        "parameters": int(model.count_params()),
        "epochs": epochs,
        "final": {**final, "epochs_run": len(epochs),
                  "minutes": (time.perf_counter() - start) / 60},
        "paper": {"valid_ppl": config.paper_valid, "test_ppl": config.paper_test},
    }


def format_table(results):
    """The final table: ours next to the paper's, one row per configuration (regkeras'
    fixed-width formatter; "-" where the paper has no number)."""
    rows = []
    for name, result in results.items():
        c, f, p = result["config"], result["final"], result["paper"]
        rows.append({"config": name, "LSTM": f"{c['num_layers']}x{c['hidden_size']}",
                     "epochs": f["epochs_run"], "best": f["best_epoch"],
                     "valid ppl": f["valid_ppl"], "test ppl": f["test_ppl"],
                     "paper valid": p["valid_ppl"], "paper test": p["test_ppl"],
                     "minutes": f["minutes"]})
    return regkeras.experiments.format_table(
        rows, columns=["config", "LSTM", "epochs", "best", "valid ppl", "test ppl",
                       "paper valid", "paper test", "minutes"], floatfmt=".1f")


def load_data(smoke, data_dir=None):
    """Full PTB (official splits, 10k vocabulary), or for `--smoke` the valid file cut 80/10/10."""
    if smoke:
        return regkeras.load_corpus("ptb.valid", level="word", data_dir=data_dir,
                                    fractions=(0.8, 0.1, 0.1), max_vocab=2000)
    return regkeras.load_corpus("ptb", level="word", data_dir=data_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, from {list(CONFIGS)}")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny models, a few batches, PTB valid file only")
    parser.add_argument("--epochs", type=int, default=None,
                        help="cap every configuration's epochs (the schedule is unchanged)")
    parser.add_argument("--data-dir", default=None, help="folder with ptb.*.txt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="ptb_zaremba.json", help="JSON file to write")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        parser.error(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    start = time.perf_counter()
    print(f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras "
          f"{keras.__version__}; {'GPU: ' + str(len(gpus)) if gpus else 'no GPU (CPU only)'}; "
          f"{os.cpu_count()} CPU cores")
    corpus = load_data(args.smoke, args.data_dir)
    print(f"Data: {corpus!r}" + ("  [smoke: PTB valid file cut 80/10/10]" if args.smoke else ""))
    configs = {name: CONFIGS[name] for name in names}
    max_batches = None
    if args.smoke:
        configs = {name: smoke_config(c) for name, c in configs.items()}
        max_batches = {"train": 8, "valid": 3, "test": 3}
    if args.epochs is not None:
        configs = {name: dataclasses.replace(c, max_epochs=min(c.max_epochs, args.epochs))
                   for name, c in configs.items()}
    results = {}
    for name, config in configs.items():
        results[name] = run_config(config, corpus, seed=args.seed, max_batches=max_batches)
    print("\nPerplexity (final model; modern: best epoch's weights), next to Zaremba et al. 2014:")
    print(format_table(results))
    report = {
        "smoke": args.smoke,
        "corpus": repr(corpus),
        "vocab_size": corpus.vocab_size,
        "machine": {"python": platform.python_version(), "tensorflow": tf.__version__,
                    "keras": keras.__version__, "gpus": len(gpus), "cpu_count": os.cpu_count()},
        "results": results,
        "minutes": (time.perf_counter() - start) / 60,
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"Wrote {args.out}; total {report['minutes']:.1f} min")
    return report


if __name__ == "__main__":
    main()
