"""Read the built docs site as a person would: headless Chromium opens it, follows the navigation, and renders
pages. Skipped when Chromium (Debian's `chromium`) or the built site (`bash scripts/build_docs.sh` -> `_site/`) is
absent."""
import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_site"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(not (SITE / "index.html").exists(), reason="the docs site is not built (bash scripts/build_docs.sh)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=5000"]
# the script a test adds to a copy of a page: after load, record every image and whether it really decoded
PROBE = ("<script>window.addEventListener('load', () => setTimeout(() => {document.body.setAttribute('data-probe', "
         "JSON.stringify({imgs: [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth]), "
         "h1: [...document.querySelectorAll('h1')].map(h => h.textContent)}))}, 300));</script></body>")


def chromium(*args, timeout=120):
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                           timeout=timeout)
    return r


class _Nav(HTMLParser):
    "Links of the left navigation (the site's table of contents)."
    def __init__(self):
        super().__init__(); self.depth, self.links = 0, []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.depth: self.depth += tag not in ("br", "img", "input", "meta", "link")
        elif tag == "nav" and "bd-links" in (a.get("class") or ""): self.depth = 1
        if self.depth and tag == "a" and "internal" in (a.get("class") or ""): self.links.append(a["href"])
    def handle_endtag(self, tag):
        if self.depth and tag not in ("br", "img", "input", "meta", "link"): self.depth -= 1


@pytest.fixture(scope="module")
def site_copy(tmp_path_factory):
    "A copy of the site the probe script can be added to (the built site itself is left alone)."
    dst = tmp_path_factory.mktemp("site") / "site"
    shutil.copytree(SITE, dst)
    return dst


def render(site_copy, page: str) -> tuple[dict, str]:
    path = site_copy / page
    html = path.read_text()
    if "data-probe" not in html: path.write_text(html.replace("</body>", PROBE, 1))
    r = chromium("--dump-dom", path.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert m, f"{page}: the page did not finish loading in Chromium"
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return probe, r.stdout


def nav_pages():
    p = _Nav(); p.feed((SITE / "index.html").read_text())
    pages = []
    for href in p.links:
        page = href.split("#")[0]
        if page and page not in pages: pages.append(page)
    return pages


def test_navigation_reaches_every_part_of_the_site():
    pages = nav_pages()
    assert any(p.startswith("guides/") and "getting_started" in p for p in pages), pages
    assert any("concepts" in p for p in pages) and any("compose" in p for p in pages)
    assert any("write_a_plugin" in p for p in pages) and any(p.startswith("plugins/") for p in pages)
    assert "api/index.html" in pages
    for p in pages: assert (SITE / p).exists(), p


def test_every_navigation_page_renders_with_its_plots(site_copy):
    report = json.loads((ROOT / "_proc" / "site_src" / "_execution_report.json").read_text()) \
        if (ROOT / "_proc" / "site_src" / "_execution_report.json").exists() else {"notebooks": {}}
    n_plots = 0  # plots (matplotlib PNG outputs) that Chromium decoded, over all pages
    for page in nav_pages():
        probe, dom = render(site_copy, page)
        text = re.sub(r"<[^>]+>", " ", dom)
        assert probe["h1"], f"{page}: no title"
        for raw in ('"cell_type"', '"output_type"', "application/vnd.jupyter", '"image/png"', "Traceback (most recent"):
            assert raw not in text, f"{page}: raw notebook content {raw!r} shows on the page"
        broken = [src for src, w in probe["imgs"] if not w]
        assert not broken, f"{page}: images that did not load: {broken}"
        assert "Built " in text and "GPU" in text, f"{page}: no build/hardware line in the footer"
        if page.removesuffix(".html") in report["notebooks"]:
            assert "How this page was run" in text, f"{page}: no run information"
        plots = [w for src, w in probe["imgs"] if "_images/" in src]
        assert all(w > 100 for w in plots), f"{page}: plot images too small: {plots}"
        n_plots += len(plots)
    assert n_plots, "no page of the site shows a plot"


def test_screenshots_show_pages(site_copy, tmp_path):
    "A screenshot of the home page and of a page with a plot is a real page: not blank, not one colour."
    import matplotlib.image as mpimg
    import numpy as np
    plot_page = next((p for p in nav_pages() if re.search(r'<img[^>]+_images/', (SITE / p).read_text())), "index.html")
    for page in ("index.html", plot_page):
        shot = tmp_path / (page.replace("/", "_") + ".png")
        r = chromium("--window-size=1280,2000", f"--screenshot={shot}", (SITE / page).as_uri())
        assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
        img = mpimg.imread(shot)[..., :3]
        assert img.shape[0] >= 1000 and img.std() > 0.05, f"{page}: the screenshot looks blank"
        dark = (img.mean(axis=2) < 0.5).mean()
        assert 0.005 < dark < 0.6, f"{page}: {dark:.3f} of the screenshot is dark text/graphics"
