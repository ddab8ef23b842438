"""The command line: the main job ``python -m regkeras compare`` and ``python -m regkeras tune``.

Trains the unregularized baseline and the fully regularized model (dropout + layer norm +
weight decay + early stopping) on the same data and budget, then prints the comparison table,
saves the loss curves (train vs val for both, early-stop point marked), generated samples from
both models and the trained models (each with its vocabulary) under ``--out``.

``python -m regkeras tune`` searches dropout, weight decay, layer norm and early-stopping
patience with KerasTuner (:mod:`regkeras.tuning`) and writes the trials table and the best
hyperparameters under ``--out``; rerunning it resumes the search.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import traceback

from regkeras import files  # standard library only: costs --help nothing
from regkeras.validation import MAX_SEED  # standard library only too

DATASET_CHOICES = ("recipes", "tiny_shakespeare", "ptb", "ptb.valid", "ptb.test")

# Defaults sized so the whole job runs offline in a few minutes on 2 CPU cores: a small
# recipes training set that the unregularized model can memorize, a model big enough to do it.
DEFAULTS = {
    "recipes": {"num_words": 1500, "epochs": 30, "units": 256, "num_layers": 1, "seq_len": 32,
                "batch_size": 16, "learning_rate": 1e-2},
    "tiny_shakespeare": {"epochs": 10, "units": 256, "num_layers": 2, "seq_len": 100,
                         "batch_size": 32, "steps_per_epoch": 200, "learning_rate": 3e-3},
}
FALLBACK_DEFAULTS = {"epochs": 10, "units": 256, "num_layers": 2, "seq_len": 35, "batch_size": 32,
                     "steps_per_epoch": 200, "learning_rate": 3e-3}



# The comparison table: the model each run keeps (baseline: last epoch; regularized: best
# epoch, early stopping), and both at their best validation epoch, so that the two rows can
# also be compared at the same scoring point (results.json holds every column).
_TABLE_COLUMNS = ("name", "params", "epochs_run", "best_epoch", "stopped_epoch", "train_loss",
                  "val_loss", "test_loss", "gap", "best_val_loss", "best_test_loss", "test_bpc",
                  "verdict", "wall_s")

def _positive_int_arg(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}")
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {value}")
        return value

    return parse


def _seed_arg(text):
    # The seed's range is NumPy's (keras.utils.set_random_seed): beyond it TensorFlow and
    # NumPy fail obscurely, after the corpus has been loaded.
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"--seed must be an integer in [0, {MAX_SEED}], "
                                         f"got {text!r}")
    return value


def _positive_float_arg(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive number, got {text!r}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name} must be a positive number, got {value}")
        return value

    return parse


def _dataset(text):
    if text in DATASET_CHOICES or os.path.isfile(text):
        return text
    raise argparse.ArgumentTypeError(
        f"--dataset must be one of {', '.join(DATASET_CHOICES)} or the path of an existing "
        f"text file; got {text!r}"
    )


def _add_model_and_data_arguments(parser, learning_rate_help):
    """The model, batching and corpus-size options `compare` and `tune` share."""
    parser.add_argument("--level", choices=("char", "word"),
                        help="tokenization (default: word for PTB, char otherwise)")
    parser.add_argument("--units", type=_positive_int_arg("--units"), help="LSTM units per layer")
    # --num-layers is the builder's `num_layers`; --layers, its former name, still works.
    parser.add_argument("--num-layers", "--layers", dest="num_layers",
                        type=_positive_int_arg("--num-layers"), help="stacked LSTM layers")
    parser.add_argument("--seq-len", type=_positive_int_arg("--seq-len"), help="tokens per window")
    parser.add_argument("--batch-size", type=_positive_int_arg("--batch-size"))
    parser.add_argument("--learning-rate", type=_positive_float_arg("--learning-rate"),
                        help=learning_rate_help)
    parser.add_argument("--num-words", type=_positive_int_arg("--num-words"),
                        help="size of the generated recipes corpus in words")
    parser.add_argument("--steps-per-epoch", type=_positive_int_arg("--steps-per-epoch"),
                        help="cap on training batches per epoch (large corpora)")


def _prog():
    """`python -m regkeras` when run that way, else the console script's name, `regkeras`."""
    return "python -m regkeras" if sys.argv[0].endswith("__main__.py") else "regkeras"


def _version():
    from importlib import metadata

    try:
        return metadata.version("regkeras")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown (not installed)"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or (
                action.default is argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def build_parser():
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Regularizing recurrent language models in Keras 3.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"regkeras {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compare = commands.add_parser(
        "compare",
        help="train the unregularized baseline and the fully regularized model and compare them",
        description=__doc__.split("\n\n")[1],
        formatter_class=_HelpFormatter,
    )
    compare.add_argument("--dataset", type=_dataset, default="recipes",
                         help="recipes (generated, offline), tiny_shakespeare, ptb, "
                              "ptb.valid, ptb.test, or a path to a UTF-8 text file")
    compare.add_argument("--epochs", type=_positive_int_arg("--epochs"),
                         help="the training budget in epochs for both models")
    compare.add_argument("--out", default="out", help="folder for the table, PNG, samples, models")
    compare.add_argument("--seed", type=_seed_arg, default=0, help="random seed")
    _add_model_and_data_arguments(compare, "Adam/AdamW learning rate for both models")
    compare.add_argument("--patience", type=_positive_int_arg("--patience"), default=5,
                         help="early-stopping patience of the regularized model (notes: 5-10)")
    compare.add_argument("--sample-length", type=_positive_int_arg("--sample-length"), default=300)
    compare.add_argument("--temperature", type=_positive_float_arg("--temperature"), default=0.8)
    compare.add_argument("--config", metavar="FILE",
                         help="train this configuration instead of the built-in regularized "
                              "one: the best_config.json that `tune` writes, or any "
                              "ExperimentConfig.to_json() file")
    compare.add_argument("--resume", action="store_true",
                         help="keep backups in OUT/backup so an interrupted run resumes")
    compare.add_argument("--fresh", action="store_true",
                         help="delete the backup in OUT/backup first and train from the start "
                              "(the way out of a damaged backup)")
    compare.add_argument("--tensorboard", metavar="DIR",
                         help="also log each configuration for TensorBoard under DIR/NAME")
    compare.add_argument("--quiet", action="store_true",
                         help="one line per epoch, no progress bar (always so when the output "
                              "is not a terminal)")

    tune = commands.add_parser(
        "tune",
        help="search dropout, weight decay, layer norm and patience with KerasTuner",
        formatter_class=_HelpFormatter,
        description=(
            "Hyperparameter search with KerasTuner on the training and validation splits "
            "(the test split is not read). Writes OUT/trials.md, OUT/trials.json and "
            "OUT/best_hyperparameters.json; the search state lives in OUT/search, so "
            "rerunning the same command resumes it (finished trials are not trained again). "
            "Distributed: run the same command as a chief and workers with "
            "KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT set "
            "(see docs/tuning.md)."),
    )
    tune.add_argument("--corpus", "--dataset", dest="dataset", type=_dataset, default="recipes",
                      help="recipes, tiny_shakespeare, ptb, ptb.valid, ptb.test, or "
                           "a path to a UTF-8 text file")
    tune.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random",
                      help="search algorithm")
    tune.add_argument("--max-trials", type=_positive_int_arg("--max-trials"), default=10,
                      help="number of trials (an upper bound for hyperband)")
    tune.add_argument("--epochs", type=_positive_int_arg("--epochs"),
                      help="epoch budget per trial (default: the compare defaults)")
    tune.add_argument("--out", default="tuning", help="folder for the tables and search state")
    tune.add_argument("--seed", type=_seed_arg, default=0, help="random seed")
    _add_model_and_data_arguments(tune, "Adam/AdamW learning rate (fixed during the search)")
    tune.add_argument("--overwrite", action="store_true",
                      help="delete a previous search in OUT/search and start over")
    tune.add_argument("--tensorboard", metavar="DIR",
                      help="also log every trial for TensorBoard under DIR")
    tune.add_argument("--quiet", action="store_true", help="no per-trial output")
    return parser


def _settings(args):
    defaults = DEFAULTS.get(args.dataset, FALLBACK_DEFAULTS)
    pick = lambda name: getattr(args, name) or defaults.get(name)  # noqa: E731
    return {
        "epochs": pick("epochs"),
        "units": pick("units"),
        "num_layers": pick("num_layers"),
        "seq_len": pick("seq_len"),
        "num_words": pick("num_words"),
        "steps_per_epoch": pick("steps_per_epoch"),
        "batch_size": pick("batch_size"),
        "learning_rate": pick("learning_rate"),
    }


def _prompt(corpus):
    """The first few tokens of the test split: text neither model trained on."""
    tokens = corpus.vocab.decode(corpus.test_ids[:20 if corpus.level == "word" else 40])
    return tokens


def compare(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import matplotlib

    matplotlib.use("Agg")
    import keras

    from regkeras import experiments

    settings = _settings(args)
    keras.utils.set_random_seed(args.seed)
    corpus = _load_corpus(args, settings)
    print(f"corpus {corpus.name} ({corpus.level} level): vocabulary {corpus.vocab_size}, "
          f"train/val/test {len(corpus.train_ids)}/{len(corpus.val_ids)}/{len(corpus.test_ids)} "
          "tokens")
    if corpus.entropy_rate is not None:
        print(f"entropy floor (the best any model can do on held-out text): "
              f"{corpus.entropy_rate:.4f} nats/token")

    model_kwargs = {"units": settings["units"], "num_layers": settings["num_layers"],
                    "embedding_dim": 32}
    baseline = experiments.CONFIGS["baseline"].replace(learning_rate=settings["learning_rate"])
    if args.config:
        regularized = _read_config(args.config)
    else:
        regularized = experiments.CONFIGS["all"].replace(
            name="regularized", learning_rate=settings["learning_rate"], patience=args.patience)
    configs = [baseline, regularized]
    results = {}
    for position, config in enumerate(configs, start=1):
        _raise_if_interrupted()
        print(f"\n[configuration {position} of {len(configs)}] {config.name}: "
              f"{_what_is_regularized(config, corpus, model_kwargs)}; "
              f"{settings['epochs']} epochs"
              + (f", early stopping with patience {config.patience}"
                 if config.early_stopping else ""), flush=True)
        results[config.name] = experiments.run_experiment(
            config,
            corpus,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            seq_len=settings["seq_len"],
            seed=args.seed,
            model_kwargs=model_kwargs,
            steps_per_epoch=settings["steps_per_epoch"],
            backup_dir=os.path.join(args.out, "backup") if args.resume else None,
            verbose=2 if args.quiet or not sys.stdout.isatty() else 1,
            callbacks=_callbacks(args, config.name),
            progress=lambda line: print(line, flush=True),
        )
        row = results[config.name].row
        stopped = row.get("stopped_epoch")
        print(f"{config.name}: {row['epochs_run']} epochs run"
              + (f", early stopping fired at epoch {stopped}" if stopped else "")
              + f", best epoch {row['best_epoch']} (val {row['best_val_loss']:.4f})", flush=True)
    comparison = experiments.Comparison(
        rows=[results[c.name].row for c in configs],
        histories={c.name: results[c.name].history for c in configs},
        models={c.name: results[c.name].model for c in configs},
        results=results,
    )

    table = comparison.table(columns=_TABLE_COLUMNS)
    print()
    print(table)
    samples = _write_all_or_nothing(args.out, lambda folder: _write_compare_outputs(
        args, settings, corpus, comparison, folder))
    png = os.path.join(args.out, "loss_curves.png")
    print()
    print("\n".join(samples))
    print(f"wrote {png}, {args.out}/samples.txt, {args.out}/results.md, and the models "
          f"({', '.join(f'{n}.keras' for n in comparison.models)}) with their vocabularies")
    return comparison


def _write_compare_outputs(args, settings, corpus, comparison, folder):
    """Every file `compare` leaves, written into `folder` (a staging folder)."""
    from regkeras import data, generation

    files.write_file(os.path.join(folder, "results.md"),
                      comparison.table(fmt="markdown", columns=_TABLE_COLUMNS) + "\n")
    files.write_file(os.path.join(folder, "results.json"), json.dumps(
        {"settings": settings, "dataset": args.dataset, "seed": args.seed,
         "rows": comparison.rows, "histories": comparison.histories}, indent=1, default=float))

    png = os.path.join(folder, "loss_curves.png")
    figure = comparison.plot()
    if corpus.entropy_rate is not None:
        axis = figure.axes[0]
        axis.axhline(corpus.entropy_rate, color="black", linestyle=":",
                     label=f"entropy floor {corpus.entropy_rate:.2f}")
        axis.legend(fontsize=7)
    partial = f"{png}.{os.getpid()}.tmp.png"
    figure.savefig(partial, dpi=120, bbox_inches="tight")
    os.replace(partial, png)

    prompt = _prompt(corpus)
    samples = [f"prompt (from the test split): {prompt!r}\n"]
    for name, model in comparison.models.items():
        text = generation.generate_text(model, corpus.vocab, prompt, length=args.sample_length,
                                        temperature=args.temperature, seed=args.seed,
                                        context_length=settings["seq_len"])
        samples.append(f"--- {name} (temperature {args.temperature}) ---\n{text}\n")
        data.save_language_model(model, corpus.vocab, os.path.join(folder, f"{name}.keras"))
    files.write_file(os.path.join(folder, "samples.txt"), "\n".join(samples))
    return samples


# The files of one run appear in --out together: they are written into OUT/.partial-PID,
# then a journal listing them is written (atomically) and they are renamed into place; the
# outputs of the previous run that this one does not overwrite are removed. A run killed
# before the journal leaves the previous outputs untouched; one killed after it is finished
# by the next run into that folder (`_recover_out`, under the lock), before anything else.
_OUTPUTS_FILE = ".regkeras-outputs.json"
_JOURNAL = ".regkeras-publishing.json"


def _write_all_or_nothing(out, write):
    """Runs `write(folder)` in a fresh staging folder inside `out`, then publishes every file
    it wrote there as one set; returns what `write` returns. A failure in `write` leaves the
    previous set untouched (and no staging folder)."""
    staging = _staging_folder(out)
    try:
        written = write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(out, staging)
    return written


def _staging_folder(out):
    path = os.path.join(out, f".partial-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def _publish(out, staging):
    try:
        with open(os.path.join(out, _OUTPUTS_FILE), encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError):
        previous = []
    names = sorted(os.listdir(staging))
    files.sync_folder(staging)
    plan = {"staging": os.path.basename(staging), "files": names,
            "remove": sorted(set(previous) - set(names))}
    files.crash_point("publish: outputs staged")
    files.write_file(os.path.join(out, _JOURNAL), json.dumps(plan))
    files.crash_point("publish: journal written")
    _move_into_place(out, plan)


def _move_into_place(out, plan):
    staging = os.path.join(out, plan["staging"])
    for name in plan["files"]:
        source = os.path.join(staging, name)
        if os.path.exists(source):
            os.replace(source, os.path.join(out, name))
            files.crash_point("publish: output moved")
    for name in plan["remove"]:
        try:
            os.remove(os.path.join(out, name))
        except FileNotFoundError:
            pass
    files.write_file(os.path.join(out, _OUTPUTS_FILE), json.dumps(plan["files"]))
    os.remove(os.path.join(out, _JOURNAL))
    files.sync_folder(out)
    shutil.rmtree(staging, ignore_errors=True)


def _recover_out(out):
    """Finishes the publishing a killed run began in `out`, and drops its partial outputs."""
    journal = os.path.join(out, _JOURNAL)
    if os.path.exists(journal):
        with open(journal, encoding="utf-8") as f:
            plan = json.load(f)  # written whole (write, then rename)
        _move_into_place(out, plan)
    for name in os.listdir(out):
        if name.startswith(".partial-"):
            shutil.rmtree(os.path.join(out, name), ignore_errors=True)


def _read_config(path):
    from regkeras.experiments import ExperimentConfig

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise UserError(f"--config {path!r} cannot be read ({err.strerror or err}).") from None
    try:
        return ExperimentConfig.from_json(text)
    except (ValueError, TypeError) as err:
        raise UserError(f"--config {path!r}: {err}") from None


# Ctrl-C that cannot be lost. Python raises KeyboardInterrupt wherever the main thread is when
# the signal arrives; inside a garbage-collector callback or a `__del__` the exception is
# printed ("Exception ignored in ...") and dropped, and the run goes on. JAX registers such a
# callback, and Keras imports JAX whenever it is installed, whatever the backend. So a signal
# that lands there raises nothing (the traceback Python would print is no use) and is sent
# again 50 ms later; the handler also records it for a callback that raises it again at the
# end of the next batch.
_interrupted = threading.Event()
REDELIVERY_DELAY_S = 0.05


def _where_exceptions_are_dropped(frame):
    """Whether `frame` runs inside a gc callback or a `__del__` (directly or further up)."""
    import gc

    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _on_sigint(signum, frame):
    _interrupted.set()
    if _where_exceptions_are_dropped(frame):
        timer = threading.Timer(REDELIVERY_DELAY_S, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
        return
    raise KeyboardInterrupt


def _report_interrupt(parser, args, err):
    """The one line for Ctrl-C (`--debug` adds the traceback of where it landed); exit 130."""
    if args.debug:
        traceback.print_exception(err)
    print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
    return 130


def _raise_if_interrupted():
    if _interrupted.is_set():
        raise KeyboardInterrupt


def _interrupt_callback():
    """A Keras callback that raises a recorded Ctrl-C after every batch (see `_on_sigint`)."""
    import keras

    class RaiseRecordedInterrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            _raise_if_interrupted()

        on_test_batch_end = on_predict_batch_end = on_train_batch_end

    return RaiseRecordedInterrupt()


def _callbacks(args, name=None):
    """The callbacks of every training run: TensorBoard if asked, the Ctrl-C check."""
    return [*_tensorboard(args.tensorboard, name), _interrupt_callback()]


def _tensorboard(directory, name=None):
    """[keras.callbacks.TensorBoard(DIR/NAME)] for `--tensorboard DIR`, else []."""
    if not directory:
        return []
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise UserError("--tensorboard needs the tensorboard package: "
                        "python -m pip install tensorboard")
    import keras

    return [keras.callbacks.TensorBoard(os.path.join(directory, name) if name else directory)]


def _load_corpus(args, settings):
    from regkeras import data

    load_kwargs = {"level": args.level}
    if args.dataset == "recipes":
        load_kwargs["num_words"] = settings["num_words"]
    return data.load_corpus(args.dataset, **load_kwargs)


def _what_is_regularized(config, corpus, model_kwargs):
    """"dropout 0.3 (per step) + layer norm (cell) + weight decay 0.1" for a header line."""
    from regkeras.spec import LanguageModelSpec

    text = LanguageModelSpec(corpus.vocab_size, **{**model_kwargs, **config.model}).text()
    parts = [] if text == "none" else [text]
    if config.weight_decay:
        parts.append(f"weight decay {config.weight_decay:g}")
    return " + ".join(parts) if parts else "no regularization"


class UserError(Exception):
    """A mistake on the command line: reported in one line, exit status 2."""


def _prepare_out(path, option="--out"):
    """Makes sure `path` is a folder this process can write, before any training.

    Returns whether it was created here (so a failed run can remove it again).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{option} {path!r} is a file, not a folder: give a folder name.")
    created = not os.path.exists(path)
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".regkeras-write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as err:
        if created:
            _remove_if_empty(path)
        raise UserError(f"{option} {path!r} cannot be written ({err.strerror or err}): choose "
                        "another folder or fix its permissions.") from None
    return created


def _remove_if_empty(path):
    try:
        os.rmdir(path)
    except OSError:
        pass


def tune(args):
    """``python -m regkeras tune``: a KerasTuner search, its table and best hyperparameters."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from regkeras import tuning

    settings = _settings(args)
    keras.utils.set_random_seed(args.seed)
    corpus = _load_corpus(args, settings)
    print(f"corpus {corpus.name} ({corpus.level} level): vocabulary {corpus.vocab_size}, "
          f"train/val {len(corpus.train_ids)}/{len(corpus.val_ids)} tokens (test not used)")
    result = tuning.tune(
        corpus, tuner=args.tuner, max_trials=args.max_trials, epochs=settings["epochs"],
        directory=args.out, project_name="search", seed=args.seed, overwrite=args.overwrite,
        seq_len=settings["seq_len"], batch_size=settings["batch_size"],
        steps_per_epoch=settings["steps_per_epoch"], learning_rate=settings["learning_rate"],
        model_kwargs={"units": settings["units"], "num_layers": settings["num_layers"],
                      "embedding_dim": 32},
        callbacks=_callbacks(args),
        verbose=0 if args.quiet else 1)
    if not result.rows:
        print("distributed worker finished its trials; the chief writes the tables")
        return result
    table = result.table()
    print()
    print(table)
    print(f"\nbest hyperparameters: {json.dumps(result.best_hyperparameters)}")
    # The tables, the winner's configuration and model appear in --out as one set, as
    # compare's outputs do; the search state (--out/search) is KerasTuner's own.
    _write_all_or_nothing(args.out, lambda folder: _write_tune_outputs(
        args, settings, corpus, result, folder))
    config_path = os.path.join(args.out, "best_config.json")
    print(f"wrote {args.out}/trials.md, {args.out}/trials.json, "
          f"{args.out}/best_hyperparameters.json, {config_path} and the winner's model "
          f"{args.out}/best.keras with its vocabulary (search state in {args.out}/search)")
    print(f"train it against the baseline: {_prog()} compare --config {config_path}")
    return result


def _write_tune_outputs(args, settings, corpus, result, folder):
    """Every file `tune` leaves (not the search state), written into `folder` (a staging
    folder)."""
    from regkeras import data

    files.write_file(os.path.join(folder, "trials.md"), result.table(fmt="markdown") + "\n")
    payload = {"settings": settings, "dataset": args.dataset, "seed": args.seed,
               "tuner": args.tuner, "objective": "val_loss", **result.to_json()}
    files.write_file(os.path.join(folder, "trials.json"),
                     json.dumps(payload, indent=1, default=float) + "\n")
    files.write_file(os.path.join(folder, "best_hyperparameters.json"),
                     json.dumps(result.best_hyperparameters, indent=1) + "\n")
    files.write_file(os.path.join(folder, "best_config.json"),
                     result.best_config().to_json() + "\n")
    data.save_language_model(result.best_model(), corpus.vocab,
                             os.path.join(folder, "best.keras"))


def _load_library(quiet):
    """Imports the whole package (TensorFlow with it) once the arguments are parsed.

    `python -m regkeras` starts with the package's imports deferred (see
    `regkeras._starting_the_command_line`) so that `--help` and `--version` need no
    TensorFlow. TensorFlow's C++ runtime writes start-up lines to stderr while it loads (absl's
    "All log messages before absl::InitializeLog()", oneDNN's notice, a CUDA probe on a machine
    without a GPU) before `TF_CPP_MIN_LOG_LEVEL` can take effect, so stderr is closed for the
    duration of the import unless `--debug` asks to see everything. A Python error raised by
    the import still reaches stderr: it propagates after stderr is restored.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import regkeras

    if not quiet:
        regkeras._import_all()
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                regkeras._import_all()
                import tensorflow  # noqa: F401  (the data pipelines need it; load it quietly too)
            finally:
                os.dup2(saved_stderr, 2)
    finally:
        os.close(saved_stderr)


def main(argv=None):
    """Runs a command; a user's mistake ends in one line on stderr and exit status 2.

    Wrong options are argparse's (usage and one line). Errors found while running (a text file
    that is empty or not UTF-8, a corpus too short for `--seq-len`, an `--out` that cannot be
    written, no network for a download) print `PROG COMMAND: error: ...` without a traceback;
    `--debug` shows the traceback. Ctrl-C prints one line and exits 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _load_library(quiet=not args.debug)
    run = {"compare": compare, "tune": tune}[args.command]
    created = False
    lock = None
    _interrupted.clear()
    try:
        previous_handler = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread (an embedding program): leave its handler alone
        previous_handler = None
    try:
        created = _prepare_out(args.out)
        lock = _lock_out(args)
        if lock is not None or os.environ.get("KERASTUNER_TUNER_ID") == "chief":
            # The chief of a chief/worker search takes no lock but is the one process that
            # publishes the tables: it finishes a publishing its killed predecessor began.
            _recover_out(args.out)
        if getattr(args, "fresh", False):
            shutil.rmtree(os.path.join(args.out, "backup"), ignore_errors=True)
        run(args)
    except (Exception, KeyboardInterrupt) as err:
        if lock is not None:
            lock.release()
        if created:
            _remove_if_empty(args.out)
        if isinstance(err, KeyboardInterrupt) or _interrupted.is_set():
            # A KeyboardInterrupt raised inside a library's own error handling can come out as
            # that library's error (a local test run once exited 1 with a stack in
            # TensorFlow's dataset tracing); the recorded signal says what it was.
            return _report_interrupt(parser, args, err)
        if args.debug or not isinstance(err, (UserError, ValueError, TypeError, OSError)):
            raise
        print(f"{parser.prog} {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    finally:
        if lock is not None:
            lock.release()
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
    return 0


def _lock_out(args):
    """One run at a time in an --out folder: a second one fails at once (exit 2).

    `tune` in chief/worker mode (KERASTUNER_TUNER_ID set) shares its folder by design and
    takes no lock. The lock is an flock, so a run that was killed leaves no stale lock.
    """
    if args.command == "tune" and os.environ.get("KERASTUNER_TUNER_ID"):
        return None
    return files.FolderLock(os.path.join(args.out, ".regkeras.lock"),
                            f"--out {args.out!r}").acquire()


def _one_line(err):
    text = " ".join(str(err).split()) or type(err).__name__
    hints = {"seq_len": "--seq-len", "batch_size": "--batch-size", "num_words": "--num-words"}
    for name, option in hints.items():
        if f"`{name}`" in text and option not in text:
            text += f" (set with {option})"
    return text


if __name__ == "__main__":
    sys.exit(main())
