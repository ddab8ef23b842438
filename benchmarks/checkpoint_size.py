"""Size and save time of one ResumableBackupAndRestore checkpoint, state.npz before and after.

Before: `state.npz` held every model variable (and the callbacks' arrays). After: only the
variables Keras' weights file leaves out, the dropout layers' SeedGenerator states (and the
callbacks' arrays). Both are measured in one process on the same model, alternating, with the
early-stopping callback's best weights in the checkpoint as in a real run. The model is the
one the chapters and the main job train: embedding 32, one layer-normalized LSTM layer,
dropout 0.3, AdamW.

    python benchmarks/checkpoint_size.py --units 128 256 --rounds 4
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import regkeras  # noqa: E402
import regkeras.callbacks as callbacks_module  # noqa: E402


def every_variable(model):
    """What state.npz held before: every model variable."""
    return list(enumerate(model.variables))


LAYOUTS = {"before": every_variable, "after": callbacks_module._variables_outside_weights}


def trained_model(units, vocab_size):
    keras.utils.set_random_seed(0)
    model = regkeras.build_language_model(vocab_size, embedding_dim=32, units=units,
                                          num_layers=1, dropout=0.3, layer_norm="cell", seed=0)
    model.compile(regkeras.optimizers.make_adamw(3e-3, 0.1, model=model),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.random.default_rng(0).integers(0, vocab_size, size=(16, 32))
    model.fit(ids, ids, epochs=1, verbose=0)  # builds the optimizer's variables
    return model


def measure(model, layout, saves, folder):
    """(file sizes of the last checkpoint, save times in seconds) for `saves` saves."""
    callbacks_module._variables_outside_weights = LAYOUTS[layout]
    try:
        stop = regkeras.BestWeightsEarlyStopping(patience=5)
        stop.set_model(model)
        stop.on_train_begin()
        stop.on_epoch_end(0, {"val_loss": 1.0})  # holds best weights, as in a real run
        backup = regkeras.ResumableBackupAndRestore(folder, state_callbacks=[stop])
        backup.set_model(model)
        times = []
        for epoch in range(1, saves + 1):
            start = time.perf_counter()
            backup.on_epoch_end(epoch - 1)
            times.append(time.perf_counter() - start)
    finally:
        callbacks_module._variables_outside_weights = LAYOUTS["after"]
    newest = os.path.join(folder, max(p for p in os.listdir(folder) if p.startswith("ckpt-")))
    sizes = {name: os.path.getsize(os.path.join(newest, name)) for name in os.listdir(newest)}
    return sizes, times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--vocab-size", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4, help="before/after alternations")
    parser.add_argument("--saves", type=int, default=5, help="checkpoints per round")
    args = parser.parse_args(argv)
    print("| units | parameters | state.npz | model.weights.h5 | checkpoint | save (median) |")
    print("|---:|---:|---|---:|---|---|")
    for units in args.units:
        model = trained_model(units, args.vocab_size)
        sizes, times = {}, {layout: [] for layout in LAYOUTS}
        with tempfile.TemporaryDirectory() as scratch:
            for round_ in range(args.rounds):
                for layout in LAYOUTS:
                    folder = os.path.join(scratch, f"{layout}-{round_}")
                    sizes[layout], taken = measure(model, layout, args.saves, folder)
                    times[layout] += taken

        state = {k: f"{sizes[k]['state.npz']:,} B" for k in LAYOUTS}
        total = {k: f"{sum(sizes[k].values()):,} B" for k in LAYOUTS}
        save = {k: f"{1000 * statistics.median(times[k]):.0f} ms" for k in LAYOUTS}
        print(f"| {units} | {model.count_params():,} | {state['before']} → {state['after']} | "
              f"{sizes['after']['model.weights.h5']:,} B | {total['before']} → "
              f"{total['after']} | {save['before']} → {save['after']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
