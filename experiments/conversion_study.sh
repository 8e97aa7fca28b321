#!/usr/bin/env bash
# The conversion study (experiments/results/conversion/README.md): full-attention models trained once, then
# evaluated under every LSG setting, zero-shot and after a 100-step fine-tune, at the trained length (256) and 4x.
#   experiments/conversion_study.sh [STAGE ...]     stages: train zeroshot finetune finetune_long (default: all)
# Each stage is a set of `python -m lsgzoo.eval -m` sweeps under multirun/study/conversion/; a sweep that finished
# (its dir holds DONE) is skipped, and one that did not is run again from scratch, so the script can be rerun
# after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
ROOT=multirun/study/conversion
SELECTORS=norm,pooling,lsh,stride,block_stride,bos_pooling,bos_pooling_masked
TRAIN=$ROOT/train
# Training seeds whose full-attention model reached its task's ceiling (train stage; README: which did not).
LINKED_PAIRS=$TRAIN/linked_pairs/0,$TRAIN/linked_pairs/1,$TRAIN/linked_pairs/2
LINKED_PAIRS_FAR=$TRAIN/calib/3,$TRAIN/calib/4

sweep() {  # sweep DIR OVERRIDES...: one eval multirun, skipped when DIR already ran
  local dir=$1; shift
  if [[ -f $dir/DONE ]]; then echo "skip $dir"; return; fi
  rm -rf "$dir"
  echo "$(date +%T) $dir"
  "$PY" -m lsgzoo.eval -m "$@" hydra.sweep.dir="$dir" > "$dir.log" 2>&1 || { echo "FAILED $dir (see $dir.log)"; return 1; }
  touch "$dir/DONE"
}

grid() {  # grid DIR CKPTS [OVERRIDES...]: every selector x factor x block, `none` per block, and full attention
  local dir=$1 ckpts=$2; shift 2
  mkdir -p "$dir"
  sweep "$dir/lsg" ckpt="$ckpts" attention.sparsity_type=$SELECTORS,none attention.sparsity_factor=2,4,8 \
    attention.block_size=16,32 'attention.sparse_block_size=${attention.block_size}' "$@"
  sweep "$dir/full" ckpt="$ckpts" attention_mode=full "$@"
}

stage_train() {  # what the train dirs hold: majority and linked_pairs_far were the two ceiling candidates tried
  local common=(experiment=suite attention_mode=full trainer.max_steps=1200 trainer.val_check_interval=200
                checkpoint.every_n_train_steps=600)
  "$PY" -m lsgzoo.train -m "${common[@]}" suite_task=linked_pairs seed=0,1,2 hydra.sweep.dir=$TRAIN/linked_pairs
  "$PY" -m lsgzoo.train -m "${common[@]}" suite_task=majority,linked_pairs_far seed=0,1,2 hydra.sweep.dir=$TRAIN/calib
  "$PY" -m lsgzoo.train -m "${common[@]}" suite_task=linked_pairs_far seed=3,4 \
    hydra.sweep.dir=$TRAIN/linked_pairs_far_more
}

stage_zeroshot() {
  for length in 256 1024; do
    grid $ROOT/eval/zeroshot_$length/linked_pairs "$LINKED_PAIRS" data.max_source_length=$length
    grid $ROOT/eval/zeroshot_$length/linked_pairs_far "$LINKED_PAIRS_FAR" data.max_source_length=$length
  done
}

stage_finetune() {  # one fine-tune seed per linked_pairs checkpoint, two per linked_pairs_far checkpoint
  grid $ROOT/eval/finetune_256/linked_pairs "$LINKED_PAIRS" finetune.steps=100
  grid $ROOT/eval/finetune_256/linked_pairs_far "$LINKED_PAIRS_FAR" finetune.steps=100 seed=100,101
}

stage_finetune_long() {  # at 4x the trained length: block 16, factors 2 and 8, one fine-tune seed per checkpoint
  # (the grid above costs 4x more here)
  local dir
  for task in linked_pairs linked_pairs_far; do
    dir=$ROOT/eval/finetune_1024/$task; mkdir -p "$dir"
    local ckpts=$LINKED_PAIRS seeds=null
    [[ $task == linked_pairs_far ]] && ckpts=$LINKED_PAIRS_FAR seeds=100
    sweep "$dir/lsg" ckpt="$ckpts" seed=$seeds attention.sparsity_type=$SELECTORS,none attention.sparsity_factor=2,8 \
      attention.block_size=16 'attention.sparse_block_size=${attention.block_size}' finetune.steps=100 \
      data.max_source_length=1024
    sweep "$dir/full" ckpt="$ckpts" seed=$seeds attention_mode=full finetune.steps=100 data.max_source_length=1024
  done
}

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(zeroshot finetune finetune_long)
for stage in "${stages[@]}"; do "stage_$stage"; done
