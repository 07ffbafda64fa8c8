"""The command line: select (--set/--budget/--seed/--dry-run, budget errors and warnings), plugins --params, cache."""
import inspect
import json
from pathlib import Path

import pytest

from datacurate.cli import main


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path / "home"))


@pytest.fixture
def recipe(tmp_path):
    with open(tmp_path / "pool.jsonl", "w") as f:
        for i in range(30):
            f.write(json.dumps({"instruction": f"see https://x.org/{i}", "output": f"a{i}", "difficulty": i % 3,
                                "license": "cc-by/4.0"}) + "\n")
    (tmp_path / "r.toml").write_text('name = "cli"\nbudget = 5\noutput = "out"\n[pool]\ndata = "pool.jsonl"\n'
                                     '[[steps]]\nstage = "aggregate"\nmethod = "random"\n')
    return tmp_path / "r.toml"


def lines(folder: Path):
    return (folder / "selection.jsonl").read_text(encoding="utf-8").splitlines()


def test_select_writes_metadata_without_escaped_slashes(recipe, capsys):
    assert main(["select", str(recipe)]) == 0
    out = recipe.parent / "out"
    rows = [json.loads(l) for l in lines(out)]
    assert len(rows) == 5 and all(r["license"] == "cc-by/4.0" and r["difficulty"] in (0, 1, 2) for r in rows)
    text = (out / "selection.jsonl").read_text(encoding="utf-8")
    assert "https://x.org/" in text and "\\/" not in text
    assert "selected 5 of 30 records" in capsys.readouterr().out


def test_select_overrides(recipe, tmp_path, capsys):
    rc = main(["select", str(recipe), "--set", "pool.limit=10", "--set", "name=\"small\"", "--budget", "50%",
               "--seed", "3", "--output", str(tmp_path / "o1")])
    assert rc == 0 and len(lines(tmp_path / "o1")) == 5                       # 50% of the 10 records kept by limit
    manifest = json.loads((tmp_path / "o1" / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["name"] == "small" and manifest["counts"]["pool"] == 10
    main(["select", str(recipe), "--set", "pool.limit=10", "--budget", "50%", "--seed", "4", "--output", str(tmp_path / "o2")])
    assert lines(tmp_path / "o1") != lines(tmp_path / "o2")                   # another seed, another sample


def test_dry_run_validates_and_loads_nothing(recipe, capsys, monkeypatch):
    import datacurate.pool as P
    monkeypatch.setattr(P, "load_pool", lambda *a, **k: pytest.fail("--dry-run must not load the pool"))
    assert main(["select", str(recipe), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out and str(recipe.parent / "pool.jsonl") in out and "steps[0]: aggregate random" in out
    assert not (recipe.parent / "out").exists()
    assert main(["select", str(recipe), "--dry-run", "--set", "steps.0.method=\"randm\""]) == 1
    assert "no installed plugin provides method 'randm'" in capsys.readouterr().err
    assert main(["select", str(recipe), "--dry-run", "--set", "pool.data=\"nope.jsonl\""]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "selects nothing"),
    (["--budget", "1%"], "rounds to 0"),                 # 1% of 30 = 0.3
    (["--set", "pool.limit=0"], "pool.limit"),
])
def test_budget_errors(recipe, capsys, args, message):
    assert main(["select", str(recipe), *args]) == 1
    assert message in capsys.readouterr().err


def test_budget_warning_is_printed(recipe, capsys, tmp_path):
    assert main(["select", str(recipe), "--budget", "100", "--output", str(tmp_path / "all")]) == 0
    captured = capsys.readouterr()
    assert "warning: budget 100 (100) is larger than the 30 records" in captured.err
    assert len(lines(tmp_path / "all")) == 30


def test_empty_pool_is_an_error(recipe, capsys):
    (recipe.parent / "bad.jsonl").write_text('{"instruction": "q"}\n')
    assert main(["select", str(recipe), "--set", "pool.data=\"bad.jsonl\"", "--set", "pool.lenient=true"]) == 1
    assert "no valid records" in capsys.readouterr().err


def test_plugins_params(capsys):
    from datacurate.plugins import get_method, methods
    assert main(["plugins", "--params", "random"]) == 0
    out = capsys.readouterr().out
    declared = getattr(get_method("random"), "params", None)
    if declared is None: assert "does not declare its parameters" in out
    else:
        for p in declared: assert p.name in out
    declaring = [m for m in methods() if getattr(get_method(m), "params", None)]
    for m in declaring[:2]:
        assert main(["plugins", "--params", m, "--json-output"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["name"] for r in rows] == [p.name for p in get_method(m).params]
    assert main(["plugins", "--params", "no-such-method"]) == 1


def test_cache_command_with_and_without_filters(capsys):
    from datacurate import cache as C
    assert main(["cache"]) == 0
    accepted = inspect.signature(C.cache_info).parameters
    for opt, value in (("--model", "m"), ("--kind", "loss"), ("--store", "features")):
        rc = main(["cache", opt, value])
        if opt[2:] in accepted: assert rc == 0
        else: assert rc == 1 and "cannot filter by" in capsys.readouterr().err   # the old signature: a clear error
    calls = []
    sig = inspect.signature(C.cache_clear).parameters
    if "store" in sig and "model" in sig:
        orig = C.cache_clear
        def fake_clear(model=None, kind=None, store=None, root=None):
            calls.append({k: v for k, v in dict(model=model, kind=kind, store=store).items() if v is not None}); return {}
        C.cache_clear = fake_clear
        try: assert main(["cache", "--clear", "--model", "m", "--store", "features"]) == 0
        finally: C.cache_clear = orig
        assert calls == [{"model": "m", "store": "features"}]           # keyword arguments only, no None filters
