"""Runner: batched results equal a batch-size-1 loop (left and right padding, any budget), hand-checked losses and pooling."""
import random

import numpy as np
import pytest
import torch

from datacurate.models import load_model, tiny_lm, tiny_tokenizer
from datacurate.runner import FEATURES, forward_batch, plan_batches, run_features
from datacurate.views import encode


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def llama(tok):
    return tiny_lm("llama", tokenizer=tok)


@pytest.fixture(scope="module")
def gpt2(tok):
    return tiny_lm("gpt2", tokenizer=tok)


def make_pool(n=14, seed=0):
    rng = random.Random(seed)
    words = "the a sea sky blue fox dog poem write explain why 2 + 4 = list apple banana code return".split()
    sent = lambda k: " ".join(rng.choice(words) for _ in range(k))
    pool = []
    for i in range(n):
        msgs = [{"role": "system", "content": sent(3)}] if i % 3 == 0 else []
        for _ in range(1 + i % 3):
            msgs += [{"role": "user", "content": sent(rng.randint(1, 25))},
                     {"role": "assistant", "content": sent(rng.randint(0, 30))}]
        pool.append({"id": f"r{i}", "source": "toy", "messages": msgs})
    pool.append({"id": "no-answer", "source": "toy", "messages": [{"role": "user", "content": "hello"}]})
    return pool


POOL = make_pool()


def loop_reference(lm, records, view="full", direct_prefix="none", max_length=2048):
    """Batch size 1, full model forward, numpy log-softmax over the whole vocabulary, masks read from `encode`."""
    enc = encode(records, lm.tokenizer, "none" if lm.kind == "encoder" else None, view, max_length,
                 direct_prefix=direct_prefix)
    R = len(records)
    loss, ntok = np.zeros(R), np.zeros(R, np.int64)
    turn = {}
    pooled = {k: [None] * R for k in ("mean", "weighted_mean", "last")}
    for u in range(len(enc.input_ids)):
        x, t, r = enc.input_ids[u], enc.turn_ids[u], enc.unit_record[u]
        if len(x) == 0:  # nothing to run: no loss, NaN pooled states
            pooled["mean"][r] = pooled["weighted_mean"][r] = pooled["last"][r] = np.full(lm.model.config.hidden_size, np.nan)
            continue
        with torch.no_grad():
            o = lm.model(torch.tensor(x)[None], output_hidden_states=True)
        h = o.hidden_states[-1][0].double().numpy() if lm.kind == "causal" else o.last_hidden_state[0].double().numpy()
        if lm.kind == "causal":
            logits = o.logits[0].double().numpy()
            logp = logits - logits.max(-1, keepdims=True)
            logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
            for i in range(1, len(x)):
                if t[i] >= 0:
                    loss[r] += -logp[i - 1, x[i]]; ntok[r] += 1
                    turn[(r, t[i])] = turn.get((r, t[i]), 0.0) - logp[i - 1, x[i]]
        w = np.arange(1, len(x) + 1, dtype=np.float64)
        pooled["mean"][r] = h.mean(0)
        pooled["weighted_mean"][r] = (w[:, None] * h).sum(0) / w.sum()
        pooled["last"][r] = h[-1]
    return loss, ntok, turn, pooled, enc


def test_plan_batches_covers_all_within_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=500)
    batches = plan_batches(lengths, max_tokens_per_batch=1000, max_batch_size=64)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    for b in batches:
        assert len(b) <= 64 and (len(b) * lengths[b].max() <= 1000 or len(b) == 1)
    assert len(batches) < 500 // 2  # real batching, not a batch-size-1 loop
    assert lengths[batches[0]].max() == lengths.max()  # longest first
    assert plan_batches([5000], max_tokens_per_batch=100)[0].tolist() == [0]  # too long alone: its own batch


def test_hand_computed_cross_entropy(llama):
    "Two scored tokens of a 5-token sequence: loss = -log softmax(logits)[target] summed, computed by hand."
    x = np.array([5, 17, 42, 99, 7]); tid = np.array([-1, -1, -1, 0, 0], dtype=np.int16)
    out = forward_batch(llama, [x], [tid], features=("loss",))
    with torch.no_grad():
        logits = llama.model(torch.tensor(x)[None]).logits[0].double()
    def ce(row, target): return (torch.logsumexp(logits[row], 0) - logits[row, target]).item()
    assert out["turn_loss_sum"][0, 0] == pytest.approx(ce(2, 99) + ce(3, 7), abs=1e-5)
    assert out["turn_n_tokens"][0, 0] == 2


def test_weighted_pooling_by_hand_ignores_padding(llama):
    "Two sequences of different lengths in one batch, both padding sides: w_i = i / sum(i) over each one's real tokens."
    a, b = np.array([3, 8, 21, 40, 11, 9, 30]), np.array([12, 6, 50])
    ta, tb = np.full(7, -1, np.int16), np.full(3, -1, np.int16)
    for side in ("left", "right"):
        out = forward_batch(llama, [a, b], [ta, tb], features=("weighted_mean", "mean", "last"), padding_side=side)
        for row, x in enumerate((a, b)):
            with torch.no_grad():
                h = llama.model(torch.tensor(x)[None], output_hidden_states=True).hidden_states[-1][0].double().numpy()
            n = len(x)
            want = sum((i + 1) * h[i] for i in range(n)) * 2 / (n * (n + 1))
            np.testing.assert_allclose(out["weighted_mean"][row], want, atol=1e-5)
            np.testing.assert_allclose(out["mean"][row], h.mean(0), atol=1e-5)
            np.testing.assert_allclose(out["last"][row], h[-1], atol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batched_equals_batch_size_one_loop(arch, side, llama, gpt2):
    lm = llama if arch == "llama" else gpt2
    loss, ntok, turn, pooled, enc = loop_reference(lm, POOL)
    for budget in (96, 700, 100_000):
        r = run_features(lm, POOL, features=FEATURES, padding_side=side, max_tokens_per_batch=budget)
        np.testing.assert_allclose(r["loss_sum"], loss, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(r["n_tokens"], ntok)
        for (rec, k), v in turn.items():
            assert r["turn_loss_sum"][r["turn_offsets"][rec] + k] == pytest.approx(v, rel=1e-5, abs=1e-4)
        for f in ("mean", "weighted_mean", "last"):
            np.testing.assert_allclose(r[f], np.stack(pooled[f]), atol=2e-5)
    assert np.isnan(r["loss_mean"][-1]) and r["n_tokens"][-1] == 0  # the record without an answer
    np.testing.assert_array_equal(r["length"], enc.lengths)


@pytest.mark.parametrize("view,prefix", [("prompt", "none"), ("response", "none"), ("direct", "none"),
                                         ("direct", "header"), ("direct", "turn")])
def test_other_views_equal_loop(view, prefix, llama):
    loss, ntok, turn, pooled, _ = loop_reference(llama, POOL, view, prefix)
    feats = ("loss",) if view == "direct" else ("loss", "weighted_mean")
    for side in ("right", "left"):
        r = run_features(llama, POOL, view=view, direct_prefix=prefix, features=feats, padding_side=side,
                         max_tokens_per_batch=200)
        np.testing.assert_allclose(r["loss_sum"], loss, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(r["n_tokens"], ntok)
        if view == "direct":
            for (rec, k), v in turn.items():
                assert r["turn_loss_sum"][r["turn_offsets"][rec] + k] == pytest.approx(v, rel=1e-5, abs=1e-4)
        else:
            np.testing.assert_allclose(r["weighted_mean"], np.stack(pooled["weighted_mean"]), atol=2e-5)


def test_ifd_views_score_the_same_answer_tokens(llama):
    cond = run_features(llama, POOL, view="full")
    for prefix in ("header", "turn"):
        d = run_features(llama, POOL, view="direct", direct_prefix=prefix)
        np.testing.assert_array_equal(d["turn_n_tokens"], cond["turn_n_tokens"])
        np.testing.assert_array_equal(d["turn_offsets"], cond["turn_offsets"])


def test_truncation_counted_and_scored_tokens_kept(llama):
    r = run_features(llama, POOL, max_length=24, max_tokens_per_batch=100)
    loss, ntok, *_ = loop_reference(llama, POOL, max_length=24)
    assert r["truncated"].sum() > 0 and (r["length"] <= 24).all()
    np.testing.assert_allclose(r["loss_sum"], loss, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(r["n_tokens"], ntok)


def test_training_model_in_memory(gpt2, tok):
    "A model being trained (dropout on) is scored in eval mode and left in train mode."
    loss, *_ = loop_reference(gpt2, POOL)
    gpt2.model.train()
    try:
        r = run_features((gpt2.model, tok), POOL)
        assert gpt2.model.training
    finally: gpt2.model.eval()
    np.testing.assert_allclose(r["loss_sum"], loss, rtol=1e-5, atol=1e-4)


def test_fallback_when_head_split_is_not_exact(tok):
    "A model whose logits are not lm_head(backbone(x)) (here: soft-capped) is scored through its own forward."
    base = tiny_lm("llama", tokenizer=tok, seed=3)
    class Capped(type(base.model)):
        def forward(self, *a, **kw):
            out = super().forward(*a, **kw)
            out.logits = 3.0 * torch.tanh(out.logits / 3.0)
            return out
    capped = Capped(base.model.config); capped.load_state_dict(base.model.state_dict()); capped.eval()
    lm = load_model(capped, tok, model_id="capped")
    loss, *_ = loop_reference(lm, POOL)
    r = run_features(lm, POOL, padding_side="left", max_tokens_per_batch=300)
    assert lm.meta["split_ok"] is False
    np.testing.assert_allclose(r["loss_sum"], loss, rtol=1e-5, atol=1e-4)


def test_encoder_mean_pooling(tok):
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, pad_token_id=tok.pad_token_id)).eval()
    enc_lm = load_model(bert, tok, kind="encoder", model_id="tiny-bert")
    _, _, _, pooled, _ = loop_reference(enc_lm, POOL)
    for side in ("right", "left"):
        r = run_features(enc_lm, POOL, features=("mean",), padding_side=side, max_tokens_per_batch=300)
        np.testing.assert_allclose(r["mean"], np.stack(pooled["mean"]), atol=2e-5)
    with pytest.raises(ValueError, match="encoder"):
        run_features(enc_lm, POOL, features=("loss",))


def test_bad_requests(llama):
    with pytest.raises(ValueError, match="unknown features"):
        run_features(llama, POOL, features=("loss", "max"))
    with pytest.raises(ValueError, match="direct view"):
        run_features(llama, POOL, view="direct", features=("mean",))
    with pytest.raises(ValueError, match="view must be one of"):
        run_features(llama, POOL, view="answer")
    assert run_features(llama, [], features=FEATURES)["loss_sum"].shape == (0,)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_packed_batches_equal_padded(arch):
    """Padding-free packed rows (position ids restarting per sequence) give the padded batch's losses and states."""
    from datacurate.models import tiny_lm
    from datacurate.runner import forward_batch, forward_packed, packing_ok, run_features
    lm = tiny_lm(arch, seed=2)
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 300, n) for n in (17, 3, 9, 30, 1, 12)]
    turns = [np.where(np.arange(len(s)) >= len(s) // 3, np.arange(len(s)) % 2, -1).astype(np.int16) for s in seqs]
    feats = ("loss", "mean", "weighted_mean", "last")
    a = forward_packed(lm, seqs, turns, feats, max_turns=2)
    b = forward_batch(lm, seqs, turns, feats, max_turns=2)
    for k in b:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert packing_ok(lm)
    recs = [{"messages": [{"role": "user", "content": "say " + " ".join(["word"] * i)},
                          {"role": "assistant", "content": " ".join(["ok"] * (1 + i % 5))}]} for i in range(12)]
    p = run_features(lm, recs, features=("loss", "mean"), packing=True, max_length=64)
    q = run_features(lm, recs, features=("loss", "mean"), max_length=64)
    np.testing.assert_allclose(p["loss_sum"], q["loss_sum"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p["mean"], q["mean"], rtol=1e-4, atol=1e-5)
