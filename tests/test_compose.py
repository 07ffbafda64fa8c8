"""The README's three-line recipe, IFD quality x kMQ diversity on MiniLM embeddings, on a slice of the demo pool."""
import json

import numpy as np

from datacurate.demo import build_demo_pool
from datacurate.pipeline import Pipeline
from datacurate.pool import load_pool


def test_ifd_quality_kmq_diversity_on_minilm(tmp_path):
    pool = load_pool(build_demo_pool(tmp_path / "pool.jsonl"), sample=96, seed=0)
    p = Pipeline(pool, budget=16, seed=0, progress=False)
    p.score("ifd", max_length=256); p.score("embedding")
    p.cluster("kmeans", features="embedding", k=4)
    sel = p.aggregate("kmq", quality="ifd.score")
    assert len(sel) == 16
    assert p.scores["eligible"].to_numpy()[sel.indices].all()  # never a record IFD cannot score
    assert np.isfinite(p.scores["ifd.score"].to_numpy()[sel.indices]).all()
    man = json.loads((p.write(tmp_path / "out") / "manifest.json").read_text())
    ifd = next(s for s in man["steps"] if s["method"] == "ifd")
    assert ifd["params"]["ratio"] == "loss" and ifd["receipt"]["receipt"]["fingerprint"]  # defaults and the model recorded
    assert [s["name"] for s in man["steps"]] == ["ifd", "embedding", "kmeans", "kmq"]
    assert man["budget"]["resolved"] == 16
