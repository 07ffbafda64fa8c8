"""judge plugin: expected rating vs full logits by hand, batched vs batch size 1, parsing, endpoint retries / rate / resume."""
import http.server
import json
import socketserver
import threading
import time

import numpy as np
import pytest
import torch

from datacurate.errors import ParameterError
from datacurate.models import tiny_lm
from datacurate_judge.plugin import (Endpoint, EndpointError, Rubric, as_rubric, endpoint_ratings, judge_prompts,
                                     judge_scores, parse_rating, rating_token_ids)


def recs(n=9):
    gen = np.random.default_rng(0)
    words = ["the", "fox", "2 + 2 = 4", "Paris", "def add(a, b):", "return a + b", "bonjour", "sea"]
    out = []
    for i in range(n):
        msgs = []
        for _ in range(1 + i % 2):
            msgs += [{"role": "user", "content": " ".join(gen.choice(words, int(gen.integers(1, 9))))},
                     {"role": "assistant", "content": " ".join(gen.choice(words, int(gen.integers(1, 30))))}]
        out.append({"id": f"r{i}", "messages": msgs})
    return out


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=3)


def by_hand(lm, prompt, scale, prefill="Score: "):
    tok = lm.tokenizer
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True) + prefill
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad(): z = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    rt = rating_token_ids(tok, scale, prefill)
    p = torch.softmax(z[rt], -1).numpy()
    return float((p * np.asarray(scale)).sum()), float(torch.softmax(z, -1)[rt].sum())


@pytest.mark.parametrize("rubric", ["alpagasus", "helpfulness"])
def test_expected_rating_by_hand_and_batch_size_one(lm, rubric):
    r = recs()
    t = judge_scores(r, lm, rubric, max_tokens_per_batch=4096)
    one = judge_scores(r, lm, rubric, max_batch_size=1)
    np.testing.assert_allclose(t["score"], one["score"], rtol=1e-4, atol=1e-5)
    rub = as_rubric(rubric)
    for i, p in enumerate(judge_prompts(r, rub)):
        s, m = by_hand(lm, p, rub.scale)
        np.testing.assert_allclose([t["score"][i], t["p_scale"][i]], [s, m], rtol=1e-4, atol=1e-5)
    assert t["eligible"].all() and (t["reason"] == "").all()


def test_multi_turn_prompt_uses_history():
    p = judge_prompts([{"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                                     {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]}], "alpagasus")[0]
    assert "User: q1\nAssistant: a1\nUser: q2" in p and "### Response:\na2" in p


def test_parse_and_errors(lm):
    assert parse_rating("5 stars", range(1, 6)) == 5 and np.isnan(parse_rating("", range(6)))
    with pytest.raises(ParameterError, match="slots"):
        Rubric("x", "rate {instruction}")
    with pytest.raises(ParameterError, match="not a single token"):
        judge_scores(recs(1), lm, Rubric("x", "{instruction} {response}", (10, 11)))
    with pytest.raises(ValueError, match=r"record 0 \(id 'b'\): messages\[0\]\.content"):
        judge_scores([{"id": "b", "messages": [{"role": "user", "content": None}]}], lm)


class Server:
    "A fake chat-completions server: `plan` is a list of status codes to answer first, then 200 with rating `k`."
    def __init__(self, plan=(), k=4, fail_after=None):
        self.calls, self.plan, self.k, self.fail_after = [], list(plan), k, fail_after
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append((time.monotonic(), body))
                ok = len([c for c in outer.calls]) - len(plan)
                if outer.plan:
                    code = outer.plan.pop(0); self.send_response(code); self.end_headers(); return
                if outer.fail_after is not None and ok > outer.fail_after:
                    self.send_response(503); self.end_headers(); return
                data = json.dumps({"choices": [{"message": {"content": f"Score: {outer.k}"}}]}).encode()
                self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/v1"

    def close(self): self.srv.shutdown(); self.srv.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DATACURATE_HOME", str(tmp_path))
    return tmp_path


def test_endpoint_retries_then_answers(home):
    s = Server(plan=[429, 503])
    try:
        out = endpoint_ratings(Endpoint(s.url, "m", backoff=0.01), ["p1"], "alpagasus")
        assert out["score"].tolist() == [4.0] and len(s.calls) == 3
        assert s.calls[-1][1]["temperature"] == 0 and s.calls[-1][1]["model"] == "m"
    finally: s.close()


def test_endpoint_client_error_is_not_retried(home):
    s = Server(plan=[400])
    try:
        with pytest.raises(EndpointError, match="HTTP 400"):
            endpoint_ratings(Endpoint(s.url, backoff=0.01), ["p1"], "alpagasus")
        assert len(s.calls) == 1
    finally: s.close()


def test_rate_limit(home):
    s = Server()
    try:
        endpoint_ratings(Endpoint(s.url, requests_per_second=20), [f"p{i}" for i in range(6)], "alpagasus", concurrency=3)
        t = sorted(c[0] for c in s.calls)
        assert t[-1] - t[0] >= 5 / 20 * 0.6  # sends are 1/20 s apart; arrival times jitter a little
    finally: s.close()


def test_resume_after_interruption(home):
    prompts = [f"p{i}" for i in range(6)]
    s = Server(fail_after=3)
    try:
        with pytest.raises(EndpointError):
            endpoint_ratings(Endpoint(s.url, "judge-m", max_retries=1, backoff=0.01), prompts, "alpagasus", concurrency=1)
    finally: s.close()
    files = list((home / "judge").glob("*.jsonl"))
    assert len(files) == 1 and len(files[0].read_text().splitlines()) == 3
    with open(files[0], "a") as f: f.write('{"prompt_sha": "cut sh')  # a line cut short by the interruption
    s2 = Server()
    try:
        out = endpoint_ratings(Endpoint(s2.url, "judge-m", backoff=0.01), prompts, "alpagasus")
        assert len(s2.calls) == 3 and out.attrs["counts"] == {"requests": 3, "resumed": 3}
        assert out["score"].tolist() == [4.0] * 6
        assert len([l for l in files[0].read_text().splitlines() if l.startswith('{"prompt_sha": "') and l.endswith("}")]) == 6
    finally: s2.close()
