"""Text views and loss masks: the scored tokens are exactly each assistant turn's content and end-of-turn marker."""
import datasets
import numpy as np
import pytest

from datacurate.models import tiny_tokenizer
from datacurate.views import PLAIN_TEMPLATES, PlainTemplate, Template, TemplateError, content_hash, encode, record_messages


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def conv(*turns, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    for u, a in turns: msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
    return msgs


RECORDS = [
    {"id": "a", "source": "t", "messages": conv(("2+2?", "4"))},
    {"id": "b", "source": "t", "messages": conv(("Write a poem", "The sea is blue,\nthe sky too."), ("Shorter", "Sea."), system="Be brief.")},
    {"id": "c", "source": "t", "messages": conv(("empty answer", ""))},
    {"id": "d", "source": "t", "messages": conv(("say assistant", "assistant"), ("again", " assistant  "))},
    {"id": "e", "source": "t", "messages": [{"role": "user", "content": "no answer yet"}]},
]


def scored_text(tok, enc, u, turn):
    return tok.decode(enc.input_ids[u][enc.turn_ids[u] == turn])


def expected_chatml(messages):
    "Independent rendering of ChatML by hand."
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def test_full_view_masks_each_assistant_turn(tok):
    enc = encode(RECORDS, tok, view="full")
    for u, rec in enumerate(RECORDS):
        assert tok.decode(enc.input_ids[u]) == expected_chatml(rec["messages"])
        answers = [m["content"] for m in rec["messages"] if m["role"] == "assistant"]
        assert enc.n_turns[u] == len(answers)
        for k, a in enumerate(answers):
            assert scored_text(tok, enc, u, k) == a + "<|im_end|>"
        # nothing else is scored: the count of scored tokens equals the tokens of the answers alone
        n_alone = sum(len(tok(a + "<|im_end|>", add_special_tokens=False)["input_ids"]) for a in answers)
        assert (enc.turn_ids[u] >= 0).sum() == n_alone


@pytest.mark.parametrize("name", ["alpaca", "tulu", "none"])
def test_plain_templates(tok, name):
    enc = encode(RECORDS[:2], tok, template=name, view="full")
    p = PLAIN_TEMPLATES[name]
    for u, rec in enumerate(RECORDS[:2]):
        answers = [m["content"] for m in rec["messages"] if m["role"] == "assistant"]
        end = p.assistant_end.format(eos=tok.eos_token, bos="")
        assert [scored_text(tok, enc, u, k) for k in range(len(answers))] == [a + end for a in answers]
    if name == "alpaca":
        assert tok.decode(enc.input_ids[0]).startswith("Below is an instruction that describes a task.")
        assert "### Instruction:\n2+2?\n\n### Response:4" in tok.decode(enc.input_ids[0])


def test_custom_plain_template(tok):
    t = PlainTemplate("mine", user="Q: {content}\n", assistant_header="A: ", assistant_end="{eos}", turn_sep="\n")
    enc = encode(RECORDS[:1], tok, template=t)
    assert tok.decode(enc.input_ids[0]) == "Q: 2+2?\nA: 4<|im_end|>\n"
    # BPE merges the header's trailing space into " 4": a token straddling the content start is scored (documented)
    assert scored_text(tok, enc, 0, 0) == " 4<|im_end|>"


@pytest.mark.parametrize("prefix,lead", [("none", ""), ("header", "<|im_start|>assistant\n"),
                                         ("turn", "<|im_start|>assistant\n")])
def test_direct_view_scores_the_same_answer_tokens(tok, prefix, lead):
    full = encode(RECORDS, tok, view="full")
    d = encode(RECORDS, tok, view="direct", direct_prefix=prefix)
    assert d.unit_record.tolist() == [0, 1, 1, 2, 3, 3]  # one unit per assistant turn; record e has none
    assert d.unit_turn.tolist() == [0, 0, 1, 0, 0, 1]
    for u, (r, k) in enumerate(zip(d.unit_record, d.unit_turn)):
        fu = int(np.nonzero(full.unit_record == r)[0][0])
        assert scored_text(tok, d, u, k) == scored_text(tok, full, fu, k)
        assert tok.decode(d.input_ids[u]).startswith(lead)


def test_prompt_and_response_views(tok):
    p = encode(RECORDS[1:2], tok, view="prompt")
    msgs = RECORDS[1]["messages"]
    assert tok.decode(p.input_ids[0]) == expected_chatml(msgs[:-1]) + "<|im_start|>assistant\n"
    assert (p.turn_ids[0] == 0).all()
    r = encode(RECORDS[1:2], tok, view="response")
    assert tok.decode(r.input_ids[0]) == "The sea is blue,\nthe sky too.\n\nSea."


def test_truncation_is_explicit(tok):
    rec = [{"messages": conv(("word " * 40, "ok " * 40))}]
    full = encode(rec, tok, max_length=10_000)
    n = len(full.input_ids[0])
    right = encode(rec, tok, max_length=20)
    assert right.truncated.tolist() == [True] and right.full_length.tolist() == [n]
    assert (right.input_ids[0] == full.input_ids[0][:20]).all() and (right.turn_ids[0] == -1).all()
    left = encode(rec, tok, max_length=20, truncation="left")
    assert (left.input_ids[0] == full.input_ids[0][-20:]).all() and (left.turn_ids[0] >= 0).sum() > 0
    with pytest.raises(ValueError, match="record 0"):
        encode(rec, tok, max_length=20, truncation="error")
    assert not encode(rec, tok, max_length=n).truncated[0]


def test_inputs_dataset_pool_and_list_agree(tok):
    ds = datasets.Dataset.from_list(RECORDS)
    class PoolLike:
        dataset = ds
    a, b, c = (encode(x, tok) for x in (RECORDS, ds, PoolLike()))
    for x in (b, c):
        assert all((p == q).all() for p, q in zip(a.input_ids, x.input_ids))
        assert all((p == q).all() for p, q in zip(a.turn_ids, x.turn_ids))


def test_bad_records_name_the_record_and_field(tok):
    with pytest.raises(ValueError, match=r"record 1 \(id 'x'\): messages\[0\].role"):
        record_messages([RECORDS[0], {"id": "x", "messages": [{"role": "human", "content": "hi"}]}])
    with pytest.raises(ValueError, match="record 0: 'messages' must be a non-empty list"):
        record_messages([{"messages": []}])
    with pytest.raises(ValueError, match="content must be a string"):
        record_messages([{"messages": [{"role": "user", "content": 3}]}])
    with pytest.raises(ValueError, match="no 'messages' field"):
        record_messages([{"text": "hi"}])


def test_template_errors(tok):
    with pytest.raises(TemplateError, match="unknown template"):
        Template(tok, "vicuna")
    unstable = "{{ messages|length }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(TemplateError, match="prefix-stable"):
        encode(RECORDS[1:2], tok, template=unstable)
    bare = tiny_tokenizer(chat_template=None)
    with pytest.raises(TemplateError, match="no chat template"):
        encode(RECORDS[:1], bare)


def test_content_hash_covers_roles_and_contents():
    m = RECORDS[1]["messages"]
    assert content_hash(m) == content_hash([dict(x) for x in m])
    assert content_hash(m) != content_hash(m[:-1])
    swapped = [dict(x) for x in m]; swapped[1]["role"] = "system"
    assert content_hash(m) != content_hash(swapped)
