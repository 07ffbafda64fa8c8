"""Query-by-pool selection at scale: streaming (datacurate.similarity + datacurate-aggregate) vs a direct implementation
that materialises the full (queries x pool) similarity matrix.

Synthetic unit vectors, 1,000 queries, budget 10,000, dims 384 and 768, pools 100k -> 1M (memory-mapped .npy for
the streaming path, an in-memory array for the direct one). Each configuration runs in a fresh subprocess so that peak
memory is its own: `maxrss` (includes memory-mapped pool pages, which the OS can drop) and `heap` (tracemalloc peak of
numpy allocations; torch.topk buffers are not counted, they are one (q x m) block).

    python benchmarks/bench_similarity.py                      # the full grid (about an hour on 2 busy cores)
    python benchmarks/bench_similarity.py --sizes 100000 --dims 384 --direct-max 100000
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def make_pool(path: Path, n: int, d: int, seed: int = 0):
    from datacurate.similarity import write_vectors
    if path.exists(): return
    rng = np.random.default_rng(seed)
    def blocks():
        for s in range(0, n, 65536):
            x = rng.standard_normal((min(65536, n - s), d), dtype=np.float32)
            yield x / np.linalg.norm(x, axis=1, keepdims=True)
    write_vectors(path, blocks(), n=n, dim=d)


def queries(q: int, d: int, seed: int = 1):
    x = np.random.default_rng(seed).standard_normal((q, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def run_one(mode: str, method: str, path: str, q: int, budget: int) -> dict:
    from datacurate.similarity import QueryScores, open_vectors, top_m_rows
    from datacurate_aggregate.plugin import reduce_selection, rr_query_selection  # imports outside the timing
    tracemalloc.start()
    t0 = time.perf_counter()
    P = open_vectors(path)
    Q = queries(q, P.shape[1])
    if mode == "streaming":
        qs = QueryScores(P, Q)  # vectors are unit-norm already: inner product = cosine
        sel = rr_query_selection(qs, budget) if method == "rr_query" else reduce_selection(qs, budget, "max")
        picks = sel.indices
    else:
        P = np.array(P)  # the whole pool in memory, as the reference scripts hold it
        S = Q @ P.T  # (q, n): the full matrix
        if method == "max_query":
            v = S.max(0)
            picks = np.argsort(-v, kind="stable")[:budget]
        else:  # sort every query's row once (argpartition to the depth round-robin needs), then turn by turn
            m = 2 * budget // q + 8
            ids = np.broadcast_to(np.arange(S.shape[1]), S.shape)
            _, idx = top_m_rows(S, ids, m)
            taken, picks, ptr = np.zeros(S.shape[1], bool), [], np.zeros(q, np.int64)
            while len(picks) < budget:
                for r in range(q):
                    while taken[idx[r, ptr[r]]]: ptr[r] += 1
                    j = idx[r, ptr[r]]; taken[j] = True; picks.append(j); ptr[r] += 1
                    if len(picks) == budget: break
            picks = np.array(picks)
    secs = time.perf_counter() - t0
    heap = tracemalloc.get_traced_memory()[1]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(seconds=round(secs, 2), heap_gib=round(heap / 2**30, 3), maxrss_gib=round(rss / 2**30, 3),
                checksum=int(np.asarray(picks[:100]).sum()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 250_000, 500_000, 1_000_000])
    ap.add_argument("--dims", type=int, nargs="+", default=[384, 768])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--budget", type=int, default=10_000)
    ap.add_argument("--direct-max", type=int, default=500_000, help="largest pool for the direct (full-matrix) version")
    ap.add_argument("--methods", nargs="+", default=["rr_query", "max_query"])
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "datacurate_bench_similarity"))
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        mode, method, path, q, budget = a.one
        print(json.dumps(run_one(mode, method, path, int(q), int(budget))))
        return
    root = Path(a.dir); root.mkdir(parents=True, exist_ok=True)
    print(f"{'dim':>4} {'pool':>9} {'method':>9} {'mode':>9} {'seconds':>8} {'rows/s':>10} {'heap GiB':>9} {'maxrss GiB':>10}")
    for d in a.dims:
        for n in a.sizes:
            path = root / f"pool_{n}_{d}.npy"
            make_pool(path, n, d)
            for method in a.methods:
                for mode in ("streaming", "direct"):
                    if mode == "direct" and n > a.direct_max: continue
                    out = subprocess.run([sys.executable, __file__, "--one", mode, method, str(path), str(a.queries), str(a.budget)],
                                         capture_output=True, text=True)
                    if out.returncode:
                        print(f"{d:>4} {n:>9} {method:>9} {mode:>9} failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
                        continue
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    print(f"{d:>4} {n:>9} {method:>9} {mode:>9} {r['seconds']:>8} {n / r['seconds']:>10.0f} "
                          f"{r['heap_gib']:>9} {r['maxrss_gib']:>10}  (checksum {r['checksum']})", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
