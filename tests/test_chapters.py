"""What a reader meets: every figure in the committed notebooks, `.py` halves that run as
scripts, and a Colab setup that installs what the chapter imports.

The figure check is the one `tools/chapters.py` applies when it executes a chapter for
committing: a code cell that creates N figures (pyplot's constructors and the library's
plotting helpers) must hold at least N `image/png` outputs, and no cell may print a figure's
text repr (`<Figure size ...>`), which is what an execution under `MPLBACKEND=Agg` commits.
"""

import ast
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))


def _load_tool():
    spec = importlib.util.spec_from_file_location("chapters_tool", ROOT / "tools" / "chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _notebook(cells):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def test_figure_check_catches_a_missing_picture():
    """The check must be able to fail: a plotting cell without its image, a figure repr."""
    nbformat = pytest.importorskip("nbformat")
    plotting = nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()")
    assert tool.figures_drawn(plotting.source) == 1
    assert tool.figure_problems(_notebook([plotting]))  # no output at all
    plotting.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "<Figure size 640x480 with 1 Axes>"}, execution_count=1)]
    problems = tool.figure_problems(_notebook([plotting]))
    assert any("Figure size" in p for p in problems)
    plotting.outputs = [nbformat.v4.new_output("display_data", {"image/png": "iVBORw0KGgo=",
                                                               "text/plain": "<Figure>"})]
    assert tool.figure_problems(_notebook([plotting])) == []


@pytest.mark.parametrize("source, drawn", [
    ("fig = regkeras.plot_history(h)\nplt.show()", 1),
    ("fig = comparison.plot()\nplt.show()", 1),
    ("fig = seed_runs.plot(metric='bpc')", 1),
    ("ax.plot(x, y)  # on an existing figure", 0),
    ("# fig, ax = plt.subplots()  commented out\nprint(1)", 0),
    ("fig1, a = plt.subplots()\nfig2 = plt.figure()", 2),
    ("fig, (a, b) = plt.subplots(1, 2)\nablation.plot(ax=a)\nablation.plot(ax=b)", 1),
])
def test_figures_drawn_counts_figure_constructors(source, drawn):
    assert tool.figures_drawn(source) == drawn


@pytest.mark.parametrize("py_path", CHAPTERS, ids=lambda p: p.name)
def test_committed_chapter_shows_every_figure(py_path):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(py_path.with_suffix(".ipynb"), as_version=4)
    drawn = sum(tool.figures_drawn(c.source) for c in notebook.cells if c.cell_type == "code")
    assert drawn >= 1, f"{py_path.name} draws no figure: every chapter shows its experiment"
    problems = tool.figure_problems(notebook)
    assert not problems, (
        f"{py_path.with_suffix('.ipynb').name}: " + "; ".join(problems)
        + " -- execute it with `python tools/chapters.py execute` (inline backend)")


@pytest.mark.parametrize("py_path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_script_is_valid_python(py_path):
    ast.parse(py_path.read_text(), filename=str(py_path))


def _third_party_imports(source):
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


def _course_requirements():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["course"]
    return {re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower().replace("-", "_")
            for spec in specs}


# Imported under another name than the distribution installs (or installed with another).
_IMPORT_NAMES = {"keras_tuner": "keras_tuner", "IPython": "ipykernel"}


@pytest.mark.parametrize("py_path", CHAPTERS, ids=lambda p: p.name)
def test_colab_setup_installs_what_the_chapter_imports(py_path):
    source = py_path.read_text()
    assert re.search(r'"google\.colab" in sys\.modules', source), "no Colab setup block"
    assert "regkeras[course]" in source, "the Colab setup must install regkeras[course]"
    provided = _course_requirements() | {"regkeras"}
    missing = sorted(name for name in _third_party_imports(source)
                     if _IMPORT_NAMES.get(name, name).lower() not in provided)
    assert not missing, f"{py_path.name} imports {missing}, which regkeras[course] does not install"


# Running every chapter a second time as a script would double the chapters' share of CI
# (about 25 minutes on 2 cores). CI runs the two cheapest in full; the static check below
# covers what makes a script differ from its notebook in all of them; REGKERAS_SCRIPT_TESTS=all
# runs every chapter as a script (done for each chapter before it is committed).
_SCRIPTS_IN_CI = {"00_memorization_trap.py", "04_early_stopping.py"}
_IPYTHON_ONLY = re.compile(r"^\s*[%!]|^\s*await\b|\bget_ipython\(", re.M)


@pytest.mark.parametrize("py_path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_script_uses_nothing_ipython_only(py_path):
    code = "\n".join(line for line in py_path.read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    assert not _IPYTHON_ONLY.search(code), f"{py_path.name} uses IPython-only syntax"
    tree = ast.parse(code)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    assert "display" not in names or "display" in imported, f"{py_path.name}: display() unimported"


@pytest.mark.slow
@pytest.mark.parametrize("py_path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_runs_as_a_plain_script(py_path, tmp_path):
    """`python chapters/NN_x.py` from any folder: the `.py` half is a program, not only a
    notebook's source (figures go to the non-interactive Agg backend)."""
    if py_path.name not in _SCRIPTS_IN_CI and os.environ.get("REGKERAS_SCRIPT_TESTS") != "all":
        pytest.skip("runs with REGKERAS_SCRIPT_TESTS=all (CI runs "
                    f"{sorted(_SCRIPTS_IN_CI)} as scripts)")
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, str(py_path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"{py_path.name} failed as a script:\n{run.stderr[-3000:]}"
