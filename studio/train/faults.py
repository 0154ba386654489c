"""Test-only fault injection. When STUDIO_FAULT is set, the worker calls install() before the run
starts, and install() wraps functions of the recipe and checkpoint modules so the fault tests
drive a real worker through NaN, out-of-memory, a full disk and slow steps without a machine that
fails on cue (kill -9 needs no help). Production code calls nothing here.

Values: "nan@3" (after step 3's backward pass a LoRA gradient is NaN), "nan-loss@3" (step 3's
loss is NaN, and so its gradients), "oom@1" (step 1 runs out of memory at any micro-batch above
1), "oom-always@1", "enospc@2" (saving the step-2 checkpoint finds the disk full), "slow@0.5"
(each step takes 0.5 s longer). STUDIO_FAULT_RANK=1 limits the fault to that process of a
torchrun run."""
from __future__ import annotations

import errno
import functools
import os
import time


def install(spec: str) -> None:
    name, _, at = spec.partition("@")
    rank = os.environ.get("RANK", "0")
    if os.environ.get("STUDIO_FAULT_RANK", rank) != rank:
        return
    from studio.train import checkpoints, sft

    if name == "slow":
        _wrap(sft.SftRecipe, "step", after=lambda *_: time.sleep(float(at or 1)))
    elif name in ("oom", "oom-always"):
        _wrap(sft.SftRecipe, "backward", before=lambda recipe, *_: _oom(recipe, name, int(at or 0)))
    elif name == "nan":
        _wrap(sft.SftRecipe, "backward", after=lambda recipe, *_: _poison_gradient(recipe, int(at or 0)))
    elif name == "nan-loss":
        _nan_loss(sft, int(at or 0))
    elif name == "enospc":
        _wrap(checkpoints, "mark_complete", before=lambda folder, step: _full_disk(step, int(at or 0)))
    else:
        raise ValueError(f"STUDIO_FAULT={spec}: unknown fault {name!r}")


def _wrap(owner, attribute: str, before=None, after=None) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        if before:
            before(*args, **kwargs)
        result = original(*args, **kwargs)
        if after:
            after(*args, **kwargs)
        return result

    setattr(owner, attribute, wrapped)


def _step(recipe) -> int:
    return recipe.state.step + 1  # the step being run


def _oom(recipe, name: str, at: int) -> None:
    if at and _step(recipe) != at:
        return
    if name == "oom-always" or recipe.state.micro_batch > 1:
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected by STUDIO_FAULT)")


def _poison_gradient(recipe, at: int) -> None:
    """A real NaN in the gradient of the first trainable parameter: clipping sees it."""
    if _step(recipe) == at:
        next(p for p in recipe.params if p.grad is not None).grad.view(-1)[0] = float("nan")


def _nan_loss(sft, at: int) -> None:
    """At step `at`, the loss itself is NaN (and backward carries it into every gradient)."""
    real = sft.loss_sum

    def backward(recipe, *args, **kwargs):
        sft.loss_sum = (lambda *a, **k: real(*a, **k) * float("nan")) if _step(recipe) == at else real
        try:
            return original(recipe, *args, **kwargs)
        finally:
            sft.loss_sum = real

    original = sft.SftRecipe.backward
    sft.SftRecipe.backward = backward


def _full_disk(step: int, at: int) -> None:
    if not at or step == at:
        raise OSError(errno.ENOSPC, "No space left on device")
