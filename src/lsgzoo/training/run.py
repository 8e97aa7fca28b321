"""One training run: data → tokenizer → model → Lightning fit/test → summary.json.

Everything lands in the run dir (layout in `lsgzoo.training.rundir`).
"""

import time
import traceback
from pathlib import Path

from lsgzoo.training.checkpoints import check_run_dir_writable
from lsgzoo.training.config import attention_settings, validate_config
from lsgzoo.training.resume import settle_run_config
from lsgzoo.training.rundir import CHECKPOINT_DIR, METRICS_DIR, MODEL_CONFIG_DIR, write_summary


def run_training(cfg, run_dir, overrides: list[str] | None = None) -> float:
    """Train and evaluate as `cfg` says, writing everything under `run_dir`; returns the best monitored score.

    On any exception a summary with status "failed" is written before re-raising. With resume=true the
    run's saved config is used (see `lsgzoo.training.resume`).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_run_dir_writable(run_dir)
    cfg, overrides = settle_run_config(cfg, run_dir, overrides)
    validate_config(cfg)
    base = {"status": "running", "error": None, "task": cfg.data.task, "data": cfg.data.name,
            "monitor": cfg.data.monitor, "monitor_mode": cfg.data.monitor_mode,
            "attention": attention_settings(cfg), "overrides": list(overrides or []), "seed": cfg.seed,
            "run_name": cfg.run_name}
    try:
        return _train(cfg, run_dir, base)
    except BaseException as error:
        write_summary(run_dir, {**base, "status": "failed", "error": f"{type(error).__name__}: {error}",
                                "traceback": traceback.format_exc(limit=20)})
        raise


def _train(cfg, run_dir: Path, summary: dict) -> float:
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from omegaconf import OmegaConf

    from lsgzoo.data.datamodule import TextDataModule
    from lsgzoo.training.builders import build_model, build_tokenizer
    from lsgzoo.training.module import ClassificationModule, Seq2SeqModule
    from lsgzoo.training.callbacks import ThroughputMonitor, peak_memory_mb
    from lsgzoo.training.checkpoints import check_free_space, resume_checkpoint
    from lsgzoo.training.resume_callbacks import AtomicCheckpointIO, LastCheckpoint, RandomStateCheckpoint

    resume_path = resume_checkpoint(run_dir / CHECKPOINT_DIR) if cfg.resume else None
    if cfg.num_threads:
        import torch

        torch.set_num_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True)
    source = instantiate(cfg.data.source)
    raw = source.load()
    corpus = source.tokenizer_corpus() if hasattr(source, "tokenizer_corpus") else ()
    tokenizer = build_tokenizer(cfg, raw, run_dir, corpus)
    num_labels = None
    if cfg.data.task == "classification":
        num_labels = int(max(raw["train"]["label"])) + 1
    model = build_model(cfg, tokenizer, num_labels)
    model.config.save_pretrained(str(run_dir / MODEL_CONFIG_DIR))
    check_free_space(run_dir, sum(p.numel() for p in model.parameters()))

    data = TextDataModule(source, tokenizer, task=cfg.data.task, batch_size=cfg.data.batch_size,
                          eval_batch_size=cfg.data.eval_batch_size, max_source_length=cfg.data.max_source_length,
                          max_target_length=cfg.data.max_target_length,
                          pad_to_multiple_of=cfg.attention.block_size, num_workers=cfg.data.num_workers, datasets=raw,
                          seed=cfg.seed)
    data.setup()
    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    if cfg.data.task == "seq2seq":
        module = Seq2SeqModule(model, tokenizer, optim, OmegaConf.to_container(cfg.data.generation, resolve=True),
                               list(cfg.data.metrics))
    else:
        module = ClassificationModule(model, tokenizer, optim, num_labels)

    num_parameters = sum(p.numel() for p in model.parameters())
    resolved = OmegaConf.to_container(cfg, resolve=True)
    run_info = {"config": resolved, "attention": summary["attention"], "num_parameters": num_parameters,
                "length_statistics": data.statistics}
    loggers = _loggers(cfg, run_dir, run_info)
    throughput = ThroughputMonitor()
    checkpoints = run_dir / CHECKPOINT_DIR
    best = ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=cfg.data.monitor, mode=cfg.data.monitor_mode,
                           save_top_k=1, enable_version_counter=False, auto_insert_metric_name=False)
    last = LastCheckpoint(checkpoints / "last.ckpt", cfg.checkpoint.every_n_train_steps)
    callbacks = [best, last, RandomStateCheckpoint(), throughput]
    if cfg.logger.wandb:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    trainer = L.Trainer(**OmegaConf.to_container(cfg.trainer, resolve=True), logger=loggers, callbacks=callbacks,
                        default_root_dir=str(run_dir), plugins=[AtomicCheckpointIO()])
    started = time.perf_counter()
    trainer.fit(module, datamodule=data, ckpt_path=str(resume_path) if resume_path else None)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.test_after_training and best.best_model_path:
        tested = trainer.test(module, datamodule=data, ckpt_path=best.best_model_path, verbose=False)
        metrics.update({k: float(v) for k, v in (tested[0] if tested else {}).items()})
    best_score = float(best.best_model_score) if best.best_model_score is not None else float("nan")
    summary.update(status="completed", best_score=best_score, metrics=metrics, num_parameters=num_parameters,
                   train_tokens_per_s=throughput.tokens_per_s, train_time_s=throughput.train_time_s,
                   wall_time_s=time.perf_counter() - started, peak_memory_mb=peak_memory_mb(module.device),
                   global_step=trainer.global_step, train_batches=throughput.batches,
                   world_size=trainer.world_size,
                   best_checkpoint=str(Path(best.best_model_path).relative_to(run_dir)) if best.best_model_path
                   else None, length_statistics=data.statistics)
    if trainer.is_global_zero:
        write_summary(run_dir, summary)
        _log_summary(loggers, summary)
    _finish_wandb(loggers)
    return best_score


def _loggers(cfg, run_dir: Path, run_info: dict) -> list:
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    from lsgzoo.training.resume import wandb_run_id

    csv = CSVLogger(save_dir=str(run_dir), name=METRICS_DIR)  # metrics/version_N/metrics.csv, N + 1 per resume
    csv.log_hyperparams(run_info)
    loggers = [csv]
    if cfg.logger.wandb:
        attention = run_info["attention"]
        tags = [cfg.data.name, f"selector:{attention['sparsity_type']}", f"block:{attention['block_size']}",
                *cfg.logger.tags]
        wandb = WandbLogger(project=cfg.logger.project, entity=cfg.logger.entity, name=cfg.run_name,
                            group=cfg.logger.group, tags=tags, save_dir=str(run_dir), offline=cfg.logger.offline,
                            config=run_info, job_type="train", id=wandb_run_id(run_dir), resume="allow")
        loggers.append(wandb)
    return loggers


def _finish_wandb(loggers) -> None:
    """Close the W&B run so its offline file is complete (several runs may share one process)."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish()


def _log_summary(loggers, summary: dict) -> None:
    """Put the run's final numbers into W&B's run summary (what the UI's tables compare)."""
    from lightning.pytorch.loggers import WandbLogger

    flat = {f"final/{k}": v for k, v in summary["metrics"].items()}
    flat.update({key: summary[key] for key in ("best_score", "num_parameters", "train_tokens_per_s",
                                               "peak_memory_mb", "train_time_s", "global_step")})
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(flat)
