"""Tests of the example plugin: hand-worked values, a brute-force check, determinism, clear errors, and discovery
through the entry point of the installed distribution."""
import re

import numpy as np
import pandas as pd
import pytest

from datacurate_keyword.plugin import count_hits, keyword_pattern, top_hits, turn_text


def rec(user, answer="ok", rid=None):
    return {"id": rid or user[:8], "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def test_count_hits_by_hand():
    texts = ["Write Python code in python", "pythonic is not python?", "no match here", "PYTHON, python; Python!"]
    # whole words only: "pythonic" does not count; case does not matter; punctuation ends a word
    assert count_hits(texts, ["python"]).tolist() == [2, 1, 0, 3]
    assert count_hits(texts, ["python"], whole_words=False).tolist() == [2, 2, 0, 3]
    # several keywords, the longer one wins where they overlap ("python code" is one hit, not two)
    assert count_hits(["python code and python"], ["python", "python code"]).tolist() == [2]


def test_count_hits_matches_brute_force():
    gen = np.random.default_rng(0)
    words = ["sql", "injection", "the", "a", "SQL", "query", "sqlite"]
    texts = [" ".join(gen.choice(words, size=int(gen.integers(0, 12)))) for _ in range(200)]
    brute = [sum(w.lower() in ("sql", "query") for w in t.split()) for t in texts]
    assert count_hits(texts, ["sql", "query"]).tolist() == brute


def test_keywords_are_literal_not_patterns():
    assert count_hits(["c++ and c"], ["c++"], whole_words=False).tolist() == [1]
    assert keyword_pattern(["a.b"]).search("axb") is None


def test_turn_text_picks_roles():
    pool = [rec("question one", "answer one")]
    assert turn_text(pool) == ["question one"]
    assert turn_text(pool, ("user", "assistant")) == ["question one\nanswer one"]
    with pytest.raises(ValueError, match=re.escape("unknown role(s) ['bot']")):
        turn_text(pool, ("bot",))


def test_top_hits_order_ties_and_note():
    hits = np.array([0, 3, 1, 3, 2, 0])
    sel = top_hits(hits, budget=3, rng=np.random.default_rng(0))
    assert sorted(sel.indices[:2].tolist()) == [1, 3] and sel.indices[2] == 4  # 3, 3, then 2
    assert sel.info["keyword_hits"].tolist() == [3, 3, 2] and sel.note == ""
    # same seed, same order; a budget larger than the eligible set says what it chose instead
    assert top_hits(hits, 3, np.random.default_rng(0)).indices.tolist() == sel.indices.tolist()
    big = top_hits(hits, budget=10, rng=np.random.default_rng(0), min_hits=2)
    assert sorted(big.indices.tolist()) == [1, 3, 4]
    assert big.note == "budget 10 exceeds the 3 records with at least 2 keyword hit(s): chose all 3"


def test_ties_are_shuffled_by_the_seed():
    hits = np.ones(50, dtype=int)
    orders = {tuple(top_hits(hits, 5, np.random.default_rng(s)).indices) for s in range(5)}
    assert len(orders) > 1


def test_bad_params_are_clear_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        keyword_pattern([])
    with pytest.raises(ValueError, match="non-empty list"):
        keyword_pattern(["ok", ""])
    bad = [{"id": "r0", "messages": [{"role": "user", "content": 7}]}]
    with pytest.raises(ValueError, match=re.escape("record 0 (id 'r0'): messages[0].content")):
        turn_text(bad)


def test_discovered_through_its_entry_point_and_runs_in_a_pipeline():
    from datacurate.pipeline import Pipeline
    from datacurate.plugins import methods, reload_plugins
    reload_plugins()
    found = methods()
    assert found["keyword_hits"].distribution == "datacurate-keyword"
    assert found["keyword_top"].stages == ("aggregate",)
    pool = [rec("How do I parse JSON in Python?"), rec("Best pizza in town?"), rec("Python: read a file, in Python"),
            rec("python or rust for a CLI?")]
    p = Pipeline(pool, budget=2, seed=0)
    p.score("keyword_hits", keywords=["python"])
    assert p.scores["keyword_hits.score"].tolist() == [1, 0, 2, 1]
    sel = p.aggregate("keyword_top")
    assert sel.indices[0] == 2 and sel.indices[1] in (0, 3)
    again = Pipeline(pool, budget=2, seed=0)
    again.score("keyword_hits", keywords=["python"])
    assert again.aggregate("keyword_top").indices.tolist() == sel.indices.tolist()
    with pytest.raises((KeyError, ValueError), match="run the `keyword_hits` score step first"):
        Pipeline(pool, budget=2).aggregate("keyword_top")
    with pytest.raises(ValueError, match="missing required parameter 'keywords'"):
        Pipeline(pool, budget=2).score("keyword_hits")
    with pytest.raises(ValueError, match="unknown parameter 'keyword'; valid: keywords"):
        Pipeline(pool, budget=2).score("keyword_hits", keyword=["python"])


def test_conformance():
    from datacurate.testing import check_method
    check_method("keyword_hits", params={"keywords": ["question"]})
    check_method("keyword_top", setup=lambda p: p.score("keyword_hits", keywords=["question"]))
