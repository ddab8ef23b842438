"""The ablation: named regularization configurations trained on the same data and budget.

:data:`CONFIGS` holds the course's configurations (``baseline``, ``dropout``, ``layernorm``,
``weight_decay``, ``early_stopping``, ``all``). :func:`run_experiment` trains one of them
(or any custom :class:`ExperimentConfig`) on a corpus and returns a tidy result row plus its
learning curves; :func:`run_experiments` trains several with the same data, epochs, batch
size, sequence length and seed and returns a :class:`Comparison` with the table
(:func:`format_table`) and one figure of all curves. ``python -m regkeras compare`` and the
chapters are built on these.

Every number in the table is measured the same way for every configuration, at **two
scoring points**: the weights of the **last** epoch trained (``last_*`` columns) and those
of the **best** epoch by validation loss (``best_*`` columns), each evaluated with dropout off
on the training, validation and test windows, using the plain cross-entropy in nats (no L2 or
activation penalty added). A configuration with early stopping keeps its best epoch's weights;
scoring every other configuration at its best epoch too is what makes the comparison fair
("early stopping" is then worth only what it adds beyond picking the best epoch after the
fact). The plain ``train_loss``/``val_loss``/``test_loss``/``gap`` columns describe the model
each configuration *keeps* (best for early stopping, last otherwise).

:func:`run_seeds` repeats an ablation over several seeds and reports mean ± standard
deviation (:class:`SeedComparison`); :func:`seed_stats` and :func:`clearly_lower` are the
arithmetic behind the course's multi-seed claims, and :func:`heldout_loss` gives a held-out
loss with its standard error, to tell whether a split is large enough for a difference.

A run given ``backup_dir`` survives being killed: each configuration backs up its training
state there every epoch (:class:`regkeras.callbacks.ResumableBackupAndRestore`), finished
configurations leave their result and weights, and calling the same function again skips the
finished ones and continues the interrupted one where it stopped. The training windows are
shuffled with a seed derived from ``(seed, epoch)``, so a resumed run sees the same batches
as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import numbers
import os
import time

import keras

from regkeras import files
from regkeras.callbacks import (
    BestWeightsEarlyStopping,
    ResumableBackupAndRestore,
    TrainingMonitor,
)
from regkeras.data import (
    check_corpus,
    check_token_ids,
    count_batches,
    training_windows,
    vocabulary_size,
    window_dataset,
)
from regkeras.diagnosis import diagnose
from regkeras.metrics import CrossEntropy, bits_per_char, perplexity_and_bits
from regkeras.optimizers import make_adamw
from regkeras.models import check_model_vocabulary, output_width, token_id_limit
from regkeras.spec import upgrade_field_names
from regkeras.validation import (
    MAX_SEED,
    check_bool,
    check_choice,
    check_int,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_seed,
    check_string,
    message,
)

__all__ = [
    "ExperimentConfig",
    "CONFIGS",
    "DEFAULT_MODEL_KWARGS",
    "TABLE_COLUMNS",
    "ExperimentResult",
    "Comparison",
    "run_experiment",
    "run_experiments",
    "run_seeds",
    "SeedComparison",
    "SeedStats",
    "seed_stats",
    "clearly_lower",
    "heldout_loss",
    "heldout_difference",
    "format_table",
]



@dataclasses.dataclass
class ExperimentConfig:
    """One configuration of the ablation.

    Args:
        name: Name used in the table and the figure.
        model: Keyword arguments for the model builder
            (:func:`regkeras.models.build_language_model`), on top of the shared defaults.
        learning_rate: Adam(W) learning rate.
        weight_decay: Decoupled weight decay for :func:`regkeras.optimizers.make_adamw`;
            ``0`` uses plain ``keras.optimizers.Adam``.
        clipnorm: Gradient clipping norm (``None`` for none).
        early_stopping: Stop on ``val_loss`` and keep the best epoch's weights.
        patience: Early-stopping patience in epochs.

    Example:

    >>> cfg = ExperimentConfig("heavy_dropout", model={"dropout": 0.5}, early_stopping=True)
    """

    name: str
    model: dict = dataclasses.field(default_factory=dict)
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    clipnorm: float | None = 1.0
    early_stopping: bool = False
    patience: int = 5

    def __post_init__(self):
        name_rule = "a non-empty string without '/' (it names files)"
        check_string("name", self.name, name_rule)
        if "/" in self.name:
            raise ValueError(message("name", name_rule, self.name))
        if not isinstance(self.model, dict):
            raise TypeError(
                f"`model` must be a dict of builder arguments. Received: {self.model!r}"
            )
        if not all(isinstance(key, str) and key.isidentifier() for key in self.model):
            raise TypeError(
                "`model` must map builder argument names (str) to values. "
                f"Received keys: {list(self.model)!r}"
            )
        # Validated, not converted: the fields stay as given (they name finished runs).
        check_positive("learning_rate", self.learning_rate)
        check_non_negative("weight_decay", self.weight_decay)
        check_positive("clipnorm", self.clipnorm, allow_none=True)
        check_bool("early_stopping", self.early_stopping)
        self.patience = check_int("patience", self.patience, minimum=0)

    def replace(self, **changes):
        """A copy with some fields changed (``model`` entries are merged, not replaced).

        Example:

        >>> CONFIGS["dropout"].replace(model={"dropout": 0.5}).model["dropout"]
        0.5
        """
        if "model" in changes:
            changes["model"] = {**self.model, **changes["model"]}
        return dataclasses.replace(self, **changes)

    def to_json(self):
        """This configuration as JSON text (`from_json` reads it back; the command line's
        `compare --config FILE` and `tune`'s `best_config.json` use it)."""
        return json.dumps({"format": "regkeras.ExperimentConfig", **dataclasses.asdict(self)},
                          indent=1)

    @classmethod
    def from_json(cls, text):
        """The configuration of `to_json()`'s text; a clear ValueError for anything else.

        Example:

        >>> ExperimentConfig.from_json(CONFIGS["all"].to_json()) == CONFIGS["all"]
        True
        """
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not a JSON text ({err})") from None
        if not isinstance(payload, dict) or payload.pop("format", None) != (
                "regkeras.ExperimentConfig"):
            raise ValueError("not a regkeras experiment configuration (its 'format' must be "
                             "'regkeras.ExperimentConfig'; `regkeras tune` writes one)")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"unknown configuration field(s) {unknown}; known: {sorted(known)}")
        if isinstance(payload.get("model"), dict):
            # Files written by earlier versions may use the builder's former argument names.
            payload["model"] = upgrade_field_names(payload["model"])
        return cls(**payload)


#: Builder arguments shared by every configuration (small enough for a CPU in minutes).
DEFAULT_MODEL_KWARGS = {"embedding_dim": 32, "units": 128, "num_layers": 1}

#: The course's configurations. Dropout 0.3 is the low end of the notes' 0.3-0.5; the weight
#: decay is AdamW's decoupled coefficient (Keras multiplies it by the learning rate, so 0.1
#: shrinks weights by 0.03% per step at lr=3e-3; the notes' 1e-4..1e-3 would be invisible in
#: a short run); early stopping uses patience 5 (notes: 5-10).
CONFIGS = {
    "baseline": ExperimentConfig("baseline"),
    "dropout": ExperimentConfig("dropout", model={"dropout": 0.3}),
    "layernorm": ExperimentConfig("layernorm", model={"layer_norm": "cell"}),
    "weight_decay": ExperimentConfig("weight_decay", weight_decay=0.1),
    "early_stopping": ExperimentConfig("early_stopping", early_stopping=True),
    "all": ExperimentConfig("all", model={"dropout": 0.3, "layer_norm": "cell"},
                            weight_decay=0.1, early_stopping=True),
}

#: Columns of the results table, in order.
TABLE_COLUMNS = (
    "name", "params", "epochs_run", "best_epoch", "stopped_epoch", "train_loss", "val_loss",
    "test_loss", "gap", "val_ppl", "test_ppl", "val_bpc", "test_bpc", "floor_bpc",
    "last_train_loss", "last_val_loss", "last_test_loss", "last_gap",
    "best_train_loss", "best_val_loss", "best_test_loss", "best_gap", "verdict", "wall_s",
)

#: The two scoring points every configuration is measured at (see the module docstring).
SCORING_POINTS = ("last", "best")


@dataclasses.dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns.

    Attributes:
        row: The tidy result row (keys :data:`TABLE_COLUMNS`), losses in nats per token,
            ``*_bpc`` in bits per token, ``*_ppl`` perplexities, epochs 1-based;
            ``last_*`` at the last epoch's weights, ``best_*`` at the best validation
            epoch's, the unprefixed losses at the weights the model keeps.
        history: Per-epoch curves (``loss``, ``val_loss``, ``perplexity``, ``bpc``, ... and
            ``epoch``, 0-based).
        model: The trained model (``None`` when loaded from a finished backup without weights).
        config: The :class:`ExperimentConfig` used.
    """

    row: dict
    history: dict
    model: keras.Model | None
    config: ExperimentConfig


@dataclasses.dataclass
class Comparison:
    """What :func:`run_experiments` returns: one row and one set of curves per configuration.

    Attributes:
        rows: List of result rows (dicts), in the order the configurations were given.
        histories: ``{name: history dict}``.
        models: ``{name: trained model}``.
        results: ``{name: ExperimentResult}``.
    """

    rows: list
    histories: dict
    models: dict
    results: dict

    def table(self, fmt="text", columns=None, floatfmt=".3f"):
        """The rows as a fixed-width ``"text"`` or ``"markdown"`` table (:func:`format_table`)."""
        return format_table(self.rows, fmt=fmt, columns=columns, floatfmt=floatfmt)

    def plot(self, metric="loss", path=None, **kwargs):
        """All configurations' train/validation curves on one figure, early stops marked.

        Example:

        >>> fig = comparison.plot(metric="bpc", path="ablation.png")
        """
        stopped = {r["name"]: r["stopped_epoch"] - 1 for r in self.rows
                   if r.get("stopped_epoch") is not None}
        from regkeras.plotting import plot_history

        return plot_history(self.histories, metric=metric, stopped=stopped, path=path, **kwargs)

    def row(self, name):
        """The row of one configuration."""
        for r in self.rows:
            if r["name"] == name:
                return r
        raise KeyError(f"No configuration named {name!r}; have {[r['name'] for r in self.rows]}")

    def __str__(self):
        return self.table()


def _resolve_config(config, name="config"):
    requirement = ("a name from CONFIGS (" + ", ".join(map(repr, sorted(CONFIGS)))
                   + "), an ExperimentConfig or a dict of its fields")
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError("Unknown configuration: " + message(name, requirement, config))
        return CONFIGS[config]
    if isinstance(config, dict):
        return ExperimentConfig(**config)
    raise TypeError(message(name, requirement, config))


def _resolve_corpus(corpus):
    if isinstance(corpus, str):
        from regkeras import data

        return data.load_corpus(corpus)
    for attr in ("vocab", "train_ids", "val_ids", "test_ids"):
        if not hasattr(corpus, attr):
            raise TypeError(
                "`corpus` must be a corpus name or a regkeras.data.Corpus (with vocab, "
                f"train_ids, val_ids, test_ids); it has no {attr!r}."
            )
    return corpus


def _accepts(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _eval_dataset(ids, seq_len, batch_size, max_batches):
    ds = window_dataset(ids, seq_len, batch_size, shuffle=False, drop_remainder=False)
    if max_batches:
        ds = ds.take(max_batches)
    if count_batches(ds) == 0:
        raise ValueError(f"A split is shorter than one window of {seq_len + 1} tokens.")
    return ds


def _xent_metric():
    return CrossEntropy(name="xent")  # Keras' number, computed faster (see its docstring)


def _history_from_monitor(monitor):
    history = {k: list(v) for k, v in monitor.history.items()}
    history["epoch"] = list(monitor.epochs)
    return history


class _TrainingClock(keras.callbacks.Callback):
    """Wall seconds of training, summed over a run that was interrupted and resumed.

    ResumableBackupAndRestore saves its state with each backup and gives it back on resume,
    so a resumed run reports the time of all its sessions, not only of the last one.
    """

    def __init__(self):
        super().__init__()
        self._before = 0.0
        self._start = time.perf_counter()

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def seconds(self):
        return self._before + (time.perf_counter() - self._start)

    def get_state(self):
        return {"seconds": self.seconds()}, []

    def set_state(self, state, arrays=()):
        # Restored at the start of fit: the earlier sessions' time, up to their last backup.
        self._before = float(state["seconds"])
        self._start = time.perf_counter()


def _derived(loss):
    return perplexity_and_bits(loss)


def run_experiment(
    config,
    corpus,
    *,
    epochs=10,
    batch_size=32,
    seq_len=64,
    seed=0,
    model_builder=None,
    model_kwargs=None,
    steps_per_epoch=None,
    max_eval_batches=None,
    eval_batch_size=None,
    backup_dir=None,
    callbacks=None,
    verbose=0,
    progress=None,
):
    """Trains one configuration and measures it: the unit of the ablation.

    Builds the model with ``model_builder(vocab_size, **kwargs)`` (default
    :func:`regkeras.models.build_language_model`; kwargs are :data:`DEFAULT_MODEL_KWARGS`,
    then ``model_kwargs``, then the configuration's ``model``), compiles it with Adam (or
    AdamW when ``config.weight_decay > 0``, via :func:`regkeras.optimizers.make_adamw`) and
    the from-logits cross-entropy, trains it on windows of ``seq_len`` tokens
    (``regkeras.data.window_dataset``) for at most ``epochs`` epochs, and evaluates the
    final model on the three splits.

    Args:
        config: A name from :data:`CONFIGS`, an :class:`ExperimentConfig`, or a dict of its
            fields.
        corpus: A :class:`regkeras.data.Corpus` (``vocab``, ``train_ids``, ``val_ids``,
            ``test_ids``, optionally ``entropy_rate`` in nats) or a corpus name for
            ``regkeras.data.load_corpus``.
        epochs: Maximum number of epochs (the budget).
        batch_size: Windows per batch.
        seq_len: Tokens per window.
        seed: Seeds the weights, the dropout masks and the per-epoch shuffling.
        model_builder: Callable ``(vocab_size, **kwargs) -> keras.Model`` returning logits;
            receives ``seed=`` too when it accepts it.
        model_kwargs: Builder arguments shared by all configurations (override the defaults).
        steps_per_epoch: Optional cap on training batches per epoch (large corpora).
        max_eval_batches: Optional cap on batches per split when evaluating.
        eval_batch_size: Windows per batch when evaluating (validation every epoch and the
            final scores); default ``batch_size``. Larger batches evaluate the same windows
            faster and give the same losses.
        backup_dir: Optional folder that makes the run resumable (see the module docstring).
        callbacks: Extra Keras callbacks.
        verbose: Passed to ``fit`` (0 silent, 2 one line per epoch).
        progress: Optional callable taking one line of text: told when a run resumes from
            its backup (or was already finished there) and before each scoring pass over the
            three splits, which takes a while on a large corpus (``print`` will do).

    Returns:
        An :class:`ExperimentResult`.

    Example:

    >>> corpus = regkeras.data.load_corpus("recipes")
    >>> result = run_experiment("dropout", corpus, epochs=5, seq_len=32)
    >>> result.row["val_bpc"], result.row["verdict"]
    """
    config = _resolve_config(config)
    corpus = check_corpus(_resolve_corpus(corpus))
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    seq_len = check_positive_int("seq_len", seq_len)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch, allow_none=True)
    max_eval_batches = check_positive_int("max_eval_batches", max_eval_batches, allow_none=True)
    eval_batch_size = check_positive_int("eval_batch_size", batch_size if eval_batch_size is None
                                         else eval_batch_size)
    seed = check_seed("seed", seed, allow_none=False)
    if model_kwargs is not None and not isinstance(model_kwargs, dict):
        raise TypeError(message("model_kwargs", "a dict or None", model_kwargs))
    if model_builder is None:
        from regkeras import models

        model_builder = models.build_language_model
    if not callable(model_builder):
        raise TypeError(f"`model_builder` must be callable. Received: {model_builder!r}")
    if progress is not None and not callable(progress):
        raise TypeError(message("progress", "a callable taking one string, or None", progress))
    say = progress or (lambda line: None)

    run_dir = None
    if backup_dir is not None:
        run_dir = os.path.join(os.fspath(backup_dir), config.name)
        finished = _load_finished(backup_dir, config, corpus, model_builder, model_kwargs, seed)
        if finished is not None:
            say(f"{config.name}: already finished in {run_dir}; its result is loaded, "
                "nothing is trained again")
            return finished

    keras.utils.set_random_seed(int(seed))
    model = _build(model_builder, corpus, config, model_kwargs, seed)
    if config.weight_decay > 0:
        optimizer = make_adamw(config.learning_rate, config.weight_decay, model=model,
                               clipnorm=config.clipnorm)
    else:
        optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[_xent_metric()])

    first_epoch = ResumableBackupAndRestore.resume_epoch(run_dir) if run_dir else 0
    if first_epoch:
        say(f"{config.name}: resumed from the backup in {run_dir}: {first_epoch} of {epochs} "
            f"epochs were done, training continues at epoch {first_epoch + 1}")
    train_ds, steps = training_windows(corpus.train_ids, seq_len, batch_size, int(seed),
                                     first_epoch, epochs, steps_per_epoch)
    val_ds = _eval_dataset(corpus.val_ids, seq_len, eval_batch_size, max_eval_batches)
    monitor = TrainingMonitor()
    # Every configuration tracks its best epoch's weights (to be scored there too); only with
    # early stopping does the tracker also stop training (otherwise its patience outlasts
    # the budget). `last` grabs the last epoch's weights before the tracker restores the best.
    last = _LastWeights()
    # Monitor the plain cross-entropy, not `val_loss`: with a coupled L2 penalty in the
    # model (`model={"l2": ...}`) `val_loss` includes it, and would pick a penalty-biased epoch.
    stopper = BestWeightsEarlyStopping(
        monitor="val_xent", patience=config.patience if config.early_stopping else epochs + 1)
    clock = _TrainingClock()
    cbs = [keras.callbacks.TerminateOnNaN(), clock, monitor, last, stopper]
    stateful_cbs = [monitor, stopper, clock]
    cbs.extend(callbacks or [])
    if run_dir:
        cbs.append(ResumableBackupAndRestore(run_dir, state_callbacks=stateful_cbs))

    model.fit(train_ds, validation_data=val_ds, epochs=epochs, steps_per_epoch=steps,
              callbacks=cbs, verbose=verbose, shuffle=False)  # the data are shuffled above
    wall = clock.seconds()  # the whole training, interrupted and resumed parts together

    history = _history_from_monitor(monitor)
    row = _measure(model, corpus, config, history, stopper, last.weights, seq_len,
                   eval_batch_size, max_eval_batches, wall, say)
    result = ExperimentResult(row=row, history=history, model=model, config=config)
    if backup_dir is not None:
        _save_finished(backup_dir, result)
    return result


def _build(model_builder, corpus, config, model_kwargs, seed):
    kwargs = {**DEFAULT_MODEL_KWARGS, **(model_kwargs or {}), **config.model}
    if _accepts(model_builder, "seed") and "seed" not in kwargs:
        kwargs["seed"] = int(seed)
    size = vocabulary_size(corpus.vocab)
    model = model_builder(size, **kwargs)
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model_builder` returned {type(model).__name__}, not a keras.Model.")
    check_model_vocabulary("model_builder", model, size)
    return model


class _LastWeights(keras.callbacks.Callback):
    """Keeps the weights the model has when training ends (placed before any restoring)."""

    weights = None

    def on_train_end(self, logs=None):
        self.weights = self.model.get_weights()


def _split_losses(model, corpus, seq_len, batch_size, max_eval_batches, say, which):
    tokens = sum(len(ids) for ids in (corpus.train_ids, corpus.val_ids, corpus.test_ids))
    extent = (f"{tokens:,} tokens" if max_eval_batches is None
              else f"at most {max_eval_batches} batches each")
    say(f"scoring the {which} epoch's weights on train, val and test ({extent}, dropout off)")
    losses = {}
    for split, ids in (("train", corpus.train_ids), ("val", corpus.val_ids),
                       ("test", corpus.test_ids)):
        ds = _eval_dataset(ids, seq_len, batch_size, max_eval_batches)
        losses[split] = float(model.evaluate(ds, verbose=0, return_dict=True)["xent"])
    return losses


def _measure(model, corpus, config, history, stopper, last_weights, seq_len, batch_size,
             max_eval_batches, wall, say):
    """Scores the model at its best epoch's and its last epoch's weights.

    On entry the model holds the best epoch's weights (the tracker restored them); it leaves
    holding the weights the configuration keeps: best with early stopping, last otherwise.
    """
    val_curve = history.get("val_xent") or history.get("val_loss", [])
    finite = [(v, i) for i, v in enumerate(val_curve) if math.isfinite(v)]
    best_index = min(finite)[1] if finite else None
    best_epoch = history["epoch"][best_index] + 1 if finite else None
    is_last = best_index is not None and best_index == len(val_curve) - 1
    scored = {"best": _split_losses(model, corpus, seq_len, batch_size, max_eval_batches, say,
                                    "best")}
    if last_weights is None or is_last:
        scored["last"] = scored["best"]  # the same weights: no need to evaluate twice
    else:
        best_weights = model.get_weights()
        model.set_weights(last_weights)
        scored["last"] = _split_losses(model, corpus, seq_len, batch_size, max_eval_batches,
                                       say, "last")
        if config.early_stopping:
            model.set_weights(best_weights)
    losses = scored["best" if config.early_stopping else "last"]
    stopped = stopper.stopped_epoch + 1 if config.early_stopping and stopper.stopped_early else None
    floor = getattr(corpus, "entropy_rate", None)
    val_ppl, val_bpc = _derived(losses["val"])
    test_ppl, test_bpc = _derived(losses["test"])
    verdict = None
    if history.get("loss"):
        verdict = diagnose(history, floor_loss=floor).verdict
    row = {
        "name": config.name,
        "params": int(model.count_params()),
        "epochs_run": len(history.get("epoch", [])),
        "best_epoch": best_epoch,
        "stopped_epoch": stopped,
        "train_loss": losses["train"],
        "val_loss": losses["val"],
        "test_loss": losses["test"],
        "gap": losses["val"] - losses["train"],
        "val_ppl": val_ppl,
        "test_ppl": test_ppl,
        "val_bpc": val_bpc,
        "test_bpc": test_bpc,
        "floor_bpc": None if floor is None else bits_per_char(float(floor)),
    }
    for point in SCORING_POINTS:
        for split in ("train", "val", "test"):
            row[f"{point}_{split}_loss"] = scored[point][split]
        row[f"{point}_gap"] = scored[point]["val"] - scored[point]["train"]
    row["verdict"] = verdict
    row["wall_s"] = wall
    return row


def _result_paths(backup_dir, name):
    base = os.path.join(os.fspath(backup_dir), name)
    return base + ".result.json", base + ".weights.h5"


def _save_finished(backup_dir, result):
    os.makedirs(os.fspath(backup_dir), exist_ok=True)
    json_path, weights_path = _result_paths(backup_dir, result.config.name)
    result.model.save_weights(weights_path)
    payload = {"row": result.row, "history": result.history,
               "config": dataclasses.asdict(result.config)}
    files.write_file(json_path, json.dumps(payload))  # Python's json round-trips NaN/inf


def _load_finished(backup_dir, config, corpus, model_builder, model_kwargs, seed):
    json_path, weights_path = _result_paths(backup_dir, config.name)
    if not os.path.exists(json_path):
        return None
    with open(json_path) as f:
        payload = json.load(f)
    if payload.get("config") != json.loads(json.dumps(dataclasses.asdict(config))):
        raise ValueError(
            f"{json_path} holds a finished run of a different configuration named "
            f"{config.name!r}; use another backup_dir or delete the file."
        )
    row = payload["row"]
    history = payload["history"]
    model = None
    if os.path.exists(weights_path):
        keras.utils.set_random_seed(int(seed))
        model = _build(model_builder, corpus, config, model_kwargs, seed)
        model.load_weights(weights_path)
    return ExperimentResult(row=row, history=history, model=model, config=config)


def run_experiments(
    configs=("baseline", "dropout", "layernorm", "weight_decay", "early_stopping", "all"),
    corpus="recipes",
    **kwargs,
):
    """Trains several configurations on the same data and budget and compares them.

    Every configuration gets the same corpus, ``epochs``, ``batch_size``, ``seq_len``,
    ``seed`` and shared ``model_kwargs`` (all passed on to :func:`run_experiment`).

    Args:
        configs: Names from :data:`CONFIGS`, :class:`ExperimentConfig` objects or dicts
            (a ``{name: ExperimentConfig}`` dict works too). Names must be unique.
        corpus: A :class:`regkeras.data.Corpus` or a corpus name (loaded once).
        **kwargs: Any keyword argument of :func:`run_experiment` (``epochs``, ``batch_size``,
            ``seq_len``, ``seed``, ``model_builder``, ``model_kwargs``, ``steps_per_epoch``,
            ``max_eval_batches``, ``eval_batch_size``, ``backup_dir``, ``verbose``, ``callbacks``).

    Returns:
        A :class:`Comparison` (``.rows``, ``.histories``, ``.table()``, ``.plot()``).

    Example:

    >>> cmp = run_experiments(["baseline", "all"], "recipes", epochs=20, seq_len=32)
    >>> print(cmp.table())
    >>> cmp.plot(path="ablation.png")
    """
    if isinstance(configs, (str, ExperimentConfig)):
        configs = [configs]
    if isinstance(configs, dict):
        configs = list(configs.values())
    requirement = ("one or more configurations (names, ExperimentConfigs or dicts) with "
                   "unique names")
    try:
        configs = list(configs)
    except TypeError:
        raise TypeError(message("configs", requirement, configs)) from None
    configs = [_resolve_config(c, f"configs[{i}]") for i, c in enumerate(configs)]
    names = [c.name for c in configs]
    if not configs or len(set(names)) != len(names):
        raise ValueError(message("configs", requirement, names))
    corpus = _resolve_corpus(corpus)
    results = {}
    for config in configs:
        results[config.name] = run_experiment(config, corpus, **kwargs)
    return Comparison(
        rows=[results[n].row for n in names],
        histories={n: results[n].history for n in names},
        models={n: results[n].model for n in names},
        results=results,
    )


@dataclasses.dataclass(frozen=True)
class SeedStats:
    """Mean and sample standard deviation of one quantity over seeds.

    Attributes:
        mean: The mean over seeds.
        sd: The sample standard deviation (``ddof=1``; ``0`` for a single seed).
        values: The per-seed values, in seed order.
    """

    mean: float
    sd: float
    values: tuple

    @property
    def n(self):
        """Number of seeds."""
        return len(self.values)

    def format(self, floatfmt=".3f"):
        """``"1.234 ± 0.012"``."""
        return f"{format(self.mean, floatfmt)} ± {format(self.sd, floatfmt)}"

    def __str__(self):
        return self.format()


def seed_stats(values):
    """Mean ± sample standard deviation of per-seed values.

    Args:
        values: Finite numbers, one per seed (at least one).

    Returns:
        A :class:`SeedStats`.

    Example:

    >>> print(seed_stats([1.0, 1.2, 1.1]))
    1.100 ± 0.100
    """
    return _seed_stats(values, "values")


def _seed_stats(values, name):
    if isinstance(values, SeedStats):
        return values
    requirement = "an iterable of finite numbers, one per seed (at least one)"
    try:
        given = tuple(values)
    except TypeError:
        raise TypeError(message(name, requirement, values)) from None
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in given):
        raise TypeError(message(name, requirement, given))
    values = tuple(float(v) for v in given)
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(message(name, requirement, given))
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return SeedStats(mean, 0.0, values)
    var = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return SeedStats(mean, math.sqrt(var), values)


def clearly_lower(a, b):
    """Whether ``a`` is lower than ``b`` by more than the seed spread of both.

    The course's rule for a claim about an effect measured over seeds: the difference of the
    means must exceed the sum of the two standard deviations. With three seeds this is a
    rough bar, not a significance test, but a difference that passes it is not seed noise.

    Args:
        a, b: Per-seed values (or :class:`SeedStats`).

    Returns:
        ``True`` when ``mean(b) - mean(a) > sd(a) + sd(b)``.

    Example:

    >>> clearly_lower([1.0, 1.1, 1.05], [1.4, 1.5, 1.45])
    True
    >>> clearly_lower([1.0, 1.3], [1.2, 1.25])
    False
    """
    a, b = _seed_stats(a, "a"), _seed_stats(b, "b")
    return b.mean - a.mean > a.sd + b.sd


def heldout_loss(model, ids, *, seq_len=64, batch_size=64):
    """Mean held-out cross-entropy and its standard error, over non-overlapping windows.

    The standard error is the spread of the per-window mean losses divided by the square
    root of the number of windows: it says how much the loss would move on another held-out
    text of the same size, so a difference between two models smaller than about twice it
    is not evidence of anything. (Windows, not characters, are the independent units: the
    losses of neighbouring characters are correlated.)

    Args:
        model: A model mapping ``(batch, seq_len)`` ids to logits.
        ids: 1-D token ids of the held-out split.
        seq_len: Tokens per window (the model's context).
        batch_size: Windows per batch.

    Returns:
        ``(mean_loss, standard_error, n_windows)`` in nats per token.

    Example:

    >>> loss, se, n = heldout_loss(model, corpus.val_ids, seq_len=64)
    """
    return _mean_and_se(_window_losses(model, ids, seq_len, batch_size))


def _window_losses(model, ids, seq_len, batch_size, name="model"):
    import numpy as np

    if not isinstance(model, keras.Model):
        raise TypeError(message(name, "a keras.Model", model))
    ids = check_token_ids("ids", ids, token_id_limit(model))
    per_window = []
    for x, y in _eval_dataset(ids, seq_len, batch_size, None):
        logits = model(x, training=False)
        xent = keras.ops.sparse_categorical_crossentropy(y, logits, from_logits=True)
        per_window.append(keras.ops.convert_to_numpy(keras.ops.mean(xent, axis=-1)))
    return np.concatenate(per_window).astype("float64")


def _mean_and_se(values):
    n = values.size
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return float(values.mean()), se, int(n)


def heldout_difference(model_a, model_b, ids, *, seq_len=64, batch_size=64):
    """Held-out loss of ``model_a`` minus that of ``model_b``, with its standard error.

    Both models read the same windows, so the difference is measured far more precisely
    than either loss alone: what makes one window hard makes it hard for both, and cancels.
    The standard error is that of the mean per-window difference (a paired comparison).

    Args:
        model_a, model_b: Models mapping ``(batch, seq_len)`` ids to logits.
        ids: 1-D token ids of the held-out split.
        seq_len: Tokens per window.
        batch_size: Windows per batch.

    Returns:
        ``(mean_difference, standard_error, n_windows)`` in nats per token; negative when
        ``model_a`` is better.

    Example:

    >>> diff, se, n = heldout_difference(regularized, baseline, corpus.val_ids, seq_len=32)
    """
    width_a, width_b = (output_width(m) if isinstance(m, keras.Model) else None
                        for m in (model_a, model_b))
    if width_a is not None and width_b is not None and width_a != width_b:
        raise ValueError(message("model_b", f"a model of model_a's vocabulary ({width_a} "
                                 "tokens): the two losses are over different sets of tokens",
                                 f"a model predicting {width_b} tokens"))
    diffs = (_window_losses(model_a, ids, seq_len, batch_size, "model_a")
             - _window_losses(model_b, ids, seq_len, batch_size, "model_b"))
    return _mean_and_se(diffs)


@dataclasses.dataclass
class SeedComparison:
    """What :func:`run_seeds` returns: the same ablation repeated over several seeds.

    Attributes:
        seeds: The seeds, in order.
        comparisons: ``{seed: Comparison}``.
    """

    seeds: tuple
    comparisons: dict

    @property
    def names(self):
        """The configuration names, in order."""
        return [row["name"] for row in self.comparisons[self.seeds[0]].rows]

    @property
    def rows(self):
        """Every per-seed row, with a ``seed`` entry added."""
        return [{**row, "seed": seed} for seed in self.seeds
                for row in self.comparisons[seed].rows]

    def values(self, name, column):
        """The per-seed values of one column for one configuration (seed order)."""
        if name not in self.names:
            raise KeyError(f"No configuration named {name!r}; have {self.names}")
        return [self.comparisons[seed].row(name)[column] for seed in self.seeds]

    def stats(self, name, column):
        """:class:`SeedStats` of one column for one configuration."""
        return seed_stats(self.values(name, column))

    def summary(self, columns=("last_val_loss", "best_val_loss", "best_epoch")):
        """One row per configuration: ``{name, column: SeedStats, ...}``."""
        return [{"name": name, **{c: self.stats(name, c) for c in columns}}
                for name in self.names]

    def table(self, columns=("last_val_loss", "best_val_loss", "best_epoch"), fmt="text",
              floatfmt=".3f"):
        """The summary as a table of ``mean ± sd`` cells (:func:`format_table`)."""
        rows = [{k: (v.format(floatfmt) if isinstance(v, SeedStats) else v)
                 for k, v in row.items()} for row in self.summary(columns)]
        return format_table(rows, columns=["name", *columns], fmt=fmt)

    def plot(self, metric="loss", path=None, title=None, *, names=None, train=True, ax=None):
        """Mean train/validation curves over seeds, one colour per configuration.

        The validation band is ± one standard deviation over the seeds still running at
        that epoch (early-stopped seeds end sooner); a star marks the lowest mean
        validation loss, a cross each seed's early stop.

        Args:
            metric: ``"loss"`` (nats), ``"perplexity"`` or ``"bpc"``.
            path: Optional file to save the figure to.
            title: Axes title.
            names: Configurations to draw (default: all).
            train: Draw the training curves too (solid; measured with dropout on, as Keras
                logs them).
            ax: Optional Matplotlib axes to draw into (otherwise a new open pyplot figure).

        Returns:
            The ``matplotlib.figure.Figure``.
        """
        import numpy as np

        from regkeras.plotting import _converted, _new_figure

        if metric not in ("loss", "perplexity", "bpc"):
            raise ValueError(
                f"`metric` must be 'loss', 'perplexity' or 'bpc'. Received: metric={metric!r}")
        names = self.names if names is None else list(names)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"Unknown configurations {unknown}; have {self.names}")
        fig, ax = _new_figure() if ax is None else (ax.figure, ax)
        colors = _prop_colors()
        for name in names:
            color = colors[self.names.index(name) % len(colors)]
            curves = {}
            for key in ("loss", "val_loss"):
                runs = [self.comparisons[s].histories[name][key] for s in self.seeds]
                grid = np.full((len(runs), max(len(r) for r in runs)), np.nan)
                for j, run in enumerate(runs):
                    grid[j, : len(run)] = run
                grid = _converted(grid, metric)
                curves[key] = grid
            with np.errstate(all="ignore"):
                train_mean = np.nanmean(curves["loss"], axis=0)
                val_mean = np.nanmean(curves["val_loss"], axis=0)
                val_sd = np.nanstd(curves["val_loss"], axis=0)
            x = np.arange(1, len(val_mean) + 1)
            if train:
                ax.plot(np.arange(1, len(train_mean) + 1), train_mean, "-", color=color,
                        label=f"{name} train")
            ax.plot(x, val_mean, "--", color=color, label=f"{name} validation")
            ax.fill_between(x, val_mean - val_sd, val_mean + val_sd, color=color, alpha=0.15)
            b = int(np.nanargmin(val_mean))
            ax.plot(x[b], val_mean[b], "*", color=color, markersize=13, markeredgecolor="black")
            for j, seed in enumerate(self.seeds):
                stop = self.comparisons[seed].row(name).get("stopped_epoch")
                if stop is not None and stop - 1 < len(val_mean):
                    ax.plot(stop, curves["val_loss"][j, stop - 1], "X", color=color,
                            markersize=8, markeredgecolor="black")
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "loss (nats per token)", "perplexity": "perplexity",
                       "bpc": "bits per token"}[metric])
        ax.set_title(title or f"mean over seeds {list(self.seeds)} (band: ± 1 sd; "
                              "★ best mean validation, ✕ early stops)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig


def _prop_colors():
    import matplotlib

    return matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]


def run_seeds(configs, corpus="recipes", *, seeds=(0, 1, 2), backup_dir=None, **kwargs):
    """Runs the same ablation (:func:`run_experiments`) once per seed.

    Each seed changes the initial weights, the dropout masks and the batch order; the data
    and every other setting stay the same.

    Args:
        configs: As for :func:`run_experiments`.
        corpus: A corpus or corpus name (loaded once).
        seeds: The seeds (distinct integers >= 0; three or more for a claim).
        backup_dir: Optional folder; each seed's run is resumable in ``backup_dir/seed_N``.
        **kwargs: Any other keyword argument of :func:`run_experiment` except ``seed``.

    Returns:
        A :class:`SeedComparison`.

    Example:

    >>> runs = run_seeds(["baseline", "dropout"], "recipes", seeds=(0, 1, 2), epochs=10)
    >>> print(runs.table(["best_val_loss"]))
    """
    if "seed" in kwargs:
        raise TypeError("run_seeds() takes `seeds=`, not `seed=`.")
    try:
        seeds = tuple(seeds)
    except TypeError as err:
        raise TypeError(f"`seeds` must be a sequence of integers. Received: {seeds!r}") from err
    requirement = f"distinct integers in [0, {MAX_SEED}], at least one"
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds):
        raise TypeError(message("seeds", requirement, seeds))
    if not seeds or len(set(seeds)) != len(seeds) or not all(0 <= s <= MAX_SEED for s in seeds):
        raise ValueError(message("seeds", requirement, seeds))
    corpus = _resolve_corpus(corpus)
    comparisons = {}
    for seed in seeds:
        seed_dir = None if backup_dir is None else os.path.join(os.fspath(backup_dir),
                                                                f"seed_{seed}")
        comparisons[seed] = run_experiments(configs, corpus, seed=int(seed),
                                            backup_dir=seed_dir, **kwargs)
    return SeedComparison(seeds=seeds, comparisons=comparisons)


def _column_formats(formats):
    """`formats` checked: a dict of column names to format specs that take a float."""
    if formats is None:
        return {}
    if not isinstance(formats, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in formats.items()):
        raise TypeError(message("formats", "a dict of column names to format specs or None",
                                formats))
    for column, spec in formats.items():
        try:
            format(1.0, spec)
        except ValueError:
            raise ValueError(message(f"formats[{column!r}]", "a format spec for numbers "
                                     "such as '.4f' or ',.0f'", spec)) from None
    return formats


def _format_cell(value, floatfmt, spec=None):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if spec is not None and isinstance(value, numbers.Real) and math.isfinite(value):
        return format(value, spec)
    if isinstance(value, numbers.Integral):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return format(value, floatfmt)
    return str(value)


def format_table(rows, *, columns=None, fmt="text", floatfmt=".3f", formats=None):
    """Renders result rows as a fixed-width text table or a Markdown table.

    Args:
        rows: List of dicts (e.g. :attr:`Comparison.rows`).
        columns: Column names in order; default: the :data:`TABLE_COLUMNS` present in any row,
            then any other keys.
        fmt: ``"text"`` (aligned columns, numbers right-aligned) or ``"markdown"``.
        floatfmt: Format spec for floats. Default ``".3f"``.
        formats: Optional ``{column: format spec}`` for the numbers (integers too) of some
            columns, e.g. ``{"tokens/s": ",.0f", "gap": "+.4f"}``; the others use
            ``floatfmt``. Strings are shown as they are, so a cell can hold a value already
            formatted (``"0.720 ± 0.012"``).

    Returns:
        The table as a string (missing values shown as ``-``).

    Example:

    >>> print(format_table([{"name": "baseline", "val_loss": 1.2345, "best_epoch": 3}]))
    name      best_epoch  val_loss
    --------  ----------  --------
    baseline           3     1.234
    """
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise TypeError("`rows` must be a list of dicts.")
    check_choice("fmt", fmt, ("text", "markdown"), lower=False)
    check_string("floatfmt", floatfmt, "a format spec for floats such as '.3f'")
    try:
        format(1.0, floatfmt)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`floatfmt` is not a valid float format: {floatfmt!r}") from err
    formats = _column_formats(formats)
    if columns is None:
        present = [k for r in rows for k in r]
        columns = [c for c in TABLE_COLUMNS if c in present]
        columns += [k for k in dict.fromkeys(present) if k not in columns]
    else:
        columns = list(columns)
    cells = [[_format_cell(r.get(c), floatfmt, formats.get(c)) for c in columns] for r in rows]
    numeric = [all(isinstance(r.get(c), numbers.Number) or r.get(c) is None for r in rows)
               and any(r.get(c) is not None for r in rows) for c in columns]
    if fmt == "markdown":
        head = "| " + " | ".join(columns) + " |"
        rule = "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"
        body = ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join([head, rule, *body])
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values):
        out = []
        for v, w, n in zip(values, widths, numeric):
            out.append(v.rjust(w) if n else v.ljust(w))
        return "  ".join(out).rstrip()

    lines = [line(columns), "  ".join("-" * w for w in widths)]
    lines += [line(row) for row in cells]
    return "\n".join(lines)
