"""length plugin: hand-worked counts, tokens against a one-at-a-time tokenizer loop, turn modes, errors, picks."""
import numpy as np
import pandas as pd
import pytest

from datacurate.models import tiny_tokenizer
from datacurate.errors import RecordError
from datacurate_length.plugin import length_scores, top_by_score

RECS = [
    {"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "one two three"}]},
    {"id": "b", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "q1"},
                             {"role": "assistant", "content": "x"}, {"role": "user", "content": "q2"},
                             {"role": "assistant", "content": "  five  words are in here "}]},
    {"id": "c", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]},
]


def test_hand_worked_chars_words():
    # a: 13 chars / 3 words; b: turns 1 + 26 chars, 1 + 5 words; c: empty
    t = length_scores(RECS, "chars", "total")
    assert t["score"].tolist() == [13, 27, 0] and t["turns"].tolist() == [1, 2, 1]
    assert length_scores(RECS, "chars", "last")["score"].tolist() == [13, 26, 0]
    assert length_scores(RECS, "words", "total")["score"].tolist() == [3, 6, 0]
    assert length_scores(RECS, "words", "mean")["score"].tolist() == [3, 3, 0]
    assert t["eligible"].tolist() == [True, True, False] and t["reason"].tolist() == ["", "", "empty_answer"]


@pytest.mark.parametrize("turns", ["total", "last", "mean"])
@pytest.mark.parametrize("chunk", [1, 2, 100])
def test_tokens_match_loop(turns, chunk):
    tok = tiny_tokenizer()
    gen = np.random.default_rng(0)
    words = ["the", "quick", "fox", "def", "add(a,", "b):", "return", "Paris", "bonjour", "\n", "2 + 2"]
    recs = []
    for i in range(23):
        msgs = []
        for _ in range(int(gen.integers(1, 4))):
            msgs += [{"role": "user", "content": "q"},
                     {"role": "assistant", "content": " ".join(gen.choice(words, int(gen.integers(0, 30))))}]
        recs.append({"id": str(i), "messages": msgs})
    expect = []
    for r in recs:  # the obvious way: one turn at a time
        n = [len(tok.encode(m["content"], add_special_tokens=False)) for m in r["messages"] if m["role"] == "assistant"]
        expect.append({"total": sum(n), "last": n[-1], "mean": np.mean(n)}[turns])
    got = length_scores(recs, "tokens", turns, tokenizer=tok, chunk_rows=chunk)["score"]
    np.testing.assert_allclose(got, expect)


def test_pool_with_index_mapping(tmp_path, monkeypatch):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path))
    from datacurate.pool import load_pool
    pool = load_pool([{k: v for k, v in r.items()} for r in RECS[:2]] * 1 + [
        {"id": "d", "messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "abcd"}]}])
    sub = pool.select([2, 0])  # an index mapping over the Arrow table: chunks must honour it
    assert length_scores(sub, "chars")["score"].tolist() == [4, 13]


def test_bad_input_names_record_and_field():
    with pytest.raises(RecordError, match=r"record 1 \(id 'y'\): field 'messages'"):
        length_scores([RECS[0], {"id": "y", "messages": "hello"}], "chars")
    with pytest.raises(RecordError, match=r"record 0 \(id 'z'\): field 'messages\[1\]\.content'"):
        length_scores([{"id": "z", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}]}],
                      "words")
    with pytest.raises(RecordError, match=r"record 2: field 'messages\[0\]\.role'"):
        length_scores([RECS[0], RECS[1], {"messages": [{"content": "x"}]}], "words", chunk_rows=2)
    with pytest.raises(ValueError, match="turns must be one of"):
        length_scores(RECS, "chars", "first")


def test_top_by_score_against_sort():
    gen = np.random.default_rng(3)
    for trial in range(30):
        n = int(gen.integers(1, 50))
        v = gen.integers(0, 6, n).astype(float)
        v[gen.random(n) < 0.1] = np.nan
        elig = gen.random(n) > 0.2
        b = int(gen.integers(0, n + 3))
        sel = top_by_score(v, b, np.random.default_rng(trial), elig)
        ok = np.flatnonzero(elig & ~np.isnan(v))
        want = np.sort(v[ok])[::-1][:b]
        np.testing.assert_array_equal(v[sel.indices], want)  # the same multiset of values, best first
        assert set(sel.indices) <= set(ok)
        again = top_by_score(v, b, np.random.default_rng(trial), elig)
        assert sel.indices.tolist() == again.indices.tolist()


def test_ties_are_not_file_order():
    v = np.ones(200)
    picks = top_by_score(v, 20, np.random.default_rng(0)).indices
    assert sorted(picks.tolist()) != list(range(20))
    assert isinstance(top_by_score(v, 3, np.random.default_rng(0)).info, pd.DataFrame)
