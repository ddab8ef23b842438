"""regkeras: regularizing recurrent language models in Keras 3.

The layer library of the regkeras course. Every public layer is a plain Keras 3 layer,
registered for `.keras` serialization under the package name ``"regkeras"``, so importing
this package is all a saved model needs to load (``keras.saving.load_model(path)``).

Importing the package needs Keras and its backend only: TensorFlow itself is imported where
a function needs it (``tf.data`` pipelines, ``distribute``), so on JAX or PyTorch
``import regkeras`` leaves TensorFlow unloaded.
"""

import importlib
import importlib.util
import os
import sys

# Keras 3 with TensorFlow is the default backend; respect an explicit choice.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

# Every submodule, in import order; the names each one lists in `__all__` are also top-level
# names (``regkeras.LayerNormLSTM``). Later modules win a clash (``plotting.plot_history`` is
# ``callbacks.plot_history``).
_SUBMODULES = ("validation", "files", "datasets", "data", "metrics", "engine", "fused", "spec",
               "dropout", "normalization", "recurrent", "regularizers", "models", "optimizers",
               "callbacks", "plotting", "diagnosis", "generation", "experiments", "tuning",
               "distribute")
_REEXPORTED = ("datasets", "data", "metrics", "engine", "dropout", "normalization", "recurrent",
               "regularizers", "spec", "models", "optimizers", "callbacks", "diagnosis",
               "generation", "experiments", "tuning", "distribute")


def _import_all():
    """Imports every submodule (so every layer is registered) and binds the public names."""
    names = globals()
    public_names = ["__version__", *_SUBMODULES]
    for module_name in _SUBMODULES:
        names[module_name] = importlib.import_module(f"{__name__}.{module_name}")
    for module_name in _REEXPORTED:
        module = names[module_name]
        for public in module.__all__:
            names[public] = getattr(module, public)
            public_names.append(public)
    names["__all__"] = list(dict.fromkeys(public_names))
    names.pop("__getattr__", None)


def _starting_the_command_line():
    """True while ``python -m regkeras ...`` or the ``regkeras`` console script starts.

    The command line defers the imports (and so TensorFlow's few seconds of start-up) until
    its arguments are parsed, so that ``--help`` and ``--version`` answer at once; it then
    calls `_import_all` itself. Any attribute read before that imports everything too.
    """
    argv = list(getattr(sys, "orig_argv", ()))[1:]
    while argv and argv[0].startswith("-"):  # the interpreter's own options, up to -m or -c
        option = argv.pop(0)
        if option == "-m":
            return argv[:1] == [__name__]
        if option == f"-m{__name__}":
            return True
        if option.startswith("-c"):
            return False
        if option in ("-X", "-W") and argv:  # options that take the next word
            argv.pop(0)
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    return os.path.splitext(script)[0] == __name__


if _starting_the_command_line():

    def __getattr__(name):
        if name.startswith("__") and name != "__all__":
            raise AttributeError(name)
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            # A submodule (`from regkeras import files` inside a module being imported):
            # that module alone, or the imports would go round in a circle.
            return importlib.import_module(f"{__name__}.{name}")
        _import_all()
        try:
            return globals()[name]
        except KeyError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

else:
    _import_all()
