"""How a run speaks: status.json (a RunStatus, replaced atomically, with a heartbeat) and
events.jsonl (typed events, appended), both in studio/records.py's shapes. Rank 0 speaks for a
torchrun run; the other ranks report through Silent."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import fields, replace
from pathlib import Path

from studio import jsonio, records
from studio.runs import HEARTBEAT_SECONDS, RunFolder

STATUS_FIELDS = {f.name for f in fields(records.RunStatus)} - {"extra"}

class Reporter:
    """Owns status.json: every update merges into it, and a thread refreshes the heartbeat."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.status = jsonio.read_json(folder / RunFolder.STATUS, {})
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def update(self, **changes) -> None:
        """Set RunStatus fields by name (a name RunStatus does not have is a bug, refused here)."""
        unknown = set(changes) - STATUS_FIELDS
        if unknown:
            raise TypeError(f"RunStatus has no field {sorted(unknown)}")
        with self._lock:
            self.status.update(changes, pid=os.getpid(), pgid=os.getpgid(0), heartbeat=time.time())
            self.status = {k: v for k, v in self.status.items() if v is not None}  # None clears a field
            status = records.from_dict(records.RunStatus, self.status)
            jsonio.write_json_atomic(self.folder / RunFolder.STATUS, records.to_dict(status))

    def record(self, event: records.Event) -> None:
        """One typed event as a line of events.jsonl, stamped with the time."""
        line = records.event_to_dict(replace(event, time=round(time.time(), 3)))
        jsonio.append_jsonl(self.folder / RunFolder.EVENTS, line)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self.update()

    def close(self) -> None:
        self._stop.set()


class Silent:
    """What ranks other than 0 report through: nothing (rank 0 speaks for the run). Also stands in
    for TensorBoard's writer there."""

    def update(self, **changes) -> None:
        pass

    def record(self, event) -> None:
        pass

    def close(self) -> None:
        pass

    def add_scalar(self, *args) -> None:
        pass

    def flush(self) -> None:
        pass


def truncate_events(folder: Path, after_step: int) -> None:
    """Drop the events of steps after `after_step` (a resumed run redoes them), atomically."""
    path = folder / RunFolder.EVENTS
    jsonio.write_jsonl_atomic(path, [e for e in jsonio.read_jsonl(path) if e.get("step", 0) <= after_step])
