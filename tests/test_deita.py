"""deita plugin: evol score by hand (per turn, full logits), batched vs batch size 1, the filter against the rule written out."""
import numpy as np
import pytest
import torch

from datacurate.errors import ParameterError
from datacurate.models import tiny_lm
from datacurate_dedup.plugin import unit_rows
from datacurate_deita.plugin import COMPLEXITY_PROMPT, QUALITY_PROMPT, SCALE, VICUNA, deita_scores, diversity_filter, turn_pairs


def recs():
    return [{"id": "a", "messages": [{"role": "user", "content": "Explain why the sky is blue."},
                                     {"role": "assistant", "content": "Rayleigh scattering."}]},
            {"id": "b", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2 + 2?"},
                                     {"role": "assistant", "content": "4"}, {"role": "user", "content": "times 10?"},
                                     {"role": "assistant", "content": "40"}]}]


def expected(lm, prompt, template=None):
    tok = lm.tokenizer
    if template is None:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    else: text = VICUNA.preamble + VICUNA.user.format(content=prompt) + VICUNA.assistant_header
    ids = tok(text, add_special_tokens=False)["input_ids"]
    rt = [tok.encode(str(k), add_special_tokens=False)[0] for k in SCALE]
    with torch.no_grad(): z = lm.model(input_ids=torch.tensor([ids])).logits[0, -1, rt].float()
    return float((torch.softmax(z, -1).numpy() * np.arange(1, 7)).sum())


@pytest.mark.parametrize("template", [None, "vicuna"])
def test_evol_score_by_hand(template):
    lm = tiny_lm(seed=5)
    t = deita_scores(recs(), lm, template=template)
    one = deita_scores(recs(), lm, template=template, max_batch_size=1)
    np.testing.assert_allclose(t["score"], one["score"], rtol=1e-4)
    for i, r in enumerate(recs()):
        qs, rs, _ = turn_pairs([r])
        c = [expected(lm, COMPLEXITY_PROMPT.replace("{instruction}", q), template) for q in qs]
        q = [expected(lm, QUALITY_PROMPT.replace("{instruction}", a).replace("{response}", b), template) for a, b in zip(qs, rs)]
        np.testing.assert_allclose([t["score"][i], t["complexity"][i], t["quality"][i]],
                                   [np.dot(c, q), np.mean(c), np.mean(q)], rtol=1e-4)
    assert t["turns"].tolist() == [1, 2]


def test_turn_pairs_take_the_preceding_user_turn():
    qs, rs, rec = turn_pairs(recs())
    assert qs == ["Explain why the sky is blue.", "2 + 2?", "times 10?"] and rs == ["Rayleigh scattering.", "4", "40"]
    assert rec.tolist() == [0, 1, 1]


def reference(values, X, budget, threshold, eligible):
    U = unit_rows(X); chosen = []
    for i in np.argsort(-np.asarray(values), kind="stable"):
        if not eligible[i]: continue
        if len(chosen) == budget: break
        if all(U[i] @ U[j] <= threshold for j in chosen): chosen.append(int(i))
    return chosen


def test_filter_against_reference_with_memmap(tmp_path):
    gen = np.random.default_rng(1)
    for trial in range(8):
        X = (np.repeat(gen.normal(size=(30, 12)), 5, 0) + 0.4 * gen.normal(size=(150, 12))).astype(np.float32)
        path = tmp_path / f"v{trial}.npy"; np.save(path, X); M = np.load(path, mmap_mode="r")
        v = gen.random(150); elig = gen.random(150) > 0.1
        b = int(gen.integers(1, 80))
        sel = diversity_filter(v, M, b, 0.85, np.random.default_rng(0), elig, block=int(gen.integers(1, 50)))
        assert sel.indices.tolist() == reference(v, X, b, 0.85, elig)
        assert (sel.info["max_cosine_to_chosen"] <= 0.85 + 1e-6).all()
        if len(sel) < b: assert "diversity filter" in sel.note


def test_filter_errors():
    with pytest.raises(ParameterError, match=r"vectors must be \(4, dim\)"):
        diversity_filter(np.ones(4), np.ones((3, 2), np.float32), 2)
