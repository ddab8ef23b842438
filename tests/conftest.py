"""Shared test setup: quiet TensorFlow, seeded Keras, the data directory for real corpora.

The layer tests also run under the other Keras backends (``KERAS_BACKEND=jax`` or ``torch``):
`backend_gradients` differentiates on whichever backend is active, and the marker
``@pytest.mark.tensorflow_only(reason)`` skips, with its reason, a test that is about
TensorFlow itself (``tf.data``, ``tf.function``, ``tf.distribute``) on the others.
"""

import gc
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()

if BACKEND == "jax":
    # Under JAX every eager call of an RNN layer traces a fresh `lax.scan` step and compiles
    # it again (about a second each on 2 cores): the in-memory cache is keyed by the Python
    # function, which is new at every call. JAX's persistent cache is keyed by the lowered
    # program instead, so the tests' many identical small calls compile once. A temporary
    # folder per run unless JAX_COMPILATION_CACHE_DIR names one.
    import atexit
    import shutil
    import tempfile

    import jax

    if not jax.config.jax_compilation_cache_dir:
        _cache = tempfile.mkdtemp(prefix="regkeras-jax-cache-")
        atexit.register(shutil.rmtree, _cache, ignore_errors=True)
        jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "tensorflow_only(reason): a TensorFlow-specific test, skipped with `reason` under "
        "any other KERAS_BACKEND",
    )


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("tensorflow_only")
    if marker is not None and BACKEND != "tensorflow":
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        pytest.skip(f"TensorFlow only ({BACKEND} backend): {reason}")


def pytest_collection_finish(session):
    # Every test starts with keras.backend.clear_session(), whose gc.collect() walks every
    # object alive, TensorFlow's (and torch's) module graphs included: about a second per
    # test on 2 cores. What exists once collection is done lives for the whole run anyway, so
    # it is frozen out of the collector; each test then pays only for its own objects.
    gc.collect()
    gc.freeze()


def backend_gradients(fn, variables):
    """Differentiates `fn()` with respect to `variables` on the active Keras backend.

    `fn` takes no arguments and returns a scalar loss, or a pair `(loss, aux)` whose `aux`
    (any tensors computed along the way) is handed back. `variables` are built
    `keras.Variable`s (layer weights, or `keras.Variable(x)` to differentiate an input).
    TensorFlow records `fn` on a `tf.GradientTape`; JAX traces it with `jax.value_and_grad`
    inside a `keras.StatelessScope` (losses added by layers are collected, so `layer.losses`
    works inside `fn`); torch runs it eagerly and uses `torch.autograd.grad`.

    Returns `(loss, aux, grads)`: `loss` a Python float, `aux` as returned by `fn` (`None`
    without it), `grads` one NumPy array per variable, zeros where the loss does not depend
    on it.
    """
    variables = list(variables)

    def split(out):
        return tuple(out) if isinstance(out, (tuple, list)) else (out, None)

    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = split(fn())
        grads = tape.gradient(loss, variables)
    elif BACKEND == "jax":
        import jax

        def pure(values):
            mapping = list(zip(variables, values))
            with keras.StatelessScope(state_mapping=mapping, collect_losses=True):
                loss, aux = split(fn())
            return loss, aux

        (loss, aux), grads = jax.value_and_grad(pure, has_aux=True)(
            [v.value for v in variables]
        )
    elif BACKEND == "torch":
        import torch

        with torch.enable_grad():
            loss, aux = split(fn())
            grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)
    else:
        pytest.skip(f"no gradient helper for the {BACKEND} backend")
    grads = [
        np.zeros(v.shape, "float32") if g is None else keras.ops.convert_to_numpy(g)
        for v, g in zip(variables, grads)
    ]
    return float(keras.ops.convert_to_numpy(loss)), aux, grads


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from a fresh Keras session (layer names restart) and the same seed."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def gradients():
    """`backend_gradients`: `gradients(fn, variables) -> (loss, aux, grads)` on any backend."""
    return backend_gradients


BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.fixture(scope="session")
def load_benchmark():
    """`load_benchmark(name)`: the module of `benchmarks/<name>.py` (scripts, not a package)."""
    import importlib.util

    def load(name):
        spec = importlib.util.spec_from_file_location(
            f"bench_{name}", os.path.join(BENCHMARKS, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def data_dir():
    """The folder of real corpora named by REGKERAS_DATA; tests needing it skip without it."""
    path = os.environ.get("REGKERAS_DATA")
    if not path or not os.path.isdir(path):
        pytest.skip("REGKERAS_DATA is not set to a folder of corpora")
    return path


@pytest.fixture
def mixed_bfloat16():
    """Runs a test under the mixed_bfloat16 policy and always restores float32 after it."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def load_in_fresh_process():
    """Checks saved models in a new Python process that imports only regkeras.

    Call it with a folder holding ``x.npy`` and, for each name, ``<name>.keras`` and the expected
    ``<name>.npy`` (that model's output on x). Each model is loaded with ``safe_mode=True`` and
    compared; returns the process' stdout, one ``ok <name> <layers[1] class>`` line per model.
    """

    def check(folder, names):
        script = textwrap.dedent(
            f"""
            import numpy as np, keras, regkeras
            folder = {str(folder)!r}
            x = np.load(folder + "/x.npy")
            for name in {list(names)!r}:
                model = keras.saving.load_model(folder + "/" + name + ".keras", safe_mode=True)
                expected = np.load(folder + "/" + name + ".npy")
                got = keras.ops.convert_to_numpy(model(x))
                np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
                print("ok", name, type(model.layers[1]).__name__)
            """
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    return check
