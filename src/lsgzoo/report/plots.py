"""PNG plots of a sweep: quality against one attention knob per selector, and quality against cost per run.

Only completed runs with a score on the metric are drawn. Each function returns
the path it wrote, or None when the runs hold nothing to draw (e.g. no run
reports peak memory), so a report never contains an empty chart.
"""

from collections import defaultdict
from pathlib import Path
from statistics import mean

from lsgzoo.report.collect import RunRecord

COST_AXES = (("train_tokens_per_s", "training throughput (tokens/s)"), ("train_time_s", "training time (s)"),
             ("peak_memory_mb", "peak memory (MB)"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def selector_name(record: RunRecord) -> str:
    value = record.setting("sparsity_type")
    return "none" if value is None else str(value)


def selector_colors(records: list[RunRecord]) -> dict:
    """One fixed colour per selector name (sorted), shared by every plot of a report."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    names = sorted({selector_name(r) for r in records})
    return {name: palette(i % 10) for i, name in enumerate(names)}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plot_metric_vs(records: list[RunRecord], key: str, metric: str, path) -> Path | None:
    """Metric against the attention setting `key` (e.g. block_size), one line per selector.

    Several runs at the same (selector, value) — other settings or seeds — are drawn
    as faint points and joined through their mean.
    """
    points = defaultdict(lambda: defaultdict(list))  # selector → x → [scores]
    for record in records:
        x, score = record.setting(key), record.value(metric)
        if _is_number(x) and score is not None:
            points[selector_name(record)][x].append(score)
    if not points:
        return None
    plt = _pyplot()
    colors = selector_colors(records)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    averaged = False
    for name in sorted(points):
        xs = sorted(points[name])
        ax.plot(xs, [mean(points[name][x]) for x in xs], marker="o", color=colors[name], label=name)
        for x in xs:
            if len(points[name][x]) > 1:
                averaged = True
                ax.scatter([x] * len(points[name][x]), points[name][x], color=colors[name], alpha=0.3, s=14)
    ax.set_xticks(sorted({x for per_selector in points.values() for x in per_selector}))
    ax.set_xlabel(key)
    ax.set_ylabel(metric + (" (line: mean of the runs)" if averaged else ""))
    ax.set_title(f"{metric} vs {key}")
    ax.grid(alpha=0.3)
    ax.legend(title="sparsity_type", fontsize=8)
    return _save(fig, plt, path)


def plot_quality_vs_cost(records: list[RunRecord], metric: str, path) -> Path | None:
    """Metric against throughput, training time and peak memory: one labelled point per run, coloured by selector."""
    axes_with_data = [(field, label) for field, label in COST_AXES
                      if any(_is_number(getattr(r, field)) and r.value(metric) is not None for r in records)]
    if not axes_with_data:
        return None
    plt = _pyplot()
    colors = selector_colors(records)
    fig, axes = plt.subplots(1, len(axes_with_data), figsize=(5.2 * len(axes_with_data), 4.4), squeeze=False)
    for ax, (field, label) in zip(axes[0], axes_with_data):
        seen = set()
        for record in records:
            cost, score = getattr(record, field), record.value(metric)
            if not _is_number(cost) or score is None:
                continue
            name = selector_name(record)
            ax.scatter(cost, score, color=colors[name], label=None if name in seen else name, s=30)
            ax.annotate(record.name, (cost, score), fontsize=7, xytext=(3, 3), textcoords="offset points")
            seen.add(name)
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="sparsity_type", fontsize=7)
    fig.suptitle(f"{metric} vs cost (one point per run, labelled by run)")
    return _save(fig, plt, path)


def _save(fig, plt, path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
