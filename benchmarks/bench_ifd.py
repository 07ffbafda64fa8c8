"""IFD throughput: batched (`ifd_scores`) vs a batch-size-1 loop of the same formula on the same model and data.

Usage:  python benchmarks/bench_ifd.py [--n 300] [--model smollm2-135m] [--max-length 512] [--sizes 250,500,1000,2000]
                                       [--fla 10000,50000,100000]

Prints: examples/s batched and one at a time, the speedup, the largest score difference and whether the selections
agree; peak resident memory (ru_maxrss) after each phase; growth with pool size on a tiny random Llama; and the
facility-location step of Superfiltering.D (kNN graph + lazy greedy) on random unit vectors.
"""
import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def demo_records(n: int, seed: int = 0):
    from datacurate.demo import build_demo_pool
    from datacurate.pool import load_pool
    tmp = Path(tempfile.mkdtemp())
    pool = load_pool(build_demo_pool(tmp / "pool.jsonl"), cache_dir=tmp / "cache")
    idx = np.sort(np.random.default_rng(seed).choice(len(pool), min(n, len(pool)), replace=False))
    return pool.select(idx)


def timed(fn):
    t = time.perf_counter(); out = fn(); return out, time.perf_counter() - t


def compare(records, model, label, **kw):
    from datacurate_ifd.plugin import ifd_scores, select_ifd
    n = len(records)
    ifd_scores(records[:8] if isinstance(records, list) else records.select(range(min(8, n))), model, **kw)  # warm-up
    batched, tb = timed(lambda: ifd_scores(records, model, **kw))
    rss_b = rss_mib()
    loop, tl = timed(lambda: ifd_scores(records, model, batched=False, **kw))
    diff = np.nanmax(np.abs(batched["score"].to_numpy() - loop["score"].to_numpy()))
    same_nan = bool((batched["score"].isna() == loop["score"].isna()).all())
    k = max(1, n // 10)
    sa = select_ifd(batched["score"], k, rng=np.random.default_rng(0)).indices
    sb = select_ifd(loop["score"], k, rng=np.random.default_rng(0)).indices
    toks = int(batched["tokens"].sum())
    print(f"{label}: {n} records, {toks} answer tokens")
    print(f"  batched  {tb:8.2f} s  {n / tb:8.1f} examples/s   peak RSS {rss_b:,.0f} MiB")
    print(f"  bs=1     {tl:8.2f} s  {n / tl:8.1f} examples/s   peak RSS {rss_mib():,.0f} MiB")
    print(f"  speedup  {tl / tb:8.1f}x   max |IFD batched - IFD bs1| = {diff:.2e}   same NaNs: {same_nan}   "
          f"same top-10% selection: {sa.tolist() == sb.tolist()}")
    return tb, tl


def growth(sizes, max_length):
    from datacurate.models import tiny_lm
    from datacurate_ifd.plugin import ifd_scores
    lm = tiny_lm(hidden=128, layers=4)
    rng = np.random.default_rng(0)
    words = "the a sea sky blue fox dog poem write explain why 2 + 4 = list apple banana code return".split()
    def rec(i):
        msgs = []
        for _ in range(1 + i % 2):
            msgs += [{"role": "user", "content": " ".join(rng.choice(words, int(rng.integers(5, 60))))},
                     {"role": "assistant", "content": " ".join(rng.choice(words, int(rng.integers(5, 120))))}]
        return {"id": str(i), "messages": msgs}
    pool = [rec(i) for i in range(max(sizes))]
    print("growth with pool size (tiny Llama h=128 l=4, 1-2 turns per record, batched):")
    print(f"  {'records':>8} {'seconds':>9} {'examples/s':>11} {'peak RSS MiB':>13}")
    for n in sizes:
        _, t = timed(lambda: ifd_scores(pool[:n], lm, max_length=max_length))
        print(f"  {n:>8} {t:>9.2f} {n / t:>11.1f} {rss_mib():>13,.0f}")
    compare(pool[:min(sizes)], lm, f"tiny Llama, batched vs bs=1", max_length=max_length)


def fla(sizes, knn=20, d=384, lazy_max=50000):
    from datacurate_ifd.diversity import facility_location, knn_similarity
    print(f"facility location (Superfiltering.D), random unit vectors d={d}, knn={knn}, budget = 10% of candidates:")
    print(f"  {'candidates':>10} {'knn s':>7} {'greedy s':>9} {'lazy s':>7} {'graph MiB':>10} {'dense would be MiB':>19} {'traced peak MiB':>16}")
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.normal(size=(n, d)).astype(np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
        tracemalloc.start()
        sim, tk = timed(lambda: knn_similarity(x, knn))
        (picks, _), tg = timed(lambda: facility_location(sim, n // 10))
        peak = tracemalloc.get_traced_memory()[1] / 2**20; tracemalloc.stop()
        (lazy, _), tl = timed(lambda: facility_location(sim, n // 10, "lazy")) if n <= lazy_max else ((picks, None), float("nan"))
        assert lazy.tolist() == picks.tolist()
        mb = (sim.data.nbytes + sim.indices.nbytes + sim.indptr.nbytes) / 2**20
        print(f"  {n:>10} {tk:>7.2f} {tg:>9.2f} {tl:>7.2f} {mb:>10.1f} {n * n * 4 / 2**20:>19,.0f} {peak:>16.1f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--sizes", default="250,500,1000,2000")
    ap.add_argument("--fla", default="10000,50000,100000")
    ap.add_argument("--skip", default="", help="comma list of phases to skip: real,growth,fla")
    a = ap.parse_args()
    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cuda: {torch.cuda.is_available()}")
    skip = set(a.skip.split(","))
    if "real" not in skip:
        from datacurate.models import load_model
        lm = load_model(a.model)
        recs = demo_records(a.n)
        for name, kw in (("superfiltering defaults (template none, prefix none, ppl ratio)",
                          dict(template="none", direct_prefix="none", ratio="ppl")),
                         ("ifd defaults (chat template, header prefix, loss ratio)", dict())):
            compare(recs, lm, f"{a.model} on the demo pool, {name}", max_length=a.max_length, **kw)
    if "growth" not in skip: growth([int(s) for s in a.sizes.split(",")], a.max_length)
    if "fla" not in skip: fla([int(s) for s in a.fla.split(",")])
