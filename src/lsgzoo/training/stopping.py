"""Stopping a run or a sweep by signal (SIGTERM, SIGINT / Ctrl-C): every job records it, no process is left.

Two roles, one per kind of process:
- *A job* (`interruptible`, around one training run): SIGTERM or SIGINT raises `Interrupted` in the main
  thread, so the run unwinds through Lightning and records summary.json status "interrupted".
  `Interrupted` is not a `KeyboardInterrupt`, which Lightning would turn into `SystemExit(1)`.
- *The sweep's main process* (`install_sweep_stop`, in `python -m lsgzoo.train`): on SIGTERM or SIGINT it
  sends SIGTERM to every process it started (joblib/loky workers and what they started), gives them
  `STOP_GRACE_S` to record their jobs, SIGKILLs what is left and exits with status 128 + signal.
  Processes that ignore SIGTERM (the multiprocessing resource trackers) are left to exit with it.

After a job recorded its interruption, `end_process` ends its process as the signal asked: a sweep
worker dies by the signal (a pool worker would otherwise take the next job), the main process stops
its workers as above. Signals a process ignores (SIG_IGN, e.g. SIGINT in a background job) stay ignored.
"""

import contextlib
import os
import signal
import sys
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_GRACE_S = 5.0
_sweep_stop_installed = False


class Interrupted(BaseException):
    """A stop signal arrived while a job ran; `signum` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def _handled_signals() -> list[int]:
    """The stop signals this process may take over: none outside the main thread, none it ignores."""
    if threading.current_thread() is not threading.main_thread():
        return []
    return [signum for signum in STOP_SIGNALS if signal.getsignal(signum) is not signal.SIG_IGN]


@contextlib.contextmanager
def interruptible():
    """Within the block, SIGTERM and SIGINT raise `Interrupted`; the previous handlers come back after it."""
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in _handled_signals()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def install_sweep_stop() -> None:
    """Make SIGTERM / SIGINT stop this process and every process it started (`stop_process_tree`)."""
    global _sweep_stop_installed
    for signum in _handled_signals():
        signal.signal(signum, lambda signum, frame: stop_process_tree(signum))
    _sweep_stop_installed = True


def end_process(stop: Interrupted) -> None:
    """End this process after its job recorded `stop`: the sweep's main process stops its workers and
    exits; any other process (a pool worker) dies by the signal."""
    if _sweep_stop_installed:
        stop_process_tree(stop.signum)
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(stop.signum, signal.SIG_DFL)
    os.kill(os.getpid(), stop.signum)


def stop_process_tree(signum: int, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every descendant, SIGKILL those still alive after `grace_s`, then exit with 128 + `signum`."""
    import psutil

    for stop_signal in STOP_SIGNALS:  # one stop at a time; a second signal must not cut this one short
        with contextlib.suppress(ValueError):
            signal.signal(stop_signal, signal.SIG_IGN)
    me = psutil.Process()
    workers = [child for child in me.children(recursive=True) if not _ignores_sigterm(child.pid)]
    name = signal.Signals(signum).name
    print(f"lsgzoo.train: {name}: stopping {len(workers)} worker process(es); their jobs are recorded as "
          "interrupted (continue the sweep with the same command and resume=true)", file=sys.stderr, flush=True)
    for process in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(workers, timeout=grace_s)
    late = [child for child in me.children(recursive=True) if not _ignores_sigterm(child.pid)]
    for process in {*alive, *late}:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs([*alive, *late], timeout=grace_s)
    raise SystemExit(128 + signum)


def _ignores_sigterm(pid: int) -> bool:
    """Whether process `pid` ignores SIGTERM (Linux /proc; False where that cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigIgn:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except OSError:
        pass
    return False
