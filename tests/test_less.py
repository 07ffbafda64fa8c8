"""LESS plugin: values checked a second way (backward loop, hand computation, brute force, JL bound)."""
import math

import numpy as np
import pytest
import torch

pytest.importorskip("peft")
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from datacurate.similarity import QueryScores
from datacurate_less.gradients import (AdamState, adam_precondition, grad_dim, lora_linears, per_example_grads,
                                      per_example_grads_hooks, per_example_grads_loop, per_example_grads_vmap)
from datacurate_less.plugin import influence, less_selection, less_vectors
from datacurate_less.projection import RademacherProjector, jl_epsilon


def _lora(arch, seed=0, vocab=61):
    torch.manual_seed(seed)
    if arch == "llama":
        base = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                            num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64))
        targets = ["q_proj", "v_proj"]
    else:
        base = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=16, n_layer=2, n_head=2, n_positions=64))
        targets = ["c_attn"]
    m = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=targets, fan_in_fan_out=arch == "gpt2"))
    for n, p in m.named_parameters():
        if "lora_B" in n: torch.nn.init.normal_(p, std=0.3)
    return m.eval()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("seed", [0, 1])
def test_vmap_grads_equal_backward_loop(arch, seed):
    model = _lora(arch, seed)
    g = torch.Generator().manual_seed(seed)
    B, L = 5, 11
    ids = torch.randint(0, 61, (B, L), generator=g)
    lengths = torch.randint(3, L + 1, (B,), generator=g)
    prompt = torch.randint(0, 3, (B,), generator=g)
    pos = torch.arange(L)[None]
    mask = ((pos < lengths[:, None]) & (pos >= prompt[:, None])).long()
    G = per_example_grads_vmap(model, ids, mask)
    assert G.shape == (B, grad_dim(model))
    torch.testing.assert_close(G, per_example_grads_loop(model, ids, mask), rtol=1e-4, atol=1e-6)


def _batch(seed, B=6, L=13, vocab=61):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (B, L), generator=g)
    lengths = torch.randint(3, L + 1, (B,), generator=g)
    lengths[0] = L  # one full-length row
    prompt = torch.randint(0, 3, (B,), generator=g)
    pos = torch.arange(L)[None]
    mask = ((pos < lengths[:, None]) & (pos >= prompt[:, None])).long()
    mask[1, 4] = 0  # a hole inside the targets (a user turn between two answers)
    return ids, mask


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hook_grads_equal_backward_loop_within_1e5_relative(arch, seed):
    model = _lora(arch, seed)
    ids, mask = _batch(seed)
    G = per_example_grads_hooks(model, ids, mask)
    ref = per_example_grads_loop(model, ids, mask)
    assert G.shape == ref.shape == (len(ids), grad_dim(model))
    rel = (G - ref).norm(dim=1) / ref.norm(dim=1)
    assert float(rel.max()) < 1e-5, rel
    # in float64 the agreement is elementwise
    m64 = model.double()
    G64, ref64 = per_example_grads_hooks(m64, ids, mask), per_example_grads_loop(m64, ids, mask)
    torch.testing.assert_close(G64, ref64, rtol=1e-5, atol=1e-12)
    model.float()


def test_hook_grads_ignore_pad_contents_and_chunking():
    model = _lora("llama", 3)
    ids, mask = _batch(3)
    G = per_example_grads_hooks(model, ids, mask)
    ids2 = ids.clone()
    pos = torch.arange(ids.shape[1])[None]
    last = torch.where(mask > 0, pos, -1).max(1).values[:, None]
    ids2[pos > last] = 7  # other pad tokens after each example's last target
    torch.testing.assert_close(per_example_grads_hooks(model, ids2, mask), G, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(per_example_grads_hooks(model, ids, mask, chunk_size=4), G, rtol=1e-5, atol=1e-7)
    # one example alone, unpadded, gives its row of the batch
    n = int(last[2]) + 1
    torch.testing.assert_close(per_example_grads_hooks(model, ids[2:3, :n], mask[2:3, :n])[0], G[2], rtol=1e-5, atol=1e-7)


def test_auto_method_uses_hooks_and_falls_back_to_vmap():
    model = _lora("llama")
    ids, mask = _batch(0, B=3, L=8)
    torch.testing.assert_close(per_example_grads(model, ids, mask), per_example_grads_hooks(model, ids, mask), rtol=0, atol=0)
    emb = model.get_input_embeddings()
    emb.weight.requires_grad_(True)  # a trainable embedding is not a LoRA linear layer
    with pytest.raises(ValueError, match="not the weight of a bias-free nn.Linear"):
        lora_linears(model)
    G = per_example_grads(model, ids, mask)  # auto: vmap
    torch.testing.assert_close(G, per_example_grads_loop(model, ids, mask), rtol=1e-4, atol=1e-6)


def test_empty_mask_is_an_error():
    model = _lora("llama")
    ids = torch.randint(0, 61, (2, 6)); mask = torch.ones(2, 6, dtype=torch.long); mask[1, 1:] = 0
    with pytest.raises(ValueError, match=r"batch rows \[1\]"):
        per_example_grads(model, ids, mask)


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_projection_within_jl_bound(seed):
    torch.manual_seed(seed)
    n, D, k = 40, 3000, 1024
    X = torch.nn.functional.normalize(torch.randn(n, D, dtype=torch.float64), dim=1)
    Y = RademacherProjector(D, k, seed=seed, dtype=torch.float64).project(X)
    assert (Y @ Y.T - X @ X.T).abs().max().item() <= jl_epsilon(n, k)


def test_projection_is_seeded_and_block_independent():
    x = torch.randn(3, 777)
    a = RademacherProjector(777, 100, seed=5, block_rows=13, cache_bytes=0).project(x)
    b = RademacherProjector(777, 100, seed=5, block_rows=1000).project(x)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    c = RademacherProjector(777, 100, seed=6).project(x)
    assert not torch.allclose(a, c)
    M = RademacherProjector(777, 100, seed=5).block(0, 777)
    np.testing.assert_allclose(M.abs().numpy(), 0.1, rtol=1e-6)


def test_adam_precondition_by_hand():
    g = torch.tensor([[0.5, -1.0, 0.0]])
    m = torch.tensor([0.2, 0.1, -0.3]); v = torch.tensor([0.04, 0.0, 0.01])
    b1, b2, eps = 0.9, 0.999, 1e-8
    want = []
    for gi, mi, vi in zip(g[0].tolist(), m.tolist(), v.tolist()):
        m2 = b1 * mi + (1 - b1) * gi; v2 = b2 * vi + (1 - b2) * gi * gi
        want.append(m2 / math.sqrt(v2 + eps))
    np.testing.assert_allclose(adam_precondition(g, m, v)[0].numpy(), want, rtol=1e-6)
    want_out = [0.9 * 0.2 + 0.05, 0.09 - 0.1, -0.27]
    want_out = [a / (math.sqrt(b2 * vi + (1 - b2) * gi * gi) + eps) for a, vi, gi in zip(want_out, v.tolist(), g[0].tolist())]
    np.testing.assert_allclose(adam_precondition(g, m, v, eps_inside_sqrt=False)[0].numpy(), want_out, rtol=1e-5)


def test_adam_state_by_name_over_param_groups():
    model = _lora("llama")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    # two groups in an order unlike named_parameters: position keys then mean nothing without the names
    g1, g2 = named[1::2], named[0::2]
    opt = torch.optim.AdamW([{"params": [p for _, p in g1]}, {"params": [p for _, p in g2], "weight_decay": 0.0}], lr=0.1)
    ids = torch.randint(0, 61, (1, 8))
    model(input_ids=ids, labels=ids).loss.backward(); opt.step()
    live = AdamState.from_optimizer(opt, model)
    saved = AdamState.from_indexed(opt.state_dict(), [n for n, _ in g1 + g2], {n: p.shape for n, p in named})
    for n, p in named:
        torch.testing.assert_close(live.exp_avg[n], opt.state[p]["exp_avg"])
        torch.testing.assert_close(saved.exp_avg_sq[n], opt.state[p]["exp_avg_sq"])


def test_scores_equal_brute_force_with_unequal_tasks():
    rng = np.random.default_rng(0)
    n, k, T = 30, 8, 3
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    pools = [unit(rng.normal(size=(n, k))).astype(np.float32) for _ in range(T)]
    tasks = np.array(["a", "b", "a", "c", "a", "b"])  # interleaved, sizes 3/2/1
    queries = [unit(rng.normal(size=(len(tasks), k))).astype(np.float32) for _ in range(T)]
    lrs = [2e-5, 1e-5, 5e-6]
    pv, qv, w = less_vectors(pools, queries, lrs)
    qs = QueryScores(pv, qv, tasks=tasks)
    inf = np.zeros((n, len(tasks)))
    for i in range(n):
        for j in range(len(tasks)):
            inf[i, j] = sum(lr / sum(lrs) * float(pools[c][i] @ queries[c][j]) for c, lr in enumerate(lrs))
    by_task = np.stack([inf[:, tasks == t].mean(1) for t in ("a", "b", "c")], 1)
    np.testing.assert_allclose(influence(qs), by_task.max(1), atol=1e-5)
    np.testing.assert_allclose(influence(qs, "max"), inf.max(1), atol=1e-5)
    sel = less_selection(qs, 5)
    assert sel.indices.tolist() == np.argsort(-by_task.max(1), kind="stable")[:5].tolist()


def test_less_vectors_memory_mapped_equal_in_ram(tmp_path):
    rng = np.random.default_rng(1)
    pools = [rng.normal(size=(23, 5)).astype(np.float32) for _ in range(2)]
    pools[0][3] = np.nan; pools[1][3] = np.nan  # an example without targets
    queries = [rng.normal(size=(4, 5)).astype(np.float32) for _ in range(2)]
    pv, qv, w = less_vectors(pools, queries, [2.0, 1.0])
    pm, qm, _ = less_vectors(pools, queries, [2.0, 1.0], out=tmp_path / "pool.npy", block_rows=5)
    assert isinstance(pm, np.memmap)
    np.testing.assert_array_equal(pm, pv); np.testing.assert_array_equal(qm, qv)
    np.testing.assert_array_equal(pv[3], 0)
    want = np.concatenate([pools[0] * np.float32(2 / 3), pools[1] * np.float32(1 / 3)], axis=1)
    np.testing.assert_allclose(np.delete(pv, 3, 0), np.delete(want, 3, 0), rtol=1e-6)
