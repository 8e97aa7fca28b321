"""Measure the Lightning training-step overhead at BART-base dims (issue 7's "framework adds little" row).

    python benchmarks/lightning_step.py [--length 4096] [--iterations 2] [--threads 2]

Runs `lsgzoo.bench.worker`'s lightning job in a fresh process and writes
benchmarks/results/cpu-fp32-lightning-step.json.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from lsgzoo.bench.matrix import dims
from lsgzoo.bench.worker import RESULT_PREFIX


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-fp32-lightning-step.json"))
    args = parser.parse_args()
    job = {"case": {"name": "lightning-train-step", "kind": "lightning", "params": {"length": args.length}},
           "length": args.length, "mode": "fwd", "iterations": args.iterations, "threads": args.threads,
           "device": "cpu", "dtype": "fp32", "dims": dims("full")}
    output = subprocess.run([sys.executable, "-m", "lsgzoo.bench.worker", json.dumps(job)], capture_output=True,
                            text=True, check=True).stdout
    result = json.loads(next(line for line in output.splitlines() if line.startswith(RESULT_PREFIX))
                        [len(RESULT_PREFIX):])
    result["job"] = job
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"Lightning step {result['seconds'][0]:.2f} s vs bare {result['bare_seconds_median']:.2f} s at "
          f"{args.length} tokens: overhead {100 * result['overhead']:+.1f} %, {result['tokens_per_second']:.0f} tokens/s")


if __name__ == "__main__":
    main()
