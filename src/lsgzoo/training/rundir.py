"""A training run dir: its layout, summary.json, and reading the trained model back without Lightning.

Layout: tokenizer/, model/config.json (the LSG-BART config), checkpoints/best.ckpt + last.ckpt
(Lightning checkpoints: `state_dict` keys are the model's with a "model." prefix),
metrics/version_N/{metrics.csv, hparams.yaml} (CSV logger; N counts resumes), wandb/ (offline W&B run), summary.json.

summary.json (written by the process of global rank 0 only: status "running" when training starts, then
"completed", or on any exception "failed" — "interrupted" when a stop signal caused it — with the error's
traceback): status, error, process {pid, host, started} (the process that runs or ran the job),
task, data, monitor, monitor_mode, best_score, metrics {name: float}, attention {key: value},
overrides, seed, num_parameters, train_tokens_per_s (real source tokens per second of training, from
Lightning's ThroughputMonitor), train_mfu (encoder model-FLOPs utilisation; null where the device's peak is
unknown, e.g. CPU), peak_memory_mb (this job's peak),
peak_memory_scope ("job", or "process" where the peak could not be reset), train_time_s, global_step,
train_batches (this process's training batches; fewer than global_step after a resume), world_size,
best_checkpoint (relative to the run dir), length_statistics, attention_kernels_compiled and
attention_compile_s (compiled FlexAttention kernels of this run and the seconds their first calls took),
attention_fallbacks (why the compiled kernel was not used, one reason each; empty when it always was).
"""

import json
import os
import sys
from pathlib import Path

CHECKPOINT_DIR = "checkpoints"
METRICS_DIR = "metrics"
MODEL_CONFIG_DIR = "model"
TOKENIZER_DIR = "tokenizer"
SUMMARY_FILE = "summary.json"
RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"


RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def is_global_rank_zero() -> bool:
    """True unless the launcher's environment or Lightning (when loaded) says this process has another rank."""
    if any(os.environ.get(name, "0") not in ("", "0") for name in RANK_VARIABLES):
        return False
    rank_zero = sys.modules.get("lightning.fabric.utilities.rank_zero")
    return rank_zero is None or getattr(rank_zero.rank_zero_only, "rank", 0) == 0


def write_summary(run_dir: Path, summary: dict) -> Path | None:
    """Write summary.json atomically from global rank 0 (None elsewhere).

    The text goes to a temp file named after this process in the same folder, is fsynced, then
    renamed over summary.json, so a reader sees the old file or the whole new one, never a torn one.
    """
    if not is_global_rank_zero():
        return None
    path = Path(run_dir) / SUMMARY_FILE
    tmp = path.with_name(f".{SUMMARY_FILE}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(json.dumps(summary, indent=2, default=_plain))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


class SummaryError(ValueError):
    """A run dir's summary.json exists but is not a JSON object (truncated, damaged, not UTF-8)."""


def read_summary(run_dir: Path) -> dict | None:
    """The run's summary.json as a dict; None when there is none; `SummaryError` (naming the file) when it
    cannot be read as a JSON object."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SummaryError(f"{path}: unreadable {SUMMARY_FILE}: {error}") from None
    if not isinstance(summary, dict):
        raise SummaryError(f"{path}: {SUMMARY_FILE} holds a JSON {type(summary).__name__}, not an object")
    return summary


def this_process() -> dict:
    """{pid, host, started}: this process, as a summary records it (`started`: its creation time, epoch s)."""
    import socket

    import psutil

    return {"pid": os.getpid(), "host": socket.gethostname(), "started": psutil.Process().create_time()}


def process_alive(process: dict | None) -> bool:
    """Whether the process a summary recorded (`this_process`) still runs: same host, same pid, same
    creation time (a reused pid is another process). A process on another host cannot be checked: False."""
    import socket

    import psutil

    if not process or process.get("host") != socket.gethostname():
        return False
    try:
        return abs(psutil.Process(int(process["pid"])).create_time() - float(process["started"])) < 1.0
    except psutil.AccessDenied:  # it exists, under another user
        return True
    except (psutil.NoSuchProcess, KeyError, TypeError, ValueError):  # a zombie is a NoSuchProcess
        return False


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
    from transformers import AutoTokenizer

    from lsgzoo.models import lsg_class_for

    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise ValueError(f"{run_dir} is not a training run dir (needs {MODEL_CONFIG_DIR}/config.json and "
                         f"{CHECKPOINT_DIR}/)")
    state = checkpoint_model_state(run_checkpoint(run_dir, which))
    model_class = lsg_class_for(run_dir / MODEL_CONFIG_DIR)
    model = model_class(model_class.config_class.from_pretrained(str(run_dir / MODEL_CONFIG_DIR)))
    model.load_state_dict(state, strict=True)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / TOKENIZER_DIR)) if (run_dir / TOKENIZER_DIR).is_dir() else None
    return model, tokenizer


def checkpoint_model_state(path) -> dict:
    """The model's state dict in a Lightning checkpoint (its `state_dict` without the "model." prefix), verified first."""
    import torch

    from lsgzoo.training.checkpoints import verify_checkpoint

    checkpoint = torch.load(verify_checkpoint(path), map_location="cpu", weights_only=True)
    return {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()
            if key.startswith("model.")}
