"""A real 4-run Hydra multirun of `lsgzoo.train`, then `lsgzoo report` and `--export-best`,
and the exported folder loaded with plain transformers (trust_remote_code, no lsgzoo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from test_conversion_export import REPO_SRC, WITHOUT_LSGZOO
from test_training import TINY

SWEEP = ["attention.sparsity_type=none,pooling", "attention.block_size=8,16"]


def test_multirun_report_and_best_export(tmp_path):
    sweep_dir = tmp_path / "multirun"
    env = {**os.environ, "WANDB_SILENT": "true"}
    overrides = [o for o in TINY if not o.startswith("attention.block_size")]
    overrides += ["attention.sparse_block_size=8", "trainer.max_steps=4", "trainer.val_check_interval=4",
                  "test_after_training=false", "logger=csv", f"hydra.sweep.dir={sweep_dir}"]
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", "-m", *SWEEP, *overrides], capture_output=True,
                            text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in sweep_dir.iterdir() if (p / "summary.json").exists())
    assert len(runs) == 4
    summaries = [json.loads((run / "summary.json").read_text()) for run in runs]
    assert {(s["attention"]["sparsity_type"], s["attention"]["block_size"]) for s in summaries} == {
        ("none", 8), ("none", 16), ("pooling", 8), ("pooling", 16)}
    assert all(s["status"] == "completed" and s["global_step"] == 4 for s in summaries)

    out = tmp_path / "best"
    report = subprocess.run([sys.executable, "-m", "lsgzoo", "report", str(sweep_dir), "--export-best", str(out)],
                            capture_output=True, text=True, env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    report_dir = sweep_dir / "report"
    table = (report_dir / "sweep.csv").read_text().strip().splitlines()
    assert len(table) == 5, table
    for plot in ("metric_vs_block_size.png", "quality_vs_cost.png"):
        assert (report_dir / plot).stat().st_size > 1000
    best = json.loads((report_dir / "report.json").read_text())["best"]
    card = (out / "README.md").read_text()
    assert "Sweep" in card and "pooling" in card and "Training run" in card

    script = (
        WITHOUT_LSGZOO.format(src=REPO_SRC) + "import torch\n"
        "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer\n"
        f"m = AutoModelForSeq2SeqLM.from_pretrained({str(out)!r}, trust_remote_code=True).eval()\n"
        f"t = AutoTokenizer.from_pretrained({str(out)!r})\n"
        "ids = t('w0 k1 ' * 60, return_tensors='pt').input_ids\n"
        "print(type(m).__name__, type(m.model.encoder).__name__, m.generate(ids, max_new_tokens=3).shape[0])\n"
    )
    clean = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    loaded = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, env=clean,
                            cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split()[:3] == ["LSGBartForConditionalGeneration", "LSGBartEncoder", "1"]
    assert Path(best["run_dir"]).name in {run.name for run in runs}
