#!/usr/bin/env bash
# The CPU runs whose results are committed under benchmarks/results/ (see README "Performance").
# On the shared 2-core reference machine a whole --full matrix (about 3 h there) did not fit the
# session, so the committed numbers come from three bounded runs of the same entry point:
#   1. 4096 tokens: the LSG encoder (norm/none + every selector with `fused`, norm with `eager`,
#      norm factor 4), BART-sdpa, LED-256/512, BigBird-Pegasus, the original LSG and the bridge row;
#   2. 16384 tokens: LSG norm fused, the original, BART-sdpa (fwd+bwd); LED-512 and BigBird forward
#      only (the bridge row is measured at 4096 only).
# Usage: benchmarks/cpu_committed.sh [PYTHON]   (from the repository root; ../venv-orig must exist)
set -euo pipefail
py=${1:-python}
export PYTHONPATH="$(pwd)/src${PYTHONPATH:+:$PYTHONPATH}"
$py -m lsgzoo.bench --matrix full --lengths 4096 --repeats 1 --name cpu-fp32-4096 --only \
  norm-128/128-f2-fused norm-128/128-f2-eager none-128/128-f2-fused norm-128/128-f4-fused \
  pooling-128/128-f2-fused lsh-128/128-f2-fused stride-128/128-f2-fused bos_pooling-128/128-f2-fused \
  bos_pooling_masked-128/128-f2-fused norm-32/32-f2-fused bart led bigbird original
$py -m lsgzoo.bench --matrix full --lengths 16384 --repeats 1 --no-extras --name cpu-fp32-16384 \
  --fwd-only led bigbird --exclude orig-env --only norm-128/128-f2-fused original-norm bart-sdpa led-512 bigbird
# 3. a second, interleaved look at the 16384-token forward pair (LSG fused vs the original), 2 repeats
$py -m lsgzoo.bench --matrix full --lengths 16384 --repeats 2 --no-extras --name cpu-fp32-16384-fwd-pair \
  --fwd-only lsg original --only norm-128/128-f2-fused original-norm
# one table and time/memory-vs-length plots over the runs (each row keeps its own run's ratios)
$py -m lsgzoo.bench.report benchmarks/results/cpu-fp32-4096.json benchmarks/results/cpu-fp32-16384.json \
  benchmarks/results/cpu-fp32-16384-fwd-pair.json --name cpu-fp32-combined
