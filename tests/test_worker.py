"""Feature worker: two local processes under a torchrun-style launch, and a worker killed mid-run, give bitwise the
same fp32 features as one process."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from datacurate.models import load_model, tiny_lm
from datacurate.worker import FeatureSpec, launch_local, load_features, run_worker, worker_args

ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the worker processes (ENV): fp32 sums are bitwise equal only at the same thread count
    root = tmp_path_factory.mktemp("worker")
    lm = tiny_lm("llama", seed=3)
    lm.model.save_pretrained(root / "model"); lm.tokenizer.save_pretrained(root / "model")
    rng = np.random.default_rng(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".split()
    recs = [{"id": f"r{i}", "messages": [{"role": "user", "content": " ".join(rng.choice(words, rng.integers(2, 12)))},
                                         {"role": "assistant", "content": " ".join(rng.choice(words, rng.integers(1, 20)))}]}
            for i in range(120)]
    recs.append(dict(recs[5], id="dup"))  # a duplicate record: one key, computed once
    pool = root / "pool.jsonl"
    pool.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    spec = FeatureSpec(str(root / "model"), features=("loss", "mean"), max_length=64, n_buckets=16,
                       max_tokens_per_batch=192)
    yield root, pool, spec
    torch.set_num_threads(threads)


def _features(pool, spec, cache):
    f = load_features(pool, spec, cache=cache, device="cpu")
    assert f.stats["computed"] == 0, f.stats  # everything came from the workers' shards
    return f


def _single(root, pool, spec):
    if not (root / "one").exists():
        (s,) = launch_local(spec, pool, nprocs=1, cache=root / "one", env=ENV, device="cpu", timeout=600)
        assert s["computed"] == s["records"] == 120
    return _features(pool, spec, root / "one")


def test_two_processes_torchrun_style_equal_one_process_bitwise(setup):
    root, pool, spec = setup
    one = _single(root, pool, spec)
    stats = launch_local(spec, pool, nprocs=2, cache=root / "two", env=ENV, device="cpu", timeout=600)
    assert [s["launcher"] for s in stats] == ["torchrun", "torchrun"]
    assert [s["shard"] for s in stats] == [0, 1] and sum(s["records"] for s in stats) == 120
    assert all(s["records"] > 0 for s in stats)
    two = _features(pool, spec, root / "two")
    for k in ("loss_sum", "n_tokens", "mean", "length"):
        assert one[k].dtype == two[k].dtype
        assert np.array_equal(one[k], two[k], equal_nan=True), k
    assert one["mean"].dtype == np.float32


def test_killed_worker_rerun_completes_with_same_features(setup):
    root, pool, spec = setup
    one = _single(root, pool, spec)
    cache = root / "killed"
    args = worker_args(spec, pool, cache, device="cpu", buckets_per_call=1, delay_s=0.5)
    p = subprocess.Popen(args, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ns_glob = lambda: list(cache.glob("*/shard-*"))
    t0 = time.time()
    while len(ns_glob()) < 4 and p.poll() is None and time.time() - t0 < 300: time.sleep(0.05)
    assert p.poll() is None, "the worker finished before it could be killed"
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL
    done = len(ns_glob())
    assert 0 < done < 2 * 16  # some, not all, of the 16 buckets x 2 kinds were stored
    # the rerun computes only what the killed worker had not stored
    s = run_worker(pool, spec, cache=cache, device="cpu")
    assert 0 < s["computed"] < 120 and s["from_cache"] > 0
    again = _features(pool, spec, cache)
    for k in ("loss_sum", "n_tokens", "mean"):
        assert np.array_equal(one[k], again[k], equal_nan=True), k
