#!/usr/bin/env bash
# Copy a study's multirun into the repository without its heavy files (checkpoints, weights, tokenizers, W&B
# files), then write its report next to it:  experiments/package_study.sh MULTIRUN_DIR DEST [report args...]
#   experiments/package_study.sh multirun/study/suite experiments/results/suite --baseline sparsity_type=none
set -euo pipefail
src=$1 dest=$2
shift 2
mkdir -p "$dest"
tar -C "$src" --exclude=checkpoints --exclude=wandb --exclude=tokenizer --exclude='*.safetensors' \
  --exclude='*.ckpt' --exclude=./report -cf - . | tar -C "$dest" -xf -
python -m lsgzoo report "$dest" --out "$dest/report" "$@"
