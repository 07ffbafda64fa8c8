"""Loss passes go through the feature cache: a second call runs no forward pass, and a run killed mid-pass (SIGKILL)
resumes from what it stored and gives the same numbers as an uncached run."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from datacurate.cache import FeatureCache
from datacurate.losses import answer_views, cached_view_losses, ifd_scores, view_losses
from datacurate.models import tiny_lm

SCRIPT = textwrap.dedent("""
    import sys, numpy as np, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from test_loss_cache import records
    from datacurate.losses import answer_views, cached_view_losses
    from datacurate.models import tiny_lm
    lm = tiny_lm()
    recs = records({n})
    full, _ = answer_views(recs, lm, None, 256, None)
    cached_view_losses(recs, lm, full, "full", {{"spec": "kill-test"}}, cache={root!r}, max_tokens_per_batch=64,
                       flush_secs=0.0)
""")


def records(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    words = "the a sea sky blue fox dog poem write explain why list apple code return".split()
    say = lambda k: " ".join(rng.choice(words, k))
    return [{"id": f"r{i}", "messages": [{"role": "user", "content": say(int(rng.integers(2, 12)))},
                                         {"role": "assistant", "content": say(int(rng.integers(3, 40)))}]}
            for i in range(n)]


def test_second_ifd_call_runs_no_forward_pass(tmp_path):
    lm, recs = tiny_lm(), records(12)
    a = ifd_scores(recs, lm, cache=str(tmp_path))
    b = ifd_scores(recs, lm, cache=str(tmp_path))
    assert a.attrs["receipt"]["cache"]["full"]["computed"] == 12
    assert b.attrs["receipt"]["cache"]["full"]["computed"] == 0 and b.attrs["receipt"]["cache"]["direct"]["computed"] == 0
    np.testing.assert_array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    ref = ifd_scores(recs, lm, cache=False)  # uncached: the same values
    np.testing.assert_allclose(a["score"], ref["score"], rtol=1e-6, equal_nan=True)


def test_killed_loss_pass_resumes_with_the_same_numbers(tmp_path):
    n, root = 400, str(tmp_path / "cache")
    code = SCRIPT.format(tests=os.path.dirname(__file__), n=n, root=root)
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        t0 = time.time()
        while time.time() - t0 < 300:
            spaces = FeatureCache(root).namespaces() if os.path.isdir(root) else []
            if spaces and len(spaces[0]) >= 20: break
            if proc.poll() is not None: break
            time.sleep(0.05)
    finally:
        if proc.poll() is None: os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    lm, recs = tiny_lm(), records(n)
    full, _ = answer_views(recs, lm, None, 256, None)
    got = cached_view_losses(recs, lm, full, "full", {"spec": "kill-test"}, cache=root, max_tokens_per_batch=64)
    assert got["stats"]["from_cache"] > 0, "nothing was stored before the kill"
    ref = view_losses(lm, full, "full", 64)
    for k in ("n_tokens", "turn_offsets", "turn_n_tokens"): np.testing.assert_array_equal(got[k], ref[k])
    np.testing.assert_allclose(got["loss_sum"], ref["loss_sum"], rtol=1e-6)
    again = cached_view_losses(recs, lm, full, "full", {"spec": "kill-test"}, cache=root)
    assert again["stats"]["computed"] == 0
