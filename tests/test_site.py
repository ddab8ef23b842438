"""The course's website: built with the README's command, then read in a real browser.

The module builds the site once, from scratch, with the command between the README's
``site-command`` markers (warnings are errors), serves ``docs/_build/html`` from a local HTTP
server and checks it: every chapter rendered from its committed outputs with all its figures,
every public name of `regkeras` in the API reference, every internal link and anchor resolving.
The browser checks drive Debian's headless Chromium with Playwright: no console error and no
request leaving 127.0.0.1 on any page, every picture shown with a size, math typeset by the
site's own MathJax, the search page finding a layer by name; a screenshot of a chapter is kept
in ``docs/_build/html/_artifacts/``.

Without Chromium (``/usr/bin/chromium``, or ``REGKERAS_CHROMIUM``) or Playwright the browser
checks skip, unless ``REGKERAS_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which makes them fail.
"""

import functools
import html.parser
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = ROOT / "docs" / "_build"
HTML = BUILD / "html"
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = os.environ.get("REGKERAS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def site_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- site-command -->\s*```bash\n(.+?)\n```", readme, re.S)
    assert block, "README.md must hold the site's build command between site-command markers"
    return block.group(1).strip()


@pytest.fixture(scope="module")
def site():
    """Build the site from scratch (an incremental build would not repeat the warnings of
    pages it does not read again); the build's output and wall time."""
    command = site_command()
    shutil.rmtree(BUILD, ignore_errors=True)
    start = time.perf_counter()
    run = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - start
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"`{command}` failed:\n{output[-6000:]}"
    print(f"site built in {seconds:.0f} s")
    return types.SimpleNamespace(output=output, seconds=seconds)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    """The built site on 127.0.0.1, on a free port, from a thread; its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def pages():
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if not p.relative_to(HTML).parts[0].startswith("_"))


class _Anchors(html.parser.HTMLParser):
    """The ids (link targets) and the links of one page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _parse(text):
    parser = _Anchors()
    parser.feed(text)
    return parser


# ----------------------------------------------------------------- the build itself

def test_the_readme_command_builds_with_warnings_as_errors(site):
    command = site_command()
    assert "-W" in command.split() and "--keep-going" in command.split(), command
    assert "docs/_build/html" in command
    assert (HTML / "index.html").exists()
    readme = (ROOT / "README.md").read_text()
    assert "docs/_build/html/index.html" in readme, "the README links the built home page"


def test_every_chapter_has_a_page_and_the_py_halves_are_not_sources(site):
    assert CHAPTERS, "no chapters found"
    for notebook in CHAPTERS:
        assert (HTML / "chapters" / f"{notebook.stem}.html").exists(), notebook.name
    assert not list((HTML / "_sources").rglob("*.py*")), "a chapter's .py half became a page"
    for page in ("architecture", "scaling", "tuning", "benchmarks/RESULTS", "api/index"):
        assert (HTML / f"{page}.html").exists(), page


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_shows_every_committed_figure(site, notebook):
    """Rendered from the committed outputs: each `image/png` output of the notebook is a
    picture of its page (and nothing was executed to make it)."""
    cells = json.loads(notebook.read_text())["cells"]
    figures = sum("image/png" in output.get("data", {})
                  for cell in cells if cell["cell_type"] == "code"
                  for output in cell.get("outputs", []))
    page = (HTML / "chapters" / f"{notebook.stem}.html").read_text()
    shown = re.findall(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', page)
    assert len(shown) == figures, f"{notebook.name}: {figures} figures committed, {len(shown)} shown"
    assert "Open in Colab" in page or "Open In Colab" in page


def test_the_home_page_lists_every_chapter_from_the_readme(site):
    page = (HTML / "index.html").read_text()
    for notebook in CHAPTERS:
        assert f'href="chapters/{notebook.stem}.html"' in page, notebook.stem


def _public_names():
    import regkeras

    return sorted(name for name, value in vars(regkeras).items()
                  if not name.startswith("_") and not isinstance(value, types.ModuleType))


def test_the_api_reference_documents_every_public_name(site):
    from sphinx.util.inventory import InventoryFile

    with open(HTML / "objects.inv", "rb") as stream:
        inventory = InventoryFile.load(stream, "", posixpath_join)
    documented = {}
    for kind, objects in inventory.items():
        if kind.startswith("py:") and kind != "py:module":
            for full_name in objects:
                documented.setdefault(full_name.rsplit(".", 1)[-1], []).append(full_name)
    names = _public_names()
    assert len(names) > 50, names
    missing = [name for name in names
               if not any(full.startswith("regkeras.") for full in documented.get(name, []))]
    assert not missing, f"public names missing from the API reference: {missing}"


def posixpath_join(*parts):
    return "/".join(parts)


def test_the_api_reference_shows_the_docstring_examples(site):
    page = (HTML / "api" / "normalization.html").read_text()
    assert 'id="regkeras.normalization.LayerNormLSTM"' in page
    assert page.count('class="doctest') >= 3, "the layers' >>> examples are shown"
    assert "Call arguments" in page


# ----------------------------------------------------------------- over HTTP

def _fetch(url, cache):
    if url not in cache:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                cache[url] = (response.status, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            cache[url] = (error.code, "")
    return cache[url]


def test_every_internal_link_resolves(server):
    cache, broken, checked = {}, [], 0
    for page in pages():
        url = urllib.parse.urljoin(server, page)
        status, text = _fetch(url, cache)
        assert status == 200, page
        for href in set(_parse(text).links):
            target = urllib.parse.urljoin(url, href)
            if not target.startswith(server) or href == "#":
                continue  # another site (not fetched: the machine is offline), or "top"
            checked += 1
            address, _, fragment = target.partition("#")
            status, body = _fetch(address, cache)
            if status != 200:
                broken.append(f"{page}: {href} -> HTTP {status}")
            elif fragment and address.endswith(".html"):
                if urllib.parse.unquote(fragment) not in _parse(body).ids:
                    broken.append(f"{page}: {href} -> no anchor #{fragment}")
    assert checked > 200, checked
    assert not broken, "\n".join(sorted(broken)[:50])


# ----------------------------------------------------------------- in the browser

@pytest.fixture(scope="module")
def browser():
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "Playwright is not installed (pip install -r requirements.txt)"
    if reason:
        if os.environ.get("REGKERAS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"REGKERAS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, server, page_path):
    """Load one page; what went wrong on it (console errors, failed or outside requests) and
    the Playwright page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []

    def route(request_route):
        if request_route.request.url.startswith(server):
            request_route.continue_()
        else:
            problems.append(f"request outside the site: {request_route.request.url}")
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: r.url.startswith(server)
            and problems.append(f"failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400
            and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(urllib.parse.urljoin(server, page_path), wait_until="load")
    return page, problems


_TYPESET = """() => window.MathJax && MathJax.startup
    ? MathJax.startup.promise.then(() => [document.querySelectorAll('mjx-container').length,
                                         document.querySelectorAll('mjx-merror').length])
    : [0, 0]"""
_IMAGES = """() => Array.from(document.images, i =>
    [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight])"""


def _check_page(browser, server, page_path, screenshot=None):
    page, problems = _open(browser, server, page_path)
    try:
        page.wait_for_load_state("networkidle")
        source = (HTML / page_path).read_text()
        math = source.count('class="math notranslate nohighlight"')
        rendered, errors = page.evaluate(_TYPESET)
        if math:
            assert rendered >= math and not errors, (
                f"{page_path}: {math} formulas, {rendered} typeset by MathJax, {errors} errors")
        images = page.evaluate(_IMAGES)
        empty = [src for src, complete, width, height in images
                 if not (complete and width > 0 and height > 0)]
        assert not empty, f"{page_path}: pictures not shown: {empty}"
        if screenshot:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        page.wait_for_timeout(100)  # late console errors
        assert not problems, f"{page_path}:\n" + "\n".join(problems)
        return math, len(images)
    finally:
        page.context.close()


def test_every_chapter_loads_cleanly_with_its_figures_and_math(browser, server):
    math_total = 0
    for notebook in CHAPTERS:
        shot = HTML / "_artifacts" / f"{notebook.stem}.png" if notebook == CHAPTERS[0] else None
        math, images = _check_page(browser, server, f"chapters/{notebook.stem}.html", shot)
        math_total += math
        assert images >= 2, f"{notebook.stem}: {images} pictures (figures + Colab badge)"
    assert math_total > 0, "no chapter has math: the math check checked nothing"
    assert (HTML / "_artifacts" / f"{CHAPTERS[0].stem}.png").stat().st_size > 10_000


def test_every_other_page_loads_cleanly(browser, server):
    for page_path in pages():
        if not page_path.startswith("chapters/"):
            _check_page(browser, server, page_path)


def test_the_search_page_finds_a_layer_by_name(browser, server):
    page, problems = _open(browser, server, "search.html?q=LayerNormLSTM")
    try:
        hit = page.wait_for_selector("ul.search li a[href*='api/normalization']", timeout=30_000)
        assert "LayerNormLSTM" in hit.inner_text() or "normalization" in hit.inner_text()
        assert not problems, "\n".join(problems)
    finally:
        page.context.close()
