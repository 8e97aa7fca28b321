"""Training-step overhead of lsgzoo's Lightning module over the bare model (bench row "lightning").

Both sides train the same LSG-BART (BART-base dims) on the same batch: `length` source tokens,
64 target tokens, AdamW. The bare side runs forward, backward, optimizer step and zero_grad in a
loop, before and after the Lightning side (so drift of the machine cancels); the Lightning side
runs `Trainer.fit` with `Seq2SeqModule` for the same number of steps (no logger, checkpointing
or progress bar, as in a timed run) and is timed per batch by `PerBatchTimes`. Returns medians and
the overhead ratio. On CUDA both sides synchronise at the
end of each step, and bf16 runs Lightning with `precision="bf16-true"` (the bare model cast to bf16).
"""

import statistics
import time

import lightning as L
import torch
from torch.utils.data import DataLoader

from lsgzoo.bench.worker import synchronize
from lsgzoo.models import LSGBartConfig, LSGBartForConditionalGeneration
from lsgzoo.training.callbacks import peak_memory_mb
from lsgzoo.training.module import Seq2SeqModule


def training_step_overhead(job: dict) -> dict:
    dims, length, steps = job["dims"], job["length"], job.get("iterations", 2) + 1
    device = torch.device(job.get("device", "cpu"))
    bf16 = job.get("dtype") == "bf16"
    config = LSGBartConfig(
        vocab_size=dims["vocab"], d_model=dims["d_model"], encoder_layers=dims["layers"],
        decoder_layers=dims["layers"], encoder_attention_heads=dims["heads"], decoder_attention_heads=dims["heads"],
        encoder_ffn_dim=dims["ffn"], decoder_ffn_dim=dims["ffn"], max_position_embeddings=length,
        block_size=128, sparse_block_size=128, sparsity_factor=2, sparsity_type="norm", dropout=0.0,
        attention_dropout=0.0)
    generator = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(4, dims["vocab"], (1, length), generator=generator),
             "attention_mask": torch.ones(1, length, dtype=torch.long),
             "labels": torch.randint(4, dims["vocab"], (1, 64), generator=generator), "target": ["x"]}
    optim = {"lr": 1e-4, "weight_decay": 0.0, "betas": [0.9, 0.999], "eps": 1e-8, "scheduler": "constant",
             "warmup_steps": 0}

    torch.manual_seed(0)
    model = LSGBartForConditionalGeneration(config).to(device, torch.bfloat16 if bf16 else torch.float32).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    on_device = {key: batch[key].to(device) for key in ("input_ids", "attention_mask", "labels")}

    def bare_steps():
        seconds = []
        for _ in range(steps):
            start = time.perf_counter()
            model(**on_device).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            synchronize(device)
            seconds.append(time.perf_counter() - start)
        return seconds[1:]

    bare = bare_steps()
    bare_peak = peak_memory_mb(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    torch.manual_seed(0)
    module = Seq2SeqModule(LSGBartForConditionalGeneration(config), None, optim, {}, [])
    loader = DataLoader([batch] * steps, batch_size=None)
    monitor = PerBatchTimes()
    trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                        precision="bf16-true" if bf16 else "32-true", max_steps=steps, logger=False,
                        enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[monitor],
                        num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, train_dataloaders=loader)
    bare += bare_steps()  # bare steps before and after the Lightning ones, so drift of the machine cancels
    bare_median = statistics.median(bare)
    lightning_median = statistics.median(monitor.seconds[1:])
    return dict(seconds=[lightning_median], lightning_seconds=monitor.seconds[1:], bare_seconds=bare,
                bare_seconds_median=bare_median, overhead=lightning_median / bare_median - 1,
                tokens_per_second=length / lightning_median, peak_bytes=int(peak_memory_mb(device) * 2**20),
                bare_peak_bytes=int(bare_peak * 2**20))


class PerBatchTimes(L.Callback):
    """Each training batch's time (forward, backward, optimizer), synchronised with the device at its end."""

    def __init__(self):
        self.seconds = []
        self._start = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        synchronize(module.device)
        self.seconds.append(time.perf_counter() - self._start)
