"""Response-length scoring: records/s and peak memory at 10k and 100k records (chars, words, tokens).

    .venv/bin/python benchmarks/bench_length.py [--sizes 10000 100000] [--tokenizer smollm2-135m]

Records are synthetic two- or four-message conversations (~60-word answers) loaded with `load_pool`; the time is the
score step only. Peak memory is the Python heap (tracemalloc) plus Arrow's allocator during the call.
"""
import argparse
import tempfile
import time
import tracemalloc

import numpy as np
import pyarrow as pa

from datacurate.pool import load_pool
from datacurate_length.plugin import length_scores, load_tokenizer

WORDS = "the quick brown fox jumps over a lazy dog while data selection picks useful answers from large pools".split()


def make_records(n, seed=0):
    gen = np.random.default_rng(seed)
    out = []
    for i in range(n):
        msgs = []
        for _ in range(1 + (i % 5 == 0)):
            msgs += [{"role": "user", "content": " ".join(gen.choice(WORDS, 12))},
                     {"role": "assistant", "content": " ".join(gen.choice(WORDS, int(gen.integers(10, 110))))}]
        out.append({"id": f"r{i}", "source": "synthetic", "messages": msgs})
    return out


def measure(fn):
    tracemalloc.start(); pa_start = pa.total_allocated_bytes()
    t = time.perf_counter(); out = fn(); secs = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    return out, secs, peak + max(0, pa.total_allocated_bytes() - pa_start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--tokenizer", default="smollm2-135m")
    args = ap.parse_args()
    tok = load_tokenizer(args.tokenizer)
    print(f"{'unit':>7} {'records':>9} {'seconds':>8} {'records/s':>11} {'peak MiB':>9}  growth")
    prev = {}
    with tempfile.TemporaryDirectory() as d:
        for n in args.sizes:
            pool = load_pool(make_records(n), cache_dir=d)
            for unit in ("chars", "words", "tokens"):
                t, secs, peak = measure(lambda: length_scores(pool, unit, "total", tokenizer=tok))
                assert len(t) == n
                growth = f"x{secs / prev[unit][1]:.1f} time for x{n / prev[unit][0]:.0f} records" if unit in prev else ""
                prev[unit] = (n, secs)
                print(f"{unit:>7} {n:>9,} {secs:>8.3f} {n / secs:>11,.0f} {peak / 2**20:>9.1f}  {growth}")


if __name__ == "__main__":
    main()
