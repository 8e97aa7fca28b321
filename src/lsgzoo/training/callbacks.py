"""Lightning callbacks and measurements for the run summary: training throughput and peak memory."""

import resource
import time

import lightning as L
import torch


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
        self.batches = 0
        self._start = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self._start is None:
            return
        self.train_time_s += time.perf_counter() - self._start
        self.tokens += int(batch["attention_mask"].sum()) * trainer.world_size
        self.batches += 1
        self._start = None
        if self.train_time_s > 0:
            module.log("train/tokens_per_s", self.tokens / self.train_time_s, on_step=True, on_epoch=False)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_time_s if self.train_time_s else 0.0
