"""Sphinx configuration of the regkeras site: the course, the guides and the API reference.

Build (the command the README gives, warnings are errors):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages that live outside ``docs/`` are brought in when the configuration is read (`bring_in_sources`),
into git-ignored folders, so they are never edited twice:

* ``chapters/NN_*.ipynb`` -> ``docs/chapters/`` (every numbered chapter, found by glob; the
  ``.py`` halves are not sources). They are rendered from their committed outputs, never
  executed (``nb_execution_mode = "off"``). The README's chapter links (``chapters/NN_*.ipynb``)
  therefore resolve from the home page, which includes the README's chapter table.
* ``benchmarks/RESULTS.md`` -> ``docs/benchmarks/RESULTS.md``.
* ``docs/api/<module>.rst``: one page per module that ``regkeras/__init__.py`` re-exports,
  listing every name of its ``__all__``.
* MathJax 3 from the npm registry (``docs/package.json``, ``npm ci`` when it is not installed
  yet) -> ``docs/_generated/static/mathjax/``: the site renders math with no CDN.

The Colab badge image of the README and the chapters is a remote picture; the site shows a local
one instead (`LocalColabBadge`), so a page makes no request outside the site.
"""

import ast
import filecmp
import os
import pathlib
import shutil
import subprocess
import sys

from docutils import nodes
from sphinx.errors import ConfigError
from sphinx.transforms import SphinxTransform

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the regkeras of this checkout, not another installed copy
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

project = "regkeras"
author = "the regkeras authors"
copyright = "2026, the regkeras authors"
release = version = "0.1.0"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

root_doc = "index"
exclude_patterns = ["_build", "_generated", "node_modules", "**/.ipynb_checkpoints", "README.md"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# The chapters are shown as committed: executing them takes about 19 CPU minutes.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# Keras-style (Google) docstrings: Args, Call arguments, Returns, Example.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Call arguments", "params_style")]
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": True}
autodoc_typehints = "signature"
# A method regkeras overrides without a docstring (`from_config`, `call`) is not given the
# Keras docstring it replaces: those are written for Keras' own reference.
autodoc_inherit_docstrings = False
autosummary_generate = False

html_theme = "sphinx_book_theme"
html_title = "regkeras"
html_static_path = ["_static", "_generated/static"]
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
html_show_sourcelink = True
# The theme reads its light/dark mode from here; left empty it logs a console error.
html_context = {"default_mode": "auto"}
mathjax_path = "mathjax/tex-mml-chtml.js"  # relative to _static: served by the site itself

MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "output/chtml.js", "a11y", "ui",
                 "adaptors", "sre")
CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _write_if_changed(path, text):
    """Write `text` to `path` through a temporary file and a rename, only if it differs (an
    unchanged file keeps its time stamp, so Sphinx does not read the page again)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _copy_if_changed(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and filecmp.cmp(source, target, shallow=False):
        return
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _mirror(sources, folder):
    """Make `folder` hold exactly copies of `sources` (stale copies of removed files go)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {source.name for source in sources}
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in names:
            stale.unlink()
    for source in sources:
        _copy_if_changed(source, folder / source.name)


def public_modules():
    """The modules whose names `regkeras/__init__.py` re-exports: its `_REEXPORTED` tuple."""
    tree = ast.parse((ROOT / "regkeras" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_REEXPORTED"
                                                for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise ConfigError("regkeras/__init__.py has no _REEXPORTED tuple: the API reference "
                      "cannot tell which modules' names are public")


def module_names(module):
    """`module.__all__`, read from the source (conf.py does not import the package)."""
    tree = ast.parse((ROOT / "regkeras" / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__"
                                                for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise ConfigError(f"regkeras/{module}.py is re-exported by regkeras/__init__.py "
                      "but has no __all__: the API reference cannot list its names")


def _kinds(module):
    """name -> 'class', 'function' or 'data', from the module's source (re-exported names
    defined elsewhere are looked up in the module they are imported from)."""
    tree = ast.parse((ROOT / "regkeras" / f"{module}.py").read_text())
    kinds = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            kinds[node.name] = "class"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kinds[node.name] = "function"
        elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                kinds.setdefault(alias.asname or alias.name, ("from", node.module, alias.name))
    return kinds


def _kind(module, name):
    kind = _kinds(module).get(name, "data")
    if isinstance(kind, tuple):
        return _kind(kind[1], kind[2])
    return kind


def api_page(module):
    names = module_names(module)
    title = f"``regkeras.{module}``"
    lines = [
        ".. This page is generated by docs/conf.py from the module's __all__; do not edit.",
        "",
        title,
        "=" * len(title),
        "",
        f".. automodule:: regkeras.{module}",
        "   :no-members:",
        "",
        f".. currentmodule:: regkeras.{module}",
        "",
        ".. autosummary::",
        "",
        *[f"   {name}" for name in names],
        "",
    ]
    for name in names:
        kind = _kind(module, name)
        if kind == "class":
            lines += [f".. autoclass:: {name}", "   :members:", ""]
        elif kind == "function":
            lines += [f".. autofunction:: {name}", ""]
        else:
            lines += [f".. autodata:: {name}", "   :no-value:", ""]
    return "\n".join(lines)


def api_index(modules):
    lines = [
        "# API reference",
        "",
        "Every public name of `regkeras`, by the module that defines it. Each is also available",
        "at the top level (`regkeras.LayerNormLSTM` is `regkeras.normalization.LayerNormLSTM`).",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
        *modules,
        "```",
        "",
    ]
    return "\n".join(lines)


def install_mathjax():
    """MathJax from the npm registry into docs/node_modules (`npm ci`, the versions of
    docs/package-lock.json), once; then the parts the site loads into the static folder."""
    package = DOCS / "node_modules" / "mathjax" / "es5"
    if not (package / "tex-mml-chtml.js").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise ConfigError("the site serves MathJax itself and installs it with npm, "
                              "which is not on PATH: install Node.js and npm")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=DOCS, check=True)
    target = DOCS / "_generated" / "static" / "mathjax"
    stamp = target / ".complete"
    if stamp.exists():
        return
    if target.exists():
        shutil.rmtree(target)
    tmp = target.with_name("mathjax.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    for part in MATHJAX_PARTS:
        source = package / part
        if source.is_dir():
            shutil.copytree(source, tmp / part)
        else:
            (tmp / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / part)
    (tmp / ".complete").write_text("")
    os.replace(tmp, target)


def bring_in_sources(app, config):
    chapters = sorted((ROOT / "chapters").glob(CHAPTER_GLOB))
    if not chapters:
        raise ConfigError(f"no chapters/{CHAPTER_GLOB} found")
    _mirror(chapters, DOCS / "chapters")
    _mirror([ROOT / "benchmarks" / "RESULTS.md"], DOCS / "benchmarks")
    modules = public_modules()
    for stale in (DOCS / "api").glob("*.rst"):
        if stale.stem not in modules:
            stale.unlink()
    for module in modules:
        _write_if_changed(DOCS / "api" / f"{module}.rst", api_page(module))
    _write_if_changed(DOCS / "api" / "index.md", api_index(modules))
    install_mathjax()


class LocalColabBadge(SphinxTransform):
    """Show the site's own "Open in Colab" picture instead of the remote one (the link
    stays): the site is read offline, and a page should make no request outside it."""

    default_priority = 100

    def apply(self, **kwargs):
        for image in self.document.findall(nodes.image):
            if image.get("uri", "").startswith(COLAB_BADGE):
                image["uri"] = "/_static/colab-badge.svg"


def setup(app):
    # Before Sphinx checks html_static_path (config-inited, priority 800) and finds the sources.
    app.connect("config-inited", bring_in_sources, priority=400)
    app.add_transform(LocalColabBadge)
    return {"parallel_read_safe": True}
