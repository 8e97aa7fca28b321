"""Token-length distribution of ACLSum (paper body → abstract) under a locally trained tokenizer.

    python experiments/aclsum_lengths.py [--vocab-size 8192] [--out experiments/results/aclsum_lengths.json]

Trains the same byte-level BPE tokenizer a from-scratch `data=aclsum` run trains (on the train
split's bodies and abstracts), then reports per-split source/target token statistics.
"""

import argparse
import json
from pathlib import Path

from lsgzoo.data.datamodule import length_statistics
from lsgzoo.data.sources import AclSumSource
from lsgzoo.data.tokenization import train_tokenizer


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--max-length", type=int, default=4096, help="truncation length to report against")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/aclsum_lengths.json"))
    args = parser.parse_args(argv)
    data = AclSumSource(target="abstract").load()
    tokenizer = train_tokenizer(list(data["train"]["source"]) + list(data["train"]["target"]), "bpe", args.vocab_size)
    report = {"vocab_size": args.vocab_size, "max_length": args.max_length, "splits": {}}
    for split, dataset in data.items():
        sources = [len(ids) for ids in tokenizer(list(dataset["source"]))["input_ids"]]
        targets = [len(ids) for ids in tokenizer(list(dataset["target"]))["input_ids"]]
        report["splits"][split] = {"source_tokens": length_statistics(sources, args.max_length),
                                   "target_tokens": length_statistics(targets, 256)}
    print(f"{'split':<11}{'docs':>5}{'mean':>8}{'p50':>7}{'p90':>7}{'max':>7}{'> ' + str(args.max_length):>8}"
          f"{'abstract p50':>14}")
    for split, stats in report["splits"].items():
        s, t = stats["source_tokens"], stats["target_tokens"]
        print(f"{split:<11}{s['count']:>5}{s['mean']:>8.0f}{s['p50']:>7}{s['p90']:>7}{s['max']:>7}"
              f"{s['truncated_fraction']:>8.0%}{t['p50']:>14}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
