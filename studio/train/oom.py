"""Out of memory during a step: every process halves its micro-batch and redoes the step (same
blocks, same effective batch), down to micro-batch 1."""
from __future__ import annotations

import math

from studio.messages import message
from studio.records import Marker
from studio.train.state import TrainState


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower() \
        or "can't allocate memory" in str(exc).lower()


def halving(run, state: TrainState, blocks: int, attempt, clear):
    """attempt(micro) until no process ran out of memory; clear() drops a failed try's gradients.
    Only out-of-memory is handled; anything else is raised as it is."""
    import torch

    while True:
        micro, failure, result = state.micro_batch, None, None
        try:
            result = attempt(micro)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(exc):
                raise
            failure = exc.with_traceback(None)  # the traceback would keep the failed graph alive
        if not run.ranks.any(failure is not None):  # every process agrees the step worked
            return result
        clear()
        if run.device.startswith("cuda"):
            torch.cuda.empty_cache()
        if micro == 1:
            raise failure or torch.OutOfMemoryError("another process ran out of memory at micro-batch 1")
        state.micro_batch = half = micro // 2
        run.report.record(Marker("oom_retry", step=state.step + 1, extra={"micro_batch": half}))
        run.report.update(message=message("status.oom_retry", micro=micro, half=half, steps=math.ceil(blocks / half)))
