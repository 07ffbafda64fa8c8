"""Reward-model scoring: records/s and peak memory at 10k and 100k records with a tiny random Llama RM on CPU.

    .venv/bin/python benchmarks/bench_reward.py [--sizes 10000 100000] [--hidden 32]

The figures measure the plugin's own overhead (rendering, tokenizing, batching by tokens) plus a 2-layer model's
forward passes; a real 1-8B RM is dominated by its forward pass (see benchmarks/bench_runner.py for model throughput).
Each size runs in a fresh subprocess; peak RSS is that run's.
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
    from transformers import LlamaConfig, LlamaForSequenceClassification
    from datacurate.models import tiny_tokenizer
    from datacurate_reward.plugin import reward_scores
    torch.set_num_threads(1)
    tok = tiny_tokenizer(); torch.manual_seed(0)
    rm = LlamaForSequenceClassification(LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                                                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                    num_labels=1, pad_token_id=tok.pad_token_id)).eval()
    gen = np.random.default_rng(0)
    words = np.array("the quick brown fox jumps over a lazy dog while data selection picks useful answers".split(), dtype=object)
    recs = [{"id": f"r{i}", "messages": [{"role": "user", "content": " ".join(gen.choice(words, 12))},
                                         {"role": "assistant", "content": " ".join(gen.choice(words, int(gen.integers(10, 60))))}]}
            for i in range(n)]
    t, c = time.perf_counter(), time.process_time()
    out = reward_scores(recs, (rm, tok), max_tokens_per_batch=8192)
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
