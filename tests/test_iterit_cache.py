"""IterIT's losses go through the feature cache (issue 17, item 1): the recorded IFD baselines are unchanged with the
cache on, a second scoring or re-scoring under the same weights runs no forward pass (counted with a forward hook on
the model, not read from the receipt), and weights changed in place are never answered from the cache."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from drivers_cases import iterit_pool

BASE = json.loads((Path(__file__).parent / "baselines" / "drivers_0b33b6c.json").read_text())["iterit"]


def _counted(lm):
    calls = []
    lm.model.register_forward_pre_hook(lambda mod, args: calls.append(1))
    return calls


def test_iterit_ifd_cached_equals_baseline_and_second_call_runs_no_forward(tmp_path):
    from datacurate.models import tiny_lm
    from datacurate.views import record_messages
    from datacurate_iterit.plugin import ifd_scores
    lm = tiny_lm(seed=0)
    calls = _counted(lm)
    msgs = record_messages(iterit_pool())
    a = ifd_scores(msgs, lm, system_prompt="You are a helpful assistant.", cache=str(tmp_path))
    assert len(calls) > 0
    n = len(calls)
    b = ifd_scores(msgs, lm, system_prompt="You are a helpful assistant.", cache=str(tmp_path))
    assert len(calls) == n, "the second scoring ran a forward pass"
    want = {c: np.asarray(BASE["ifd_sys"][c], np.float64).astype(np.float32) for c in ("loss_cond", "loss_direct", "ifd")}
    for s in (a, b):
        for c, v in want.items():  # to float32 precision: another CPU's kernels may differ in the last bit
            np.testing.assert_allclose(s[c].to_numpy(), v, rtol=1e-5, atol=1e-6, err_msg=c)


def test_refine_rescoring_uses_the_cache_and_sees_new_weights(tmp_path, monkeypatch):
    from datacurate.models import tiny_lm
    from datacurate_iterit.plugin import IterIT
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path / "home"))
    toy = iterit_pool()
    ifd = np.linspace(0.5, 0.9, 40, dtype=np.float32)
    lm = tiny_lm(seed=3)
    calls = _counted(lm)

    def run():
        d = IterIT.start(toy, 4, dict(system_prompt=None), scores=pd.DataFrame({"ifd": ifd}))
        d.step(lm)
        return d
    first = run()
    n = len(calls)
    assert n > 0
    second = run()  # the same weights, the same candidates: every loss from the cache
    assert len(calls) == n, "re-scoring under unchanged weights ran a forward pass"
    assert second.selection.indices.tolist() == first.selection.indices.tolist()
    np.testing.assert_array_equal(second.state.scores["ifd"].to_numpy(), first.state.scores["ifd"].to_numpy())
    uncached = IterIT.start(toy, 4, dict(system_prompt=None, cache=False), scores=pd.DataFrame({"ifd": ifd}))
    uncached.step(lm)
    np.testing.assert_array_equal(uncached.state.scores["ifd"].to_numpy(), first.state.scores["ifd"].to_numpy())
    with torch.no_grad():  # "training" in place, without telling the LoadedModel: the re-scoring must not be stale
        for prm in lm.model.parameters(): prm.mul_(1.5)
    third = run()
    assert len(calls) > n, "weights changed in place, yet the losses came from the cache"
    assert not np.array_equal(third.state.scores["ifd"].to_numpy(), first.state.scores["ifd"].to_numpy())
