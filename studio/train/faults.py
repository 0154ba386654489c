"""Test-only fault injection, switched on by the STUDIO_FAULT environment variable, so the fault
tests drive the real worker through NaN, out-of-memory and a full disk without a machine that
fails on cue (kill -9 needs no help). Values: "nan@3" (the loss of step 3 is NaN), "oom@1" (step 1
runs out of memory at any micro-batch above 1), "oom-always@1", "enospc@2" (saving the step-2
checkpoint finds the disk full), "slow@0.5" (each step takes 0.5 s longer). STUDIO_FAULT_RANK=1
limits the fault to that process of a torchrun run."""
from __future__ import annotations

import errno
import os
import time


def inject(kind: str, step: int, micro_batch: int = 0) -> bool:
    """Raise or return True when STUDIO_FAULT asks for `kind` at `step`; False otherwise."""
    name, _, at = os.environ.get("STUDIO_FAULT", "").partition("@")
    if name != kind and not (kind == "oom" and name == "oom-always"):
        return False
    if os.environ.get("STUDIO_FAULT_RANK", os.environ.get("RANK", "0")) != os.environ.get("RANK", "0"):
        return False
    if name == "slow":
        time.sleep(float(at or 1))
        return True
    if at and int(at) != step:
        return False
    if kind == "oom" and (name == "oom-always" or micro_batch > 1):
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by STUDIO_FAULT)")
    if kind == "enospc":
        raise OSError(errno.ENOSPC, "No space left on device")
    return kind == "nan"
