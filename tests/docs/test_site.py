"""The documentation site: it builds with warnings as errors, and its pages work in a browser.

The site is built from mkdocs.yml into a temporary folder, served on 127.0.0.1 and opened in
headless Chromium; every link and image of the pages that points inside the site must answer
HTTP 200, and the API page must show the estimator's docstring as rendered by mkdocstrings.
"""

from __future__ import annotations

import functools
import html
import http.server
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "chromium"
API_PAGE = "reference.html"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A browser that closes a connection early (a cancelled prefetch) is no failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q"]
    command += ["-f", str(ROOT / "mkdocs.yml"), "-d", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _Targets(HTMLParser):
    """Collects ``<a href>`` and ``<img src>`` values of a page."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "img" and values.get("src"):
            self.images.append(values["src"])


def browser_dom(url: str, tmp_path: Path) -> str:
    """The DOM of ``url`` after loading in headless Chromium (scripts run)."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            "chromium is not installed: the docs site test needs a real browser. Install it "
            "with `apt-get install -y chromium` (.ci/run does this)."
        )
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert "</html>" in result.stdout, f"chromium did not load {url}: {result.stderr[-2000:]}"
    return result.stdout


def status_of(url: str) -> tuple[int, str]:
    """HTTP status and content type of ``url`` (errors as their status)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return error.code, ""


def broken_targets(page_url: str, dom: str) -> tuple[list[str], int]:
    """Links and images of a page inside the site that do not answer 200; and how many."""
    parser = _Targets()
    parser.feed(dom)
    site = urlsplit(page_url).netloc
    problems, checked = [], 0
    for kind, values in (("link", parser.links), ("image", parser.images)):
        for value in values:
            target, _ = urldefrag(urljoin(page_url, value))
            if urlsplit(target).netloc != site:
                continue  # outside the site (the theme's credit link)
            checked += 1
            status, content_type = status_of(target)
            if status != 200:
                problems.append(f"{kind} {value!r} -> HTTP {status}")
            elif kind == "image" and not content_type.startswith("image/"):
                problems.append(f"image {value!r} is served as {content_type}")
    return problems, checked


def test_index_in_browser_has_no_broken_link_or_image(server, tmp_path):
    url = urljoin(server, "index.html")
    dom = browser_dom(url, tmp_path)
    assert "Topological Autoencoders" in dom
    problems, checked = broken_targets(url, dom)
    assert not problems, problems
    parser = _Targets()
    parser.feed(dom)
    # The navigation reaches every page; the home page shows a picture.
    assert checked >= 15 and parser.images, (checked, parser.images)


def _documented_parameters(docstring: str) -> list[str]:
    section = docstring.split("Parameters\n----------\n", 1)[1]
    section = re.split(r"\n[A-Z][a-z]+\n-{3,}\n", section)[0]
    return re.findall(r"^(\w+) :", section, flags=re.MULTILINE)


def test_api_page_in_browser_shows_the_docstrings(server, tmp_path):
    from topoae import TopologicalAutoencoder

    url = urljoin(server, API_PAGE)
    dom = browser_dom(url, tmp_path)
    problems, _ = broken_targets(url, dom)
    assert not problems, problems
    assert 'id="topoae.TopologicalAutoencoder"' in dom
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    text = " ".join(text.split())
    docstring = inspect.getdoc(TopologicalAutoencoder)
    summary = docstring.splitlines()[0]
    assert summary in text
    parameters = _documented_parameters(docstring)
    assert {"n_components", "lam", "random_state"} <= set(parameters), parameters
    # mkdocstrings renders the numpydoc Parameters section as a table of name and description.
    for name in parameters:
        assert re.search(rf"\b{name}\b", text), f"parameter {name} missing from the API page"
    assert "Weight λ of the topological term" in text
    for anchor in ("topoae.core.topology.persistence_pairs", "topoae.metrics.evaluate"):
        assert f'id="{anchor}"' in dom, anchor


def test_every_built_page_links_inside_the_site(site, server):
    """Without a browser: each page's internal links and images resolve (the whole site)."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert {"index.html", "method.html", "cli.html", API_PAGE, "results/spheres.html"} <= set(pages)
    problems = []
    for page in pages:
        url = urljoin(server, page)
        found, _ = broken_targets(url, (site / page).read_text(encoding="utf-8"))
        problems += [f"{page}: {p}" for p in found]
    assert not problems, problems


def test_the_check_catches_a_broken_link_and_image(site, server, tmp_path):
    (site / "broken-control.html").write_text(
        '<html><body><a href="missing-page.html">x</a><img src="images/missing.png">'
        '<a href="index.html">ok</a></body></html>'
    )
    url = urljoin(server, "broken-control.html")
    try:
        problems, checked = broken_targets(url, browser_dom(url, tmp_path))
    finally:
        (site / "broken-control.html").unlink()
    assert checked == 3
    assert len(problems) == 2 and "missing-page.html" in problems[0], problems
