"""resume=true over a whole sweep: each job's state from its run dir, and what the job does about it.

Rerunning a multirun with the same `hydra.sweep.dir` and `resume=true` gives every job the run dir of
the same job number. `job_state` reads it (summary.json, run_config.yaml, whether the recorded process
still runs); `decide` is the decision table (→ action):

  new          never started (no record)                        → run
  completed    status completed                                 → skip: its recorded best_score is the
                                                                  job's result, nothing is written
                                                                  (→ resume when the command changes
                                                                  trainer.max_steps / max_epochs)
  running      status running and its process alive             → refuse (another sweep runs it)
  killed       status running, process gone; or a run record    → resume from last.ckpt
               without a summary (killed before it wrote one)     (→ run without a checkpoint)
  interrupted  status interrupted; or failed by Ctrl-C          → resume from last.ckpt (→ run without)
  failed       status failed for any other reason               → run again, the failed attempt's
                                                                  checkpoints removed

Before that, a job whose recorded overrides compose to another experiment than this job's (any key but
`resume.BUDGET_KEYS`) is refused: the sweep dir holds another sweep (another grid, another order).
"""

import shutil
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from lsgzoo.training.checkpoints import LAST, PREVIOUS_LAST
from lsgzoo.training.config import ConfigError
from lsgzoo.training.resume import config_changes, describe_changes, experiment_changes, read_run_record
from lsgzoo.training.rundir import (CHECKPOINT_DIR, COMPLETED, FAILED, INTERRUPTED, RUNNING, process_alive,
                                    read_summary)

# Budget keys that change how far a completed job trains.
TRAINING_BUDGET_KEYS = ("trainer.max_steps", "trainer.max_epochs")


class State(Enum):
    NEW = "new"
    COMPLETED = "completed"
    RUNNING = "running"
    KILLED = "killed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class Action(Enum):
    SKIP = "skip"
    RESUME = "resume"
    RUN = "run"
    REFUSE = "refuse"


def job_state(summary: dict | None, record: dict | None) -> State:
    """The state of a job from its summary.json and run_config.yaml contents (None: the file is absent)."""
    if summary is None:
        return State.NEW if record is None else State.KILLED
    status = summary.get("status")
    if status == COMPLETED:
        return State.COMPLETED
    if status == RUNNING:
        return State.RUNNING if process_alive(summary.get("process")) else State.KILLED
    if status == INTERRUPTED or (status == FAILED and str(summary.get("error", "")).startswith("KeyboardInterrupt")):
        return State.INTERRUPTED
    return State.FAILED


def decide(state: State, has_checkpoint: bool, budget_changed: bool = False) -> Action:
    """The decision table of the module docstring."""
    if state is State.COMPLETED:
        if not budget_changed:
            return Action.SKIP
        return Action.RESUME if has_checkpoint else Action.RUN
    if state is State.RUNNING:
        return Action.REFUSE
    if state in (State.KILLED, State.INTERRUPTED):
        return Action.RESUME if has_checkpoint else Action.RUN
    return Action.RUN


@dataclass
class SweepJob:
    """What one job of a resumed sweep does: `action`, with the config and overrides to train with (RUN,
    RESUME) or the recorded `best_score` (SKIP); `note` says it in one line."""

    action: Action
    cfg: object
    overrides: list[str]
    best_score: float | None
    note: str


def plan_sweep_job(cfg, run_dir, overrides: list[str], job: int) -> SweepJob:
    """The `SweepJob` for job number `job` of a sweep rerun with resume=true, in its `run_dir`.

    Raises ConfigError, before anything is written, when the job's recorded overrides differ from
    `overrides` beyond the budget keys, or when the job runs in a live process.
    """
    run_dir, overrides = Path(run_dir), list(overrides)
    summary, record = read_summary(run_dir), read_run_record(run_dir)
    recorded = (record or {}).get("overrides", (summary or {}).get("overrides"))
    changes = config_changes(recorded, overrides) if recorded is not None else {}
    refused = experiment_changes(changes)
    if refused:
        raise ConfigError(f"resume=true: {run_dir} was run with other overrides "
                          f"({describe_changes(refused)}); this sweep dir holds another sweep (another grid or "
                          "order): resume it with the command that started it, or use a new hydra.sweep.dir")
    state = job_state(summary, record)
    has_checkpoint = any((run_dir / CHECKPOINT_DIR / name).is_file() for name in (LAST, PREVIOUS_LAST))
    action = decide(state, has_checkpoint, any(key in changes for key in TRAINING_BUDGET_KEYS))
    if action is Action.REFUSE:
        process = summary["process"]
        raise ConfigError(f"resume=true: {run_dir} is running in process {process['pid']} on {process['host']}; "
                          "stop that sweep first, or wait for it to end")
    where = f"job {job} ({run_dir}): {state.value}"
    if action is Action.SKIP:
        score = summary.get("best_score")
        return SweepJob(action, cfg, overrides, float("nan") if score is None else float(score),
                        f"{where}, skipped (best_score {score})")
    if action is Action.RESUME:
        return SweepJob(action, cfg, overrides, None, f"{where}, resumed from its last checkpoint")
    if state is not State.NEW:
        shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)
    cfg.resume = False
    fresh = [override for override in overrides if override.split("=", 1)[0].lstrip("+~") != "resume"]
    return SweepJob(action, cfg, fresh, None, f"{where}, started from scratch")
