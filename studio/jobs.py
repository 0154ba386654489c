"""Start, cancel and wait for training workers. Each worker is its own process group, so a cancel
reaches everything it started; the training slot itself is a lock the worker holds (train/worker.py)."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from studio import runs
from studio.config import TrainConfig
from studio.corpus.store import version_dir
from studio.messages import Keyed, message
from studio.paths import PROJECT_ROOT, check_name, runs_dir
from studio.records import RunState, RunStatus
from studio.train.errors import JobError

_children: dict[str, subprocess.Popen] = {}


@dataclass
class Nodes:
    """Several machines in one run: this one is node `rank` of `count`, and they meet at `rdzv`
    (HOST:PORT of node 0, torchrun's c10d rendezvous). Every machine must see the run folder and the
    data root at the same path (a shared filesystem): each process reads the config, the corpus and
    the checkpoints from it, and rank 0 writes the run's files there."""
    count: int = 1
    rank: int = 0
    rdzv: str = ""


def torchrun(folder: Path, nproc: int, nodes: Nodes | None = None) -> list[str]:
    """The command that runs the worker for `folder` under torchrun: on one machine (standalone), or
    as node `nodes.rank` of several. The same command, with each machine's rank, starts the others."""
    where = ["--standalone"] if not nodes or nodes.count == 1 else [
        f"--nnodes={nodes.count}", f"--node-rank={nodes.rank}", "--rdzv-backend=c10d", f"--rdzv-endpoint={nodes.rdzv}",
        f"--rdzv-id={folder.name}"]
    return [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc-per-node={nproc}",
            "-m", "studio.train", str(folder)]


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


def worker_env() -> dict:
    """The environment a worker starts in: this one, with the project importable."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1"}


def start(root: Path, run_id: str, nodes: Nodes | None = None) -> int:
    """Start the run's worker in the background (under torchrun for several processes or machines)."""
    folder = runs.run_dir(root, run_id)
    env = worker_env()
    nproc = runs.read_status(folder).nproc
    command = [sys.executable, "-m", "studio.train", str(folder)]
    if nproc > 1 or (nodes and nodes.count > 1):  # the same worker under torchrun, one process per rank
        command = torchrun(folder, nproc, nodes)
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
