"""Across tasks: which configuration is best overall, by ranks.

Each task ranks the configurations that have a scored group in every task by their mean (1 = best, ties share
the mean rank: `scipy.stats.rankdata`); the Friedman test (`scipy.stats.friedmanchisquare`, tasks as blocks) asks
whether the mean ranks differ at all, and the Nemenyi post-hoc says which do: two configurations differ when
their mean ranks differ by more than the critical difference CD = q(α; k, ∞)/√2 · √(k(k + 1)/(6N)) for k
configurations over N tasks (q: the studentized range quantile, `scipy.stats.studentized_range`). Needs ≥ 2 tasks and ≥ 3
configurations.
"""

import math
from dataclasses import dataclass

from lsgzoo.report.inference import ALPHA
from lsgzoo.report.stats import GroupedRuns

MIN_CONFIGURATIONS = 3


@dataclass(frozen=True)
class TaskRanking:
    """labels: configurations; mean_ranks: their mean rank over `tasks` (same order, best first);
    statistic, p_value: Friedman's; critical_difference: Nemenyi's CD at ALPHA."""

    labels: list[str]
    mean_ranks: list[float]
    tasks: list[str]
    statistic: float
    p_value: float
    critical_difference: float


def rank_across_tasks(grouped: GroupedRuns) -> TaskRanking | None:
    """The configurations' mean ranks over the tasks with Friedman's test and Nemenyi's CD (None when fewer
    than 2 tasks or 3 configurations are scored in every task, or no direction of 'better' is known)."""
    import numpy as np
    from scipy import stats

    if not grouped.multitask or grouped.mode is None:
        return None
    means: dict[tuple, dict] = {}
    labels: dict[tuple, str] = {}
    for group in grouped.groups:
        if group.metric.mean is not None:
            row = tuple(map(repr, group.configuration.values()))
            means.setdefault(row, {})[group.task] = group.metric.mean
            labels[row] = group.label()
    complete = [row for row, cells in means.items() if len(cells) == len(grouped.tasks)]
    if len(complete) < MIN_CONFIGURATIONS:
        return None
    sign = -1.0 if grouped.mode == "max" else 1.0
    scores = np.array([[sign * means[row][task] for task in grouped.tasks] for row in complete])  # (k, N)
    ranks = np.apply_along_axis(stats.rankdata, 0, scores)  # rank within each task (column)
    mean_ranks = ranks.mean(axis=1)
    result = stats.friedmanchisquare(*scores)
    k, n = len(complete), len(grouped.tasks)
    q = stats.studentized_range.ppf(1 - ALPHA, k, np.inf) / math.sqrt(2)
    order = np.argsort(mean_ranks, kind="stable")
    return TaskRanking(labels=[labels[complete[i]] for i in order], mean_ranks=[float(mean_ranks[i]) for i in order],
                       tasks=list(grouped.tasks), statistic=float(result.statistic),
                       p_value=float(result.pvalue) if math.isfinite(result.pvalue) else 1.0,
                       critical_difference=float(q * math.sqrt(k * (k + 1) / (6 * n))))


def ranking_markdown(ranking: TaskRanking) -> str:
    """The across-task section: method line, Friedman's result, the CD, then mean rank per configuration."""
    lines = [f"Across tasks ({', '.join(ranking.tasks)}): each task ranks the {len(ranking.labels)} configurations "
             "scored in every task by mean (1 = best). "
             f"Friedman χ² = {ranking.statistic:.3g}, p = {ranking.p_value:.3g}; Nemenyi critical difference at "
             f"α = {ALPHA}: {ranking.critical_difference:.3g} (mean ranks further apart than this differ).", "",
             "| configuration | mean rank |", "|---|---|"]
    lines += [f"| {label} | {rank:.3g} |" for label, rank in zip(ranking.labels, ranking.mean_ranks)]
    return "\n".join(lines) + "\n"
