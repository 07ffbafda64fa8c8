"""Read the built docs site as a person would: headless Chromium opens it, follows the navigation, and renders
pages. Skipped when Chromium (Debian's `chromium`) or the built site (`bash scripts/build_docs.sh` -> `_site/`) is
absent. The layout and path tests below build what they need themselves (one page, one tiny notebook)."""
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
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
needs_site = pytest.mark.skipif(not (SITE / "index.html").exists(), reason="the docs site is not built (bash scripts/build_docs.sh)")
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


@needs_chromium
@needs_site
def test_navigation_reaches_every_part_of_the_site():
    pages = nav_pages()
    assert any(p.startswith("guides/") and "getting_started" in p for p in pages), pages
    assert any("concepts" in p for p in pages) and any("compose" in p for p in pages)
    assert any("write_a_plugin" in p for p in pages) and any(p.startswith("plugins/") for p in pages)
    assert "api/index.html" in pages
    for p in pages: assert (SITE / p).exists(), p


@needs_chromium
@needs_site
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


@needs_chromium
@needs_site
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



# ---------------------------------------------------------------- layout and build-machine paths (no full build needed)

import sys

sys.path.insert(0, str(ROOT / "docs"))
import build  # noqa: E402


def test_scrub_paths_replaces_every_machine_path():
    tmp = tempfile.gettempdir()
    cases = {f"PosixPath('{tmp}/{build.DOCS_HOME_PREFIX}x1y2/pools/pool-1.arrow')": "PosixPath('$DATACURATE_HOME/pools/pool-1.arrow')",
             f"wrote {tmp}/tmpab_c9/sel/selection.jsonl": "wrote /tmp/…/sel/selection.jsonl",
             f"{sys.prefix}/lib/python3.11/site-packages/t.py:3: UserWarning": "<venv>/lib/python3.11/site-packages/t.py:3: UserWarning",
             f"{ROOT}/nbs/core/03_pool.ipynb": "<repo>/nbs/core/03_pool.ipynb",
             f"<td>{tmp}/tmpq/a.json</td>": "<td>/tmp/…/a.json</td>",
             "/tmpish/x and /tmp stay": "/tmpish/x and /tmp stay"}
    for text, expected in cases.items(): assert build.scrub_paths(text) == expected, text


def test_built_notebook_pages_carry_no_machine_paths(tmp_path):
    "A tiny notebook that prints temporary, home, checkout and venv paths, executed and processed as the build does."
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Paths"),
                nbformat.v4.new_code_cell("import os, sys, tempfile\nfrom pathlib import Path\n"
                                          "print(os.environ['DATACURATE_HOME']); print(tempfile.mkdtemp())\n"
                                          "print(sys.prefix, Path.cwd())\nPath(os.environ['DATACURATE_HOME']) / 'pools'"),
                nbformat.v4.new_code_cell("import warnings; warnings.warn(f'look at {tempfile.mkdtemp()}/x')")]
    path = tmp_path / "paths.ipynb"
    nbformat.write(nb, path)
    rec = build.execute_notebook(str(path), timeout=300, threads=1)
    assert rec["error"] is None, rec["error"]
    raw = rec["nb"]
    assert tempfile.gettempdir() in raw                                   # the run itself did print such paths
    page = nbformat.writes(build.process_for_docs(raw, "run note"))
    assert not re.search(re.escape(tempfile.gettempdir()) + "/(?!…)", page)  # only the neutral /tmp/… is left
    for leaked in (str(tmp_path), sys.prefix, str(ROOT)):
        assert leaked not in page, leaked
    assert "$DATACURATE_HOME" in page and "/tmp/…" in page


def _probe_widths(site: Path, width: int = 1280) -> dict:
    page = site / "index.html"
    probe = ("<script>window.addEventListener('load', () => setTimeout(() => {const a = document.querySelector("
             "'article.bd-article'); const pre = document.querySelector('div.highlight pre'); document.body.setAttribute("
             "'data-probe', JSON.stringify({article: a.getBoundingClientRect().width, pre: pre.clientWidth}))}, 300));"
             "</script></body>")
    page.write_text(page.read_text().replace("</body>", probe, 1))
    r = chromium(f"--window-size={width},900", "--dump-dom", page.as_uri())
    m = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert m, r.stderr[-2000:]
    return json.loads(m.group(1).replace("&quot;", '"'))


@needs_chromium
def test_content_column_is_wide_at_1280px(tmp_path):
    "One page built with the site's conf.py and CSS; the article at 1280 px is measured against the theme's default."
    src = tmp_path / "src"
    src.mkdir()
    for name in ("conf.py", "_static", "_templates"):
        (shutil.copytree if (ROOT / "docs" / name).is_dir() else shutil.copy2)(ROOT / "docs" / name, src / name)
    code = "x = " + " + ".join(f"value_{i}" for i in range(60))
    (src / "index.md").write_text(f"# Width\n\nText.\n\n## Code\n\n```python\n{code}\n```\n\n## More\n\nText.\n")
    out = tmp_path / "html"
    r = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src), str(out)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    default = tmp_path / "default"
    shutil.copytree(out, default)
    (default / "_static" / "custom.css").write_text("")               # the theme as it comes
    ours, theirs = _probe_widths(out), _probe_widths(default)
    print(f"article at 1280 px: {theirs['article']:.0f} px with the theme's defaults, {ours['article']:.0f} px with ours; "
          f"code block {theirs['pre']} -> {ours['pre']} px")
    assert ours["article"] >= theirs["article"] + 50 and ours["article"] >= 0.6 * 1280
    assert ours["pre"] >= 0.55 * 1280
