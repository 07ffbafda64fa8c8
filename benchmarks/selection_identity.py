"""Run every bundled method on the demo pool (model methods on a seeded 64-record slice) and print the sha256 of each
selection.jsonl. V2=1 uses the contract-v2 spellings (namespaced columns)."""
import hashlib, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch; torch.set_num_threads(int(os.environ.get("THREADS", "2")))
from datacurate.demo import build_demo_pool
from datacurate.pool import load_pool
from datacurate.pipeline import Pipeline
V2 = os.environ.get("V2") == "1"
if os.environ.get("LESS_FULL_LOGITS") == "1":  # the LESS hook pass as before the head slicing: full (B, L, V) logits
    import datacurate_less.gradients as _g
    _g.sliceable_head = lambda model: None
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
pool_path = build_demo_pool(out / "pool.jsonl")
full = load_pool(pool_path)
rng = np.random.default_rng(0)
small_rows = np.sort(rng.choice(len(full), 64, replace=False)).tolist()
import datasets
small_path = out / "small.jsonl"
full.dataset.select(small_rows).select_columns(["id", "source", "messages"]).to_json(str(small_path), lines=True)
small = load_pool(small_path)
col = (lambda step, c: f"{step}.{c}") if V2 else (lambda step, c: c)
def run(name, pool, steps, budget=16):
    t = time.time()
    p = Pipeline(pool, budget=budget, seed=0, progress=False)
    for f in steps: f(p)
    d = p.write(out / name)
    h = hashlib.sha256((d / "selection.jsonl").read_bytes()).hexdigest()[:16]
    ids = [json.loads(l)["id"] for l in (d / "selection.jsonl").read_text().splitlines()]
    hi = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]
    (out / f"{name}.ids.json").write_text(json.dumps(ids))
    print(f"{name:28s} bytes {h} ids {hi} {len(p.selection):4d} {time.time()-t:6.1f}s", flush=True)
only = os.environ.get("ONLY")
cases = {
 "random": (full, [lambda p: p.aggregate("random")], 50),
 "balanced_random": (full, [lambda p: p.aggregate("balanced_random")], 50),
 "perplexity_top": (small, [lambda p: p.score("perplexity"), lambda p: p.aggregate("perplexity")], 16),
 "perplexity_mid": (small, [lambda p: p.score("perplexity"), lambda p: p.aggregate("perplexity", rule="mid")], 16),
 "ifd": (small, [lambda p: p.score("ifd"), lambda p: p.aggregate("ifd")], 16),
 "superfiltering": (small, [lambda p: p.score("superfiltering"), lambda p: p.aggregate("superfiltering")], 16),
 "superfiltering_d": (small, [lambda p: p.score("superfiltering"), lambda p: p.aggregate("superfiltering", diversity=True, candidates=0.5)], 16),
 "top_k_ifd": (small, [lambda p: p.score("ifd"), lambda p: p.aggregate("top_k", column=col("ifd", "score") if V2 else "ifd_tokens" if False else "ifd", missing="skip")], 16),
 "embedding_rr": (full, [lambda p: p.score("embedding", query_where={"source": "humaneval"}, query_n=20), lambda p: p.aggregate("rr_query")], 50),
 "embedding_max": (full, [lambda p: p.score("embedding", query_where={"source": "humaneval"}, query_n=20), lambda p: p.aggregate("max_query")], 50),
 "embedding_mean": (full, [lambda p: p.score("embedding", query_where={"source": "humaneval"}, query_n=20), lambda p: p.aggregate("mean_query")], 50),
 "embedding_nmean": (full, [lambda p: p.score("embedding", query_where={"source": "humaneval"}, query_n=20), lambda p: p.aggregate("normalized_mean_query")], 50),
 "embedding_task_rr": (full, [lambda p: p.score("embedding", query_where={"source": ["humaneval", "freshqa"]}, query_n=20, task_field="source"), lambda p: p.aggregate("task_rr")], 50),
 "rds_plus": (small, [lambda p: p.score("rds_plus", query_where={"source": "humaneval"}, query_n=4), lambda p: p.aggregate("rr_query")], 16),
 "less": (small, [lambda p: p.score("less", query_where={"source": "humaneval"}, query_n=4, max_length=256, warmup_n=16, epochs=1, proj_dim=512, lora_r=8, lora_alpha=16, lora_targets=["q_proj", "v_proj"], batch_size=4), lambda p: p.aggregate("less")], 16),
 "kmq": (full, [lambda p: p.score("embedding", query_where={"source": "humaneval"}, query_n=5), (lambda p: p.cluster("kmeans", features="embedding", k=8)) if V2 else (lambda p: p.cluster("kmeans", features=getattr(p.outputs.get("embedding"), "pool", None), k=8)), lambda p: p.aggregate("kmq")], 50),
}
for name, (pool, steps, b) in cases.items():
    if only and name not in only.split(","): continue
    try: run(name, pool, steps, b)
    except Exception as e: print(f"{name:28s} ERROR {type(e).__name__}: {str(e)[:200]}", flush=True)
