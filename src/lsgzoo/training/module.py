"""Lightning modules around an LSG-BART model.

`Seq2SeqModule`: teacher-forced cross-entropy for training; validation/test also decode with
`generate` and score the text with the configured metrics (ROUGE etc.), each the mean over every
example of every rank (`TextMetricMeans`). A validation/test step returns {"predictions": the batch's
decoded texts or class ids}, which `callbacks.EvaluationRecorder` scores per example. `ClassificationModule`:
cross-entropy, accuracy and macro-F1 (torchmetrics). Both build their optimizer and schedule
from an `optim` mapping (see conf/optim/).
"""

import lightning as L
import torch
from torchmetrics import Metric

from lsgzoo.training.metrics import CLASSIFICATION_OUTPUTS, metric_outputs, metric_sums


class TextMetricMeans(Metric):
    """Text metrics (names in `lsgzoo.training.metrics.METRICS`) as means over examples, exact under DDP.

    The states are each output's sum of numerators and sum of weights (float64); torchmetrics reduces
    them by sum across ranks before `compute()` divides, so every example counts once whichever rank
    decoded it (no mean of per-rank means).
    """

    full_state_update = False

    def __init__(self, names: list[str]):
        super().__init__()
        self.names = list(names)
        self.outputs = metric_outputs(self.names)
        for state in ("numerators", "weights"):
            self.add_state(state, default=torch.zeros(len(self.outputs), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: list[str], references: list[str]) -> None:
        sums = metric_sums(self.names, predictions, references)
        device = self.numerators.device
        self.numerators += torch.tensor([sums[o][0] for o in self.outputs], dtype=torch.float64, device=device)
        self.weights += torch.tensor([sums[o][1] for o in self.outputs], dtype=torch.float64, device=device)

    def compute(self) -> dict:
        """{output: mean} for every output that has a weight."""
        return {output: self.numerators[i] / self.weights[i] for i, output in enumerate(self.outputs)
                if self.weights[i] > 0}


class LSGModule(L.LightningModule):
    """Shared forward, training step and optimizer/scheduler set-up.

    optim: {lr, weight_decay, betas, eps, scheduler: linear|cosine|constant, warmup_steps}.
    """

    def __init__(self, model, tokenizer, optim: dict):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer
        self.optim = dict(optim)

    def configure_optimizers(self):
        from transformers import get_scheduler

        decay, no_decay = [], []  # biases, norms and embeddings are not decayed
        for name, parameter in self.model.named_parameters():
            exempt = parameter.ndim < 2 or "embed" in name or "norm" in name
            (no_decay if exempt else decay).append(parameter)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.optim["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.optim["lr"], betas=tuple(self.optim["betas"]), eps=self.optim["eps"])
        total = self.trainer.estimated_stepping_batches
        schedule = get_scheduler(self.optim["scheduler"], optimizer, num_warmup_steps=self.optim["warmup_steps"],
                                 num_training_steps=max(1, int(total)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def forward(self, batch):
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])

    def training_step(self, batch, batch_idx):
        loss = self(batch).loss
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]))
        return loss

    def validation_step(self, batch, batch_idx):
        return self.evaluation_step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self.evaluation_step(batch, "test")


class Seq2SeqModule(LSGModule):
    """generation: kwargs for `generate` (max_new_tokens, num_beams, ...); metrics: names in METRICS."""

    def __init__(self, model, tokenizer, optim: dict, generation: dict, metrics: list[str]):
        super().__init__(model, tokenizer, optim)
        self.generation = dict(generation)
        self.text_metrics = torch.nn.ModuleDict({stage: TextMetricMeans(metrics) for stage in ("val", "test")})

    def evaluation_step(self, batch, stage: str):
        loss = self(batch).loss
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]), sync_dist=True)
        generated = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                        **self.generation)
        predictions = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        self.text_metrics[stage].update(predictions, list(batch["target"]))
        return {"predictions": predictions}

    def log_text_metrics(self, stage: str):
        """Log the stage's metric means (already reduced across ranks) and reset them for the next epoch."""
        metric = self.text_metrics[stage]
        if metric.update_count == 0:
            return
        values = metric.compute()
        metric.reset()
        for name, value in values.items():
            self.log(f"{stage}/{name}", float(value), prog_bar=name in ("answer_accuracy", "rougeLsum"))

    def on_validation_epoch_end(self):
        self.log_text_metrics("val")

    def on_test_epoch_end(self):
        self.log_text_metrics("test")


class ClassificationModule(LSGModule):
    """num_labels classes; logs accuracy and macro-F1."""

    def __init__(self, model, tokenizer, optim: dict, num_labels: int):
        super().__init__(model, tokenizer, optim)
        from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

        self.metrics = torch.nn.ModuleDict({
            f"{stage}_{name}": metric(num_classes=num_labels, average=average)
            for stage in ("val", "test")
            for name, metric, average in (("accuracy", MulticlassAccuracy, "micro"),
                                          ("macro_f1", MulticlassF1Score, "macro"))
        })

    def evaluation_step(self, batch, stage: str):
        out = self(batch)
        self.log(f"{stage}/loss", out.loss, prog_bar=True, batch_size=len(batch["input_ids"]), sync_dist=True)
        predictions = out.logits.argmax(-1)
        for name in CLASSIFICATION_OUTPUTS:
            metric = self.metrics[f"{stage}_{name}"]
            metric.update(predictions, batch["labels"])
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=name == "accuracy")
        return {"predictions": predictions}
