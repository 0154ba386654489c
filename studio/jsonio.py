"""The studio's JSON files on disk: one atomic writer and one JSONL reader for every module.

Whole files (status.json, eval.json, manifest.json, corpus.json) are replaced atomically: a reader
sees the old file or the new one, never half of one, and a kill during the write leaves the old one.
The new file is fsynced before the rename and its folder after it, so a power cut keeps one of the
two; each thread writes its own temporary file, so two threads writing the same file do not mix.
Logs (events.jsonl, drafts.jsonl, history) are appended a line at a time and fsynced; a kill can cut
the last line short, so the reader drops a last line that does not parse and keeps everything
before it.
A damaged line anywhere else is not a kill: that file was edited or broken, and the reader says
which file and line instead of guessing.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable


class DamagedFile(ValueError):
    """A JSON or JSONL file that cannot be read as the studio wrote it; names the file and line."""

    def __init__(self, path: Path, line: int | None, problem: str):
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = path, line, problem


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename, a new file) to disk. Where folders cannot be opened
    (Windows) there is nothing to do: the rename itself is durable there."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # a file system that cannot sync a folder (some network mounts)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """A temporary name beside `path` that is this thread's own: `.<name>.<pid>.<thread>.tmp`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path` (this thread's own), flush it to disk, rename it over
    `path`, then flush the folder so the rename survives a power cut."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old file and no debris
        raise
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=1))


def read_json(path: Path, default: Any = None) -> Any:
    """A whole JSON file; `default` when it does not exist. A file that exists but does not parse
    raises DamagedFile (atomic writes never leave one, so someone or something else broke it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return default
    except UnicodeDecodeError as exc:
        raise DamagedFile(path, None, f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedFile(path, exc.lineno, f"not valid JSON ({exc.msg})") from exc


def append_jsonl(path: Path, record: dict, *, sync: bool = True) -> None:
    """One record as one line. A single write of a whole line, so concurrent appenders interleave
    whole lines; flushed to disk before it returns (`sync=False`: left to the OS, for a log whose
    lines are re-done anyway)."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    path = Path(path)
    new = not path.exists()
    with open(path, "ab") as fh:
        fh.write(line)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    if sync and new:
        fsync_dir(path.parent)  # the file's name too, the first time


def read_jsonl(path: Path, *, skip_damaged: bool = False) -> list[dict]:
    """Every record of a JSONL file; [] when it does not exist.

    A last line that does not parse was cut short by a kill and is dropped. A damaged line before
    the last raises DamagedFile naming it, unless `skip_damaged` (then such lines are passed over:
    for views that must show what can be read)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    records = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number - 1 == last or skip_damaged:
                continue
            raise DamagedFile(path, number, f"not a JSON record ({exc})") from exc
    return records


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> None:
    """Replace a JSONL file as a whole (a resumed run dropping the steps it redoes)."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
