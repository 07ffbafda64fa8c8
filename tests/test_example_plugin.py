"""The example third-party plugin in examples/datacurate-keyword, installed with pip like a user would install it,
is discovered through its entry point, runs in a recipe, and passes its own tests."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "datacurate-keyword"
DATACURATE = [sys.executable, "-c", "import sys; from datacurate.cli import main; sys.exit(main())"]


def _env(site):
    return dict(os.environ, PYTHONPATH=str(site), HF_HUB_OFFLINE="1")


@pytest.fixture(scope="module")
def keyword_site(tmp_path_factory):
    "examples/datacurate-keyword installed with pip into its own folder (put on PYTHONPATH by each test)."
    site = tmp_path_factory.mktemp("keyword_site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(EXAMPLE)], check=True, capture_output=True, timeout=300)
    return site


def test_example_plugin_is_listed(keyword_site, tmp_path):
    r = subprocess.run(DATACURATE + ["plugins", "--json-output"], cwd=tmp_path, env=_env(keyword_site),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = {row["method"]: row for row in json.loads(r.stdout)}
    assert rows["keyword_hits"]["distribution"] == "datacurate-keyword" and rows["keyword_hits"]["version"] == "0.1.0"
    assert rows["keyword_top"]["stages"] == "aggregate"


def test_example_plugin_runs_in_a_recipe(keyword_site, tmp_path):
    questions = ["How do I sort a list in Python?", "What is the capital of France?",
                 "Python or Rust? Which python version?", "Explain SQL joins."]
    with open(tmp_path / "pool.jsonl", "w") as f:
        for i, q in enumerate(questions): f.write(json.dumps({"id": f"q{i}", "instruction": q, "output": "..."}) + "\n")
    (tmp_path / "recipe.toml").write_text(
        'name = "kw"\nbudget = 3\n[pool]\ndata = "pool.jsonl"\n'
        '[[steps]]\nstage = "score"\nmethod = "keyword_hits"\nparams = { keywords = ["python"] }\n'
        '[[steps]]\nstage = "aggregate"\nmethod = "keyword_top"\n')
    r = subprocess.run(DATACURATE + ["select", "recipe.toml", "--output", "out"], cwd=tmp_path, env=_env(keyword_site),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    chosen = [json.loads(line)["id"] for line in open(tmp_path / "out" / "selection.jsonl")]
    assert chosen == ["q2", "q0"]  # two hits, then one; only two records have any hit
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["versions"]["methods"]["keyword_top"]["distribution"] == "datacurate-keyword"


def test_example_plugin_own_tests_pass(keyword_site):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(EXAMPLE),
                        str(EXAMPLE / "tests")], cwd=EXAMPLE, env=_env(keyword_site), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout
