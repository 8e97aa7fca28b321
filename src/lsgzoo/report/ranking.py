"""Which metric a sweep is judged by, and the runs ranked by it.

The default metric is the runs' monitored metric (`monitor` in summary.json) and
the default mode its `monitor_mode`; for the monitored metric a run's score is its
`best_score` (the score of `checkpoints/best.ckpt`), for any other metric the
final value in `metrics`. Runs with equal scores are ordered by `TIE_BREAK`, never by folder order
alone, and `ties` names them.
"""

import math
from pathlib import PurePosixPath

from lsgzoo.report.collect import RunRecord, natural_key

MODES = ("max", "min")
TIE_BREAK = "higher tokens/s, then lower train s, then run name"
SCORE_DIGITS = 12  # scores equal to this many significant digits tie (float noise is not a difference)


def resolve_metric(records: list[RunRecord], metric: str | None = None,
                   mode: str | None = None) -> tuple[str | None, str | None]:
    """(metric, mode) to rank by: the given ones, else the runs' monitor / monitor_mode.

    Raises ValueError naming the field when the runs disagree on their monitor,
    when no completed run reports `metric`, or when `mode` cannot be inferred.
    When no run completed nothing can be ranked: returns what is known (maybe None).
    """
    if mode is not None and mode not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    completed = [r for r in records if not r.failed]
    monitors = sorted({r.monitor for r in records if r.monitor})
    if metric is None:
        if len(monitors) > 1:
            raise ValueError(f"runs monitor different metrics ({', '.join(monitors)}); choose one with --metric")
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
    reporting it) last, in input order."""
    if metric is None:
        return sorted(records, key=lambda r: r.failed)
    scored = [r for r in records if r.value(metric) is not None]
    unscored = [r for r in records if r.value(metric) is None]
    sign = -1 if mode == "max" else 1
    scored.sort(key=lambda r: (sign * tie_key(r.value(metric)), tie_break_key(r)))
    return scored + sorted(unscored, key=lambda r: r.failed)


def ties(ranked: list[RunRecord], metric: str | None) -> list[tuple[float, list[RunRecord]]]:
    """(score, runs) for every score that two or more of the ranked runs share, in rank order."""
    if metric is None:
        return []
    groups: dict[float, list[RunRecord]] = {}
    for record in ranked:
        if record.value(metric) is not None:
            groups.setdefault(tie_key(record.value(metric)), []).append(record)
    return [(score, runs) for score, runs in groups.items() if len(runs) > 1]


def best_run(records: list[RunRecord], metric: str, mode: str) -> RunRecord | None:
    """The best-scoring completed run, or None when no run has a score."""
    if metric is None:
        return None
    ranked = rank_runs(records, metric, mode)
    return ranked[0] if ranked and ranked[0].value(metric) is not None else None
