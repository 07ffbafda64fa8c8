"""Executors: a local Ray cluster on 127.0.0.1 (started and stopped here) and torchrun-style processes compute the
same fp32 bits as a single-process feature worker, routed from compute_features."""
import json
import os

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


@pytest.fixture
def deadline():
    "Fail (not hang) when a test runs past 10 minutes: a Ray job that cannot be scheduled waits forever."
    import signal
    def expired(*_): raise TimeoutError("the test ran past 600 s (a Ray job that cannot get its resources waits forever)")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(600)
    yield
    signal.alarm(0); signal.signal(signal.SIGALRM, old)


def _same(a, b):
    for k in ("loss_sum", "n_tokens", "mean"):
        assert np.array_equal(a[k], b[k], equal_nan=True), k


def _free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks: s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks: s.close()
    return ports


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    """A one-node Ray cluster on 127.0.0.1, started here and stopped by its own process id. Every agent port is fixed:
    the raylet then does not wait on the agents' port files, whose hard-coded 15 s timeout kills it on a loaded
    machine (ray-project/ray#65983)."""
    # loopback only: Ray otherwise resolves 127.0.0.1 to the machine's outward address (must be set before import)
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'datacurate[ray]')")
    import shutil
    import subprocess
    import sys
    import time
    exe = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    gcs, agent, listen, renv, metrics = _free_ports(5)
    env = {**os.environ, **ENV, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    tmp = tmp_path_factory.mktemp("ray")
    log = open(tmp / "head.log", "w")
    head = subprocess.Popen([exe, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
                             "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard", "false",
                             "--dashboard-agent-grpc-port", str(agent), "--dashboard-agent-listen-port", str(listen),
                             "--runtime-env-agent-port", str(renv), "--metrics-export-port", str(metrics),
                             "--object-store-memory", str(200 * 2**20), "--temp-dir", str(tmp)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.time()
        while "Ray runtime started" not in (tmp / "head.log").read_text():
            if head.poll() is not None or time.time() - t0 > 300:
                fatal = [line for f in tmp.glob("session_*/logs/raylet.out") for line in f.read_text().splitlines()
                         if "Check failed" in line]
                # an environment that cannot start a Ray node (e.g. a loaded 2-core runner, ray#65983) is reported, not
                # counted as a failure of datacurate's code: -ra prints this reason in the summary
                pytest.skip(f"the local Ray node did not start (exit {head.poll()}): "
                            f"{fatal[-1][-300:] if fatal else (tmp / 'head.log').read_text()[-1000:]}")
            time.sleep(1)
        ray.init(address=f"127.0.0.1:{gcs}", log_to_driver=False,
                 runtime_env={"env_vars": {**ENV, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}})
        yield ray
    finally:
        if ray.is_initialized(): ray.shutdown()
        try:
            os.killpg(head.pid, 15)  # the head's own process group: the processes this fixture started
            head.wait(60)
        except ProcessLookupError: pass
        except subprocess.TimeoutExpired: os.killpg(head.pid, 9)
        log.close()


def test_ray_actor_pool_equals_single_process_bitwise(setup, ray_local, tmp_path, deadline):
    root, recs, spec, model, single = setup
    parts = ray_compute([r["messages"] for r in recs], spec, tmp_path / "ray", workers=2, device="cpu")
    assert sum(p["records"] for p in parts) == 60 and len({p["bucket"] for p in parts}) == len(parts)
    assert len({p["pid"] for p in parts}) <= 2  # at most two actors, one model load each
    _same(load_features(recs, spec, cache=tmp_path / "ray", model=model), single)


def test_compute_features_routes_missing_keys_through_ray(setup, ray_local, tmp_path, deadline):
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
