"""The chat schema: adapters, ids, content hash and the errors on malformed records (hand-worked and property-based)."""
import hashlib
import json
import pickle

import pytest
from hypothesis import given, settings, strategies as st

from datacurate.schema import RecordError, content_hash, detect_format, normalize_record

U = lambda c: {"role": "user", "content": c}
A = lambda c: {"role": "assistant", "content": c}
S = lambda c: {"role": "system", "content": c}


# ---------------------------------------------------------------- adapters, by hand

def test_messages_adapter_multiturn():
    raw = {"id": "m1", "source": "tulu", "messages": [S("sys"), U("q1"), A("a1"), U("q2"), A("a2")], "extra": 1}
    assert normalize_record(raw, "f:1") == {"id": "m1", "source": "tulu", "messages": [S("sys"), U("q1"), A("a1"), U("q2"), A("a2")],
                                            "extra": 1}  # a metadata field is kept


def test_sharegpt_adapter_role_map():
    conv = [{"from": "system", "value": "s"}, {"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
            {"from": "user", "value": "q2"}, {"from": "chatgpt", "value": "a2"}, {"from": "Human", "value": "q3"},
            {"from": "model", "value": "a3"}, {"from": "user", "value": "q4"}, {"from": "assistant", "value": "a4"}]
    out = normalize_record({"conversations": conv}, "f:1", default_source="sg")
    assert out["messages"] == [S("s"), U("q1"), A("a1"), U("q2"), A("a2"), U("q3"), A("a3"), U("q4"), A("a4")]
    assert out["source"] == "sg"


@pytest.mark.parametrize("inp, user", [("ctx", "do it\n\nctx"), ("", "do it"), (None, "do it"), ("  \n", "do it")])
def test_alpaca_adapter(inp, user):
    raw = {"instruction": "do it", "output": "done"}
    if inp is not None: raw["input"] = inp
    assert normalize_record(raw, "f:1")["messages"] == [U(user), A("done")]


def test_same_exchange_same_id_across_layouts():
    msgs = [U("Translate: cat"), A("chat")]
    layouts = [{"messages": msgs}, {"conversations": [{"from": "human", "value": "Translate: cat"}, {"from": "gpt", "value": "chat"}]},
               {"instruction": "Translate: cat", "output": "chat"}]
    ids = {normalize_record(r, "x")["id"] for r in layouts}
    assert ids == {content_hash(msgs)}


def test_content_hash_by_hand():
    msgs = [U("Hi"), A("Hé")]
    canon = '[{"content":"Hi","role":"user"},{"content":"Hé","role":"assistant"}]'
    assert content_hash(msgs) == hashlib.sha1(canon.encode("utf-8")).hexdigest()[:16]
    assert len(content_hash(msgs)) == 16


@pytest.mark.parametrize("rid, expected", [("abc", "abc"), (17, "17"), (17.0, "17"), (None, None), (float("nan"), None)])
def test_id_rules(rid, expected):
    raw = {"id": rid, "instruction": "q", "output": "a"}
    out = normalize_record(raw, "x")
    assert out["id"] == (expected or content_hash([U("q"), A("a")]))


def test_source_and_task():
    base = {"instruction": "q", "output": "a"}
    assert normalize_record({**base, "source": "s1", "dataset": "d"}, "x", default_source="def")["source"] == "s1"
    assert normalize_record({**base, "dataset": "d"}, "x", default_source="def")["source"] == "d"
    assert normalize_record(base, "x", default_source="def")["source"] == "def"
    assert normalize_record({**base, "task": "math"}, "x")["task"] == "math"
    assert "task" not in normalize_record({**base, "task": None}, "x")


def test_detect_format():
    assert detect_format({"messages": [], "conversations": []}) == "messages"
    assert detect_format({"conversations": []}) == "sharegpt"
    assert detect_format({"instruction": "x"}) == "alpaca"
    with pytest.raises(RecordError) as e: detect_format({"text": "x"}, "d.parquet[41]")
    assert (e.value.locator, e.value.field) == ("d.parquet[41]", "messages") and "d.parquet[41]" in str(e.value)
    with pytest.raises(RecordError) as e: detect_format("text", "f:2")
    assert e.value.field == "record"


def test_record_error_message_and_pickle():
    e = RecordError("pool.jsonl:17", "messages[2].role", "unknown role 'x'")
    assert "pool.jsonl:17" in str(e) and "messages[2].role" in str(e) and isinstance(e, ValueError)
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.locator, e2.field, str(e2)) == (e.locator, e.field, str(e))


def test_explicit_format_and_unknown_format():
    with pytest.raises(RecordError) as e: normalize_record({"instruction": "q", "output": "a"}, "x", format="sharegpt")
    assert e.value.field == "conversations"
    with pytest.raises(ValueError, match="unknown format"): normalize_record({}, "x", format="openai")


@pytest.mark.parametrize("raw, field", [
    ({"messages": {"role": "user"}}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [U("q"), U("q2")]}, "messages"),
    ({"messages": [U("q"), ["assistant", "a"]]}, "messages[1]"),
    ({"messages": [U("q"), {"role": 1, "content": "a"}]}, "messages[1].role"),
    ({"messages": [U("q"), {"role": "tool", "content": "a"}]}, "messages[1].role"),
    ({"messages": [U("q"), {"role": "assistant", "content": ["a"]}]}, "messages[1].content[0]"),  # a part must be an object
    ({"messages": [{"role": "user"}, A("a")]}, "messages[0].content"),
    ({"messages": [U("q"), A("\t ")]}, "messages[1].content"),
    ({"conversations": [{"from": "human", "value": "q"}, {"value": "a"}]}, "conversations[1].from"),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]}, "conversations[1].value"),
    ({"instruction": 3, "output": "a"}, "instruction"),
    ({"instruction": "q", "output": None}, "output"),
    ({"instruction": "q", "output": "a", "id": True}, "id"),
    ({"instruction": "q", "output": "a", "dataset": 5}, "dataset"),
])
def test_bad_records_name_the_field(raw, field):
    with pytest.raises(RecordError) as e: normalize_record(raw, "pool.jsonl:9")
    assert (e.value.locator, e.value.field) == ("pool.jsonl:9", field)
    assert f"pool.jsonl:9: field {field!r}" in str(e.value)


# ---------------------------------------------------------------- property-based

text = st.text(alphabet="abc xyz\n", min_size=1, max_size=8).filter(lambda s: s.strip())
ROLE_KEYS = {"messages": ("messages", "role", "content"), "sharegpt": ("conversations", "from", "value")}
SG_NAME = {"system": "system", "user": "human", "assistant": "gpt"}


@st.composite
def dialogues(draw):
    "A valid normalized dialogue: optional system turn, then 1-3 user/assistant pairs."
    msgs = [S(draw(text))] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 3))): msgs += [U(draw(text)), A(draw(text))]
    return msgs


def render(msgs, layout):
    "Write normalized messages in a layout (the inverse of the adapters), for single-exchange alpaca."
    if layout == "messages": return {"messages": [dict(m) for m in msgs]}
    if layout == "sharegpt": return {"conversations": [{"from": SG_NAME[m["role"]], "value": m["content"]} for m in msgs]}
    return {"instruction": msgs[0]["content"], "output": msgs[1]["content"]}


@st.composite
def valid_records(draw):
    layout = draw(st.sampled_from(["messages", "sharegpt", "alpaca"]))
    msgs = draw(dialogues())
    if layout == "alpaca": msgs = [U(draw(text)), A(draw(text))]
    return layout, msgs, render(msgs, layout)


@st.composite
def broken_records(draw):
    "A record with exactly one defect, and the field the error must name (the top-level key drop is tested apart)."
    layout, msgs, raw = draw(valid_records())
    kind = draw(st.sampled_from(["drop", "type", "role", "empty"]))
    if layout == "alpaca":
        key = draw(st.sampled_from(["instruction", "output"]))
        if kind == "drop": del raw[key]
        elif kind in ("type", "role"): raw[key] = draw(st.sampled_from([3, ["x"], {"a": 1}]))
        else: key = "output"; raw["output"] = draw(st.sampled_from(["", " ", "\n\t"]))
        return layout, raw, key
    top, rk, ck = ROLE_KEYS[layout]
    turns = raw[top]
    if kind == "empty":
        i = draw(st.sampled_from([j for j, m in enumerate(msgs) if m["role"] == "assistant"]))
        turns[i][ck] = draw(st.sampled_from(["", "  ", "\n"]))
        return layout, raw, f"{top}[{i}].{ck}"
    i = draw(st.integers(0, len(turns) - 1))
    if kind == "drop":
        k = draw(st.sampled_from([rk, ck])); del turns[i][k]
        return layout, raw, f"{top}[{i}].{k}"
    if kind == "role":
        turns[i][rk] = draw(st.sampled_from(["tool", "bot", "narrator", "", "function"]))
        return layout, raw, f"{top}[{i}].{rk}"
    what = draw(st.sampled_from(["list", "turn", "content", "role"]))
    if what == "list": raw[top] = draw(st.sampled_from(["text", {"a": 1}, 5])); return layout, raw, top
    if what == "turn": turns[i] = draw(st.sampled_from(["text", 5, ["user", "x"]])); return layout, raw, f"{top}[{i}]"
    k = ck if what == "content" else rk
    turns[i][k] = value = draw(st.sampled_from([5, ["x"], {"t": "x"}, 1.5]))
    parts = layout == "messages" and k == ck and isinstance(value, list)  # a list content is OpenAI content parts
    return layout, raw, f"{top}[{i}].{k}" + ("[0]" if parts else "")


@settings(max_examples=150, deadline=None)
@given(valid_records())
def test_valid_records_round_trip(rec):
    layout, msgs, raw = rec
    out = normalize_record(json.loads(json.dumps(raw)), "x:1", default_source="src")
    assert out == {"id": content_hash(msgs), "source": "src", "messages": msgs}
    assert detect_format(raw) == layout


@settings(max_examples=200, deadline=None)
@given(broken_records())
def test_broken_records_name_locator_and_field(rec):
    layout, raw, field = rec
    with pytest.raises(RecordError) as e: normalize_record(raw, "pool.jsonl:42")
    assert (e.value.locator, e.value.field) == ("pool.jsonl:42", field)
    with pytest.raises(RecordError) as e: normalize_record(raw, "data.parquet[7]", format=layout)
    assert (e.value.locator, e.value.field) == ("data.parquet[7]", field)


# ---------------------------------------------------------------- issue 17: metadata, system, TRL, content parts, columns

from datacurate.schema import FIELDS, check_columns, extra_fields, extra_json, map_columns


def test_metadata_fields_are_everything_the_loader_does_not_read():
    raw = {"instruction": "q", "output": "a", "id": 3, "source": "s", "task": "t", "difficulty": 2, "license": "mit",
           "empty": None, "nan": float("nan"), "tags": ["x"]}
    out = normalize_record(raw, "f:1")
    by_hand = {"difficulty": 2, "license": "mit", "tags": ["x"]}  # loader fields, null and NaN left out
    assert {k: v for k, v in out.items() if k not in ("id", "source", "messages", "task")} == by_hand
    assert extra_fields(raw) == by_hand
    assert set(FIELDS) >= {"system", "prompt", "completion"}
    assert out["id"] == "3" and normalize_record({**raw, "id": None, "license": "x"})["id"] == content_hash([U("q"), A("a")])


def test_system_field_rules():
    base = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    assert normalize_record({**base, "system": "S"})["messages"] == [S("S"), U("q"), A("a")]
    assert normalize_record({**base, "system": ""})["messages"] == [U("q"), A("a")]
    with_turn = {"conversations": [{"from": "system", "value": "S"}] + base["conversations"]}
    assert normalize_record({**with_turn, "system": "S"})["messages"] == [S("S"), U("q"), A("a")]
    with pytest.raises(RecordError) as e: normalize_record({**with_turn, "system": "T"}, "f:2")
    assert (e.value.locator, e.value.field) == ("f:2", "system")
    msgs = {"messages": [U("q"), A("a")], "system": "S"}  # the messages layout follows the same rule
    assert normalize_record(msgs)["messages"] == [S("S"), U("q"), A("a")]


@pytest.mark.parametrize("raw, messages", [
    ({"prompt": "q", "completion": "a"}, [U("q"), A("a")]),
    ({"prompt": "", "completion": "a"}, [U(""), A("a")]),
    ({"prompt": [S("s"), U("q")], "completion": [A("a")]}, [S("s"), U("q"), A("a")]),
    ({"prompt": [U("q"), A("a1"), U("q2")], "completion": [A("a2")]}, [U("q"), A("a1"), U("q2"), A("a2")]),
])
def test_trl_layouts(raw, messages):
    assert normalize_record(raw)["messages"] == messages
    assert normalize_record(raw, format="trl")["messages"] == messages


@pytest.mark.parametrize("raw, field", [
    ({"prompt": "q"}, "completion"),
    ({"prompt": "q", "completion": ""}, "completion"),
    ({"completion": "a"}, "prompt"),
    ({"prompt": [U("q")], "completion": "a"}, "completion"),
    ({"prompt": [U("q")], "completion": [U("a")]}, "completion"),
    ({"prompt": [{"role": "bot", "content": "q"}], "completion": [A("a")]}, "prompt[0].role"),
])
def test_trl_errors(raw, field):
    with pytest.raises(RecordError) as e: normalize_record(raw, "t:1")
    assert e.value.field == field


def test_content_parts():
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert normalize_record({"messages": [{"role": "user", "content": parts}, A("a")]})["messages"][0] == U("one\ntwo")
    for bad, field in [([{"type": "image_url", "image_url": {}}], "messages[0].content[0].type"),
                       ([{"type": "text"}], "messages[0].content[0].text"),
                       ([{"type": "text", "text": 3}], "messages[0].content[0].text"),
                       (["plain"], "messages[0].content[0]")]:
        with pytest.raises(RecordError) as e: normalize_record({"messages": [{"role": "user", "content": bad}, A("a")]}, "p:1")
        assert (e.value.locator, e.value.field) == ("p:1", field)
    with pytest.raises(RecordError) as e:  # an assistant turn of empty text parts is empty
        normalize_record({"messages": [U("q"), {"role": "assistant", "content": []}]})
    assert e.value.field == "messages[1].content"


def test_columns_mapping():
    cols = check_columns({"instruction": "question", "output": "answer", "id": "uid"})
    raw = {"uid": 5, "question": "q", "answer": "a", "level": 1}
    assert normalize_record(raw, columns=cols) == {"id": "5", "source": "unknown", "messages": [U("q"), A("a")], "level": 1}
    assert map_columns(raw, {}) is raw
    with pytest.raises(RecordError) as e: normalize_record({**raw, "output": "b"}, "c:1", columns=cols)
    assert (e.value.locator, e.value.field) == ("c:1", "output")
    for bad in [{"questoin": "q"}, {"instruction": 3}, {"instruction": "x", "input": "x"}, ["instruction"]]:
        with pytest.raises(ValueError): check_columns(bad)


def test_extra_json_round_trip():
    import datetime, decimal, json
    extra = {"a": 1, "b": 1.5, "c": "/x/é", "d": [1, {"e": None}], "t": True}
    assert json.loads(extra_json(extra)) == extra
    assert json.loads(extra_json({"d": datetime.datetime(2024, 1, 2, 3, 4), "m": decimal.Decimal("1.10")})) == \
        {"d": "2024-01-02T03:04:00", "m": "1.10"}
    with pytest.raises(RecordError) as e: extra_json({"x": float("inf")}, "r:1")
    assert e.value.field == "x"
