"""The run store: runs/<run-id>/ with config.yaml, status.json, events.jsonl, adapter/, eval.json.

The worker writes status.json by atomic replace and appends to events.jsonl; everyone else only
reads. A run whose worker died without saying so (kill -9, power loss) is reported `interrupted`,
judged by its pid and the heartbeat the worker refreshes every few seconds.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml

from studio.config import TrainConfig, from_dict, to_dict
from studio.paths import check_name, runs_dir

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "completed", "failed", "cancelled", "interrupted")
ACTIVE = (QUEUED, RUNNING)
HEARTBEAT_SECONDS = 5
STALE_AFTER_SECONDS = 60  # no heartbeat for this long while "running" means the worker is gone


def run_dir(root: Path, run_id: str) -> Path:
    return runs_dir(root) / check_name(run_id, "run id")


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def append_event(folder: Path, event: dict) -> None:
    line = json.dumps({"time": round(time.time(), 3), **event}, ensure_ascii=False)
    with open(folder / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_events(folder: Path) -> list[dict]:
    path = folder / "events.jsonl"
    if not path.exists():
        return []
    events = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a kill: everything before it stands
    return events


def truncate_events(folder: Path, after_step: int) -> None:
    """Drop the events of steps after `after_step` (a resumed run redoes them), atomically."""
    kept = [e for e in read_events(folder) if e.get("step", 0) <= after_step]
    tmp = folder / ".events.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for event in kept:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")
    os.replace(tmp, folder / "events.jsonl")


def write_config(folder: Path, cfg: TrainConfig) -> None:
    (folder / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True), encoding="utf-8")


def read_config(folder: Path) -> TrainConfig:
    data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    return from_dict(TrainConfig, data, source=str(folder / "config.yaml"))


def trained_corpus_version(folder: Path, cfg: TrainConfig) -> str:
    """The corpus version the run trained on, as its worker recorded it in corpus.json; before
    that (a queued run) the config's, where empty means the newest."""
    recorded = folder / "corpus.json"
    return json.loads(recorded.read_text(encoding="utf-8"))["version"] if recorded.exists() else cfg.corpus_version


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except (FileNotFoundError, IndexError):
        return False


def read_status(folder: Path) -> dict:
    """status.json, with `state` corrected to interrupted when the worker is gone."""
    try:
        status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {"state": FAILED, "reason": "status.json is missing or unreadable"}
    if status.get("state") in ACTIVE:
        stale = time.time() - status.get("heartbeat", 0) > STALE_AFTER_SECONDS
        pid = status.get("pid")
        if stale or (pid is not None and not _pid_alive(pid)):  # no pid yet: the worker is starting
            status["state"] = INTERRUPTED
            status["reason"] = "the training process stopped without finishing (killed or crashed)"
    return status


def read_eval(folder: Path) -> dict:
    """eval.json, with the final adapter's bias probe measured later (bias.json) in place of the
    one from training (a checkpoint's probe is kept apart, in bias-step-N.json)."""
    path = folder / "eval.json"
    found = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if found and (folder / "bias.json").exists():
        found["bias"] = json.loads((folder / "bias.json").read_text(encoding="utf-8"))
    return found


def list_runs(root: Path) -> list[dict]:
    """Every run, newest first, with its state, config summary and metrics."""
    base = runs_dir(root)
    if not base.exists():
        return []
    rows = []
    for folder in sorted(base.iterdir(), reverse=True):
        if not (folder / "config.yaml").exists():
            continue
        status = read_status(folder)
        cfg = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
        rows.append({
            "run_id": folder.name,
            "state": status.get("state"),
            "corpus": cfg.get("corpus"),
            "model": cfg.get("model"),
            "preset": status.get("preset", ""),
            "parent": cfg.get("init_adapter") or cfg.get("blend_of") or "",  # where its adapter came from
            "step": status.get("step", 0),
            "total_steps": status.get("total_steps", 0),
            "eval": read_eval(folder),
            "has_adapter": has_adapter(folder),
            "published": is_published(folder),
            "seconds": round((status.get("finished") or status.get("heartbeat") or 0) - status["started"])
            if status.get("started") else None,
        })
    return rows


def has_adapter(folder: Path) -> bool:
    """The run finished writing its final adapter (safetensors; checkpoints live elsewhere)."""
    return (folder / "adapter" / "adapter_model.safetensors").exists()


PUBLISHED_MARK = "published"  # an empty file in a run folder: the run is shown in demo mode


def is_published(folder: Path) -> bool:
    return (folder / PUBLISHED_MARK).exists()


def set_published(folder: Path, published: bool) -> None:
    mark = folder / PUBLISHED_MARK
    if published:
        mark.touch()
    else:
        mark.unlink(missing_ok=True)
