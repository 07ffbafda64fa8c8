"""Decontamination throughput and memory: pool records/s, peak RSS and its growth with pool size.

Synthetic short records (12-40 words from a 5,000-word vocabulary) against 2,000 test records, 13-grams, streamed in
chunks of 16,384 pool records; 1% of the pool are planted copies or 13-word excerpts of test records, and the script
checks that every planted record is found.

    python benchmarks/bench_decontam.py --sizes 10000 100000 1000000
"""
import argparse
import resource
import time

import numpy as np

from memory import peak_mib, reset_peak, rss_now_mib


def rss_mib() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def texts(n, rng, vocab):
    lens = rng.integers(12, 40, n)
    idx = rng.integers(0, len(vocab), lens.sum())
    cuts = np.cumsum(lens)[:-1]
    return [" ".join(vocab[i] for i in part) for part in np.split(idx, cuts)]


def main(sizes, n_test=2000, chunk_rows=16384):
    from datacurate.decontam import build_test_index, find_overlaps
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(5000)], dtype=object)
    tests = texts(n_test, rng, vocab)
    ix = build_test_index(tests, n=13)
    print(f"test index: {n_test} records, {len(ix.gram_hash):,} 13-grams; RSS {rss_mib():.0f} MiB")
    print("| pool records | planted | found | seconds | records/s | RSS with the pool in memory MiB | peak RSS while matching MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        pool = texts(n, rng, vocab)
        plant = rng.choice(n, max(1, n // 100), replace=False)
        for k, i in enumerate(plant):
            t = tests[k % n_test]
            pool[i] = t if k % 2 == 0 else "intro words " + " ".join(t.split()[:13]) + " outro"
        before = rss_now_mib()
        reset_peak()
        t0 = time.perf_counter()
        ov = find_overlaps(pool, ix, chunk_rows=chunk_rows)
        s = time.perf_counter() - t0
        found = len(set(plant.tolist()) & set(ov.pool_row.tolist()))
        print(f"| {n:,} | {len(plant):,} | {found:,} | {s:.1f} | {n / s:,.0f} | {before:.0f} | {peak_mib():.0f} |", flush=True)
        assert found == len(plant)
        del pool, ov


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    main(ap.parse_args().sizes)
