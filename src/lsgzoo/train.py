"""`python -m lsgzoo.train [overrides]`: train and evaluate an LSG-BART (Hydra entry point).

Examples:
  python -m lsgzoo.train                                   # the embedded synthetic default
  python -m lsgzoo.train attention.sparsity_type=none       # local + global only
  python -m lsgzoo.train data=aclsum model=pretrained model.name_or_path=PATH
  python -m lsgzoo.train -m attention.sparsity_type=norm,pooling attention.block_size=16,32
  python -m lsgzoo.train --help                            # config groups and the composed config
Heavy libraries (Lightning, transformers) load only once a run starts.

A user error (`ConfigError`: a bad config value, resume=true without a checkpoint; `DataError`: a data
file or source setting the data cannot honour) prints one line, `lsgzoo.train: error: ...`, and exits
with status 2; its traceback is kept in the run dir's summary.json (docs/user-errors.md lists them).
In a multirun the failing job is recorded and the other jobs still run (Hydra reports the error at the
end, status 1), as for any other failure.

Stopping (SIGTERM, Ctrl-C): the running jobs are recorded as "interrupted", every process the command
started ends within seconds, and the exit status is 128 + the signal (`lsgzoo.training.stopping`).
Rerunning a multirun with the same hydra.sweep.dir and resume=true continues it job by job: completed
jobs are skipped, killed and interrupted ones resumed, the others run (`lsgzoo.training.sweep_resume`).
"""

import sys
from pathlib import Path

import hydra

from lsgzoo.data.checks import DataError
from lsgzoo.training.checkpoints import RunDirError, check_run_dir_writable
from lsgzoo.training.config import CONFIG_DIR, ConfigError, register_schemas
from lsgzoo.training.stopping import Interrupted, end_process, install_sweep_stop

USER_ERROR_STATUS = 2
USER_ERRORS = (ConfigError, DataError)

register_schemas()


@hydra.main(config_path=str(CONFIG_DIR), config_name="train", version_base="1.3")
def main(cfg) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from lsgzoo.training.run import run_training

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN and cfg.logger.group is None:
        with open_dict(cfg):  # one W&B group per sweep, so the UI compares its runs side by side
            cfg.logger.group = "sweep-" + "-".join(hydra_cfg.sweep.dir.split("/")[-2:])
    run_dir, overrides = hydra_cfg.runtime.output_dir, list(hydra_cfg.overrides.task)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        if multirun and cfg.resume:
            from lsgzoo.training.sweep_resume import Action, plan_sweep_job

            job = plan_sweep_job(cfg, run_dir, overrides, hydra_cfg.job.num)
            print(f"lsgzoo.train: {job.note}", file=sys.stderr, flush=True)
            if job.action is Action.SKIP:
                return job.best_score
            cfg, overrides = job.cfg, job.overrides
        return run_training(cfg, run_dir, overrides)
    except USER_ERRORS as error:
        if multirun:  # the job is recorded as failed (or, refused, left as it was); the other jobs run
            print(f"lsgzoo.train: error: job {hydra_cfg.job.num}: {error}", file=sys.stderr, flush=True)
            raise
        exit_on_user_error(error, Path(run_dir))
    except Interrupted as stop:
        end_process(stop)


def exit_on_user_error(error: ValueError, run_dir: Path, program: str = "lsgzoo.train") -> None:
    """Print the error as one line (where its traceback went included) and exit with status 2."""
    from lsgzoo.training.rundir import SUMMARY_FILE

    sys.stderr.write(f"{program}: error: {error} (traceback in {run_dir / SUMMARY_FILE})\n")
    raise SystemExit(USER_ERROR_STATUS)


def fail_early_on_an_unwritable_run_dir(argv: list[str]) -> None:
    """Exit with a clear message when `hydra.run.dir=` names a dir this process cannot write.

    Hydra opens its log file there before any lsgzoo code runs, and only says "Unable to configure
    handler 'file'"; the run itself checks again (`lsgzoo.training.checkpoints.check_run_dir_writable`).
    """
    if "-m" in argv or "--multirun" in argv:
        return
    for argument in argv:
        if argument.startswith("hydra.run.dir="):
            try:
                check_run_dir_writable(argument.split("=", 1)[1])
            except RunDirError as error:
                sys.exit(f"lsgzoo: {error}")


if __name__ == "__main__":
    fail_early_on_an_unwritable_run_dir(sys.argv[1:])
    install_sweep_stop()
    main()
