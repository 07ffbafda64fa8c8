"""Properties of the IFD / Superfiltering / perplexity plugins, checked a second way (brute force, bs=1 loops)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from datacurate.models import tiny_lm
from datacurate_ifd.diversity import facility_location, knn_similarity
from datacurate_ifd.plugin import combine_ifd, ifd_scores, select_ifd
from datacurate_perplexity.plugin import perplexity_scores, select_by_loss

WORDS = "the a sea sky blue fox dog poem write explain why 2 + 4 = list apple banana code return".split()


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=3)


def _pool(seed, n=6):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        msgs = []
        for _ in range(int(rng.integers(1, 4))):
            msgs += [{"role": "user", "content": " ".join(rng.choice(WORDS, int(rng.integers(1, 10))))},
                     {"role": "assistant", "content": " ".join(rng.choice(WORDS, int(rng.integers(0, 20))))}]
        out.append({"id": f"r{i}", "messages": msgs})
    return out


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), prefix=st.sampled_from(["none", "header", "turn"]),
       max_length=st.sampled_from([24, 64, 512]), budget=st.sampled_from([32, 200, 4096]))
def test_ifd_batched_equals_bs1(lm, seed, prefix, max_length, budget):
    pool = _pool(seed)
    a = ifd_scores(pool, lm, direct_prefix=prefix, max_length=max_length, max_tokens_per_batch=budget)
    b = ifd_scores(pool, lm, direct_prefix=prefix, max_length=max_length, batched=False)
    for c in ("loss_ratio", "ppl_ratio", "loss_cond", "loss_direct"):
        np.testing.assert_allclose(a[c], b[c], rtol=1e-5, atol=1e-6, equal_nan=True)
    assert a["reason"].tolist() == b["reason"].tolist()


def test_model_in_memory_keeps_training_mode(lm):
    pool = _pool(0)
    ref = ifd_scores(pool, lm)
    lm.model.train()
    try:
        got = ifd_scores(pool, (lm.model, lm.tokenizer))
        assert lm.model.training
    finally:
        lm.model.eval()
    np.testing.assert_allclose(got["score"], ref["score"], rtol=1e-6, equal_nan=True)
    got2 = ifd_scores(pool, lm.model, tokenizer=lm.tokenizer, ratio="ppl")
    np.testing.assert_allclose(got2["ppl_ratio"], ref["ppl_ratio"], rtol=1e-6, equal_nan=True)


def test_perplexity_all_tokens_is_mean_over_sequence(lm):
    pool = _pool(1, 3)
    s = perplexity_scores(pool, lm, tokens="all")
    tok = lm.tokenizer
    for i, r in enumerate(pool):
        ids = torch.tensor(tok(tok.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            out = lm.model(ids[None], labels=ids[None])  # the reference: HF loss with labels=input_ids
        assert abs(out.loss.item() - s["loss"][i]) < 1e-5


@settings(max_examples=60, deadline=None)
@given(vals=st.lists(st.one_of(st.floats(0, 2, allow_nan=False), st.just(np.nan), st.sampled_from([0.5, 1.0])),
                     min_size=0, max_size=40),
       budget=st.integers(0, 50), threshold=st.sampled_from(["<=1", "<1", "none"]), seed=st.integers(0, 5))
def test_select_ifd_properties(vals, budget, threshold, seed):
    v = np.array(vals, dtype=float)
    sel = select_ifd(v, budget, threshold, np.random.default_rng(seed))
    ok = np.isfinite(v) & ((v <= 1) if threshold == "<=1" else (v < 1) if threshold == "<1" else True)
    assert len(sel) == min(budget, ok.sum())
    assert ok[sel.indices].all()
    picked = v[sel.indices]
    assert (np.diff(picked) <= 0).all()
    if len(sel) and len(sel) < ok.sum():  # nothing left out is better than the worst pick
        assert v[ok & ~sel.mask(len(v))].max() <= picked.min()
    assert ("exceeds" in sel.note) == (budget > ok.sum())
    again = select_ifd(v, budget, threshold, np.random.default_rng(seed))
    assert again.indices.tolist() == sel.indices.tolist()


@settings(max_examples=40, deadline=None)
@given(vals=st.lists(st.one_of(st.floats(0, 10, allow_nan=False), st.just(np.nan)), min_size=1, max_size=30),
       budget=st.integers(0, 35), rule=st.sampled_from(["top", "mid", "low"]), start=st.floats(0, 0.95))
def test_select_by_loss_properties(vals, budget, rule, start):
    v = np.array(vals, dtype=float)
    sel = select_by_loss(v, budget, rule, start, np.random.default_rng(0))
    n_ok = int(np.isfinite(v).sum())
    assert len(sel) == min(budget, n_ok)
    assert np.isfinite(v[sel.indices]).all()
    desc = np.sort(v[np.isfinite(v)])[::-1]
    if rule == "top": assert np.allclose(np.sort(v[sel.indices])[::-1], desc[:len(sel)])
    if rule == "low": assert np.allclose(np.sort(v[sel.indices]), np.sort(desc)[:len(sel)])
    if rule == "mid" and budget <= n_ok:
        first = min(int(np.floor(start * n_ok)), n_ok - budget)
        assert np.allclose(np.sort(v[sel.indices])[::-1], desc[first:first + budget])


def test_combine_single_turn_is_plain_ratio():
    t = combine_ifd([3.0], [2], [4.0], [2], [0, 1]).iloc[0]
    assert t.loss_ratio == pytest.approx(0.75) and t.ppl_ratio == pytest.approx(np.exp(1.5 - 2.0))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(2, 8), knn=st.sampled_from([1, 3, 10, None]), seed=st.integers(0, 1000))
def test_facility_location_matches_brute_force(n, d, knn, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sim = knn_similarity(x, knn)
    s = sim.toarray().astype(np.float64)
    cover, left, want = np.zeros(n), np.ones(n, bool), []
    for _ in range(n):
        g = np.where(left, np.maximum(s - cover[:, None], 0).sum(0), -1)
        j = int(np.argmax(g)); want.append(j); left[j] = False; cover = np.maximum(cover, s[:, j])
    for algorithm in ("incremental", "lazy"):
        assert facility_location(sim, n, algorithm)[0].tolist() == want
