"A toy third-party plugin: `answer_length` scores, `longest` keeps the longest answers."
import numpy as np
import pandas as pd

from datacurate.hookspecs import hookimpl
from datacurate.selection import Selection


@hookimpl
def register_methods(register):
    register("answer_length", stages=("score",), summary="characters in the assistant turns")
    register("longest", stages=("aggregate",), summary="the records with the highest `answer_length`")


@hookimpl
def score(method, pool):
    lengths = [sum(len(m["content"]) for m in r["messages"] if m["role"] == "assistant") for r in pool.dataset]
    return pd.DataFrame({"answer_length": lengths})


@hookimpl
def aggregate(method, scores, budget):
    order = np.argsort(-scores["answer_length.answer_length"].to_numpy(), kind="stable")
    return Selection(order[:budget], method=method)
