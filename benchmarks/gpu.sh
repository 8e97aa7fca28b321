#!/usr/bin/env bash
# The GPU benchmark for a lent H100/H200, second after benchmarks/gpu_smoke.sh; it fits one 10-minute command,
# compile time included: the `gpu` matrix of `python -m lsgzoo.bench` — LSG norm and none 128/128 f2 with
# `auto` (= compiled `flex` on CUDA), LSG norm `fused` (the assembled-SDPA + recompute path), BART-sdpa, LED-512
# and BigBird-Pegasus — at 4096, 16384 and 65536 tokens, forward and forward+backward, bf16 first (with
# generate() latency and one Lightning training step at 16384 tokens), then fp32; each cell in a fresh process
# (warm-up at the timed shape, 3 timed passes), the GEMM rate measured in the same run. Each dtype has a
# wall-clock budget (BF16_BUDGET_S, default 330 s; FP32_BUDGET_S, default 210 s): a cell that would start past
# it is skipped and listed as such in the JSON, which is always written. The original LSG is not run.
#
# Usage, from the repository root:  benchmarks/gpu.sh OUT_DIR [extra lsgzoo.bench flags]
# Uses $PYTHON (default python3; it needs torch with CUDA, transformers 5, matplotlib, and
# lightning for the training-step row). Writes OUT_DIR/cuda-bf16.json, OUT_DIR/cuda-fp32.json,
# their -time.png/-memory.png plots, and OUT_DIR/gpu.log (the printed tables).
# Check it on CPU first:  benchmarks/gpu.sh /tmp/gpu-check --device cpu --tiny --lengths 256 512
set -euo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR [extra lsgzoo.bench flags]}
shift
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# compiled FlexAttention kernels are cached on disk, so later processes of the same shape reuse them
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-${TMPDIR:-/tmp}/lsgzoo-inductor-cache}
"$py" -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')" | tee "$out/gpu.log"
device=cuda
case " $* " in *" --device cpu "*) device=cpu ;; esac
for dtype in bf16 fp32; do
  extras=(--budget "${BF16_BUDGET_S:-330}")
  [ "$dtype" = fp32 ] && extras=(--no-extras --budget "${FP32_BUDGET_S:-210}")
  "$py" -m lsgzoo.bench --matrix gpu --device "$device" --dtype "$dtype" --repeats 1 --iterations 3 \
    --timeout 240 --out "$out" --name "$device-$dtype" "${extras[@]}" "$@" 2>&1 | tee -a "$out/gpu.log"
done
