"""Demo: LSG attention with every registered selector on a long random input.

Prints, per selector, the keys each query sees (vs full attention) and the
forward time, next to full attention through SDPA; writes one pattern PNG per
selector. `python -m lsgzoo.demo --help` lists the knobs.

Timing protocol: every configuration (full attention and each selector) is built first, then
warmed up (`--warmup` calls each, in turn), then timed in `--repeats` interleaved rounds (each
round calls every configuration once), and the median per configuration is reported. A cold
first call (first allocations, caches) never counts, and machine noise spreads over all rows alike.
"""

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lsgzoo.attention import LSGAttention, LSGAttentionConfig
from lsgzoo.attention.backends import BACKEND_CHOICES, DEFAULT_BACKEND, resolve_backend
from lsgzoo.attention.pattern import attention_pattern, key_counts, plot_pattern
from lsgzoo.selectors import available_selectors, get_selector_class


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lsgzoo.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=4096, help="tokens in the long input (default 4096)")
    parser.add_argument("--heads", type=int, default=12, help="attention heads (default 12, BART-base)")
    parser.add_argument("--head-dim", type=int, default=64, help="per-head dimension (default 64)")
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--sparse-block-size", type=int, default=128)
    parser.add_argument("--sparsity-factor", type=int, default=2)
    parser.add_argument("--num-global-tokens", type=int, default=1)
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=DEFAULT_BACKEND,
                        help=f"LSG attention backend ({DEFAULT_BACKEND}: the fastest for the device)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forward passes per selector first (2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed forward passes per selector (median; 5)")
    parser.add_argument("--plot-length", type=int, default=256, help="length of the pattern plots")
    parser.add_argument("--plot-block-size", type=int, default=16, help="block size of the pattern plots")
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="where PNGs and JSON go")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


@dataclass
class Timing:
    """The timed calls of one configuration, in seconds, and their median."""

    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_configurations(calls: dict[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, Timing]:
    """Warm every call up `warmup` times, then time `repeats` interleaved rounds of all calls; name → Timing."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    timings = {name: Timing([]) for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            timings[name].seconds.append(time.perf_counter() - start)
    return timings


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds of `repeats` calls of `fn` after `warmup` untimed ones (one configuration)."""
    return time_configurations({"fn": fn}, warmup, repeats)["fn"].median


def _bound_attention(attention: LSGAttention, q, k, v) -> Callable[[], torch.Tensor]:
    """A no-argument call of `attention` on (q, k, v), to time."""
    return lambda: attention(q, k, v)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    g, t = args.num_global_tokens, args.length
    q, k, v = (torch.randn(1, args.heads, g + t, args.head_dim) for _ in range(3))
    print(f"LSG attention demo: batch 1, {t} tokens, {args.heads} heads × {args.head_dim}, "
          f"block {args.block_size}, sparse block {args.sparse_block_size}, factor {args.sparsity_factor}, "
          f"{g} global token(s), {torch.get_num_threads()} threads, "
          f"backend {args.backend} ({resolve_backend(args.backend, q, 0.0).name})")

    full = "full (sdpa)"
    configs = {name: LSGAttentionConfig(
        block_size=args.block_size, sparse_block_size=args.sparse_block_size, sparsity_factor=args.sparsity_factor,
        sparsity_type=name, num_global_tokens=g, num_heads=args.heads, lsg_backend=args.backend)
        for name in available_selectors()}
    calls = {full: lambda: F.scaled_dot_product_attention(q, k, v)}
    calls.update({name: _bound_attention(LSGAttention(cfg).eval(), q, k, v) for name, cfg in configs.items()})
    print(f"timing: {args.warmup} warm-up call(s) each, then the median of {args.repeats} interleaved rounds")
    with torch.inference_mode():
        timings = time_configurations(calls, args.warmup, args.repeats)
    full_seconds = timings[full].median
    rows = [{"selector": full, "keys_per_query": g + t, "seconds": full_seconds,
             "all_seconds": timings[full].seconds}]
    for name, cfg in tqdm(configs.items(), desc="patterns", unit="sel"):
        counts = key_counts(cfg, t, num_heads=args.heads).float()
        plot_cfg = LSGAttentionConfig(
            block_size=args.plot_block_size, sparse_block_size=args.plot_block_size,
            sparsity_factor=args.sparsity_factor, sparsity_type=name, num_global_tokens=g,
        )
        selector = get_selector_class(name)
        sample_keys = torch.randn(1, 4, args.plot_length, 8) if selector.data_dependent else None
        pattern = attention_pattern(plot_cfg, args.plot_length, num_heads=4, keys=sample_keys)
        png = plot_pattern(pattern, args.out / f"pattern_{name}.png",
                           title=f"{name}: bs={args.plot_block_size}, sf={args.sparsity_factor}, "
                                 f"t={args.plot_length}" + (" (random keys)" if sample_keys is not None else ""))
        rows.append({"selector": name, "keys_per_query": counts.mean().item(), "max_keys": counts.max().item(),
                     "seconds": timings[name].median, "all_seconds": timings[name].seconds, "plot": str(png)})

    print(f"\n{'selector':<20}{'keys/query':>12}{'of full':>9}{'forward s':>11}{'vs full':>9}")
    for row in rows:
        share = row["keys_per_query"] / (g + t)
        speed = full_seconds / row["seconds"]
        print(f"{row['selector']:<20}{row['keys_per_query']:>12.0f}{share:>9.1%}{row['seconds']:>11.3f}{speed:>8.2f}×")
    summary = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "threads": torch.get_num_threads(), "rows": rows}
    (args.out / "demo.json").write_text(json.dumps(summary, indent=2))
    print(f"\npattern plots and demo.json written to {args.out}/ "
          f"(full attention would see {g + t} keys per query: {math.ceil((g + t) / rows[1]['keys_per_query'])}× more)")


if __name__ == "__main__":
    main()
