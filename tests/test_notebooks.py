"""Execute every notebook under nbs/ (core and plugins) as a test: the notebooks are the docs and the tests.

A notebook that the docs build (`scripts/build_docs.sh`) has just executed without error, in a fresh kernel, with the
same cells and the same code under `datacurate/`, `plugins/` and `examples/` (its cache key in `_proc/exec/`), is not
run a second time: CI builds the site first and then runs this file, so each notebook runs once. Set
`DATACURATE_RERUN_NOTEBOOKS=1` to execute every notebook here regardless.
"""
import importlib.util
import os
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                   and not any(part.startswith("_") for part in p.relative_to(ROOT / "nbs").parts))


@cache
def _docs_build():
    "docs/build.py as a module (it holds the execution cache's key), or None when the file is absent."
    path = ROOT / "docs" / "build.py"
    if not path.exists(): return None
    spec = importlib.util.spec_from_file_location("datacurate_docs_build", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


@cache
def _code_fingerprint():
    return _docs_build()._code_fingerprint()


def _ran_in_docs_build(nb) -> bool:
    if os.environ.get("DATACURATE_RERUN_NOTEBOOKS") or _docs_build() is None: return False
    return _docs_build().cached_run(nb, _code_fingerprint()) is not None


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "nbs")) for p in NOTEBOOKS])
def test_notebook_runs(nb, monkeypatch, tmp_path):
    if _ran_in_docs_build(nb):
        return  # executed without error by the docs build, same cells and code (see the module docstring)
    from nbdev.test import test_nb
    monkeypatch.setenv("IN_TEST", "1")  # nbdev convention: export cells do not write files while testing
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(nb.parent)
    ok, secs = test_nb(nb, skip_flags=["slow", "gpu"], do_print=False, showerr=True, basepath=str(ROOT))
    assert ok, f"notebook {nb.relative_to(ROOT)} failed (see the error above)"
