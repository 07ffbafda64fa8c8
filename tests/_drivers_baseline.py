"""Record reference values of kMQ and IterIT on fixed inputs; run once on the code before the driver contract (commit 0b33b6c).

`python tests/_drivers_baseline.py OUT.json` wrote tests/baselines/drivers_0b33b6c.json, which tests/test_drivers.py and
tests/test_iterit.py compare the new code with. The inputs come from tests/drivers_cases.py. This script calls the old
API (`p.refine("kmq", ..., trainer=...)`, `IterIT(...).start(...)`), so it runs only on that commit."""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from drivers_cases import iterit_pool, kmq_pool, no_train, stub_reward  # noqa: E402


def kmq_values():
    from datacurate.models import tiny_lm
    from datacurate.pipeline import Pipeline
    from datacurate_kmq.iterative import iterative_kmq
    out = {}
    recs, X, quality = kmq_pool()
    p = Pipeline(recs, budget=20, seed=0, progress=False)
    p.cluster("kmeans", X, k=6, nredo=3)
    out["labels"] = p.context.clustering.labels.tolist()
    p.scores["quality"] = quality
    out["static"] = p.aggregate("kmq", quality="quality").indices.tolist()
    out["static_prop_t05"] = p.aggregate("kmq", quality="quality", allocation="proportional", temperature=0.5).indices.tolist()
    lm = tiny_lm()
    st = p.refine("kmq", budget=18, rounds=3, quality=quality)
    while not st.done:
        st = p.refine("kmq", state=st, model=lm, quality=quality, trainer=no_train, reward=stub_reward, max_new_tokens=3)
    out["stub"] = dict(selected=st.selected.tolist(), pick_round=st.pick_round.tolist(),
                       weights=np.vstack(st.weights).tolist(), gaps=[g.mean_gap.tolist() for g in st.gaps])
    # real training, tiny model, stub reward and loss reward (02_iterative's loop)
    from drivers_cases import kmq_small
    recs2, labs = kmq_small()
    for name, kw in dict(train=dict(reward=stub_reward, max_new_tokens=6, rounds=3, budget=12),
                         loss=dict(reward="loss", max_new_tokens=4, rounds=2, budget=9)).items():
        lm = tiny_lm("llama", seed=0)
        b = kw.pop("budget")
        st = iterative_kmq(recs2, labs, b, lm, seed=0, train_kwargs=dict(max_steps=3, batch_size=4, learning_rate=1e-3), **kw)
        out[name] = dict(selected=st.selected.tolist(), pick_round=st.pick_round.tolist(),
                         weights=np.vstack(st.weights).tolist(), gaps=[g.mean_gap.tolist() for g in st.gaps])
    return out


def iterit_values():
    from datacurate.models import tiny_lm
    from datacurate_iterit.callback import iterit_trainer
    from datacurate_iterit.plugin import IterIT, ifd_scores
    from datacurate.views import record_messages
    out = {}
    toy = iterit_pool()
    tiny = tiny_lm(seed=0)
    s = ifd_scores(record_messages(toy), tiny)  # default system prompt
    out["ifd_sys"] = {c: s[c].astype(np.float64).tolist() for c in ("loss_cond", "loss_direct", "ifd")}
    s = ifd_scores(record_messages(toy), tiny, system_prompt=None)
    out["ifd_nosys"] = {c: s[c].astype(np.float64).tolist() for c in ("loss_cond", "loss_direct", "ifd")}
    trainer, cb = iterit_trainer(tiny, None, toy, budget=4, epochs=3, learning_rate=1e-2, batch_size=2, system_prompt=None)
    trainer.train()
    out["trainer"] = dict(subsets=[x.tolist() for x in cb.subsets],
                          candidates=[h["candidates"].tolist() for h in cb.selector.history],
                          candidate_ifd=[np.asarray(h["candidate_ifd"], np.float64).tolist() for h in cb.selector.history],
                          picks=[h["selection"].indices.tolist() for h in cb.selector.history],
                          scores=[h["selection"].info["score"].astype(np.float64).tolist() for h in cb.selector.history])
    # greedy from precomputed scores, then two steps with a fixed tiny model
    rng = np.random.default_rng(0)
    ifd = rng.uniform(0.2, 1.2, len(toy)).astype(np.float32)
    d = IterIT(toy, 6, system_prompt=None, gamma=0.1)
    sel0 = d.start(scores=pd.DataFrame({"ifd": ifd}))
    sels = [sel0.indices.tolist()]
    m = tiny_lm(seed=1)
    for _ in range(2): sels.append(d.step(m).indices.tolist())
    out["precomputed"] = dict(picks=sels, candidates=[h["candidates"].tolist() for h in d.history])
    return out


if __name__ == "__main__":
    res = dict(kmq=kmq_values(), iterit=iterit_values())
    Path(sys.argv[1]).write_text(json.dumps(res))
    print("wrote", sys.argv[1])
