"""Two-sample comparisons of run scores, their family-wise adjustment, and seed planning.

A side of a comparison is a list of `Observation`s (one per scored run). Which test runs:
1. the first of `PAIRED_TESTS` that applies, when the two sides pair: every run has a replicate key
   (`REPLICATE_KEYS`: what a seed fixes — the data splits, the training order and the initialisation — so
   same-seed runs of two configurations saw the same documents) and the key sets of both sides are equal;
   - `mcnemar_over_documents`: both runs of every pair evaluated the same checkpoint and wrote per-document 0/1
     results (`EXAMPLES_FILE`); McNemar's exact test on the discordant documents summed over the pairs (under
     the null each discordant document is a fair coin, so the sum is still Binomial(b + c, 1/2));
   - `paired_permutation`: the exact sign-flip permutation test of the mean paired difference
     (`scipy.stats.permutation_test`, permutation_type="samples"; exact up to 2^13 pairs, else 9,999 random
     sign patterns drawn from a fixed seed);
2. otherwise Welch's t-test (`scipy.stats.ttest_ind(equal_var=False)`).
Every p-value of a table is then adjusted over the table's family (`adjust_family`: Holm by default) and marks of
significance use the adjusted value; a comparison that is not significant gets the seeds per group a two-sided
t-test would need for 80 % power at the observed difference (`seeds_for_power`).
"""

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ALPHA = 0.05
POWER = 0.8
RANDOM_SEED = 0  # every resampling in a report draws from this seed, so reports are reproducible
REPLICATE_KEYS = ("seed", "ckpt")  # run settings that make one replicate; same keys = same documents
EXAMPLES_FILE = "examples.jsonl"  # per-document results of an eval run: {"index": 3, "correct": 1} per line
ADJUSTMENTS = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no adjustment"}
ADJUST_METHOD = {"holm": "holm", "bh": "fdr_bh"}  # → statsmodels.stats.multitest.multipletests(method=...)
WELCH, PERMUTATION, MCNEMAR, FISHER = "Welch t", "paired permutation", "McNemar exact", "Fisher exact"
ONE_RUN = "n=1, no test"
NO_SCORE = "no scored run"
IDENTICAL = "identical"
NO_VARIANCE = "no variance"


@dataclass(frozen=True)
class Observation:
    """One scored run: its replicate key (None when it lacks one), score, run dir and evaluated checkpoint."""

    key: tuple | None
    score: float
    run_dir: Path | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class Comparison:
    """One side against a reference side.

    delta: difference of means (side − reference); test: which test ran (WELCH, PERMUTATION, MCNEMAR, FISHER),
    "" when none; n_pairs: pairs (runs, or documents for McNemar) in a paired test, None when unpaired;
    p_value: raw two-sided p; p_adjusted: after `adjust_family` (None before, or when untested);
    seeds_for_80_power: seeds per group for 80 % power at `delta` when not significant (None: undefined);
    note: why there is no test ("n=1, no test", "identical", "baseline", ...), "" when tested.
    """

    delta: float | None = None
    test: str = ""
    n_pairs: int | None = None
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    seeds_for_80_power: int | None = None
    note: str = ""

    @property
    def significant(self) -> bool:
        """True when a test was made and its adjusted p < ALPHA."""
        return self.p_adjusted is not None and self.p_adjusted < ALPHA


def _mean(values) -> float:
    values = list(values)
    return math.fsum(values) / len(values)


def pairs_of(side: list[Observation], reference: list[Observation]) -> list[tuple[Observation, Observation]]:
    """The (side, reference) observations with equal replicate keys, when the two sides pair one to one
    (every key known, unique within its side, the same key set on both sides); [] otherwise."""
    keys, reference_keys = [o.key for o in side], [o.key for o in reference]
    if None in keys or None in reference_keys or len(set(keys)) != len(keys) or set(keys) != set(reference_keys):
        return []
    by_key = {o.key: o for o in reference}
    return [(o, by_key[o.key]) for o in side]


def read_examples(run_dir: Path | None) -> dict | None:
    """{document index: 0/1} from a run's EXAMPLES_FILE; None when absent, unreadable or not 0/1 throughout."""
    path = None if run_dir is None else Path(run_dir) / EXAMPLES_FILE
    if path is None or not path.is_file():
        return None
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        results = {int(row["index"]): row["correct"] for row in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not results or any(value not in (0, 1) for value in results.values()):
        return None
    return {index: int(value) for index, value in results.items()}


def mcnemar_over_documents(pairs: list[tuple[Observation, Observation]]) -> Comparison | None:
    """McNemar's exact test over documents, when every pair evaluated one checkpoint on the same documents with
    0/1 results in EXAMPLES_FILE; None when that does not hold (the next test then runs)."""
    from statsmodels.stats.contingency_tables import mcnemar

    table = [[0, 0], [0, 0]]  # rows: side correct 1/0; columns: reference correct 1/0
    for side, reference in pairs:
        if side.checkpoint is None or side.checkpoint != reference.checkpoint:
            return None
        mine, theirs = read_examples(side.run_dir), read_examples(reference.run_dir)
        if mine is None or theirs is None or mine.keys() != theirs.keys():
            return None
        for index, correct in mine.items():
            table[1 - correct][1 - theirs[index]] += 1
    result = mcnemar(table, exact=True)
    return Comparison(delta=_mean(s.score for s, _ in pairs) - _mean(r.score for _, r in pairs), test=MCNEMAR,
                      n_pairs=sum(map(sum, table)), statistic=float(result.statistic), p_value=float(result.pvalue))


def paired_permutation(pairs: list[tuple[Observation, Observation]]) -> Comparison | None:
    """The exact sign-flip permutation test of the mean paired difference (None with fewer than 2 pairs)."""
    import numpy as np
    from scipy import stats

    if len(pairs) < 2:
        return None
    side = np.array([s.score for s, _ in pairs])
    reference = np.array([r.score for _, r in pairs])
    delta = float(np.mean(side - reference))
    if np.all(side == reference):
        return Comparison(delta=delta, test=PERMUTATION, n_pairs=len(pairs), statistic=0.0, p_value=1.0)
    result = stats.permutation_test((side, reference), _mean_difference, permutation_type="samples",
                                    vectorized=True, rng=np.random.default_rng(RANDOM_SEED))
    return Comparison(delta=delta, test=PERMUTATION, n_pairs=len(pairs), statistic=float(result.statistic),
                      p_value=float(result.pvalue))


def _mean_difference(x, y, axis):
    return x.mean(axis=axis) - y.mean(axis=axis)


PAIRED_TESTS: list[Callable[[list], Comparison | None]] = [mcnemar_over_documents, paired_permutation]


def welch(values: list[float], reference: list[float]) -> Comparison:
    """Welch's two-sided t-test; a note instead where it is undefined (a side with n < 2, both sides constant).
    One constant side is fine (the test rests on the other's variance): scipy's warning is silenced for it."""
    from scipy import stats

    delta = _mean(values) - _mean(reference)
    if min(len(values), len(reference)) < 2:
        return Comparison(delta=delta, note=ONE_RUN)
    if len(set(values)) == 1 and len(set(reference)) == 1:
        return Comparison(delta=delta, note=IDENTICAL if delta == 0 else NO_VARIANCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(values, reference, equal_var=False)
    return Comparison(delta=delta, test=WELCH, statistic=float(result.statistic), p_value=float(result.pvalue))


def compare_observations(side: list[Observation], reference: list[Observation]) -> Comparison:
    """The comparison of two sides' scores: the first PAIRED_TESTS entry that applies when they pair, else Welch."""
    if not side or not reference:
        return Comparison(note=NO_SCORE)
    pairs = pairs_of(side, reference)
    for test in PAIRED_TESTS if pairs else ():
        found = test(pairs)
        if found is not None:
            return found
    return welch([o.score for o in side], [o.score for o in reference])


def fisher_solved(solved: int, n: int, reference_solved: int, reference_n: int) -> Comparison:
    """Fisher's exact test (two-sided) of two solve rates k/n; delta is the difference of the rates."""
    from scipy import stats

    if n == 0 or reference_n == 0:
        return Comparison(note=NO_SCORE)
    result = stats.fisher_exact([[solved, n - solved], [reference_solved, reference_n - reference_solved]])
    return Comparison(delta=solved / n - reference_solved / reference_n, test=FISHER,
                      statistic=float(result.statistic), p_value=float(result.pvalue))


def seeds_for_power(values: list[float], reference: list[float], alpha: float = ALPHA, power: float = POWER,
                    minimum: int = 2) -> int | None:
    """Seeds per group for a two-sided two-sample t-test at `alpha` to detect the observed difference of means
    with `power` (statsmodels TTestIndPower; effect size = difference / pooled std), at least `minimum` (the
    fewest runs with which the test that ran can reach `alpha`: `min_runs_for`). None when undefined: a side
    with n < 2, a pooled std or a difference of 0."""
    from statsmodels.stats.power import TTestIndPower

    n, m = len(values), len(reference)
    if min(n, m) < 2:
        return None
    delta = _mean(values) - _mean(reference)
    squares = math.fsum((v - _mean(values)) ** 2 for v in values) + math.fsum((v - _mean(reference)) ** 2
                                                                                for v in reference)
    pooled = math.sqrt(squares / (n + m - 2))
    if pooled == 0 or delta == 0:
        return None
    effect = abs(delta) / pooled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        needed = float(TTestIndPower().solve_power(effect_size=effect, alpha=alpha, power=power))
    if not math.isfinite(needed):  # the solver fails below 2 runs per group for effects this large
        return minimum if effect >= 1 else None
    return max(minimum, math.ceil(needed))


def min_runs_for(test: str, alpha: float = ALPHA) -> int:
    """The fewest runs per group with which `test` can give p < alpha: 2 for Welch; for the exact paired
    permutation test the n whose most extreme sign pattern has p = 2/2^n < alpha (6 at α = 0.05)."""
    if test == PERMUTATION:
        return math.floor(math.log2(2 / alpha)) + 1
    return 2


def check_adjustment(method: str) -> str:
    """`method` if it is one of ADJUSTMENTS, else a ValueError naming --adjust and the choices."""
    if method not in ADJUSTMENTS:
        raise ValueError(f"--adjust must be one of {', '.join(ADJUSTMENTS)}, got {method!r}")
    return method


def adjust_family(comparisons: list[Comparison], method: str = "holm") -> list[Comparison]:
    """`comparisons` with p_adjusted set over the family of those that have a p-value (statsmodels
    multipletests; "none" copies p), in the same order; untested ones are returned as they are."""
    from statsmodels.stats.multitest import multipletests

    check_adjustment(method)
    tested = [i for i, c in enumerate(comparisons) if c.p_value is not None]
    raw = [comparisons[i].p_value for i in tested]
    adjusted = raw if method == "none" or not raw else multipletests(raw, alpha=ALPHA,
                                                                     method=ADJUST_METHOD[method])[1]
    found = list(comparisons)
    for i, p_adjusted in zip(tested, adjusted):
        found[i] = replace(found[i], p_adjusted=min(1.0, float(p_adjusted)))
    return found


def with_power(comparison: Comparison, values: list[float], reference: list[float]) -> Comparison:
    """`comparison` with seeds_for_80_power set when it is tested by a test over runs (Welch, permutation) and
    not significant after adjustment."""
    if comparison.p_adjusted is None or comparison.significant or comparison.test not in (WELCH, PERMUTATION):
        return comparison
    return replace(comparison, seeds_for_80_power=seeds_for_power(values, reference,
                                                                   minimum=min_runs_for(comparison.test)))


def family_text(comparisons: list[Comparison], method: str) -> str:
    """"Holm over 32 comparisons" (the family: every tested comparison of one table)."""
    tested = sum(c.p_value is not None for c in comparisons)
    plural = "" if tested == 1 else "s"
    if method == "none":
        return f"no adjustment ({tested} comparison{plural})"
    return f"{ADJUSTMENTS[method]} over {tested} comparison{plural}"
