"""One training run: data → tokenizer → model → Lightning fit/test → summary.json.

Everything lands in the run dir (layout in `lsgzoo.training.rundir`). Every outcome leaves a
record: summary.json says "running" (with the process) from the start, then "completed", or "failed"
with the error and its full traceback, whatever failed (the config, the data, training, the test, the
summary itself), or "interrupted" when SIGTERM / SIGINT stopped it (`lsgzoo.training.stopping`); W&B
runs are closed with exit code 1 on failure, so the next job of a sequential sweep starts a run of its own.
"""

import os
import sys
import time
import traceback
from pathlib import Path

from lsgzoo.training.checkpoints import check_run_dir_writable
from lsgzoo.training.config import attention_settings, validate_config
from lsgzoo.training.resume import read_run_record, settle_run_config
from lsgzoo.training.rundir import (CHECKPOINT_DIR, COMPLETED, FAILED, INTERRUPTED, METRICS_DIR, MODEL_CONFIG_DIR,
                                   RUNNING, this_process, write_summary)
from lsgzoo.training.stopping import Interrupted, interruptible

SUMMARY_KEYS = {"task": "data.task", "data": "data.name", "monitor": "data.monitor",
                "monitor_mode": "data.monitor_mode", "seed": "seed", "run_name": "run_name"}


def run_training(cfg, run_dir, overrides: list[str] | None = None) -> float:
    """Validate `cfg`, train and evaluate as it says, writing everything under `run_dir`; returns the best score.

    summary.json says "running" once the config is settled. On any exception, a config error included,
    it gets status "failed", the error and its traceback before the exception is re-raised; SIGTERM or
    SIGINT raise `Interrupted` (status "interrupted"), unless the run had already recorded its completion.
    With resume=true the run's saved config is used (`lsgzoo.training.resume`); a resume override that
    would change the experiment is refused before anything is written, so the run's own record stays as it was.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_run_dir_writable(run_dir)
    cfg, overrides = settle_run_config(cfg, run_dir, overrides)
    summary = initial_summary(cfg, overrides)
    with interruptible():
        try:
            write_summary(run_dir, summary)
            validate_config(cfg)
            return _train(cfg, run_dir, summary)
        except BaseException as error:
            if not (is_interruption(error) and summary["status"] == COMPLETED):
                write_summary(run_dir, ended_summary(summary, error))
            raise


def initial_summary(cfg, overrides: list[str] | None) -> dict:
    """The summary fields known before anything runs, read leniently (the config itself may be what is wrong)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    summary = {"status": RUNNING, "error": None, "process": this_process(), "overrides": list(overrides or [])}
    for field, key in SUMMARY_KEYS.items():
        try:
            summary[field] = OmegaConf.select(cfg, key, default=None)
        except OmegaConfBaseException:
            summary[field] = None
    try:
        summary["attention"] = attention_settings(cfg)
    except (KeyError, AttributeError, OmegaConfBaseException):
        summary["attention"] = {}
    return summary


def is_interruption(error: BaseException) -> bool:
    """Whether `error` is a stop signal's: ours (`Interrupted`), Ctrl-C's, or Lightning's SIGTERM exit."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return isinstance(error, (Interrupted, KeyboardInterrupt, SIGTERMException))


def ended_summary(summary: dict, error: BaseException) -> dict:
    """`summary` marked failed (or interrupted, for a stop signal), with the error's one-line text and its
    full traceback."""
    status = INTERRUPTED if is_interruption(error) else FAILED
    return {**summary, "status": status, "error": f"{type(error).__name__}: {error}",
            "traceback": "".join(traceback.format_exception(error))}


def relative_to_run_dir(path, run_dir: Path) -> str:
    """`path` relative to the run dir, with symlinks and relative forms resolved on both sides."""
    return Path(os.path.relpath(os.path.realpath(path), os.path.realpath(run_dir))).as_posix()


def _train(cfg, run_dir: Path, summary: dict) -> float:
    import lightning as L
    from omegaconf import OmegaConf

    from lsgzoo.training.builders import build_data_and_module, build_model, build_source, build_tokenizer
    from lsgzoo.training.callbacks import PeakMemory
    from lsgzoo.training.checkpoints import check_free_space

    peak_memory = PeakMemory()
    peak_memory.reset()
    resume_path = resume_point(run_dir, summary) if cfg.resume else None
    if cfg.num_threads:
        import torch

        torch.set_num_threads(cfg.num_threads)
    L.seed_everything(cfg.seed, workers=True)
    source, raw = build_source(cfg)
    corpus = source.tokenizer_corpus() if hasattr(source, "tokenizer_corpus") else ()
    tokenizer = build_tokenizer(cfg, raw, run_dir, corpus)
    num_labels = label_count(raw["train"]) if cfg.data.task == "classification" else None
    model = build_model(cfg, tokenizer, num_labels)
    model.config.save_pretrained(str(run_dir / MODEL_CONFIG_DIR))
    check_free_space(run_dir, sum(p.numel() for p in model.parameters()))

    data, module = build_data_and_module(cfg, source, raw, tokenizer, model, num_labels)

    num_parameters = sum(p.numel() for p in model.parameters())
    resolved = OmegaConf.to_container(cfg, resolve=True)
    run_info = {"config": resolved, "attention": summary["attention"], "num_parameters": num_parameters,
                "length_statistics": data.statistics}
    summary["num_parameters"] = num_parameters
    loggers = _loggers(cfg, run_dir, run_info)
    try:
        best_score = _fit_and_test(cfg, run_dir, summary, module, data, loggers, peak_memory, resume_path)
    except BaseException:
        _finish_wandb(loggers, exit_code=1)
        raise
    _finish_wandb(loggers, exit_code=0)
    return best_score


def resume_point(run_dir: Path, summary: dict) -> Path | None:
    """The checkpoint a resume=true run continues from, its step recorded as summary["resumed_from_step"].

    A run dir whose run started (run_config.yaml) but was stopped before writing its first checkpoint has
    nothing to resume: training starts over from step 0, said on stderr and as resumed_from_step 0. Without
    run_config.yaml, `ResumeCheckpointMissing` (the wrong run dir); damaged checkpoints: `CheckpointError`.
    """
    import torch

    from lsgzoo.training.checkpoints import ResumeCheckpointMissing, resume_checkpoint

    try:
        path = resume_checkpoint(run_dir / CHECKPOINT_DIR)
    except ResumeCheckpointMissing:
        if read_run_record(run_dir) is None:
            raise
        print(f"lsgzoo: resume=true but {run_dir / CHECKPOINT_DIR} holds no checkpoint (the run was stopped before "
              "writing its first); training starts over from step 0", file=sys.stderr, flush=True)
        summary["resumed_from_step"] = 0
        return None
    summary["resumed_from_step"] = int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                                       ["global_step"])
    return path


def _fit_and_test(cfg, run_dir: Path, summary: dict, module, data, loggers, peak_memory, resume_path) -> float:
    """Fit (from `resume_path` when resuming), test the best checkpoint, and write the completed summary
    (global rank 0); returns the best score."""
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from omegaconf import OmegaConf

    from lsgzoo.training.callbacks import BatchFlops, throughput_monitor, training_throughput
    from lsgzoo.training.resume_callbacks import AtomicCheckpointIO, LastCheckpoint, RandomStateCheckpoint

    from lsgzoo.attention import flex

    flex.KERNEL_LOG.reset()  # this run's compiled attention kernels and fallbacks
    throughput = throughput_monitor()
    flops = BatchFlops(encoder_flops_fn(module.model.config, summary["attention"]))
    checkpoints = run_dir / CHECKPOINT_DIR
    best = ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=cfg.data.monitor, mode=cfg.data.monitor_mode,
                           save_top_k=1, enable_version_counter=False, auto_insert_metric_name=False)
    last = LastCheckpoint(checkpoints / "last.ckpt", cfg.checkpoint.every_n_train_steps)
    callbacks = [best, last, RandomStateCheckpoint(), flops, throughput]
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
    summary.update(status=COMPLETED, best_score=best_score, metrics=metrics,
                   **training_throughput(throughput, flops.train_flops), wall_time_s=time.perf_counter() - started,
                   peak_memory_mb=peak_memory.peak_mb(module.device),
                   peak_memory_scope="job" if peak_memory.per_job else "process",
                   global_step=trainer.global_step,
                   world_size=trainer.world_size,
                   best_checkpoint=relative_to_run_dir(best.best_model_path, run_dir) if best.best_model_path
                   else None, length_statistics=data.statistics, **flex.KERNEL_LOG.summary())
    if trainer.is_global_zero:
        write_summary(run_dir, summary)
        _log_summary(loggers, summary)
    return best_score


def encoder_flops_fn(config, attention: dict):
    """batch → analytic forward FLOPs of the LSG encoder on it (`bench.flops`; the decoder is not counted)."""
    from lsgzoo.bench.flops import forward_flops
    from lsgzoo.models.families import family_of_config

    ffn_key = family_of_config(config.to_dict()).config_key("ffn_dim")
    dims = {"d_model": config.hidden_size, "layers": config.num_hidden_layers, "ffn": getattr(config, ffn_key)}
    case = {"kind": "lsg", "params": attention}

    def flops(batch) -> float:
        rows, width = batch["input_ids"].shape
        return rows * forward_flops(case, width, dims)

    return flops


def label_count(train) -> int:
    """Classes of a classification train split: a `ClassLabel` column's class count, else the largest label + 1."""
    feature = train.features["label"]
    return feature.num_classes if hasattr(feature, "num_classes") else int(max(train["label"])) + 1


def _loggers(cfg, run_dir: Path, run_info: dict) -> list:
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    from lsgzoo.training.resume import wandb_run_id

    csv = CSVLogger(save_dir=str(run_dir), name=METRICS_DIR)  # metrics/version_N/metrics.csv, N + 1 per resume
    csv.log_hyperparams(run_info)
    loggers = [csv]
    if cfg.logger.wandb:
        attention = run_info["attention"]
        tags = [cfg.data.name, f"selector:{attention['sparsity_type']}", f"block:{attention['block_size']}",
                f"factor:{attention['sparsity_factor']}", f"seed:{cfg.seed}", *cfg.logger.tags]
        wandb = WandbLogger(project=cfg.logger.project, entity=cfg.logger.entity, name=cfg.run_name,
                            group=cfg.logger.group, tags=tags, save_dir=str(run_dir), offline=cfg.logger.offline,
                            config=run_info, job_type="train", id=wandb_run_id(run_dir), resume="allow")
        loggers.append(wandb)
    return loggers


def _finish_wandb(loggers, exit_code: int) -> None:
    """Close the W&B run with `exit_code` (1: failed), so its offline file is complete and the next run in
    this process (a sequential sweep, a notebook) starts a W&B run of its own instead of reusing this one."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish(exit_code=exit_code)


def _log_summary(loggers, summary: dict) -> None:
    """Put the run's final numbers into W&B's run summary (what the UI's tables compare)."""
    from lightning.pytorch.loggers import WandbLogger

    flat = {f"final/{k}": v for k, v in summary["metrics"].items()}
    flat.update({key: summary[key] for key in ("best_score", "num_parameters", "train_tokens_per_s",
                                               "peak_memory_mb", "train_time_s", "global_step")})
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(flat)
