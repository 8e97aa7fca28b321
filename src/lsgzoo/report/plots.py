"""PNG plots of a sweep: quality against one attention knob (mean ± CI over seeds), quality against cost per
run, and the task × configuration heatmap.

Only completed runs with a score on the metric are drawn. Each function returns
the path it wrote, or None when the runs hold nothing to draw (e.g. no run
reports peak memory), so a report never contains an empty chart. When the runs span several tasks, the metric
plots draw one panel (or row) per task, labelled with the metric the task is scored by (its own monitor for
`PER_TASK_METRIC`); exact full-attention runs are the ceiling band of the metric-vs-setting panels, not points.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

from lsgzoo.report.collect import FULL_ATTENTION, PER_TASK_METRIC, RunRecord, is_full_attention
from lsgzoo.report.groups import NO_RUN, SIGNIFICANT_MARK, estimate_text, matrix_rows
from lsgzoo.report.ranking import task_metrics
from lsgzoo.report.stats import CONFIDENCE, GroupedRuns, RunGroup, configuration_keys, scores_of, summarize, task_name

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


def line_keys(records: list[RunRecord], key: str) -> list[str]:
    """Settings that split the lines of a plot against `key`, beside the selector: every configuration key
    except `key` itself and the settings fixed by it (sparse_block_size tied to block_size)."""
    return [other for other in configuration_keys(records)
            if other not in (key, "sparsity_type") and not _fixed_by(records, key, other)]


def _fixed_by(records: list[RunRecord], key: str, other: str) -> bool:
    """True when runs with the same `key` value always have the same `other` value."""
    seen = {}
    for record in records:
        if seen.setdefault(repr(record.setting(key)), repr(record.setting(other))) != repr(record.setting(other)):
            return False
    return True


def line_name(record: RunRecord, keys: list[str]) -> str:
    """Legend text of a run's line: "selector[, key=value ...]"."""
    return ", ".join([selector_name(record), *(f"{key}={record.setting(key)}" for key in keys)])


def panels(records: list[RunRecord], metric: str) -> list[tuple[str | None, list[RunRecord], str]]:
    """(task or None, runs, metric name) per panel: one per task when the runs span several tasks (each task
    scored by its own monitor for PER_TASK_METRIC), else one panel for every run."""
    metrics = task_metrics(records, metric)
    if len(metrics) == 1 and metric != PER_TASK_METRIC:
        return [(None, records, metric)]
    return [(task, [r for r in records if task_name(r) == task], task_metric or metric)
            for task, task_metric in metrics.items()]


@dataclass
class MetricPanel:
    """One panel of a metric-vs-setting plot.

    lines: {line name: {setting value: [scores of its runs]}}; selectors: {line name: selector}; reference: the
    scores of the task's exact full-attention runs, drawn as a band across the panel (their block and factor are
    not points on the sparse axes)."""

    task: str | None
    label: str
    lines: dict
    selectors: dict
    reference: list[float]


def metric_panels(records: list[RunRecord], key: str, metric: str) -> tuple[list[str], list[MetricPanel]]:
    """The data of `plot_metric_vs`: the settings that split its lines beside the selector (`line_keys` of the
    sparse runs), and per panel the scores of each line at each value of `key`; panels with nothing to draw are
    left out."""
    keys = line_keys([r for r in records if not is_full_attention(r)], key)
    drawn = []
    for task, runs, label in panels(records, metric):
        lines, selectors, reference = defaultdict(lambda: defaultdict(list)), {}, []
        for record in runs:
            x, score = record.setting(key), record.value(metric)
            if score is None:
                continue
            if is_full_attention(record):
                reference.append(score)
            elif _is_number(x):
                name = line_name(record, keys)
                lines[name][x].append(score)
                selectors[name] = selector_name(record)
        if lines:
            drawn.append(MetricPanel(task, label, {name: dict(xs) for name, xs in lines.items()}, selectors,
                                     reference))
    return keys, drawn


def plot_metric_vs(records: list[RunRecord], key: str, metric: str, path) -> Path | None:
    """Metric against the attention setting `key` (e.g. block_size): mean ± 95 % CI over seeds.

    One panel per task; one line per selector (and per value of any other setting that varies); the runs of a
    point are drawn faintly, and a point with one run has no error bar. Exact full attention, where the task has
    it, is a horizontal band (mean ± CI), the ceiling the lines are read against.
    """
    keys, drawn = metric_panels(records, key, metric)
    if not drawn:
        return None
    plt = _pyplot()
    colors = selector_colors(records)
    fig, axes = plt.subplots(1, len(drawn), figsize=(5.2 * len(drawn) + 3.0, 4.4), squeeze=False)
    for ax, panel in zip(axes[0], drawn):
        _draw_metric_lines(ax, panel.lines, panel.selectors, colors)
        if panel.reference:
            _draw_reference(ax, panel.reference, colors.get(FULL_ATTENTION, "black"))
        ax.set_xlabel(key)
        ax.set_ylabel(f"{panel.label} (mean, {CONFIDENCE:.0%} bootstrap CI over seeds)")
        ax.set_title(f"{panel.label} vs {key}" if panel.task is None else f"{panel.task}: {panel.label}")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(title="sparsity_type" + (", " + ", ".join(keys) if keys else ""), fontsize=8,
                       loc="upper left", bbox_to_anchor=(1.02, 1.0))
    title = "each task's monitored metric" if drawn[0].task is not None else drawn[0].label
    fig.suptitle(f"{title} vs {key} (no bar: one run)")
    return _save(fig, plt, path)


def _draw_reference(ax, scores: list[float], color) -> None:
    """Exact full attention across the panel: its mean as a line, its CI as a band (no band for one run)."""
    summary = summarize(scores)
    ax.axhline(summary.mean, color=color, linestyle="--", linewidth=1.2,
               label=f"{FULL_ATTENTION} (exact attention, n={summary.n})")
    if summary.ci:
        ax.axhspan(*summary.ci, color=color, alpha=0.12)


def _draw_metric_lines(ax, points: dict, selectors: dict, colors: dict) -> None:
    """The lines of one metric-vs-setting panel: mean ± CI per x, the runs faintly behind. Each line is shifted
    sideways by a small step (within 30 % of the gap between ticks) so that equal means keep their bars apart."""
    styles = defaultdict(lambda: cycle(["-", "--", ":", "-."]))
    ticks = sorted({x for per_line in points.values() for x in per_line})
    step = 0.6 * min((b - a for a, b in zip(ticks, ticks[1:])), default=1.0) / max(len(points), 1)
    for index, name in enumerate(sorted(points)):
        xs = sorted(points[name])
        shift = (index - (len(points) - 1) / 2) * step
        summaries = [summarize(points[name][x]) for x in xs]
        color = colors[selectors[name]]
        errors = [[s.mean - s.low if s.ci else 0.0 for s in summaries],
                  [s.high - s.mean if s.ci else 0.0 for s in summaries]]
        ax.errorbar([x + shift for x in xs], [s.mean for s in summaries], yerr=errors,
                    marker="o", capsize=3, color=color, linestyle=next(styles[selectors[name]]), label=name)
        for x in xs:
            if len(points[name][x]) > 1:
                ax.scatter([x + shift] * len(points[name][x]), points[name][x], color=color, alpha=0.3, s=14)
    ax.set_xticks(ticks)


def plot_quality_vs_cost(records: list[RunRecord], metric: str, path) -> Path | None:
    """Metric against throughput, training time and peak memory: one labelled point per run, coloured by selector
    (one row of panels per task with PER_TASK_METRIC)."""
    rows = []
    for task, runs, label in panels(records, metric):
        axes_with_data = [(field, axis) for field, axis in COST_AXES
                          if any(_is_number(getattr(r, field)) and r.value(metric) is not None for r in runs)]
        if axes_with_data:
            rows.append((task, runs, label, axes_with_data))
    if not rows:
        return None
    plt = _pyplot()
    colors = selector_colors(records)
    width = max(len(axes_with_data) for *_, axes_with_data in rows)
    fig, axes = plt.subplots(len(rows), width, figsize=(5.2 * width, 4.4 * len(rows)), squeeze=False)
    for row_axes, (task, runs, label, axes_with_data) in zip(axes, rows):
        for ax, (field, axis) in zip(row_axes, axes_with_data):
            _draw_cost_points(ax, runs, metric, field, colors)
            ax.set_xlabel(axis)
            ax.set_ylabel(label if task is None else f"{task}: {label}")
            ax.grid(alpha=0.3)
        for ax in row_axes[len(axes_with_data):]:
            ax.set_visible(False)
        row_axes[0].legend(title="sparsity_type", fontsize=7)
    title = "each task's monitored metric" if rows[0][0] is not None else metric
    fig.suptitle(f"{title} vs cost (one point per run, labelled by run)")
    return _save(fig, plt, path)


def _draw_cost_points(ax, runs: list[RunRecord], metric: str, field: str, colors: dict) -> None:
    """One point per run with a score and a value of the cost `field`, labelled by run, coloured by selector."""
    seen = set()
    for record in runs:
        cost, score = getattr(record, field), record.value(metric)
        if not _is_number(cost) or score is None:
            continue
        name = selector_name(record)
        ax.scatter(cost, score, color=colors[name], label=None if name in seen else name, s=30)
        ax.annotate(record.name, (cost, score), fontsize=7, xytext=(3, 3), textcoords="offset points")
        seen.add(name)


def _save(fig, plt, path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_matrix(grouped: GroupedRuns, path) -> Path | None:
    """Heatmap of the task × configuration matrix coloured by value on each task's scale (`value_scale`), each
    cell annotated "mean [interval]", n and the significance mark (adjusted p), with the runs' scores as dots on
    the cell's own copy of the scale (a strip: left = the scale's low end, right = its high end).
    """
    rows = matrix_rows(grouped)
    if not rows or grouped.metric is None:
        return None
    plt = _pyplot()
    labels = [", ".join(f"{k}={v}" for k, v in zip(grouped.keys, values)) or "all runs" for values, _ in rows]
    scales = {task: value_scale(grouped, task) for task in grouped.tasks}
    shades = [[_shade(cells.get(task), scales[task], grouped.mode) for task in grouped.tasks] for _, cells in rows]
    fig, ax = plt.subplots(figsize=(2.0 + 2.6 * len(grouped.tasks) + 0.06 * max(map(len, labels)),
                                    1.8 + 0.7 * len(rows)))
    image = ax.imshow(shades, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i, (_, cells) in enumerate(rows):
        for j, task in enumerate(grouped.tasks):
            shade, group = shades[i][j], cells.get(task)
            color = "white" if not math.isnan(shade) and shade <= 0.6 else "black"
            ax.text(j, i - 0.12, heatmap_text(group), ha="center", va="center", fontsize=7, color=color)
            if group is not None:
                _draw_strip(ax, j, i, scores_of(group.runs, grouped.metric_of(task)), scales[task], color)
    columns = [f"{task}\n({grouped.metric_of(task) if grouped.per_task else 'scale'} "
               f"{scales[task][0]:g}–{scales[task][1]:g})" for task in grouped.tasks]
    ax.set_xticks(range(len(grouped.tasks)), columns, fontsize=8)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    mark = f"; {SIGNIFICANT_MARK} adjusted p < 0.05 vs baseline" if grouped.baseline else ""
    title = "each task's monitored metric (under its name)" if grouped.per_task else grouped.metric
    ax.set_title(f"{title}: mean [{CONFIDENCE:.0%} bootstrap CI], dots = runs{mark}\n"
                 "colour: value on the task's scale (0 to 1 for a metric within [0, 1])", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03, label="position on the task's scale"
                 + (" (low = better)" if grouped.mode == "min" else ""))
    return _save(fig, plt, path)


def value_scale(grouped: GroupedRuns, task: str) -> tuple[float, float]:
    """The colour scale of a task: [0, 1] when every score of the task lies there (accuracies, rates), else
    [min, max] of its scores. The summaries record no chance level, so the scale starts at 0, not at chance."""
    scores = [score for group in grouped.groups if group.task == task
              for score in scores_of(group.runs, grouped.metric_of(task))]
    if not scores or (min(scores) >= 0.0 and max(scores) <= 1.0):
        return 0.0, 1.0
    return min(scores), max(scores)


def _draw_strip(ax, column: int, row: int, scores: list[float], scale: tuple[float, float], color) -> None:
    """The runs' scores as dots along the lower part of cell (row, column), placed on the task's scale."""
    low, high = scale
    span = high - low or 1.0
    xs = [column - 0.4 + 0.8 * (score - low) / span for score in scores]
    ax.plot([column - 0.4, column + 0.4], [row + 0.3] * 2, color=color, linewidth=0.5, alpha=0.6)
    ax.scatter(xs, [row + 0.3] * len(xs), s=10, color=color, edgecolors="none", alpha=0.8, zorder=3)


def heatmap_text(group: RunGroup | None) -> str:
    """A heatmap cell: "mean [low, high] [*]" over "n=3[, 1 failed]" ("n=1, no CI" for a single run)."""
    if group is None:
        return NO_RUN
    first = NO_RUN if group.metric.n == 0 else estimate_text(group.metric, say_no_ci=False)
    if group.comparison is not None and group.comparison.significant:
        first += f" {SIGNIFICANT_MARK}"
    second = [f"n={group.metric.n}" + (", no CI" if group.metric.n == 1 else "")]
    second += [f"{group.n_failed} failed"] if group.n_failed else []
    return f"{first}\n{', '.join(second)}"


def _shade(group: RunGroup | None, scale: tuple[float, float], mode: str | None) -> float:
    """0..1 position of the group's mean on its task's scale, 1 = best (nan for an empty cell)."""
    if group is None or group.metric.mean is None:
        return math.nan
    low, high = scale
    position = 0.5 if high == low else min(1.0, max(0.0, (group.metric.mean - low) / (high - low)))
    return 1.0 - position if mode == "min" else position


def plot_critical_difference(ranking, path) -> Path:
    """The critical-difference diagram of an across-task ranking (`aggregate.TaskRanking`): mean ranks on an
    axis (1 = best, left), each configuration labelled, and a bar joining the configurations whose mean ranks
    lie within the Nemenyi critical difference of each other."""
    plt = _pyplot()
    k = len(ranking.labels)
    room = 0.011 * k * max(map(len, ranking.labels))  # rank units the labels need right of the axis
    fig, ax = plt.subplots(figsize=(6.0 + 0.09 * max(map(len, ranking.labels)), 1.6 + 0.32 * k))
    ax.set_xlim(0.5, k + 0.6 + room)
    ax.set_ylim(-(k + 1), 1.5)
    ax.plot([1, k], [0, 0], color="black", linewidth=1)
    for tick in range(1, k + 1):
        ax.plot([tick, tick], [0, 0.15], color="black", linewidth=1)
        ax.text(tick, 0.3, str(tick), ha="center", fontsize=8)
    for index, (label, rank) in enumerate(zip(ranking.labels, ranking.mean_ranks)):
        y = -(index + 1)
        ax.plot([rank, rank], [0, y], color="gray", linewidth=0.8)
        ax.plot([rank, k + 0.4], [y, y], color="gray", linewidth=0.8)
        ax.text(k + 0.45, y, f"{label} ({rank:.2f})", va="center", fontsize=7)
    cd = ranking.critical_difference
    ax.plot([1, 1 + cd], [1.0, 1.0], color="black", linewidth=2)
    ax.text(1 + cd / 2, 1.15, f"CD = {cd:.2f}", ha="center", fontsize=8)
    ranks, reached, level = ranking.mean_ranks, -1, 0
    for start, rank in enumerate(ranks):  # one bar per maximal run of ranks within CD of its first one
        end = max(j for j in range(start, k) if ranks[j] - rank <= cd)
        if end > start and end > reached:
            ax.plot([rank, ranks[end]], [-0.3 - 0.15 * (level % 4)] * 2, color="black", linewidth=3)
            reached, level = end, level + 1
    ax.axis("off")
    ax.set_title(f"mean rank over {len(ranking.tasks)} tasks (1 = best); Friedman p = {ranking.p_value:.2g}\n"
                 "bars join configurations within the Nemenyi CD", fontsize=9)
    return _save(fig, plt, path)

