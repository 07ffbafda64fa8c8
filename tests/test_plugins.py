"""Plugins are discovered through entry points exactly as third-party packages are."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DATACURATE = [sys.executable, "-c", "import sys; from datacurate.cli import main; sys.exit(main())"]


def _run(args, site, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, site)), PYTHONWARNINGS="always")
    return subprocess.run(DATACURATE + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _fake_dist(site: Path, name: str, module: str, code: str | None, methods_ep: str = "plugin"):
    "Install a minimal distribution by hand: a dist-info with an entry point, and (optionally) its module."
    info = site / f"{name.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[datacurate]\n{name} = {module}\n")
    if code is not None: (site / f"{module}.py").write_text(code)


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory):
    "The toy plugin in tests/toy_plugin, installed with pip into its own folder."
    site = tmp_path_factory.mktemp("toy_site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site),
                    str(HERE / "toy_plugin")], check=True, capture_output=True, timeout=300)
    return site


def test_toy_plugin_is_listed(toy_site, tmp_path):
    r = _run(["plugins", "--json-output"], [toy_site], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = {row["method"]: row for row in json.loads(r.stdout)}
    assert rows["longest"]["distribution"] == "datacurate-toy"
    assert rows["answer_length"]["stages"] == "score"
    assert rows["balanced_random"]["distribution"] == "datacurate-random"  # bundled plugins load the same way


def test_toy_plugin_runs_in_a_recipe(toy_site, tmp_path):
    answers = ["a", "a much longer answer here", "mid answer", "the very longest answer of them all, by far"]
    with open(tmp_path / "pool.jsonl", "w") as f:
        for i, a in enumerate(answers):
            f.write(json.dumps({"instruction": f"q{i}", "output": a}) + "\n")
    (tmp_path / "recipe.toml").write_text(
        'name = "toy"\nbudget = 2\n[pool]\ndata = "pool.jsonl"\n'
        '[[steps]]\nstage = "score"\nmethod = "answer_length"\n'
        '[[steps]]\nstage = "aggregate"\nmethod = "longest"\n')
    r = _run(["select", "recipe.toml", "--output", "out"], [toy_site], tmp_path)
    assert r.returncode == 0, r.stderr
    chosen = [json.loads(line) for line in open(tmp_path / "out" / "selection.jsonl")]
    assert [c["messages"][-1]["content"] for c in chosen] == [answers[3], answers[1]]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["versions"]["methods"]["longest"]["distribution"] == "datacurate-toy"


def test_broken_plugin_warns_and_others_load(tmp_path):
    site = tmp_path / "site"
    _fake_dist(site, "datacurate-broken", "datacurate_broken_mod", "raise RuntimeError('boom at import')")
    r = _run(["plugins"], [site], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "datacurate-broken" in r.stderr and "boom at import" in r.stderr
    assert "balanced_random" in r.stdout


def test_duplicate_method_is_a_clear_error(tmp_path):
    site = tmp_path / "site"
    code = ("from datacurate.hookspecs import hookimpl\n"
            "@hookimpl\ndef register_methods(register): register('random', stages=('aggregate',))\n"
            "@hookimpl\ndef aggregate(method, budget): raise AssertionError('never called')\n")
    _fake_dist(site, "datacurate-impostor", "datacurate_impostor_mod", code)
    r = _run(["plugins"], [site], tmp_path)
    assert r.returncode == 1
    assert "'random' is claimed by two plugins" in r.stderr and "datacurate-impostor" in r.stderr
