"""regkeras.LanguageModelSpec and LanguageModel: one validated, serializable model description.

The spec is what `build_language_model` checks and builds; the model keeps it and saves it.
The strongest check here: for every family of switches, the spec a model carries agrees with
what its layers say (the reader that regkeras 0.1 models still need), so the two descriptions
can never drift apart.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import regkeras as rk
from regkeras.models import _spec_from_layers

VARIANTS = {
    "plain": {},
    "zaremba": {"dropout": 0.3},
    "variational_overrides": {"dropout": 0.2, "variational": True, "output_dropout": 0.4},
    "only_input": {"input_dropout": 0.2},
    "one_layer": {"units": 8, "num_layers": 1, "dropout": 0.1, "hidden_dropout": 0.5},
    "recurrent_and_embedding": {"recurrent_dropout": 0.2, "embedding_dropout": 0.1},
    "weight_drop_output_norm": {"weight_dropout": 0.5, "layer_norm": "output"},
    "layer_norm_cell": {"layer_norm": True, "dropout": 0.1},
    "zoneout_pair": {"zoneout_c": 0.5, "zoneout_h": 0.05},
    "zoneout_equal": {"zoneout_c": 0.1, "zoneout_h": 0.1},
    "zoneout_h_only": {"zoneout_h": 0.1},
    # One engine: the regularizers of the recurrence combine in one layer.
    "weight_drop_and_zoneout": {"weight_dropout": 0.3, "zoneout_c": 0.2,
                                "zoneout_h": 0.05},
    "layer_norm_cell_everything": {"layer_norm": "cell", "weight_dropout": 0.3,
                                   "zoneout_c": 0.1, "zoneout_h": 0.1,
                                   "recurrent_dropout": 0.1},
    "awd": {"dropout": 0.3, "variational": True, "embedding_dropout": 0.1, "ar": 2.0,
            "tar": 1.0, "tie_weights": True, "units": [12, 8], "l2": 1e-4},
    "gru": {"cell": "gru", "dropout": 0.1},
    "rnn_masked": {"cell": "rnn", "mask_zero": True},
    "stateful": {"stateful": True, "batch_size": 2, "seq_len": 5},
    "probabilities_keras_lstm": {"output": "probabilities", "fused_lstm": False},
}
COMMON = {"embedding_dim": 8, "units": 8, "seed": 0}


def _build(**kwargs):
    return rk.build_language_model(17, **{**COMMON, **kwargs})


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_spec_a_model_carries_agrees_with_its_layers(name):
    model = _build(**VARIANTS[name])
    assert isinstance(model, rk.LanguageModel)
    from_layers = _spec_from_layers(model)
    assert from_layers.replace(seed=model.spec.seed) == model.spec
    assert rk.describe(model) == {k: v for k, v in model.spec.builder_kwargs().items()
                                  if k not in ("seed", "name")}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_describe_rebuilds_the_same_model(name):
    model = _build(**VARIANTS[name])
    again = rk.build_language_model(**rk.describe(model), seed=0)
    assert again.spec == model.spec
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]


def test_spec_canonical_forms():
    spec = rk.LanguageModelSpec(10, units=[4, 4], input_dropout=0.2,
                                hidden_dropout=0.2, output_dropout=0.2)
    assert spec.units == (4, 4) and spec.num_layers == 2
    # Three overrides equal to each other are one dropout rate.
    assert (spec.dropout, spec.input_dropout, spec.hidden_dropout) == (0.2, None, None)
    assert spec == rk.LanguageModelSpec(10, units=4, num_layers=2, dropout=0.2)
    # variational without any dropout layer is no switch at all.
    assert rk.LanguageModelSpec(10, variational=True).variational is False
    assert rk.LanguageModelSpec(10, layer_norm=False).layer_norm is None


def test_spec_json_round_trip_and_replace():
    spec = rk.LanguageModelSpec(30, units=[16, 8], embedding_dim=8, tie_weights=True,
                                zoneout_c=0.5, zoneout_h=0.05, dropout=0.3, seed=3, name="m")
    text = spec.to_json()
    assert json.loads(text)["format"] == "regkeras.LanguageModelSpec"
    assert rk.LanguageModelSpec.from_json(text) == spec
    assert rk.LanguageModelSpec.from_config(spec.to_config()) == spec
    wider = spec.replace(units=[32, 32, 8])
    assert wider.num_layers == 3 and spec.num_layers == 2
    with pytest.raises(TypeError, match="no field"):
        spec.replace(hiden_dropout=0.1)
    with pytest.raises(ValueError, match="Unknown LanguageModelSpec field"):
        rk.LanguageModelSpec.from_config({**spec.to_config(), "bogus": 1})
    with pytest.raises(ValueError, match="Not a LanguageModelSpec"):
        rk.LanguageModelSpec.from_json('{"vocab_size": 3}')
    with pytest.raises(ValueError, match="Not a LanguageModelSpec"):
        rk.LanguageModelSpec.from_json("not json")


@pytest.mark.parametrize("kwargs, exception, text", [
    ({"dropout": 1.0}, ValueError, "`dropout` must be a float in [0, 1). Received: dropout=1.0"),
    ({"dropout": "0.1"}, TypeError, "`dropout` must be a float in [0, 1)"),
    ({"units": []}, ValueError, "`units` must be a positive integer or a non-empty list"),
    ({"units": [4, 0]}, ValueError, "`units` must be a positive integer. Received: units=0"),
    ({"cell": "lstmx"}, ValueError, "`cell` must be one of 'lstm', 'gru', 'rnn'"),
    ({"zoneout_c": 1.0}, ValueError, "`zoneout_c` must be a float in [0, 1)"),
    ({"zoneout_h": (0.1, 0.2)}, TypeError, "`zoneout_h` must be a float in [0, 1)"),
    ({"cell": "gru", "zoneout_h": 0.1}, ValueError, "`zoneout_h` need(s) cell='lstm'"),
    ({"cell": "gru", "layer_norm": "cell"}, ValueError, "need(s) cell='lstm'"),
    ({"stateful": True}, ValueError, "`stateful=True` needs a fixed `batch_size`"),
    ({"tie_weights": True, "units": 5}, ValueError, "`tie_weights=True` needs"),
    ({"name": "a/b"}, ValueError, "`name` must be a non-empty string without '/'"),
    ({"seed": 2 ** 70}, ValueError, "`seed` must be an integer in [0, 4294967295] or None"),
    ({"fused_lstm": "yes"}, ValueError, "`fused_lstm` must be 'auto', True or False"),
])
def test_spec_errors_follow_the_one_rule(kwargs, exception, text):
    with pytest.raises(exception) as info:
        rk.LanguageModelSpec(12, embedding_dim=4, **kwargs)
    assert type(info.value) is exception and text in str(info.value)


def test_language_model_saves_and_loads_its_spec_in_a_fresh_process(tmp_path):
    model = _build(**VARIANTS["awd"])
    ids = np.random.default_rng(0).integers(1, 17, size=(2, 6)).astype("int32")
    expected = keras.ops.convert_to_numpy(model(ids, training=False))
    path = tmp_path / "awd.keras"
    model.save(path)
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "expected.npy", expected)
    code = (
        "import sys, json, numpy as np, keras, regkeras as rk\n"
        f"m = keras.saving.load_model({str(path)!r})\n"
        f"ids = np.load({str(tmp_path / 'ids.npy')!r})\n"
        f"exp = np.load({str(tmp_path / 'expected.npy')!r})\n"
        "np.testing.assert_allclose(keras.ops.convert_to_numpy(m(ids, training=False)), exp,"
        " rtol=1e-6, atol=1e-6)\n"
        "print(json.dumps({'type': type(m).__name__, 'spec': m.spec.to_config()}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["type"] == "LanguageModel"
    assert rk.LanguageModelSpec.from_config(result["spec"]) == model.spec


def test_language_model_rejects_what_is_not_a_spec():
    with pytest.raises(TypeError, match="`spec` must be a regkeras.LanguageModelSpec"):
        rk.LanguageModel("lstm")


def test_recurrence_regularizers_combine_in_one_layer():
    model = _build(layer_norm="cell", weight_dropout=0.3, zoneout_c=0.2, zoneout_h=0.05)
    layer = model.get_layer("rnn_1")
    assert isinstance(layer, rk.LayerNormLSTM)
    assert (layer.weight_dropout, layer.zoneout_c, layer.zoneout_h) == (0.3, 0.2, 0.05)
    assert layer.fused_unsupported_reason() is None
    assert model.spec.text() == "weight drop 0.3 + layer norm (cell) + zoneout 0.2/0.05"


# --- the former `zoneout` argument ----------------------------------------------------------

ZONEOUT_WARNING = "`zoneout` is now `zoneout_c` and `zoneout_h`"


@pytest.mark.parametrize("zoneout, rates", [(0.1, (0.1, 0.1)), ((0.5, 0.05), (0.5, 0.05)),
                                            ([0.3, 0.0], (0.3, 0.0))])
def test_the_former_zoneout_still_works_with_a_warning_that_names_the_replacement(zoneout,
                                                                                   rates):
    current = rk.LanguageModelSpec(10, zoneout_c=rates[0], zoneout_h=rates[1])
    with pytest.warns(DeprecationWarning, match=ZONEOUT_WARNING) as record:
        spec = rk.LanguageModelSpec(10, zoneout=zoneout)
    assert record[0].filename == __file__  # the warning points at the user's line
    assert spec == current
    with pytest.warns(DeprecationWarning, match=ZONEOUT_WARNING) as record:
        model = rk.build_language_model(10, embedding_dim=4, units=4, zoneout=zoneout)
    assert record[0].filename == __file__
    assert model.spec == current.replace(embedding_dim=4, units=4)
    with pytest.warns(DeprecationWarning, match=ZONEOUT_WARNING):
        assert rk.LanguageModelSpec(10).replace(zoneout=zoneout) == current
    with pytest.warns(DeprecationWarning, match=ZONEOUT_WARNING):
        assert spec.zoneout == rates  # the former field, read


def test_the_former_zoneout_and_its_replacement_together_are_an_error():
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="not both"):
        rk.LanguageModelSpec(10, zoneout=0.1, zoneout_c=0.2)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="not both"):
        rk.build_language_model(10, zoneout=0.1, zoneout_h=0.2)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="`zoneout` must"):
        rk.LanguageModelSpec(10, zoneout=(0.1, 0.2, 0.3))


def test_a_saved_spec_or_config_with_the_former_zoneout_loads_silently():
    import warnings

    from regkeras.experiments import ExperimentConfig

    old = {**rk.LanguageModelSpec(10).to_config(), "zoneout": [0.5, 0.05]}
    del old["zoneout_c"], old["zoneout_h"]
    payload = {"format": "regkeras.ExperimentConfig", "name": "z",
               "model": {"zoneout": 0.2, "weight_drop": 0.1}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = rk.LanguageModelSpec.from_config(old)
        config = ExperimentConfig.from_json(json.dumps(payload))
    assert (spec.zoneout_c, spec.zoneout_h) == (0.5, 0.05)
    assert config.model == {"zoneout_c": 0.2, "zoneout_h": 0.2, "weight_dropout": 0.1}
