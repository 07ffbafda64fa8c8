"""Recipes: overrides, paths relative to the recipe, validation (dry run), pool slices, budgets, [run], step names."""
import json
import sys
import types
import warnings
from pathlib import Path

import pytest

import datacurate.recipe as R
from datacurate.recipe import Recipe, RecipeError, apply_overrides, parse_value, set_key


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path / "home"))


def write_pool(path, n=40):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"instruction": f"q{i}", "output": f"a{i}", "source": "abc"[i % 3], "level": i % 4}) + "\n")
    return path


RECIPE = '''
name = "t"
budget = 6
seed = 1
output = "out/sel"

[pool]
data = "data/pool.jsonl"

[[steps]]
stage = "aggregate"
method = "random"
'''


@pytest.fixture
def recipe_dir(tmp_path):
    d = tmp_path / "recipes"
    (d / "data").mkdir(parents=True)
    write_pool(d / "data" / "pool.jsonl")
    (d / "r.toml").write_text(RECIPE)
    return d


def test_parse_value_reads_toml_else_text():
    cases = {"3": 3, "0.5": 0.5, "true": True, '"x y"': "x y", "[1, 2]": [1, 2], "{ a = 1 }": {"a": 1},
             "mid": "mid", "5%": "5%", "data/p.jsonl": "data/p.jsonl"}
    for text, value in cases.items(): assert parse_value(text) == value, text


def test_set_key_dotted_paths():
    d = {"steps": [{"params": {}}, {"method": "x"}]}
    set_key(d, "steps.1.params.rule", "mid"); set_key(d, "pool.limit", 5); set_key(d, "steps.0.params.k", 2)
    assert d == {"steps": [{"params": {"k": 2}}, {"method": "x", "params": {"rule": "mid"}}], "pool": {"limit": 5}}
    with pytest.raises(RecipeError, match="list of 2"): set_key(d, "steps.2.method", "y")
    with pytest.raises(RecipeError, match="a value"): set_key(d, "pool.limit.x", 1)
    with pytest.raises(RecipeError, match="dotted"): set_key(d, "steps..x", 1)


def test_overrides_from_the_command_line_forms(recipe_dir):
    r = Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.limit=12", "name=\"other\""], budget="25%", seed="9")
    assert (r.budget, r.seed, r.name, r.pool["limit"]) == ("25%", 9, "other", 12)
    p = r.run()
    assert len(p.pool) == 12 and len(p.selection) == 3       # 25% of the 12 records loaded
    with pytest.raises(RecipeError, match="unknown key 'limt'.*did you mean 'limit'"):
        Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.limt=3"])


def test_output_and_pool_paths_relative_to_the_recipe(recipe_dir, tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"; elsewhere.mkdir(); monkeypatch.chdir(elsewhere)
    p = Recipe.from_toml(recipe_dir / "r.toml").run()
    assert p.output == recipe_dir / "out" / "sel" and (recipe_dir / "out" / "sel" / "selection.jsonl").exists()
    assert not (elsewhere / "out").exists()
    q = Recipe.from_toml(recipe_dir / "r.toml").run(output="here")  # an explicit output: the current folder
    assert (elsewhere / "here" / "manifest.json").exists() and q.output.resolve() == (elsewhere / "here").resolve()
    lines = (recipe_dir / "out" / "sel" / "selection.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all("level" in json.loads(l) for l in lines)  # metadata reaches the output


def test_validate_checks_everything_without_loading(recipe_dir, monkeypatch):
    import datacurate.pool as P
    monkeypatch.setattr(P, "load_pool", lambda *a, **k: pytest.fail("validate must not load the pool"))
    summary = Recipe.from_toml(recipe_dir / "r.toml").validate()
    assert summary["pool"] == [str(recipe_dir / "data" / "pool.jsonl")]
    assert summary["output"] == str(recipe_dir / "out" / "sel")
    assert [(s["stage"], s["method"]) for s in summary["steps"]] == [("aggregate", "random")]
    with pytest.raises(RecipeError, match="pool.data: no such file"):
        Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.data=data/missing.jsonl"]).validate()
    hub = Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.data=someone/dataset"]).validate()
    assert "Hub dataset" in hub["pool"][0]


@pytest.mark.parametrize("sets, message", [
    (["steps.0.stage=agregate"], "did you mean 'aggregate'"),
    (["steps.0.method=randm"], "no installed plugin provides method 'randm'"),
    (["steps.0.mehtod=random"], "did you mean 'method'"),
    (["budgt=5"], "did you mean 'budget'"),
    (["budget=0"], "selects nothing"),
    (["budget=\"five\""], "percentage"),
    (["budget=1.5"], "(0, 1]"),
    (["seed=\"x\""], "seed"),
    (["pool.format=\"openai\""], "pool.format"),
    (["pool.columns={ instrution = \"q\" }"], "did you mean 'instruction'"),
    (["pool.sample=0"], "pool.sample"),
    (["steps.0.name=\"x\""], "apply to score steps"),
    (["run.workers=\"2\""], "run.workers"),
])
def test_typos_fail_before_any_work(recipe_dir, sets, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Recipe.from_toml(recipe_dir / "r.toml", sets=sets)


def test_parameters_checked_with_check_step(recipe_dir, monkeypatch):
    "check_step is called with (stage, method, params); its ParameterError becomes a RecipeError naming the step."
    calls = []
    def fake_check_step(stage, method, params):
        calls.append((stage, method, dict(params)))
        if "windw" in params: raise ValueError("unknown parameter 'windw' (did you mean 'window'?)")
        return {**params, "default_filled": True}
    monkeypatch.setattr(R, "check_step", fake_check_step)
    summary = Recipe.from_toml(recipe_dir / "r.toml", sets=["steps.0.params.k=1"]).validate()
    assert calls[-1] == ("aggregate", "random", {"k": 1}) and summary["steps"][0]["params"]["default_filled"]
    with pytest.raises(RecipeError, match=r"steps\[0\]\.params .*windw"):
        Recipe.from_toml(recipe_dir / "r.toml", sets=["steps.0.params.windw=1"])


def test_budget_edge_cases(recipe_dir):
    with pytest.raises(RecipeError, match="rounds to 0"):
        Recipe.from_toml(recipe_dir / "r.toml", budget="1%").run()                    # 1% of 40 = 0.4 -> 0
    (recipe_dir / "data" / "bad.jsonl").write_text('{"instruction": "q"}\n{"output": " "}\n')
    with pytest.raises(RecipeError, match="no valid records.*first problem: bad.jsonl:1"):
        Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.data=data/bad.jsonl", "pool.lenient=true"]).run()
    (recipe_dir / "data" / "empty.jsonl").write_text("")
    with pytest.raises(RecipeError, match="no valid records"):
        Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.data=data/empty.jsonl"]).run()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = Recipe.from_toml(recipe_dir / "r.toml", budget=100).run()
    assert len(p.selection) == 40                                                      # all of them, by hand: 40 < 100
    assert p.warnings and "larger than the 40 records" in p.warnings[0]
    assert any("larger than the 40" in str(w.message) for w in caught)
    quiet = Recipe.from_toml(recipe_dir / "r.toml", budget=100).run(warn=False)
    assert quiet.warnings == p.warnings


def test_pool_slices(recipe_dir):
    a = Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.sample=10"]).pipeline()
    b = Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.sample=\"25%\""]).pipeline()
    c = Recipe.from_toml(recipe_dir / "r.toml", sets=["pool.sample=10"], seed=2).pipeline()
    ids = lambda p: [r["id"] for r in p.pool]
    assert len(a.pool) == 10 and ids(a) == ids(b) and ids(a) != ids(c)   # seeded by the recipe seed
    full = [r["id"] for r in Recipe.from_toml(recipe_dir / "r.toml").pipeline().pool]
    assert [full.index(i) for i in ids(a)] == sorted(full.index(i) for i in ids(a))  # pool order kept


def test_run_table_calls_set_executor(recipe_dir, monkeypatch):
    text = RECIPE + '\n[run]\nexecutor = "local"\nworkers = 2\nlabel = "free-form"\n'
    (recipe_dir / "run.toml").write_text(text)
    monkeypatch.setitem(sys.modules, "datacurate.executors", None)  # not installed
    with pytest.raises(RecipeError, match="executor support is not installed"): Recipe.from_toml(recipe_dir / "run.toml")
    got = []
    fake = types.ModuleType("datacurate.executors"); fake.set_executor = lambda **kw: got.append(kw)
    monkeypatch.setitem(sys.modules, "datacurate.executors", fake)
    r = Recipe.from_toml(recipe_dir / "run.toml")
    assert not got                                   # checking does not set anything
    r.run()
    assert got == [{"executor": "local", "workers": 2, "label": "free-form"}]
    assert r.to_dict()["run"] == got[0]


def test_step_name_and_replace_are_passed_to_score(recipe_dir, monkeypatch):
    text = RECIPE.replace('[[steps]]\nstage = "aggregate"', '''[[steps]]
stage = "score"
method = "random"
name = "first"

[[steps]]
stage = "score"
method = "random"
name = "first"
replace = true
params = { a = 1 }

[[steps]]
stage = "aggregate"''')
    (recipe_dir / "named.toml").write_text(text)
    monkeypatch.setattr(R, "check_step", lambda stage, method, params: dict(params))
    monkeypatch.setattr(R, "get_method", lambda method, stage=None: None)
    calls = []
    monkeypatch.setattr(R.Pipeline, "score", lambda self, method, **kw: calls.append((method, kw)))
    monkeypatch.setattr(R.Pipeline, "aggregate", lambda self, method, budget=None, **kw: R.Pipeline.__dict__ and
                        __import__("datacurate.selection").selection.Selection([0, 1, 2, 3, 4, 5], method=method))
    monkeypatch.setattr(R.Pipeline, "write", lambda self, out: Path(out))
    Recipe.from_toml(recipe_dir / "named.toml").run()
    assert calls == [("random", {"name": "first"}), ("random", {"name": "first", "replace": True, "a": 1})]
    (recipe_dir / "clash.toml").write_text(text.replace("replace = true\n", ""))
    with pytest.raises(RecipeError, match=r"steps\[1\]: a second score step named 'first'"):
        Recipe.from_toml(recipe_dir / "clash.toml")


def test_legacy_step_features_key_becomes_a_param():
    s = R._step({"stage": "cluster", "method": "kmeans", "features": "embedding", "params": {"k": 3}}, 0)
    assert s.params == {"k": 3, "features": "embedding"} and s.features == "embedding"
    with pytest.raises(RecipeError, match="given twice"):
        R._step({"stage": "cluster", "method": "kmeans", "features": "a", "params": {"features": "b"}}, 0)


def test_tomli_on_python_310(monkeypatch):
    "Second way: load recipe.py as if on Python 3.10 with a stand-in tomli; it must use that module."
    import importlib.util
    fake = types.ModuleType("tomli"); fake.loads = lambda s: {"v": 1}; fake.TOMLDecodeError = ValueError
    monkeypatch.setitem(sys.modules, "tomli", fake)
    monkeypatch.setattr(sys, "version_info", (3, 10, 14, "final", 0))
    spec = importlib.util.spec_from_file_location("datacurate._recipe_310", R.__file__, submodule_search_locations=None)
    mod = importlib.util.module_from_spec(spec); mod.__package__ = "datacurate"
    monkeypatch.setitem(sys.modules, "datacurate._recipe_310", mod)
    spec.loader.exec_module(mod)
    assert mod.tomllib is fake
    root = Path(R.__file__).resolve().parents[1] / "pyproject.toml"
    assert "tomli>=2; python_version < '3.11'" in root.read_text()


def test_param_paths_relative_to_the_recipe(recipe_dir, tmp_path, monkeypatch):
    (recipe_dir / "data" / "queries.jsonl").write_text("{}\n")
    text = RECIPE.replace('method = "random"', 'method = "random"\nparams = { queries = "data/queries.jsonl", model = "smollm2-135m", other = "data/missing.jsonl" }')
    (recipe_dir / "p.toml").write_text(text)
    monkeypatch.setattr(R, "check_step", lambda stage, method, params: dict(params))
    monkeypatch.chdir(tmp_path)
    r = Recipe.from_toml(recipe_dir / "p.toml")
    got = r.step_params(r.steps[0])
    assert got == {"queries": str(recipe_dir / "data" / "queries.jsonl"), "model": "smollm2-135m", "other": "data/missing.jsonl"}
    assert r.validate()["steps"][0]["params"]["queries"] == got["queries"]


def test_typo_check_loads_no_model_library(tmp_path):
    "`datacurate select` on a recipe with a misspelled parameter fails without importing torch, transformers, scipy or pandas."
    import subprocess
    recipe = tmp_path / "typo.toml"
    recipe.write_text('name = "typo"\nbudget = 10\n[pool]\ndata = "demo"\n'
                      '[[steps]]\nstage = "score"\nmethod = "ifd"\nparams = { modle = "smollm2-135m" }\n'
                      '[[steps]]\nstage = "aggregate"\nmethod = "ifd"\n')
    code = ("import sys\nsys.argv = ['datacurate', 'select', sys.argv[1]]\nfrom datacurate.cli import main\n"
            "try: main()\nexcept SystemExit: pass\n"
            "import types\n"
            "loaded = lambda m: type(sys.modules.get(m)) is types.ModuleType  # a lazily imported, unused module does not count\n"
            "print('LOADED', sorted(m for m in ('torch', 'transformers', 'scipy', 'sklearn', 'faiss', 'pandas') if loaded(m)))")
    out = subprocess.run([sys.executable, "-c", code, str(recipe)], capture_output=True, text=True, timeout=300)
    assert "unknown parameter 'modle'" in out.stdout + out.stderr  # the error names it
    assert "valid: model," in out.stdout + out.stderr  # closest match first
    assert "LOADED []" in out.stdout, out.stdout + out.stderr
