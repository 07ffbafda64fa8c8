"""Execute every notebook under nbs/ (core and plugins) as a test: the notebooks are the docs and the tests."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                   and not any(part.startswith("_") for part in p.relative_to(ROOT / "nbs").parts))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "nbs")) for p in NOTEBOOKS])
def test_notebook_runs(nb, monkeypatch, tmp_path):
    from nbdev.test import test_nb
    monkeypatch.setenv("IN_TEST", "1")  # nbdev convention: export cells do not write files while testing
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(nb.parent)
    ok, secs = test_nb(nb, skip_flags=["slow", "gpu"], do_print=False, showerr=True, basepath=str(ROOT))
    assert ok, f"notebook {nb.relative_to(ROOT)} failed (see the error above)"
