"""Loading pools: every input adapter, strict and lenient errors, dedup, ids, caching and the Pool API."""
import gzip
import json
import os
import tempfile
from pathlib import Path

import datasets
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from datacurate.pool import LoadReport, Pool, _read_json_array, load_pool
from datacurate.schema import RecordError, content_hash

U = lambda c: {"role": "user", "content": c}
A = lambda c: {"role": "assistant", "content": c}
S = lambda c: {"role": "system", "content": c}
CHAT1 = [U("Name a prime."), A("7")]
CHAT2 = [S("Be terse."), U("Hi"), A("Hello."), U("Bye"), A("Bye.")]
CHAT3 = [U("Translate: cat\n\nto French"), A("chat")]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path / "home"))


def jsonl(path, recs):
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in recs))
    return Path(path)


def sharegpt(msgs):
    names = {"system": "system", "user": "human", "assistant": "gpt"}
    return [{"from": names[m["role"]], "value": m["content"]} for m in msgs]


def records(pool):
    return [pool[i] for i in range(len(pool))]


# ---------------------------------------------------------------- adapters: hand-written tiny inputs

EXPECTED = [{"id": "a", "source": "src", "messages": CHAT1}, {"id": "b", "source": "src", "messages": CHAT2}]


def test_jsonl_messages(tmp_path):
    p = jsonl(tmp_path / "tulu.jsonl", [{"id": "a", "messages": CHAT1}, {"id": "b", "messages": CHAT2}])
    pool = load_pool(p, source="src")
    assert records(pool) == EXPECTED and list(pool) == EXPECTED
    assert pool.dataset.column_names == ["id", "source", "messages"]


def test_jsonl_sharegpt_and_default_source(tmp_path):
    p = jsonl(tmp_path / "sg.jsonl", [{"id": "a", "conversations": sharegpt(CHAT1)}, {"id": "b", "conversations": sharegpt(CHAT2)}])
    assert records(load_pool(p)) == [{**r, "source": "sg"} for r in EXPECTED]
    assert records(load_pool(p, format="sharegpt", source="src")) == EXPECTED


def test_jsonl_alpaca_gz_and_mixed_layouts(tmp_path):
    p = tmp_path / "mix.jsonl.gz"
    rows = [{"instruction": "Translate: cat", "input": "to French", "output": "chat", "source": "alp"},
            {"messages": CHAT1, "id": 3}, {"conversations": sharegpt(CHAT2), "dataset": "sg"}]
    with gzip.open(p, "wt") as f: f.write("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert records(load_pool(p)) == [{"id": content_hash(CHAT3), "source": "alp", "messages": CHAT3},
                                     {"id": "3", "source": "mix", "messages": CHAT1},
                                     {"id": content_hash(CHAT2), "source": "sg", "messages": CHAT2}]


def test_json_array_and_json_lines(tmp_path):
    recs = [{"id": "a", "messages": CHAT1}, {"id": "b", "conversations": sharegpt(CHAT2)}]
    (tmp_path / "arr.json").write_text(json.dumps(recs, indent=2))
    jsonl(tmp_path / "lines.json", recs)
    assert records(load_pool(tmp_path / "arr.json", source="src")) == EXPECTED
    assert records(load_pool(tmp_path / "lines.json", source="src")) == EXPECTED


def test_json_array_streams_across_chunks(tmp_path):
    recs = [{"k": "x" * i, "v": [1, {"a": "]"}]} for i in range(20)]
    (tmp_path / "a.json").write_text(json.dumps(recs))
    spec = {"path": str(tmp_path / "a.json"), "name": "a.json"}
    assert [r for _, r in _read_json_array(spec, chunk_chars=5)] == recs
    (tmp_path / "e.json").write_text(" [ ] ")
    assert list(_read_json_array({"path": str(tmp_path / "e.json"), "name": "e.json"})) == []


def test_parquet_struct_and_json_string(tmp_path):
    pd.DataFrame([{"id": "a", "messages": CHAT1}, {"id": "b", "messages": CHAT2}]).to_parquet(tmp_path / "s.parquet")
    pd.DataFrame([{"id": "a", "messages": json.dumps(CHAT1)}, {"id": "b", "messages": json.dumps(CHAT2)}]).to_parquet(tmp_path / "j.parquet")
    assert records(load_pool(tmp_path / "s.parquet", source="src")) == EXPECTED
    assert records(load_pool(tmp_path / "j.parquet", source="src")) == EXPECTED


def test_parquet_alpaca_with_nulls(tmp_path):
    pd.DataFrame([{"id": 1, "instruction": "Translate: cat", "input": "to French", "output": "chat"},
                  {"id": 2, "instruction": "Name a prime.", "input": None, "output": "7"}]).to_parquet(tmp_path / "alp.parquet")
    assert records(load_pool(tmp_path / "alp.parquet")) == [{"id": "1", "source": "alp", "messages": CHAT3},
                                                             {"id": "2", "source": "alp", "messages": CHAT1}]


def test_csv_alpaca_and_messages_json(tmp_path):
    pd.DataFrame([{"id": "007", "instruction": "Translate: cat", "input": "to French", "output": "chat"},
                  {"id": "", "instruction": "Name a prime.", "input": "", "output": "7"}]).to_csv(tmp_path / "alp.csv", index=False)
    assert records(load_pool(tmp_path / "alp.csv")) == [{"id": "007", "source": "alp", "messages": CHAT3},
                                                        {"id": content_hash(CHAT1), "source": "alp", "messages": CHAT1}]
    pd.DataFrame([{"id": "a", "messages": json.dumps(CHAT1)}, {"id": "b", "messages": json.dumps(CHAT2)}]).to_csv(tmp_path / "m.csv", index=False)
    assert records(load_pool(tmp_path / "m.csv", source="src")) == EXPECTED


def test_saved_dataset_and_dataset_dict(tmp_path):
    ds = datasets.Dataset.from_list([{"id": "a", "source": "src", "messages": CHAT1}, {"id": "b", "source": "src", "messages": CHAT2}])
    ds.save_to_disk(str(tmp_path / "saved"))
    assert records(load_pool(tmp_path / "saved")) == EXPECTED
    datasets.DatasetDict({"train": ds.select([1]), "test": ds.select([0])}).save_to_disk(str(tmp_path / "dd"))
    assert records(load_pool(tmp_path / "dd", split="test")) == EXPECTED[:1]
    with pytest.raises(ValueError, match="no split 'dev'"): load_pool(tmp_path / "dd", split="dev")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="save_to_disk"): load_pool(tmp_path / "plain")


def test_in_memory_dataset_and_records():
    ds = datasets.Dataset.from_list([{"instruction": "Name a prime.", "input": None, "output": "7", "id": "a"},
                                     {"instruction": "Translate: cat", "input": "to French", "output": "chat", "id": "b"}])
    exp = [{"id": "a", "source": "dataset", "messages": CHAT1}, {"id": "b", "source": "dataset", "messages": CHAT3}]
    assert records(load_pool(ds)) == exp
    assert records(load_pool(ds.select([1, 0]))) == exp[::-1]  # an index mapping is honoured
    recs = [{"id": "a", "messages": CHAT1}, {"id": "b", "conversations": sharegpt(CHAT2)}]
    assert records(load_pool(recs, source="src")) == EXPECTED


def test_task_column_kept_when_present(tmp_path):
    p = jsonl(tmp_path / "q.jsonl", [{"id": "a", "messages": CHAT1, "task": "math"}, {"id": "b", "messages": CHAT2}])
    pool = load_pool(p)
    assert pool.dataset.column_names == ["id", "source", "messages", "task"]
    assert pool[0]["task"] == "math" and "task" not in pool[1]


def test_several_inputs_and_locators(tmp_path):
    (tmp_path / "x").mkdir(); (tmp_path / "y").mkdir()
    a = jsonl(tmp_path / "x" / "p.jsonl", [{"messages": CHAT1}])
    b = jsonl(tmp_path / "y" / "p.jsonl", [{"messages": CHAT2}, {"messages": [U("q")]}])
    c = jsonl(tmp_path / "other.jsonl", [{"instruction": "q"}])
    with pytest.raises(RecordError) as e: load_pool([a, b])
    assert e.value.locator == f"{b}:2"  # same base name twice: the path as given
    with pytest.raises(RecordError) as e: load_pool([a, c])
    assert (e.value.locator, e.value.field) == ("other.jsonl:1", "output")
    pool = load_pool([a, b, c], lenient=True)
    assert [r["messages"] for r in pool] == [CHAT1, CHAT2] and pool.name == "p+other"
    assert [(x["locator"], x["field"]) for x in pool.report.invalid] == [(f"{b}:2", "messages"), ("other.jsonl:1", "output")]


def test_empty_inputs(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n\n")
    pool = load_pool(tmp_path / "e.jsonl")
    assert len(pool) == 0 and pool.dataset.column_names == ["id", "source", "messages"]
    assert pool.report.n_read == 0 and list(pool) == []
    assert len(load_pool([])) == 0
    (tmp_path / "e.csv").write_text("")
    assert len(load_pool(tmp_path / "e.csv")) == 0


# ---------------------------------------------------------------- bad input per adapter

def _strict_error(data, **kw):
    with pytest.raises(RecordError) as e: load_pool(data, **kw)
    return e.value.locator, e.value.field


def test_bad_input_per_adapter(tmp_path):
    good = {"messages": CHAT1}
    bad_role = {"messages": [U("q"), {"role": "bot", "content": "a"}]}
    p = jsonl(tmp_path / "p.jsonl", [good, good, bad_role]); (tmp_path / "p.jsonl").write_text("\n" + p.read_text())
    assert _strict_error(p) == ("p.jsonl:4", "messages[1].role")  # 1-based physical lines, blank line counted
    (tmp_path / "j.jsonl").write_text(json.dumps(good) + "\n{not json\n")
    assert _strict_error(tmp_path / "j.jsonl") == ("j.jsonl:2", "json")
    (tmp_path / "a.json").write_text(json.dumps([good, {"instruction": "q", "output": ""}]))
    assert _strict_error(tmp_path / "a.json") == ("a.json[1]", "output")
    (tmp_path / "s.json").write_text('[{"messages": []}, {"a": ]')
    assert _strict_error(tmp_path / "s.json", lenient=True) == ("s.json[1]", "json")  # syntax: stops even lenient
    pd.DataFrame([{"instruction": "q", "output": "a"}, {"instruction": "q", "output": " "}]).to_parquet(tmp_path / "d.parquet")
    assert _strict_error(tmp_path / "d.parquet") == ("d.parquet[1]", "output")
    pd.DataFrame([{"messages": json.dumps(CHAT1)}, {"messages": "[{oops"}]).to_parquet(tmp_path / "m.parquet")
    assert _strict_error(tmp_path / "m.parquet") == ("m.parquet[1]", "messages")
    pd.DataFrame([{"instruction": "q", "output": "a"}, {"instruction": "", "output": ""}]).to_csv(tmp_path / "c.csv", index=False)
    assert _strict_error(tmp_path / "c.csv") == ("c.csv[1]", "instruction")
    datasets.Dataset.from_list([{"conversations": sharegpt(CHAT1)}, {"conversations": [{"from": "bing", "value": "x"}]}]).save_to_disk(str(tmp_path / "sv"))
    assert _strict_error(tmp_path / "sv") == ("sv[1]", "conversations[0].from")
    assert _strict_error(datasets.Dataset.from_list([good, {"messages": [U("q"), U("r")]}])) == ("dataset[1]", "messages")
    assert _strict_error([good, good, "text"]) == ("records[2]", "record")
    assert _strict_error([good, {"messages": CHAT1, "id": ""}]) == ("records[1]", "id")


def test_strict_failure_is_not_cached(tmp_path):
    p = jsonl(tmp_path / "p.jsonl", [{"messages": CHAT1}, {"instruction": "q"}])
    for _ in range(2): assert _strict_error(p) == ("p.jsonl:2", "output")
    assert len(load_pool(p, lenient=True)) == 1


def test_missing_layout_key_uses_previous_layout(tmp_path):
    p = jsonl(tmp_path / "p.jsonl", [{"conversations": sharegpt(CHAT1)}, {"id": "x"}, {"instruction": "q", "output": "a"}, {"text": "t"}])
    pool = load_pool(p, lenient=True)
    assert [(x["locator"], x["field"]) for x in pool.report.invalid] == [("p.jsonl:2", "conversations"), ("p.jsonl:4", "instruction")]
    assert _strict_error([{"text": "t"}]) == ("records[0]", "messages")


def test_bad_arguments(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such file"): load_pool(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="no such file"): load_pool("./nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="unsupported file type"): load_pool(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="unknown format"): load_pool([], format="openai")
    with pytest.raises(TypeError): load_pool(42)

    def offline(*a, **k): raise ConnectionError("no network")
    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(FileNotFoundError, match="Hub dataset.*no network.*download the data"): load_pool("someone/some-dataset")


# ---------------------------------------------------------------- property-based: malformed records among valid ones

text = st.text(alphabet="ab z\n", min_size=1, max_size=6).filter(lambda s: s.strip())
TOP = {"messages": "messages", "sharegpt": "conversations", "alpaca": "instruction"}


@st.composite
def pools(draw):
    """A list of raw records, each valid or with one defect, plus for each: its normalized form or the expected field.

    Every record gets a unique given id so dedup and id checks stay out of the way."""
    n = draw(st.integers(1, 8))
    raws, expect, last_layout = [], [], None
    for i in range(n):
        layout = draw(st.sampled_from(["messages", "sharegpt", "alpaca"]))
        if layout == "alpaca":
            msgs = [U(draw(text)), A(draw(text))]
            raw = {"instruction": msgs[0]["content"], "output": msgs[1]["content"]}
        else:
            msgs = [U(draw(text)), A(draw(text))] * draw(st.integers(1, 2))
            raw = {"messages": [dict(m) for m in msgs]} if layout == "messages" else {"conversations": sharegpt(msgs)}
        raw["id"] = f"r{i}"
        defect = draw(st.sampled_from([None, None, "drop", "type", "role", "empty"]))
        field = None
        if defect == "drop" and layout == "alpaca":
            key = draw(st.sampled_from(["instruction", "output"])); del raw[key]; field = key
        elif defect == "drop":
            del raw[TOP[layout]]  # no layout key left: the previous record's layout names the missing field
            field = {"messages": "messages", "sharegpt": "conversations", "alpaca": "instruction", None: "messages"}[last_layout]
        elif defect == "type":
            key = TOP[layout] if layout != "alpaca" else "output"
            raw[key] = draw(st.sampled_from([7, "text" if layout == "alpaca" else {"x": 1}]))
            if layout == "alpaca" and raw[key] == "text": raw[key] = 7
            field = key
        elif defect == "role" and layout != "alpaca":
            top, rk = ("messages", "role") if layout == "messages" else ("conversations", "from")
            j = draw(st.integers(0, len(msgs) - 1)); raw[top][j][rk] = draw(st.sampled_from(["tool", "robot"]))
            field = f"{top}[{j}].{rk}"
        elif defect in ("role", "empty"):
            if layout == "alpaca": raw["output"] = " "; field = "output"
            else:
                top, ck = ("messages", "content") if layout == "messages" else ("conversations", "value")
                j = 2 * draw(st.integers(0, len(msgs) // 2 - 1)) + 1; raw[top][j][ck] = "\n"
                field = f"{top}[{j}].{ck}"
        if defect != "drop" or layout == "alpaca": last_layout = layout
        raws.append(raw)
        expect.append({"id": f"r{i}", "messages": msgs} if field is None else field)
    return raws, expect


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools(), st.sampled_from(["jsonl", "records"]))
def test_malformed_records_strict_and_lenient(pool_spec, kind):
    raws, expect = pool_spec
    with tempfile.TemporaryDirectory() as d:
        if kind == "jsonl":
            data, loc = jsonl(Path(d) / "pool.jsonl", raws), (lambda i: f"pool.jsonl:{i + 1}")
        else:
            data, loc = raws, (lambda i: f"records[{i}]")
        bad = [(loc(i), f) for i, f in enumerate(expect) if isinstance(f, str)]
        good = [{"id": e["id"], "source": "src", "messages": e["messages"]} for e in expect if isinstance(e, dict)]
        if bad:
            with pytest.raises(RecordError) as e: load_pool(data, source="src", cache_dir=d)
            assert (e.value.locator, e.value.field) == bad[0]
        else:
            assert records(load_pool(data, source="src", cache_dir=d)) == good
        pool = load_pool(data, source="src", lenient=True, cache_dir=d)
        assert [(x["locator"], x["field"]) for x in pool.report.invalid] == bad
        assert pool.report.n_invalid == len(bad) and pool.report.n_read == len(raws)
        assert records(pool) == good


# ---------------------------------------------------------------- dedup, ids, cache

def test_dedup_keeps_first_and_reports(tmp_path):
    p = jsonl(tmp_path / "p.jsonl", [
        {"id": "a", "messages": CHAT1}, {"id": "b", "messages": CHAT2},
        {"id": "c", "instruction": "Name a prime.", "output": "7"},          # same messages as a, other layout and id
        {"id": "d", "conversations": sharegpt(CHAT2), "source": "other"},   # same as b, other source
        {"id": "e", "messages": CHAT3}, {"id": "f", "messages": CHAT1}])
    pool = load_pool(p, dedup=True)
    assert [r["id"] for r in pool] == ["a", "b", "e"]
    assert pool.report.duplicates == [{"id": "c", "duplicate_of": "a", "locator": "p.jsonl:3"},
                                      {"id": "d", "duplicate_of": "b", "locator": "p.jsonl:4"},
                                      {"id": "f", "duplicate_of": "a", "locator": "p.jsonl:6"}]
    r = pool.report
    assert (r.n_read, r.n_duplicates, r.n_invalid, r.n_records) == (6, 3, 0, 3)
    assert [r["id"] for r in load_pool(p)] == list("abcdef")  # no dedup: all kept


def test_dedup_brute_force(tmp_path):
    "Second way: a pairwise comparison of normalized messages finds the same first occurrences."
    import random
    rng = random.Random(0)
    chats = [CHAT1, CHAT2, CHAT3, [U("x"), A("y")]]
    recs = [{"messages": rng.choice(chats)} for _ in range(40)]
    pool = load_pool(recs, dedup=True)
    firsts = [i for i, r in enumerate(recs) if all(recs[j]["messages"] != r["messages"] for j in range(i))]
    assert [r["messages"] for r in pool] == [recs[i]["messages"] for i in firsts]
    assert pool.report.n_duplicates == 40 - len(firsts)


def test_duplicate_given_ids(tmp_path):
    p = jsonl(tmp_path / "p.jsonl", [{"id": "a", "messages": CHAT1}, {"id": "a", "messages": CHAT2}, {"id": "b", "messages": CHAT3}])
    with pytest.raises(RecordError) as e: load_pool(p)
    assert (e.value.locator, e.value.field) == ("p.jsonl:2", "id") and "p.jsonl:1" in str(e.value)
    pool = load_pool(p, lenient=True)
    assert [r["id"] for r in pool] == ["a", "b"] and pool[0]["messages"] == CHAT1
    assert [(x["locator"], x["field"]) for x in pool.report.invalid] == [("p.jsonl:2", "id")]
    same = jsonl(tmp_path / "s.jsonl", [{"id": "a", "messages": CHAT1}, {"id": "a", "messages": CHAT1}])
    with pytest.raises(RecordError, match="dedup=True"): load_pool(same)
    assert len(load_pool(same, dedup=True)) == 1


def test_derived_ids_are_stable_and_unique(tmp_path):
    recs = [{"messages": CHAT1}, {"messages": CHAT2}, {"instruction": "Name a prime.", "output": "7"}, {"messages": CHAT1}]
    p = jsonl(tmp_path / "p.jsonl", recs)
    ids = [r["id"] for r in load_pool(p)]
    h1, h2 = content_hash(CHAT1), content_hash(CHAT2)
    assert ids == [h1, h2, h1 + "-2", h1 + "-3"]
    assert [r["id"] for r in load_pool(recs)] == ids  # same content, another input kind: same ids
    jsonl(tmp_path / "q.jsonl", recs[::-1])
    assert sorted(r["id"] for r in load_pool(tmp_path / "q.jsonl", dedup=True)) == sorted([h1, h2])


def test_lenient_with_renamed_ids_after_dropped_rows(tmp_path):
    recs = [{"id": "x", "messages": CHAT2}, {"messages": CHAT1}, {"id": "x", "messages": CHAT3}, {"messages": CHAT1}]
    pool = load_pool(recs, lenient=True)
    assert [r["id"] for r in pool] == ["x", content_hash(CHAT1), content_hash(CHAT1) + "-2"]
    assert [r["messages"] for r in pool] == [CHAT2, CHAT1, CHAT1]


def test_second_load_hits_cache_and_change_invalidates(tmp_path):
    p = jsonl(tmp_path / "p.jsonl", [{"id": "a", "messages": CHAT1}, {"id": "b", "messages": CHAT2}, {"instruction": "q"}])
    first = load_pool(p, lenient=True, dedup=True)
    arrow = Path(first.dataset.cache_files[0]["filename"])
    stamp = arrow.stat().st_mtime_ns
    second = load_pool(p, lenient=True, dedup=True)
    assert second.fingerprint == first.fingerprint
    assert Path(second.dataset.cache_files[0]["filename"]) == arrow and arrow.stat().st_mtime_ns == stamp  # not rewritten
    assert second.report.to_dict() == first.report.to_dict()  # the report is rebuilt from the cached file
    assert load_pool(p, lenient=True, dedup=True, source="s").fingerprint != first.fingerprint  # other options, other pool
    jsonl(p, [{"id": "a", "messages": CHAT1}, {"id": "b", "messages": CHAT3}])
    third = load_pool(p, lenient=True, dedup=True)
    assert third.fingerprint != first.fingerprint and third[1]["messages"] == CHAT3
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))  # same content, new mtime: re-read
    assert Path(load_pool(p, lenient=True, dedup=True).dataset.cache_files[0]["filename"]) != Path(third.dataset.cache_files[0]["filename"])


def test_pool_is_memory_mapped(tmp_path):
    p = jsonl(tmp_path / "p.jsonl", [{"messages": [U(f"q{i}"), A("a")]} for i in range(50)])
    pool = load_pool(p)
    assert isinstance(pool.dataset.data, datasets.table.MemoryMappedTable)
    assert Path(pool.dataset.cache_files[0]["filename"]).is_relative_to(tmp_path / "home")


# ---------------------------------------------------------------- Pool API

def test_pool_api(tmp_path):
    p = jsonl(tmp_path / "p.jsonl", [{"id": "a", "messages": CHAT1, "source": "s1"}, {"id": "b", "messages": CHAT2, "source": "s2"},
                                     {"id": "c", "messages": CHAT3, "source": "s2"}, {"instruction": "q"}])
    pool = load_pool(p, lenient=True, name="demo")
    assert len(pool) == 3 and pool.name == "demo" and pool[-1]["id"] == "c"
    with pytest.raises(IndexError): pool[3]
    with pytest.raises(TypeError): pool["a"]
    sub = pool.select([2, 0])
    assert isinstance(sub, Pool) and [r["id"] for r in sub] == ["c", "a"] and sub.report is pool.report
    with pytest.raises(IndexError): pool.select([5])
    assert pool.sources().to_dict() == {"s2": 2, "s1": 1} and pool.sources().index.name == "source"
    df = pool.to_pandas()
    assert list(df["id"]) == ["a", "b", "c"] and list(df.columns) == ["id", "source", "messages"]
    assert "demo" in repr(pool) and "3 records" in repr(pool) and pool.fingerprint in repr(pool)
    assert isinstance(pool.report, LoadReport)
    d = json.loads(json.dumps(pool.report.to_dict()))
    assert d["n_read"] == 4 and d["n_invalid"] == 1 and d["n_records"] == 3
    assert d["invalid"] == [{"locator": "p.jsonl:4", "field": "output", "message": "missing"}]
    assert d["inputs"][0]["name"] == "p.jsonl" and d["inputs"][0]["bytes"] == p.stat().st_size
    assert d["options"]["lenient"] is True
    with pytest.raises(ValueError, match="columns"): Pool(datasets.Dataset.from_dict({"x": [1]}))


# ---------------------------------------------------------------- crash safety of the cache

KILLED_LOAD = """
import sys, datasets
from datacurate import pool as P
P._Rows.max_rows = 50                    # many small batches: the file grows for a while before it is complete
P._JSONL_BLOCK_BYTES = 4096
orig = P._Rows.batch
def slow_batch(self):
    import time; time.sleep(0.02)        # make sure the parent sees the write in progress
    return orig(self)
P._Rows.batch = slow_batch
P.load_pool(sys.argv[1])
print("finished")
"""


def test_killed_load_leaves_no_complete_looking_cache(tmp_path):
    import signal, subprocess, sys, time
    recs = [{"id": f"r{i}", "messages": [U(f"question {i}"), A(f"answer {i}")]} for i in range(20_000)]
    p = jsonl(tmp_path / "big.jsonl", recs)
    home = tmp_path / "home"
    pools = home / "pools"
    env = {**os.environ, "DATACURATE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_LOAD, str(p)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        tmps = list(pools.glob("*.tmp")) if pools.exists() else []
        if tmps and tmps[0].stat().st_size > 0: break
        time.sleep(0.01)
    assert proc.poll() is None, f"the load ended before it could be killed: {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(pools.glob("*.tmp")), "the killed load left no temporary file (was it killed mid-write?)"
    assert not list(pools.glob("*.arrow")), "a killed load left a final cache file"
    pool = load_pool(p)  # a fresh load: writes the file again instead of reusing the partial one
    assert len(pool) == 20_000 and pool[19_999] == {"id": "r19999", "source": "big", "messages": recs[-1]["messages"]}
    assert not list(pools.glob("*.tmp")), "the dead process's temporary file was not cleaned up"
    assert len(list(pools.glob("*.arrow"))) == 1


# ---------------------------------------------------------------- the JSON-lines fast path against the per-record path

import datacurate.pool as P

ROLE = st.sampled_from(["user", "assistant", "system"] * 4 + ["User", "ASSISTANT", " user", "human", "gpt", "GPT", "bot", "tool", "Ünïcode", None])
CONTENT = st.sampled_from(["q", "a", "é", 'say "hi"\n', "x\x1f"] * 3 + [" ", "", "\u3000", "\x1c", "\u2028", "\x85", None, 3,
                           [{"type": "text", "text": "p"}, {"type": "text", "text": "q"}], [{"type": "image_url"}], []])
RARE = lambda *bad: st.one_of(st.sampled_from(["absent"] * 6 + ["s", "do", "", " "]), st.sampled_from(bad))


@st.composite
def jsonl_lines(draw):
    "Lines of a JSON-lines file: valid and broken records in every layout, odd roles, whitespace, ids, blank lines."
    lines, clean = [], draw(st.booleans())  # clean: mostly records the fast path can take
    role = st.sampled_from(["user", "assistant", "system", "User", "GPT", "human", "gpt"]) if clean else ROLE
    content = st.sampled_from(["q", "a", "é", 'say "hi"\n', "\u3000x"]) if clean else CONTENT
    for i in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["messages", "sharegpt", "alpaca", "trl"] * (20 if clean else 3) + ["none", "blank", "syntax", "list"]))
        if kind == "blank": lines.append(draw(st.sampled_from(["", "  ", "\t"]))); continue
        if kind == "syntax": lines.append('{"messages": [}'); continue
        if kind == "list": lines.append("[1, 2]"); continue
        rec = {}
        if kind in ("messages", "sharegpt"):
            rk, ck, key = ("role", "content", "messages") if kind == "messages" else ("from", "value", "conversations")
            turns = [{rk: draw(role), ck: draw(content)} for _ in range(draw(st.integers(0, 3)))]
            if draw(st.booleans()): turns.append({rk: "assistant" if kind == "messages" else "gpt", ck: "ok"})
            rec[key] = turns
        elif kind == "trl":
            for k in ("prompt", "completion"):
                v = draw(st.sampled_from(["q", "a", "", " ", None, "absent", 3, [{"role": "user", "content": "q"}],
                                          [{"role": "assistant", "content": "a"}]]))
                if v != "absent": rec[k] = v
        elif kind == "alpaca":
            for k in ("instruction", "input", "output"):
                v = draw(st.sampled_from(["do", "go", "do it", "", " ", "\u3000", None, "absent"]) if k != "input" else RARE(None, 5))
                if v != "absent": rec[k] = v
        idv = draw(st.sampled_from(["absent", "absent", None, "x", " ", "", f"id{i}", f"id{i}", f"id{i}"]) if draw(st.booleans()) else st.sampled_from([i, 7, "absent"]))
        if idv != "absent": rec["id"] = idv
        for k in ("source", "dataset", "task"):
            v = draw(st.sampled_from(["absent", "s", ""]) if clean else RARE(None, 4))
            if v != "absent": rec[k] = v
        if draw(st.booleans()): rec["meta"] = draw(st.sampled_from([{"a": [1, None]}, "text", 1.5, float("nan")]))
        if draw(st.booleans()): rec["difficulty"] = draw(st.sampled_from([1, 2, 1.5, "hard", None, [1, "x"], {"x": 1}, True]))
        if draw(st.booleans()): rec["system"] = draw(st.sampled_from(["Be brief.", "", " ", None, 3] if not clean else ["Be brief.", ""]))
        lines.append(json.dumps(rec, ensure_ascii=draw(st.booleans())))
    return lines


def _outcome(path, **kw):
    try: pool = load_pool(path, **kw)
    except RecordError as e: return ("error", e.locator, e.field, e.reason)
    return (records(pool), pool.report.to_dict()["invalid"], pool.report.to_dict()["duplicates"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(jsonl_lines(), st.sampled_from(["auto", "messages", "sharegpt", "alpaca", "trl"]), st.booleans(), st.booleans(), st.integers(1, 3))
def test_fast_path_equals_per_record_path(monkeypatch, lines, format, lenient, dedup, block_lines):
    "Second way: every load through the vectorized JSON-lines path equals the same load with every record through normalize_record."
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "pool.jsonl"
        p.write_text("\n".join(lines) + "\n")
        monkeypatch.setattr(P, "_JSONL_BLOCK_BYTES", max(16, block_lines * 40))
        kw = dict(format=format, lenient=lenient, dedup=dedup)
        fast = _outcome(p, cache_dir=Path(d) / "fast", **kw)
        monkeypatch.setattr(P, "_FAST_JSONL", False)
        slow = _outcome(p, cache_dir=Path(d) / "slow", **kw)
        monkeypatch.setattr(P, "_FAST_JSONL", True)
        assert fast == slow


def test_fast_path_is_taken_and_handles_bom_and_int_ids(tmp_path, monkeypatch):
    recs = [{"id": i, "conversations": [{"from": "Human", "value": "q"}, {"from": "GPT", "value": f"a{i}"}]} for i in range(50)]
    p = jsonl(tmp_path / "p.jsonl", recs)
    calls = []
    orig = P._fast_block
    monkeypatch.setattr(P, "_fast_block", lambda *a: calls.append(1) or orig(*a))
    pool = load_pool(p)
    assert calls and [r["id"] for r in pool] == [str(i) for i in range(50)] and pool[3]["messages"] == [U("q"), A("a3")]
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    assert records(load_pool(tmp_path / "bom.jsonl", source="p")) == records(pool)
    (tmp_path / "bad.jsonl").write_bytes(p.read_bytes() + b'{"messages": "\xff"}\n')
    assert _strict_error(tmp_path / "bad.jsonl") == ("bad.jsonl:51", "json")



# ---------------------------------------------------------------- metadata, system, TRL, content parts, columns (issue 17)

META = [{"instruction": "Name a prime.", "output": "7", "difficulty": 2, "license": "cc-by/4.0", "tags": ["math", "é"]},
        {"instruction": "2+2?", "output": "4", "difficulty": 1.5, "nested": {"a": [1, None]}},
        {"instruction": "Hi", "output": "Hello.", "license": None}]


@pytest.mark.parametrize("fast", [True, False])
def test_metadata_kept_exactly(tmp_path, monkeypatch, fast):
    "Second way: each record's metadata equals the raw record minus the loader's fields, computed here by hand."
    monkeypatch.setattr(P, "_FAST_JSONL", fast)
    pool = load_pool(jsonl(tmp_path / "m.jsonl", META))
    by_hand = [{k: v for k, v in r.items() if k not in ("instruction", "output") and v is not None} for r in META]
    assert [{k: v for k, v in r.items() if k not in ("id", "source", "messages")} for r in pool] == by_hand
    assert type(pool[0]["difficulty"]) is int and pool[1]["difficulty"] == 1.5  # 2 stays an int next to 1.5
    assert pool.metadata().loc[pool[0]["id"], "license"] == "cc-by/4.0"
    # the id and dedup key are the conversation only: the same exchange with other metadata is a duplicate
    dup = load_pool(META + [{**META[0], "difficulty": 9, "license": "mit"}], dedup=True)
    assert len(dup) == 3 and dup.report.n_duplicates == 1
    assert pool[0]["id"] == content_hash([U("Name a prime."), A("7")])


def test_metadata_from_parquet_and_dataset(tmp_path):
    import datetime
    df = pd.DataFrame([{"instruction": "q", "output": "a", "level": 3, "when": datetime.date(2024, 5, 1)}])
    df.to_parquet(tmp_path / "m.parquet")
    rec = load_pool(tmp_path / "m.parquet")[0]
    assert (rec["level"], rec["when"]) == (3, "2024-05-01")
    ds = datasets.Dataset.from_list([{"instruction": "q", "output": "a", "license": "mit"}])
    assert load_pool(ds)[0]["license"] == "mit"
    with pytest.raises(RecordError) as e: load_pool([{"instruction": "q", "output": "a", "blob": b"\x00"}])
    assert (e.value.locator, e.value.field) == ("records[0]", "blob")


@pytest.mark.parametrize("fast", [True, False])
def test_system_field_becomes_system_turn(tmp_path, monkeypatch, fast):
    monkeypatch.setattr(P, "_FAST_JSONL", fast)
    recs = [{"instruction": "q", "output": "a", "system": "Be brief."},
            {"conversations": sharegpt([U("q"), A("a")]), "system": "Be long."},
            {"conversations": sharegpt([S("Same."), U("q"), A("a")]), "system": "Same."},
            {"instruction": "q2", "output": "a2", "system": ""}]
    pool = load_pool(jsonl(tmp_path / "s.jsonl", recs))
    assert [r["messages"] for r in pool] == [[S("Be brief."), U("q"), A("a")], [S("Be long."), U("q"), A("a")],
                                             [S("Same."), U("q"), A("a")], [U("q2"), A("a2")]]
    bad = jsonl(tmp_path / "bad.jsonl", [{"conversations": sharegpt([S("One."), U("q"), A("a")]), "system": "Two."}])
    with pytest.raises(RecordError) as e: load_pool(bad)
    assert (e.value.locator, e.value.field) == ("bad.jsonl:1", "system") and "conflicts" in e.value.reason


@pytest.mark.parametrize("fast", [True, False])
def test_trl_and_content_parts(tmp_path, monkeypatch, fast):
    monkeypatch.setattr(P, "_FAST_JSONL", fast)
    recs = [{"prompt": "2+2?", "completion": "4"},
            {"prompt": [S("Be brief."), U("2+2?")], "completion": [A("4")]},
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, A("ok")]}]
    pool = load_pool(jsonl(tmp_path / "t.jsonl", recs))
    assert [r["messages"] for r in pool] == [[U("2+2?"), A("4")], [S("Be brief."), U("2+2?"), A("4")], [U("a\nb"), A("ok")]]
    img = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x.png"}}]}, A("ok")]}
    with pytest.raises(RecordError) as e: load_pool(jsonl(tmp_path / "i.jsonl", [recs[0], img]))
    assert (e.value.locator, e.value.field) == ("i.jsonl:2", "messages[0].content[0].type")


@pytest.mark.parametrize("fast", [True, False])
def test_column_mapping(tmp_path, monkeypatch, fast):
    monkeypatch.setattr(P, "_FAST_JSONL", fast)
    recs = [{"uid": 7, "question": "q", "answer": "a", "level": 1}, {"uid": 8, "question": "q2", "answer": "a2"}]
    cols = {"id": "uid", "instruction": "question", "output": "answer"}
    pool = load_pool(jsonl(tmp_path / "c.jsonl", recs), columns=cols)
    assert records(pool) == [{"id": "7", "source": "c", "messages": [U("q"), A("a")], "level": 1},
                             {"id": "8", "source": "c", "messages": [U("q2"), A("a2")]}]
    both = jsonl(tmp_path / "both.jsonl", [{"question": "q", "instruction": "i", "answer": "a"}])
    with pytest.raises(RecordError) as e: load_pool(both, columns=cols)
    assert (e.value.locator, e.value.field) == ("both.jsonl:1", "instruction")
    with pytest.raises(ValueError, match="did you mean 'output'"): load_pool(recs, columns={"outptu": "answer"})
    assert load_pool(recs, columns=cols).fingerprint != load_pool(recs, columns={**cols, "id": "nope"}).fingerprint


def test_fingerprint_follows_content_not_path(tmp_path):
    recs = [{"id": "a", "messages": CHAT1}, {"id": "b", "messages": CHAT2}]
    fp = load_pool(jsonl(tmp_path / "one.jsonl", recs), source="s").fingerprint
    jsonl(tmp_path / "other_name.jsonl", recs)
    pd.DataFrame(recs).to_parquet(tmp_path / "p.parquet")
    assert load_pool(tmp_path / "other_name.jsonl", source="s").fingerprint == fp
    assert load_pool(tmp_path / "p.parquet", source="s").fingerprint == fp
    assert load_pool(recs, source="s").fingerprint == fp
    os.utime(tmp_path / "one.jsonl", ns=(1, 1))  # a new mtime, the same records
    assert load_pool(tmp_path / "one.jsonl", source="s").fingerprint == fp
    assert load_pool(recs[::-1], source="s").fingerprint != fp                       # order
    assert load_pool(recs, source="t").fingerprint != fp                             # source
    assert load_pool([recs[0], {"id": "b", "messages": CHAT3}], source="s").fingerprint != fp  # content
    copy = recs + [{"id": "c", "messages": CHAT1}]
    assert load_pool(copy, source="s", dedup=True).fingerprint == fp   # an option that drops the copy: the same records
    assert load_pool(copy, source="s").fingerprint != fp               # without dedup the copy stays: other records
    pool = load_pool(recs, source="s")
    assert pool.select([0, 1]).fingerprint == fp and pool.select([1, 0]).fingerprint != fp


def test_limit_and_sample(tmp_path):
    recs = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(50)]
    assert [r["messages"][0]["content"] for r in load_pool(recs, limit=5)] == [f"q{i}" for i in range(5)]
    a, b = load_pool(recs, sample=10, seed=3), load_pool(recs, sample="20%", seed=3)
    got = [int(r["messages"][0]["content"][1:]) for r in a]
    assert len(got) == 10 and got == sorted(got) and len(set(got)) == 10         # pool order, no repeats
    assert [r["id"] for r in a] == [r["id"] for r in b]                          # 10 == 20% of 50
    assert [r["id"] for r in load_pool(recs, sample=10, seed=4)] != [r["id"] for r in a]
    both = [int(r["messages"][0]["content"][1:]) for r in load_pool(recs, limit=20, sample=5, seed=0)]
    assert len(both) == 5 and max(both) < 20
    assert load_pool(recs, sample=10, seed=3).report.options["sample"] == 10


def test_hub_name_fails_fast_offline(monkeypatch):
    import time
    called = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: called.append(a) or (_ for _ in ()).throw(ConnectionError("offline")))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False); monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(P, "_hub_reachable", lambda timeout=2.0: False)
    t = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="cannot be reached"): load_pool("someone/some-dataset")
    assert not called and time.perf_counter() - t < 5
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")                   # offline: only the local HF cache is asked
    with pytest.raises(FileNotFoundError, match="HF_DATASETS_OFFLINE is set"): load_pool("someone/some-dataset")
    assert called
    with pytest.raises(FileNotFoundError, match="not a Hugging Face Hub dataset name"): load_pool("not a name")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    assert P._offline() is None


def test_system_records_take_the_fast_path(tmp_path, monkeypatch):
    "Records with a system field and no system turn are normalized on whole columns: no record goes through _add_record."
    recs = [{"instruction": f"q{i}", "output": f"a{i}", "system": "Be brief."} for i in range(20)]
    recs += [{"conversations": sharegpt([U("q"), A("a")]), "system": "S", "level": 3}, {"prompt": "p", "completion": "c", "system": "T"}]
    p = jsonl(tmp_path / "s.jsonl", recs)
    calls = []
    orig = P._add_record
    monkeypatch.setattr(P, "_add_record", lambda *a, **k: calls.append(a[2]) or orig(*a, **k))
    pool = load_pool(p)
    assert not calls
    assert pool[0]["messages"] == [S("Be brief."), U("q0"), A("a0")] and pool[20]["messages"] == [S("S"), U("q"), A("a")]
    assert pool[20]["level"] == 3 and pool[21]["messages"] == [S("T"), U("p"), A("c")]
    monkeypatch.setattr(P, "_FAST_JSONL", False)
    assert records(load_pool(p, cache_dir=tmp_path / "slow")) == records(pool)
