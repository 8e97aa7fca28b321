#!/usr/bin/env bash
# The short device check (budget: 4 minutes on a lent H100/H200, start-up excluded): `python -m lsgzoo.bench.smoke`
# — flex vs eager fp32 forward + backward for every selector, one bf16 16,384-token encoder fwd+bwd LSG vs
# BART-sdpa, and a 50-step training run on variable lengths (compile count/time, fallbacks, tokens/s, peak
# memory) — into OUT_DIR/smoke.json. Run it before benchmarks/gpu.sh.
# Usage, from the repository root:  benchmarks/gpu_smoke.sh OUT_DIR [--device cpu --tiny]
# Uses $PYTHON (default python3). On CPU with --tiny the flex kernel runs eagerly (LSGZOO_FLEX_COMPILE=0,
# unless set): the machinery is checked in CI time; compiled CPU flex is tests/test_flex_buckets.py's job.
set -euo pipefail
out=${1:?usage: benchmarks/gpu_smoke.sh OUT_DIR [--device cpu --tiny]}
shift
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 WANDB_SILENT=true
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-${TMPDIR:-/tmp}/lsgzoo-inductor-cache}
case " $* " in *" --device cpu "*) export LSGZOO_FLEX_COMPILE=${LSGZOO_FLEX_COMPILE:-0} ;; esac
"$py" -m lsgzoo.bench.smoke "$out" "$@" 2>&1 | tee "$out/smoke.log"
