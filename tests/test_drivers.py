"""The driver contract (datacurate.drivers) on kMQ and IterIT: the same values as the code before it (recorded in
tests/baselines/drivers_0b33b6c.json by tests/_drivers_baseline.py at commit 0b33b6c), resume after a kill, refine hooks."""
import json
from pathlib import Path

import numpy as np
import pytest

from drivers_cases import iterit_pool, kmq_pool, kmq_small, stub_reward

BASE = json.loads((Path(__file__).parent / "baselines" / "drivers_0b33b6c.json").read_text())


def _same_run(st, ref):
    assert st.selected.tolist() == ref["selected"]
    assert st.pick_round.tolist() == ref["pick_round"]
    # same arithmetic, same order; compared to float precision, since another CPU's kernels may differ in the last bit
    np.testing.assert_allclose(np.vstack(st.weights), np.asarray(ref["weights"]), rtol=1e-6, atol=1e-9)
    assert len(st.gaps) == len(ref["gaps"])
    for g, want in zip(st.gaps, ref["gaps"]): np.testing.assert_allclose(g.mean_gap, want, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def kmq_pipeline():
    from datacurate.pipeline import Pipeline
    recs, X, quality = kmq_pool()
    p = Pipeline(recs, budget=20, seed=0, progress=False)
    p.cluster("kmeans", X, k=6, nredo=3)
    p.scores["quality"] = quality
    return p, quality


def test_kmq_static_same(kmq_pipeline):
    p, _ = kmq_pipeline
    assert p.context.clustering.labels.tolist() == BASE["kmq"]["labels"]
    assert p.aggregate("kmq", quality="quality").indices.tolist() == BASE["kmq"]["static"]
    sel = p.aggregate("kmq", quality="quality", allocation="proportional", temperature=0.5)
    assert sel.indices.tolist() == BASE["kmq"]["static_prop_t05"]


def test_kmq_refine_hook_same(kmq_pipeline):
    from datacurate.drivers import Driver
    from datacurate.models import tiny_lm
    p, quality = kmq_pipeline
    lm = tiny_lm()
    d = p.refine("kmq", budget=18, rounds=3, quality=quality, reward=stub_reward, max_new_tokens=3)
    assert isinstance(d, Driver) and d.round == 1 and not d.done
    while not d.done:
        d = p.refine("kmq", state=d, model=lm)
    _same_run(d, BASE["kmq"]["stub"])
    assert d.selection.indices.tolist() == BASE["kmq"]["stub"]["selected"]


@pytest.mark.parametrize("case", ["train", "loss"])
def test_kmq_trained_same(case):
    "Real HF training of a tiny Llama between rounds (run_driver + sft_train_fn): same picks, weights and gaps."
    from datacurate.models import tiny_lm
    from datacurate_kmq.iterative import iterative_kmq
    recs, labs = kmq_small()
    kw = dict(train=dict(reward=stub_reward, max_new_tokens=6, rounds=3, budget=12),
              loss=dict(reward="loss", max_new_tokens=4, rounds=2, budget=9))[case]
    b = kw.pop("budget")
    st = iterative_kmq(recs, labs, b, tiny_lm("llama", seed=0), seed=0,
                       train_kwargs=dict(max_steps=3, batch_size=4, learning_rate=1e-3), **kw)
    _same_run(st, BASE["kmq"][case])
    assert all("train_seconds" in h and h["train_records"] > 0 for h in st.history[1:])


def test_kmq_resume_after_kill(tmp_path):
    "Killed after one refinement round (no training: a fixed model), resumed from disk: the uninterrupted result."
    from datacurate.drivers import run_driver
    from datacurate.models import tiny_lm
    from datacurate_kmq.iterative import KMQState
    recs, labs = kmq_small()
    params = dict(labels=labs, rounds=4, reward=stub_reward, max_new_tokens=3, quality=np.arange(30) % 7 / 3.0)
    lm = tiny_lm(seed=0)
    full = run_driver(KMQState.start(recs, 16, params, seed=3), lm)
    part = run_driver(KMQState.start(recs, 16, params, seed=3), lm, path=tmp_path / "run", stop_after=1)
    assert part.round == 2 and not part.done
    loaded = KMQState.load(tmp_path / "run", recs, reward=stub_reward)
    assert loaded.round == 2 and loaded.quality is not None
    resumed = run_driver(loaded, lm, path=tmp_path / "run")
    assert resumed.selected.tolist() == full.selected.tolist()
    assert np.allclose(np.vstack(resumed.weights), np.vstack(full.weights))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["round_002", "round_003", "round_004"]
    again = KMQState.load(tmp_path / "run", recs)
    assert again.done and again.options["reward"] is None  # a callable reward is not saved: pass it to load again


def test_kmq_in_a_trainer(tmp_path):
    "The generic DriverCallback drives kMQ too: round r trains on the picks so far, steps with the weights of that moment."
    from transformers import Trainer, TrainingArguments
    from datacurate.models import tiny_lm
    from datacurate.training import DriverCallback
    from datacurate_kmq.iterative import KMQState
    recs, labs = kmq_small()
    lm = tiny_lm(seed=0)
    d = KMQState.start(recs, 12, dict(labels=labs, rounds=3, reward=stub_reward, max_new_tokens=3, from_base=False))
    cb = DriverCallback(d, lm.tokenizer, size=4, path=tmp_path / "run")
    args = TrainingArguments(output_dir=str(tmp_path / "hf"), num_train_epochs=3, per_device_train_batch_size=2,
                             learning_rate=1e-3, save_strategy="no", report_to="none", disable_tqdm=True,
                             remove_unused_columns=False, dataloader_num_workers=0, use_cpu=True)
    Trainer(model=lm.model, args=args, train_dataset=cb.dataset, data_collator=cb.collator, callbacks=[cb]).train()
    assert d.done and len(d.selection) == 12
    assert [len(s) for s in cb.subsets] == [4, 4, 4]  # from_base=False: each epoch trains on the newest round's picks
    assert [s.tolist() for s in cb.subsets] == [d.selected[d.pick_round == r].tolist() for r in range(3)]
    assert KMQState.load(tmp_path / "run", recs).round == 3
