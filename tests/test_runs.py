import json
import os
import subprocess
import sys
import threading
import time

from studio import runs
from studio.paths import PROJECT_ROOT


def test_events_append_and_survive_a_torn_last_line(tmp_path):
    runs.append_event(tmp_path, {"kind": "train", "step": 1, "loss": 2.0})
    runs.append_event(tmp_path, {"kind": "train", "step": 2, "loss": 1.5})
    with open(tmp_path / "events.jsonl", "a") as fh:
        fh.write('{"kind": "train", "step": 3, "lo')  # a kill mid-write
    events = runs.read_events(tmp_path)
    assert [e["step"] for e in events] == [1, 2] and all("time" in e for e in events)


def test_status_is_replaced_atomically(tmp_path):
    runs.write_json_atomic(tmp_path / "status.json", {"state": "running", "pid": os.getpid(), "heartbeat": time.time()})
    runs.write_json_atomic(tmp_path / "status.json", {"state": "completed"})
    assert json.loads((tmp_path / "status.json").read_text()) == {"state": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_reader_never_sees_a_half_written_status(tmp_path):
    """The UI polls status.json while the worker rewrites it: every read is one whole version.
    Each version is large (about 200 KB, many buffer flushes), so a writer that truncated the file
    and wrote into it in place would be caught between its first and last write."""
    path = tmp_path / "status.json"
    versions = [{"state": "running", "step": n, "log": [f"line {n}-{i}" for i in range(20_000)]} for n in range(2)]
    runs.write_json_atomic(path, versions[0])
    done, seen, bad = threading.Event(), [], []

    def read_while_written():
        while not done.is_set():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (FileNotFoundError, json.JSONDecodeError) as exc:
                bad.append(repr(exc)[:120])
                continue
            seen.append(data["step"])
            if data not in versions:
                bad.append(f"a status that was never written, step {data.get('step')}")

    reader = threading.Thread(target=read_while_written)
    reader.start()
    try:
        for n in range(40):
            runs.write_json_atomic(path, versions[n % 2])
    finally:
        done.set()
        reader.join()
    assert not bad, bad[:3]
    assert len(set(seen)) == 2, "the reader saw both versions: it read while the writer wrote"


CRASH_MID_WRITE = """
import os, sys
from pathlib import Path
from studio import runs

class Crash(dict):
    def items(self):  # json.dump reaches this after the long log: the process dies mid-write
        os._exit(3)

runs.write_json_atomic(Path(sys.argv[1]), {"state": "completed", "log": "x" * 200_000, "last": Crash(a=1)})
"""


def test_a_writer_killed_mid_write_leaves_the_last_status_whole(tmp_path):
    """A kill while status.json is being rewritten (os._exit: no cleanup, no flush) leaves the
    previous version readable, not a truncated file that would read as a failed run."""
    path = tmp_path / "status.json"
    before = {"state": "running", "pid": os.getpid(), "heartbeat": time.time(), "step": 7}
    runs.write_json_atomic(path, before)
    crashed = subprocess.run([sys.executable, "-c", CRASH_MID_WRITE, str(path)], cwd=PROJECT_ROOT,
                             env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True, text=True, timeout=60)
    assert crashed.returncode == 3, crashed.stderr[-2000:]  # it died where planned, mid-write
    assert json.loads(path.read_text(encoding="utf-8")) == before
    assert runs.read_status(tmp_path).step == 7


def test_a_dead_worker_reads_as_interrupted(tmp_path):
    proc = subprocess.Popen(["true"])
    proc.wait()
    runs.write_json_atomic(tmp_path / "status.json", {"state": "running", "pid": proc.pid, "heartbeat": time.time()})
    status = runs.read_status(tmp_path)
    assert status.state == "interrupted" and "stopped" in status.reason


def test_a_silent_worker_reads_as_interrupted(tmp_path):
    old = time.time() - runs.STALE_AFTER_SECONDS - 5
    runs.write_json_atomic(tmp_path / "status.json", {"state": "running", "pid": os.getpid(), "heartbeat": old})
    assert runs.read_status(tmp_path).state == "interrupted"


def test_a_live_or_starting_worker_reads_as_it_says(tmp_path):
    runs.write_json_atomic(tmp_path / "status.json", {"state": "running", "pid": os.getpid(), "heartbeat": time.time()})
    assert runs.read_status(tmp_path).state == "running"
    runs.write_json_atomic(tmp_path / "status.json", {"state": "queued", "pid": None, "heartbeat": time.time()})
    assert runs.read_status(tmp_path).state == "queued"
