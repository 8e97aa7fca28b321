"""Lightning callbacks and measurements for the run summary: training throughput (Lightning's
`ThroughputMonitor`, fed token counts and model FLOPs) and peak memory."""

import resource
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ThroughputMonitor
from lightning.pytorch.trainer.states import RunningStage

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


THROUGHPUT_WINDOW = 10  # batches per logged rolling rate (train/device/items_per_sec, …/flops_per_sec, …/mfu)


def batch_tokens(batch: dict) -> int:
    """Real (unpadded) source tokens of a batch: the host-side count `TextDataModule.collate` stores (no device sync)."""
    return batch["num_tokens"]


def throughput_monitor() -> ThroughputMonitor:
    """Lightning's monitor: samples, source tokens (`batch_tokens`) and the module's `flops_per_batch`."""
    return ThroughputMonitor(batch_size_fn=lambda batch: len(batch["input_ids"]), length_fn=batch_tokens,
                             window_size=THROUGHPUT_WINDOW)


class BatchFlops(L.Callback):
    """Sets `module.flops_per_batch` (what `ThroughputMonitor` reads) before each batch.

    flops_fn(batch) → analytic FLOPs of one forward; training counts forward + backward (3×), evaluation
    batches none (generation is not a forward pass of the batch).
    """

    def __init__(self, flops_fn):
        self.flops_fn = flops_fn
        self.train_flops = 0.0  # every training batch's, summed

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        module.flops_per_batch = 3 * self.flops_fn(batch)
        self.train_flops += module.flops_per_batch

    def on_validation_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0):
        module.flops_per_batch = None

    on_test_batch_start = on_validation_batch_start


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
        self.tokens += batch_tokens(batch)
        predictions = outputs["predictions"]
        predictions = predictions.tolist() if torch.is_tensor(predictions) else list(predictions)
        references = list(batch["target"]) if "target" in batch else batch["labels"].tolist()
        self.rows.extend(zip(predictions, references, strict=True))

    on_validation_batch_start = on_test_batch_start = _batch_start
    on_validation_batch_end = on_test_batch_end = _batch_end

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.time_s if self.time_s else 0.0


def training_throughput(monitor: ThroughputMonitor, train_flops: float) -> dict:
    """Whole-run figures from the monitor's training counters (cumulative; validation time excluded):
    train_tokens_per_s, train_time_s, train_batches, and train_mfu (model FLOPs / time / the device's peak,
    None where Lightning knows no peak, e.g. on CPU). All ranks' tokens are not summed: this rank's count."""
    throughput = monitor._throughputs.get(RunningStage.TRAINING)
    if throughput is None or not throughput._time:
        return {"train_tokens_per_s": 0.0, "train_time_s": 0.0, "train_batches": 0, "train_mfu": None}
    seconds, tokens = throughput._time[-1], monitor._lengths[RunningStage.TRAINING]
    batches = monitor._batches[RunningStage.TRAINING]
    flops = train_flops
    mfu = flops / seconds / monitor.available_flops if monitor.available_flops and flops and seconds else None
    return {"train_tokens_per_s": tokens / seconds if seconds else 0.0, "train_time_s": seconds,
            "train_batches": batches, "train_mfu": mfu}
