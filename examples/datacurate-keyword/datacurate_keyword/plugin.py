"""Keyword selection for datacurate.

Two methods:

- `keyword_hits` (score): how many times any of `keywords` occurs in each record's turns of `roles` (default: the
  user turns), case-insensitive, whole words by default. Adds the score column `keyword_hits.score`.
- `keyword_top` (aggregate): the records with the most hits, at least `min_hits` (default 1); ties are broken by
  a seeded random order, so the same seed gives the same selection.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from datacurate.errors import MissingStepError
from datacurate.hookspecs import hookimpl
from datacurate.kit import eligible_mask
from datacurate.params import Param
from datacurate.selection import Selection

ROLES = ("system", "user", "assistant")


@hookimpl
def register_methods(register):
    "Two methods, each declaring its parameters (datacurate checks them before calling the hooks)."
    register("keyword_hits", stages=("score",), summary="occurrences of the given keywords in the chosen turns", params=[
        Param("keywords", (list, str), help="the words to count (plain strings, case-insensitive)"),
        Param("roles", (list, str), ["user"], "which turns to search: system, user, assistant"),
        Param("whole_words", bool, True, "count whole words only")])
    register("keyword_top", stages=("aggregate",), summary="the records with the most keyword hits (at least min_hits)", params=[
        Param("column", str, "keyword_hits.score", "the hits column (a keyword_hits step's, namespaced)"),
        Param("min_hits", int, 1, "records with fewer hits are never chosen")])


def keyword_pattern(keywords, whole_words: bool = True) -> re.Pattern:
    "One case-insensitive regular expression matching any of `keywords` (plain strings, not patterns)."
    if isinstance(keywords, str): keywords = [keywords]
    if not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise ValueError(f"keyword_hits: params.keywords must be a non-empty list of non-empty strings, got {keywords!r}")
    alts = "|".join(re.escape(k.strip()) for k in sorted(set(keywords), key=len, reverse=True))
    return re.compile(rf"\b(?:{alts})\b" if whole_words else f"(?:{alts})", re.IGNORECASE)


def turn_text(pool, roles=("user",)) -> list[str]:
    "The text of each record's turns of `roles`, joined with newlines, in pool order."
    bad = [r for r in roles if r not in ROLES]
    if bad: raise ValueError(f"keyword_hits: params.roles has unknown role(s) {bad}; roles are {ROLES}")
    texts = []
    for i, rec in enumerate(pool):
        parts = []
        for j, m in enumerate(rec["messages"]):
            if m["role"] in roles:
                if not isinstance(m["content"], str):
                    raise ValueError(f"record {i} (id {rec.get('id')!r}): messages[{j}].content is not a string")
                parts.append(m["content"])
        texts.append("\n".join(parts))
    return texts


def count_hits(texts, keywords, whole_words: bool = True) -> np.ndarray:
    "Occurrences of any of `keywords` in each of `texts` (non-overlapping, case-insensitive)."
    pat = keyword_pattern(keywords, whole_words)
    return pd.Series(list(texts), dtype=object).str.count(pat).to_numpy(dtype=np.int64)


def top_hits(hits, budget: int, rng: np.random.Generator, min_hits: int = 1, eligible=None) -> Selection:
    "The at most `budget` (eligible) rows with the most `hits` (each at least `min_hits`), ties in a seeded random order."
    hits = np.asarray(hits)
    ok = np.ones(len(hits), bool) if eligible is None else np.asarray(eligible, bool)
    tiebreak = rng.permutation(len(hits))
    order = np.lexsort((tiebreak, -hits))  # most hits first; equal hits in the seeded random order
    eligible = order[(hits[order] >= min_hits) & ok[order]]
    chosen = eligible[:budget]
    note = (f"budget {budget} exceeds the {len(eligible)} records with at least {min_hits} keyword hit(s): "
            f"chose all {len(eligible)}") if budget > len(eligible) else ""
    return Selection(chosen, method="keyword_top", info=pd.DataFrame({"keyword_hits": hits[chosen]}), note=note)


@hookimpl
def score(method, pool, params):
    "Hits per record; params arrive checked and with their defaults."
    if method == "keyword_hits":
        roles = params["roles"]
        texts = turn_text(pool, (roles,) if isinstance(roles, str) else tuple(roles))
        return pd.DataFrame({"score": count_hits(texts, params["keywords"], params["whole_words"])})


@hookimpl
def aggregate(method, scores, budget, params, context):
    "The most hits among the eligible records."
    if method == "keyword_top":
        col = params["column"]
        if not isinstance(scores, pd.DataFrame) or col not in scores.columns:
            raise MissingStepError(f"keyword_top needs the score column {col!r}: run the `keyword_hits` score step first")
        return top_hits(scores[col].to_numpy(), budget, context.rng(method), params["min_hits"], eligible_mask(scores))
