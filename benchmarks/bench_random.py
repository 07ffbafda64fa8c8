"""Random and balanced-random selection: throughput, peak memory and growth with pool size.

    .venv/bin/python benchmarks/bench_random.py [--sizes 100000 1000000 10000000]
"""
import argparse
import time
import tracemalloc

import numpy as np

from datacurate_random.plugin import balanced_selection, random_selection


def measure(fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, secs, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    ap.add_argument("--sources", type=int, default=50)
    ap.add_argument("--budget", type=float, default=0.05)
    args = ap.parse_args()
    print(f"{'method':>16} {'pool':>10} {'budget':>8} {'seconds':>8} {'records/s':>12} {'peak MiB':>9}")
    prev = {}
    for n in args.sizes:
        gen = np.random.default_rng(0)
        weights = gen.dirichlet(np.ones(args.sources) * 0.3)
        groups = np.array([f"source-{i}" for i in range(args.sources)], dtype=object)[gen.choice(args.sources, n, p=weights)]
        budget = int(n * args.budget)
        for name, fn in [("random", lambda: random_selection(n, budget, np.random.default_rng(0))),
                         ("balanced_random", lambda: balanced_selection(groups, budget, np.random.default_rng(0)))]:
            sel, secs, peak = measure(fn)
            assert len(sel) == budget
            growth = f"  x{secs / prev[name][1]:.1f} time for x{n / prev[name][0]:.0f} pool" if name in prev else ""
            prev[name] = (n, secs)
            print(f"{name:>16} {n:>10,} {budget:>8,} {secs:>8.3f} {n / secs:>12,.0f} {peak / 2**20:>9.1f}{growth}")


if __name__ == "__main__":
    main()
