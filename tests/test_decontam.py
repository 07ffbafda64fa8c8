"""Decontamination checked a second way: brute force over every pair of texts with Python sets and slices."""
import numpy as np
import pytest

from datacurate.decontam import build_test_index, decontaminate, find_overlaps, words


def _grams(w, n): return {tuple(w[k:k + n]) for k in range(len(w) - n + 1)}


def _contains(big, small):
    m = len(small)
    return any(big[k:k + m] == small for k in range(len(big) - m + 1))


def brute(pool, tests, n, min_words):
    "{(pool row, test row): kind} with the same precedence: exact, contained, ngram."
    out = {}
    for i, a in enumerate(pool):
        wa = words(a)
        for j, b in enumerate(tests):
            wb = words(b)
            if wa and wa == wb: out[(i, j)] = "exact"
            elif (min_words <= len(wb) < n and _contains(wa, wb)) or (min_words <= len(wa) < n and _contains(wb, wa)):
                out[(i, j)] = "contained"
            elif len(wa) >= n and len(wb) >= n and _grams(wa, n) & _grams(wb, n): out[(i, j)] = "ngram"
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(6)]
    text = lambda lo, hi: " ".join(rng.choice(vocab, rng.integers(lo, hi)))
    pool = [text(0, 30) for _ in range(200)] + ["", "W0, w1!"]
    tests = [text(3, 25) for _ in range(30)]
    pool += [tests[0].upper(), tests[5] + "."]  # exact copies (case and punctuation do not count)
    n, mw = 6, 3
    ix = build_test_index(tests, n=n, min_words=mw)
    got = find_overlaps(pool, ix, min_words=mw, chunk_rows=23)
    want = brute(pool, tests, n, mw)
    assert dict(zip(zip(got.pool_row, got.test_row), got.kind)) == want
    assert len(want) > 20 and set(want.values()) == {"exact", "contained", "ngram"}
    # the chunk size does not change the answer
    again = find_overlaps(pool, ix, min_words=mw, chunk_rows=10_000)
    assert again.equals(got)


def test_shared_counts_and_fraction():
    tests = ["a b c d e f g"]  # 7 words: 4 runs of 4
    pool = ["x a b c d e y", "a b c d e f g h", "nothing here at all really"]
    ix = build_test_index(tests, n=4, min_words=100)
    ov = find_overlaps(pool, ix, min_words=100)
    got = {r.pool_row: (r.kind, r.shared, r.fraction) for r in ov.itertuples()}
    assert got == {0: ("ngram", 2, 0.5), 1: ("ngram", 4, 1.0)}
    strict = find_overlaps(pool, ix, min_words=100, min_fraction=0.75)
    assert strict.pool_row.tolist() == [1]


def test_decontaminate_reasons_and_ids():
    m = lambda q, a: [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    pool = [{"id": "p0", "messages": m("Explain recursion with an example in Python please", "A function calling itself.")},
            {"id": "p1", "messages": m("What is 2+2?", "4")},
            {"id": "p2", "messages": m("explain RECURSION with an example in python, please!", "a function calling itself")}]
    tests = {"cs": [{"id": "t9", "messages": m("Explain recursion with an example in Python please", "A function calling itself.")}],
             "math": [{"id": "m1", "messages": m("What is 3+3?", "6")}]}
    d = decontaminate(pool, tests)
    assert d.table.eligible.tolist() == [False, True, False]
    assert d.table.reason.tolist() == ["test overlap: cs t9", "", "test overlap: cs t9"]
    assert d.summary()["by_task"] == {"cs": 2} and d.summary()["flagged"] == 2


def test_plugin_step_and_declared_parameters():
    from datacurate.pipeline import Pipeline
    from datacurate.plugins import check_step
    m = lambda q, a: [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    pool = [{"id": f"p{i}", "messages": m(f"question number {i} about the weather today in town", f"answer {i}")} for i in range(20)]
    tests = {"wx": [{"id": "t0", "messages": pool[3]["messages"]}]}
    p = Pipeline(pool, budget=5, seed=0, progress=False)
    out = p.score("decontam", tests=tests)
    assert out.columns[:3].tolist() == ["score", "eligible", "reason"]
    assert out.eligible.tolist() == [i != 3 for i in range(20)] and out.reason[3] == "test overlap: wx t0"
    with pytest.raises(ValueError, match="unknown parameter 'ngram'"):
        check_step("score", "decontam", {"tests": tests, "ngram": 8})
    assert check_step("score", "decontam", {"tests": tests})["n"] == 13
