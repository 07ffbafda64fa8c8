"""Selection arena benchmark.

Default: a tiny random Llama arena (random + balanced_random + perplexity) on a synthetic pool of N records: wall
time per phase, training tokens/s against the runner's forward tokens/s on the same model, peak RSS.

--demo: the docs page's arena (docs/arena/demo.toml: the embedded demo pool, SmolLM2-135M on CPU). Builds the task
files under runs/arena-demo/data, runs the arena, measures the runner's forward tokens/s with the same model, and
copies the report (results.parquet, report.md, plot.png, arena.json, costs.parquet, runs.parquet) plus machine.json
(machine, wall time, command, throughput) to docs/arena/.

    python benchmarks/bench_arena.py --demo --threads 2
    python benchmarks/bench_arena.py --pool 400 --threads 1
"""
import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def forward_tokens_per_s(lm, records, max_length=256) -> dict:
    "The runner's forward throughput (loss on gold tokens, device-default batch budget) on `records`, uncached."
    from datacurate.runner import run_features
    run_features(lm, records[:2], max_length=max_length)  # warm-up
    t = time.perf_counter()
    res = run_features(lm, records, max_length=max_length)
    s = time.perf_counter() - t
    tokens = int(res["length"].sum())
    return dict(records=len(records), tokens=tokens, seconds=round(s, 2), tokens_per_s=round(tokens / s, 1))


def demo(threads: int, command: str, config: str = "docs/arena/demo.toml"):
    import pandas as pd
    from datacurate.arena import demo_tasks, from_toml
    data = ROOT / "runs" / "arena-demo" / "data"
    if not (data / "cyberseceval_test.jsonl").exists():  # built once: rewriting the files would change the pool fingerprint
        demo_tasks(data, tasks=("freshqa", "cyberseceval"), n_query=2, n_test=6, seed=0)
    t0 = time.perf_counter()
    a = from_toml(ROOT / config)
    print(a, flush=True)
    rep = a.run()
    wall = time.perf_counter() - t0
    runs = a.runs
    costs = rep.costs
    train_tps = float((costs.train_tokens * costs.seeds).sum() / (costs.train_s * costs.seeds).sum())
    fwd = forward_tokens_per_s(a.lm, a.pool.dataset.select(range(min(32, len(a.pool)))).to_list())
    info = dict(command=command, machine=rep.manifest["machine"], wall_s=round(wall, 1), threads=threads,
                cells=len(runs), pool=len(a.pool), train_tokens_per_s=round(train_tps, 1), runner_forward=fwd,
                peak_rss_mib=round(peak_rss_mib(), 1),
                phases=dict(select_s=round(float((costs.select_s * costs.seeds).sum()), 1),
                            train_s=round(float((costs.train_s * costs.seeds).sum()), 1),
                            eval_s=round(float((costs.eval_s * costs.seeds).sum()), 1)))
    dest = ROOT / "docs" / "arena"
    for f in ("results.parquet", "runs.parquet", "costs.parquet", "report.md", "plot.png", "arena.json"):
        shutil.copy2(rep.path / f, dest / f)
    (dest / "machine.json").write_text(json.dumps(info, indent=1, default=str))
    print(rep.markdown_table())
    print(costs.to_string())
    print(json.dumps(info, indent=1, default=str))


def report_only(config: str, command: str, threads: int, started: str | None):
    "Report from the cells a demo run has stored so far (a run stopped before its end): marked partial."
    from datacurate.arena import from_toml
    from datacurate.arena_report import build_report
    a = from_toml(ROOT / config, progress=False)
    a.prepare()
    runs = [a.run_base()]
    missing = []
    for c in a.cells():
        p = a.output / "cells" / f"{a.cell_key(a.arm(c[0]), c[1], c[2])}.json"
        if p.exists(): runs.append(json.loads(p.read_text()))
        else: missing.append(c)
    a.runs = runs
    files = sorted((a.output / "cells").glob("*.json"), key=lambda p: p.stat().st_mtime)
    first = (a.output / "selections").stat().st_mtime
    wall = files[-1].stat().st_mtime - first if files else None
    a.timings = dict(wall_s=round(wall, 1) if wall else None)
    rep = build_report(a, runs, command=command)
    costs = rep.costs
    train_tps = float((costs.train_tokens * costs.seeds).sum() / (costs.train_s * costs.seeds).sum())
    fwd = forward_tokens_per_s(a.lm, a.pool.dataset.select(range(min(8, len(a.pool)))).to_list())
    info = dict(command=command, machine=rep.manifest["machine"], wall_s=a.timings["wall_s"], threads=threads,
                partial=bool(missing), missing_cells=[list(c) for c in missing], cells=len(runs), pool=len(a.pool),
                train_tokens_per_s=round(train_tps, 1), runner_forward=fwd, peak_rss_mib=None,
                phases=dict(select_s=round(float((costs.select_s * costs.seeds).sum()), 1),
                            train_s=round(float((costs.train_s * costs.seeds).sum()), 1),
                            eval_s=round(float((costs.eval_s * costs.seeds).sum()), 1)))
    dest = ROOT / "docs" / "arena"
    for f in ("results.parquet", "runs.parquet", "costs.parquet", "report.md", "plot.png", "arena.json"):
        shutil.copy2(rep.path / f, dest / f)
    (dest / "machine.json").write_text(json.dumps(info, indent=1, default=str))
    print(json.dumps(info, indent=1, default=str))


def tiny(n: int, threads: int):
    import numpy as np
    from datacurate.arena import Arena
    from datacurate.models import tiny_lm
    rng = np.random.default_rng(0)
    words = ["apple", "sea", "fox", "sky", "blue", "dog", "poem", "paris", "river", "stone"]
    rec = lambda i, s, q, a: {"id": f"{s}-{i}", "source": s, "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    def make(s, i):
        w = " ".join(rng.choice(words, 6))
        return rec(i, s, f"{s}: {w}", w.upper() if s == "upper" else w)
    pool = [make(s, i) for s in ("echo", "upper") for i in range(n // 2)]
    tasks = [{"name": "echo", "query": [make("echo", 10**6 + i) for i in range(4)],
              "test": [make("echo", 2 * 10**6 + i) for i in range(16)]}]
    lm = tiny_lm(seed=0)
    out = ROOT / "runs" / f"bench-arena-{n}"
    shutil.rmtree(out, ignore_errors=True)
    arms = [{"name": "perplexity", "seeds": [0], "steps": [{"stage": "score", "method": "perplexity"},
                                                          {"stage": "aggregate", "method": "perplexity"}]}]
    a = Arena(pool, tasks, [n // 4], arms, model=lm, output=out,
              training=dict(epochs=1, batch_size=8, max_length=96, lora_targets=["q_proj", "v_proj"]),
              evaluation=dict(max_length=96))
    t0 = time.perf_counter()
    rep = a.run()
    wall = time.perf_counter() - t0
    c = rep.costs
    fwd = forward_tokens_per_s(lm, pool[: min(len(pool), 256)], 96)
    print(f"tiny arena: pool {n}, budget {n // 4}, {len(a.cells())} cells + base, threads {threads}: wall {wall:.1f} s, "
          f"peak RSS {peak_rss_mib():.0f} MiB")
    print(c.to_string())
    print(f"training {float((c.train_tokens * c.seeds).sum() / (c.train_s * c.seeds).sum()):.0f} tokens/s vs runner forward "
          f"{fwd['tokens_per_s']:.0f} tokens/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--pool", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--config", default="docs/arena/demo.toml")
    ap.add_argument("--report-only", action="store_true", help="report the cells stored so far (a stopped run)")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.report_only:
        report_only(args.config, f"python benchmarks/bench_arena.py --demo --threads {args.threads}", args.threads, None)
    elif args.demo:
        cmd = f"python benchmarks/bench_arena.py --demo --threads {args.threads}"
        demo(args.threads, cmd + (f" --config {args.config}" if args.config != "docs/arena/demo.toml" else ""), args.config)
    else: tiny(args.pool, args.threads)
