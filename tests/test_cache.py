"""Feature cache: reuse, invalidation, damaged shards, SIGKILL-and-resume in a real subprocess, info and clear."""
import json
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from datacurate.cache import _VERIFIED, FeatureCache, cache_clear, cache_info, compute_features, feature_key
from datacurate.models import tiny_lm, tiny_tokenizer
from datacurate.runner import run_features
from datacurate.views import Template

ROOT = Path(__file__).resolve().parents[1]
FEATS = ("loss", "weighted_mean", "last")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm("llama", tokenizer=tiny_tokenizer())


def toy(i):
    msgs = [{"role": "user", "content": f"question {i} " * (1 + i % 7)},
            {"role": "assistant", "content": f"answer {i} " * (1 + i % 5)}]
    if i % 4 == 0: msgs += [{"role": "user", "content": "and then?"}, {"role": "assistant", "content": f"more {i}"}]
    return {"id": f"r{i}", "source": "toy", "messages": msgs}


POOL = [toy(i) for i in range(30)]


def assert_same(a, b, exact=True):
    assert set(a) == set(b)
    for k in a:
        if exact: np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else: np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-5, err_msg=k)


def test_second_call_reads_everything(lm, tmp_path):
    a = compute_features(POOL, lm, features=FEATS, cache=tmp_path, max_tokens_per_batch=256, flush_rows=5)
    assert (a.stats["computed"], a.stats["from_cache"]) == (30, 0) and a.stats["shards"] > 3  # flushed batch by batch
    b = compute_features(POOL, lm, features=FEATS, cache=tmp_path, max_tokens_per_batch=999)  # budget not in the key
    assert (b.stats["computed"], b.stats["batches"], b.stats["from_cache"]) == (0, 0, 30)
    assert_same(a, b)
    assert_same(a, run_features(lm, POOL, features=FEATS, max_tokens_per_batch=256))  # same plan: bit-identical
    # a subset in another order reads the same rows
    idx = [7, 3, 29, 3]
    c = compute_features([POOL[i] for i in idx], lm, features=("loss",), cache=tmp_path)
    assert c.stats["computed"] == 0
    np.testing.assert_array_equal(c["loss_sum"], a["loss_sum"][idx])
    offs = a["turn_offsets"]
    want = np.concatenate([a["turn_loss_sum"][offs[i]:offs[i + 1]] for i in idx])
    np.testing.assert_array_equal(c["turn_loss_sum"], want)
    np.testing.assert_array_equal(np.diff(c["turn_offsets"]), np.diff(offs)[idx])


def test_files_are_plain_npy_and_memory_mapped(lm, tmp_path):
    compute_features(POOL[:5], lm, features=FEATS, cache=tmp_path)
    files = list(tmp_path.rglob("*.npy"))
    assert files and not list(tmp_path.rglob("*.pkl"))
    for f in files:
        arr = np.load(f, mmap_mode="r", allow_pickle=False)  # raises on pickled object arrays
        assert arr.dtype != object


def test_changed_record_or_model_is_never_stale(lm, tmp_path):
    a = compute_features(POOL, lm, cache=tmp_path)
    pool2 = list(POOL)
    pool2[4] = {**POOL[4], "messages": POOL[4]["messages"][:1] + [{"role": "assistant", "content": "different"}]}
    b = compute_features(pool2, lm, cache=tmp_path)
    assert b.stats["computed"] == 1 and b["loss_sum"][4] != a["loss_sum"][4]
    np.testing.assert_array_equal(np.delete(b["loss_sum"], 4), np.delete(a["loss_sum"], 4))
    other = tiny_lm("llama", tokenizer=lm.tokenizer, seed=1)
    c = compute_features(POOL, other, cache=tmp_path)
    assert c.stats["computed"] == 30
    np.testing.assert_allclose(c["loss_sum"], run_features(other, POOL)["loss_sum"], rtol=1e-6)
    # the same weights changed in place: the fingerprint follows after refresh()
    import torch
    with torch.no_grad(): next(other.model.parameters()).mul_(1.5)
    d = compute_features(POOL, other.refresh(), cache=tmp_path)
    assert d.stats["computed"] == 30
    # view, template and max length are part of the key
    for kw in (dict(view="direct"), dict(template="alpaca"), dict(max_length=16)):
        assert compute_features(POOL, lm, cache=tmp_path, **kw).stats["computed"] == 30


def test_duplicates_and_pool_like_inputs(lm, tmp_path):
    import datasets
    dup = POOL[:5] + POOL[:5]
    a = compute_features(dup, lm, features=("loss", "mean"), cache=tmp_path)
    assert a.stats["unique"] == 5 and a.stats["computed"] == 5
    np.testing.assert_array_equal(a["loss_sum"][:5], a["loss_sum"][5:])
    class PoolLike:
        dataset = datasets.Dataset.from_list(dup)
    b = compute_features(PoolLike(), lm, features=("loss", "mean"), cache=tmp_path)
    assert b.stats["computed"] == 0
    assert_same(a, b)
    c = compute_features(dup, lm, features=("loss", "mean"), cache=False)
    assert_same(a, c)


@pytest.mark.parametrize("damage", ["flip", "truncate", "no_manifest", "bad_manifest", "missing_file"])
def test_damaged_shard_is_recomputed(lm, tmp_path, damage):
    a = compute_features(POOL, lm, features=FEATS, cache=tmp_path, max_tokens_per_batch=256, flush_rows=5)
    ns = FeatureCache(tmp_path).namespace(feature_key(lm, Template(lm.tokenizer), "full", "loss", 2048, "right", "none"))
    shard = ns.shard_dirs()[1]
    target = shard / "loss_sum.npy"
    if damage == "flip":
        raw = bytearray(target.read_bytes()); raw[-1] ^= 0x01; target.write_bytes(bytes(raw))
    elif damage == "truncate": target.write_bytes(target.read_bytes()[:-8])
    elif damage == "no_manifest": (shard / "manifest.json").unlink()
    elif damage == "bad_manifest": (shard / "manifest.json").write_text("{not json")
    else: target.unlink()
    _VERIFIED.clear()  # as in a new process
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        b = compute_features(POOL, lm, features=FEATS, cache=tmp_path, max_tokens_per_batch=256)
    assert b.stats["corrupt_shards"] == 1 and 0 < b.stats["computed"] < 30
    assert any("damaged" in str(x.message) for x in w)
    assert (ns.path / "corrupt" / shard.name).exists()
    assert_same(a, b)


def test_temp_folders_of_a_killed_writer_are_ignored(lm, tmp_path):
    a = compute_features(POOL[:6], lm, cache=tmp_path)
    ns_dir = next(tmp_path.iterdir())
    junk = ns_dir / ".tmp-deadbeef"; junk.mkdir(); (junk / "keys.npy").write_bytes(b"partial")
    b = compute_features(POOL[:6], lm, cache=tmp_path)
    assert b.stats["computed"] == 0
    assert_same(a, b)


CHILD = """
import sys; sys.path.insert(0, {root!r})
from datacurate.models import tiny_lm
from datacurate.cache import compute_features
pool = [{{"messages": [{{"role": "user", "content": "q " * (1 + i % 50)}},
                      {{"role": "assistant", "content": "a %d " % i * (1 + i % 30)}}]}} for i in range({n})]
compute_features(pool, tiny_lm(), view={view!r}, features={feats!r}, cache={cache!r}, max_tokens_per_batch=1024, flush_rows=1)
print("finished", flush=True)
"""


@pytest.mark.parametrize("view,feats", [("full", ("loss", "weighted_mean")), ("direct", ("loss",))])
def test_sigkill_then_resume_is_identical(tmp_path, view, feats):
    n = 240
    pool = [{"messages": [{"role": "user", "content": "q " * (1 + i % 50)},
                          {"role": "assistant", "content": "a %d " % i * (1 + i % 30)}]} for i in range(n)]
    kill_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    script = CHILD.format(root=str(ROOT), n=n, view=view, feats=feats, cache=str(kill_root))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    want = 10 * len(feats)  # shards on disk before the kill: some batches done, most not
    deadline = time.time() + 300
    while len(list(kill_root.glob("*/shard-*"))) < want and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    lm = tiny_lm()
    resumed = compute_features(pool, lm, view=view, features=feats, cache=kill_root, max_tokens_per_batch=1024)
    assert resumed.stats["from_cache"] > 0 and resumed.stats["computed"] < n
    assert resumed.stats["from_cache"] + resumed.stats["computed"] == n
    clean = compute_features(pool, lm, view=view, features=feats, cache=clean_root, max_tokens_per_batch=1024)
    assert clean.stats["computed"] == n
    assert_same(resumed, clean)  # bit-identical: every record computed in the batch an uninterrupted run uses
    again = compute_features(pool, lm, view=view, features=feats, cache=kill_root)
    assert again.stats["computed"] == 0


def test_info_and_clear(lm, tmp_path):
    compute_features(POOL[:4], lm, features=FEATS, cache=tmp_path)
    other = tiny_lm("gpt2", tokenizer=lm.tokenizer)
    compute_features(POOL[:4], other, features=("loss",), cache=tmp_path)
    info = cache_info(tmp_path)
    assert sorted(zip(info.model_id, info.kind)) == sorted(
        [(lm.model_id, "loss"), (lm.model_id, "weighted_mean"), (lm.model_id, "last"), (other.model_id, "loss")])
    assert (info.records == 4).all() and (info.bytes > 0).all()
    meta = json.loads((Path(info.path.iloc[0]) / "meta.json").read_text())
    assert {"model_id", "fingerprint", "tokenizer", "template", "max_length", "view", "kind"} <= set(meta)
    assert cache_clear(kind="loss", root=tmp_path)["namespaces"] == 2
    assert cache_clear(model=lm.fingerprint, root=tmp_path)["namespaces"] == 2
    assert len(cache_info(tmp_path)) == 0 and cache_clear(root=tmp_path)["namespaces"] == 0


def test_default_root_honours_datacurate_home(lm, tmp_path, monkeypatch):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path / "home"))
    compute_features(POOL[:2], lm)
    assert list((tmp_path / "home" / "features").glob("*/shard-*"))
    assert len(cache_info()) == 1


def test_cache_info_and_clear_cover_every_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path))
    (tmp_path / "embeddings").mkdir()
    np.save(tmp_path / "embeddings" / "e1.npy", np.zeros((4, 2), np.float32))
    (tmp_path / "embeddings" / "e1.json").write_text('{"model": "m@1"}')
    (tmp_path / "models" / "copy").mkdir(parents=True)
    (tmp_path / "models" / "copy" / "w").write_bytes(b"123")
    (tmp_path / "models" / "file_hashes.json").write_text("{}")
    (tmp_path / "less" / "warmup" / "w1" / "epoch-1").mkdir(parents=True)
    (tmp_path / "less" / "warmup" / "w1" / "epoch-1" / "meta.json").write_text('{"settings": {"base": "m@1"}}')
    info = cache_info()
    assert sorted(info.store) == ["embeddings", "less", "models", "models"]
    assert set(info[info.store == "models"].kind) == {"converted", "hash-memo"}
    assert int(info[info.store == "embeddings"].entries.iloc[0]) == 4
    assert int(info.bytes.sum()) == sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file())
    assert len(cache_info(model="m@1")) == 2 and len(cache_info(kind="converted")) == 1
    with pytest.raises(ValueError, match="store must be one of"):
        cache_clear(store="bogus")
    r = cache_clear(model="m@1", store="less")
    assert r["by_store"] == {"less": 1} and not (tmp_path / "less" / "warmup" / "w1").exists()
    r = cache_clear()
    assert r["entries"] == 3 and len(cache_info()) == 0
    assert not any(f.is_file() for f in tmp_path.rglob("*"))
