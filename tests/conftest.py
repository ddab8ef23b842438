"""Shared test setup: quiet TensorFlow, seeded Keras, the data directory for real corpora."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from a fresh Keras session (layer names restart) and the same seed."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    yield


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
                np.testing.assert_allclose(model(x), expected, rtol=1e-6, atol=1e-6)
                print("ok", name, type(model.layers[1]).__name__)
            """
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    return check
