"""How these files were made: with regkeras at commit 1b7ebcc (models that keep a LanguageModelSpec, whose
weight-drop field was still called `weight_drop`) (kept for the record; do not re-run
with a later version, the point is that files saved by that version keep loading)."""
import json, os, sys
import numpy as np
import keras
import regkeras as rk

out = sys.argv[1]
keras.utils.set_random_seed(0)
common = dict(embedding_dim=8, units=[12, 8], seed=0)
variants = {
    "dropout_all": dict(dropout=0.3, variational=True, recurrent_dropout=0.2, embedding_dropout=0.1,
                        ar=2.0, tar=1.0, tie_weights=True, l2=1e-4, fused_lstm=True),
    "keras_lstm": dict(dropout=0.2, fused_lstm=False),
    "weight_drop": dict(weight_drop=0.5),
    "layer_norm_cell": dict(layer_norm="cell", dropout=0.1),
    "layer_norm_output": dict(layer_norm="output"),
    "zoneout": dict(zoneout=(0.5, 0.05)),
    "gru": dict(cell="gru", dropout=0.1),
    "masked": dict(mask_zero=True, dropout=0.1),
}
ids = np.random.default_rng(0).integers(1, 17, size=(3, 9)).astype("int32")
ids[0, -3:] = 0
expected = {"ids": ids}
meta = {}
for name, kwargs in variants.items():
    kwargs = {**common, **kwargs}
    model = rk.build_language_model(17, **kwargs)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # one training step so no weight is at its initial value (gains, biases)
    model.fit(ids, np.roll(ids, -1, axis=1), epochs=1, verbose=0)
    expected[name] = keras.ops.convert_to_numpy(model(ids, training=False))
    model.save(os.path.join(out, f"{name}.keras"))
    meta[name] = {"kwargs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
                  "describe": rk.describe(model, as_text=True)}
np.savez(os.path.join(out, "expected_logits.npz"), **expected)
with open(os.path.join(out, "models.json"), "w") as f:
    json.dump({"saved_with": "regkeras at commit 1b7ebcc, keras " + keras.__version__, "models": meta}, f, indent=1)
# The JSON form of a spec (what `compare --config` and `tune`'s best_config.json hold).
with open(os.path.join(out, "spec.json"), "w") as f:
    f.write(rk.LanguageModelSpec(17, **{**common, "weight_drop": 0.5, "dropout": 0.2}).to_json())
