"""Layers copied into another project work without regkeras installed.

Each public layer's docstring names the files it needs ("Standalone: copy ..."). This test
copies exactly those files into a package folder of a fresh project, blocks every import of
`regkeras` in a new interpreter, and there builds the layer, calls it in training and
inference, and round-trips it through a `.keras` file.
"""

import json
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

import regkeras as rk

ROOT = pathlib.Path(__file__).resolve().parents[1]

# name -> (module, constructor call, input built from numpy `np`)
LAYERS = {
    "LockedDropout": ("dropout", "LockedDropout(0.5, seed=1)", "np.ones((2, 5, 3), 'float32')"),
    "EmbeddingDropout": ("dropout", "EmbeddingDropout(9, 4, rate=0.2, seed=1)",
                         "np.arange(10).reshape(2, 5) % 9"),
    "ActivationRegularization": ("regularizers", "ActivationRegularization(ar=2.0, tar=1.0)",
                                 "np.ones((2, 5, 3), 'float32')"),
    "ProjectedLSTM": ("recurrent", "ProjectedLSTM(4, dropout=0.1, return_sequences=True)",
                      "np.ones((2, 5, 3), 'float32')"),
    "WeightDropLSTM": ("recurrent", "WeightDropLSTM(4, weight_dropout=0.5, seed=1)",
                       "np.ones((2, 5, 3), 'float32')"),
    "ZoneoutLSTM": ("recurrent", "ZoneoutLSTM(4, zoneout_c=0.5, zoneout_h=0.05, seed=1)",
                    "np.ones((2, 5, 3), 'float32')"),
    "LayerNormLSTM": ("normalization", "LayerNormLSTM(4, return_sequences=True)",
                      "np.ones((2, 5, 3), 'float32')"),
}

_BLOCK_REGKERAS = """
import importlib.abc, sys
class _NoRegkeras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "regkeras" or name.startswith("regkeras."):
            raise ImportError("regkeras is not installed in this project")
sys.meta_path.insert(0, _NoRegkeras())
"""


def _files_named_in_docstring(cls):
    match = re.search(r"Standalone: copy (.+?) from `regkeras/`", " ".join(cls.__doc__.split()))
    assert match, f"{cls.__name__}'s docstring does not say which files to copy"
    return re.findall(r"`([\w.]+\.py)`", match.group(1))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_copied_files_work_without_regkeras(name, tmp_path):
    module, constructor, inputs = LAYERS[name]
    files = _files_named_in_docstring(getattr(rk, name))
    assert f"{module}.py" in files
    package = tmp_path / "my_layers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for file in files:
        (package / file).write_text((ROOT / "regkeras" / file).read_text())
    script = _BLOCK_REGKERAS + textwrap.dedent(f"""
        import json
        import keras, numpy as np
        from my_layers.{module} import *
        x = {inputs}
        layer = {constructor}
        keras.utils.set_random_seed(0)
        y_train = keras.ops.convert_to_numpy(layer(x, training=True))
        y_infer = keras.ops.convert_to_numpy(layer(x, training=False))
        model = keras.Sequential([keras.Input(x.shape[1:], dtype=x.dtype), layer])
        model.save("copied.keras")
        loaded = keras.saving.load_model("copied.keras")
        y_loaded = keras.ops.convert_to_numpy(loaded(x, training=False))
        np.testing.assert_allclose(y_loaded, y_infer, rtol=1e-6, atol=1e-6)
        assert "regkeras" not in sys.modules
        loaded_type = type(loaded.layers[0]).__name__
        print(json.dumps({{"shape": list(y_train.shape), "loaded_type": loaded_type}}))
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={"PATH": "/usr/bin:/bin",
                                                      "TF_CPP_MIN_LOG_LEVEL": "3",
                                                      "KERAS_BACKEND": "tensorflow",
                                                      "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["loaded_type"] == name
    assert result["shape"][0] == 2


def test_every_public_layer_says_what_to_copy():
    for name in ("LockedDropout", "EmbeddingDropout", "ActivationRegularization",
                 "ProjectedLSTMCell", "ProjectedLSTM", "WeightDropLSTM", "ZoneoutLSTMCell",
                 "ZoneoutLSTM", "LayerNormLSTMCell", "LayerNormLSTM", "CrossEntropy",
                 "Perplexity", "BitsPerCharacter"):
        files = _files_named_in_docstring(getattr(rk, name))
        for file in files:
            source = (ROOT / "regkeras" / file).read_text()
            imported = set(re.findall(r"^from \.(\w+) import", source, re.M))
            missing = {f"{m}.py" for m in imported} - set(files)
            assert not missing, f"{name}: {file} imports {missing}, not in the copy list"
            assert not re.search(r"^(from|import) regkeras\b", source, re.M), (
                f"{file} imports regkeras absolutely: a copied file could not find it")
