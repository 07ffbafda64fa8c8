"""Executors: a local Ray cluster on 127.0.0.1 (started and stopped here) and torchrun-style processes compute the
same fp32 bits as a single-process feature worker, routed from compute_features."""
import json

import numpy as np
import pytest

from datacurate.cache import compute_features
from datacurate.executors import get_executor, ray_compute, set_executor
from datacurate.models import load_model, tiny_lm
from datacurate.worker import FeatureSpec, load_features, run_worker

ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("executors")
    lm = tiny_lm("llama", seed=4)
    lm.model.save_pretrained(root / "model"); lm.tokenizer.save_pretrained(root / "model")
    rng = np.random.default_rng(1)
    words = "red green blue cyan magenta yellow black white grey".split()
    recs = [{"id": f"r{i}", "messages": [{"role": "user", "content": " ".join(rng.choice(words, rng.integers(2, 10)))},
                                         {"role": "assistant", "content": " ".join(rng.choice(words, rng.integers(1, 16)))}]}
            for i in range(60)]
    model = load_model(str(root / "model"), device="cpu")
    spec = FeatureSpec(str(root / "model"), features=("loss", "mean"), max_length=64, n_buckets=8, max_tokens_per_batch=128,
                       dtype="float32")
    run_worker(recs, spec, cache=root / "single", model=model)
    single = load_features(recs, spec, cache=root / "single", model=model)
    assert single.stats["computed"] == 0
    return root, recs, spec, model, single


def _same(a, b):
    for k in ("loss_sum", "n_tokens", "mean"):
        assert np.array_equal(a[k], b[k], equal_nan=True), k


@pytest.fixture
def ray_local(monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'datacurate[ray]')")
    # a loaded CI machine: give the node's agents time to come up; no auth token written to the home folder
    for k, v in (("RAY_agent_register_timeout_ms", "180000"), ("RAY_raylet_start_wait_time_s", "180"),
                 ("RAY_worker_register_timeout_seconds", "180")):
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=200 * 2**20,
             runtime_env={"env_vars": ENV}, log_to_driver=False)
    try: yield ray
    finally: ray.shutdown()


def test_ray_actor_pool_equals_single_process_bitwise(setup, ray_local, tmp_path):
    root, recs, spec, model, single = setup
    parts = ray_compute([r["messages"] for r in recs], spec, tmp_path / "ray", workers=2, device="cpu")
    assert sum(p["records"] for p in parts) == 60 and len({p["bucket"] for p in parts}) == len(parts)
    assert len({p["pid"] for p in parts}) <= 2  # at most two actors, one model load each
    _same(load_features(recs, spec, cache=tmp_path / "ray", model=model), single)


def test_compute_features_routes_missing_keys_through_ray(setup, ray_local, tmp_path):
    root, recs, spec, model, single = setup
    try:
        set_executor("ray", workers=2, device="cpu", n_buckets=8)
        f = compute_features(recs, model, cache=tmp_path / "routed", **spec.compute_kwargs())
    finally:
        set_executor()
    assert f.stats["routed"] == 60 and f.stats["computed"] == 0 and f.stats["executor"]["executor"] == "ray"
    _same(f, single)
    assert get_executor()["executor"] == "local"


def test_compute_features_routes_through_torchrun_processes(setup, tmp_path, monkeypatch):
    root, recs, spec, model, single = setup
    for k, v in ENV.items(): monkeypatch.setenv(k, v)
    try:
        set_executor("torchrun", workers=2, device="cpu", n_buckets=8)
        f = compute_features(recs, model, cache=tmp_path / "tr", **spec.compute_kwargs())
    finally:
        set_executor()
    assert f.stats["routed"] == 60 and f.stats["computed"] == 0
    _same(f, single)
