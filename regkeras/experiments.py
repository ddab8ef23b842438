"""The ablation: named regularization configurations trained on the same data and budget.

:data:`CONFIGS` holds the course's configurations (``baseline``, ``dropout``, ``layernorm``,
``weight_decay``, ``early_stopping``, ``all``). :func:`run_experiment` trains one of them
(or any custom :class:`ExperimentConfig`) on a corpus and returns a tidy result row plus its
learning curves; :func:`run_experiments` trains several with the same data, epochs, batch
size, sequence length and seed and returns a :class:`Comparison` with the table
(:func:`format_table`) and one figure of all curves. ``python -m regkeras compare`` and the
chapters are built on these.

Every number in the table is measured the same way for every configuration: after training,
the final model (the best epoch's weights for configurations with early stopping, the last
epoch's otherwise) is evaluated with dropout off on the training, validation and test
windows, using the plain cross-entropy in nats (no L2 or activation penalty added).

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

from regkeras.callbacks import (
    BestWeightsEarlyStopping,
    ResumableBackupAndRestore,
    TrainingMonitor,
    plot_history,
)
from regkeras.diagnosis import diagnose
from regkeras.optimizers import make_adamw

__all__ = [
    "ExperimentConfig",
    "CONFIGS",
    "DEFAULT_MODEL_KWARGS",
    "TABLE_COLUMNS",
    "ExperimentResult",
    "Comparison",
    "run_experiment",
    "run_experiments",
    "format_table",
]

_LN2 = math.log(2.0)


def _is_number(value):
    """A finite real number (NaN and inf are not: they would only fail later, in training)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


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
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ValueError(
                f"`name` must be a non-empty string without '/'. Received: {self.name!r}"
            )
        if not isinstance(self.model, dict):
            raise TypeError(
                f"`model` must be a dict of builder arguments. Received: {self.model!r}"
            )
        if not all(isinstance(key, str) and key.isidentifier() for key in self.model):
            raise TypeError(
                "`model` must map builder argument names (str) to values. "
                f"Received keys: {list(self.model)!r}"
            )
        if not _is_number(self.learning_rate) or self.learning_rate <= 0:
            raise ValueError(
                f"`learning_rate` must be a finite number > 0. Received: {self.learning_rate!r}"
            )
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(
                f"`weight_decay` must be a finite number >= 0. Received: {self.weight_decay!r}"
            )
        if self.clipnorm is not None and (not _is_number(self.clipnorm) or self.clipnorm <= 0):
            raise ValueError(
                f"`clipnorm` must be a finite number > 0 or None. Received: {self.clipnorm!r}"
            )
        if not isinstance(self.early_stopping, bool):
            raise TypeError(
                f"`early_stopping` must be True or False. Received: {self.early_stopping!r}"
            )
        if isinstance(self.patience, bool) or not isinstance(self.patience, numbers.Integral) or (
            self.patience < 0
        ):
            raise ValueError(f"`patience` must be an int >= 0. Received: {self.patience!r}")
        self.patience = int(self.patience)

    def replace(self, **changes):
        """A copy with some fields changed (``model`` entries are merged, not replaced).

        Example:

        >>> CONFIGS["dropout"].replace(model={"dropout": 0.5}).model["dropout"]
        0.5
        """
        if "model" in changes:
            changes["model"] = {**self.model, **changes["model"]}
        return dataclasses.replace(self, **changes)


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
    "test_loss", "gap", "val_ppl", "test_ppl", "val_bpc", "test_bpc", "floor_bpc", "verdict",
    "wall_s",
)


@dataclasses.dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns.

    Attributes:
        row: The tidy result row (keys :data:`TABLE_COLUMNS`), losses in nats per token,
            ``*_bpc`` in bits per token, ``*_ppl`` perplexities, epochs 1-based.
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
        return plot_history(self.histories, metric=metric, stopped=stopped, path=path, **kwargs)

    def row(self, name):
        """The row of one configuration."""
        for r in self.rows:
            if r["name"] == name:
                return r
        raise KeyError(f"No configuration named {name!r}; have {[r['name'] for r in self.rows]}")

    def __str__(self):
        return self.table()


def _resolve_config(config):
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(
                f"Unknown configuration {config!r}; choose one of {sorted(CONFIGS)} or pass an "
                "ExperimentConfig."
            )
        return CONFIGS[config]
    if isinstance(config, dict):
        return ExperimentConfig(**config)
    raise TypeError(
        "A configuration must be a name from CONFIGS, an ExperimentConfig or a dict of its "
        f"fields. Received: {type(config).__name__}"
    )


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


def _vocab_size(vocab):
    size = getattr(vocab, "size", None)
    if size is None:
        size = len(vocab)
    return int(size)


def _accepts(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _window_dataset():
    from regkeras import data

    fn = getattr(data, "window_dataset", None)
    if fn is None:
        raise ImportError("regkeras.data.window_dataset is not available")
    return fn


def _count_batches(ds):
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return sum(1 for _ in ds)


def _train_dataset(ids, seq_len, batch_size, seed, first_epoch, epochs, steps_per_epoch):
    """Epochs [first_epoch, epochs) of training windows, each shuffled with its own seed."""
    window = _window_dataset()

    def epoch_ds(epoch):
        ds = window(ids, seq_len, batch_size, shuffle=True, seed=seed * 10007 + epoch)
        return ds.take(steps_per_epoch) if steps_per_epoch else ds

    steps = _count_batches(epoch_ds(0))
    if steps == 0:
        raise ValueError(
            f"The training split is too short for one batch of `batch_size`={batch_size} "
            f"windows of {seq_len} tokens; lower batch_size or seq_len."
        )
    ds = epoch_ds(first_epoch)
    for epoch in range(first_epoch + 1, epochs):
        ds = ds.concatenate(epoch_ds(epoch))
    return ds, steps


def _eval_dataset(ids, seq_len, batch_size, max_batches):
    ds = _window_dataset()(ids, seq_len, batch_size, shuffle=False, drop_remainder=False)
    if max_batches:
        ds = ds.take(max_batches)
    if _count_batches(ds) == 0:
        raise ValueError(f"A split is shorter than one window of {seq_len + 1} tokens.")
    return ds


def _xent_metric():
    return keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="xent")


def _history_from_monitor(monitor):
    history = {k: list(v) for k, v in monitor.history.items()}
    history["epoch"] = list(monitor.epochs)
    return history


def _derived(loss):
    if loss is None or not math.isfinite(loss):
        return float("nan"), float("nan")
    try:
        ppl = math.exp(loss)
    except OverflowError:
        ppl = float("inf")
    return ppl, loss / _LN2


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
    backup_dir=None,
    callbacks=None,
    verbose=0,
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
        backup_dir: Optional folder that makes the run resumable (see the module docstring).
        callbacks: Extra Keras callbacks.
        verbose: Passed to ``fit`` (0 silent, 2 one line per epoch).

    Returns:
        An :class:`ExperimentResult`.

    Example:

    >>> corpus = regkeras.data.load_corpus("recipes")
    >>> result = run_experiment("dropout", corpus, epochs=5, seq_len=32)
    >>> result.row["val_bpc"], result.row["verdict"]
    """
    config = _resolve_config(config)
    corpus = _resolve_corpus(corpus)
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    seq_len = _positive_int(seq_len, "seq_len")
    steps_per_epoch = _positive_int(steps_per_epoch, "steps_per_epoch", allow_none=True)
    max_eval_batches = _positive_int(max_eval_batches, "max_eval_batches", allow_none=True)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0. Received: seed={seed!r}")
    if model_kwargs is not None and not isinstance(model_kwargs, dict):
        raise TypeError(f"`model_kwargs` must be a dict. Received: {model_kwargs!r}")
    if model_builder is None:
        from regkeras import models

        model_builder = models.build_language_model
    if not callable(model_builder):
        raise TypeError(f"`model_builder` must be callable. Received: {model_builder!r}")

    run_dir = None
    if backup_dir is not None:
        run_dir = os.path.join(os.fspath(backup_dir), config.name)
        finished = _load_finished(backup_dir, config, corpus, model_builder, model_kwargs, seed)
        if finished is not None:
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
    train_ds, steps = _train_dataset(corpus.train_ids, seq_len, batch_size, int(seed),
                                     first_epoch, epochs, steps_per_epoch)
    val_ds = _eval_dataset(corpus.val_ids, seq_len, batch_size, max_eval_batches)
    monitor = TrainingMonitor()
    cbs = [keras.callbacks.TerminateOnNaN(), monitor]
    stateful_cbs = [monitor]
    stopper = None
    if config.early_stopping:
        stopper = BestWeightsEarlyStopping(patience=config.patience)
        cbs.append(stopper)
        stateful_cbs.append(stopper)
    cbs.extend(callbacks or [])
    if run_dir:
        cbs.append(ResumableBackupAndRestore(run_dir, state_callbacks=stateful_cbs))

    start = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, steps_per_epoch=steps,
              callbacks=cbs, verbose=verbose, shuffle=False)  # the data are shuffled above
    wall = time.perf_counter() - start

    history = _history_from_monitor(monitor)
    row = _measure(model, corpus, config, history, stopper, seq_len, batch_size,
                   max_eval_batches, wall)
    result = ExperimentResult(row=row, history=history, model=model, config=config)
    if backup_dir is not None:
        _save_finished(backup_dir, result)
    return result


def _build(model_builder, corpus, config, model_kwargs, seed):
    kwargs = {**DEFAULT_MODEL_KWARGS, **(model_kwargs or {}), **config.model}
    if _accepts(model_builder, "seed") and "seed" not in kwargs:
        kwargs["seed"] = int(seed)
    model = model_builder(_vocab_size(corpus.vocab), **kwargs)
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model_builder` returned {type(model).__name__}, not a keras.Model.")
    return model


def _measure(model, corpus, config, history, stopper, seq_len, batch_size, max_eval_batches,
             wall):
    losses = {}
    for split, ids in (("train", corpus.train_ids), ("val", corpus.val_ids),
                       ("test", corpus.test_ids)):
        ds = _eval_dataset(ids, seq_len, batch_size, max_eval_batches)
        losses[split] = float(model.evaluate(ds, verbose=0, return_dict=True)["xent"])
    val_curve = history.get("val_loss", [])
    finite = [(v, i) for i, v in enumerate(val_curve) if math.isfinite(v)]
    best_epoch = history["epoch"][min(finite)[1]] + 1 if finite else None
    stopped = stopper.stopped_epoch + 1 if stopper is not None and stopper.stopped_early else None
    floor = getattr(corpus, "entropy_rate", None)
    val_ppl, val_bpc = _derived(losses["val"])
    test_ppl, test_bpc = _derived(losses["test"])
    verdict = None
    if history.get("loss"):
        verdict = diagnose(history, floor_loss=floor).verdict
    return {
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
        "floor_bpc": None if floor is None else float(floor) / _LN2,
        "verdict": verdict,
        "wall_s": wall,
    }


def _result_paths(backup_dir, name):
    base = os.path.join(os.fspath(backup_dir), name)
    return base + ".result.json", base + ".weights.h5"


def _save_finished(backup_dir, result):
    os.makedirs(os.fspath(backup_dir), exist_ok=True)
    json_path, weights_path = _result_paths(backup_dir, result.config.name)
    result.model.save_weights(weights_path)
    payload = {"row": result.row, "history": result.history,
               "config": dataclasses.asdict(result.config)}
    tmp = json_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f)  # Python's json round-trips NaN/inf
    os.replace(tmp, json_path)


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
            ``max_eval_batches``, ``backup_dir``, ``verbose``, ``callbacks``).

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
    configs = [_resolve_config(c) for c in configs]
    if not configs:
        raise ValueError("`configs` is empty: give at least one configuration.")
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"Configuration names must be unique. Received: {names}")
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


def _format_cell(value, floatfmt):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return format(value, floatfmt)
    return str(value)


def format_table(rows, *, columns=None, fmt="text", floatfmt=".3f"):
    """Renders result rows as a fixed-width text table or a Markdown table.

    Args:
        rows: List of dicts (e.g. :attr:`Comparison.rows`).
        columns: Column names in order; default: the :data:`TABLE_COLUMNS` present in any row,
            then any other keys.
        fmt: ``"text"`` (aligned columns, numbers right-aligned) or ``"markdown"``.
        floatfmt: Format spec for floats. Default ``".3f"``.

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
    if fmt not in ("text", "markdown"):
        raise ValueError(f"`fmt` must be 'text' or 'markdown'. Received: fmt={fmt!r}")
    try:
        format(1.0, floatfmt)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`floatfmt` is not a valid float format: {floatfmt!r}") from err
    if columns is None:
        present = [k for r in rows for k in r]
        columns = [c for c in TABLE_COLUMNS if c in present]
        columns += [k for k in dict.fromkeys(present) if k not in columns]
    else:
        columns = list(columns)
    cells = [[_format_cell(r.get(c), floatfmt) for c in columns] for r in rows]
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
