"""Training: Lightning modules, metrics, run orchestration and run-dir summaries.

`python -m lsgzoo.train` (Hydra) is the entry point; `run_training(cfg)` is the same job
callable from Python. Importing this package loads nothing heavy.
"""
