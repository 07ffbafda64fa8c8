"""IterIT as a driver: the same IFD, epoch picks and greedy values as the code before the driver contract (recorded in
tests/baselines/drivers_0b33b6c.json at commit 0b33b6c), save/load and resume, the refine hook, the generic callback."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drivers_cases import iterit_pool

BASE = json.loads((Path(__file__).parent / "baselines" / "drivers_0b33b6c.json").read_text())["iterit"]


def _f32(x): return np.asarray(x, dtype=np.float64).astype(np.float32)


# float values to float32 precision: the baselines were recorded on one CPU, and another CPU's kernels may differ in the last bit
def _same(got, want, err_msg=''): np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=err_msg)


@pytest.mark.parametrize("case,system_prompt", [("ifd_sys", "You are a helpful assistant."), ("ifd_nosys", None)])
def test_ifd_same(case, system_prompt):
    from datacurate.models import tiny_lm
    from datacurate.views import record_messages
    from datacurate_iterit.plugin import ifd_scores
    s = ifd_scores(record_messages(iterit_pool()), tiny_lm(seed=0), system_prompt=system_prompt)
    for c in ("loss_cond", "loss_direct", "ifd"):
        _same(s[c].to_numpy(), _f32(BASE[case][c]), err_msg=c)


def test_trainer_epochs_same():
    "Three epochs of an HF Trainer with the generic DriverCallback: the same subsets, candidates, IFDs and scores."
    from datacurate.models import tiny_lm
    from datacurate_iterit.callback import iterit_trainer
    trainer, cb = iterit_trainer(tiny_lm(seed=0), None, iterit_pool(), budget=4, epochs=3, learning_rate=1e-2,
                                 batch_size=2, system_prompt=None)
    trainer.train()
    ref, h = BASE["trainer"], cb.driver.history
    assert [s.tolist() for s in cb.subsets] == ref["subsets"]
    assert [x["candidates"].tolist() for x in h] == ref["candidates"]
    for got, want in zip([x["candidate_ifd"] for x in h], ref["candidate_ifd"]): _same(got, _f32(want))
    assert [x["selection"].indices.tolist() for x in h] == ref["picks"]
    for got, want in zip([x["selection"].info["score"].to_numpy() for x in h], ref["scores"]):
        _same(got, _f32(want))
    assert cb.driver.done and cb.driver.selection.indices.tolist() == ref["picks"][-1]


def test_precomputed_then_steps_same(tmp_path):
    "Epoch 0 from precomputed IFDs, two steps with a fixed tiny model; a save/load between steps changes nothing."
    from datacurate.models import tiny_lm
    from datacurate_iterit.plugin import IterIT
    toy = iterit_pool()
    ifd = np.random.default_rng(0).uniform(0.2, 1.2, len(toy)).astype(np.float32)
    m = tiny_lm(seed=1)
    d = IterIT.start(toy, 6, dict(system_prompt=None, gamma=0.1), scores=pd.DataFrame({"ifd": ifd}))
    picks = [d.selection.indices.tolist()]
    d.step(m); d.save(tmp_path)
    d = IterIT.load(tmp_path, toy)  # as if killed after epoch 1
    picks.append(d.selection.indices.tolist())
    picks.append(d.step(m).indices.tolist())
    assert picks == BASE["precomputed"]["picks"]
    assert [h["candidates"].tolist() for h in d.history] == BASE["precomputed"]["candidates"]
    assert d.done and d.round == 3


def test_refine_hook_and_resume(tmp_path):
    "p.refine starts (no model), steps with the model, saves every epoch in run_dir; a new start there resumes."
    from datacurate.drivers import Driver, run_driver
    from datacurate.models import tiny_lm
    from datacurate.pipeline import Pipeline
    from datacurate_iterit.plugin import IterIT
    toy = iterit_pool()
    ifd = np.linspace(0.5, 0.9, 40, dtype=np.float32)
    m = tiny_lm(seed=3)
    p = Pipeline(toy, budget=4, seed=0, progress=False)
    d = p.refine("iterit", budget=4, scores=ifd, system_prompt=None, run_dir=str(tmp_path / "run"))
    assert isinstance(d, Driver) and d.round == 1
    d = p.refine("iterit", state=d, model=m)
    p2 = Pipeline(toy, budget=4, seed=0, progress=False)  # a new session: the start resumes from run_dir
    again = p2.refine("iterit", budget=4, scores=ifd, system_prompt=None, run_dir=str(tmp_path / "run"))
    assert again.round == 2 and again.selection.indices.tolist() == d.selection.indices.tolist()
    last = p2.refine("iterit", model=m)  # the pipeline keeps its driver: no state= needed
    assert p2.selection.indices.tolist() == last.selection.indices.tolist()
    ref = IterIT.start(toy, 4, dict(system_prompt=None), scores=ifd)
    run_driver(ref, m)  # the same three epochs without the pipeline (no training: a fixed model)
    assert last.selection.indices.tolist() == ref.selection.indices.tolist() and last.done
    with pytest.raises(ValueError, match="needs budget"):
        Pipeline(toy, budget=4).refine("iterit")


def test_lazy_start_and_fill():
    "Started without scores, the first step scores the pool with the model; a short epoch is filled up to the budget."
    from datacurate.models import tiny_lm
    from datacurate_iterit.plugin import IterIT
    toy = iterit_pool()
    d = IterIT.start(toy, 4, dict(system_prompt=None, max_ifd=0.0))  # nothing is eligible
    assert len(d.selection) == 0 and not d.done and d.round == 0
    d.step(tiny_lm(seed=0))
    assert len(d.selection) == 0 and len(d.train_rows()) == 4 and len(d.history[-1]["filled"]) == 4


def test_pipeline_eligibility_honoured():
    "Rows an earlier score step marks ineligible are never picked, in epoch 0 or later."
    from datacurate.models import tiny_lm
    from datacurate.pipeline import Pipeline
    from datacurate.plugins import register_plugin, unregister_plugin
    from datacurate.hookspecs import hookimpl
    toy = iterit_pool()

    class Block:
        @hookimpl
        def register_methods(self, register): register("block_even", stages=("score",))
        @hookimpl
        def score(self, method, pool, params, context):
            if method != "block_even": return None
            ok = np.arange(len(pool)) % 2 == 1
            return pd.DataFrame({"score": ok.astype(float), "eligible": ok, "reason": np.where(ok, "", "even row")})
    name = register_plugin(Block(), "block_even_test")
    try:
        p = Pipeline(toy, budget=4, seed=0, progress=False)
        p.score("block_even")
        d = p.refine("iterit", budget=4, scores=np.linspace(0.5, 0.9, 40, dtype=np.float32), system_prompt=None)
        d = p.refine("iterit", model=tiny_lm(seed=3))
        assert all(i % 2 == 1 for h in d.history for i in h["selection"].indices)
        assert all(i % 2 == 1 for h in d.history[1:] for i in h["candidates"])
    finally:
        unregister_plugin(name)
