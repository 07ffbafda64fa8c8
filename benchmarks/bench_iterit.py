"""IterIT greedy (complexity x TF-IDF diversity with n-gram decay): time and peak memory, incremental vs lazy vs direct.

    .venv/bin/python benchmarks/bench_iterit.py                 # 50k and 500k responses, 5% budget
    .venv/bin/python benchmarks/bench_iterit.py --sizes 20000 --direct-picks 100 --text

The TF-IDF matrices are synthetic by default: L2-normalised rows with lognormal lengths (mean ~100 distinct 1-3-grams,
about the size of an Alpaca response) over a Zipf vocabulary of 4 x n columns, weighted by smooth idf. With --text,
the 50k case is also run on a matrix fitted by `tfidf_features` (TfidfVectorizer, 1-3-grams) on synthetic Zipf-word
texts, which times the fit as well. The direct strategy recomputes every row sum each pick; it is run for
`--direct-picks` picks only and its full time is extrapolated linearly (its per-pick cost does not shrink), and its
picks are compared with the prefix of the incremental ones.
"""
import argparse
import resource
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from datacurate_iterit.greedy import greedy_select, tfidf_features


def synthetic_tfidf(n, mean_nnz=100, seed=0):
    rng = np.random.default_rng(seed)
    vocab = max(1000, 4 * n)
    lens = np.clip(rng.lognormal(np.log(mean_nnz) - 0.32, 0.8, n).astype(np.int64), 1, None)
    p = 1.0 / (np.arange(vocab) + 20.0) ** 1.05
    cols = np.searchsorted(np.cumsum(p / p.sum()), rng.random(int(lens.sum())), side="right").clip(0, vocab - 1)
    T = sp.csr_matrix((np.ones(len(cols), np.float64), (np.repeat(np.arange(n), lens), cols.astype(np.int32))),
                      shape=(n, vocab))
    T.sum_duplicates()
    idf = np.log((1 + n) / (1 + np.bincount(T.indices, minlength=vocab))) + 1
    T.data *= idf[T.indices]
    norms = np.sqrt(np.bincount(np.repeat(np.arange(n), np.diff(T.indptr)), weights=T.data ** 2, minlength=n))
    T.data /= np.repeat(norms, np.diff(T.indptr))
    return T


def synthetic_texts(n, mean_words=60, seed=0):
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(50_000)])
    p = 1.0 / (np.arange(len(words)) + 10.0); p /= p.sum()
    lens = np.clip(rng.lognormal(np.log(mean_words) - 0.3, 0.7, n).astype(int), 3, None)
    flat = words[rng.choice(len(words), size=int(lens.sum()), p=p)]
    return [" ".join(x) for x in np.split(flat, np.cumsum(lens)[:-1])]


def timed(fn):
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, secs, peak / 2**20


def run(label, X, budget, gamma, direct_picks):
    n = X.shape[0]
    ifd = np.random.default_rng(1).uniform(0.3, 1.0, n).astype(np.float32)
    print(f"\n[{label}] n={n:,} columns={X.shape[1]:,} nnz={X.nnz:,} budget={budget:,} gamma={gamma}")
    res = {}
    for strategy in ("incremental", "lazy"):
        out, s, mb = timed(lambda: greedy_select(ifd, X, budget, gamma, strategy))
        res[strategy] = out["row"].to_numpy()
        print(f"  {strategy:<12} {s:8.1f} s  {budget / s:9.0f} picks/s  peak traced {mb:7.0f} MiB")
    same = np.array_equal(res["incremental"], res["lazy"])
    k = min(direct_picks, budget)
    out, s, mb = timed(lambda: greedy_select(ifd, X, budget, gamma, "direct", max_picks=k))
    same_direct = np.array_equal(out["row"].to_numpy(), res["incremental"][:k])
    print(f"  {'direct':<12} {s:8.1f} s for {k} picks -> {s / k * budget:9.0f} s extrapolated to {budget:,} picks"
          f"  peak traced {mb:7.0f} MiB")
    print(f"  same picks: incremental == lazy: {same}; direct == incremental on the first {k}: {same_direct}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[50_000, 500_000])
    ap.add_argument("--budget", type=float, default=0.05)
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--direct-picks", type=int, default=50)
    ap.add_argument("--text", action="store_true", help="also fit TfidfVectorizer on synthetic texts (first size)")
    a = ap.parse_args()
    for n in a.sizes:
        X, s, _ = timed(lambda: synthetic_tfidf(n))
        print(f"synthetic tf-idf {n:,}: built in {s:.1f} s")
        run(f"synthetic {n:,}", X, int(a.budget * n), a.gamma, a.direct_picks)
        del X
    if a.text:
        n = a.sizes[0]
        texts = synthetic_texts(n)
        (X, _), s, mb = timed(lambda: tfidf_features(texts))
        print(f"\nTfidfVectorizer(1-3-grams) fit on {n:,} texts: {s:.1f} s, peak traced {mb:.0f} MiB")
        run(f"text tf-idf {n:,}", X, int(a.budget * n), a.gamma, a.direct_picks)
    print(f"\nprocess peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
    main()
