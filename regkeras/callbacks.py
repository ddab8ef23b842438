"""Early stopping, checkpoints and watching training: the notes' fourth weapon.

Keras already has ``EarlyStopping``, ``ModelCheckpoint``, ``BackupAndRestore``,
``TerminateOnNaN`` and ``TensorBoard``; this module adds only what they lack for the
course's checklist:

* :class:`BestWeightsEarlyStopping` guarantees that after ``fit`` the model holds the
  weights of the best epoch seen, however training ended (patience ran out, ``epochs``
  reached, a warm-up longer than the run, ``TerminateOnNaN``, a ``NaN`` validation loss,
  or a resumed run), and its state survives an interruption.
* :class:`BestModelCheckpoint` is a ``save_best_only`` checkpoint whose notion of "best"
  ignores ``NaN`` and survives an interruption.
* :class:`ResumableBackupAndRestore` also backs up what ``BackupAndRestore`` leaves out: the
  random-number state of dropout layers and the state of the callbacks above, so a run
  killed after epoch *k* and restarted ends exactly where an uninterrupted run ends (given
  the same data order per epoch).
* :class:`TrainingMonitor` records loss, perplexity and bits per token per epoch and draws
  the notes' picture (train vs. validation, best epoch, early-stop point, the
  generalization gap shaded), live in a notebook or as a PNG; :func:`plot_history`
  compares several runs on one figure.
* :func:`training_callbacks` returns the whole checklist in one call.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import numbers
import os
import re
import shutil
import sys
import tempfile
import warnings

import keras
import numpy as np

from regkeras import files
from regkeras.metrics import perplexity_and_bits
from regkeras.validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_non_negative,
    check_positive_int,
    check_string,
    described,
    message,
)

__all__ = [
    "BestWeightsEarlyStopping",
    "BestModelCheckpoint",
    "ResumableBackupAndRestore",
    "BackupError",
    "TrainingMonitor",
    "plot_history",
    "history_dict",
    "training_callbacks",
    "get_callback",
]


def _finite(value):
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _check_monitor(monitor):
    return check_string("monitor", monitor, "a metric name such as 'val_loss'")


_MODES = ("auto", "min", "max")


class _FiniteBestMixin:
    """A NaN/inf value is never a new best, and any finite value beats a NaN/inf best.

    The one Keras hook still overridden (EarlyStopping's `_is_improvement`): see
    docs/architecture.md, "Keras internals still used", for why EarlyStopping needs it and
    ModelCheckpoint no longer does.
    """

    def _is_improvement(self, monitor_value, reference_value):
        if not _finite(monitor_value):
            return False
        if reference_value is None or not _finite(reference_value):
            return True
        return super()._is_improvement(monitor_value, reference_value)


class _StatefulCallbackMixin:
    """Pending-state handling shared by callbacks that ResumableBackupAndRestore restores.

    ``set_state`` may run before or after the callback's own ``on_train_begin`` (the order of
    callbacks decides); the state is kept as pending and applied again after the reset that
    ``on_train_begin`` performs, then dropped at ``on_train_end``.
    """

    _pending_state = None

    def set_state(self, state, arrays=()):
        self._pending_state = (state, list(arrays))
        self._apply_state(state, list(arrays))

    def _apply_pending_state(self):
        if self._pending_state is not None:
            self._apply_state(*self._pending_state)

    def _clear_pending_state(self):
        self._pending_state = None


class BestWeightsEarlyStopping(_FiniteBestMixin, _StatefulCallbackMixin,
                               keras.callbacks.EarlyStopping):
    """Early stopping that always leaves the model at its best epoch (Prechelt, 1998).

    Stops training when ``monitor`` has not improved for ``patience`` epochs and, at the end
    of ``fit``, sets the model's weights to those of the best epoch seen, *whatever ended
    training*: patience running out, the last epoch being reached, a ``start_from_epoch``
    longer than the run (the warm-up only delays stopping, the best epoch is tracked from the
    first epoch), ``TerminateOnNaN``, or a run resumed by :class:`ResumableBackupAndRestore`
    (whose backup carries this callback's best weights). ``NaN``/``inf`` values never count as
    an improvement, whereas in ``keras.callbacks.EarlyStopping`` a ``NaN`` in the first epoch
    becomes a "best" that nothing beats.

    Args:
        monitor: Quantity to watch. Defaults to ``"val_loss"``.
        patience: Epochs without improvement before stopping, an int ``>= 0``. Default ``5``
            (the notes suggest 5-10).
        min_delta: Smallest change that counts as an improvement, ``>= 0``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        baseline: Optional value the monitored quantity must beat to reset the patience count.
        start_from_epoch: Epochs of warm-up during which training is never stopped.
        restore_best_weights: Keep the default ``True``; ``False`` gives Keras' behaviour of
            keeping the last weights (the best epoch is still recorded).
        verbose: ``0`` silent, ``1`` prints when stopping and restoring.

    Attributes:
        best_epoch: 0-based index of the best epoch (``None`` before any finite value).
        best: Best monitored value.
        stopped_early: ``True`` when patience ran out (not when ``epochs`` was reached).
        stopped_epoch: 0-based epoch at which training was stopped early (Keras' attribute).

    Example:

    >>> stop = BestWeightsEarlyStopping(patience=5)
    >>> model.fit(x, y, validation_data=(xv, yv), epochs=50, callbacks=[stop])
    >>> stop.best_epoch  # the model now holds this epoch's weights
    """

    def __init__(
        self,
        monitor="val_loss",
        patience=5,
        min_delta=0.0,
        mode="auto",
        baseline=None,
        start_from_epoch=0,
        restore_best_weights=True,
        verbose=0,
    ):
        _check_monitor(monitor)
        patience = check_int("patience", patience, minimum=0)
        min_delta = check_non_negative("min_delta", min_delta)
        mode = check_choice("mode", mode, _MODES, lower=False)
        baseline = check_float("baseline", baseline, finite=True, allow_none=True)
        start_from_epoch = check_int("start_from_epoch", start_from_epoch, minimum=0)
        verbose = check_int("verbose", verbose, minimum=0)
        check_bool("restore_best_weights", restore_best_weights)
        super().__init__(
            monitor=monitor,
            min_delta=min_delta,
            patience=patience,
            verbose=verbose,
            mode=mode,
            baseline=baseline,
            restore_best_weights=restore_best_weights,
            start_from_epoch=start_from_epoch,
        )
        self.best_epoch = None
        self.stopped_early = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.best_epoch = None
        self.stopped_early = False
        self._apply_pending_state()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            self.get_monitor_value(logs)  # warns about the missing metric
            return
        if self._is_improvement(current, self.best):
            self.best = float(current)
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
                return
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.stopped_early = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_early and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights:
            if self.best_weights is not None:
                if self.verbose > 0:
                    print(
                        f"Restoring model weights from the end of the best epoch: "
                        f"{self.best_epoch + 1}."
                    )
                self.model.set_weights(self.best_weights)
            elif self.best_epoch is None:
                warnings.warn(
                    f"BestWeightsEarlyStopping saw no finite `{self.monitor}`; the model keeps "
                    "its last weights.",
                    stacklevel=2,
                )
        self._clear_pending_state()

    # State for ResumableBackupAndRestore: a JSON-able dict plus a list of arrays.
    def get_state(self):
        state = {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "stopped_early": self.stopped_early,
        }
        arrays = list(self.best_weights) if self.best_weights is not None else []
        return state, arrays

    def _apply_state(self, state, arrays):
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
        self.stopped_early = state["stopped_early"]
        self.best_weights = [np.array(a) for a in arrays] if arrays else None


class BestModelCheckpoint(_StatefulCallbackMixin, keras.callbacks.ModelCheckpoint):
    """Saves the model whenever the monitored value reaches a new best (Keras' ModelCheckpoint).

    ``keras.callbacks.ModelCheckpoint(save_best_only=True)`` with two fixes for long runs:
    ``NaN``/``inf`` never count as a new best, and the best value so far is part of the
    state that :class:`ResumableBackupAndRestore` backs up, so a resumed run does not
    overwrite the best file with a worse epoch.

    Args:
        filepath: Where to save; must end in ``.keras`` (whole model) or ``.weights.h5``.
        monitor: Quantity to watch. Defaults to ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        verbose: ``0`` or ``1``.

    Example:

    >>> ckpt = BestModelCheckpoint("best.keras")
    >>> model.fit(x, y, validation_data=(xv, yv), epochs=10, callbacks=[ckpt])
    >>> best = keras.saving.load_model("best.keras")
    """

    def __init__(self, filepath, monitor="val_loss", mode="auto", verbose=0):
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(message("filepath", "a path", filepath))
        filepath = os.fspath(filepath)
        weights_only = filepath.endswith(".weights.h5")
        if not (weights_only or filepath.endswith(".keras")):
            raise ValueError(
                "`filepath` must end in '.keras' (whole model) or '.weights.h5' (weights). "
                f"Received: filepath={filepath!r}"
            )
        _check_monitor(monitor)
        mode = check_choice("mode", mode, _MODES, lower=False)
        verbose = check_int("verbose", verbose, minimum=0)
        super().__init__(
            filepath,
            monitor=monitor,
            verbose=verbose,
            save_best_only=True,
            save_weights_only=weights_only,
            mode=mode,
        )

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._apply_pending_state()

    def on_epoch_end(self, epoch, logs=None):
        # A NaN/inf epoch never reaches Keras' rule, which would save it as the first best and
        # then let no finite value beat it; the best so far is never NaN (see _apply_state),
        # so every finite value is compared with a finite best or none.
        current = (logs or {}).get(self.monitor)
        if current is not None and not _finite(current):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} is {float(current)}, not a best")
            return
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        self._clear_pending_state()

    def get_state(self):
        return {"best": None if self.best is None else float(self.best)}, []

    def _apply_state(self, state, arrays):
        # A NaN best (backups of earlier versions could hold one) is no best at all.
        self.best = state["best"] if _finite(state["best"]) else None


class ResumableBackupAndRestore(keras.callbacks.Callback):
    """Keras' ``BackupAndRestore`` idea, with random-number and callback state, atomically.

    Like ``keras.callbacks.BackupAndRestore`` (same arguments, same use), it saves the
    model's weights, the optimizer's state and the epoch, so that ``fit`` started again with
    the same ``backup_dir`` continues an interrupted run. Two more things make the resumed run
    *equal* an uninterrupted one: the state of the ``SeedGenerator`` that dropout layers draw
    their masks from (not part of the weights file), and the state of callbacks such as early
    stopping (best value, patience count, best weights). Each backup is one checkpoint folder
    holding all of it, committed with one rename (docs/reliability.md). It is a plain
    ``keras.callbacks.Callback`` (since 0.2; before, a ``BackupAndRestore`` subclass): it
    writes its own folders, so it needs none of Keras' file handling. The data order of each
    epoch must also be the same in both runs (``shuffle=False``, or a per-epoch seeded order
    as in :func:`regkeras.experiments.run_experiment`).

    Args:
        backup_dir: Folder for the backup, used by nothing else; deleted when ``fit``
            completes (unless ``delete_checkpoint=False``). Under
            ``MultiWorkerMirroredStrategy`` give every worker the same folder on shared
            storage: only the chief writes it, every worker restores from it.
        state_callbacks: Callbacks with ``get_state()``/``set_state()`` (e.g.
            :class:`BestWeightsEarlyStopping`, :class:`BestModelCheckpoint`,
            :class:`TrainingMonitor`) whose state is backed up too.
        save_freq: ``"epoch"`` or a number of batches, as in Keras.
        delete_checkpoint: Delete the backup when ``fit`` completes. Default ``True``.

    Example:

    >>> stop = BestWeightsEarlyStopping(patience=5)
    >>> backup = ResumableBackupAndRestore("backup/", state_callbacks=[stop])
    >>> model.fit(x, y, validation_data=(xv, yv), epochs=50, callbacks=[stop, backup])
    >>> # killed? run the same two lines again: training continues where it stopped.
    """

    # One checkpoint is one folder, `ckpt-NNNNNN`, holding Keras' weights file (the
    # optimizer's state included), `state.npz` (the model variables that file leaves out,
    # i.e. the dropout layers' SeedGenerator states, and the callbacks' arrays; the first
    # checkpoint folders held every model variable there, and still restore) and
    # `MANIFEST.json` (epoch, batch, whether training had stopped, the callbacks' states,
    # each file's size and sha256, and a checksum of the manifest itself). It is written as `.ckpt-NNNNNN.partial-PID`, synced
    # and renamed in one step; the previous checkpoint is kept until the next one is
    # committed, so a kill at any instant leaves at least one complete checkpoint (or none
    # yet). Names that are not `ckpt-NNNNNN` are never read, only cleaned up.
    _WEIGHTS = "model.weights.h5"
    _ARRAYS = "state.npz"
    _MANIFEST = "MANIFEST.json"
    _KEEP = 2  # the newest checkpoint and the one before it
    _LEGACY_STATE_FILE = "regkeras_state.json"  # the single-folder layout of regkeras <= 0.2

    def __init__(self, backup_dir, state_callbacks=(), save_freq="epoch", delete_checkpoint=True):
        if not isinstance(backup_dir, (str, os.PathLike)):
            raise TypeError(message("backup_dir", "a non-empty path", backup_dir))
        if not os.fspath(backup_dir):
            raise ValueError(message("backup_dir", "a non-empty path", backup_dir))
        if isinstance(state_callbacks, keras.callbacks.Callback) or not isinstance(
            state_callbacks, (list, tuple, type(None))
        ):
            raise TypeError(
                "`state_callbacks` must be a list of callbacks with get_state()/set_state(). "
                f"Received: state_callbacks={state_callbacks!r}"
            )
        if isinstance(save_freq, str):
            save_freq = check_choice("save_freq", save_freq, ("epoch",), lower=False,
                                     requirement="'epoch' or a positive number of batches")
        else:
            save_freq = check_positive_int("save_freq", save_freq)
        state_callbacks = list(state_callbacks or ())
        for cb in state_callbacks:
            if not (hasattr(cb, "get_state") and hasattr(cb, "set_state")):
                raise TypeError(
                    "Every entry of `state_callbacks` needs get_state() and set_state(); "
                    f"{type(cb).__name__} has not."
                )
        if not isinstance(delete_checkpoint, bool):
            raise TypeError(message("delete_checkpoint", "True or False", delete_checkpoint))
        super().__init__()
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        # Where training stands at the next save: epochs done, and the batch within the epoch
        # (0 at an epoch's end), as Keras' BackupAndRestore counts them.
        self._current_epoch = 0
        self._last_batch_seen = 0
        self._batches_since_save = 0
        self.state_callbacks = state_callbacks
        self.restored_epoch = None
        self.restored_from = None

    @staticmethod
    def resume_epoch(backup_dir):
        """The epoch a run using ``backup_dir`` will resume at (0 when there is no backup).

        Reads the checkpoint that ``fit`` will restore: the newest complete one (checked
        against its manifest). Raises :class:`BackupError` when the folder holds
        checkpoints but none is complete.

        Example:

        >>> ResumableBackupAndRestore.resume_epoch("backup/")
        0
        """
        backup_dir = os.fspath(backup_dir)
        found = _select_checkpoint(backup_dir)
        if found is not None:
            return int(found[1]["epoch"])
        if os.path.exists(os.path.join(backup_dir, "training_metadata.json")):
            return int(_read_legacy_metadata(backup_dir)["epoch"])
        return 0

    def _tag(self):
        return f"{self._current_epoch}-{self._last_batch_seen}"

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # `batch` is the index of the last batch run (several with steps_per_execution); a
        # smaller index than the last one seen means a new epoch began.
        if batch <= self._last_batch_seen:
            self._batches_since_save += batch + 1
        else:
            self._batches_since_save += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save()

    def _save(self):
        if _is_chief(self.model):
            self._save_checkpoint(self.backup_dir)
            return
        # Another worker of a multi-worker job: it saves exactly as the chief does (reading
        # distributed variables may run collective operations every worker must join), but
        # into a folder of its own, deleted at once. The backup is the chief's alone: two
        # writers in one folder would race (docs/reliability.md, "Beyond one machine").
        scratch = tempfile.mkdtemp(prefix="regkeras-worker-backup-")
        try:
            self._save_checkpoint(scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _save_checkpoint(self, backup_dir):
        os.makedirs(backup_dir, exist_ok=True)
        _remove_leftovers(backup_dir)
        existing = _checkpoints(backup_dir)
        seq = existing[0][0] + 1 if existing else 1
        name = f"ckpt-{seq:06d}"
        partial = os.path.join(backup_dir, f".{name}.partial-{os.getpid()}")
        final = os.path.join(backup_dir, name)

        states, arrays = [], {}
        for i, cb in enumerate(self.state_callbacks):
            state, cb_arrays = cb.get_state()
            for j, a in enumerate(cb_arrays):
                arrays[f"cb{i}_{j}"] = np.asarray(a)
            states.append({"state": state, "num_arrays": len(cb_arrays)})
        for k, v in _variables_outside_weights(self.model):
            arrays[f"var{k}"] = keras.ops.convert_to_numpy(v)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)

        files.crash_point("save: make the partial folder")
        os.makedirs(partial)
        weights = os.path.join(partial, self._WEIGHTS)
        self.model.save_weights(weights)
        files.crash_point("save: weights half-written", tear=weights)
        files.crash_point("save: weights written")
        files.sync_file(weights)
        files.write_file(os.path.join(partial, self._ARRAYS), buffer.getvalue(),
                         label="save: state.npz", replace=False)
        body = {
            "version": 1,
            "epoch": int(self._current_epoch),
            "batch": int(self._last_batch_seen),
            "stop_training": bool(getattr(self.model, "stop_training", False)),
            "callbacks": states,
            "files": files.describe_files(partial, (self._WEIGHTS, self._ARRAYS)),
        }
        manifest = {"format": _CHECKPOINT_FORMAT, "sha256": _digest(body), "body": body}
        files.write_file(os.path.join(partial, self._MANIFEST),
                         json.dumps(manifest, indent=1, allow_nan=True),
                         label="save: manifest", replace=False)
        files.sync_folder(partial)
        files.crash_point("save: rename into place")
        os.rename(partial, final)  # the commit: one step
        files.crash_point("save: committed")
        files.sync_folder(backup_dir)
        for _, old in existing[self._KEEP - 1:]:
            _discard(old, "save: prune an older checkpoint")
        _remove_legacy_files(backup_dir)

    def on_train_begin(self, logs=None):
        self.restored_epoch = None
        self.restored_from = None
        self._workers_checked = False
        backup_dir = self.backup_dir
        found = _select_checkpoint(backup_dir, warn=True)
        if found is None:
            if os.path.exists(os.path.join(backup_dir, "training_metadata.json")):
                self._restore_legacy()
            return
        path, body = found
        self._check_built()
        try:
            self.model.load_weights(os.path.join(path, self._WEIGHTS))
        except Exception as err:  # noqa: BLE001 - any failure: the backup is not this model's
            raise _backup_error(backup_dir, f"{os.path.basename(path)} does not load into this "
                                            f"model ({_one_line(err)})") from err
        with np.load(os.path.join(path, self._ARRAYS)) as data:
            arrays = {k: data[k] for k in data.files}
        self._restore_state(path, arrays, body["callbacks"])
        epoch = int(body["epoch"])
        # A run that had stopped (early stopping fired) and was killed before it finished
        # does not train again: it goes straight to the end of fit, as the uninterrupted run.
        self.model._initial_epoch = (int(self.params.get("epochs", epoch))
                                     if body.get("stop_training") else epoch)
        self.restored_epoch = epoch
        self.restored_from = path

    def _check_built(self):
        if not self.model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you "
                f"call `fit()`. Model {self.model} is unbuilt. You can build it beforehand by "
                "calling it on a batch of data.")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)

    def _restore_state(self, where, arrays, saved_callbacks):
        if len(saved_callbacks) != len(self.state_callbacks):
            raise ValueError(
                f"The backup in {self.backup_dir!r} holds the state of "
                f"{len(saved_callbacks)} callbacks but `state_callbacks` has "
                f"{len(self.state_callbacks)}; use the same callbacks to resume."
            )
        # After load_weights: the variables the weights file left out (older checkpoints hold
        # every variable, with the values the weights file has just restored).
        variables = self.model.variables
        for k, v in enumerate(variables):
            key = f"var{k}"
            if key in arrays and tuple(arrays[key].shape) == tuple(v.shape):
                v.assign(arrays[key])
        for i, (cb, saved) in enumerate(zip(self.state_callbacks, saved_callbacks)):
            try:
                cb_arrays = [arrays[f"cb{i}_{j}"] for j in range(saved["num_arrays"])]
            except KeyError:
                raise _backup_error(self.backup_dir, f"{where} lacks the arrays of callback "
                                                     f"{i}") from None
            cb.set_state(saved["state"], cb_arrays)

    def _restore_legacy(self):
        """Resumes from the layout written by regkeras <= 0.2 (files in the folder itself),
        only when its parts agree; otherwise one clear error."""
        backup_dir = self.backup_dir
        metadata = _read_legacy_metadata(backup_dir)
        tag = f"{metadata['epoch']}-{metadata.get('batch', 0)}"
        state_path = os.path.join(backup_dir, self._LEGACY_STATE_FILE)
        npz_path = os.path.join(backup_dir, f"regkeras_state-{tag}.npz")
        try:
            with open(state_path, encoding="utf-8") as f:
                entries = json.load(f)["entries"]
            entry = next((e for e in entries if e["tag"] == tag), None)
            if entry is None:
                raise KeyError(f"no entry for epoch {metadata['epoch']}")
            with np.load(npz_path) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as err:  # noqa: BLE001 - any damaged or missing part
            raise _backup_error(backup_dir, "its random-number and callback state for epoch "
                                            f"{metadata['epoch']} is missing or damaged "
                                            f"({_one_line(err)})") from None
        self._check_built()
        try:
            self.model.load_weights(os.path.join(backup_dir, "latest.weights.h5"))
        except Exception as err:  # noqa: BLE001
            raise _backup_error(backup_dir, "latest.weights.h5 is missing, damaged or not "
                                            f"this model's ({_one_line(err)})") from None
        self._restore_state(backup_dir, arrays, entry["callbacks"])
        self.model._initial_epoch = int(metadata["epoch"])
        self.restored_epoch = int(metadata["epoch"])
        self.restored_from = backup_dir

    def on_epoch_begin(self, epoch, logs=None):
        if not getattr(self, "_workers_checked", True):
            self._workers_checked = True
            _check_workers_resume_together(self.model, epoch, self.backup_dir)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not os.path.isdir(self.backup_dir):
            return
        if not _is_chief(self.model):
            return  # the chief deletes its backup; the other workers kept none
        # Oldest first, each renamed away before it is deleted: a kill part-way leaves the
        # newest checkpoints whole (resuming from one of them ends the same way).
        for _, path in reversed(_checkpoints(self.backup_dir)):
            _discard(path, "cleanup: discard a checkpoint")
        files.crash_point("cleanup: remove the folder")
        shutil.rmtree(self.backup_dir, ignore_errors=True)


def _is_chief(model):
    """Whether this process owns the backup: the chief of a multi-worker job, or the only
    process (Keras 3's callbacks do not tell the workers apart, as Keras 2's did)."""
    from regkeras.distribute import is_chief

    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow backend only
    return is_chief(strategy) if strategy is not None else True


def _check_workers_resume_together(model, epoch, backup_dir):
    """The workers of a multi-worker job must start at the same epoch, as they do when they
    all restore from one shared backup; otherwise their steps would pair up wrongly (a hang,
    or a silently wrong run), so every worker stops with the same BackupError."""
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow backend only
    if strategy is None:
        return
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    mine = tf.constant(float(epoch))
    mean = strategy.reduce("MEAN", strategy.run(lambda: mine), axis=None)
    spread = strategy.reduce("SUM", strategy.run(lambda: tf.square(mine - mean)), axis=None)
    if float(spread) > 0:
        raise BackupError(
            f"The workers of this job start at different epochs (this one with epoch {epoch + 1}): "
            f"the backup {os.fspath(backup_dir)!r} is not one folder that all of them see. "
            "Give every worker the same backup_dir, on storage shared by all of them.")


def _variables_outside_weights(model):
    """`(index in model.variables, variable)` of the variables `save_weights` leaves out.

    `model.weights` is what Keras' weights file holds; `model.variables` adds the state of
    every `keras.random.SeedGenerator` (the dropout layers' masks come from it), which a
    resumed run needs to draw the same masks. Indexed by position in `model.variables`, as
    checkpoints that held every variable were.
    """
    in_weights = {id(v) for v in model.weights}
    return [(k, v) for k, v in enumerate(model.variables) if id(v) not in in_weights]


_CHECKPOINT_FORMAT = "regkeras-checkpoint"
_CHECKPOINT_NAME = re.compile(r"^ckpt-(\d{6,})$")


class BackupError(ValueError):
    """A backup folder that cannot be resumed from: damaged, incomplete, or another model's.

    Raised by :class:`ResumableBackupAndRestore` (at the start of ``fit`` and by
    ``resume_epoch``) instead of resuming from inconsistent parts; the message names the
    folder and how to start afresh.
    """


def _backup_error(backup_dir, what):
    return BackupError(
        f"The backup in {os.fspath(backup_dir)!r} cannot be resumed: {what}. Nothing was "
        f"restored. To train from the start instead, delete the folder "
        f"{os.fspath(backup_dir)!r} (on the command line: rerun with --fresh).")


def _one_line(err):
    return " ".join(str(err).split())[:300] or type(err).__name__


def _digest(body):
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _checkpoints(backup_dir):
    """``[(sequence number, path)]`` of the committed checkpoints, newest first."""
    try:
        names = os.listdir(backup_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        match = _CHECKPOINT_NAME.match(name)
        path = os.path.join(backup_dir, name)
        if match and os.path.isdir(path):
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def _read_manifest(path):
    """``(body, None)`` for a complete checkpoint folder, ``(None, what is wrong)`` otherwise."""
    manifest_path = os.path.join(path, ResumableBackupAndRestore._MANIFEST)
    if not os.path.isfile(manifest_path):
        return None, "its MANIFEST.json is missing"
    try:
        with open(manifest_path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"its MANIFEST.json cannot be read ({_one_line(err)})"
    if (not isinstance(manifest, dict) or manifest.get("format") != _CHECKPOINT_FORMAT
            or not isinstance(manifest.get("body"), dict)):
        return None, "its MANIFEST.json is not a regkeras checkpoint manifest"
    body = manifest["body"]
    if manifest.get("sha256") != _digest(body):
        return None, "its MANIFEST.json does not match its checksum"
    if body.get("version") != 1:
        return None, f"it has format version {body.get('version')!r}, this regkeras reads 1"
    expected = {ResumableBackupAndRestore._WEIGHTS, ResumableBackupAndRestore._ARRAYS}
    if set(body.get("files", {})) != expected:
        return None, "its manifest does not list the weights and state files"
    problem = files.check_files(path, body["files"])
    if problem is not None:
        return None, problem
    return body, None


def _select_checkpoint(backup_dir, warn=False):
    """``(path, manifest body)`` of the newest complete checkpoint, or ``None`` if there is
    none at all; :class:`BackupError` when there are checkpoints but none is complete."""
    skipped = []
    for _, path in _checkpoints(backup_dir):
        body, problem = _read_manifest(path)
        if body is None:
            skipped.append(f"{os.path.basename(path)}: {problem}")
            continue
        if skipped and warn:
            warnings.warn(
                f"The backup in {backup_dir!r} has a damaged or incomplete newest checkpoint "
                f"({'; '.join(skipped)}); resuming from the previous complete one, "
                f"{os.path.basename(path)} (epoch {body['epoch']}).",
                stacklevel=3,
            )
        return path, body
    if skipped:
        raise _backup_error(backup_dir, "no checkpoint in it is complete ("
                            + "; ".join(skipped) + ")")
    return None


def _read_legacy_metadata(backup_dir):
    path = os.path.join(backup_dir, "training_metadata.json")
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
        int(metadata["epoch"])
        int(metadata.get("batch", 0))
    except Exception as err:  # noqa: BLE001 - empty, truncated, garbage
        raise _backup_error(backup_dir, f"its training_metadata.json is damaged "
                                        f"({_one_line(err)})") from None
    return metadata


def _discard(path, label):
    """Renames a checkpoint away (one step: it stops being a checkpoint), then deletes it."""
    folder, name = os.path.split(path)
    trash = os.path.join(folder, f".{name}.discarded-{os.getpid()}")
    files.crash_point(f"{label}: rename")
    os.rename(path, trash)
    entries = sorted(os.listdir(trash))
    if entries:
        os.remove(os.path.join(trash, entries[0]))
        files.crash_point(f"{label}: half-deleted")
    shutil.rmtree(trash, ignore_errors=True)


def _remove_leftovers(backup_dir):
    """Deletes what a killed save or cleanup left: partial and discarded folders."""
    for name in os.listdir(backup_dir):
        if name.startswith(".ckpt-") and (".partial-" in name or ".discarded-" in name):
            shutil.rmtree(os.path.join(backup_dir, name), ignore_errors=True)


def _remove_legacy_files(backup_dir):
    """After the first checkpoint in the new layout is committed, the files of the old
    single-folder layout (if the run resumed from one) are no longer needed."""
    for name in os.listdir(backup_dir):
        if name in ("latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp",
                    "training_metadata.json.bkp",
                    ResumableBackupAndRestore._LEGACY_STATE_FILE) or (
                name.startswith("regkeras_state-") and name.endswith(".npz")):
            os.remove(os.path.join(backup_dir, name))


def history_dict(history):
    """A plain ``{metric: list of floats}`` from a Keras History, a TrainingMonitor or a dict.

    Args:
        history: ``keras.callbacks.History`` (what ``fit`` returns), :class:`TrainingMonitor`,
            or a dict of lists such as ``history.history``.

    Returns:
        A new dict of float lists.

    Example:

    >>> history_dict({"loss": [2.0, 1.5], "val_loss": [2.1, 1.7]})["val_loss"]
    [2.1, 1.7]
    """
    if isinstance(history, TrainingMonitor):
        data = history.history
    elif isinstance(history, keras.callbacks.History):
        data = history.history
    elif isinstance(history, dict):
        data = history
    else:
        raise TypeError(message("history", "a keras History, a TrainingMonitor or a dict of "
                                "lists", described(type(history).__name__)))
    out = {}
    for key, values in data.items():
        if isinstance(values, numbers.Number):
            # e.g. the dict of `evaluate(..., return_dict=True)`: one number, not a curve.
            raise ValueError(message("history", f"a dict of lists (one value per epoch); "
                                     f"{key!r} holds a single number", data))
        if isinstance(values, (list, tuple, np.ndarray)):
            try:
                out[key] = [float(v) for v in values]
            except (TypeError, ValueError):
                raise ValueError(
                    f"The history's {key!r} must be a list of numbers (one per epoch). "
                    f"Received: {list(values)[:5]!r}"
                ) from None
    return out


class TrainingMonitor(_StatefulCallbackMixin, keras.callbacks.Callback):
    """Records loss, perplexity and bits per token per epoch and draws the learning curves.

    At the end of every epoch it reads ``loss`` and ``val_loss`` (in nats, as Keras reports
    a cross-entropy) and adds ``perplexity = exp(loss)`` and ``bpc = loss / ln 2`` (bits per
    character for a character model, bits per word for a word model) for both, to its own
    ``history`` and, by default, to the logs that later callbacks such as ``History``,
    ``TensorBoard`` and ``CSVLogger`` see. Its :meth:`plot` draws the notes' picture: train vs.
    validation, the best epoch and the early-stop point marked, the generalization gap
    shaded. ``live=True`` redraws the figure in a notebook after each epoch; ``png_path``
    writes it to a file (works without a display). The training loss includes any penalty
    terms (L2, AR/TAR) and is measured with dropout on, so its perplexity is an upper bound.

    Args:
        monitor: Quantity whose minimum marks the best epoch. Default ``"val_loss"``.
        png_path: Optional file to write the figure to after every epoch.
        live: Redraw the figure in the notebook output after every epoch (needs IPython).
        add_to_logs: Add the derived metrics to the epoch logs. Default ``True``.
        title: Figure title.

    Attributes:
        history: ``{metric: [value per epoch]}``.
        epochs: 0-based epoch index of every recorded row (continues across a resume).
        stopped_epoch: 0-based epoch at which training was stopped early, else ``None``.

    Example:

    >>> monitor = TrainingMonitor(png_path="curves.png")
    >>> model.fit(ds, validation_data=val_ds, epochs=10, callbacks=[monitor])
    >>> monitor.best_epoch, monitor.history["val_perplexity"][-1]
    """

    def __init__(self, monitor="val_loss", *, png_path=None, live=False, add_to_logs=True,
                 title=None):
        super().__init__()
        _check_monitor(monitor)
        if png_path is not None and not isinstance(png_path, (str, os.PathLike)):
            raise TypeError(message("png_path", "a path or None", png_path))
        check_bool("live", live)
        check_bool("add_to_logs", add_to_logs)
        if title is not None and not isinstance(title, str):
            raise TypeError(message("title", "a string or None", title))
        self.monitor = monitor
        self.png_path = None if png_path is None else os.fspath(png_path)
        self.live = live
        self.add_to_logs = add_to_logs
        self.title = title
        self.history = {}
        self.epochs = []
        self.stopped_epoch = None
        self._display = None

    @property
    def best_epoch(self):
        """0-based index of the epoch with the lowest finite ``monitor`` value, or ``None``."""
        values = self.history.get(self.monitor, [])
        finite = [(v, i) for i, v in enumerate(values) if _finite(v)]
        if not finite:
            return None
        return self.epochs[min(finite)[1]]

    def on_train_begin(self, logs=None):
        self.history = {}
        self.epochs = []
        self.stopped_epoch = None
        self._display = None  # a new fit draws into a new output area
        self._apply_pending_state()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        row = {}
        for key, value in list(logs.items()):
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                continue
        for prefix in ("", "val_"):
            if prefix + "loss" in row:
                ppl, bits = perplexity_and_bits(row[prefix + "loss"])
                for name, value in ((prefix + "perplexity", ppl), (prefix + "bpc", bits)):
                    if name not in row:
                        row[name] = value
                        if self.add_to_logs:
                            logs[name] = value
        n = len(self.epochs)
        for key in set(self.history) | set(row):
            self.history.setdefault(key, [float("nan")] * n).append(row.get(key, float("nan")))
        self.epochs.append(int(epoch))
        if self.png_path or self.live:
            self._draw()

    def on_train_end(self, logs=None):
        if self.model is not None and getattr(self.model, "stop_training", False) and self.epochs:
            self.stopped_epoch = self.epochs[-1]
        if (self.png_path or self.live) and self.epochs:
            self._draw()
        self._clear_pending_state()

    def _draw(self):
        fig = self.plot()
        if self.png_path:
            directory = os.path.dirname(self.png_path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            fig.savefig(self.png_path, dpi=100)
        if self.live and "IPython" in sys.modules:
            from IPython import display

            if self._display is None:
                self._display = display.display(fig, display_id=True)
            else:
                self._display.update(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)  # drawn again every epoch: saved or displayed above, not kept open

    def plot(self, *, metric="loss", ax=None):
        """Draws this run's curves (see :func:`plot_history`) and returns the Figure.

        Example:

        >>> fig = monitor.plot(metric="bpc")
        """
        from regkeras.plotting import plot_history

        return plot_history({self.title or "": self}, metric=metric, ax=ax, title=self.title,
                            monitor=self.monitor)

    def get_state(self):
        return {"history": self.history, "epochs": self.epochs}, []

    def _apply_state(self, state, arrays):
        self.history = {k: [float(v) for v in vals] for k, vals in state["history"].items()}
        self.epochs = [int(e) for e in state["epochs"]]


def training_callbacks(
    *,
    monitor="val_loss",
    patience=5,
    min_delta=0.0,
    start_from_epoch=0,
    checkpoint_path=None,
    backup_dir=None,
    terminate_on_nan=True,
    training_monitor=True,
    png_path=None,
    live=False,
    tensorboard_dir=None,
    verbose=0,
):
    """The checklist's callbacks in one call: stop early, keep the best, resume, watch.

    Returns, in this order (the order matters: the monitor adds perplexity/bpc to the logs
    before the others read them; the backup runs last so it saves everyone's state):

    1. ``keras.callbacks.TerminateOnNaN`` (if ``terminate_on_nan``);
    2. :class:`TrainingMonitor` (if ``training_monitor``; pass an instance to reuse one);
    3. :class:`BestWeightsEarlyStopping` ``(monitor, patience)`` with best weights restored;
    4. :class:`BestModelCheckpoint` (if ``checkpoint_path``);
    5. ``keras.callbacks.TensorBoard`` (if ``tensorboard_dir``);
    6. :class:`ResumableBackupAndRestore` (if ``backup_dir``) holding the state of 2-4.

    Args:
        monitor: Quantity to watch. Default ``"val_loss"``.
        patience: Early-stopping patience in epochs (notes: 5-10). ``None`` leaves early
            stopping out.
        min_delta: Smallest improvement that counts.
        start_from_epoch: Warm-up epochs during which training is not stopped.
        checkpoint_path: Best-model file (``.keras`` or ``.weights.h5``), or ``None``.
        backup_dir: Folder that makes an interrupted ``fit`` resumable, or ``None``.
        terminate_on_nan: Stop on a NaN/inf training loss. Default ``True``.
        training_monitor: ``True``, ``False`` or a :class:`TrainingMonitor` instance.
        png_path: Passed to the TrainingMonitor.
        live: Passed to the TrainingMonitor.
        tensorboard_dir: Log folder for TensorBoard, or ``None``.
        verbose: Passed to early stopping and checkpoint.

    Returns:
        A list of callbacks for ``model.fit(..., callbacks=...)``; find one with
        :func:`get_callback`.

    Example:

    >>> callbacks = training_callbacks(patience=5, checkpoint_path="best.keras",
    ...                                backup_dir="backup/")
    >>> model.fit(train_ds, validation_data=val_ds, epochs=50, callbacks=callbacks)
    >>> get_callback(callbacks, TrainingMonitor).plot()
    """
    _check_monitor(monitor)
    if patience is not None:
        patience = check_int("patience", patience, minimum=0)
    verbose = check_int("verbose", verbose, minimum=0)
    for name, flag in (("terminate_on_nan", terminate_on_nan), ("live", live)):
        if not isinstance(flag, bool):
            raise TypeError(message(name, "True or False", flag))
    if not (isinstance(training_monitor, (bool, TrainingMonitor))):
        raise TypeError(message("training_monitor", "True, False or a TrainingMonitor",
                                training_monitor))
    if training_monitor is not True and (png_path is not None or live):
        raise ValueError(
            "`png_path` and `live` configure the TrainingMonitor that training_callbacks "
            "creates; they need training_monitor=True (pass them to your own TrainingMonitor "
            f"instead). Received: training_monitor={training_monitor!r}"
        )
    callbacks = []
    stateful = []
    if terminate_on_nan:
        callbacks.append(keras.callbacks.TerminateOnNaN())
    if training_monitor is not False:
        mon = (training_monitor if isinstance(training_monitor, TrainingMonitor)
               else TrainingMonitor(monitor, png_path=png_path, live=live))
        callbacks.append(mon)
        stateful.append(mon)
    if patience is not None:
        stop = BestWeightsEarlyStopping(monitor=monitor, patience=patience, min_delta=min_delta,
                                        start_from_epoch=start_from_epoch, verbose=verbose)
        callbacks.append(stop)
        stateful.append(stop)
    if checkpoint_path is not None:
        ckpt = BestModelCheckpoint(checkpoint_path, monitor=monitor, verbose=verbose)
        callbacks.append(ckpt)
        stateful.append(ckpt)
    if tensorboard_dir is not None:
        if not isinstance(tensorboard_dir, (str, os.PathLike)):
            raise TypeError(message("tensorboard_dir", "a path or None", tensorboard_dir))
        if importlib.util.find_spec("tensorboard") is None:
            raise ImportError(
                "`tensorboard_dir` needs the tensorboard package: pip install tensorboard"
            )
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.fspath(tensorboard_dir)))
    if backup_dir is not None:
        callbacks.append(ResumableBackupAndRestore(backup_dir, state_callbacks=stateful))
    return callbacks


def get_callback(callbacks, cls):
    """The first callback of type ``cls`` in a list, e.g. from :func:`training_callbacks`.

    Args:
        callbacks: A list of callbacks.
        cls: The class to look for.

    Returns:
        The callback.

    Raises:
        LookupError: when there is none.

    Example:

    >>> get_callback(training_callbacks(), BestWeightsEarlyStopping).patience
    5
    """
    if not isinstance(cls, type):
        raise TypeError(message("cls", "a class", cls))
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(message("callbacks", "a list of callbacks", callbacks))
    for cb in callbacks:
        if isinstance(cb, cls):
            return cb
    raise LookupError(f"No {cls.__name__} among the callbacks.")


# plot_history lives in regkeras.plotting; the old address keeps working.
from regkeras.plotting import plot_history  # noqa: E402,F401
