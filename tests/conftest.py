"""Shared test setup: quiet TensorFlow, seeded Keras, the data directory for real corpora."""

import os

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
