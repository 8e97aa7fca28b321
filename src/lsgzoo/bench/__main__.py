"""`python -m lsgzoo.bench`: LSG vs BART-sdpa, LED, BigBird-Pegasus and the original LSG.

Heavy imports happen inside `main`, so `--help` is instant.
"""

import argparse
import sys
import time
from pathlib import Path

from lsgzoo.bench.matrix import LENGTHS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lsgzoo.bench",
        description="Encoder benchmark at BART-base dims (batch 1, random init): forward and forward+backward time, "
                    "peak memory, FLOPs and fraction of the measured GEMM rate, each configuration in a fresh "
                    "process, configurations interleaved across repeats; medians and same-run ratios. "
                    "Writes a table, JSON and PNG plots under --out.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", dest="matrix", action="store_const", const="full",
                      help="the full matrix: lengths 1024-16384, every selector x backend, all peers (long)")
    size.add_argument("--smoke", dest="matrix", action="store_const", const="smoke",
                      help="a quick check of the machinery: 2 short lengths, tiny model dims, 2 configurations")
    size.add_argument("--matrix", choices=list(LENGTHS),
                      help="pick a matrix by name (gpu: the one benchmarks/gpu.sh runs; cpu-flex: compiled flex "
                           "vs fused for CPU inference)")
    parser.set_defaults(matrix="short")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per cell (default 3, smoke 1)")
    parser.add_argument("--lengths", type=int, nargs="+", help="override the matrix' lengths")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny model dims: check a matrix' machinery quickly (e.g. --matrix gpu on CPU)")
    parser.add_argument("--iterations", type=int, default=1,
                        help="timed passes per process (the process' median is one sample; default 1)")
    parser.add_argument("--only", nargs="+", help="keep cases whose name contains one of these words")
    parser.add_argument("--exclude", nargs="+", default=[], help="drop cases whose name contains one of these words")
    parser.add_argument("--fwd-only", nargs="+", default=[],
                        help="cases whose name contains one of these words run forward only (time budget)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: torch's)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per measurement before giving up")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run, compile time included: cells that would start past it are "
                             "skipped and recorded as such (default: no limit)")
    parser.add_argument("--orig-python", help="python of the original-LSG venv (default ../venv-orig/bin/python)")
    parser.add_argument("--no-lightning", action="store_true", help="skip the Lightning training-step row")
    parser.add_argument("--no-extras", action="store_true", help="skip generate() latency and the Lightning row")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for JSON and plots")
    parser.add_argument("--name", help="file stem (default: <device>-<dtype>-<matrix>-<date>)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.matrix == "smoke" else 3
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from lsgzoo.bench.report import plot, table, write_json
    from lsgzoo.bench.run import run_benchmark

    result = run_benchmark(args)
    print(table(result))
    stem = args.name or f"{args.device}-{args.dtype}-{args.matrix}-{time.strftime('%Y%m%d-%H%M')}"
    path = write_json(result, args.out, stem)
    print(f"wrote {path}")
    if not args.no_plots:
        for png in plot(result, args.out, stem):
            print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
