"""Run-dir bookkeeping: throughput/memory measurement and `summary.json`.

summary.json (one per run dir; written on success and, with status "failed", on an exception):
status, error, task, data, monitor, monitor_mode, best_score, metrics {name: float},
attention {key: value}, overrides, seed, num_parameters, train_tokens_per_s, peak_memory_mb,
train_time_s, global_step, best_checkpoint (relative to the run dir), length_statistics.
"""

import json
import os
import resource
import time
from pathlib import Path

import lightning as L
import torch

SUMMARY_FILE = "summary.json"


def peak_memory_mb(device: torch.device | None = None) -> float:
    """Peak GPU memory allocated on CUDA, else this process's peak resident set size."""
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class ThroughputMonitor(L.Callback):
    """Times training batches (forward, backward, optimizer) and counts their real source tokens."""

    def __init__(self):
        self.train_time_s = 0.0
        self.tokens = 0
        self._start = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self._start is None:
            return
        self.train_time_s += time.perf_counter() - self._start
        self.tokens += int(batch["attention_mask"].sum()) * trainer.world_size
        self._start = None
        if self.train_time_s > 0:
            module.log("train/tokens_per_s", self.tokens / self.train_time_s, on_step=True, on_epoch=False)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_time_s if self.train_time_s else 0.0


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
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
