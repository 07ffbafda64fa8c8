"""Pool loading (`datacurate.pool.load_pool`): records/s and peak memory of the first (uncached) and the cached load,
for the current loader and, for comparison, the loader of an earlier revision (default 744f44f: every record encoded
one by one through `datasets.Dataset.from_generator`).

    .venv/bin/python benchmarks/bench_pool.py [--sizes 10000 100000 1000000] [--before-sizes 10000 100000]
                                              [--before-rev 744f44f] [--workdir /tmp/bench_pool]

The pool is a JSONL file of the demo pool's records (`datacurate.demo.build_demo_pool`: HumanEval, FreshQA incl.
multi-turn, CyberSecEval, stdlib; a mix of messages, ShareGPT and Alpaca layouts, ~660 bytes a record) repeated with
varied ids. Every measurement runs in a fresh Python process with an empty (first load) or warm (cached load) cache
folder of its own: seconds are wall-clock and CPU time (user + system) of the `load_pool` call alone; peak RSS is the
process's maximum resident set size (`resource.getrusage`), and "growth" is that peak minus the RSS right after the
imports. CPU time is the steadier figure on a shared machine: wall time also counts time spent waiting for a core.
The old loader is not run on sizes outside --before-sizes (1M would take many minutes); its figures there are
extrapolated linearly from its largest measured size, and marked so.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, os, resource, sys, time
impl, path, home = sys.argv[1:4]
os.environ["DATACURATE_HOME"] = home
if impl != "after": sys.path.insert(0, impl)
import datasets
datasets.disable_progress_bars()
if impl == "after": from datacurate.pool import load_pool
else: from datacurate_before.pool import load_pool
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = rss()
t0, c0 = time.perf_counter(), time.process_time()
pool = load_pool(path)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
assert pool.report.n_read == len(pool) and pool[len(pool) - 1]["messages"]
print(json.dumps(dict(n=len(pool), wall=wall, cpu=cpu, peak=rss(), base=base)))
"""


def make_pool(path: Path, n: int) -> Path:
    "A JSONL pool of `n` records: the demo pool repeated, ids made unique."
    if path.exists(): return path
    from datacurate.demo import build_demo_pool
    demo = build_demo_pool(path.parent / "demo.jsonl")
    recs = [json.loads(line) for line in open(demo, encoding="utf-8")]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for k in range(n):
            r = dict(recs[k % len(recs)])
            r["id"] = f"{r['id']}#{k // len(recs)}"
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def shadow_package(rev: str, where: Path) -> Path:
    "The schema and pool modules of `rev` as a package `datacurate_before` under `where`."
    pkg = where / "datacurate_before"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("from datacurate import __version__\n")
    for mod in ("schema", "pool"):
        src = subprocess.run(["git", "show", f"{rev}:datacurate/{mod}.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        (pkg / f"{mod}.py").write_text(src)
    return where


def run(impl: str, path: Path, home: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, impl, str(path), str(home)], cwd=ROOT, capture_output=True, text=True)
    if out.returncode: raise RuntimeError(f"{impl} on {path.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label, n, load, m, note=""):
    rate = n / m["cpu"] if m["cpu"] > 0 else float("inf")
    print(f"| {label} | {n:,} | {load} | {m['wall']:.2f} | {m['cpu']:.2f} | {n / m['wall']:,.0f} | {rate:,.0f} | "
          f"{m['peak']:,.0f} | {m['peak'] - m['base']:,.0f} |{note}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--before-sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--before-rev", default="744f44f")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench_pool")
    ap.add_argument("--keep", action="store_true", help="keep the generated pools and caches")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    before = shadow_package(args.before_rev, args.workdir / "before_pkg")
    print("| loader | records | load | wall s | CPU s | records/s (wall) | records/s (CPU) | peak RSS MiB | growth MiB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    last_before = None
    for n in args.sizes:
        path = make_pool(args.workdir / f"pool-{n}.jsonl", n)
        impls = [("after", "after")] + ([(f"before ({args.before_rev})", str(before))] if n in args.before_sizes else [])
        for label, impl in impls:
            home = args.workdir / f"home-{label.split()[0]}-{n}"
            shutil.rmtree(home, ignore_errors=True)
            first, cached = run(impl, path, home), run(impl, path, home)
            row(label, n, "first", first); row(label, n, "cached", cached)
            if impl != "after": last_before = (n, first)
            shutil.rmtree(home, ignore_errors=True)
        if n not in args.before_sizes and last_before is not None:
            n0, m0 = last_before
            est = {k: m0[k] * n / n0 for k in ("wall", "cpu")} | {"peak": float("nan"), "base": float("nan")}
            row(f"before ({args.before_rev})", n, "first", est, f" extrapolated from {n0:,} (not run)")
        if not args.keep: path.unlink(missing_ok=True)
    if not args.keep: shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
