"""The README's library example runs exactly as written (in a fresh folder and process)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _library_example():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The library"):]
    return re.search(r"```python\n(.+?)```", section, re.S).group(1)


def test_the_example_saves_loads_and_generates_with_its_vocabulary():
    code = _library_example()
    for needle in ("import keras", "model.save(", "load_model(", "Vocabulary.from_json(",
                   "generate_text("):
        assert needle in code, f"the README example should show {needle!r}"


@pytest.mark.slow
def test_the_readme_library_example_runs(tmp_path):
    if not os.environ.get("REGKERAS_DATA"):
        pytest.skip("needs REGKERAS_DATA (Tiny Shakespeare) or a network")
    script = tmp_path / "example.py"
    script.write_text(_library_example())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "shakespeare.keras").exists()
    assert (tmp_path / "shakespeare.vocab.json").exists()
    assert "ROMEO:" in run.stdout  # the generated text starts with its prompt
