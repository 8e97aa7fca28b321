"""Print the benchmark table, write the JSON and draw time / memory vs length plots (log-log)."""

import json
from pathlib import Path

from lsgzoo.bench.targets import target_lines


def _cell(value, fmt):
    width = int(fmt.split(".")[0] or 0)
    return "-".rjust(width) if value is None else format(value, fmt)


def table(result: dict) -> str:
    """One line per implementation and length: fwd and fwd+bwd (train) side by side."""
    rows = {}
    for row in result["rows"]:
        rows.setdefault((row["length"], row["name"]), {})[row["mode"]] = row
    header = (f"{'length':>6} {'implementation':40} {'fwd s':>8} {'f+b s':>8} {'fwd MB':>7} {'f+b MB':>7} "
              f"{'%GEMM':>6} {'fwd×orig':>8} {'f+b×orig':>8} {'fwd×bart':>8} {'f+b×bart':>8} {'mem/bart':>8}")
    lines = [header, "-" * len(header)]
    for (length, name), modes in sorted(rows.items()):
        if name.startswith(("generate", "lightning")):
            continue
        fwd, train = modes.get("fwd", {}), modes.get("train", {})
        mb = lambda r: None if r.get("peak_bytes_median") is None else r["peak_bytes_median"] / 2**20  # noqa: E731
        pct = None if fwd.get("fraction_of_gemm") is None else 100 * fwd["fraction_of_gemm"]
        lines.append(
            f"{length:>6} {name:40} {_cell(fwd.get('seconds_median'), '8.3f')} "
            f"{_cell(train.get('seconds_median'), '8.3f')} {_cell(mb(fwd), '7.0f')} {_cell(mb(train), '7.0f')} "
            f"{_cell(pct, '6.1f')} {_cell(fwd.get('vs_original'), '8.2f')} {_cell(train.get('vs_original'), '8.2f')} "
            f"{_cell(fwd.get('vs_bart_sdpa'), '8.2f')} {_cell(train.get('vs_bart_sdpa'), '8.2f')} "
            f"{_cell(train.get('vs_bart_sdpa_memory'), '8.2f')}"
        )
    for row in result["rows"]:
        if row["name"].startswith(("generate", "lightning")):
            extra = "" if "overhead" not in row else (
                f"; bare model {row['bare_seconds_median']:.2f} s, Lightning overhead {100 * row['overhead']:+.1f} %, "
                f"{row['tokens_per_second']:.0f} tokens/s")
            lines.append(f"{row['name']}: {row['seconds_median']:.2f} s at {row['length']} tokens (median of "
                         f"{row['repeats']}){extra}")
    gemm = result.get("gemm_flops_per_second") or {}
    if gemm:
        lines.append("GEMM rate (GFLOP/s): " + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in gemm.items())
                     + f"; %GEMM = forward FLOPs / time / best ({result['gemm_best'] / 1e9:.0f} GFLOP/s)")
    for key, reason in sorted(result["skipped"].items()):
        lines.append(f"skipped {key}: {reason}")
    for key, error in sorted(result["failures"].items()):
        lines.append(f"FAILED {key}: {error}")
    lines += [f"note: {note}" for note in result["notes"]]
    lines += target_lines(result)
    return "\n".join(lines)


def write_json(result: dict, out_dir: Path, stem: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return path


def plot(result: dict, out_dir: Path, stem: str) -> list[Path]:
    """`<stem>-time.png` and `<stem>-memory.png`: one line per implementation, fwd and fwd+bwd panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    names = sorted({row["name"] for row in result["rows"]})
    colors = {name: plt.cm.tab20(i % 20) for i, name in enumerate(names)}
    for quantity, key, unit in (("time", "seconds_median", "seconds"), ("memory", "peak_bytes_median", "MB")):
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharey=False)
        for ax, mode, title in zip(axes, ("fwd", "train"), ("forward (eval, no grad)", "forward + backward")):
            series = {}
            for row in result["rows"]:
                if row["mode"] == mode and row.get(key) and not row["name"].startswith(("generate", "lightning")):
                    value = row[key] / 2**20 if quantity == "memory" else row[key]
                    series.setdefault(row["name"], []).append((row["length"], value))
            for name, points in sorted(series.items()):
                if len(points) < 2 and len(result["lengths"]) > 1:
                    continue
                points.sort()
                style = "-" if name.startswith("lsg") else "--"
                ax.plot(*zip(*points), style, marker="o", label=name, color=colors[name])
            ax.set(xscale="log", yscale="log", xlabel="tokens", ylabel=unit, title=f"{quantity}: {title}")
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper left")
        fig.suptitle(f"{result['device']} {result['dtype']}, {result['threads']} threads, batch 1, BART-base dims")
        fig.tight_layout()
        path = out_dir / f"{stem}-{quantity}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def merge(paths: list[Path]) -> dict:
    """Rows of several result files in one result (each row keeps the ratios of its own run), for plotting."""
    results = [json.loads(Path(path).read_text()) for path in paths]
    merged = dict(results[0])
    merged["rows"], seen = [], set()
    for path, result in zip(paths, results):
        for row in result["rows"]:
            key = (row["name"], row["length"], row["mode"])
            name = row["name"] if key not in seen else f"{row['name']} [{Path(path).stem}]"
            seen.add(key)
            merged["rows"].append(dict(row, name=name, run=str(path)))
    merged["lengths"] = sorted({length for result in results for length in result["lengths"]})
    merged["skipped"] = {k: v for result in results for k, v in result["skipped"].items()}
    merged["failures"] = {k: v for result in results for k, v in result["failures"].items()}
    merged["notes"] = [note for result in results for note in result["notes"]]
    merged["merged_from"] = [str(path) for path in paths]
    return merged


def main(argv=None):
    """`python -m lsgzoo.bench.report A.json B.json --name combined`: one table and plots over several runs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lsgzoo.bench.report", description=main.__doc__)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="combined")
    args = parser.parse_args(argv)
    result = merge(args.results)
    print(table(result))
    write_json(result, args.out, args.name)
    for path in plot(result, args.out, args.name):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
