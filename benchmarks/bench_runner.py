"""Model runner throughput: batched, masked `run_features` vs a straightforward batch-size-1 loop, and feature-cache growth.

Usage:  python benchmarks/bench_runner.py [--sizes 1000,10000] [--naive-n 1000] [--smol-n 200] [--smol-max-length 512]
                                          [--tiny-scale 0.3] [--smol-scale 0.5] [--budget N] [--sweep 512,1024,2048,16384]
                                          [--skip-smol] [--threads N]

Prints, as markdown tables:
  * this machine's dense fp32 matmul peak (GFLOP/s, best of several 2048^3 products);
  * for a tiny random Llama and for SmolLM2-135M: tokens/s and examples/s of the runner (loss + weighted-mean pooling
    from one pass) and of a batch-size-1 loop (full forward, log-softmax over the vocabulary, same masks), the largest
    loss difference between the two, the executed GFLOP/s as a fraction of the matmul peak, and peak RSS;
  * with --sweep, the runner's SmolLM2 time at several token budgets (the CPU default of 1024 comes from it);
  * time and peak RSS of `compute_features` (fresh cache) and of a second, fully cached call as the pool grows.
--budget defaults to the runner's own device default (`datacurate.runner.tokens_per_batch`).
Each measurement runs in its own subprocess so that peak RSS (ru_maxrss) belongs to it alone.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the a of to and in is that for it with as on was by this be are from or at an which have not one all "
         "sea sky blue write poem explain why list apple banana code return function value number data model "
         "train select example answer question because therefore however first second finally step result").split()


def synthetic_pool(n: int, seed: int = 0, scale: float = 1.0):
    "Chat records with varied lengths; a third have two user/assistant turns, a fifth a system message."
    rng = random.Random(seed)
    sent = lambda k: " ".join(rng.choice(WORDS) for _ in range(max(1, int(k * scale))))
    pool = []
    for i in range(n):
        msgs = [{"role": "system", "content": sent(rng.randint(5, 20))}] if rng.random() < 0.2 else []
        for _ in range(1 + (rng.random() < 0.33)):
            msgs += [{"role": "user", "content": sent(rng.randint(5, 120))},
                     {"role": "assistant", "content": sent(rng.randint(5, 160))}]
        pool.append({"id": f"r{i}", "source": "synthetic", "messages": msgs})
    return pool


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(model: str):
    from datacurate.models import load_model, tiny_lm
    return tiny_lm("llama", hidden=64, layers=2) if model == "tiny" else load_model(model)


def flop_counts(lm, enc, batches=None):
    "Executed FLOPs: backbone on (padded) tokens incl. attention scores, LM head on the positions it is applied to."
    import numpy as np
    cfg = lm.model.config
    d, n_layers, V = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
    emb = lm.model.get_input_embeddings().weight.numel()
    p_body = sum(p.numel() for p in lm.model.parameters()) - emb - (0 if cfg.tie_word_embeddings else emb)
    lengths = enc.lengths
    scored = np.array([int((t[1:] >= 0).sum()) for t in enc.turn_ids])
    if batches is None:  # one sequence at a time, head on every position
        tok = lengths.astype(float)
        return float((tok * (2 * p_body + 4 * n_layers * lengths * d)).sum() + 2 * d * V * tok.sum())
    total = 0.0
    for b in batches:
        L = lengths[b].max(); total += len(b) * L * (2 * p_body + 4 * n_layers * L * d)
    return total + 2 * d * V * scored.sum()


def child_naive(model: str, n: int, max_length: int, scale: float):
    import numpy as np
    import torch
    from datacurate.views import encode
    lm = load(model); pool = synthetic_pool(n, scale=scale)
    base = rss_mib(); t0 = time.perf_counter()
    enc = encode(pool, lm.tokenizer, None, "full", max_length)
    loss = np.zeros(n)
    with torch.inference_mode():
        for u in range(len(enc.input_ids)):
            x = torch.as_tensor(enc.input_ids[u])[None]
            o = lm.model(x, output_hidden_states=True)
            logp = torch.log_softmax(o.logits[0].float(), -1)
            m = torch.as_tensor(enc.turn_ids[u][1:] >= 0)
            loss[u] = -logp[:-1][m].gather(1, x[0, 1:][m][:, None]).sum().item()
            h = o.hidden_states[-1][0].float(); w = torch.arange(1, len(h) + 1, dtype=torch.float32)
            _ = (w[:, None] * h).sum(0) / w.sum()
    secs = time.perf_counter() - t0
    return {"secs": secs, "tokens": int(enc.lengths.sum()), "n": n, "loss_sum": loss.tolist(),
            "flops": flop_counts(lm, enc), "rss_mib": rss_mib(), "rss_model_mib": base}


def child_runner(model: str, n: int, max_length: int, scale: float, budget: int):
    from datacurate.runner import plan_batches, run_features, tokens_per_batch
    from datacurate.views import encode
    lm = load(model); pool = synthetic_pool(n, scale=scale)
    run_features(lm, pool[:8], features=("loss", "weighted_mean"))  # warm-up (and the one-off head check)
    base = rss_mib(); t0 = time.perf_counter()
    r = run_features(lm, pool, features=("loss", "weighted_mean"), max_length=max_length, max_tokens_per_batch=budget)
    secs = time.perf_counter() - t0
    enc = encode(pool, lm.tokenizer, None, "full", max_length)
    batches = plan_batches(enc.lengths, tokens_per_batch(lm, budget))
    return {"secs": secs, "tokens": int(r["length"].sum()), "n": n, "loss_sum": r["loss_sum"].tolist(),
            "flops": flop_counts(lm, enc, batches), "rss_mib": rss_mib(), "rss_model_mib": base,
            "batches": len(batches), "truncated": int(r["truncated"].sum())}


def child_grow(n: int, budget: int, scale: float):
    from datacurate.cache import compute_features
    lm = load("tiny"); pool = synthetic_pool(n, scale=scale)
    root = tempfile.mkdtemp(prefix="bench-cache-")
    base = rss_mib(); t0 = time.perf_counter()
    a = compute_features(pool, lm, features=("loss", "weighted_mean"), cache=root, max_tokens_per_batch=budget)
    first = time.perf_counter() - t0; rss_first = rss_mib()
    t0 = time.perf_counter()
    b = compute_features(pool, lm, features=("loss", "weighted_mean"), cache=root)
    second = time.perf_counter() - t0
    assert b.stats["computed"] == 0
    size = sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
    return {"n": n, "tokens": int(a["length"].sum()), "first_secs": first, "cached_secs": second, "rss_mib": rss_first,
            "rss_model_mib": base, "cache_mib": size / 2**20}


def run_child(*args, threads=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if threads: env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    if out.returncode: raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def matmul_peak(threads=None, n=2048, reps=6) -> float:
    import torch
    if threads: torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b); best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def fmt(x, nd=1):
    return f"{x:,.{nd}f}" if x < 1e6 else f"{x / 1e6:,.2f}M"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--naive-n", type=int, default=1000)
    ap.add_argument("--smol-n", type=int, default=200)
    ap.add_argument("--smol-max-length", type=int, default=512)
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--sweep", default="", help="token budgets to time the SmolLM2 runner at")
    ap.add_argument("--tiny-scale", type=float, default=0.3, help="record length multiplier for the tiny model")
    ap.add_argument("--smol-scale", type=float, default=0.5, help="record length multiplier for SmolLM2")
    ap.add_argument("--skip-smol", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", default=None)
    args = ap.parse_args()
    if args.child:
        name, *rest = json.loads(args.child)
        print(json.dumps(globals()[f"child_{name}"](*rest))); return

    import numpy as np
    import torch
    peak = matmul_peak(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads() if not args.threads else args.threads} threads, "
          f"{os.cpu_count()} cores; dense fp32 matmul peak: {peak:,.1f} GFLOP/s\n")
    cases = [("tiny", args.naive_n, 2048, args.tiny_scale)]
    if not args.skip_smol: cases.append(("smollm2-135m", args.smol_n, args.smol_max_length, args.smol_scale))
    print("| model | records | way | tokens | seconds | tokens/s | examples/s | speedup | max abs loss diff | GFLOP/s | % of peak | peak RSS MiB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model, n, max_len, scale in cases:
        rn = run_child("runner", model, n, max_len, scale, args.budget, threads=args.threads)
        nv = run_child("naive", model, n, max_len, scale, threads=args.threads)
        diff = float(np.max(np.abs(np.array(nv["loss_sum"]) - np.array(rn["loss_sum"]))))
        rel = diff / float(np.max(np.abs(nv["loss_sum"])))
        for way, r in (("batch-size-1 loop", nv), ("runner", rn)):
            gf = r["flops"] / r["secs"] / 1e9
            print(f"| {model} | {n:,} | {way} | {r['tokens']:,} | {r['secs']:.1f} | {fmt(r['tokens'] / r['secs'], 0)} | "
                  f"{r['n'] / r['secs']:,.1f} | {nv['secs'] / r['secs']:.1f}x | {diff:.1e} (rel {rel:.0e}) | {gf:,.1f} | "
                  f"{100 * gf / peak:.0f}% | {r['rss_mib']:,.0f} |", flush=True)
    budgets = [int(s) for s in args.sweep.split(",") if s]
    if budgets and not args.skip_smol:
        print("\nSmolLM2 runner time by padded-token budget (same records):\n")
        print("| max_tokens_per_batch | batches | seconds | tokens/s |")
        print("|---:|---:|---:|---:|")
        for b in budgets:
            r = run_child("runner", "smollm2-135m", args.smol_n, args.smol_max_length, args.smol_scale, b, threads=args.threads)
            print(f"| {b:,} | {r['batches']} | {r['secs']:.1f} | {fmt(r['tokens'] / r['secs'], 0)} |", flush=True)
    print("\nGrowth with pool size (tiny Llama, loss + weighted_mean, compute_features with a fresh cache, then fully cached):\n")
    print("| records | tokens | first call s | tokens/s | cached call s | peak RSS MiB | cache MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in [int(s) for s in args.sizes.split(",") if s]:
        g = run_child("grow", n, args.budget, args.tiny_scale, threads=args.threads)
        print(f"| {n:,} | {g['tokens']:,} | {g['first_secs']:.1f} | {fmt(g['tokens'] / g['first_secs'], 0)} | "
              f"{g['cached_secs']:.2f} | {g['rss_mib']:,.0f} | {g['cache_mib']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
