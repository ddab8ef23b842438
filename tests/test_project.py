"""Project-level checks: packaging, no tf.keras, README and CI agree, chapter pairs in sync."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))


def test_package_imports_with_keras3_tensorflow_backend():
    code = "import regkeras, keras; print(keras.__version__, keras.backend.backend())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    version, backend = out.stdout.split()
    assert int(version.split(".")[0]) == 3
    assert backend == "tensorflow"


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_regkeras_leaves_tensorflow_unloaded_on_other_backends(backend):
    pytest.importorskip(backend)
    code = ("import sys, regkeras\n"
            "layer = regkeras.LayerNormLSTM(4)\n"  # the layers and the vocabulary need no TF
            "vocab = regkeras.build_vocabulary('abcab')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow'))\n"
            "regkeras.window_dataset(list(range(40)), 4, 2)\n"  # tf.data does: loaded on use
            "print('tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": backend}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    before, after = out.stdout.splitlines()[-2:]
    assert before == "[]" and after == "True"


@pytest.mark.parametrize("orig_argv, argv, expected", [
    (["python", "-m", "regkeras", "--help"], ["-m", "--help"], True),
    (["python", "-X", "importtime", "-m", "regkeras"], ["-m"], True),
    (["python", "-mregkeras", "compare"], ["-m", "compare"], True),
    (["python", "/venv/bin/regkeras", "compare"], ["/venv/bin/regkeras", "compare"], True),
    (["python", "-m", "pytest", "tests"], ["/venv/bin/pytest", "tests"], False),
    (["python", "-c", "import regkeras"], ["-c"], False),
    (["python", "train.py", "-m", "regkeras"], ["train.py", "-m", "regkeras"], False),
])
def test_the_command_line_is_recognised_before_it_imports_tensorflow(monkeypatch, orig_argv,
                                                                       argv, expected):
    import regkeras

    monkeypatch.setattr(sys, "orig_argv", orig_argv)
    monkeypatch.setattr(sys, "argv", argv)
    assert regkeras._starting_the_command_line() is expected


def test_nothing_imports_tf_keras():
    offenders = []
    pattern = re.compile(r"\btf\.keras\b|\btf_keras\b|from tensorflow import keras|tensorflow\.keras")
    for path in [*ROOT.glob("regkeras/**/*.py"), *ROOT.glob("chapters/*.py"),
                 *ROOT.glob("benchmarks/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_code_never_names_the_shared_folder():
    for path in [*ROOT.glob("regkeras/**/*.py"), *ROOT.glob("chapters/*.py")]:
        assert "../shared" not in path.read_text(), path


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\s*```bash\n(.+?)\n```", readme, re.S)
    assert block, "README.md must hold the test command between test-command markers"
    assert "pytest" in block.group(1) and "--nbval" in block.group(1)
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_ci_runs_the_layer_tests_on_every_backend():
    """After the TensorFlow run (first, everything), the README command installs the other
    backends and runs every layer test module under KERAS_BACKEND=jax and =torch."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- test-command -->\s*```bash\n(.+?)\n```", readme, re.S).group(1)
    steps = [step.strip() for step in re.split(r"&&", command.replace("\\\n", " "))]
    assert "--nbval-lax" in steps[1] and "KERAS_BACKEND" not in steps[1]
    assert steps[2] == "python -m pip install -r requirements-backends.txt"
    assert (ROOT / "requirements-backends.txt").exists()
    layer_tests = {f"tests/test_{name}.py" for name in
                   ("dropout", "normalization", "recurrent", "regularizers", "fused")}
    assert all((ROOT / path).exists() for path in layer_tests)
    for backend, step in zip(("jax", "torch"), steps[3:]):
        assert step.startswith(f"KERAS_BACKEND={backend} python -m pytest"), step
        assert layer_tests <= set(step.split()), step


@pytest.mark.parametrize("py_path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_pair_in_sync(py_path):
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    nb_path = py_path.with_suffix(".ipynb")
    assert nb_path.exists(), f"{py_path.name} has no paired .ipynb"
    notebook = nbformat.read(nb_path, as_version=4)
    script = jupytext.read(py_path)
    pairs = [(c.cell_type, c.source.strip()) for c in notebook.cells]
    assert pairs == [(c.cell_type, c.source.strip()) for c in script.cells], (
        f"{nb_path.name} and {py_path.name} differ: run `jupytext --sync` and re-execute"
    )
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells and all(c.get("execution_count") for c in code_cells), (
        f"{nb_path.name} must be committed executed (every code cell has an execution count)"
    )


@pytest.mark.parametrize("py_path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_the_course_shape(py_path):
    text = py_path.read_text()
    assert re.search(r"^# # ", text, re.M), "an H1 title"
    assert "colab.research.google.com" in text, "an Open in Colab badge"
    assert '"google.colab" in sys.modules' in text, "a Setup that installs only in Colab"
    assert "set_random_seed" in text, "seeds set"
    assert re.search(r"^# ## Summary", text, re.M) and re.search(r"^# ## Exercises", text, re.M)
    assert re.search(r"^assert ", text, re.M), "claims checked by assertions on computed numbers"


def test_no_file_the_tests_read_is_git_ignored():
    """Test data must reach a clean clone: `*.keras` is ignored project-wide, so a model saved
    under tests/data was once left out of the commit and CI found nothing to load."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "data").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    run = subprocess.run(["git", "check-ignore", "--no-index", *files], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.stdout.split() == [], f"git ignores test data: {run.stdout.split()}"
