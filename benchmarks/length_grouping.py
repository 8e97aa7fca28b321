"""Padding and training throughput on ACLSum with and without `data.group_by_length`.

Padding fraction: one epoch of the train split's batches as `TextDataModule` forms them (block multiple),
at each `--lengths` truncation. Throughput: a short tiny-model run per setting at `--train-length`
(summary.json's train_tokens_per_s: real tokens per second of training). Writes one JSON.

    PYTHONPATH=src python benchmarks/length_grouping.py OUT.json [--lengths 4096 16384] [--train-length 2048]
        [--steps 20] [--repeats 1]

Throughput on a shared machine drifts (±30 %): --repeats alternates the settings so both see the same drift,
and every run's figures are kept.
"""

import argparse
import json
import platform
import tempfile
from pathlib import Path

import torch

from lsgzoo.data.datamodule import TextDataModule, padding_fraction
from lsgzoo.training.config import compose_config
from lsgzoo.training.rundir import read_summary
from lsgzoo.training.run import run_training


def epoch_padding(tokenizer, raw, length: int, batch_size: int, block: int, grouped: bool) -> float:
    data = TextDataModule(None, tokenizer, batch_size=batch_size, max_source_length=length, pad_to_multiple_of=block,
                          datasets=raw, group_by_length=grouped)
    data.setup()
    order = list(data.train_dataloader().sampler)
    lengths = data.source_lengths("train")
    return padding_fraction(lengths, [order[i:i + batch_size] for i in range(0, len(order), batch_size)], block)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--train-length", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per setting, in the order F T T F F T ... so drifting load hits both alike")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"device": platform.processor() or platform.machine(), "threads": 1, "batch_size": args.batch_size,
               "block_size": args.block, "padding": {}, "training": {}}
    common = ["data=aclsum", f"data.batch_size={args.batch_size}", "model.tokenizer.vocab_size=1000",
              f"attention.block_size={args.block}", f"attention.sparse_block_size={args.block}",
              f"trainer.max_steps={args.steps}", f"trainer.val_check_interval={args.steps}",
              "trainer.limit_val_batches=1", "data.eval_batch_size=1", "data.generation.max_new_tokens=4",
              "test_after_training=false", "logger=csv", "num_threads=1", "trainer.enable_progress_bar=false"]
    order = [grouped for repeat in range(args.repeats) for grouped in ((False, True) if repeat % 2 == 0
                                                                       else (True, False))]
    with tempfile.TemporaryDirectory() as tmp:
        for run, grouped in enumerate(order):
            overrides = common + [f"data.max_source_length={args.train_length}", f"data.group_by_length={grouped}"]
            run_dir = Path(tmp) / f"run-{run}-grouped-{grouped}"
            run_training(compose_config(overrides), run_dir, overrides)
            summary = read_summary(run_dir)
            results["training"].setdefault(f"group_by_length={grouped}", []).append({
                key: summary[key] for key in ("train_tokens_per_s", "train_time_s", "train_batches", "global_step")})
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(run_dir / "tokenizer"))
    from lsgzoo.data.sources import AclSumSource

    raw = AclSumSource().load()
    for length in args.lengths:
        results["padding"][str(length)] = {
            f"group_by_length={grouped}": epoch_padding(tokenizer, raw, length, args.batch_size, args.block, grouped)
            for grouped in (False, True)}
    results["config"] = {"train_length": args.train_length, "steps": args.steps, "repeats": args.repeats,
                         "order": [f"group_by_length={grouped}" for grouped in order], "model": "conf/model/tiny.yaml"}
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
