"""Execute the course's chapters for committing, and check what a reader will see.

    python tools/chapters.py execute [chapters/03_weight_decay.py ...]   # default: every chapter
    python tools/chapters.py check                                        # figures and pairs only

``execute`` reads each chapter from its ``.py`` half (the one we edit), runs it in a fresh
kernel with matplotlib's **inline** backend, and writes the executed ``.ipynb`` beside it
(written to a temporary name, then renamed: an interrupted run leaves the old notebook).
``MPLBACKEND`` is removed from the kernel's environment first: CI exports
``MPLBACKEND=Agg``, and a notebook executed under Agg commits no pictures at all
(``plt.show()`` does nothing and a figure prints as ``<Figure size ...>``).

``check`` (and every ``execute``) counts, per code cell, the figures the cell draws
(:func:`figures_drawn`) against the ``image/png`` outputs it holds; ``tests/test_chapters.py``
runs the same check on the committed notebooks, so a chapter without its pictures cannot land.
"""

from __future__ import annotations

import argparse
import ast
import os
import pathlib
import re
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTER_DIR = ROOT / "chapters"

# Calls that create a figure: pyplot's constructors and the library's plotting helpers
# (`plot_history`, `Comparison.plot`, `SeedComparison.plot`, whose objects the chapters name
# `comparison`/`ablation`/`seed_runs`/`sweep`...), unless given an existing `ax=`.
# `ax.plot(...)` draws on an existing figure: not counted.
_PYPLOT_CONSTRUCTORS = {"subplots", "figure", "subplot_mosaic"}
_LIBRARY_PLOTTERS = re.compile(r"\w*(?:comparison|ablation|seed_runs|sweep)\w*$")


def _creates_figure(call: ast.Call) -> bool:
    func = call.func
    if any(keyword.arg == "ax" for keyword in call.keywords):
        return False
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id == "plt":
            return func.attr in _PYPLOT_CONSTRUCTORS
        if func.attr == "plot_history":
            return True
        return (func.attr == "plot" and isinstance(owner, ast.Name)
                and bool(_LIBRARY_PLOTTERS.match(owner.id)))
    return isinstance(func, ast.Name) and func.id == "plot_history"


def figures_drawn(source: str) -> int:
    """How many figures a code cell's source creates (see the rules above)."""
    tree = ast.parse(source)
    return sum(1 for node in ast.walk(tree)
               if isinstance(node, ast.Call) and _creates_figure(node))


def _images(cell) -> int:
    return sum(1 for out in cell.get("outputs", []) if "image/png" in out.get("data", {}))


def _figure_reprs(cell) -> int:
    """Outputs that show a figure only as its text repr (no picture beside it)."""
    return sum(1 for out in cell.get("outputs", [])
               if "<Figure size" in str(out.get("data", {}).get("text/plain", ""))
               and "image/png" not in out.get("data", {}))


def drop_figure_text(notebook) -> None:
    """Removes the ``<Figure size ...>`` text fallback beside each picture (noise in diffs and
    in readers' views that render text too)."""
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data and "<Figure size" in str(data.get("text/plain", "")):
                del data["text/plain"]


def figure_problems(notebook) -> list[str]:
    """Cells that draw more figures than they show, or print a figure's text repr."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        drawn, shown = figures_drawn(cell.source), _images(cell)
        if shown < drawn:
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            problems.append(f"cell {index} draws {drawn} figure(s) but holds {shown} image/png "
                            f"output(s): {first[:60]!r}")
        if _figure_reprs(cell):
            problems.append(f"cell {index} prints '<Figure size ...>' instead of a picture "
                            "(executed under MPLBACKEND=Agg?)")
    return problems


def execute(py_path: pathlib.Path, timeout: int = 1800) -> float:
    """Executes one chapter from its .py half into its .ipynb; returns the wall seconds.

    A chapter that raises leaves its old notebook in place; one that runs is written even
    if its figures fail the check (``main`` reports that), so a long run is never lost."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    os.environ.pop("MPLBACKEND", None)  # the kernel inherits this environment: inline backend
    notebook = jupytext.read(py_path)
    notebook.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)",
                                                "language": "python", "name": "python3"})
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(py_path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except Exception:
        # Keep what ran, for reading the failure in context; the committed notebook stays.
        failed = pathlib.Path(tempfile.gettempdir()) / f"{py_path.stem}.failed.ipynb"
        nbformat.write(notebook, failed)
        print(f"{py_path.name} failed; the partial run is in {failed}", file=sys.stderr)
        raise
    wall = time.perf_counter() - start
    drop_figure_text(notebook)
    nb_path = py_path.with_suffix(".ipynb")
    tmp = nb_path.with_name(f".{nb_path.name}.tmp")
    nbformat.write(notebook, tmp)
    os.replace(tmp, nb_path)
    return wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("execute", "check"))
    parser.add_argument("chapters", nargs="*", type=pathlib.Path,
                        help="chapter .py files (default: every chapters/NN_*.py)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.chapters] or sorted(CHAPTER_DIR.glob("[0-9][0-9]_*.py"))
    failed = False
    for path in paths:
        path = path.with_suffix(".py")
        if args.command == "execute":
            wall = execute(path)
            cpu = os.times()
            print(f"{path.name}: executed in {wall:.0f} s wall "
                  f"(kernel CPU not included in this process' {cpu.user + cpu.system:.0f} s)")
        import nbformat

        problems = figure_problems(nbformat.read(path.with_suffix(".ipynb"), as_version=4))
        for problem in problems:
            print(f"{path.with_suffix('.ipynb').name}: {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
