"""GPU path check (run by benchmarks/gpu_check.sh on a CUDA machine): bf16 and SDPA / flash attention, padded vs
packed batches (same losses within bf16 tolerance, tokens/s of each), LESS per-example gradients from hooks vs the
loop (relative error, examples/s). Prints a Markdown report and writes it to $OUT/gpu_check.md when $OUT is set."""
import os
import time

import numpy as np
import torch

from datacurate.models import load_model
from datacurate.runner import forward_batch, forward_packed, packing_ok


def timed(fn, reps=3):
    fn(); torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps): out = fn()
    torch.cuda.synchronize()
    return out, (time.perf_counter() - t) / reps


def main():
    lines = []
    say = lambda s="": (print(s, flush=True), lines.append(s))
    assert torch.cuda.is_available(), "no CUDA device"
    say(f"# GPU check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    impls = ["sdpa", "eager"]
    try:
        import flash_attn  # noqa: F401
        impls.insert(0, "flash_attention_2")
    except ImportError: say("flash-attn not installed: flash_attention_2 skipped")
    rng = np.random.default_rng(0)
    lens = rng.integers(32, 1024, 64)
    seqs = [rng.integers(1, 40000, n) for n in lens]
    turns = [np.where(np.arange(n) >= n // 3, 0, -1).astype(np.int16) for n in lens]
    say("\n| attention | dtype | padded tokens/s | packed tokens/s | packing_ok | max rel. loss diff |")
    say("|---|---|---:|---:|---|---:|")
    for impl in impls:
        for dtype in ("bf16", "fp32"):
            try: lm = load_model("smollm2-135m", device="cuda", dtype=dtype, attn_implementation=impl)
            except Exception as e:
                say(f"| {impl} | {dtype} | load failed: {type(e).__name__}: {e} | | | |"); continue
            a, t_pad = timed(lambda: forward_batch(lm, seqs, turns, ("loss",)))
            ok = packing_ok(lm)
            b, t_pack = timed(lambda: forward_packed(lm, seqs, turns, ("loss",)))
            rel = float(np.max(np.abs(a["turn_loss_sum"] - b["turn_loss_sum"]) / np.maximum(np.abs(a["turn_loss_sum"]), 1e-6)))
            n = int(lens.sum())
            say(f"| {impl} | {dtype} | {n / t_pad:,.0f} | {n / t_pack:,.0f} | {ok} | {rel:.2e} |")
            del lm; torch.cuda.empty_cache()
    # LESS: per-example LoRA gradients, hooks vs loop, fp32 and bf16
    from datacurate_less.gradients import per_example_grads_hooks, per_example_grads_loop
    from datacurate_less.warmup import add_lora
    say("\n| LESS grads | dtype | hooks ex/s | loop ex/s | speed-up | max rel. error |")
    say("|---|---|---:|---:|---:|---:|")
    for dtype in ("fp32", "bf16"):
        lm = load_model("smollm2-135m", device="cuda", dtype=dtype)
        model = add_lora(lm.model, r=8, alpha=16, dropout=0.0, targets=("q_proj", "v_proj")).eval()
        for n_, p in model.named_parameters():
            if "lora_B" in n_: torch.nn.init.normal_(p, std=0.01)
        B, L = 16, 256
        ids = torch.randint(1, 40000, (B, L), device="cuda")
        mask = torch.ones(B, L, dtype=torch.long, device="cuda"); mask[:, : L // 4] = 0
        G, t_h = timed(lambda: per_example_grads_hooks(model, ids, mask), reps=2)
        R, t_l = timed(lambda: per_example_grads_loop(model, ids, mask), reps=1)
        rel = float(((G.float() - R.float()).norm(dim=1) / R.float().norm(dim=1)).max())
        say(f"| SmolLM2-135M LoRA r=8 q/v, {B}x{L} | {dtype} | {B / t_h:.1f} | {B / t_l:.1f} | x{t_l / t_h:.1f} | {rel:.1e} |")
        del lm, model; torch.cuda.empty_cache()
    say(f"\npeak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu_check.md"), "w") as f: f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
