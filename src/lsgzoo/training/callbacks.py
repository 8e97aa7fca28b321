"""Lightning callbacks and measurements for the run summary: training throughput and peak memory."""

import resource
import time
from pathlib import Path

import lightning as L
import torch

CLEAR_REFS = Path("/proc/self/clear_refs")
PROC_STATUS = Path("/proc/self/status")
RESET_PEAK_RSS = "5"  # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS


def peak_memory_mb(device: torch.device | None = None) -> float:
    """Peak GPU memory allocated on CUDA, else this process's lifetime peak resident set size."""
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class PeakMemory:
    """The peak memory of one job, even when several jobs run one after the other in one process.

    `reset()` at the job's start: on CUDA it resets torch's allocator peak; on CPU it resets the
    process's peak resident set size (Linux `/proc/self/clear_refs`), so the figure is the highest
    RSS since the job began (what the process already held counts). Where the reset is refused the
    figure falls back to the process-lifetime peak and `per_job` is False.
    """

    def __init__(self):
        self.per_job = False

    def reset(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        try:
            CLEAR_REFS.write_text(RESET_PEAK_RSS)
            self.per_job = True
        except OSError:
            self.per_job = False

    def peak_mb(self, device: torch.device | None = None) -> float:
        """Peak GPU memory allocated on CUDA, else the peak RSS (since `reset()` when `per_job`)."""
        if self.per_job and (device is None or device.type != "cuda"):
            return peak_rss_kib() / 1024
        return peak_memory_mb(device)


def peak_rss_kib() -> int:
    """VmHWM of /proc/self/status: the peak resident set size in KiB since start or the last reset."""
    for line in PROC_STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise OSError(f"{PROC_STATUS} has no VmHWM line")


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


class EvaluationRecorder(L.Callback):
    """Times validation/test batches, counts their real source tokens and keeps every document's prediction.

    rows: (prediction, reference) per document in loader order, which is the split's order in a
    single-process unshuffled evaluation: row i is document i. Predictions come from the modules'
    evaluation steps ({"predictions": ...}); references are the batch's target texts or class ids.
    """

    def __init__(self):
        self.time_s = 0.0
        self.tokens = 0
        self.rows: list[tuple] = []
        self._start = None

    def _batch_start(self, *args, **kwargs):
        self._start = time.perf_counter()

    def _batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        if self._start is not None:
            self.time_s += time.perf_counter() - self._start
            self._start = None
        self.tokens += int(batch["attention_mask"].sum())
        predictions = outputs["predictions"]
        predictions = predictions.tolist() if torch.is_tensor(predictions) else list(predictions)
        references = list(batch["target"]) if "target" in batch else batch["labels"].tolist()
        self.rows.extend(zip(predictions, references, strict=True))

    on_validation_batch_start = on_test_batch_start = _batch_start
    on_validation_batch_end = on_test_batch_end = _batch_end

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.time_s if self.time_s else 0.0
