"""What identifies this machine for a calibration, and where calibrations are kept.

The studio measures how to compute on the machine it runs on, once per (machine, base model):
the weights to draft with (studio/write/calibrate.py) and the path to train on
(studio/train/calibrate.py). A measurement holds for the processor, its vector extensions, the
thread count and the library versions it was taken with; any change of them is another machine,
and the calibration runs again. Each is kept as one JSON file beside the model cache:
`<data>/models/calibration/<model>.<kind>.json`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import platform
from pathlib import Path

from studio import jsonio
from studio.paths import models_dir

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "asimd", "sve")
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}  # the CPU multiplies bf16 natively (else bf16 is emulated, and slow)


@functools.cache
def hardware() -> dict:
    """What the timings depend on: the processor, its vector extensions, the thread count, the
    library versions. A different value is a different machine for a calibration. Read once a
    process (the drafter asks at every draft)."""
    import torch

    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags.update(value.split())
    except OSError:  # not Linux: the platform's name and PyTorch's capability below stand in
        pass
    versions = {}
    for name in ("torch", "transformers", "peft", "bitsandbytes"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - a missing package is part of what the machine is
            versions[name] = None
    return {"cpu": model, "machine": platform.machine(), "flags": sorted(flags & set(CPU_FLAGS)),
            "capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "versions": versions}


def bitsandbytes_runs() -> bool:
    """Whether 4-bit weights can be had here (bitsandbytes installed, with a build for this machine)."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed, or no build for this machine
        return False
    return True


def has_bf16(facts: dict) -> bool:
    return bool(BF16_FLAGS & set(facts["flags"]))


def hardware_key(facts: dict) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def calibration_file(root: Path, model: str, kind: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in model)[:120]
    return models_dir(root) / "calibration" / f"{safe}.{kind}.json"


def read(root: Path, model: str, kind: str, version: int, facts: dict) -> dict | None:
    """The calibration of `kind` kept for `model` on this machine, or None: none yet, another
    machine or library version, one another version of its module wrote, or one that cannot be
    read (each is measured again and written anew)."""
    try:
        data = jsonio.read_json(calibration_file(root, model, kind), default=None)
    except (jsonio.DamagedFile, OSError):
        return None
    if not isinstance(data, dict) or data.get("version") != version or data.get("key") != hardware_key(facts):
        return None
    return data


def keep(root: Path, model: str, kind: str, data: dict) -> None:
    path = calibration_file(root, model, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    jsonio.write_json_atomic(path, data)
