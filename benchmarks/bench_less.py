"""LESS benchmark: per-example gradients per second, batched from hooks (one backward) vs vmap vs a per-example
backward loop (same gradients, asserted equal), projection throughput, storage per example per checkpoint, and peak
memory.

    .venv/bin/python benchmarks/bench_less.py                 # SmolLM2-135M, LoRA r=8 on q/v, 128 tokens
    .venv/bin/python benchmarks/bench_less.py --model tiny    # a tiny random Llama (seconds)
"""
import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from datacurate.cache import FeatureCache
from datacurate.models import load_model, tiny_lm
from datacurate_less.features import batch_features, checkpoint_features
from datacurate_less.gradients import (adam_precondition, grad_dim, per_example_grads, per_example_grads_hooks,
                                      per_example_grads_loop, per_example_grads_vmap, trainable_names)
from datacurate_less.projection import RademacherProjector
from datacurate_less.warmup import Examples, add_lora, lora_state, warmup


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def counted_flops(fn, *args) -> int:
    "Floating-point operations of `fn(*args)`, forward and backward, as torch's FLOP counter sees them (matmuls, SDPA)."
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc: fn(*args)
    return fc.get_total_flops()


def matmul_peak_gflops(shapes, seconds: float = 1.5) -> float:
    "The best fp32 matmul rate this process reaches on `shapes` [(m, k, n), ...]: the machine's practical ceiling."
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3): a @ b
        t, reps = time.perf_counter(), 0
        while time.perf_counter() - t < seconds: a @ b; reps += 1
        best = max(best, 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--sizes", default="8,16,32")
    ap.add_argument("--proj-dim", type=int, default=1024)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--no-vmap", action="store_true", help="skip the (slow on CPU) vmap timing")
    ap.add_argument("--grads-only", action="store_true", help="only the gradient comparison table")
    args = ap.parse_args()
    torch.manual_seed(0)
    lm = tiny_lm("llama", hidden=64, layers=2) if args.model == "tiny" else load_model(args.model, device="cpu", dtype="fp32")
    model = add_lora(lm.model, r=args.r, alpha=2 * args.r, dropout=0.0, targets=("q_proj", "v_proj")).eval()
    for n, p in model.named_parameters():
        if "lora_B" in n: torch.nn.init.normal_(p, std=0.01)  # non-zero B so every LoRA gradient is exercised
    names = trainable_names(model)
    D = grad_dim(model, names)
    V = model.config.vocab_size
    print(f"model {lm.model_id}, LoRA r={args.r} q/v: D = {D:,} gradient entries; {torch.get_num_threads()} threads")

    L, B = args.length, args.batch
    ids = torch.randint(0, V, (B, L))
    mask = torch.ones(B, L, dtype=torch.long); mask[:, : L // 4] = 0  # a prompt quarter that is not a target
    w = min(L, L // 4 + 16)  # a short slice that still holds answer tokens
    for fn in (per_example_grads_hooks, per_example_grads_loop):
        fn(model, ids[:2, :w], mask[:2, :w])  # warm up kernels
    t = time.perf_counter(); G_loop = per_example_grads_loop(model, ids, mask); t_loop = time.perf_counter() - t
    rss0 = peak_mib()
    t = time.perf_counter(); G = per_example_grads_hooks(model, ids, mask); t_hooks = time.perf_counter() - t
    rss_hooks = peak_mib()
    rel = float(((G - G_loop).norm(dim=1) / G_loop.norm(dim=1)).max())
    assert rel < 1e-5, rel
    rows = [("loop (one backward per unpadded example)", t_loop, 0.0),
            ("hooks (one batched backward, outer products)", t_hooks, rel)]
    if not args.no_vmap:
        per_example_grads_vmap(model, ids[:2, :w], mask[:2, :w])
        t = time.perf_counter(); Gv = per_example_grads_vmap(model, ids, mask); t_vmap = time.perf_counter() - t
        rows.append(("vmap (torch.func, CPU SDPA falls back to a loop)", t_vmap,
                     float(((Gv - G_loop).norm(dim=1) / G_loop.norm(dim=1)).max())))
    print(f"\nper-example gradients, {B} x {L} tokens ({torch.get_num_threads()} threads):\n")
    print("| method | examples/s | vs loop | max relative error vs loop |")
    print("|---|---:|---:|---:|")
    for name, t_, e in rows:
        print(f"| {name} | {B / t_:.2f} | x{t_loop / t_:.2f} | {e:.1e} |")
    print(f"\npeak RSS {rss0:.0f} MiB before the hook pass, {rss_hooks:.0f} MiB after it, {peak_mib():.0f} MiB at the end")
    # roofline: how close the loop already runs to the fastest matmul rate this CPU reaches
    flops = counted_flops(per_example_grads_loop, model, ids, mask)
    h, f = model.config.hidden_size, getattr(model.config, "intermediate_size", 4 * model.config.hidden_size)
    peak = matmul_peak_gflops([(B * L, h, f), (B * L, f, h), (2048, 2048, 2048)])
    got = flops / t_loop / 1e9
    print(f"roofline: the loop does {flops / B / 1e9:.1f} GFLOP per example (forward + backward, counted) at "
          f"{got:.1f} GFLOP/s; the best fp32 matmul rate here is {peak:.1f} GFLOP/s, so no method doing the same "
          f"arithmetic in fp32 can beat the loop by more than x{peak / got:.2f}")
    if args.grads_only: return

    P = RademacherProjector(D, args.proj_dim, seed=0, cache_bytes=0)
    t = time.perf_counter(); P.project(G); t_proj = time.perf_counter() - t
    print(f"projection {D:,} -> {args.proj_dim}, regenerated blocks: {B / t_proj:.2f} ex/s "
          f"({D * args.proj_dim / t_proj / 1e6:.0f} M matrix entries/s)")
    Pc = RademacherProjector(D, args.proj_dim, seed=0)
    Pc.project(G[:1]); t = time.perf_counter(); Pc.project(G); t_pc = time.perf_counter() - t
    print(f"projection with cached blocks: {B / t_pc:.1f} ex/s")

    # whole feature pass (adam features, cache writes) vs pool size
    ex_all = Examples([np.random.default_rng(i).integers(0, V, L) for i in range(max(map(int, args.sizes.split(","))))],
                      [np.r_[np.zeros(L // 4, np.int64), np.ones(L - L // 4, np.int64)]] * max(map(int, args.sizes.split(","))),
                      [f"{i:064x}" for i in range(max(map(int, args.sizes.split(","))))], "bench")
    tmp = Path(tempfile.mkdtemp())
    ck = warmup(model, ex_all.subset(range(4)), tmp / "w", epochs=1, lr=1e-3, batch_size=2, grad_accum=1)
    print(f"\n| pool | seconds | features/s | cache MiB | bytes/example/checkpoint | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in map(int, args.sizes.split(",")):
        cache = FeatureCache(tmp / f"cache-{n}")
        st = {}
        t = time.perf_counter()
        F = checkpoint_features(model, ex_all.subset(range(n)), ck[0], "adam", Pc, max_length=L, cache=cache,
                                batch_tokens=B * L, max_batch=B, stats=st)
        dt = time.perf_counter() - t
        nbytes = sum(f.stat().st_size for f in Path(st["namespace"]).rglob("*") if f.is_file())
        print(f"| {n} | {dt:.1f} | {n / dt:.2f} | {nbytes / 2**20:.2f} | {nbytes / n:.0f} (payload {F.shape[1] * 2}) | {peak_mib():.0f} |")


if __name__ == "__main__":
    main()
