"""Benchmark for the kmq plugin: k-means (faiss, ours) vs scikit-learn KMeans, and kMQ sampling.

Synthetic data: a mixture of 512 Gaussian blobs in `dim` dimensions, float32, written once to a memory-mapped
file. Every measurement runs in a fresh subprocess, so its peak resident memory (ru_maxrss, which includes the
memory map pages it touched and faiss/BLAS buffers that tracemalloc cannot see) is its own.

    .venv/bin/python benchmarks/bench_kmq.py                        # 100k and 1M vectors, dim 384, k 256
    .venv/bin/python benchmarks/bench_kmq.py --sizes 20000 --k 64   # quick
    .venv/bin/python benchmarks/bench_kmq.py --workers driver --dim 8 --k 512 --sizes 100000 1000000 10000000

Both k-means run the same number of Lloyd iterations (`--niter`, one initialisation; sklearn `max_iter=niter, tol=0,
n_init=1`, so it cannot stop early). faiss is run twice: on all points (`fit_size=N`, the like-for-like comparison)
and with its default sample fit (256 points per centroid, then every point assigned).

The `driver` worker times the iterative-kMQ driver without a model: `KMQState.start` (round 0: a third of a 5%
budget by kMQ) on n labels, `save` (one atomic folder: labels, picks, weights, quality) and `load`; it reports the
folder size. `--workers driver` runs it alone.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(path: Path, n: int, dim: int, seed: int = 0, blobs: int = 512) -> Path:
    if path.exists() and path.stat().st_size == n * dim * 4: return path
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(blobs, dim)).astype(np.float32) * 3
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        mm[s:e] = centers[rng.integers(0, blobs, e - s)] + rng.normal(size=(e - s, dim)).astype(np.float32)
    mm.flush(); del mm
    return path


def peak_mib() -> float:
    "Peak resident memory of this process (VmHWM: reset at exec, unlike ru_maxrss which a child can inherit)."
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    except OSError: pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args) -> dict:
    x = np.load(args.data, mmap_mode="r")
    n = len(x)
    t0 = time.perf_counter()
    if args.worker in ("faiss_all", "faiss_sample"):
        from datacurate_kmq.kmeans import kmeans
        c = kmeans(x, args.k, niter=args.niter, nredo=1, seed=0, fit_size=n if args.worker == "faiss_all" else None)
        out = dict(inertia=c.inertia, fit_size=c.info["fit_size"], fit_s=c.info["fit_seconds"], assign_s=c.info["assign_seconds"],
                   iterations=args.niter, s_per_iter=round(c.info["fit_seconds"] / args.niter, 3))
    elif args.worker == "sklearn":
        from sklearn.cluster import KMeans
        km = KMeans(args.k, n_init=1, max_iter=args.niter, tol=0.0, random_state=0, algorithm="lloyd")
        km.fit(np.asarray(x))
        out = dict(inertia=float(km.inertia_), fit_size=n, iterations=int(km.n_iter_),
                   s_per_iter=round((time.perf_counter() - t0) / max(int(km.n_iter_), 1), 3))
    elif args.worker == "kmq":
        from datacurate_kmq.kmq import kmq_select
        rng = np.random.default_rng(0)
        labels = rng.integers(0, args.k, n); quality = rng.normal(size=n)
        t0 = time.perf_counter()
        sel = kmq_select(labels, n // 20, quality, rng=np.random.default_rng(1))
        out = dict(selected=len(sel))
    elif args.worker == "driver":
        import shutil
        import tempfile
        from datacurate_kmq.iterative import KMQState
        rng = np.random.default_rng(0)
        labels = rng.integers(0, args.k, n); quality = rng.normal(size=n)
        t0 = time.perf_counter()
        d = KMQState.start(None, n // 20, dict(labels=labels, k=args.k, rounds=3, quality=quality), seed=0)
        t1 = time.perf_counter()
        run = Path(tempfile.mkdtemp(prefix="kmq-driver-"))
        folder = d.save(run)
        t2 = time.perf_counter()
        back = KMQState.load(run)
        t3 = time.perf_counter()
        assert back.selected.tolist() == d.selected.tolist() and back.key == d.key
        size = sum(f.stat().st_size for f in folder.iterdir())
        shutil.rmtree(run)
        out = dict(selected=len(d.selected), start_s=round(t1 - t0, 3), save_s=round(t2 - t1, 3), load_s=round(t3 - t2, 3),
                   saved_mib=round(size / 2**20, 1))
    else: raise ValueError(args.worker)
    secs = time.perf_counter() - t0
    return dict(worker=args.worker, n=n, k=args.k, seconds=round(secs, 3), peak_rss_mib=round(peak_mib(), 1),
                records_per_s=round(n / secs), **out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--sklearn-niter", type=int, default=None, help="cap sklearn's iterations lower (it is slow at 1M)")
    ap.add_argument("--workers", nargs="+", default=["faiss_all", "faiss_sample", "sklearn", "kmq"])
    ap.add_argument("--skip-sklearn-above", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP/BLAS threads of each worker")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds before a worker is reported as timed out")
    ap.add_argument("--worker", default=None); ap.add_argument("--data", default=None)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args))); return
    tmp = Path(os.environ.get("BENCH_TMP", tempfile.gettempdir()))
    print(f"# kmq benchmark: dim={args.dim} k={args.k} niter={args.niter} threads={args.threads} "
          f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    rows = []
    for n in args.sizes:
        data = make_data(tmp / f"kmq_bench_{n}_{args.dim}.npy", n, args.dim)
        for w in args.workers:
            if w == "sklearn" and n > args.skip_sklearn_above: continue
            it = args.sklearn_niter if (w == "sklearn" and args.sklearn_niter) else args.niter
            cmd = [sys.executable, __file__, "--worker", w, "--data", str(data), "--k", str(args.k), "--niter", str(it)]
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
                       MKL_NUM_THREADS=str(args.threads))
            try:
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, timeout=args.timeout)
                res = json.loads(out.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                res = dict(worker=w, n=n, k=args.k, seconds=f">{args.timeout} (timed out)", peak_rss_mib="-", records_per_s=0)
            rows.append(res); print(json.dumps(res), flush=True)
    print("\n| n | method | seconds | iterations | s / iteration | peak RSS MiB | inertia / n |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["worker"] == "driver":
            print(f"| {r['n']:,} | driver: start {r['start_s']} s, save {r['save_s']} s, load {r['load_s']} s, "
                  f"{r['saved_mib']} MiB | {r['seconds']} | - | - | {r['peak_rss_mib']} | - |"); continue
        inert = f"{r['inertia'] / r['n']:.2f}" if "inertia" in r else "-"
        print(f"| {r['n']:,} | {r['worker']} | {r['seconds']} | {r.get('iterations', '-')} | {r.get('s_per_iter', '-')} | "
              f"{r['peak_rss_mib']} | {inert} |")


if __name__ == "__main__":
    main()
