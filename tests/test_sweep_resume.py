"""Sweeps that stop and resume: the job-state decision table, stop signals, and a real 6-job loky sweep
stopped with SIGTERM mid-way, then continued with resume=true."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from lsgzoo.training.config import ConfigError, compose_config
from lsgzoo.training.resume import write_run_record
from lsgzoo.training.rundir import this_process, write_summary
from lsgzoo.training.stopping import Interrupted, interruptible
from lsgzoo.training.sweep_resume import Action, State, decide, job_state, plan_sweep_job
from test_training import TINY, env_for_subprocess


@pytest.mark.parametrize("state, has_checkpoint, budget_changed, expected", [
    (State.NEW, False, False, Action.RUN),
    (State.COMPLETED, True, False, Action.SKIP),
    (State.COMPLETED, False, False, Action.SKIP),
    (State.COMPLETED, True, True, Action.RESUME),
    (State.COMPLETED, False, True, Action.RUN),
    (State.RUNNING, True, False, Action.REFUSE),
    (State.KILLED, True, False, Action.RESUME),
    (State.KILLED, False, False, Action.RUN),
    (State.INTERRUPTED, True, False, Action.RESUME),
    (State.INTERRUPTED, False, False, Action.RUN),
    (State.FAILED, True, False, Action.RUN),
])
def test_decision_table(state, has_checkpoint, budget_changed, expected):
    assert decide(state, has_checkpoint, budget_changed) is expected


def test_job_state_reads_the_summary_the_run_record_and_whether_the_process_lives():
    record = {"overrides": []}
    me = this_process()
    reused_pid = {**me, "started": me["started"] - 3600}  # this pid, but a process created an hour earlier
    finished = subprocess.Popen(["true"])
    finished.wait()
    gone = {**me, "pid": finished.pid}
    assert job_state(None, None) is State.NEW
    assert job_state(None, record) is State.KILLED  # started, killed before its first summary
    assert job_state({"status": "completed"}, record) is State.COMPLETED
    assert job_state({"status": "running", "process": me}, record) is State.RUNNING
    assert job_state({"status": "running", "process": reused_pid}, record) is State.KILLED
    assert job_state({"status": "running", "process": gone}, record) is State.KILLED
    assert job_state({"status": "running", "process": {**me, "host": "elsewhere"}}, record) is State.KILLED
    assert job_state({"status": "interrupted", "error": "Interrupted: SIGTERM"}, record) is State.INTERRUPTED
    assert job_state({"status": "failed", "error": "KeyboardInterrupt: "}, record) is State.INTERRUPTED
    assert job_state({"status": "failed", "error": "RuntimeError: nan loss"}, record) is State.FAILED


JOB = TINY + ["logger=csv", "attention.sparsity_type=norm"]


def recorded_job(run_dir, status: str, **fields) -> None:
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"stale")
    write_run_record(run_dir, {}, JOB, "abcd1234")
    write_summary(run_dir, {"status": status, "overrides": JOB, **fields})


def test_a_completed_job_is_skipped_with_its_recorded_score_and_left_untouched(tmp_path):
    recorded_job(tmp_path, "completed", best_score=0.75)
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in tmp_path.rglob("*") if path.is_file()}
    job = plan_sweep_job(compose_config(JOB), tmp_path, [*JOB, "resume=true"], 0)
    assert job.action is Action.SKIP and job.best_score == 0.75
    assert before == {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in tmp_path.rglob("*")
                      if path.is_file()}


def test_a_failed_job_runs_again_from_scratch(tmp_path):
    recorded_job(tmp_path, "failed", error="RuntimeError: nan loss")
    job = plan_sweep_job(compose_config(JOB + ["resume=true"]), tmp_path, [*JOB, "resume=true"], 2)
    assert job.action is Action.RUN and job.cfg.resume is False and job.overrides == JOB
    assert not (tmp_path / "checkpoints").exists(), "the failed attempt's checkpoints would be resumed later"


def test_an_interrupted_job_resumes_and_a_larger_budget_resumes_a_completed_one(tmp_path):
    recorded_job(tmp_path / "interrupted", "interrupted", error="Interrupted: SIGTERM")
    recorded_job(tmp_path / "completed", "completed", best_score=1.0)
    cfg = compose_config(JOB + ["resume=true"])
    assert plan_sweep_job(cfg, tmp_path / "interrupted", [*JOB, "resume=true"], 1).action is Action.RESUME
    longer = [*JOB, "resume=true", "trainer.max_steps=999"]
    assert plan_sweep_job(cfg, tmp_path / "completed", longer, 1).action is Action.RESUME


def test_a_job_recorded_with_other_overrides_or_still_running_is_refused(tmp_path):
    recorded_job(tmp_path / "other", "completed", best_score=1.0)
    other = [o.replace("sparsity_type=norm", "sparsity_type=pooling") for o in JOB] + ["resume=true"]
    with pytest.raises(ConfigError, match=r"other overrides \(attention\.sparsity_type: 'norm' → 'pooling';"):
        plan_sweep_job(compose_config(other), tmp_path / "other", other, 4)
    recorded_job(tmp_path / "live", "running", process=this_process())
    with pytest.raises(ConfigError, match=f"is running in process {os.getpid()}"):
        plan_sweep_job(compose_config(JOB), tmp_path / "live", [*JOB, "resume=true"], 5)


def test_a_stop_signal_inside_a_job_raises_interrupted_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted, match="SIGTERM") as stopped:
        with interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


SWEEP = TINY + ["logger=csv", "num_threads=1", "trainer.max_steps=12", "trainer.val_check_interval=4",
                "test_after_training=false", "trainer.enable_progress_bar=false", "seed=0,1,2,3,4,5"]


def summaries(sweep_dir) -> dict:
    return {path.parent.name: json.loads(path.read_text()) for path in sweep_dir.glob("*/summary.json")}


def session_processes(session: int) -> list[psutil.Process]:
    """Live (not zombie) processes of the session `session` leads."""
    alive = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getsid(process.pid) == session and process.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return alive


def test_a_sweep_stopped_by_sigterm_leaves_no_process_and_resumes_to_six_completed_jobs(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "lsgzoo.train", "-m", "hydra/launcher=local_parallel", *SWEEP,
               f"hydra.sweep.dir={sweep_dir}"]
    env = {**env_for_subprocess(), "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "stopped.log", "w") as log:
        main = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.time() + 400
    while time.time() < deadline and main.poll() is None:  # one job completed, another one checkpointed
        done = {job for job, summary in summaries(sweep_dir).items() if summary["status"] == "completed"}
        if done and set(path.parents[1].name for path in sweep_dir.glob("*/checkpoints/last.ckpt")) - done:
            break
        time.sleep(0.2)
    workers = psutil.Process(main.pid).children(recursive=True)
    main.send_signal(signal.SIGTERM)
    assert main.wait(timeout=60) == 128 + signal.SIGTERM, (tmp_path / "stopped.log").read_text()[-3000:]
    deadline = time.time() + 15  # the resource trackers exit once the main process is gone
    while (session_processes(main.pid) or any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE
                                              for w in workers)) and time.time() < deadline:
        time.sleep(0.2)
    assert not session_processes(main.pid), session_processes(main.pid)
    assert len(workers) >= 2 and not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)

    stopped = summaries(sweep_dir)
    assert {summary["status"] for summary in stopped.values()} <= {"completed", "interrupted"}
    completed = {job for job, summary in stopped.items() if summary["status"] == "completed"}
    interrupted = {job for job, summary in stopped.items() if summary["status"] == "interrupted"
                   and (sweep_dir / job / "checkpoints" / "last.ckpt").exists()}
    assert completed and interrupted and len(completed) < 6, stopped.keys()
    assert all(stopped[job]["error"] == "Interrupted: SIGTERM" for job in interrupted)
    kept = {job: ((sweep_dir / job / "summary.json").read_bytes(),
                  (sweep_dir / job / "summary.json").stat().st_mtime_ns) for job in completed}

    resumed = subprocess.run([*command, "resume=true"], capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = summaries(sweep_dir)
    assert sorted(final) == [str(job) for job in range(6)]
    assert all(summary["status"] == "completed" and summary["global_step"] == 12 for summary in final.values())
    assert kept == {job: ((sweep_dir / job / "summary.json").read_bytes(),
                          (sweep_dir / job / "summary.json").stat().st_mtime_ns) for job in completed}
    for job in interrupted:  # trained only the steps after its checkpoint, in another process
        assert 0 < final[job]["train_batches"] < 12, final[job]
        assert final[job]["process"]["pid"] != stopped[job]["process"]["pid"]
    assert all(f"job {job} ({sweep_dir / job}): completed, skipped" in resumed.stderr for job in completed)
