"""Issue 17 checked the way a user meets it: a pool in four formats (Alpaca JSON with a top-level system prompt and
metadata fields, multi-turn ShareGPT JSONL, messages JSONL, Parquet), an IFD scoring run killed mid-pass, the IFD x kMQ
recipe written as TOML and run by the CLI, budgets, metadata in every output, and the query set in the manifest."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from datacurate.cache import FeatureCache
from datacurate.models import tiny_lm
from datacurate.pipeline import Pipeline
from datacurate.pool import load_pool


def _demo_like(n=24):
    "n records per format, each with metadata; ShareGPT ones multi-turn."
    words = "the river sky code apple poem explain list why ocean forest".split()
    rng = np.random.default_rng(0)
    say = lambda k: " ".join(rng.choice(words, k))
    alpaca = [{"id": f"a{i}", "instruction": say(6), "input": say(3), "output": say(12 + i % 7),
               "system": "You are terse.", "difficulty": ["easy", "hard"][i % 2], "license": "MIT"} for i in range(n)]
    share = [{"id": f"s{i}", "conversations": [{"from": "human", "value": say(5)}, {"from": "gpt", "value": say(9)},
                                               {"from": "human", "value": say(4)}, {"from": "gpt", "value": say(8 + i % 5)}],
              "license": "CC-BY"} for i in range(n)]
    msgs = [{"id": f"m{i}", "messages": [{"role": "user", "content": say(7)}, {"role": "assistant", "content": say(10 + i % 3)}],
             "license": "Apache-2.0", "score_hint": i / n} for i in range(n)]
    parq = pd.DataFrame([{"id": f"p{i}", "messages": [{"role": "user", "content": say(4)}, {"role": "assistant", "content": say(15)}],
                          "license": "PSF"} for i in range(n)])
    return alpaca, share, msgs, parq


def write_pool(d, n=24):
    alpaca, share, msgs, parq = _demo_like(n)
    d.mkdir(parents=True, exist_ok=True)
    (d / "alpaca.json").write_text(json.dumps(alpaca))
    (d / "share.jsonl").write_text("".join(json.dumps(r) + "\n" for r in share))
    (d / "msgs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in msgs))
    parq.to_parquet(d / "pool.parquet")
    return [str(d / f) for f in ("alpaca.json", "share.jsonl", "msgs.jsonl", "pool.parquet")]


def test_metadata_and_system_reach_every_output(tmp_path):
    files = write_pool(tmp_path)
    p = Pipeline(load_pool(files), budget=96, seed=0, progress=False)
    p.aggregate("random")
    out = p.write(tmp_path / "out")
    lines = (out / "selection.jsonl").read_text().splitlines()
    assert not any("\\/" in ln for ln in lines)
    written = {r["id"]: r for r in map(json.loads, lines)}
    ds = p.to_dataset()
    assert {"license", "difficulty", "score_hint"} <= set(ds.column_names)
    for row in ds:  # the dataset and the file agree, field by field
        want = written[row["id"]]
        assert row["messages"] == want["messages"]
        for k in ("license", "difficulty", "score_hint"): assert row[k] == want.get(k), (row["id"], k)
    a0 = written["a0"]
    assert a0["messages"][0] == {"role": "system", "content": "You are terse."} and a0["difficulty"] == "easy"
    assert len(written["s0"]["messages"]) == 4 and written["m3"]["score_hint"] == pytest.approx(3 / 24)
    assert p.selected().set_index("id").loc["p1", "license"] == "PSF"


KILL = textwrap.dedent("""
    import sys, json, torch
    torch.set_num_threads(1)
    import datacurate.losses as L
    orig = L.cached_view_losses  # store every finished record at once, so that a kill leaves some behind
    L.cached_view_losses = lambda *a, **k: orig(*a, **{{**k, "flush_secs": 0.0}})
    from datacurate.models import tiny_lm
    from datacurate.pipeline import Pipeline
    from datacurate.pool import load_pool
    p = Pipeline(load_pool(json.loads({files!r})), budget=10, progress=False)
    p.score("ifd", model=tiny_lm(), cache={root!r}, max_tokens_per_batch=64)
""")


def test_killed_ifd_scoring_resumes_with_identical_scores(tmp_path):
    files = write_pool(tmp_path / "data", n=150)
    root = str(tmp_path / "cache")
    proc = subprocess.Popen([sys.executable, "-c", KILL.format(files=json.dumps(files), root=root)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        t0 = time.time()
        while time.time() - t0 < 300 and proc.poll() is None:
            spaces = FeatureCache(root).namespaces() if os.path.isdir(root) else []
            if spaces and len(spaces[0]) >= 40: break
            time.sleep(0.02)
    finally:
        if proc.poll() is None: os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scoring run finished before it could be killed"
    pool = load_pool(files)
    lm = tiny_lm()
    calls = []
    lm.model.register_forward_pre_hook(lambda mod, args: calls.append(1))
    p = Pipeline(pool, budget=10, progress=False)
    p.score("ifd", model=lm, cache=root, max_tokens_per_batch=64)
    full = p.steps[-1]["receipt"]["receipt"]["cache"]["full"]
    assert 0 < full["from_cache"] < len(pool), full  # killed mid-pass: part stored, the rest computed now
    ref = Pipeline(pool, budget=10, progress=False)
    ref.score("ifd", model=tiny_lm(), cache=str(tmp_path / "fresh"), max_tokens_per_batch=64)  # never interrupted
    for c in ("score", "loss_cond", "loss_direct", "tokens", "eligible"):
        np.testing.assert_array_equal(p.scores[f"ifd.{c}"].to_numpy(), ref.scores[f"ifd.{c}"].to_numpy(), err_msg=c)
    n = len(calls)
    again = Pipeline(pool, budget=10, progress=False)
    again.score("ifd", model=lm, cache=root, max_tokens_per_batch=64)
    assert len(calls) == n, "the second IFD call ran a forward pass"
    np.testing.assert_array_equal(again.scores["ifd.score"].to_numpy(), p.scores["ifd.score"].to_numpy())


RECIPE = """
name = "ifd-kmq"
budget = "25%"
seed = 0
output = "runs/ifd-kmq"

[pool]
data = ["data/alpaca.json", "data/share.jsonl", "data/msgs.jsonl", "data/pool.parquet"]

[[steps]]
stage = "score"
method = "ifd"
params = { model = "models/tiny", max_length = 256 }

[[steps]]
stage = "score"
method = "embedding"

[[steps]]
stage = "cluster"
method = "kmeans"
features = "embedding"
params = { k = 4 }

[[steps]]
stage = "aggregate"
method = "kmq"
params = { quality = "ifd.score" }
"""


@pytest.fixture
def recipe_dir(tmp_path):
    write_pool(tmp_path / "data")
    lm = tiny_lm()
    lm.model.save_pretrained(tmp_path / "models" / "tiny"); lm.tokenizer.save_pretrained(tmp_path / "models" / "tiny")
    (tmp_path / "recipe.toml").write_text(RECIPE)
    return tmp_path


def test_ifd_kmq_toml_recipe_on_the_cli(recipe_dir, capsys, monkeypatch):
    from datacurate.cli import main
    monkeypatch.chdir("/")  # paths are relative to the recipe, not the current folder
    assert main(["select", str(recipe_dir / "recipe.toml"), "--dry-run"]) == 0
    assert "features" in capsys.readouterr().out
    assert main(["select", str(recipe_dir / "recipe.toml")]) == 0
    man = json.loads((recipe_dir / "runs" / "ifd-kmq" / "manifest.json").read_text())
    assert man["counts"]["selected"] == 24 and man["budget"]["resolved"] == 24
    steps = {s["name"]: s for s in man["steps"]}
    assert steps["kmeans"]["features"] == "embedding" and steps["kmeans"]["params"]["k"] == 4
    assert steps["kmq"]["params"]["quality"] == "ifd.score"
    assert steps["embedding"]["receipt"]["model"].startswith("all-minilm-l6-v2@sha256:")  # vectors only: model recorded
    assert steps["ifd"]["receipt"]["receipt"]["fingerprint"].startswith(str(recipe_dir / "models" / "tiny") + "@sha256:")
    # a cluster step whose features are not an earlier score step is refused by the dry run
    bad = RECIPE.replace('features = "embedding"', 'features = "embeddings"')
    (recipe_dir / "bad.toml").write_text(bad)
    assert main(["select", str(recipe_dir / "bad.toml"), "--dry-run"]) != 0
    assert "'embeddings' is not a score step that runs before" in capsys.readouterr().err


def test_cli_budget_warning_printed_once(recipe_dir, capsys):
    from datacurate.cli import main
    fast = RECIPE.replace('max_length = 256', 'max_length = 24')  # most records truncated: few eligible
    (recipe_dir / "short.toml").write_text(fast)
    assert main(["select", str(recipe_dir / "short.toml"), "--budget", "90", "--output", str(recipe_dir / "o")]) == 0
    err = capsys.readouterr().err
    assert err.count("fewer than the budget 90") == 1 and "UserWarning" not in err, err
    man = json.loads((recipe_dir / "o" / "manifest.json").read_text())
    assert man["budget"]["resolved"] == man["counts"]["selected"] < 90


def test_manifest_records_the_query_set(tmp_path):
    files = write_pool(tmp_path)
    pool = load_pool(files)
    hashes = []
    for rows in ([0, 1, 2], [0, 1, 3], [0, 1, 2]):
        p = Pipeline(pool, budget=5, progress=False)
        p.score("embedding", query_rows=rows)
        p.aggregate("rr_query")
        emb = next(s for s in p.manifest()["steps"] if s["method"] == "embedding")
        assert emb["receipt"]["model"].startswith("all-minilm-l6-v2@") and emb["receipt"]["queries"]["n"] == 3
        hashes.append(emb["receipt"]["queries"]["sha256"])
    assert hashes[0] != hashes[1] and hashes[0] == hashes[2]


def test_pipeline_budget_errors():
    pool = load_pool([{"instruction": f"q{i}", "output": f"a{i}"} for i in range(10)])
    for budget, msg in ((0, "selects nothing"), (0.01, "rounds to 0"), ("0%", "percentage")):
        with pytest.raises(Exception, match=msg): Pipeline(pool, budget=budget).aggregate("random")
    with pytest.warns(UserWarning, match="exceeds the 10 eligible"):
        sel = Pipeline(pool, budget=50).aggregate("random")
    assert len(sel) == 10
