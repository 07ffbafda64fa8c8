"""Pick the training data worth fine-tuning an LLM on: plugin-based, notebook-first data selection.

Modules:

- `datacurate.executors`: Where `compute_features` runs the records it has to compute: this process, a Ray Data actor pool, or torchrun-style local worker processes; every one runs the feature worker's bucket computation into the shared cache.
- `datacurate.worker`: One slice of the pool (a content-hash range), its missing cache keys computed and written as atomic cache shards: the same worker under a single process, `torchrun`, Slurm arrays and Ray."""

__version__ = "0.1.0"
