"""Write ablation.ipynb (outputs stripped) from the cells below: `python experiments/notebooks/make_ablation.py`.

The notebook is generated so its source stays reviewable as plain Python; edit the cells here,
rerun this script, and commit both files (tests/test_notebook.py checks they agree).
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).with_name("ablation.ipynb")

CELLS = [
    ("md", """# LSG attention ablation

1. the attention pattern of every registered sparse selector,
2. their outputs, speed and memory against full attention on one long input,
3. a sweep report (`lsgzoo report`) loaded from `LSGZOO_REPORT_DIR`
   (default `experiments/results/synthetic_selectors`),
4. a study's task × configuration matrix (mean ± CI over seeds) read from its report folder,
   `LSGZOO_STUDY_DIR` (default `experiments/results/suite/report`, else the committed sweep's report).

Sizes are kept small so the whole notebook runs in seconds on a 2-core CPU; raise `LENGTH`,
`HEADS` and `HEAD_DIM` for realistic numbers."""),
    ("code", """import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Image, Markdown, display
from torch.profiler import ProfilerActivity, profile

import lsgzoo
from lsgzoo import LSGAttention, LSGAttentionConfig, available_selectors
from lsgzoo.attention.pattern import attention_pattern, key_counts
from lsgzoo.demo import median_time
from lsgzoo.report import make_report
from lsgzoo.selectors import get_selector_class

%matplotlib inline
torch.manual_seed(0)
LENGTH, HEADS, HEAD_DIM, GLOBALS = 2048, 4, 32, 1         # the long input
BLOCK, SPARSE_BLOCK, FACTOR = 64, 64, 4                    # LSG settings compared
REPEATS = 3                                                # timed forward passes (median)


def repo_root() -> Path:
    here = Path.cwd().resolve()
    return next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), here)


REPORT_DIR = Path(os.environ.get("LSGZOO_REPORT_DIR", repo_root() / "experiments/results/synthetic_selectors"))
STUDY_DIR = Path(os.environ.get("LSGZOO_STUDY_DIR", next(
    (path for path in (repo_root() / "experiments/results/suite/report",
                       repo_root() / "experiments/results/synthetic_selectors/report") if path.is_dir()),
    repo_root() / "experiments/results/suite/report")))
SELECTORS = available_selectors()
print(f"lsgzoo {lsgzoo.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads")
print("registered selectors:", ", ".join(SELECTORS))"""),
    ("md", """## 1. Who attends to whom

One panel per selector: 256 tokens, block 16, factor 2, first head (rows = queries, columns =
keys, the global token first). For the data-dependent selectors (norm, lsh) the keys are random,
so the panel shows one actual choice."""),
    ("code", """def pattern_config(name):
    return LSGAttentionConfig(block_size=16, sparse_block_size=16, sparsity_factor=2,
                              sparsity_type=name, num_global_tokens=GLOBALS)


columns = 4
rows = -(-len(SELECTORS) // columns)
fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.3 * rows), squeeze=False)
for ax, name in zip(axes.flat, SELECTORS):
    keys = torch.randn(1, 4, 256, 8) if get_selector_class(name).data_dependent else None
    pattern = attention_pattern(pattern_config(name), 256, num_heads=4, keys=keys)
    ax.imshow(pattern.connectivity[0].numpy(), cmap="Greys", interpolation="nearest")
    ax.set_title(f"{name}: {pattern.keys_per_query().float().mean():.0f} keys/query", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
for ax in list(axes.flat)[len(SELECTORS):]:
    ax.axis("off")
fig.suptitle("LSG connectivity per selector (head 0; 257 keys would be full attention)")
fig.tight_layout()
plt.show()"""),
    ("md", """## 2. Outputs, speed and memory on one long input

A retrieval-style input of shape (1, heads, globals + tokens, head_dim): every query is a scaled
copy of one key, a key in its own block for half of the queries and a key anywhere in the sequence
for the other half, so full attention essentially copies that key's value. The relative difference
to full attention (Frobenius norm) then shows how much of the long-range half each selector's
sparse tokens recover (the local half is within every variant's reach; `none`, local + global
only, misses the whole long-range half). It says nothing about learned quality, which the sweep
report below measures. The row `lsg, block ≥ t/2` is LSG with a block so large
that it falls back to full attention: a check of the comparison itself (≈ 0). `keys/query` counts
the key entries each query sees (full attention: every token). Memory is the peak of the tensors
torch allocates in one forward pass (torch profiler), time the median of `REPEATS` passes."""),
    ("code", """def peak_mb(fn):
    \"\"\"Peak of torch's CPU allocations during fn(), from the profiler's per-op memory records.\"\"\"
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    steps = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    current = peak = 0
    for _, delta in steps:
        current += delta
        peak = max(peak, current)
    return peak / 2**20


def retrieval_input():
    \"\"\"q, k, v (1, h, g + t, dh): query i is 3·k[target(i)], target local for even i, anywhere for odd i.\"\"\"
    total = GLOBALS + LENGTH
    k, v = torch.randn(2, 1, HEADS, total, HEAD_DIM)
    position = torch.arange(total)
    local = (position + torch.randint(-BLOCK // 2, BLOCK // 2, (total,))).clamp(0, total - 1)
    target = torch.where(position % 2 == 0, local, torch.randint(0, total, (total,)))
    return 3 * k[:, :, target], k, v


q, k, v = retrieval_input()
candidates = {"full (sdpa)": lambda: F.scaled_dot_product_attention(q, k, v)}
for name in SELECTORS:
    config = LSGAttentionConfig(block_size=BLOCK, sparse_block_size=SPARSE_BLOCK, sparsity_factor=FACTOR,
                                sparsity_type=name, num_global_tokens=GLOBALS, num_heads=HEADS)
    candidates[name] = LSGAttention(config).eval()
candidates["lsg, block ≥ t/2"] = LSGAttention(LSGAttentionConfig(block_size=LENGTH, num_global_tokens=GLOBALS)).eval()

results = {}
with torch.no_grad():
    reference = candidates["full (sdpa)"]()
    for name, attend in candidates.items():
        run = attend if name == "full (sdpa)" else (lambda attend=attend: attend(q, k, v))
        out = run()
        keys = key_counts(attend.config, LENGTH, HEADS).float().mean().item() if name != "full (sdpa)" else None
        results[name] = {"rel_diff": ((out - reference).norm() / reference.norm()).item(),
                         "keys": keys or GLOBALS + LENGTH, "seconds": median_time(run, REPEATS), "peak_mb": peak_mb(run)}

print(f"{'attention':<20}{'rel. diff':>10}{'keys/query':>12}{'forward ms':>12}{'peak MB':>10}")
for name, r in results.items():
    print(f"{name:<20}{r['rel_diff']:>10.4f}{r['keys']:>12.0f}{1000 * r['seconds']:>12.1f}{r['peak_mb']:>10.1f}")"""),
    ("code", """names = list(results)
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for ax, (field, label) in zip(axes, [("rel_diff", "relative difference to full attention"),
                                     ("seconds", "forward time (s)"), ("peak_mb", "peak memory (MB)")]):
    ax.barh(names, [results[n][field] for n in names], color="tab:blue")
    ax.set_xlabel(label)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
fig.suptitle(f"{LENGTH} tokens, {HEADS} heads × {HEAD_DIM}, block {BLOCK}, "
             f"sparse block {SPARSE_BLOCK}, factor {FACTOR}")
fig.tight_layout()
plt.show()"""),
    ("md", """## 3. A sweep report

`make_report` is what `lsgzoo report MULTIRUN_DIR` runs: it reads every run dir's `summary.json`
(here the committed summaries of a sweep), ranks the runs by their monitored metric and draws the
plots. They are written to a temporary folder, so the results folder is left untouched."""),
    ("code", """if REPORT_DIR.is_dir():
    report = make_report(REPORT_DIR, out=Path(tempfile.mkdtemp(prefix="lsgzoo-report-")))
    display(Markdown(report.markdown))
    print(report.best_line())
    for path in report.files.values():
        if path.suffix == ".png":
            display(Image(filename=str(path)))
else:
    print(f"no sweep at {REPORT_DIR}: run one (README, Sweeps) or set LSGZOO_REPORT_DIR")"""),
    ("md", """## 4. The task suite: task × configuration

A study's report folder (what `lsgzoo report` wrote, committed without checkpoints), read as it is:
`groups.csv` holds one row per task and configuration with the mean and its 95 % bootstrap interval over seeds
(`interval_low`, `interval_high`; reports written before the bootstrap intervals have `ci95_halfwidth`), and
`significant` when `--baseline` found the difference to the baseline significant after adjustment (marked *). One panel per task; `full` is the ceiling and `none` the floor (README, Task suite)."""),
    ("code", """import csv


def read_groups(report_dir: Path) -> tuple[str, list[str], list[dict]]:
    \"\"\"(metric, configuration columns, rows) of a report folder's groups.csv.\"\"\"
    with open(report_dir / "groups.csv") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    columns = reader.fieldnames
    keys = columns[columns.index("task") + 1:columns.index("metric")]
    return (rows[0]["metric"] if rows else ""), keys, rows


def number(text: str) -> float:
    return float(text) if text else float("nan")


def interval_errors(row: dict) -> tuple[float, float]:
    \"\"\"(below, above) the mean: from interval_low/high, or the older reports' symmetric ci95_halfwidth.\"\"\"
    if "interval_low" not in row:
        half = number(row["ci95_halfwidth"]) if row["ci95_halfwidth"] else 0.0
        return half, half
    if not row["interval_low"]:
        return 0.0, 0.0
    mean = number(row["mean"])
    return mean - number(row["interval_low"]), number(row["interval_high"]) - mean


def draw_matrix(report_dir: Path) -> None:
    \"\"\"One bar chart per task: every configuration's mean with its CI, * where it beats or trails the baseline.\"\"\"
    metric, keys, rows = read_groups(report_dir)
    tasks = sorted({row["task"] for row in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 0.45 * len(rows) / len(tasks) + 1.8),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        cells = [row for row in rows if row["task"] == task]
        labels = [" · ".join(row[key] for key in keys) or "all runs" for row in cells]
        means = [number(row["mean"]) for row in cells]
        errors = [interval_errors(row) for row in cells]
        ax.barh(labels, means, xerr=list(zip(*errors)) if errors else None, color="tab:blue", capsize=3)
        for y, row in enumerate(cells):
            if row["significant"] == "True":
                ax.annotate("*", (means[y] + errors[y][1], y), xytext=(4, -4), textcoords="offset points")
        ax.set_title(task)
        ax.set_xlabel(f"{metric} (mean, 95 % interval)")
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    display(fig)  # not plt.show(): make_report above switched matplotlib to its Agg backend
    plt.close(fig)


if (STUDY_DIR / "groups.csv").is_file():
    matrix = STUDY_DIR / "matrix.md"
    display(Markdown((matrix if matrix.is_file() else STUDY_DIR / "groups.md").read_text()))
    draw_matrix(STUDY_DIR)
else:
    print(f"no study report at {STUDY_DIR}: run experiment=suite and `lsgzoo report` (README, Task suite) "
          "or set LSGZOO_STUDY_DIR")"""),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    return notebook


if __name__ == "__main__":
    nbformat.write(build(), NOTEBOOK)
    print(f"wrote {NOTEBOOK}")
