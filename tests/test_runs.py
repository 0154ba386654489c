import json
import os
import subprocess
import time

from studio import runs


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
