"""Near-duplicate marking: records/s, peak memory and growth for MinHash LSH (10k, 100k, 1M short records) and
SemDeDup (10k, 100k vectors; 1M with --semdedup-sizes).

    .venv/bin/python benchmarks/bench_dedup.py [--minhash-sizes 10000 100000 1000000] [--semdedup-sizes 10000 100000]

Wall seconds and CPU seconds are both printed (records/s is by wall time): on a shared machine the two differ.
Every size runs in a fresh subprocess, so "peak RSS" is that run's own maximum resident set (pool generation
included; the Arrow pool is memory-mapped from disk). Records are short synthetic conversations (a 12-word question,
a 20-40-word answer from a 50k-word vocabulary) with 5% planted near-duplicates (one word appended); SemDeDup runs
on synthetic 384-dim vectors (clusters of paraphrase-like points, 5% near copies) memory-mapped from disk.
"""
import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from memory import peak_mib, reset_peak, rss_now_mib


def make_pool(n, folder, seed=0):
    import datasets
    import pyarrow as pa
    from datacurate.pool import Pool
    gen = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(50_000)], dtype=object)
    lens = gen.integers(20, 41, n)
    answers = [" ".join(vocab[gen.integers(0, 50_000, k)]) for k in lens]
    n_near = n // 20
    src = gen.integers(0, n - n_near, n_near)
    for k, s in enumerate(src):
        answers[n - n_near + k] = answers[s] + " changed"  # one extra word: Jaccard (k-1)/(k+1) >= 0.95 with k shingles
    questions = [" ".join(vocab[gen.integers(0, 50_000, 12)]) for _ in range(n)]
    for k, s in enumerate(src): questions[n - n_near + k] = questions[s]
    role = pa.array(["user", "assistant"] * n)
    content = pa.array([x for pair in zip(questions, answers) for x in pair])
    msgs = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
                                    pa.StructArray.from_arrays([role, content], ["role", "content"]))
    tbl = pa.table({"id": pa.array([f"r{i}" for i in range(n)]), "source": pa.array(["synthetic"] * n), "messages": msgs})
    ds = datasets.Dataset(datasets.table.InMemoryTable(tbl))
    ds.save_to_disk(str(folder / "pool"))
    return Pool(datasets.load_from_disk(str(folder / "pool")), name="synthetic"), n_near


def make_vectors(n, dim, folder, seed=0):
    gen = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(folder / "v.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    centers = gen.normal(size=(max(1, n // 50), dim)).astype(np.float32)
    for s in range(0, n, 1 << 16):
        m = min(1 << 16, n - s)
        X[s:s + m] = centers[gen.integers(0, len(centers), m)] + 0.8 * gen.normal(size=(m, dim)).astype(np.float32)
    n_near = n // 20
    src = gen.integers(0, n - n_near, n_near)
    X[n - n_near:] = X[np.sort(src)] + 0.01 * gen.normal(size=(n_near, dim)).astype(np.float32)
    X.flush()
    return np.load(folder / "v.npy", mmap_mode="r"), n_near


def one(method, n, dim):
    from datacurate_dedup.plugin import lsh_params, minhash_dedup, semdedup
    lsh_params(0.8, 128, (0.1, 0.9))  # datasketch's band choice (scipy integration, ~8 s once per process): not timed
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if method == "minhash":
            pool, planted = make_pool(n, d)
            gc.collect(); before = rss_now_mib(); reset_peak()
            t, c0 = time.perf_counter(), time.process_time(); out = minhash_dedup(pool)
            secs, cpu = time.perf_counter() - t, time.process_time() - c0
        else:
            X, planted = make_vectors(n, dim, d)
            recs = [{"id": f"r{i}", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
                    for i in range(n)]
            before = rss_now_mib(); reset_peak()
            t, c0 = time.perf_counter(), time.process_time(); out = semdedup(recs, vectors=X, threshold=0.95, keep="first")
            secs, cpu = time.perf_counter() - t, time.process_time() - c0
        c = out.attrs["counts"]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(dict(method=method, n=n, seconds=secs, cpu=cpu, planted=planted, duplicates=c["duplicates"],
                              peak_rss_mib=rss, rss_before_mib=before, peak_during_mib=peak_mib())))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minhash-sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--semdedup-sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--one", nargs=2)
    args = ap.parse_args()
    if args.one: return one(args.one[0], int(args.one[1]), args.dim)
    print(f"{'method':>9} {'records':>10} {'seconds':>8} {'CPU s':>8} {'records/s':>10} {'peak RSS MiB':>12} {'pool held MiB':>13} {'peak in method MiB':>18} {'planted':>8} {'flagged':>8}  growth")
    for method, sizes in (("minhash", args.minhash_sizes), ("semdedup", args.semdedup_sizes)):
        prev = None
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--one", method, str(n), "--dim", str(args.dim)],
                                 capture_output=True, text=True)
            if out.returncode: print(out.stderr[-2000:]); continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            growth = f"x{r['seconds'] / prev[1]:.1f} time, x{r['peak_during_mib'] / prev[2]:.1f} memory in the method for x{n / prev[0]:.0f} records" if prev else ""
            prev = (n, r["seconds"], r["peak_during_mib"])
            print(f"{method:>9} {n:>10,} {r['seconds']:>8.1f} {r['cpu']:>8.1f} {n / r['seconds']:>10,.0f} {r['peak_rss_mib']:>12,.0f} "
                  f"{r['rss_before_mib']:>13,.0f} {r['peak_during_mib']:>18,.0f} {r['planted']:>8,} {r['duplicates']:>8,}  {growth}", flush=True)


if __name__ == "__main__":
    main()
