"""A training run dir: its layout, summary.json, and reading the trained model back without Lightning.

Layout: tokenizer/, model/config.json (the LSG-BART config), checkpoints/best.ckpt + last.ckpt
(Lightning checkpoints: `state_dict` keys are the model's with a "model." prefix),
metrics/version_N/{metrics.csv, hparams.yaml} (CSV logger; N counts resumes), wandb/ (offline W&B run), summary.json.

summary.json (written on success and, with status "failed", on an exception): status, error,
task, data, monitor, monitor_mode, best_score, metrics {name: float}, attention {key: value},
overrides, seed, num_parameters, train_tokens_per_s, peak_memory_mb, train_time_s, global_step,
train_batches (this process's training batches; fewer than global_step after a resume), world_size,
best_checkpoint (relative to the run dir), length_statistics.
"""

import json
import os
from pathlib import Path

CHECKPOINT_DIR = "checkpoints"
METRICS_DIR = "metrics"
MODEL_CONFIG_DIR = "model"
TOKENIZER_DIR = "tokenizer"
SUMMARY_FILE = "summary.json"


def write_summary(run_dir: Path, summary: dict) -> Path:
    """Write summary.json atomically (a temp file renamed into place)."""
    path = Path(run_dir) / SUMMARY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, default=_plain))
    os.replace(tmp, path)
    return path


def read_summary(run_dir: Path) -> dict | None:
    path = Path(run_dir) / SUMMARY_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _plain(value):
    if hasattr(value, "tolist"):  # tensors and numpy values
        return value.tolist()
    return str(value)


def is_run_dir(path) -> bool:
    path = Path(path)
    return (path / MODEL_CONFIG_DIR / "config.json").is_file() and (path / CHECKPOINT_DIR).is_dir()


def run_checkpoint(run_dir, which: str = "best") -> Path:
    """checkpoints/best.ckpt (the summary's best_checkpoint when recorded) or checkpoints/last.ckpt."""
    run_dir = Path(run_dir)
    if which not in ("best", "last"):
        raise ValueError(f"which={which!r}: use best or last")
    summary = read_summary(run_dir) or {}
    recorded = summary.get("best_checkpoint") if which == "best" else None
    path = run_dir / recorded if recorded else run_dir / CHECKPOINT_DIR / f"{which}.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; did the run reach a validation (best) or a checkpoint "
                                "step (last)?")
    return path


def load_run_model(run_dir, which: str = "best"):
    """(model, tokenizer) of a training run: the LSG-BART class named in model/config.json with the checkpoint's weights."""
    import torch
    from transformers import AutoTokenizer

    from lsgzoo.models import lsg_class_for

    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise ValueError(f"{run_dir} is not a training run dir (needs {MODEL_CONFIG_DIR}/config.json and "
                         f"{CHECKPOINT_DIR}/)")
    from lsgzoo.training.checkpoints import verify_checkpoint

    checkpoint = torch.load(verify_checkpoint(run_checkpoint(run_dir, which)), map_location="cpu", weights_only=True)
    state = {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()
             if key.startswith("model.")}
    model_class = lsg_class_for(run_dir / MODEL_CONFIG_DIR)
    model = model_class(model_class.config_class.from_pretrained(str(run_dir / MODEL_CONFIG_DIR)))
    model.load_state_dict(state, strict=True)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / TOKENIZER_DIR)) if (run_dir / TOKENIZER_DIR).is_dir() else None
    return model, tokenizer
