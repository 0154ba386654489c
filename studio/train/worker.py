"""One run, start to finish, in its own process: the signals, the training slot, the status at
the start and the end, and the advice a failure ends with. The work itself is the run's recipe
(studio/train/recipes.py: sft, dpo or blend). It reports only through runs/<id>/status.json
(atomically replaced, with a heartbeat) and runs/<id>/events.jsonl (append-only).
"""
from __future__ import annotations

import fcntl
import os
import signal
import time
import traceback
from pathlib import Path

from studio.messages import message, say
from studio.paths import runs_dir
from studio.records import RunState
from studio.train.context import RunContext
from studio.train.errors import Cancelled, SaveFailed, TrainingFailed
from studio.train.oom import is_out_of_memory


def on_sigterm(run: RunContext):
    def handle(*_):
        # While queued nothing is worth saving: leave at once. While training, finish the step,
        # save a checkpoint, then leave.
        if not run.holding_slot:
            raise Cancelled()
        run.cancel_requested = True

    return handle


def wait_for_slot(run: RunContext):
    """One training job at a time per machine: an exclusive lock the OS frees if we die.
    Under torchrun rank 0 holds it for all ranks. Returns the open lock file (keep it open)."""
    slot = None
    if run.ranks.main:
        slot = open(runs_dir(run.root) / ".slot.lock", "w")
        try:
            fcntl.flock(slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            run.report.update(state=RunState.QUEUED, message=message("status.queued"))
            fcntl.flock(slot, fcntl.LOCK_EX)
    run.holding_slot = True
    run.ranks.barrier()
    return slot


def advice_for(exc: BaseException) -> tuple[dict, dict]:
    """(reason, advice) of a failure, as message() dicts."""
    if isinstance(exc, TrainingFailed):
        reason, advice = exc.messages()
        return reason, advice or message("failure.other.advice")
    text = str(exc)
    if isinstance(exc, SaveFailed):
        return message(exc.key, **exc.fields), message("failure.save.advice")
    if is_out_of_memory(exc):
        return message("failure.oom", error=text.splitlines()[0][:200] if text else ""), message("failure.oom.advice")
    return message("failure.other", name=type(exc).__name__, error=text[:500]), message("failure.other.advice")


def failed(run: RunContext, exc: BaseException) -> None:
    """status.json says `failed`, why and what to do: in English (reason, advice) and as keys."""
    reason, advice = advice_for(exc)
    run.report.update(state=RunState.FAILED, finished=time.time(), message=message("status.failed"),
                      reason=say("en", reason["key"], **reason["fields"]), advice=say("en", advice["key"], **advice["fields"]),
                      reason_message=reason, advice_message=advice)


def main(run_dir: str) -> int:
    from studio.train.recipes import RECIPES

    run = RunContext(Path(run_dir).resolve())
    signal.signal(signal.SIGTERM, on_sigterm(run))
    if os.environ.get("STUDIO_FAULT"):  # the fault tests' switch: nothing is patched without it
        from studio.train import faults

        faults.install(os.environ["STUDIO_FAULT"])
    run.report.update(state=RunState.QUEUED, message=message("status.starting"))
    try:
        from studio.models import pick_device

        run.device = run.ranks.start(pick_device(run.cfg.device))
        run.slot = wait_for_slot(run)
        run.report.update(state=RunState.RUNNING, started=time.time(), message=message("status.starting"), reason=None,
                          advice=None, finished=None, reason_message=None, advice_message=None)
        ended = RECIPES[run.cfg.objective](run)()
        run.report.update(state=RunState.COMPLETED, finished=time.time(), message=ended or message("status.done"))
        return 0
    except Cancelled:
        run.report.update(state=RunState.CANCELLED, finished=time.time(), message=message("status.cancelled"))
        return 0
    except BaseException as exc:  # every failure ends as `failed` with a reason, never a phantom `running`
        traceback.print_exc()
        failed(run, exc)
        return 1
    finally:
        run.report.close()
        run.ranks.close()
