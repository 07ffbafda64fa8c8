"""The selection arena end to end on a tiny random Llama: every bundled method as an arm, receipts, a table computed
from the runs, resume after SIGKILL, and clear errors on bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datacurate.arena import (Arena, ArenaError, ContaminationError, Evaluation, Task, choice_correct, evaluate,
                              record_losses)
from datacurate.models import tiny_lm

WORDS = ["apple", "sea", "fox", "sky", "blue", "dog", "poem", "paris", "river", "stone", "cloud", "tree"]


def _rec(i, src, q, a):
    return {"id": f"{src}-{i}", "source": src,
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def _make(src, i, rng):
    a, b = int(rng.integers(0, 50)), int(rng.integers(0, 50))
    w = " ".join(rng.choice(WORDS, 4))
    if src == "math": return _rec(i, src, f"What is {a} + {b}?", f"{a + b}")
    if src == "echo": return _rec(i, src, f"Repeat: {w}", w)
    if src == "upper": return _rec(i, src, f"Uppercase: {w}", w.upper())
    return _rec(i, src, f"Reverse the words: {w}", " ".join(w.split()[::-1]))


def _data(n_per_source=60, seed=0):
    rng = np.random.default_rng(seed)
    pool = [_make(s, i, rng) for s in ("math", "echo", "upper", "reverse") for i in range(n_per_source)]
    tasks = []
    for t in ("math", "echo"):
        extra = [_make(t, 1000 + i, rng) for i in range(22)]
        for r in extra: r["id"] = "task-" + r["id"]
        tasks.append({"name": t, "query": extra[:6], "test": extra[6:]})
    # a leaked test record and a copy of a query record: the arena must drop both
    pool += [dict(tasks[0]["test"][0], id="leak-0"), dict(tasks[1]["query"][0], id="qcopy-0")]
    return pool, tasks


TRAIN = dict(method="lora", epochs=1, learning_rate=1e-3, batch_size=8, max_length=96, lora_targets=["q_proj", "v_proj"])
LESS = dict(warmup_n=12, epochs=2, proj_dim=32, max_length=96, lora_r=4, lora_alpha=8, lora_targets=["q_proj", "v_proj"],
            batch_size=4)


def _arms(rm_path):
    s = lambda m, **p: {"stage": "score", "method": m, **({"params": p} if p else {})}
    g = lambda m, **p: {"stage": "aggregate", "method": m, **({"params": p} if p else {})}
    arms = [
        {"name": "perplexity", "steps": [s("perplexity"), g("perplexity")]},
        {"name": "ifd", "steps": [s("ifd"), g("ifd", threshold="none")]},
        {"name": "superfiltering", "steps": [s("superfiltering"), g("superfiltering", threshold="none")]},
        {"name": "top_k", "steps": [s("perplexity"), g("top_k", column="perplexity.loss", descending=False)]},
        {"name": "embedding", "steps": [s("embedding"), g("task_rr")]},
        {"name": "rds_plus", "steps": [s("rds_plus"), g("rr_query")]},
        {"name": "mean_query", "steps": [s("rds_plus"), g("mean_query")]},
        {"name": "max_query", "steps": [s("rds_plus"), g("max_query")]},
        {"name": "normalized_mean_query", "steps": [s("rds_plus"), g("normalized_mean_query")]},
        {"name": "less", "steps": [s("less", **LESS), g("less")]},
        {"name": "kmq", "steps": [s("rds_plus"), {"stage": "cluster", "method": "kmeans", "features": "rds_plus", "params": {"k": 4}},
                                  s("perplexity"), g("kmq", quality="perplexity.loss")]},
        {"name": "iterit", "steps": [s("iterit", system_prompt=None), g("iterit", system_prompt=None)]},
    ]
    arms += [  # issue 15's quality and hygiene methods: the judge and DEITA scorers are the base model itself
        {"name": "length", "steps": [s("length", unit="chars"), g("length")]},
        {"name": "judge", "steps": [s("judge", model="@base", cache=False), g("top_k", column="judge.score")]},
        {"name": "deita", "steps": [s("deita", complexity_model="@base", cache=False), g("deita", threshold=0.95)]},
        {"name": "reward", "steps": [s("reward", model=str(rm_path), cache=False), g("top_k", column="reward.score")]},
        {"name": "minhash+random", "steps": [s("minhash", threshold=0.7), g("random")]},
        {"name": "semdedup+random", "steps": [s("semdedup", threshold=0.95, clusters=4), g("random")]},
        {"name": "decontam+random", "steps": [s("decontam", tests="@tests", embedding=True, embed_threshold=0.9), g("random")]},
    ]
    for a in arms: a["seeds"] = [0]
    return arms


def _tiny_reward_model(path):
    "A random tiny Llama with a one-output classification head, saved with the tiny tokenizer (its chat template)."
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification
    from datacurate.models import tiny_tokenizer
    tok = tiny_tokenizer()
    torch.manual_seed(7)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                      vocab_size=len(tok), num_labels=1, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      bos_token_id=None, max_position_embeddings=4096)
    LlamaForSequenceClassification(cfg).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def lm(): return tiny_lm(seed=0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, lm):
    pool, tasks = _data()
    out = tmp_path_factory.mktemp("arena")
    rm_path = _tiny_reward_model(tmp_path_factory.mktemp("rm") / "tiny-rm")
    a = Arena(pool, tasks, [12, 24], _arms(rm_path), model=lm, seeds=(0, 1, 2), output=out, training=TRAIN,
              evaluation=dict(max_length=96))
    return a, a.run(), out


def test_every_bundled_method_is_an_arm(tiny_run):
    from datacurate.plugins import methods
    a, _, _ = tiny_run
    used = {s.method for arm in a.arms for s in arm.steps}
    bundled = {m for m, info in methods().items() if (info.distribution or "").startswith("datacurate-")}
    assert bundled <= used, f"bundled methods without an arm: {sorted(bundled - used)}"


def test_receipts(tiny_run):
    a, rep, out = tiny_run
    for f in ("results.parquet", "runs.parquet", "costs.parquet", "report.md", "plot.png", "arena.json"):
        assert (out / "report" / f).stat().st_size > 0, f
    man = json.loads((out / "report" / "arena.json").read_text())
    dec = man["prep"]["decontam"]
    assert dec["mode"] == "remove" and "leak-0" in {p["pool_id"] for p in dec["pairs_list"]}
    assert man["prep"]["pool"]["query_copies_removed"] >= 1
    assert len(man["cells"]) == len(a.cells()) + 1  # + the untrained base model
    for c in man["cells"]:
        if c["arm"] == "base": continue
        cell = json.loads((out / "cells" / f"{c['key']}.json").read_text())
        sel_dir = Path(cell["selection_dir"])
        sm = json.loads((sel_dir / "manifest.json").read_text())
        assert sm["recipe"]["key"] == c["key"] and sm["recipe"]["arm"] == c["arm"]
        ids = [json.loads(l)["id"] for l in (sel_dir / "selection.jsonl").read_text().splitlines()]
        assert ids == cell["selected_ids"] and len(ids) == c["budget"]
        assert "leak-0" not in ids and "qcopy-0" not in ids
        assert cell["cost"]["optimizer_steps"] == int(np.ceil(c["budget"] / TRAIN["batch_size"]))
        assert cell["cost"]["train_tokens"] > 0 and cell["cost"]["train_s"] > 0


def test_table_is_computed_from_the_runs(tiny_run):
    a, rep, out = tiny_run
    table = pd.read_parquet(out / "report" / "results.parquet")
    cells = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    # recompute every mean from the stored per-record values, a second way (plain Python sums)
    for r in table.itertuples():
        runs = [c for c in cells if c["arm"] == r.arm and (r.arm == "base" or c["budget"] == r.budget)]
        vals = [sum(c["metrics"][r.task][r.metric]["num"]) / sum(c["metrics"][r.task][r.metric]["den"]) for c in runs]
        assert len(vals) == r.n_seeds
        assert np.isclose(np.mean(vals), r.mean), (r.arm, r.budget, r.task, r.metric)
    # the random arm's difference to itself is exactly 0; the baselines ran 3 seeds; base is ranked too
    t = table.set_index(["budget", "task", "metric", "arm"])
    assert (table[table.arm == "random"]["diff_random"] == 0).all()
    assert (table[table.arm.isin(["random", "balanced_random"])]["n_seeds"] == 3).all()
    assert set(table.arm) >= {"base", "random", "balanced_random", "rds_plus", "less"}
    assert set(table.metric) == {"test_nll", "query_nll"}
    for _, g in table.groupby(["budget", "task", "metric"]):
        assert sorted(g["rank"]) == list(g["mean"].rank(method="min").astype(int).sort_values())
    # the test NLL of a trained cell, recomputed by the runner one record at a time from the stored selection
    assert t.loc[(12, "math", "test_nll", "base"), "mean"] > 0


def test_trained_nll_matches_a_batch_size_one_recomputation(lm):
    pool, tasks = _data(20)
    t = Task.make(**tasks[0])
    ls, nt = record_losses(lm, t.test, max_length=96)
    one = [record_losses(lm, [r], max_length=96, batch_tokens=10**6) for r in t.test]
    assert np.allclose(ls, [o[0][0] for o in one], rtol=1e-5) and (nt == [o[1][0] for o in one]).all()


def test_choice_exact_match_and_opt_in_pass_at_1(lm):
    recs = [{"id": "m0", "messages": [{"role": "user", "content": "Pick one"}, {"role": "assistant", "content": "A"}],
             "choices": ["A", "B", "C"], "answer": 1},
            {"id": "m1", "messages": [{"role": "user", "content": "Pick two"}, {"role": "assistant", "content": "B"}],
             "choices": ["sky", "sea"], "answer": [0, 1]}]
    got = choice_correct(lm, recs, 96)
    # brute force: each choice scored alone
    for r, g in zip(recs, got):
        losses = [record_losses(lm, [{"messages": r["messages"][:1] + [{"role": "assistant", "content": c}]}], 96)[0][0]
                  for c in r["choices"]]
        ans = r["answer"] if isinstance(r["answer"], list) else [r["answer"]]
        assert g == float(int(np.argmin(losses)) in ans)
    assert got[1] == 1.0  # every choice is correct
    he = [{"id": "h0", "prompt": "def add(a, b):\n", "entry_point": "add", "test": "def check(f):\n    assert f(2, 3) == 5",
           "messages": [{"role": "user", "content": "def add(a, b):\n"}, {"role": "assistant", "content": "    return a + b"}]}]
    he2 = [dict(he[0], id="h1")]
    task = Task("code", he2, he, metrics=("pass@1", "exact_match"))
    off = evaluate(lm, [task], Evaluation(max_length=96, max_new_tokens=4))
    assert "pass@1" not in off["code"] and "exact_match" in off["code"]
    on = evaluate(lm, [task], Evaluation(max_length=96, max_new_tokens=4, execute_code=True, timeout=5))
    assert on["code"]["pass@1"]["value"] == 0.0  # a random tiny model does not write working code


def test_bad_input_is_named(tmp_path, lm):
    pool, tasks = _data(10)
    mk = lambda **kw: Arena(**{**dict(pool=pool, tasks=tasks, budgets=[8], model=lm, output=tmp_path / "o",
                                      training=TRAIN), **kw})
    with pytest.raises(ArenaError, match=r"arm 'x' steps\[0\] \(aggregate 'nope'\): no installed plugin"):
        mk(arms=[{"name": "x", "steps": [{"stage": "aggregate", "method": "nope"}]}])
    with pytest.raises(ArenaError, match="task 'math': the query and test parts overlap"):
        mk(tasks=[dict(tasks[0], query=tasks[0]["test"][:2])])
    with pytest.raises(ArenaError, match="task 'echo': the test part is empty"):
        mk(tasks=[tasks[0], dict(tasks[1], test=[])])
    with pytest.raises(ArenaError, match="arm 'random': field 'seeds'"):
        mk(arms=[{"name": "random", "steps": [{"stage": "aggregate", "method": "random"}], "seeds": [0]}])
    with pytest.raises(ArenaError, match="budgets: budget 500 is larger than the pool"):
        mk(budgets=[500]).run()
    with pytest.raises(ContaminationError, match="pool 'leak-0' ~ task 'math' test 'task-math-1006'"):
        mk(decontam="refuse").run()
    # an unknown parameter fails when the arena is built (declared parameters), before any selection or training
    with pytest.raises(ArenaError, match=r"arm 'ppl' steps\[0\] \(score 'perplexity'\).*no_such"):
        mk(arms=[{"name": "ppl", "steps": [{"stage": "score", "method": "perplexity", "params": {"no_such": 1}},
                                           {"stage": "aggregate", "method": "perplexity"}], "seeds": [0]}]).run()
    assert not (tmp_path / "o" / "cells").exists()


CONFIG = """
name = "resume"
model = "{model}"
budgets = [16]
seeds = [0, 1, 2]
output = "{out}"
[pool]
data = "pool.jsonl"
[training]
method = "lora"
epochs = 1
learning_rate = 1e-3
batch_size = 4
max_length = 96
lora_targets = ["q_proj", "v_proj"]
[eval]
max_length = 96
[[tasks]]
name = "math"
query = "math_query.jsonl"
test = "math_test.jsonl"
"""


def _write_config(d: Path, model: Path, out: str):
    pool, tasks = _data(30)
    (d / "pool.jsonl").write_text("\n".join(json.dumps(r) for r in pool))
    for part in ("query", "test"):
        (d / f"math_{part}.jsonl").write_text("\n".join(json.dumps(r) for r in tasks[0][part]))
    (d / f"{out}.toml").write_text(CONFIG.format(model=model, out=out))
    return d / f"{out}.toml"


def test_resume_after_sigkill_gives_the_same_table(tmp_path, lm):
    model = tmp_path / "tiny"
    lm.model.save_pretrained(model); lm.tokenizer.save_pretrained(model)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", DATACURATE_HOME=str(tmp_path / "home"))
    cmd = lambda cfg: [sys.executable, "-m", "datacurate.arena", str(cfg), "--threads", "1"]
    # one uninterrupted run
    full = _write_config(tmp_path, model, "full")
    subprocess.run(cmd(full), check=True, env=env, capture_output=True, cwd=tmp_path, timeout=600)
    # a run killed with SIGKILL once two cells are stored, then resumed
    cfg = _write_config(tmp_path, model, "killed")
    proc = subprocess.Popen(cmd(cfg), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = tmp_path / "killed" / "cells"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if cells.exists() and len([p for p in cells.glob("*.json") if not p.name.startswith("base")]) >= 2: break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL); proc.wait()
    done_before = {p.name for p in cells.glob("*.json")}
    assert not (tmp_path / "killed" / "report").exists()
    subprocess.run(cmd(cfg), check=True, env=env, capture_output=True, cwd=tmp_path, timeout=600)
    assert done_before <= {p.name for p in cells.glob("*.json")}
    a = pd.read_parquet(tmp_path / "full" / "report" / "results.parquet")
    b = pd.read_parquet(tmp_path / "killed" / "report" / "results.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert len(list((tmp_path / "full" / "cells").glob("*.json"))) == len(list(cells.glob("*.json"))) == 7  # base + 2 x 3
