"""dedup plugin: MinHash LSH against exact Jaccard and datasketch, keep rules, SemDeDup against a brute-force greedy."""
import numpy as np
import pytest

import datacurate_dedup.plugin as dd
from datacurate.errors import RecordError
from datacurate_dedup.plugin import greedy_filter, minhash_dedup, semdedup, unit_rows

WORDS = [f"w{i}" for i in range(5000)]


def rec(i, text, q="question"):
    return {"id": f"r{i}", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": text}]}


def planted(seed=0, n_base=60, n_near=15, length=150):
    gen = np.random.default_rng(seed)
    texts = [" ".join(gen.choice(WORDS, length)) for _ in range(n_base)]
    recs = [rec(i, t) for i, t in enumerate(texts)]
    near = {}
    for k in range(n_near):
        src = int(gen.integers(n_base))
        w = texts[src].split(); w[int(gen.integers(length))] = "CHANGED"
        variant = ("  ".join(w)).upper() + " !" if k % 2 else " ".join(w)  # case, spacing, punctuation: normalised away
        recs.append(rec(n_base + k, variant)); near[f"r{n_base + k}"] = src
    return recs, near


def exact_jaccard(recs, ngram=5):
    import re
    sets = []
    for r in recs:
        w = [x for m in r["messages"] for x in re.sub(r"[^\w\s]+", "", m["content"].lower()).split()]
        sets.append({tuple(w[i:i + ngram]) for i in range(len(w) - ngram + 1)} if len(w) >= ngram else {tuple(w)})
    n = len(sets)
    return np.array([[len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for j in range(n)] for i in range(n)])


def test_minhash_finds_planted_and_names_them():
    recs, near = planted()
    t = minhash_dedup(recs, threshold=0.8)
    J = exact_jaccard(recs)
    ids = np.array([r["id"] for r in recs])
    dup = ~t["eligible"].to_numpy()
    for i in np.flatnonzero(dup):  # every flagged record is truly close to the record it is said to duplicate
        j = int(np.flatnonzero(ids == t["duplicate_of"][i])[0])
        assert J[i, j] >= 0.6 and t["eligible"][j] and t["reason"][i] == f"duplicate of {ids[j]}"
        assert t["cluster"][i] == t["cluster"][j] >= 0 and 0.6 <= t["score"][i] <= 1
    iu = np.triu_indices(len(recs), 1)
    hi = J[iu] >= 0.9
    grouped = t["cluster"].to_numpy()
    same = [grouped[i] >= 0 and grouped[i] == grouped[j] for i, j in zip(iu[0][hi], iu[1][hi])]
    assert np.mean(same) >= 0.95 and hi.sum() >= 10
    assert not t["eligible"][t["reason"] != ""].any() and (t["duplicate_of"][t["eligible"]] == "").all()
    c = t.attrs["counts"]
    assert c["records"] == len(recs) and c["duplicates"] == dup.sum() and c["kept"] == len(recs) - dup.sum()


def test_minhash_matches_datasketch_groups():
    from datasketch import MinHash, MinHashLSH
    import re
    recs, near = planted(1, n_base=40, n_near=10)
    lsh = MinHashLSH(threshold=0.8, num_perm=128, weights=(0.1, 0.9))  # the bands minhash_dedup uses by default
    mhs = []
    for r in recs:
        w = [x for m in r["messages"] for x in re.sub(r"[^\w\s]+", "", m["content"].lower()).split()]
        m = MinHash(num_perm=128); m.update_batch([" ".join(w[i:i + 5]).encode() for i in range(len(w) - 4)])
        lsh.insert(r["id"], m); mhs.append(m)
    ref = set()
    for r, m in zip(recs, mhs):
        for other in lsh.query(m):
            if other != r["id"] and m.jaccard(mhs[int(other[1:])]) >= 0.8: ref.add(frozenset((r["id"], other)))
    t = minhash_dedup(recs, threshold=0.8)
    ids = np.array([r["id"] for r in recs]); g = t["cluster"].to_numpy()
    ours = {frozenset(ids[g == k]) for k in np.unique(g[g >= 0])}
    groups = {x: {x} for pair in ref for x in pair}  # the reference's pairs joined into groups
    for a, b in map(tuple, ref):
        merged = groups[a] | groups[b]
        for x in merged: groups[x] = merged
    truth = {}
    for copy, src in near.items(): truth.setdefault(f"r{src}", {f"r{src}"}).add(copy)
    truth = {frozenset(v) for v in truth.values()}  # the planted groups: a source and its near copies
    assert ours == truth and {frozenset(v) for v in groups.values()} == truth


def test_keep_rules():
    base = " ".join(WORDS[:40])
    recs = [rec(0, base), rec(1, base + " extra words here"), rec(2, "something else entirely " * 3), rec(3, base + "!")]
    first = minhash_dedup(recs, threshold=0.7)
    assert first["eligible"].tolist() == [True, False, True, False] and set(first["duplicate_of"][[1, 3]]) == {"r0"}
    longest = minhash_dedup(recs, threshold=0.7, keep="longest")
    assert longest["eligible"].tolist() == [False, True, True, False] and longest["duplicate_of"][0] == "r1"
    by = minhash_dedup(recs, threshold=0.7, keep_by=[0.1, 0.2, 0.0, 0.9])
    assert by["eligible"].tolist() == [False, False, True, True]
    low = minhash_dedup(recs, threshold=0.7, keep_by=[0.1, 0.2, 0.0, 0.9], keep_descending=False)
    assert low["eligible"].tolist() == [True, False, True, False]


def test_spill_to_scratch_file_same_result(monkeypatch, tmp_path):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path))
    recs, _ = planted(2, n_base=80, n_near=20)
    ref = minhash_dedup(recs, chunk_rows=16)
    monkeypatch.setattr(dd, "SPILL_BYTES", 1000)  # force the memory-mapped path
    got = minhash_dedup(recs, chunk_rows=16)
    assert got.equals(ref) and not list((tmp_path / "tmp").glob("*"))


def test_empty_text_never_duplicate():
    t = minhash_dedup([rec(0, "", q=""), rec(1, "", q=""), rec(2, "a b c")])
    assert t["eligible"].all()


def test_greedy_filter_against_reference():
    gen = np.random.default_rng(0)
    for trial in range(20):
        X = unit_rows(np.repeat(gen.normal(size=(20, 6)), 3, 0) + 0.25 * gen.normal(size=(60, 6)))
        kept, best, match = greedy_filter(X, 0.9, block=int(gen.integers(1, 70)))
        ref = []
        for i in range(len(X)):
            if not ref or max(float(X[i] @ X[j]) for j in ref) <= 0.9: ref.append(i)
        assert np.flatnonzero(kept).tolist() == ref
        for i in np.flatnonzero(~kept):  # best: max cosine with an earlier kept row, match: that row
            earlier = [j for j in ref if j < i]
            assert match[i] == earlier[int(np.argmax([X[i] @ X[j] for j in earlier]))]


def test_semdedup_with_vectors():
    gen = np.random.default_rng(0)
    centers = unit_rows(gen.normal(size=(30, 16)))
    X = np.concatenate([centers, unit_rows(centers[:10] + 0.05 * gen.normal(size=(10, 16)))]).astype(np.float32)
    recs = [rec(i, f"t{i}") for i in range(len(X))]
    t = semdedup(recs, vectors=X, threshold=0.95, clusters=4, keep="first")
    assert (~t["eligible"]).sum() == 10 and t["duplicate_of"][30:].tolist() == [f"r{i}" for i in range(10)]
    U = unit_rows(X)
    d = np.flatnonzero(~t["eligible"].to_numpy())
    np.testing.assert_allclose(t["score"][d], (U[d] * U[d - 30]).sum(1), atol=1e-5)
    lab = t["cluster"].to_numpy(); keep = np.flatnonzero(t["eligible"].to_numpy())
    S = U[keep] @ U[keep].T; same = lab[keep][:, None] == lab[keep][None]
    assert (S[same & ~np.eye(len(keep), dtype=bool)] <= 0.95).all()  # no two kept records of a cluster are duplicates
    by = semdedup(recs, vectors=X, threshold=0.95, clusters=4, keep_by=np.r_[np.zeros(30), np.ones(10)])
    assert by["eligible"][30:].all() and (~by["eligible"][:10]).all()


def test_bad_input():
    with pytest.raises(RecordError, match=r"record 1 \(id 'b'\): field 'messages\[0\]\.content'"):
        minhash_dedup([rec(0, "x"), {"id": "b", "messages": [{"role": "user", "content": 5}]}])
    X = np.ones((3, 4), np.float32); X[2, 0] = np.inf
    with pytest.raises(RecordError, match=r"record 2 \(id 'r2'\): field 'embedding'"):
        semdedup([rec(i, "t") for i in range(3)], vectors=X)
    with pytest.raises(ValueError, match=r"vectors must be \(records, dim\)"):
        semdedup([rec(i, "t") for i in range(3)], vectors=np.ones((2, 4)))
    with pytest.raises(ValueError, match="keep must be"):
        minhash_dedup([rec(0, "x")], keep="hard")
    with pytest.raises(TypeError, match="pass vectors="):
        semdedup([rec(0, "x")])
