"""The run store: runs/<run-id>/ with config.yaml, status.json, events.jsonl, adapter/, eval.json.

The worker writes status.json by atomic replace and appends to events.jsonl; everyone else only
reads. A run whose worker died without saying so (kill -9, power loss) is reported `interrupted`,
judged by its pid and the heartbeat the worker refreshes every few seconds.
"""
from __future__ import annotations

import time
from pathlib import Path

import yaml

from studio import jsonio, records
from studio.config import TrainConfig, from_dict, to_dict
from studio.paths import check_name, runs_dir
from studio.records import Event, Evaluation, RunState, RunStatus

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, INTERRUPTED = RunState  # in the order they are declared
ACTIVE = (QUEUED, RUNNING)
HEARTBEAT_SECONDS = 5
STALE_AFTER_SECONDS = 60  # no heartbeat for this long while "running" means the worker is gone
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # the only adapter weights the studio loads
COMPLETE_MARK = "complete.json"  # written last into a checkpoint folder: the checkpoint is whole
write_json_atomic = jsonio.write_json_atomic  # older callers; new code calls jsonio


class RunFolder:
    """runs/<run-id>/ and every path in it: who wants a run's file asks here, by name."""
    CONFIG, STATUS, EVENTS, EVAL = "config.yaml", "status.json", "events.jsonl", "eval.json"
    BASE_EVAL, CORPUS, STYLE, BIAS = "base_eval.json", "corpus.json", "style.json", "bias.json"
    DRAFTS, LOG, PUBLISHED, TRAIN_PATH = "drafts.jsonl", "worker.log", "published", "train_path.json"

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def of(cls, root: Path, run_id: str) -> "RunFolder":
        return cls(runs_dir(root) / check_name(run_id, "run id"))

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def file(self, name: str) -> Path:
        return self.path / name

    def bias_file(self, checkpoint: str = "") -> Path:
        """Where an on-demand bias probe is kept: the final adapter's beside eval.json, a
        checkpoint's in that checkpoint's folder (it must not stand for the run's)."""
        return self.checkpoints / checkpoint / self.BIAS if checkpoint else self.path / self.BIAS

    def status(self) -> RunStatus:
        return read_status(self.path)

    def write_status(self, status: RunStatus) -> None:
        jsonio.write_json_atomic(self.path / self.STATUS, records.to_dict(status))

    def events(self) -> list[Event]:
        return [records.event_from_dict(e) for e in read_events(self.path)]

    def evaluation(self) -> Evaluation | None:
        return records.evaluation_from_dict(read_eval(self.path))

    def config(self) -> TrainConfig:
        return read_config(self.path)

    def trained_corpus_version(self, cfg: TrainConfig | None = None) -> str:
        """The corpus version the run trained on (kept in corpus.json when training started); the
        version its config asked for (empty: the newest) for a run that never started."""
        manifest = jsonio.read_json(self.path / self.CORPUS, default=None)
        if manifest and manifest.get("version"):
            return manifest["version"]
        return (cfg or self.config()).corpus_version


def run_dir(root: Path, run_id: str) -> Path:
    return RunFolder.of(root, run_id).path


def append_event(folder: Path, event: dict) -> None:
    jsonio.append_jsonl(Path(folder) / RunFolder.EVENTS, {"time": round(time.time(), 3), **event})


def read_events(folder: Path) -> list[dict]:
    """events.jsonl as written; a line cut by a kill is dropped, a damaged one passed over (the
    curves show what can be read)."""
    return jsonio.read_jsonl(Path(folder) / RunFolder.EVENTS, skip_damaged=True)


def truncate_events(folder: Path, after_step: int) -> None:
    """Drop the events of steps after `after_step` (a resumed run redoes them), atomically."""
    kept = [e for e in read_events(folder) if e.get("step", 0) <= after_step]
    jsonio.write_jsonl_atomic(Path(folder) / RunFolder.EVENTS, kept)


def write_config(folder: Path, cfg: TrainConfig) -> None:
    jsonio.write_text_atomic(folder / RunFolder.CONFIG, yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))


def read_config(folder: Path) -> TrainConfig:
    data = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    return from_dict(TrainConfig, data, source=str(folder / "config.yaml"))


def trained_corpus_version(folder: Path, cfg: TrainConfig) -> str:
    return RunFolder(folder).trained_corpus_version(cfg)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except (FileNotFoundError, IndexError):
        return False


def read_status(folder: Path) -> RunStatus:
    """status.json, with `state` corrected to interrupted when the worker is gone."""
    try:
        status = records.from_dict(RunStatus, jsonio.read_json(folder / RunFolder.STATUS))
    except (jsonio.DamagedFile, TypeError, ValueError):
        status = None
    if status is None or not (folder / RunFolder.STATUS).exists():
        return RunStatus(state=FAILED, reason="status.json is missing or unreadable")
    if status.state.active:
        stale = time.time() - status.heartbeat > STALE_AFTER_SECONDS
        if stale or (status.pid is not None and not _pid_alive(status.pid)):  # no pid yet: the worker is starting
            status.state = INTERRUPTED
            status.reason = "the training process stopped without finishing (killed or crashed)"
    return status


def read_eval(folder: Path) -> dict:
    """eval.json, with the final adapter's bias probe measured later (bias.json) in place of the
    one from training (a checkpoint's probe is kept apart, in its checkpoint folder)."""
    found = jsonio.read_json(folder / RunFolder.EVAL, default={}) or {}
    bias = jsonio.read_json(folder / RunFolder.BIAS, default=None)
    if found and bias:
        found["bias"] = bias
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
            "state": status.state,
            "corpus": cfg.get("corpus"),
            "model": cfg.get("model"),
            "preset": status.preset,
            "parent": cfg.get("init_adapter") or cfg.get("blend_of") or "",  # where its adapter came from
            "step": status.step,
            "total_steps": status.total_steps,
            "eval": read_eval(folder),
            "has_adapter": has_adapter(folder),
            "published": is_published(folder),
            "seconds": round((status.finished or status.heartbeat or 0) - status.started)
            if status.started else None,
        })
    return rows


def has_adapter(folder: Path) -> bool:
    """The run finished writing its final adapter (safetensors; checkpoints live elsewhere)."""
    return (folder / "adapter" / ADAPTER_WEIGHTS).exists()


PUBLISHED_MARK = "published"  # an empty file in a run folder: the run is shown in demo mode


def is_published(folder: Path) -> bool:
    return (folder / PUBLISHED_MARK).exists()


def set_published(folder: Path, published: bool) -> None:
    mark = folder / PUBLISHED_MARK
    if published:
        mark.touch()
    else:
        mark.unlink(missing_ok=True)
