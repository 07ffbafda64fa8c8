"""Rate every demo-pool record with the packaged SmolLM2-135M judge (AlpaGasus rubric, expected rating from one
forward pass) and write the kMQ tutorial's quality column, `nbs/plugins/kmq/demo_judge.parquet`.

    .venv/bin/python scripts/kmq_demo_judge.py        # 917 s measured on the 2-core CPU

The tutorial reads the file instead of re-rating 1.4k records on every docs build, checks that its ids are the
demo pool's, and re-rates a sample live to show the file holds what the judge gives.
"""
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datacurate.demo import build_demo_pool
from datacurate.models import load_model
from datacurate.pool import load_pool
from datacurate_judge.plugin import judge_scores

ROOT = Path(__file__).resolve().parents[1]
MAX_LENGTH = 256  # prompt tokens at most (a longer prompt keeps its end: the answer and the rating request)

if __name__ == "__main__":
    pool = load_pool(build_demo_pool(Path(tempfile.mkdtemp()) / "pool.jsonl"))
    lm = load_model("smollm2-135m", device="cpu")
    t0 = time.perf_counter()
    out = judge_scores(pool.dataset.to_list(), lm, "alpagasus", max_length=MAX_LENGTH, cache=True)
    secs = time.perf_counter() - t0
    tbl = pa.table({"id": pool.dataset["id"], "judge_score": out["score"].to_numpy(), "eligible": out["eligible"].to_numpy()})
    meta = {b"judge": b"smollm2-135m alpagasus probs", b"max_length": str(MAX_LENGTH).encode(), b"seconds": f"{secs:.1f}".encode()}
    dest = ROOT / "nbs" / "plugins" / "kmq" / "demo_judge.parquet"
    pq.write_table(tbl.replace_schema_metadata(meta), dest)
    print(f"{len(pool)} records rated in {secs:.1f} s -> {dest}")
