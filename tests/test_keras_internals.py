"""Every Keras internal regkeras still relies on, in one place, so that a Keras upgrade that
moves or changes one fails here, by name, instead of somewhere deep in a training run.

Each entry has no public equivalent in Keras 3.15 (docs/architecture.md, "Keras internals
still used", says why for each); the issue that asks for public API only (#16) keeps this
list as short as Keras allows.
"""
import inspect

import keras
import pytest

import regkeras

INTERNALS = {
    # The masked, go_backwards/unroll-aware time loop of keras.layers.RNN (the step path).
    "keras.src.backend.rnn": lambda: __import__("keras.src.backend", fromlist=["rnn"]).rnn,
    # The mixin keras.layers.RNN looks for to prepare one dropout mask per sequence.
    "keras.src.layers.rnn.dropout_rnn_cell.DropoutRNNCell": lambda: __import__(
        "keras.src.layers.rnn.dropout_rnn_cell", fromlist=["DropoutRNNCell"]).DropoutRNNCell,
    # Where a tensor's Keras mask lives on every backend (for Perplexity/BitsPerCharacter).
    "keras.src.backend.get_keras_mask": lambda: __import__(
        "keras.src.backend", fromlist=["get_keras_mask"]).get_keras_mask,
    # Overridden methods: the hook each callback/optimizer extends.
    "keras.callbacks.EarlyStopping._is_improvement":
        lambda: keras.callbacks.EarlyStopping._is_improvement,
    "keras.optimizers.Optimizer._clip_gradients":
        lambda: keras.optimizers.AdamW._clip_gradients,
    # The attribute fit() reads its first epoch from after on_train_begin (set on resume).
    "keras.Model._initial_epoch": lambda: _initial_epoch_is_read_by_fit(),
}


def _initial_epoch_is_read_by_fit():
    import numpy as np

    class Skip(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model._initial_epoch = 2

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=3, verbose=0, callbacks=[Skip()])
    assert len(history.history["loss"]) == 1, "fit() no longer starts at model._initial_epoch"
    return lambda: None
SIGNATURES = {
    "keras.callbacks.EarlyStopping._is_improvement": ["self", "monitor_value", "reference_value"],
    "keras.optimizers.Optimizer._clip_gradients": ["self", "grads"],
}


@pytest.mark.parametrize("name", sorted(INTERNALS))
def test_each_keras_internal_used_still_exists_with_its_signature(name):
    obj = INTERNALS[name]()
    assert callable(obj)
    if name in SIGNATURES:
        assert list(inspect.signature(obj).parameters) == SIGNATURES[name]


def test_the_package_uses_no_other_keras_internal():
    """A new `keras.src` import or private-method override must be added to the list above."""
    import pathlib
    import re

    root = pathlib.Path(regkeras.__file__).parent
    found = set()
    for path in root.glob("*.py"):
        text = path.read_text()
        found |= {f"keras.src.{m}" for m in re.findall(r"from keras\.src\.([\w.]+) import", text)}
        found |= set(re.findall(r"super\(\)\.(_[a-z]\w*)\(", text))
    known_modules = {"keras.src.backend", "keras.src.layers.rnn.dropout_rnn_cell"}
    known_methods = {"_is_improvement", "_clip_gradients", "_get_help_string"}
    assert found <= known_modules | known_methods, sorted(found - known_modules - known_methods)


# The private Keras methods regkeras' classes override, by class (docs/architecture.md).
OVERRIDES = {
    "BestWeightsEarlyStopping": {"_is_improvement"},
    "ClipAfterReduceAdamW": {"_clip_gradients"},
}


def test_regkeras_overrides_only_the_listed_private_keras_methods():
    """Found from the classes themselves, so an override that calls no super() counts too."""
    found = {}
    for module in (regkeras.callbacks, regkeras.distribute, regkeras.optimizers):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and cls.__module__.startswith("regkeras")):
                continue
            keras_bases = [b for b in cls.__mro__ if b.__module__.startswith("keras")]
            ours = [c for c in cls.__mro__ if c.__module__.startswith("regkeras")]
            names = {name for c in ours for name in vars(c)
                     if name.startswith("_") and not name.startswith("__")
                     and any(name in vars(b) for b in keras_bases)}
            if names:
                found[cls.__name__] = names
    assert found == OVERRIDES


def test_the_backup_callback_and_the_best_checkpoint_use_public_hooks_only():
    assert not issubclass(regkeras.ResumableBackupAndRestore, keras.callbacks.BackupAndRestore)
    assert "_is_improvement" not in {name for c in regkeras.BestModelCheckpoint.__mro__
                                     if c.__module__.startswith("regkeras") for name in vars(c)}
