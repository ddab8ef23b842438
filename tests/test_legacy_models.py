"""Models saved by earlier versions keep loading, computing the same logits and describing
themselves the same way: regkeras 0.1.0 (tests/data/v0_1, made at commit fa7aeeb, which read
their switches from layer names) and the first models that keep a `LanguageModelSpec`
(tests/data/spec_1b7ebcc, made at commit 1b7ebcc, whose spec still called `weight_dropout`
`weight_drop` and kept `zoneout_c`/`zoneout_h` as one `zoneout` pair). Each folder's
make_models.py says how its files were made."""
import json
import pathlib
import warnings

import keras
import numpy as np
import pytest

import regkeras as rk

DATA = pathlib.Path(__file__).parent / "data"
VERSIONS = ("v0_1", "spec_1b7ebcc")
CASES = [(version, name) for version in VERSIONS
         for name in sorted(json.loads((DATA / version / "models.json").read_text())["models"])]


@pytest.mark.parametrize("version,name", CASES)
def test_saved_model_loads_with_same_logits_and_description(version, name):
    folder = DATA / version
    models = json.loads((folder / "models.json").read_text())["models"]
    expected = np.load(folder / "expected_logits.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # old files load without warnings
        model = keras.saving.load_model(folder / f"{name}.keras")
    logits = keras.ops.convert_to_numpy(model(expected["ids"], training=False))
    np.testing.assert_allclose(logits, expected[name], rtol=1e-5, atol=1e-5)
    assert rk.describe(model, as_text=True) == models[name]["describe"]
    if name == "weight_drop":
        assert rk.describe(model)["weight_dropout"] == 0.5
    if name == "zoneout":  # saved as zoneout=(0.5, 0.05), read under the layers' names
        found = rk.describe(model)
        assert (found["zoneout_c"], found["zoneout_h"]) == (0.5, 0.05) and "zoneout" not in found
    if version == "spec_1b7ebcc":
        assert isinstance(model, rk.LanguageModel)


def test_a_spec_saved_with_the_former_field_name_reads_as_the_current_one():
    spec = rk.LanguageModelSpec.from_json((DATA / "spec_1b7ebcc" / "spec.json").read_text())
    assert spec.weight_dropout == 0.5 and spec.dropout == 0.2
    assert (spec.zoneout_c, spec.zoneout_h) == (0.0, 0.0)
    assert "weight_drop" not in spec.to_config() and "zoneout" not in spec.to_config()


def test_the_former_builder_argument_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match="`weight_drop` is now called `weight_dropout`"):
        model = rk.build_language_model(17, units=8, weight_drop=0.5)
    assert model.spec.weight_dropout == 0.5
    with pytest.raises(TypeError, match="unexpected keyword"):
        rk.build_language_model(17, units=8, weight_dropp=0.5)
