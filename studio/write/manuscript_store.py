"""Manuscripts on disk, never lost: <data>/manuscripts/<id>/ holds

    history.jsonl    append-only, one line per revision: {"rev", "base", "kind", "time", "ops", "of"}
                     (the operations of studio/write/manuscript.py); the first line creates it
    manuscript.json  the state at some revision, replaced atomically (studio/jsonio.py)
    pending.json     the candidates of the last continue, for `use` (the CLI's; the UI's too)

A save appends its line first, then replaces manuscript.json, unless one was written less than
SNAPSHOT_GAP_S ago (a writer typing into a 1 MB manuscript saves in well under 20 ms that way); a
reader takes manuscript.json and replays the history lines after its revision, so a kill between
the two, or a snapshot left behind, loses nothing. Undo and redo are lines too ("undo" of a
revision applies its inverse), so they walk the whole history, however long, and survive restarts.

What is read, in this process, is kept with the history's byte length; a second tab or process
that saved since is caught up by reading only the new lines. Writes hold a file lock (`locked`).

Every history line is fsynced before the save returns, and manuscript.json's rename is followed by
a sync of the folder. A last line without its newline is either being written right now (by the
holder of the lock) or was cut by a kill: only the lock tells the two apart, so a reader without it
treats that line as not yet written (it reads no further, changes nothing, and reads the line's rest
when it comes), and it is cut (kept aside, with a notice) only under the lock: at the start of a
save, or by an opening that finds the lock free.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from studio import jsonio
from studio.messages import message
from studio.paths import check_name
from studio.write.manuscript import (MAX_CHARS, HistoryMismatch, Manuscript, ManuscriptError, apply_all,
                                     invert_all)

HISTORY, STATE, PENDING, LOCK = "history.jsonl", "manuscript.json", "pending.json", ".lock"
SNAPSHOT_GAP_S = 2.0
UNDOABLE = ("edit", "use", "restore", "memory", "note", "bible", "banned")  # "create" and "rename" are not undone


def manuscripts_dir(root: Path) -> Path:
    return Path(root) / "manuscripts"


def folder_of(root: Path, ms_id: str) -> Path:
    return manuscripts_dir(root) / check_name(ms_id, "manuscript id")


@dataclass
class Open:
    """A manuscript as this process has read it: the state, the readable history, undo/redo stacks."""
    folder: Path
    ms: Manuscript
    entries: dict[int, dict] = field(default_factory=dict)  # rev -> history line
    done: list[int] = field(default_factory=list)  # revisions undo would take back, newest last
    undone: list[int] = field(default_factory=list)  # revisions redo would bring back, newest last
    offset: int = 0  # bytes of history.jsonl read
    line: int = 0  # lines of history.jsonl read
    snapshot_at: float = 0.0
    notices: list[dict] = field(default_factory=list)
    words: tuple[int, int] = (-1, 0)  # (revision, words) last counted

    def take(self, entry: dict) -> None:
        """Follow one history line's effect on the undo and redo stacks."""
        self.entries[entry["rev"]] = entry
        kind = entry.get("kind")
        if kind in UNDOABLE:
            self.done.append(entry["rev"])
            self.undone.clear()
        elif kind == "undo" and self.done and self.done[-1] == entry.get("of"):
            self.undone.append(self.done.pop())
        elif kind == "redo" and self.undone and self.undone[-1] == entry.get("of"):
            self.done.append(self.undone.pop())


OPEN_KEPT = 64  # manuscripts kept read in memory, the least recently used forgotten first
_open: OrderedDict[Path, Open] = OrderedDict()  # a demo's visitors each open one: without a bound it only grows
_open_lock = threading.Lock()  # the order of `_open` (each folder's Open is guarded by its own lock)
_held = threading.local()  # .folders: the manuscripts whose file lock this thread holds
_guards: dict[Path, threading.RLock] = {}
_guards_lock = threading.Lock()


def _guard(folder: Path) -> threading.RLock:
    """This process's lock on its in-memory Open of `folder` (Gradio answers in threads): taken
    before the file lock, never after it, so threads and processes cannot wait on each other."""
    with _guards_lock:
        return _guards.setdefault(folder, threading.RLock())


def holding(folder: Path) -> bool:
    return folder in getattr(_held, "folders", ())


@contextmanager
def locked(folder: Path, wait: bool = True):
    """The manuscript's file lock (re-entrant within a thread). `wait=False`: BlockingIOError at
    once if another thread or process holds it."""
    held = _held.__dict__.setdefault("folders", set())
    if folder in held:
        yield
        return
    with open(folder / LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        held.add(folder)
        try:
            yield
        finally:
            held.discard(folder)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _set_aside(path: Path, what: str) -> Path:
    """Move a damaged file out of the way, never over another: `<name>.<what>-<time>`."""
    aside = path.with_name(f"{path.name}.{what}-{_stamp()}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.{what}-{_stamp()}-{n}")
    os.replace(path, aside)
    return aside


def _whole(raw: bytes) -> bytes:
    """`raw` up to its last newline: a last line without one is not (yet) a line."""
    return raw[:raw.rfind(b"\n") + 1]


def _cut_tail(folder: Path, end: int, torn: bytes, line: int) -> dict:
    """Under the lock, a history whose last line has no newline was cut by a kill in mid-write:
    keep the cut bytes in a side file, drop them from the history (so the next line starts
    cleanly); the notice that says so."""
    assert holding(folder), "a torn line is cut only under the manuscript's lock"
    path = folder / HISTORY
    aside = path.with_name(f"{HISTORY}.cut-{_stamp()}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{HISTORY}.cut-{_stamp()}-{n}")
    aside.write_bytes(torn)
    with open(path, "r+b") as fh:
        fh.truncate(end)
        fh.flush()
        os.fsync(fh.fileno())
    jsonio.fsync_dir(folder)
    return message("manuscript.cut_line", file=str(path), line=line)


def _mend_tail(folder: Path) -> dict | None:
    """Under the lock, before a line is appended: cut a torn last line (a dead writer's), reading
    only the history's end. The cut-line notice, or None."""
    path = folder / HISTORY
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return None
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return None
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return None
        pos, tail = size, b""
        while pos > 0 and b"\n" not in tail:
            step = min(pos, 1 << 16)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
        end = pos + tail.rfind(b"\n") + 1
        fh.seek(0)
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) if end else 0
        fh.seek(end)
        torn = fh.read()
    return _cut_tail(folder, end, torn, lines + 1)


def _parse(raw: bytes, first_line: int, folder: Path, notices: list[dict]) -> tuple[list[dict], int]:
    """History lines from `raw` (whole lines); a damaged one is skipped with a notice naming it.
    Returns the lines and how many were read."""
    lines = raw.split(b"\n")[:-1]
    entries = []
    for n, line in enumerate(lines, start=first_line + 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line.decode("utf-8"))
            if not isinstance(entry, dict) or not isinstance(entry.get("rev"), int):
                raise ValueError("not a history record")
            entries.append(entry)
        except (UnicodeDecodeError, ValueError) as exc:
            notices.append(message("manuscript.damaged_line", file=str(folder / HISTORY), line=n,
                                   problem=str(exc)[:80]))
    return entries, len(lines)


def load(root: Path, ms_id: str) -> Open:
    """The manuscript as it is now on disk (read once per process, then only what others added)."""
    folder = folder_of(root, ms_id)
    with _guard(folder):
        cached = _recall(folder)
        if cached is not None:
            try:
                size = (folder / HISTORY).stat().st_size
            except FileNotFoundError:
                size = -1
            if size == cached.offset:
                return cached
            if size > cached.offset:
                return _catch_up(cached)
        if not folder.is_dir():
            forget(folder)
            raise ManuscriptError("manuscript.no_such", id=ms_id)
        opened = _read(folder, ms_id)
        _remember(folder, opened)
        return opened


def _recall(folder: Path) -> Open | None:
    with _open_lock:
        opened = _open.get(folder)
        if opened is not None:
            _open.move_to_end(folder)
        return opened


def _remember(folder: Path, opened: Open) -> None:
    """Keep `opened` read; past OPEN_KEPT the least recently used goes (read again from disk when
    next loaded: everything in it is saved there)."""
    with _open_lock:
        _open[folder] = opened
        _open.move_to_end(folder)
        while len(_open) > OPEN_KEPT:
            _open.popitem(last=False)


def _catch_up(opened: Open) -> Open:
    """Apply the lines another tab or process appended since this one last read."""
    with open(opened.folder / HISTORY, "rb") as fh:
        fh.seek(opened.offset)
        raw = fh.read()
    raw = _whole(raw)  # a line still being written is read next time: the offset stops before it
    entries, count = _parse(raw, opened.line, opened.folder, opened.notices)
    for entry in entries:
        _replay(opened, entry)
    opened.offset += len(raw)
    opened.line += count
    return opened


def _replay(opened: Open, entry: dict) -> None:
    if entry["rev"] > opened.ms.revision:
        try:
            apply_all(opened.ms, entry.get("ops", []))
            opened.ms.revision, opened.ms.updated = entry["rev"], entry.get("time", opened.ms.updated)
        except (HistoryMismatch, KeyError, IndexError, TypeError):
            opened.notices.append(message("manuscript.entry_skipped", revision=entry["rev"]))
            return
    opened.take(entry)


class _NeedsLock(Exception):
    """Opening the manuscript has to write (cut a torn line, set a damaged file aside, rebuild
    manuscript.json, start a history): it is read again under the lock, which makes that safe."""


def _read(folder: Path, ms_id: str) -> Open:
    """The manuscript from the disk. Read without the lock first (a save under way is not waited
    for); what needs a write is done under the lock. A torn last line is cut only if the lock is
    free (its writer is dead); while a save holds the lock that line is its own, not yet written."""
    if holding(folder):
        return _read_as_is(folder, ms_id, may_write=True)[0]
    try:
        opened, torn = _read_as_is(folder, ms_id, may_write=False)
    except _NeedsLock:
        with locked(folder):
            return _read_as_is(folder, ms_id, may_write=True)[0]
    if torn:
        got = False
        try:
            with locked(folder, wait=False):
                got = True
                return _read_as_is(folder, ms_id, may_write=True)[0]
        except OSError:  # not got: a save is appending that line (or the lock is read-only): read it when whole
            if got:
                raise
    return opened


def _read_as_is(folder: Path, ms_id: str, may_write: bool) -> tuple[Open, bool]:
    """(the manuscript, whether a torn last line was left unread). Without `may_write` nothing is
    changed on disk: what would need it raises _NeedsLock."""
    notices: list[dict] = []
    history = folder / HISTORY
    raw = history.read_bytes() if history.exists() else b""
    whole = _whole(raw)
    torn = len(whole) < len(raw)
    if torn and may_write:
        notices.append(_cut_tail(folder, len(whole), raw[len(whole):], whole.count(b"\n") + 1))
        torn = False
    raw = whole
    entries, count = _parse(raw, 0, folder, notices)
    snapshot, rebuilt = _read_snapshot(folder, bool(entries), notices, may_write), False
    if snapshot is None:
        snapshot, rebuilt = Manuscript(ms_id), bool(entries)
    opened = Open(folder, snapshot, offset=len(raw), line=count, notices=notices)
    for entry in entries:
        _replay(opened, entry)
    if (not entries and snapshot.revision) or rebuilt:
        if not may_write:
            raise _NeedsLock()
        if not entries:  # a manuscript.json without its history: start one from it
            _start_history(opened)
        if rebuilt:
            write_snapshot(opened)
    return opened, torn


def _read_snapshot(folder: Path, has_history: bool, notices: list[dict], may_write: bool = True) -> Manuscript | None:
    path = folder / STATE
    try:
        data = jsonio.read_json(path)
        if data is None:
            if has_history:
                notices.append(message("manuscript.missing_json", file=str(path)))
            return None
        return Manuscript.from_dict(data)
    except (jsonio.DamagedFile, KeyError, TypeError, ValueError, AttributeError) as exc:
        if not may_write:
            raise _NeedsLock() from exc
        aside = _set_aside(path, "damaged")
        key = "manuscript.damaged_json" if has_history else "manuscript.damaged_json_alone"
        notices.append(message(key, file=str(path), problem=str(getattr(exc, "problem", exc))[:120], aside=aside.name))
        return None


def _start_history(opened: Open) -> None:
    from studio.write.manuscript import replace_all_ops

    ms = opened.ms
    ops = [{"op": "set", "field": "title", "old": "", "new": ms.title}] + replace_all_ops(Manuscript(ms.id), ms)
    _append(opened, {"rev": ms.revision, "base": 0, "kind": "create", "time": time.time(), "ops": ops})


def _append(opened: Open, entry: dict) -> None:
    """One history line, in one write, on disk before the save returns (under the lock)."""
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    path = opened.folder / HISTORY
    new = opened.offset == 0 and not path.exists()
    with open(path, "ab") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    if new:
        jsonio.fsync_dir(opened.folder)  # the history's name, the first time
    opened.offset += len(line)
    opened.line += 1
    opened.take(entry)


def write_snapshot(opened: Open) -> None:
    jsonio.write_json_atomic(opened.folder / STATE, opened.ms.to_dict())
    opened.snapshot_at = time.monotonic()


def commit(root: Path, ms_id: str, kind: str, build, base: int | None = None, of: int | None = None,
           snapshot: bool | None = None) -> tuple[Open, int]:
    """Under the lock: read what is new, make the operations (`build(ms)`), apply them, append
    their line, replace the snapshot when it is due. Returns the manuscript and the revision the
    caller's view was behind by (0: none)."""
    folder = folder_of(root, ms_id)
    if not folder.is_dir():
        raise ManuscriptError("manuscript.no_such", id=ms_id)
    with _guard(folder), locked(folder):
        cut = _mend_tail(folder)  # a dead writer's torn line: the next line must start cleanly
        opened = load(root, ms_id)
        if cut:
            opened.notices.append(cut)
        ms = opened.ms
        ops = build(ms)
        if isinstance(ops, tuple):  # undo and redo name the revision they take back or bring back
            ops, of = ops
        behind = ms.revision if base is not None and base < ms.revision else 0
        if not ops:
            return opened, behind
        before = ms.revision
        apply_all(ms, ops)
        if (size := ms.size()) > MAX_CHARS:
            apply_all(ms, invert_all(ops))  # refused as a whole: the manuscript stays as it was
            raise ManuscriptError("manuscript.too_big", chars=size, limit=MAX_CHARS)
        ms.revision, ms.updated = before + 1, time.time()
        entry = {"rev": ms.revision, "base": base if base is not None else before, "kind": kind,
                 "time": round(ms.updated, 3), "ops": ops}
        if of is not None:
            entry["of"] = of
        _append(opened, entry)
        if snapshot or (snapshot is None and time.monotonic() - opened.snapshot_at >= SNAPSHOT_GAP_S):
            write_snapshot(opened)
        return opened, behind


def create(root: Path, ms_id: str, title: str, ops: list[dict]) -> Open:
    folder = folder_of(root, ms_id)
    if folder.exists():
        raise ManuscriptError("manuscript.exists", id=ms_id)
    ms = Manuscript(ms_id)
    apply_all(ms, ops)
    if ms.size() > MAX_CHARS:
        raise ManuscriptError("manuscript.too_big", chars=ms.size(), limit=MAX_CHARS)
    folder.mkdir(parents=True)
    jsonio.fsync_dir(folder.parent)
    with _guard(folder), locked(folder):
        opened = Open(folder, ms)
        _remember(folder, opened)
        ms.revision, ms.updated = 1, time.time()
        _append(opened, {"rev": 1, "base": 0, "kind": "create", "time": round(ms.updated, 3), "ops": ops})
        write_snapshot(opened)
        return opened


def undo_ops(opened: Open, redo: bool = False) -> tuple[int, list[dict]]:
    """(revision undone or redone, the operations that do it)."""
    stack = opened.undone if redo else opened.done
    if not stack:
        raise ManuscriptError("manuscript.nothing_to_redo" if redo else "manuscript.nothing_to_undo")
    rev = stack[-1]
    ops = opened.entries[rev].get("ops", [])
    return rev, ops if redo else invert_all(ops)


def state_at(root: Path, ms_id: str, revision: int) -> Manuscript:
    """The manuscript as it was at `revision`, replayed from the history's start."""
    opened = load(root, ms_id)
    if not 1 <= revision <= opened.ms.revision:
        raise ManuscriptError("manuscript.no_revision", revision=revision, last=opened.ms.revision)
    ms = Manuscript(opened.ms.id)
    for rev in sorted(r for r in opened.entries if r <= revision):
        try:
            apply_all(ms, opened.entries[rev].get("ops", []))
        except (HistoryMismatch, KeyError, IndexError, TypeError):
            continue  # noticed when the manuscript opened
        ms.revision, ms.updated = rev, opened.entries[rev].get("time", 0.0)
    return ms


def forget(folder: Path) -> None:
    with _open_lock:
        _open.pop(folder, None)


def read_pending(folder: Path) -> dict | None:
    return jsonio.read_json(folder / PENDING, default=None)


def write_pending(folder: Path, pending: dict) -> None:
    jsonio.write_json_atomic(folder / PENDING, pending)
