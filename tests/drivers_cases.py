"""Fixed inputs shared by tests/test_drivers.py and tests/_drivers_baseline.py (the recorder of the reference values)."""
import numpy as np


def no_train(model, tokenizer, records, **kw):
    "A trainer that does not change the model."
    return model


def stub_reward(prompts, answers):
    "Reward = answer length in characters / 100."
    return np.array([len(a) / 100 for a in answers], dtype=np.float64)


def kmq_pool():
    "120 toy records, 8-d vectors in 6 obvious clusters, a random quality (03_plugin's example)."
    recs = [{"id": f"r{i}", "source": "toy", "messages": [{"role": "user", "content": f"q{i} " * (1 + i % 5)},
                                                          {"role": "assistant", "content": f"a{i}"}]} for i in range(120)]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 8)).astype(np.float32) + np.repeat(np.eye(8, dtype=np.float32)[:6] * 6, 20, axis=0)
    return recs, X, rng.normal(size=120)


def kmq_small():
    "30 records in three clusters (arithmetic, colours, greetings): 02_iterative's example."
    recs, labs = [], []
    for i in range(10):
        recs.append({"messages": [{"role": "user", "content": f"What is {i} + {i}?"}, {"role": "assistant", "content": f"{2 * i}"}]}); labs.append(0)
        recs.append({"messages": [{"role": "user", "content": f"Name colour {i}."}, {"role": "assistant", "content": "blue " * (5 + i)}]}); labs.append(1)
        recs.append({"messages": [{"role": "user", "content": f"Say hello {i}."}, {"role": "assistant", "content": "hello there"}]}); labs.append(2)
    return recs, np.array(labs)


def iterit_pool():
    "40 toy records (02_trainer's example)."
    words = "apple banana cherry river mountain ocean forest desert valley island".split()
    return [{"id": f"r{i}", "source": "toy", "messages": [
        {"role": "user", "content": f"Tell me about {words[i % 10]} number {i}."},
        {"role": "assistant", "content": f"The {words[i % 10]} and the {words[(3 * i) % 10]} are {words[(7 * i) % 10]}."}]}
        for i in range(40)]
