"""Resumable checkpoints: runs/<id>/checkpoints/step-N/ holds the adapter (PEFT safetensors) and
training_state.pt (optimizer, scheduler, RNG states, data order, TrainState).

A checkpoint is written into a hidden temporary folder and renamed into place; only a folder
with the final name and a complete.json counts. A kill or a full disk in the middle of a save
therefore leaves the previous checkpoint as the newest complete one. Only checkpoints the
studio wrote are loaded: tensors and plain values (torch.load with weights_only=True), never
pickled code.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from studio.train.errors import SaveFailed
from studio.adapters import COMPLETE_MARK

STATE_FILE = "training_state.pt"
MARKER = COMPLETE_MARK
_STEP = re.compile(r"^step-(\d+)$")


def checkpoints_dir(run_folder: Path) -> Path:
    return run_folder / "checkpoints"


def complete_checkpoints(run_folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint, oldest first."""
    base = checkpoints_dir(run_folder)
    if not base.exists():
        return []
    found = []
    for folder in base.iterdir():
        match = _STEP.match(folder.name)
        if match and (folder / MARKER).exists() and (folder / STATE_FILE).exists():
            found.append((int(match.group(1)), folder))
    return sorted(found)


def latest(run_folder: Path) -> tuple[int, Path] | None:
    found = complete_checkpoints(run_folder)
    return found[-1] if found else None


def save_adapter(model, dest: Path, adapters: list[str] | None = None) -> None:
    """PEFT's own format, safetensors; written aside and renamed so a kill never leaves half.
    `adapters` picks which of the model's adapters (all by default)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True, selected_adapters=adapters)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SaveFailed("failure.save_adapter", folder=dest.name, error=e.strerror or str(e)) from e
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.rename(dest, old)
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


def save(run_folder: Path, step: int, model, state: dict, keep_last: int) -> Path:
    """Write checkpoint `step`, then delete all but the newest `keep_last` complete ones."""
    base = checkpoints_dir(run_folder)
    base.mkdir(exist_ok=True)
    dest = base / f"step-{step}"
    tmp = base / f".step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        import torch

        model.save_pretrained(tmp, safe_serialization=True)
        torch.save(state, tmp / STATE_FILE)
        mark_complete(tmp, step)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SaveFailed("failure.save_checkpoint", step=step, error=e.strerror or str(e)) from e
    shutil.rmtree(dest, ignore_errors=True)  # a step saved twice (cancel right after a save)
    os.rename(tmp, dest)
    for _, old in complete_checkpoints(run_folder)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def mark_complete(folder: Path, step: int) -> None:
    """The last write of a checkpoint: until it is there the folder does not count."""
    (folder / MARKER).write_text(json.dumps({"step": step}), encoding="utf-8")


def load_state(folder: Path) -> dict:
    import torch

    return torch.load(folder / STATE_FILE, weights_only=True)


def rng_state() -> dict:
    import random

    import torch

    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    import random

    import torch

    random.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value):
    # random.getstate() is nested tuples; a round trip through torch.save can turn them into lists
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
