#!/usr/bin/env bash
# The CPU runs whose results are committed under benchmarks/results/ (README "Performance").
# A whole --full matrix takes hours on the 2-core reference machine, so the committed numbers come
# from three bounded runs of the same entry point:
#   1. the default short matrix (1024 and 4096 tokens; LSG norm/none, BART-sdpa, LED-256, the original
#      and the bridge row; 3 interleaved repeats; generate() latency and the Lightning training-step row);
#   2. 4096 tokens, every selector at 128/128 f2, norm f4, norm 32/32, every backend, and the peers
#      (BART-sdpa, LED-512, BigBird-Pegasus, the original), one repeat;
#   3. 16384 tokens: LSG norm fused, the original and BART-sdpa (fwd+bwd), LED-512 and BigBird forward
#      only, 2 interleaved repeats.
# Usage: benchmarks/cpu_committed.sh [PYTHON]   (from the repository root; ../venv-orig must exist)
set -euo pipefail
py=${1:-python}
export PYTHONPATH="$(pwd)/src${PYTHONPATH:+:$PYTHONPATH}"
out=benchmarks/results
$py -m lsgzoo.bench --out $out --name cpu-fp32-short
$py -m lsgzoo.bench --matrix full --lengths 4096 --repeats 1 --no-extras --out $out --name cpu-fp32-4096 \
  --exclude orig-env f4-sdpa f4-eager 32/32-f2-eager --only 128/128-f2-fused norm-128/128-f2 norm-128/128-f4-fused \
  norm-32/32 bart led-512 bigbird original
$py -m lsgzoo.bench --matrix full --lengths 16384 --repeats 2 --no-extras --out $out --name cpu-fp32-16384 \
  --fwd-only led bigbird --exclude orig-env --only norm-128/128-f2-fused original-norm bart-sdpa led-512 bigbird
# one table and time/memory-vs-length plots over the three runs (each row keeps its own run's ratios)
$py -m lsgzoo.bench.report $out/cpu-fp32-short.json $out/cpu-fp32-4096.json $out/cpu-fp32-16384.json \
  --name cpu-fp32-combined
