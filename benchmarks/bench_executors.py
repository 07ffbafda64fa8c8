"""Executors benchmark: the same pool through the feature worker in one process, and through Ray Data with 1 and 2
local actors (CPU), and torchrun-style local processes: wall time, throughput, start-up and per-bucket overhead.
Every run writes into its own empty feature cache, and the features are checked bitwise equal to the single process.

    .venv/bin/python benchmarks/bench_executors.py                    # tiny random Llama, 2,000 records, 32 buckets
    .venv/bin/python benchmarks/bench_executors.py --model smollm2-135m --records 200
"""
import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from datacurate.executors import ray_compute
from datacurate.models import load_model, tiny_lm
from datacurate.worker import FeatureSpec, launch_local, load_features, run_worker


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--buckets", type=int, default=32)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    if args.model == "tiny":
        lm = tiny_lm("llama", hidden=64, layers=2, seed=0)
        lm.model.save_pretrained(tmp / "model"); lm.tokenizer.save_pretrained(tmp / "model")
        name = str(tmp / "model")
    else: name = args.model
    lm = load_model(name, device="cpu", dtype="float32")
    rng = np.random.default_rng(0)
    words = "the of and to in is for on that with as by this be are from or at an it we".split()
    recs = [{"messages": [{"role": "user", "content": " ".join(rng.choice(words, rng.integers(5, 40)))},
                          {"role": "assistant", "content": " ".join(rng.choice(words, rng.integers(5, 80)))}]}
            for _ in range(args.records)]
    pool = tmp / "pool.raw.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in recs))
    spec = FeatureSpec(name, features=("loss", "mean"), max_length=256, n_buckets=args.buckets, dtype="float32")
    print(f"model {lm.model_id}: {args.records} records, {args.buckets} buckets, {os.cpu_count()} CPUs")

    t = time.perf_counter(); s1 = run_worker(recs, spec, cache=tmp / "single", model=lm); t_single = time.perf_counter() - t
    ref = load_features(recs, spec, cache=tmp / "single", model=lm)
    # per-bucket fixed cost: the same buckets again, everything cached (namespace scan, encoding skipped, read)
    t = time.perf_counter(); run_worker(recs, spec, cache=tmp / "single", model=lm, buckets_per_call=1); t_cached = time.perf_counter() - t
    rows = [("single process (model preloaded)", 1, t_single, 0.0, None)]
    print(f"single process: {t_single:.1f} s, {args.records / t_single:.1f} records/s; a pass over "
          f"{args.buckets} cached buckets one call each: {t_cached:.2f} s ({1e3 * t_cached / args.buckets:.0f} ms per bucket)")

    def check(cache):
        f = load_features(recs, spec, cache=cache, model=lm)
        assert f.stats["computed"] == 0
        for k in ("loss_sum", "mean"): assert np.array_equal(f[k], ref[k], equal_nan=True), k

    for w in map(int, args.workers.split(",")):
        t = time.perf_counter()
        launch_local(spec, pool, nprocs=w, cache=tmp / f"tr{w}", device="cpu")
        rows.append((f"torchrun-style, {w} local process(es)", w, time.perf_counter() - t, 0.0, None))
        check(tmp / f"tr{w}")
    if not args.no_ray:
        import ray
        for w in map(int, args.workers.split(",")):
            t0 = time.perf_counter()
            ray.init(num_cpus=max(2, w), include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                     object_store_memory=200 * 2**20, runtime_env={"env_vars": {k: os.environ[k] for k in (
                         "OMP_NUM_THREADS", "MKL_NUM_THREADS", "DATACURATE_HOME", "HF_HUB_OFFLINE") if k in os.environ}})
            t_start = time.perf_counter() - t0
            t = time.perf_counter()
            parts = ray_compute([r["messages"] for r in recs], spec, tmp / f"ray{w}", workers=w, device="cpu")
            wall = time.perf_counter() - t
            ray.shutdown()
            busy = sum(p["seconds"] for p in parts)
            rows.append((f"Ray Data, {w} actor(s)", w, wall, t_start, (busy, len(parts))))
            check(tmp / f"ray{w}")
    print("\n| run | workers | wall s | records/s | start-up s | actor busy s | overhead per bucket ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name_, w, wall, start, busy in rows:
        if busy is None: over, b = "", ""
        else:
            b = f"{busy[0]:.1f}"
            over = f"{1e3 * max(0.0, wall - busy[0] / w) / busy[1] * w:.0f}"
        print(f"| {name_} | {w} | {wall:.1f} | {args.records / wall:.1f} | {start:.1f} | {b} | {over} |")
    print(f"\npeak RSS (driver) {peak_mib():.0f} MiB; features bitwise equal to the single process in every run")


if __name__ == "__main__":
    main()
