"""Comparisons beyond one baseline: one setting's value A against B at every other setting (`--compare KEY=A,B`),
or every pair of a setting's values (`--all-pairs KEY`).

`compare_values` gives one row per combination of the other settings where both A and B have a group (matched as
--baseline matches, `stats.baseline_for`), skipping configurations on which KEY has no effect
(`stats.moot_settings`: the factor of `none`), plus one pooled row per task with every A run against every B run
(paired when the replicate keys pair, the pair key then being (row, seed)). `all_pairs` gives one row per pair of
KEY's values at each combination of the other settings. Each table is one family: its p-values are adjusted
together (`inference.adjust_family`), the pooled rows included.
"""

from dataclasses import dataclass, field
from itertools import combinations

from lsgzoo.report.inference import Comparison, adjust_family, compare_observations, family_text, fisher_solved, \
    with_power
from lsgzoo.report.stats import (GroupedRuns, RunGroup, SolveCount, Summary, baseline_for, check_key, moot_settings,
                                 observations, parse_setting, scores_of, setting_value, solve_count, summarize)

POOLED = "pooled"


@dataclass
class PairRow:
    """One comparison of a table: side A against side B within `task` at `settings` ({} for a pooled row).

    a, b: the sides' score statistics; comparison: A against B (delta = mean A − mean B); solved_a/b and
    solve_comparison: with --solved-at; groups: the (A, B) groups compared (several for a pooled row).
    """

    task: str
    settings: dict
    a_value: object
    b_value: object
    a: Summary
    b: Summary
    comparison: Comparison
    groups: list[tuple[RunGroup, RunGroup]]
    solved_a: SolveCount | None = None
    solved_b: SolveCount | None = None
    solve_comparison: Comparison | None = None

    @property
    def pooled(self) -> bool:
        return len(self.groups) != 1


@dataclass
class PairTable:
    """The rows of one --compare or --all-pairs table; families: {what: "Holm over 8 comparisons"};
    skipped: labels of the configurations left out because `key` has no effect on them."""

    key: str
    title: str
    rows: list[PairRow]
    families: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def parse_compare(text: str) -> tuple[str, str, str]:
    """--compare's text: "sparsity_factor=2,8" → ("sparsity_factor", "2", "8"); ValueError if malformed."""
    key, values = parse_setting(text, "--compare", "sparsity_factor=2,8")
    parts = [part.strip() for part in values.split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise ValueError(f"--compare expects KEY=A,B with two different values (e.g. sparsity_factor=2,8), "
                         f"got {text!r}")
    return key, parts[0], parts[1]


def compare_values(grouped: GroupedRuns, text: str) -> PairTable:
    """The --compare KEY=A,B table (rows per setting combination, then a pooled row per task), adjusted."""
    key, a_text, b_text = parse_compare(text)
    flag = f"--compare {text}"
    check_key(grouped, key, flag)
    a_value, b_value = (setting_value(grouped, key, value, flag) for value in (a_text, b_text))
    b_groups = [g for g in grouped.groups if repr(g.configuration[key]) == repr(b_value)]
    rows, skipped, per_task = [], [], {}
    for group in grouped.groups:
        if repr(group.configuration[key]) != repr(a_value):
            continue
        if key in moot_settings(group.configuration):
            skipped.append(f"{group.task}: {group.label()}")
            continue
        found = baseline_for(group, b_groups, key)
        if len(found) == 1:
            per_task.setdefault(group.task, []).append((group, found[0]))
    for task, pairs in sorted(per_task.items()):
        rows += [_row(grouped, task, _others(a, key), a_value, b_value, [(a, b)]) for a, b in pairs]
        if len(pairs) > 1:
            rows.append(_row(grouped, task, {}, a_value, b_value, pairs))
    return _adjusted(grouped, PairTable(key=key, title=f"{key}={a_value} against {key}={b_value}", rows=rows,
                                        skipped=skipped))


def all_pairs(grouped: GroupedRuns, key: str) -> PairTable:
    """The --all-pairs KEY table: every pair of KEY's values at each task and combination of the other settings."""
    check_key(grouped, key, f"--all-pairs {key}")
    buckets: dict[tuple, list[RunGroup]] = {}
    for group in grouped.groups:
        others = _others(group, key)
        buckets.setdefault((group.task, *map(repr, others.values())), []).append(group)
    rows = []
    for bucket in buckets.values():
        for a, b in combinations(bucket, 2):
            rows.append(_row(grouped, a.task, _others(a, key), a.configuration[key], b.configuration[key], [(a, b)]))
    return _adjusted(grouped, PairTable(key=key, title=f"every pair of {key} values", rows=rows))


def _others(group: RunGroup, key: str) -> dict:
    return {other: value for other, value in group.configuration.items() if other != key}


def _row(grouped: GroupedRuns, task: str, settings: dict, a_value, b_value,
         pairs: list[tuple[RunGroup, RunGroup]]) -> PairRow:
    """One row: the A sides of `pairs` pooled against their B sides (replicate keys prefixed by the pair's index
    when pooling several, so runs pair within their own setting combination only)."""
    metric = grouped.metric
    side, reference, a_scores, b_scores = [], [], [], []
    for index, (a, b) in enumerate(pairs):
        prefix = (index,) if len(pairs) > 1 else ()
        side += observations(a.runs, metric, prefix)
        reference += observations(b.runs, metric, prefix)
        a_scores += scores_of(a.runs, metric)
        b_scores += scores_of(b.runs, metric)
    row = PairRow(task=task, settings=settings, a_value=a_value, b_value=b_value, a=summarize(a_scores),
                  b=summarize(b_scores), comparison=compare_observations(side, reference), groups=pairs)
    if grouped.solved_at is not None:
        row.solved_a, row.solved_b = (solve_count(scores, grouped.solved_at, grouped.mode)
                                      for scores in (a_scores, b_scores))
        row.solve_comparison = fisher_solved(row.solved_a.solved, row.solved_a.n, row.solved_b.solved,
                                             row.solved_b.n)
    return row


def _adjusted(grouped: GroupedRuns, table: PairTable) -> PairTable:
    """`table` with every row's p adjusted over the table (score tests and solve tests each one family)."""
    adjusted = adjust_family([row.comparison for row in table.rows], grouped.adjust)
    for row, comparison in zip(table.rows, adjusted):
        a_scores = [s for a, _ in row.groups for s in scores_of(a.runs, grouped.metric)]
        b_scores = [s for _, b in row.groups for s in scores_of(b.runs, grouped.metric)]
        row.comparison = with_power(comparison, a_scores, b_scores)
    table.families = {"score": family_text(adjusted, grouped.adjust)}
    if grouped.solved_at is not None:
        solves = adjust_family([row.solve_comparison for row in table.rows], grouped.adjust)
        for row, comparison in zip(table.rows, solves):
            row.solve_comparison = comparison
        table.families["solve rate"] = family_text(solves, grouped.adjust)
    return table
