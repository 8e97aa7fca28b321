#!/usr/bin/env bash
# One-shot GPU benchmark (about 5-8 minutes on one H100/H200): the `gpu` matrix of
# `python -m lsgzoo.bench` (LSG norm 128/128 f2 with every backend, LSG none, BART-sdpa,
# LED-512, BigBird-Pegasus) at 4096 and 16384 tokens, fp32 then bf16, each cell in a fresh
# process, 3 timed passes per process. The original LSG is not run (it needs its own venv).
#
# Usage, from the repository root:  benchmarks/gpu.sh OUT_DIR
# Uses $PYTHON (default python3; it needs torch with CUDA, transformers 5 and matplotlib).
# Writes OUT_DIR/cuda-fp32.json, OUT_DIR/cuda-bf16.json, their -time.png/-memory.png plots,
# and OUT_DIR/gpu.log (the printed tables).
set -euo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
"$py" -c "import torch, transformers; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0))" | tee "$out/gpu.log"
for dtype in fp32 bf16; do
  "$py" -m lsgzoo.bench --matrix gpu --device cuda --dtype "$dtype" --repeats 1 --iterations 3 \
    --timeout 240 --out "$out" --name "cuda-$dtype" 2>&1 | tee -a "$out/gpu.log"
done
