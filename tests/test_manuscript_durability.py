"""No saved manuscript revision is ever lost (issue 28, item 5): a writer saving thousands of times
while other processes open the same manuscript from the disk; a reader without the lock leaves a
history line still being written alone; atomic writes from two threads do not share a temp file."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio import jsonio, service
from studio.write import manuscript_store as store

PROJECT = Path(__file__).resolve().parent.parent
ROUNDS, SAVES = int(os.environ.get("DURABILITY_ROUNDS", 10)), int(os.environ.get("DURABILITY_SAVES", 200))
READERS = 3

# The text at each revision, known to the writer and to every reader: SLOTS paragraphs, and save
# number s (revision s, s >= 2) rewrites paragraph s % SLOTS. Paragraphs of 8 kB make history lines
# of about 16 kB (a long paragraph rewritten): one write of several pages, which a reader can catch
# half done. ROUNDS manuscripts of SAVES revisions each keep every fresh open short, so the readers
# open them often. (Against the store that cut a torn line without the lock, 8 runs of 8 failed.)
COMMON = """
SLOTS, WIDTH = 12, 8000

def para(slot, rev):
    head = f"Paragraph {slot} at revision {rev}. "
    return head + ("abcdefghij klmnopqrs tuvwxyz. " * (WIDTH // 30 + 1))[:WIDTH - len(head) - 1] + "\\n"

def text_at(rev):
    last = {}
    for s in range(max(2, rev - SLOTS + 1), rev + 1):
        last[s % SLOTS] = s
    return "".join(para(j, last.get(j, 1)) for j in range(SLOTS))
"""
_common: dict = {}
exec(COMMON, _common)
text_at = _common["text_at"]  # for the checks below

WRITER = COMMON + """
import os, sys
from pathlib import Path
from studio import jsonio, service
root, rounds, saves = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for k in range(rounds):
    ms_id = service.new_manuscript(root, f"durable {k}", text_at(1), ms_id=f"durable-{k}").id
    jsonio.write_text_atomic(root / "current", ms_id)
    for rev in range(2, saves + 1):
        assert service.save_manuscript_text(root, ms_id, text_at(rev))["revision"] == rev
(root / "writer-done").write_text("done")
"""

READER = COMMON + """
import json, sys, time
from pathlib import Path
from studio.write import manuscript_store as store
root = Path(sys.argv[1])
loads, last, problems = 0, {}, []
while not (root / "current").exists():
    time.sleep(0.01)
while True:
    finishing = (root / "writer-done").exists()
    ms_id = (root / "current").read_text()
    folder = store.folder_of(root, ms_id)
    store.forget(folder)  # from the disk, as a process opening it for the first time
    opened = store.load(root, ms_id)
    loads += 1
    rev = opened.ms.revision
    if rev < last.get(ms_id, 0):
        problems.append(f"{ms_id}: revision went back from {last[ms_id]} to {rev}")
    last[ms_id] = max(last.get(ms_id, 0), rev)
    if opened.ms.text != text_at(rev):
        problems.append(f"{ms_id}: the text at revision {rev} is not the one saved")
    if opened.notices:
        problems.append(f"{ms_id}: notices at revision {rev}: {[n['key'] for n in opened.notices]}")
    if finishing or len(problems) > 5:
        break
print(json.dumps({"loads": loads, "last": last, "problems": problems}))
"""


def _spawn(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_writer_saving_thousands_of_times_while_three_processes_open_the_manuscript_loses_no_revision(root):
    root.mkdir(parents=True)
    readers = [_spawn(READER, root) for _ in range(READERS)]
    writer = _spawn(WRITER, root, ROUNDS, SAVES)
    try:
        _, werr = writer.communicate(timeout=180)
        reports = [r.communicate(timeout=60) for r in readers]
    finally:
        for proc in [writer, *readers]:
            if proc.poll() is None:
                proc.kill()
    assert writer.returncode == 0, werr[-2000:]
    seen = []
    for (out, err), proc in zip(reports, readers):
        assert proc.returncode == 0, err[-2000:]
        report = json.loads(out.strip().splitlines()[-1])
        assert not report["problems"], report["problems"]
        seen.append(report)
    assert all(r["loads"] >= ROUNDS for r in seen), seen  # each read the manuscripts while they were saved

    for k in range(ROUNDS):
        folder = store.folder_of(root, f"durable-{k}")
        lines = (folder / store.HISTORY).read_bytes().split(b"\n")
        assert lines[-1] == b"", "the history ends with a whole line"
        revisions = [json.loads(line)["rev"] for line in lines[:-1]]
        assert len(revisions) == SAVES, f"{folder.name}: {len(revisions)} history lines for {SAVES} revisions"
        assert revisions == list(range(1, SAVES + 1)), f"{folder.name}: revisions 1..N, each once, in order"
        assert not list(folder.glob("history.jsonl.cut-*")), "nothing was cut: no writer died"
        store.forget(folder)
        assert store.load(root, folder.name).ms.text == text_at(SAVES)
        assert service.manuscript(root, folder.name)["text"] == text_at(SAVES)


def _history_bytes(folder: Path) -> bytes:
    return (folder / store.HISTORY).read_bytes()


def test_a_reader_without_the_lock_leaves_a_line_being_written_alone_and_reads_it_when_whole(root):
    ms = service.new_manuscript(root, "torn", "One.")
    service.save_manuscript_text(root, ms.id, "One. Two.")
    folder = store.folder_of(root, ms.id)
    store.load(root, ms.id)  # this process has read it (the catching-up path is tried too)
    line = json.dumps({"rev": 3, "base": 2, "kind": "edit", "time": time.time(),
                       "ops": [{"op": "text", "p": 0, "at": 9, "del": "", "ins": " Three."}]}) + "\n"
    with open(folder / store.LOCK, "a") as lock:  # another process saving: it holds the lock ...
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(folder / store.HISTORY, "ab") as fh:  # ... and has written half of its line
            fh.write(line.encode()[:30])
        before = _history_bytes(folder)
        cached = store.load(root, ms.id)
        assert cached.ms.revision == 2 and cached.ms.text == "One. Two."
        store.forget(folder)
        fresh = store.load(root, ms.id)  # a first open (a restart, the CLI) reads the disk
        assert fresh.ms.revision == 2 and fresh.ms.text == "One. Two." and not fresh.notices
        assert _history_bytes(folder) == before, "the line being written was not touched"
        assert not list(folder.glob("history.jsonl.cut-*"))
        with open(folder / store.HISTORY, "ab") as fh:  # the rest of the line, then the lock is let go
            fh.write(line.encode()[30:])
        fcntl.flock(lock, fcntl.LOCK_UN)
    caught_up = store.load(root, ms.id)
    assert caught_up.ms.revision == 3 and caught_up.ms.text == "One. Two. Three." and not caught_up.notices
    store.forget(folder)
    assert store.load(root, ms.id).ms.text == "One. Two. Three."


def test_a_line_torn_by_a_dead_writer_is_cut_only_under_the_lock_by_the_next_save(root):
    ms = service.new_manuscript(root, "dead", "One.")
    service.save_manuscript_text(root, ms.id, "One. Two.")
    folder = store.folder_of(root, ms.id)
    store.load(root, ms.id)
    with open(folder / store.HISTORY, "ab") as fh:  # a save killed in mid-write: the lock is free
        fh.write(b'{"rev": 3, "base": 2, "kind": "edit", "ops": [{"op": "te')
    torn = _history_bytes(folder)
    assert store.load(root, ms.id).ms.revision == 2  # this process's reader skips it ...
    assert _history_bytes(folder) == torn  # ... without the lock, it does not cut
    saved = service.save_manuscript_text(root, ms.id, "One. Two. Three.")  # the save holds the lock: cut
    assert saved["revision"] == 3
    cut = list(folder.glob("history.jsonl.cut-*"))
    assert len(cut) == 1 and cut[0].read_bytes() == torn[torn.rfind(b"\n") + 1:]
    revisions = [json.loads(line)["rev"] for line in _history_bytes(folder).splitlines()]
    assert revisions == [1, 2, 3]
    assert [n["key"] for n in service.manuscript(root, ms.id)["notices"]] == ["manuscript.cut_line"]
    store.forget(folder)
    assert store.load(root, ms.id).ms.text == "One. Two. Three."


def test_a_fresh_open_that_finds_the_lock_free_cuts_a_dead_writers_line_under_it(root):
    ms = service.new_manuscript(root, "dead2", "One.")
    folder = store.folder_of(root, ms.id)
    with open(folder / store.HISTORY, "ab") as fh:
        fh.write(b'{"rev": 2, "ki')
    store.forget(folder)
    opened = store.load(root, ms.id)
    assert opened.ms.revision == 1 and [n["key"] for n in opened.notices] == ["manuscript.cut_line"]
    assert _history_bytes(folder).endswith(b"\n") and len(list(folder.glob("history.jsonl.cut-*"))) == 1
    assert service.save_manuscript_text(root, ms.id, "One. Two.")["revision"] == 2


def test_two_threads_writing_the_same_file_atomically_each_use_their_own_temporary_file(tmp_path):
    path = tmp_path / "status.json"
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(150):
                jsonio.write_json_atomic(path, {"thread": n, "i": i, "pad": "x" * 4000})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert jsonio.read_json(path)["i"] == 149
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"], "no temporary file left behind"


def test_a_save_flushes_its_history_line_and_the_folder_after_the_snapshot_rename(root, monkeypatch):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name what was synced")
    ms = service.new_manuscript(root, "synced", "One.")
    folder = store.folder_of(root, ms.id)
    synced: list[str] = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(store, "SNAPSHOT_GAP_S", 3600.0)
    service.save_manuscript_text(root, ms.id, "One. Two.")  # typing: the history line only
    assert synced == [str(folder / store.HISTORY)]
    synced.clear()
    monkeypatch.setattr(store, "SNAPSHOT_GAP_S", 0.0)
    service.save_manuscript_text(root, ms.id, "One. Two. Three.")  # and manuscript.json, renamed
    assert synced[0] == str(folder / store.HISTORY) and synced[-1] == str(folder)
    assert any(".manuscript.json." in name for name in synced)
    synced.clear()
    jsonio.append_jsonl(root / "log.jsonl", {"a": 1})
    assert synced == [str(root / "log.jsonl"), str(root)]


def test_the_manuscripts_kept_read_in_memory_are_bounded(tmp_path, monkeypatch):
    """A demo's visitors each open a manuscript: past OPEN_KEPT the least recently used is forgotten
    and read again from disk, whole, when next opened."""
    from studio.write import desk
    from studio.write import manuscript_store as store

    monkeypatch.setattr(store, "OPEN_KEPT", 3)
    store._open.clear()
    ids = [desk.new(tmp_path, f"Title {n}", f"Opening {n}.").id for n in range(5)]
    assert len(store._open) == 3 and store.folder_of(tmp_path, ids[0]) not in store._open
    store.load(tmp_path, ids[2])  # used: now the most recent
    desk.new(tmp_path, "Another", "Text.")
    assert store.folder_of(tmp_path, ids[2]) in store._open and store.folder_of(tmp_path, ids[3]) not in store._open
    assert store.load(tmp_path, ids[0]).ms.text == "Opening 0."
