"""Which metric a sweep is judged by, and the runs ranked by it.

The default metric is the runs' monitored metric (`monitor` in summary.json) and
the default mode its `monitor_mode`; for the monitored metric a run's score is its
`best_score` (the score of `checkpoints/best.ckpt`), for any other metric the
final value in `metrics`. When runs of several tasks monitor different metrics (and no metric is given), each
run is scored by its own task's monitored metric (`PER_TASK_METRIC`), and runs are ranked within their task
(`task_metrics` names the metric of each task). Runs with equal scores are ordered by `TIE_BREAK`, never by folder order
alone, and `ties` names them.
"""

import math
from pathlib import PurePosixPath

from lsgzoo.report.collect import PER_TASK_METRIC, RunRecord, natural_key, task_name

MODES = ("max", "min")
TIE_BREAK = "higher tokens/s, then lower train s, then run name"
SCORE_DIGITS = 12  # scores equal to this many significant digits tie (float noise is not a difference)


def resolve_metric(records: list[RunRecord], metric: str | None = None,
                   mode: str | None = None) -> tuple[str | None, str | None]:
    """(metric, mode) to rank by: the given ones, else the runs' monitor / monitor_mode.

    When no metric is given and the runs monitor different metrics, the metric is PER_TASK_METRIC (each run
    scored by its own monitor) provided every task's runs monitor one metric and every monitor_mode agrees.
    Raises ValueError naming the field when the runs of a task disagree on their monitor (or the tasks on
    monitor_mode), when no completed run reports `metric`, or when `mode` cannot be inferred.
    When no run completed nothing can be ranked: returns what is known (maybe None).
    """
    if mode is not None and mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    completed = [r for r in records if not r.failed]
    monitors = sorted({r.monitor for r in records if r.monitor})
    if metric is None:
        if len(monitors) > 1:
            common_mode = per_task_mode(records)  # checks each task has one monitor and the modes agree
            metric, mode = PER_TASK_METRIC, mode or common_mode
        else:
            metric = monitors[0] if monitors else None
    if mode is None and metric is not None:
        modes = sorted({r.monitor_mode for r in records if r.monitor == metric and r.monitor_mode})
        mode = modes[0] if len(modes) == 1 else None
    if not completed:
        return metric, mode
    if metric is None:
        raise ValueError("no run names its monitored metric ('monitor' in summary.json); choose one with --metric"
                         + _known(completed))
    if not any(r.value(metric) is not None for r in completed):
        raise ValueError(f"--metric {metric!r}: no completed run reports it" + _known(completed))
    if mode is None:
        raise ValueError(f"cannot tell whether {metric!r} is better high or low (it is not the runs' monitor "
                         "with a single monitor_mode); pass --mode max or --mode min")
    return metric, mode


def per_task_mode(records: list[RunRecord]) -> str | None:
    """The one monitor_mode of runs whose tasks monitor different metrics; ValueError naming the task(s) when a
    task's runs monitor several metrics or when the monitor modes differ (no common 'better' direction)."""
    per_task: dict[str, set] = {}
    for record in records:
        if record.monitor:
            per_task.setdefault(task_name(record), set()).add(record.monitor)
    mixed = {task: sorted(monitors) for task, monitors in per_task.items() if len(monitors) > 1}
    if mixed:
        listing = "; ".join(f"{task}: {', '.join(monitors)}" for task, monitors in sorted(mixed.items()))
        raise ValueError(f"runs of the same task monitor different metrics ({listing}); choose one with --metric")
    modes: dict[str, set] = {}
    for record in records:
        if record.monitor and record.monitor_mode:
            modes.setdefault(record.monitor_mode, set()).add(task_name(record))
    if len(modes) > 1:
        listing = "; ".join(f"{mode}: {', '.join(sorted(tasks))}" for mode, tasks in sorted(modes.items()))
        raise ValueError(f"the tasks' monitored metrics disagree on monitor_mode ({listing}); choose one metric "
                         "with --metric (and --mode)")
    return next(iter(modes), None)


def task_metrics(records: list[RunRecord], metric: str | None) -> dict[str, str | None]:
    """{task: the metric its runs are scored by}, tasks sorted: each task's monitor for PER_TASK_METRIC
    (None for a task whose runs name none), else `metric` for every task."""
    tasks = sorted({task_name(record) for record in records})
    if metric != PER_TASK_METRIC:
        return dict.fromkeys(tasks, metric)
    monitors = {task_name(record): record.monitor for record in records if record.monitor}
    return {task: monitors.get(task) for task in tasks}


def metric_listing(metrics: dict[str, str | None]) -> str:
    """"linked_pairs → val/answer_accuracy, majority → val/accuracy" (tasks as given)."""
    return ", ".join(f"{task} → {metric or '(none)'}" for task, metric in metrics.items())


def _known(completed: list[RunRecord]) -> str:
    names = sorted({name for r in completed for name in r.metrics})
    return f" (metrics reported: {', '.join(names)})" if names else ""


def tie_key(score: float) -> float:
    """`score` rounded to SCORE_DIGITS significant digits: the value ties are judged on."""
    return float(f"{score:.{SCORE_DIGITS}g}")


def tie_break_key(record: RunRecord) -> tuple:
    """TIE_BREAK as a sort key: higher train_tokens_per_s, lower train_time_s (unknown last), then the name."""
    speed, time = record.train_tokens_per_s, record.train_time_s
    return (-speed if speed is not None else math.inf, time if time is not None else math.inf,
            natural_key(PurePosixPath(record.name)))


def rank_runs(records: list[RunRecord], metric: str, mode: str) -> list[RunRecord]:
    """Runs best first by `metric`, equal scores by TIE_BREAK; runs without a score (failed, or not
    reporting it) last, in input order. With PER_TASK_METRIC, ranked within each task (tasks sorted)."""
    if metric is None:
        return sorted(records, key=lambda r: r.failed)
    scored = [r for r in records if r.value(metric) is not None]
    unscored = [r for r in records if r.value(metric) is None]
    sign = -1 if mode == "max" else 1
    scored.sort(key=lambda r: (_task_of(r, metric), sign * tie_key(r.value(metric)), tie_break_key(r)))
    return scored + sorted(unscored, key=lambda r: r.failed)


def ties(ranked: list[RunRecord], metric: str | None) -> list[tuple[float, list[RunRecord]]]:
    """(score, runs) for every score that two or more of the ranked runs share, in rank order."""
    if metric is None:
        return []
    groups: dict[tuple, list[RunRecord]] = {}
    for record in ranked:
        if record.value(metric) is not None:
            groups.setdefault((_task_of(record, metric), tie_key(record.value(metric))), []).append(record)
    return [(score, runs) for (_, score), runs in groups.items() if len(runs) > 1]


def _task_of(record: RunRecord, metric: str) -> str:
    """The run's task when runs are ranked within their task (PER_TASK_METRIC), else "" (one ranking)."""
    return task_name(record) if metric == PER_TASK_METRIC else ""


def best_run(records: list[RunRecord], metric: str, mode: str) -> RunRecord | None:
    """The best-scoring completed run, or None when no run has a score (pass one task's runs for
    PER_TASK_METRIC: `best_by_task`)."""
    if metric is None:
        return None
    ranked = rank_runs(records, metric, mode)
    return ranked[0] if ranked and ranked[0].value(metric) is not None else None


def best_by_task(records: list[RunRecord], metric: str, mode: str) -> dict[str, RunRecord | None]:
    """{task: its best run (None when none has a score)}, tasks sorted."""
    tasks = sorted({task_name(record) for record in records})
    return {task: best_run([r for r in records if task_name(r) == task], metric, mode) for task in tasks}
