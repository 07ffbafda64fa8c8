"""Sphinx configuration of the datacurate docs site. Do not run Sphinx on `docs/` directly: `bash scripts/build_docs.sh`
executes the notebooks, generates the pages into `_proc/site_src/` (with this file) and builds `_site/`."""
import json
from pathlib import Path

project = "datacurate"
author = "datacurate developers"
copyright = "datacurate developers"
extensions = ["myst_nb", "sphinx.ext.mathjax", "sphinx_copybutton"]
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"          # docs/build.py executed every notebook already (and failed on any error)
nb_merge_streams = True
nb_output_stderr = "show"         # a cell's stderr (a warning it means to show, a CLI error) is part of the page
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_execution_report.json"]
suppress_warnings = ["mystnb.unknown_mime_type"]
html_theme = "sphinx_book_theme"
html_title = "datacurate"
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_last_updated_fmt = None
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
    "home_page_in_toc": True,
    "footer_content_items": ["copyright.html", "run-info.html"],
}
html_show_sourcelink = False
pygments_style = "default"

# Every page states where and how fast it was built: notebooks carry their own run note (inserted by
# docs/build.py); the footer of every page, notebook or not, repeats the machine and the build's execution time.
_report = json.loads((Path(__file__).parent / "_execution_report.json").read_text()) \
    if (Path(__file__).parent / "_execution_report.json").exists() else None


def _page_context(app, pagename, templatename, context, doctree):
    if not _report: return
    hw = _report["hardware"]
    where = f"{hw['cpu']} ({hw['cores']} cores), {hw.get('memory') or ''}, {hw.get('gpu')}"
    nb = _report["notebooks"].get(pagename)
    if nb: what = f"this page's notebook ran in {nb['seconds']:.1f} s"
    else: what = f"no code runs on this page; the site's notebooks ran in {_report['execution_seconds']:.0f} s in all"
    context["datacurate_run_info"] = f"Built {_report['built_at'][:10]} on {where}: {what}."


def setup(app):
    app.connect("html-page-context", _page_context)
