"""Start, cancel and wait for training workers. Each worker is its own process group, so a cancel
reaches everything it started; the training slot itself is a lock the worker holds (train/worker.py)."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio import runs
from studio.config import TrainConfig
from studio.corpus.store import version_dir
from studio.messages import Keyed, message
from studio.paths import PROJECT_ROOT, check_name, runs_dir
from studio.records import RunState, RunStatus
from studio.train.errors import JobError

_children: dict[str, subprocess.Popen] = {}


def create_run(root: Path, cfg: TrainConfig, preset: str = "", nproc: int = 1) -> str:
    """A new run folder with its frozen config and a `queued` status; nothing runs yet."""
    version_dir(root, cfg.corpus, cfg.corpus_version)  # a missing corpus fails here, with its name
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{check_name(cfg.corpus, 'corpus name')[:24]}-{secrets.token_hex(2)}"
    folder = runs_dir(root) / run_id
    folder.mkdir(parents=True)
    runs.write_config(folder, cfg)
    # pid comes from the worker itself; until then a fresh heartbeat keeps the run from looking dead.
    runs.RunFolder(folder).write_status(RunStatus(
        state=RunState.QUEUED, run_id=run_id, preset=preset, created=time.time(), heartbeat=time.time(),
        message=message("status.starting"), nproc=nproc))
    return run_id


def resume(root: Path, run_id: str) -> int:
    """Start the worker again on a run that stopped, from its last complete checkpoint."""
    from studio.train.checkpoints import latest

    folder = runs.run_dir(root, run_id)
    status = runs.read_status(folder)
    if not status.state.resumable:
        raise JobError("job.not_resumable", run=run_id, state=status.state)
    found = latest(folder)
    if found is None:
        raise JobError("job.no_checkpoint", run=run_id)
    status.state, status.heartbeat, status.pid = RunState.QUEUED, time.time(), None
    status.message = message("status.resuming", step=found[0])
    runs.RunFolder(folder).write_status(status)
    return start(root, run_id)


def start(root: Path, run_id: str) -> int:
    folder = runs.run_dir(root, run_id)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    nproc = runs.read_status(folder).nproc
    command = [sys.executable, "-m", "studio.train", str(folder)]
    if nproc > 1:  # the same worker under torchrun: one process per rank, DDP between them
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                   "-m", "studio.train", str(folder)]
    with open(folder / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: cancel signals the group, UI exit leaves it running
            env=env,
        )
    _children[run_id] = proc
    return proc.pid


def reap() -> None:
    """Collect finished children so they do not linger as zombies."""
    for run_id, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[run_id]


def cancel(root: Path, run_id: str) -> RunStatus:
    """SIGTERM to the worker's process group; the worker saves a checkpoint and exits."""
    folder = runs.run_dir(root, run_id)
    status = runs.read_status(folder)
    if not status.state.active:
        raise JobError("job.not_running", run=run_id, state=status.state)
    if not status.pid:
        raise JobError("job.starting", run=run_id)
    try:
        os.killpg(status.pgid or status.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    return status


class RunTimeout(Keyed, TimeoutError):
    """A run still active when `wait` gave up on it."""


def wait(root: Path, run_id: str, timeout: float | None = None, poll: float = 1.0, on_status=None) -> RunStatus:
    folder = runs.run_dir(root, run_id)
    deadline = None if timeout is None else time.time() + timeout
    while True:
        reap()
        status = runs.read_status(folder)
        if on_status:
            on_status(status)
        if not status.state.active:
            return status
        if deadline and time.time() > deadline:
            raise RunTimeout("run.wait_timeout", run=run_id, state=message(f"state.{status.state.value}"), timeout=timeout)
        time.sleep(poll)
