"""Hyperparameter search for the regularizers with KerasTuner.

The course's tuning guide (underfitting: less regularization; overfitting: more dropout, more
weight decay; unstable: layer norm) tells you which way to turn a knob, not how far. This
module lets KerasTuner (O'Malley et al., https://keras.io/keras_tuner/) turn them:

* :class:`RegularizationHyperModel` is a ``keras_tuner.HyperModel`` that builds
  :func:`regkeras.models.build_language_model` and its optimizer from a search space over the
  dropout type (``"zaremba"``: a fresh mask every step, ``"variational"``: one mask per
  sequence) and rate, the decoupled weight decay (a log grid that includes 0), layer
  normalization on/off, and the early-stopping patience. Patience is a *fit-time*
  hyperparameter, so the hypermodel overrides ``HyperModel.fit`` to read it and build the
  callbacks (:class:`regkeras.callbacks.BestWeightsEarlyStopping`).
* :func:`tune` runs a ``"random"``, ``"bayesian"`` or ``"hyperband"`` search on a corpus and
  returns a :class:`TuningResult` (the tuner, the best hyperparameters, one row per trial).

The objective is the validation loss (cross-entropy in nats per token, dropout off) of each
trial's best epoch. The search sees only the training and validation splits: the test split
is never read, so it stays an unbiased estimate for the one winner you evaluate at the end.
Every trial starts from the same seed (same initial weights for the same architecture, same
batches), so trials differ by their hyperparameters, not by luck of the draw; the tuner's
own sampling is seeded too, so a search repeats.

The search state lives in ``directory/project_name``: calling :func:`tune` again with
``overwrite=False`` (the default) reloads it, skips finished trials and reruns a trial that
was interrupted; with all ``max_trials`` done it trains nothing.

Distributed search (KerasTuner's chief/worker mode): start the same command several times
with three environment variables set. ``KERASTUNER_TUNER_ID`` is ``"chief"`` for the one
process that runs the oracle (it trains nothing, it hands out hyperparameters and collects
scores) and a unique name (``"tuner0"``, ``"tuner1"``, ...) for every worker;
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` are the address and port where the
chief listens (gRPC), the same for all processes. Give all processes the same ``--out`` on a
shared file system, so the chief's summary sees every worker's trials. With the command line::

    export KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=chief  python -m regkeras tune --max-trials 20 --out /shared/tune &
    KERASTUNER_TUNER_ID=tuner0 python -m regkeras tune --max-trials 20 --out /shared/tune &
    KERASTUNER_TUNER_ID=tuner1 python -m regkeras tune --max-trials 20 --out /shared/tune &

(see docs/tuning.md; each worker usually gets its own GPU via ``CUDA_VISIBLE_DEVICES``).

``keras_tuner`` is imported only when a search is built, so ``import regkeras`` does not pay
for it; :class:`RegularizationHyperModel` is created on first access.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os

import keras

from regkeras.data import check_corpus, training_windows, vocabulary_size
from regkeras.experiments import format_table
from regkeras.callbacks import BestWeightsEarlyStopping
from regkeras.optimizers import make_adamw
from regkeras.validation import (
    check_choice,
    check_float,
    check_int,
    check_non_negative,
    check_positive,
    check_seed,
    message,
)

__all__ = ["TUNERS", "DROPOUT_TYPES", "TuningResult", "tune", "trials_table"]

#: Search algorithms :func:`tune` accepts, mapped to their KerasTuner class names.
TUNERS = {"random": "RandomSearch", "bayesian": "BayesianOptimization",
          "hyperband": "Hyperband"}

#: Dropout placements the search chooses between.
DROPOUT_TYPES = ("zaremba", "variational")

#: Columns of the trials table besides the hyperparameters.
_RESULT_COLUMNS = ("val_loss", "best_epoch", "epochs_run", "status")


def _check_space(dropout_types, dropout, weight_decay, layer_norm, patience):
    """Validates the search-space arguments; returns them normalized."""
    if isinstance(dropout_types, str):
        dropout_types = (dropout_types,)
    dropout_types = tuple(dropout_types)
    if not dropout_types or any(t not in DROPOUT_TYPES for t in dropout_types) or (
        len(set(dropout_types)) != len(dropout_types)
    ):
        raise ValueError(f"`dropout_types` must be distinct values from {DROPOUT_TYPES}. "
                         f"Received: dropout_types={dropout_types!r}")
    if not isinstance(dropout, (tuple, list)) or len(dropout) != 3:
        raise TypeError("`dropout` must be a (min, max, step) triple of rates. "
                        f"Received: dropout={dropout!r}")
    lo = check_float("dropout[0]", dropout[0], low=0.0, high=0.95, finite=True)
    hi = check_float("dropout[1]", dropout[1], low=lo, high=0.95, finite=True)
    step = check_float("dropout[2]", dropout[2], low=0.0, high=1.0, low_open=True, finite=True)
    if not isinstance(weight_decay, (tuple, list)) or not weight_decay:
        raise TypeError("`weight_decay` must be a non-empty list of coefficients >= 0. "
                        f"Received: weight_decay={weight_decay!r}")
    decays = tuple(sorted(check_non_negative("weight_decay[i]", w) for w in weight_decay))
    if len(set(decays)) != len(decays):
        raise ValueError(f"`weight_decay` values must be distinct. Received: {weight_decay!r}")
    if isinstance(layer_norm, bool):
        layer_norm = (layer_norm,)
    layer_norm = tuple(layer_norm)
    if not layer_norm or any(not isinstance(v, bool) for v in layer_norm) or (
        len(set(layer_norm)) != len(layer_norm)
    ):
        raise ValueError("`layer_norm` must be True, False or (False, True). "
                         f"Received: layer_norm={layer_norm!r}")
    if not isinstance(patience, (tuple, list)) or len(patience) != 2:
        raise TypeError(f"`patience` must be a (min, max) pair. Received: patience={patience!r}")
    p_lo = check_int("patience[0]", patience[0], minimum=0)
    p_hi = check_int("patience[1]", patience[1], minimum=p_lo)
    return dropout_types, (lo, hi, step), decays, layer_norm, (p_lo, p_hi)


@functools.lru_cache(maxsize=None)
def _hypermodel_class():
    import keras_tuner

    class RegularizationHyperModel(keras_tuner.HyperModel):
        """A KerasTuner hypermodel over the course's regularizers.

        KerasTuner's ``HyperModel`` (https://keras.io/keras_tuner/) for
        :func:`regkeras.models.build_language_model`. The search space:

        * ``dropout_type``: ``"zaremba"`` (a fresh mask every step on the non-recurrent
          connections, Zaremba et al. 2014) or ``"variational"`` (one mask per sequence,
          Gal & Ghahramani 2016);
        * ``dropout``: the rate, a grid ``min, min + step, ..., max``;
        * ``weight_decay``: AdamW's decoupled coefficient (Loshchilov & Hutter 2019) from a
          list that may include ``0`` (plain Adam). Keras multiplies it by the learning rate,
          so per step a weight shrinks by ``learning_rate * weight_decay``;
        * ``layer_norm``: Ba et al.'s layer-normalized LSTM cell on or off;
        * ``patience``: early-stopping patience in epochs, read in :meth:`fit`.

        Two names are the search space's own, not the builder's: ``dropout_type`` sets the
        builder's boolean ``variational`` (``"variational"`` is ``True``), and the boolean
        ``layer_norm`` means ``layer_norm="cell"`` (``True``) or ``None`` (``False``); the
        builder's ``layer_norm="output"`` is not searched.

        A search-space argument with a single value pins that hyperparameter. Every trial
        is built after ``keras.utils.set_random_seed(seed)``, and trains on the same
        per-epoch shuffled batches, so two trials with equal hyperparameters train the
        same model.

        Args:
            vocab_size: Positive integer, the number of token ids.
            model_kwargs: Fixed builder arguments (``units``, ``num_layers``,
                ``embedding_dim``, ...). Default ``{"embedding_dim": 32, "units": 128,
                "num_layers": 1}``.
            learning_rate: Adam(W) learning rate, > 0.
            clipnorm: Gradient clipping norm (``None`` for none).
            seed: Integer >= 0; seeds weights, dropout masks and batch order of every trial.
            dropout_types: Subset of :data:`DROPOUT_TYPES` to choose from.
            dropout: ``(min, max, step)`` of the dropout rate, rates in [0, 0.95].
            weight_decay: Coefficients >= 0 to choose from (a log grid with 0 by default).
            layer_norm: ``(False, True)`` to search, or a single boolean to pin it.
            patience: ``(min, max)`` early-stopping patience in epochs.

        Call arguments of ``fit(hp, model, *, train_ids, val_ids, epochs, seq_len,
        batch_size, steps_per_epoch=None, initial_epoch=0, callbacks=None, verbose=0)``:
            the token ids of the two splits and the batching; KerasTuner's
            ``tuner.search(...)`` forwards its keyword arguments here.

        Returns:
            ``build`` returns the compiled model (logits, from-logits cross-entropy);
            ``fit`` returns the ``keras.callbacks.History`` (the tuner reads ``val_loss``).

        Example:

        >>> hypermodel = regkeras.tuning.RegularizationHyperModel(corpus.vocab_size)
        >>> tuner = keras_tuner.RandomSearch(hypermodel, objective="val_loss", max_trials=5,
        ...                                  hyperparameters=hypermodel.space())
        >>> tuner.search(train_ids=corpus.train_ids, val_ids=corpus.val_ids, epochs=10,
        ...              seq_len=32, batch_size=16)
        """

        def __init__(self, vocab_size, *, model_kwargs=None, learning_rate=3e-3,
                     clipnorm=1.0, seed=0, dropout_types=DROPOUT_TYPES,
                     dropout=(0.0, 0.5, 0.1), weight_decay=(0.0, 1e-4, 1e-3, 1e-2, 1e-1),
                     layer_norm=(False, True), patience=(2, 6)):
            super().__init__(name="regularization", tunable=True)
            self.vocab_size = check_int("vocab_size", vocab_size, minimum=1)
            if model_kwargs is not None and not isinstance(model_kwargs, dict):
                raise TypeError(message("model_kwargs", "a dict or None", model_kwargs))
            taken = {"dropout", "variational", "layer_norm", "seed"} & set(model_kwargs or {})
            if taken:
                raise ValueError(f"`model_kwargs` must not set the searched arguments "
                                 f"{sorted(taken)}; use the search-space arguments instead.")
            self.model_kwargs = {"embedding_dim": 32, "units": 128, "num_layers": 1,
                                 **(model_kwargs or {})}
            self.learning_rate = check_positive("learning_rate", learning_rate)
            self.clipnorm = check_positive("clipnorm", clipnorm, allow_none=True)
            self.seed = check_seed("seed", seed, allow_none=False)
            (self.dropout_types, self.dropout, self.weight_decay, self.layer_norm,
             self.patience) = _check_space(dropout_types, dropout, weight_decay, layer_norm,
                                           patience)

        def declare(self, hp):
            """Registers the search space on ``hp``; returns ``{name: current value}``."""
            lo, hi, step = self.dropout
            values = {
                "dropout_type": hp.Choice("dropout_type", list(self.dropout_types)),
                "dropout": (hp.Float("dropout", lo, hi, step=step) if hi > lo
                            else hp.Fixed("dropout", lo)),
                "weight_decay": hp.Choice("weight_decay", list(self.weight_decay)),
                "layer_norm": (hp.Boolean("layer_norm") if len(self.layer_norm) == 2
                               else hp.Fixed("layer_norm", self.layer_norm[0])),
                "patience": (hp.Int("patience", *self.patience) if self.patience[1] >
                             self.patience[0] else hp.Fixed("patience", self.patience[0])),
            }
            return values

        def space(self):
            """A ``keras_tuner.HyperParameters`` with the whole space declared.

            Passed to the tuner as ``hyperparameters=``, so the oracle samples every
            hyperparameter from the first trial on (KerasTuner otherwise gives a
            hyperparameter first seen during a trial its default in that trial).
            """
            hp = keras_tuner.HyperParameters()
            self.declare(hp)
            return hp

        def build(self, hp):
            from regkeras.models import build_language_model

            values = self.declare(hp)
            keras.utils.set_random_seed(self.seed)
            model = build_language_model(
                self.vocab_size, **self.model_kwargs, dropout=float(values["dropout"]),
                variational=values["dropout_type"] == "variational",
                layer_norm="cell" if values["layer_norm"] else None, seed=self.seed)
            decay = float(values["weight_decay"])
            if decay > 0:
                optimizer = make_adamw(self.learning_rate, decay, model=model,
                                       clipnorm=self.clipnorm)
            else:
                optimizer = keras.optimizers.Adam(self.learning_rate, clipnorm=self.clipnorm)
            model.compile(optimizer=optimizer,
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            return model

        def fit(self, hp, model, *args, train_ids=None, val_ids=None, epochs=10, seq_len=64,
                batch_size=32, steps_per_epoch=None, initial_epoch=0, callbacks=None,
                verbose=0, **kwargs):
            if args or kwargs:
                raise TypeError(
                    "RegularizationHyperModel.fit takes the splits as keyword arguments "
                    "train_ids= and val_ids= (token ids); received extra arguments "
                    f"{len(args)} positional, {sorted(kwargs)}.")
            if train_ids is None or val_ids is None:
                raise ValueError("`train_ids` and `val_ids` are required.")
            patience = self.declare(hp)["patience"]
            train_ds, steps = training_windows(train_ids, seq_len, batch_size, self.seed,
                                             initial_epoch, epochs, steps_per_epoch)
            from regkeras.data import window_dataset

            val_ds = window_dataset(val_ids, seq_len, batch_size, shuffle=False,
                                    drop_remainder=False)
            callbacks = list(callbacks or []) + [
                keras.callbacks.TerminateOnNaN(),
                BestWeightsEarlyStopping(patience=int(patience)),
            ]
            return model.fit(train_ds, validation_data=val_ds, epochs=epochs,
                             initial_epoch=initial_epoch, steps_per_epoch=steps,
                             callbacks=callbacks, verbose=verbose, shuffle=False)

    RegularizationHyperModel.__module__ = __name__
    RegularizationHyperModel.__qualname__ = "RegularizationHyperModel"
    return RegularizationHyperModel


@functools.lru_cache(maxsize=None)
def _tuner_class(kind):
    import keras_tuner

    base = getattr(keras_tuner, TUNERS[kind])

    class _Tuner(base):
        """Keeps each trial's learning curves in ``<trial dir>/history.json``."""

        def run_trial(self, trial, *args, **kwargs):
            results = super().run_trial(trial, *args, **kwargs)
            last = results[-1] if isinstance(results, list) else results
            history = getattr(last, "history", None)
            if history is not None:
                path = os.path.join(self.get_trial_dir(trial.trial_id), "history.json")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                curves = {k: [float(v) for v in vs] for k, vs in history.items()}
                curves["epoch"] = [int(e) for e in last.epoch]
                with open(path, "w") as f:
                    json.dump(curves, f)
            return results

    _Tuner.__name__ = _Tuner.__qualname__ = f"Regkeras{TUNERS[kind]}"
    return _Tuner


def __getattr__(name):
    if name == "RegularizationHyperModel":
        return _hypermodel_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclasses.dataclass
class TuningResult:
    """What :func:`tune` returns.

    Attributes:
        tuner: The KerasTuner tuner (``get_best_models``, ``results_summary``, ...).
        best_hyperparameters: ``{name: value}`` of the trial with the lowest validation loss
            (empty, like ``rows``, in a worker of a distributed search: the chief reports).
        rows: One dict per trial, in trial order: ``trial``, the hyperparameters,
            ``val_loss`` (best epoch's validation loss, nats/token), ``best_epoch``
            (1-based), ``epochs_run``, ``status``.
        hypermodel: The :class:`RegularizationHyperModel` used.
    """

    tuner: object
    best_hyperparameters: dict
    rows: list
    hypermodel: object

    def table(self, fmt="text", floatfmt=".4g"):
        """The trials as a ``"text"`` or ``"markdown"`` table, best first."""
        return trials_table(self.rows, fmt=fmt, floatfmt=floatfmt)

    def history(self, trial):
        """The learning curves (``loss``, ``val_loss``, ``epoch``) of one trial (id or row)."""
        trial_id = trial["trial"] if isinstance(trial, dict) else str(trial)
        path = os.path.join(self.tuner.get_trial_dir(trial_id), "history.json")
        if not os.path.exists(path):
            raise KeyError(f"No learning curves for trial {trial_id!r} ({path} is missing).")
        with open(path) as f:
            return json.load(f)

    def best_config(self, name="tuned"):
        """The winner as a `regkeras.ExperimentConfig`: the configuration `run_experiment` (and
        `regkeras compare --config`) trains, with early stopping at the winner's patience.

        Example:

        >>> result.best_config().to_json()  # what `regkeras tune` writes to best_config.json
        """
        from regkeras.experiments import ExperimentConfig

        best = self.best_hyperparameters
        if not best:
            raise ValueError("No best configuration: this process is a worker of a "
                             "distributed search, and the chief reports the results.")
        model = {"dropout": float(best["dropout"]),
                 "variational": best["dropout_type"] == "variational",
                 "layer_norm": "cell" if best["layer_norm"] else None}
        return ExperimentConfig(
            name, model=model, learning_rate=self.hypermodel.learning_rate,
            weight_decay=float(best["weight_decay"]), clipnorm=self.hypermodel.clipnorm,
            early_stopping=True, patience=int(best["patience"]))

    def best_model(self):
        """The winner, rebuilt with the weights of its best epoch (ready to evaluate)."""
        import warnings

        with warnings.catch_warnings():
            # KerasTuner's checkpoint holds the optimizer's slots too; the rebuilt model's
            # optimizer is fresh, and Keras warns that it skips them. Only the weights matter.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return self.tuner.get_best_models(1)[0]

    def to_json(self):
        """A JSON-ready dict: the best hyperparameters and the rows."""
        return {"best_hyperparameters": self.best_hyperparameters, "trials": self.rows}


def _trials(tuner):
    trials = tuner.oracle.trials
    return [trials[k] for k in sorted(trials)]


def _is_distributed_worker():
    """True in a worker of KerasTuner's distributed mode (KERASTUNER_TUNER_ID not chief)."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get(
        "KERASTUNER_TUNER_ID", "chief")


def _rows(tuner):
    rows = []
    for trial in _trials(tuner):
        trial_id = trial.trial_id
        row = {"trial": trial_id}
        values = trial.hyperparameters.values
        order = ("dropout_type", "dropout", "weight_decay", "layer_norm", "patience")
        # the declared order (a distributed search returns them in another)
        names = [k for k in order if k in values] + [k for k in values if k not in order]
        row.update({k: values[k] for k in names if not k.startswith("tuner/")})
        score = trial.score
        row["val_loss"] = None if score is None else float(score)
        row["best_epoch"] = None if trial.best_step is None else int(trial.best_step) + 1
        path = os.path.join(tuner.get_trial_dir(trial_id), "history.json")
        epochs_run = None
        if os.path.exists(path):
            with open(path) as f:
                epochs_run = len(json.load(f).get("loss", []))
        row["epochs_run"] = epochs_run
        row["status"] = str(trial.status)
        rows.append(row)
    return rows


def trials_table(rows, *, fmt="text", floatfmt=".4g"):
    """Renders :attr:`TuningResult.rows` as a table sorted by validation loss (best first).

    Args:
        rows: List of trial rows.
        fmt: ``"text"`` or ``"markdown"``.
        floatfmt: Float format. Default ``".4g"``.

    Returns:
        The table as a string.

    Example:

    >>> print(trials_table([{"trial": "0", "dropout": 0.2, "val_loss": 1.5}]))
    trial  dropout  val_loss
    -----  -------  --------
    0          0.2       1.5
    """
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise TypeError(message("rows", "a list of trial rows (dicts)", rows))
    rows = sorted(rows, key=lambda r: (r.get("val_loss") is None or
                                       not math.isfinite(r["val_loss"]),
                                       r.get("val_loss") or 0.0))
    keys = [k for r in rows for k in r]
    hps = [k for k in dict.fromkeys(keys) if k != "trial" and k not in _RESULT_COLUMNS]
    columns = ["trial", *hps, *[c for c in _RESULT_COLUMNS if c in keys]]
    return format_table(rows, columns=columns, fmt=fmt, floatfmt=floatfmt)


def tune(
    corpus,
    *,
    tuner="random",
    max_trials=10,
    epochs=10,
    directory="tuning",
    project_name="regkeras",
    seed=0,
    overwrite=False,
    seq_len=64,
    batch_size=32,
    steps_per_epoch=None,
    learning_rate=3e-3,
    model_kwargs=None,
    space=None,
    hyperband_factor=3,
    callbacks=None,
    verbose=0,
):
    """Searches dropout, weight decay, layer norm and patience with KerasTuner.

    Builds a :class:`RegularizationHyperModel` and a seeded KerasTuner tuner
    (``keras_tuner.RandomSearch``, ``BayesianOptimization`` or ``Hyperband``) minimizing
    ``val_loss``, searches on the corpus' training and validation splits (the test split is
    not read), and summarizes the trials.

    Args:
        corpus: A :class:`regkeras.data.Corpus` (``vocab``, ``train_ids``, ``val_ids``) or a
            corpus name for :func:`regkeras.data.load_corpus`.
        tuner: ``"random"``, ``"bayesian"`` or ``"hyperband"``.
        max_trials: Positive integer, the number of trials (for ``"hyperband"`` an upper
            bound; Hyperband's own schedule, from ``epochs`` and ``hyperband_factor``,
            decides how many it runs).
        epochs: Positive integer, the epoch budget per trial (Hyperband's ``max_epochs``).
        directory: Folder of the search state (``directory/project_name``).
        project_name: Name of the search inside ``directory``.
        seed: Integer >= 0; seeds the tuner's sampling and every trial's training.
        overwrite: ``False`` (default) resumes a search found in ``directory/project_name``;
            ``True`` deletes it and starts over.
        seq_len: Tokens per training window.
        batch_size: Windows per batch.
        steps_per_epoch: Optional cap on training batches per epoch.
        learning_rate: Adam(W) learning rate (fixed during the search).
        model_kwargs: Fixed builder arguments (``units``, ``num_layers``, ...).
        space: Optional dict of search-space arguments of :class:`RegularizationHyperModel`
            (``dropout_types``, ``dropout``, ``weight_decay``, ``layer_norm``, ``patience``).
        hyperband_factor: Hyperband's reduction factor (integer >= 2).
        callbacks: Optional list of extra Keras callbacks for every trial's ``fit`` (KerasTuner
            copies them per trial and gives a ``keras.callbacks.TensorBoard`` one log folder
            per trial).
        verbose: 0 (silent), 1 or 2, passed to KerasTuner and ``fit``.

    Returns:
        A :class:`TuningResult`.

    Example:

    >>> corpus = regkeras.load_corpus("recipes", num_words=1500)
    >>> result = regkeras.tune(corpus, max_trials=6, epochs=8, seq_len=32, batch_size=16,
    ...                        directory="tuning", model_kwargs={"units": 64})
    >>> print(result.table())
    >>> result.best_hyperparameters["dropout"]
    """
    check_choice("tuner", tuner, sorted(TUNERS), lower=False)
    max_trials = check_int("max_trials", max_trials, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    seq_len = check_int("seq_len", seq_len, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    seed = check_seed("seed", seed, allow_none=False)
    hyperband_factor = check_int("hyperband_factor", hyperband_factor, minimum=2)
    if not isinstance(overwrite, bool):
        raise TypeError(message("overwrite", "True or False", overwrite))
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={verbose!r}")
    for name, value in (("directory", directory), ("project_name", project_name)):
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise TypeError(f"`{name}` must be a non-empty path string. Received: {value!r}")
    space_keys = ("dropout_types", "dropout", "weight_decay", "layer_norm", "patience")
    if space is not None and not isinstance(space, dict):
        raise TypeError(f"`space` must be a dict of search-space arguments. Received: {space!r}")
    unknown = sorted(set(space or {}) - set(space_keys))
    if unknown:
        raise ValueError(f"`space` keys must be among {space_keys}. Received: {unknown}")
    if tuner == "bayesian":
        import importlib.util

        if importlib.util.find_spec("sklearn") is None:
            raise ImportError("tuner='bayesian' needs scikit-learn (KerasTuner's Gaussian "
                              "process): `pip install keras-tuner[bayesian]`, or use "
                              "tuner='random' or 'hyperband'.")

    if isinstance(corpus, str):
        from regkeras.data import load_corpus

        corpus = load_corpus(corpus)
    # Ids its vocabulary lacks, float or NaN labels would fail every trial inside `fit`:
    # refused here. Deliberately not test_ids: the search never reads the test split.
    check_corpus(corpus, ("train_ids", "val_ids"))
    hypermodel = _hypermodel_class()(vocabulary_size(corpus.vocab), model_kwargs=model_kwargs,
                                     learning_rate=learning_rate, seed=seed, **(space or {}))
    # One process per search outside the chief/worker mode: a second one on the same folder
    # would train the same trial ids and record them as failed; it is refused at once.
    lock = None
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        from regkeras.files import FolderLock

        search_dir = os.path.join(os.fspath(directory), os.fspath(project_name))
        os.makedirs(os.fspath(directory), exist_ok=True)
        lock = FolderLock(os.path.join(os.fspath(directory), f".{os.fspath(project_name)}.lock"),
                          f"The search {search_dir!r}").acquire()
    try:
        # KerasTuner's oracle reads seed=0 as "no seed" and draws a random one, so it gets
        # seed + 1: every seed, 0 included, gives a repeatable search.
        common = dict(objective="val_loss", hyperparameters=hypermodel.space(),
                      tune_new_entries=False, seed=seed + 1, directory=os.fspath(directory),
                      project_name=os.fspath(project_name), overwrite=overwrite)
        cls = _tuner_class(tuner)
        if tuner == "hyperband":
            search = cls(hypermodel, max_epochs=epochs, factor=hyperband_factor,
                         hyperband_iterations=1, **common)
            search.oracle.max_trials = max_trials
        else:
            search = cls(hypermodel, max_trials=max_trials, **common)
        # The splits are read here and only here: the test split never reaches the tuner.
        train_ids, val_ids = corpus.train_ids, corpus.val_ids
        if callbacks is not None and (isinstance(callbacks, keras.callbacks.Callback) or not all(
                isinstance(cb, keras.callbacks.Callback) for cb in callbacks)):
            raise TypeError(message("callbacks", "a list of keras callbacks or None", callbacks))
        search.search(train_ids=train_ids, val_ids=val_ids, epochs=epochs, seq_len=seq_len,
                      batch_size=batch_size, steps_per_epoch=steps_per_epoch, verbose=verbose,
                      callbacks=list(callbacks or []))
    finally:
        if lock is not None:
            lock.release()
    if _is_distributed_worker():
        # The chief's oracle holds the results (and may already have shut down): a worker
        # returns without a summary; the chief's own call summarizes every worker's trials.
        return TuningResult(tuner=search, best_hyperparameters={}, rows=[],
                            hypermodel=hypermodel)
    rows = _rows(search)
    done = [r for r in rows if r["val_loss"] is not None and math.isfinite(r["val_loss"])]
    if not done:
        messages = [t.message for t in _trials(search) if getattr(t, "message", None)]
        raise RuntimeError(
            "No trial finished with a finite validation loss; see the trial folders under "
            f"{os.path.join(os.fspath(directory), os.fspath(project_name))}."
            + (f" The last error:\n{messages[-1][-2000:]}" if messages else ""))
    best = search.get_best_hyperparameters(1)[0].values
    best = {k: v for k, v in best.items() if not k.startswith("tuner/")}
    return TuningResult(tuner=search, best_hyperparameters=best, rows=rows,
                        hypermodel=hypermodel)
