"""kmq plugin: quotas in every corner (hypothesis), sampling against brute force, weight update by hand, k-means checks."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from datacurate_kmq.iterative import cluster_gaps, round_budgets, update_weights
from datacurate_kmq.kmeans import kmeans
from datacurate_kmq.kmq import cluster_quotas, kmq_select, sample_within_clusters, softmax_by_group


@settings(max_examples=400, deadline=None)
@given(sizes=st.lists(st.integers(0, 50), min_size=1, max_size=40), budget=st.integers(0, 400),
       mode=st.sampled_from(["equal", "proportional", "weights"]), data=st.data())
def test_quotas_exact(sizes, budget, mode, data):
    w = None
    if mode == "weights":
        w = data.draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-300, 1e6)), min_size=len(sizes), max_size=len(sizes)))
    q = cluster_quotas(sizes, budget, "equal" if mode == "weights" else mode, weights=w, rng=np.random.default_rng(0))
    assert q.sum() == min(budget, sum(sizes))
    assert (q <= np.asarray(sizes)).all() and (q >= 0).all()


def test_quotas_equal_is_fair():
    # equal shares: no two clusters that both have room differ by more than one
    q = cluster_quotas([100] * 7, 23)
    assert q.max() - q.min() <= 1 and q.sum() == 23
    # k > budget: each chosen cluster gets one; the choice is seeded
    a = cluster_quotas([5] * 10, 3, rng=np.random.default_rng(1))
    b = cluster_quotas([5] * 10, 3, rng=np.random.default_rng(1))
    assert (a == b).all() and sorted(a.tolist()) == [0] * 7 + [1] * 3


def test_quotas_reference_shortfall_fixed():
    # methods.md §1.6: n=7150, K=1024 gave at most 6144 in the reference (floor, no redistribution)
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 300, 1024)
    assert cluster_quotas(sizes, 7150).sum() == 7150


def test_softmax_no_overflow_and_temperature():
    lab = np.array([0, 0, 1, 1])
    p = softmax_by_group(lab, [1000.0, 999.0, -1e4, -1e4 - 1], 1.0)
    assert np.isfinite(p).all() and np.allclose(np.bincount(lab, weights=p), 1)
    assert np.isclose(p[0] / p[1], np.e)
    assert np.allclose(softmax_by_group(lab, [1.0, 2.0, 3.0, 4.0], 1e9), 0.5)


def test_frequencies_converge_to_softmax():
    lab = np.repeat(np.arange(3), 4)
    q = np.array([0, 1, 2, 3, 5, 5, 5, 5, -1, 0, 1, 4], dtype=float)
    p = softmax_by_group(lab, q, 1.5)
    rng = np.random.default_rng(0)
    n = 30000
    counts = np.zeros(len(lab))
    for _ in range(n):
        counts[sample_within_clusters(lab, [1, 1, 1], q, 1.5, rng)[0]] += 1
    assert np.abs(counts / n - p).max() < 4 * np.sqrt(0.25 / n) + 1e-3


def test_kmq_select_budget_and_note():
    lab = np.array([0, 0, 0, 1, 2, 2])
    sel = kmq_select(lab, 4, np.zeros(6), rng=np.random.default_rng(0))
    assert len(sel) == 4 and set(np.bincount(lab[sel.indices], minlength=3)) <= {1, 2}
    sel = kmq_select(lab, 10, None)
    assert len(sel) == 6 and "exceeds the 6 eligible" in sel.note
    with pytest.raises(ValueError, match="record 2"):
        kmq_select(lab, 2, [0, 0, np.inf, 0, 0, 0])


def test_weight_update_by_hand():
    prev = np.array([0.25, 0.25, 0.5]); D = np.array([0.0, np.log(2.0), np.log(4.0)])
    s = np.array([1, 2, 4]) / 7  # softmax(D) = exp(D)/sum
    assert np.allclose(update_weights(prev, D, "replace"), s)
    m = prev * s
    assert np.allclose(update_weights(prev, D), m / m.sum())
    assert np.allclose(update_weights(prev, 2 * D, temperature=2.0), m / m.sum())


def test_round_budgets_and_gaps():
    for n in range(0, 30):
        for r in range(1, 6):
            b = round_budgets(n, r)
            assert b.sum() == n and b.max() - b.min() <= 1
    g = cluster_gaps([0, 1, 1, 3], [1, 2], [2.0, 4.0], k=4)
    assert g.mean_gap.tolist() == [3.0, 3.0, 3.0, 3.0] and g.n_scored.tolist() == [0, 2, 0, 0]


def test_kmeans_deterministic_and_bruteforce():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    a, b = kmeans(x, 12, seed=3, fit_size=1000), kmeans(x, 12, seed=3, fit_size=1000)
    assert (a.labels == b.labels).all() and np.array_equal(a.centroids, b.centroids)
    d = ((x[:, None] - a.centroids[None]) ** 2).sum(-1)
    assert (a.labels == d.argmin(1)).all() and np.isclose(a.inertia, d.min(1).sum(), rtol=1e-4)
    mm = np.lib.format.open_memmap("/tmp/_kmq_test.npy", mode="w+", dtype=np.float32, shape=x.shape)
    mm[:] = x; mm.flush()
    c = kmeans(np.load("/tmp/_kmq_test.npy", mmap_mode="r"), 12, seed=3, fit_size=1000, block=700)
    assert (c.labels == a.labels).all()  # a memory map read in blocks gives the same result
