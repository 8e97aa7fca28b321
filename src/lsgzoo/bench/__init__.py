"""Benchmarks: the LSG encoder (every selector × backend) against BART-sdpa, LED, BigBird-Pegasus
and the original LSG implementation, each configuration in a fresh process.

Run `python -m lsgzoo.bench --help`. Modules: `matrix` (what is measured), `worker`
(one measurement in a fresh process), `flops` (analytic FLOP counts), `run`
(orchestration, interleaving, medians), `report` (table, JSON, plots).
"""
