"""Models saved by regkeras 0.1.0 keep loading, computing the same logits and describing themselves
the same way (tests/data/v0_1, made by make_models.py there at commit fa7aeeb)."""
import json
import pathlib

import keras
import numpy as np
import pytest

import regkeras as rk

DATA = pathlib.Path(__file__).parent / "data" / "v0_1"
MODELS = json.loads((DATA / "models.json").read_text())["models"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_saved_model_loads_with_same_logits_and_description(name):
    expected = np.load(DATA / "expected_logits.npz")
    model = keras.saving.load_model(DATA / f"{name}.keras")
    logits = keras.ops.convert_to_numpy(model(expected["ids"], training=False))
    np.testing.assert_allclose(logits, expected[name], rtol=1e-5, atol=1e-5)
    assert rk.describe(model, as_text=True) == MODELS[name]["describe"]
