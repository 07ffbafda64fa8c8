"""reward plugin: batched vs batch size 1, per-turn scores vs each prefix scored alone, truncation, errors."""
import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForSequenceClassification

from datacurate.errors import ParameterError
from datacurate.models import tiny_tokenizer
from datacurate_reward.plugin import reward_scores, score_sequences


@pytest.fixture(scope="module")
def rm():
    tok = tiny_tokenizer()
    torch.manual_seed(1)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, num_labels=2, pad_token_id=tok.pad_token_id, max_position_embeddings=1024)
    return LlamaForSequenceClassification(cfg).eval(), tok


def records(n=25, seed=0):
    gen = np.random.default_rng(seed)
    words = ["the", "quick", "fox", "def", "add(a, b):", "return", "Paris", "bonjour", "2 + 2 = 4", "sea"]
    out = []
    for i in range(n):
        msgs = [{"role": "system", "content": "be brief"}] if i % 3 == 0 else []
        for _ in range(int(gen.integers(1, 4))):
            msgs += [{"role": "user", "content": " ".join(gen.choice(words, int(gen.integers(1, 15))))},
                     {"role": "assistant", "content": " ".join(gen.choice(words, int(gen.integers(1, 40))))}]
        out.append({"id": f"r{i}", "messages": msgs})
    return out


def alone(model, tok, msgs, label=0, limit=10_000):
    "The obvious way: each prefix conversation rendered by apply_chat_template and scored on its own."
    vals = []
    for j, m in enumerate(msgs):
        if m["role"] != "assistant": continue
        ids = tok(tok.apply_chat_template(msgs[:j + 1], tokenize=False), add_special_tokens=False)["input_ids"][-limit:]
        with torch.no_grad(): vals.append(float(model(input_ids=torch.tensor([ids])).logits[0, label]))
    return vals


@pytest.mark.parametrize("label", [0, 1])
def test_batched_equals_batch_size_one_and_by_hand(rm, label):
    model, tok = rm
    recs = records()
    batched = reward_scores(recs, rm, label=label, max_tokens_per_batch=2048, max_batch_size=16)
    single = reward_scores(recs, rm, label=label, max_batch_size=1)
    for col in ("score_last", "score_mean"):
        np.testing.assert_allclose(batched[col], single[col], rtol=1e-4, atol=1e-5)
    for i, r in enumerate(recs):
        v = alone(model, tok, r["messages"], label)
        np.testing.assert_allclose([batched["score_last"][i], batched["score_mean"][i]], [v[-1], np.mean(v)], rtol=1e-4, atol=1e-5)
    assert (batched["turns"] == [sum(m["role"] == "assistant" for m in r["messages"]) for r in recs]).all()
    assert batched["score"].equals(batched["score_last"])
    np.testing.assert_allclose(reward_scores(recs, rm, turns="mean", label=label, max_tokens_per_batch=2048,
                                             max_batch_size=16)["score"], batched["score_mean"], rtol=1e-6)


def test_truncation_keeps_the_end(rm):
    model, tok = rm
    recs = records(8, 3)
    t = reward_scores(recs, rm, max_length=20)
    assert t["truncated"].any()
    for i, r in enumerate(recs):
        np.testing.assert_allclose(t["score_last"][i], alone(model, tok, r["messages"], 0, 20)[-1], rtol=1e-4, atol=1e-5)


def test_plan_is_by_tokens(rm):
    model, tok = rm
    seqs = [list(range(3, 3 + k)) for k in (5, 50, 7, 3, 49)]
    a = score_sequences(model, tok, seqs, max_tokens_per_batch=100)
    b = np.array([score_sequences(model, tok, [s])[0] for s in seqs])
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_errors(rm):
    with pytest.raises(ValueError, match=r"record 1 \(id 'b'\): messages\[0\]\.role"):
        reward_scores([records(1)[0], {"id": "b", "messages": [{"role": "bot", "content": "x"}]}], rm)
    with pytest.raises(ParameterError, match="label 5 out of range"):
        reward_scores(records(2), rm, label=5)
    with pytest.raises(ParameterError, match="turns must be"):
        reward_scores(records(2), rm, turns="sum")


def test_cache_second_run_scores_nothing_and_killed_run_resumes(rm, tmp_path, monkeypatch):
    "Through the feature cache: same values as uncached; a run killed after its first chunk resumes with the rest."
    import datacurate.cache as C
    import datacurate_reward.plugin as P
    recs = records(30, seed=3)
    want = reward_scores(recs, rm, turns="mean")
    real_cached_rows = C.cached_rows
    monkeypatch.setattr(C, "cached_rows", lambda *a, **k: real_cached_rows(*a, **{**k, "chunk": 8}))
    real = P._reward_rows
    calls = []
    def dies_on_second_chunk(*a, **k):
        calls.append(1)
        if len(calls) == 2: raise KeyboardInterrupt("killed")
        return real(*a, **k)
    monkeypatch.setattr(P, "_reward_rows", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt): reward_scores(recs, rm, turns="mean", cache=tmp_path)
    monkeypatch.setattr(P, "_reward_rows", real)
    resumed = reward_scores(recs, rm, turns="mean", cache=tmp_path)
    assert resumed.attrs["cache"]["computed"] == 30 - 8  # the first chunk was kept
    np.testing.assert_allclose(resumed["score"], want["score"], rtol=1e-6)
    again = reward_scores(recs, rm, turns="mean", cache=tmp_path)
    assert again.attrs["cache"]["computed"] == 0
    np.testing.assert_array_equal(again["score"].to_numpy(), resumed["score"].to_numpy())
