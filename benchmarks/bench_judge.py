"""LLM-judge scoring (one-pass expected rating): records/s and peak memory with a tiny random Llama judge on CPU.

    .venv/bin/python benchmarks/bench_judge.py [--sizes 10000 100000] [--hidden 32]

Measures the plugin's own work (rubric prompts, chat template, tokenizing, token-budget batches, the rating-token
softmax) plus a 2-layer model's forward passes; a real judge is dominated by its forward pass. DEITA's scorer runs the
same function twice per turn (complexity and quality), so its cost is about twice this. Each size runs in a fresh
subprocess; peak RSS is that run's.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def one(n, hidden):
    import torch
    from datacurate.models import tiny_lm
    from datacurate_judge.plugin import judge_scores
    torch.set_num_threads(1)
    lm = tiny_lm(hidden=hidden)
    gen = np.random.default_rng(0)
    words = np.array("the quick brown fox jumps over a lazy dog while data selection picks useful answers".split(), dtype=object)
    recs = [{"id": f"r{i}", "messages": [{"role": "user", "content": " ".join(gen.choice(words, 12))},
                                         {"role": "assistant", "content": " ".join(gen.choice(words, int(gen.integers(10, 60))))}]}
            for i in range(n)]
    t, c = time.perf_counter(), time.process_time()
    out = judge_scores(recs, lm, "alpagasus", max_tokens_per_batch=8192)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    assert out["score"].notna().all()
    print(json.dumps(dict(n=n, seconds=secs, cpu=cpu, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--one", type=int)
    a = ap.parse_args()
    if a.one: return one(a.one, a.hidden)
    print(f"{'records':>9} {'seconds':>8} {'CPU s':>8} {'records/s':>10} {'peak RSS MiB':>12}  growth")
    prev = None
    for n in a.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--hidden", str(a.hidden)], capture_output=True, text=True)
        if out.returncode: print(out.stderr[-2000:]); continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        growth = f"x{r['seconds'] / prev[1]:.1f} time, x{r['rss'] / prev[2]:.1f} memory for x{n / prev[0]:.0f}" if prev else ""
        prev = (n, r["seconds"], r["rss"])
        print(f"{n:>9,} {r['seconds']:>8.1f} {r['cpu']:>8.1f} {n / r['seconds']:>10,.0f} {r['rss']:>12,.0f}  {growth}", flush=True)


if __name__ == "__main__":
    main()
