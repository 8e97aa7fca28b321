"""experiments/notebooks/ablation.ipynb runs top to bottom (nbclient) against a fabricated sweep."""

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from test_report import summary, write_run  # noqa: E402  (tests/ is on sys.path, see conftest.py)
from test_report_full_attention import write_run as write_study_run  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "experiments" / "notebooks"


def load_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_ablation", NOTEBOOKS / "make_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebook_is_stripped_and_matches_its_generator():
    committed = nbformat.read(NOTEBOOKS / "ablation.ipynb", as_version=4)
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in committed.cells if cell.cell_type == "code")
    assert [c.source for c in committed.cells] == [c.source for c in load_generator().build().cells]


def outputs_text(cell) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", "")) for o in cell.outputs)


def test_notebook_executes_and_shows_patterns_comparison_and_report(tmp_path, monkeypatch):
    from lsgzoo import available_selectors

    for job, (kind, score) in enumerate([("norm", 0.7), ("pooling", 0.8), ("lsh", 0.6)]):
        write_run(tmp_path / "sweep" / str(job), summary(kind, 32, 2, score), checkpoint=False)
    write_run(tmp_path / "sweep" / "3", summary("stride", 32, 4, None, status="failed"), checkpoint=False)
    monkeypatch.setenv("LSGZOO_REPORT_DIR", str(tmp_path / "sweep"))
    monkeypatch.setenv("LSGZOO_STUDY_DIR", str(fabricated_study(tmp_path)))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    notebook = load_generator().build()
    client = nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    images = [sum("image/png" in o.get("data", {}) for o in cell.outputs) for cell in code]
    setup, patterns, comparison, bars, report, study = code
    assert "registered selectors:" in outputs_text(setup)
    assert images[1] == 1 and images[3] == 1  # the pattern grid, the comparison bars
    table = outputs_text(comparison)
    rows = {m.group(1).strip(): dict(zip(("diff", "keys", "ms", "mb"), map(float, m.group(2, 3, 4, 5))))
            for m in re.finditer(r"^(.{20})\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", table, re.M)}
    assert set(available_selectors()) | {"full (sdpa)", "lsg, block ≥ t/2"} <= set(rows)
    full, fallback, local = rows["full (sdpa)"], rows["lsg, block ≥ t/2"], rows["none"]
    assert fallback["diff"] < 1e-4 and fallback["keys"] == full["keys"] == 2049  # LSG's full fallback = full
    sparse = [name for name in available_selectors() if name != "none"]
    for name in available_selectors():  # sparse attention sees fewer keys and misses long-range targets
        assert 0.1 < rows[name]["diff"] < 1 and rows[name]["keys"] < full["keys"]
    assert min(rows[name]["diff"] for name in sparse) < local["diff"]  # sparse tokens recover some of them
    score_matrix_mb = 4 * (2048 + 1) ** 2 * 4 / 2**20  # heads × (g + t)² fp32: what eager full attention stores
    assert 0 < local["mb"] < score_matrix_mb / 4  # local + global stays far below a materialised score matrix
    shown = outputs_text(report)
    assert "best run by val/answer_accuracy (max): 1 = 0.8" in shown and "**FAILED**" in shown
    assert images[4] >= 3  # metric vs block size / sparsity factor, quality vs cost
    matrix = outputs_text(study)
    assert "| sparsity_type | block_size | sparse_block_size | sparsity_factor | linked_pairs | mqar |" in matrix
    assert "| full | 256 | 0 | 1 |" in matrix and images[5] == 1  # the matrix table, one chart of two panels


def fabricated_study(tmp_path):
    """A 2-task study (none, full × 2 seeds) reported with --baseline; returns its report folder."""
    from lsgzoo.report import make_report

    job = 0
    for task in ("linked_pairs", "mqar"):
        for block, scores in ((8, (0.1, 0.2)), (256, (0.8, 0.9))):
            for seed, score in enumerate(scores):
                write_study_run(tmp_path / "study" / str(job), task, "none", block, seed, score)
                job += 1
    return make_report(tmp_path / "study", tmp_path / "study" / "report", baseline="sparsity_type=none").out
