"""The typed records and the one JSON reader/writer: what a reader of a run folder relies on."""
from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from studio import jsonio, records
from studio.records import LossEval, Marker, PreferenceEval, RunState, RunStatus, TrainStep


def test_a_last_line_cut_by_a_kill_is_dropped_and_everything_before_it_kept(tmp_path):
    path = tmp_path / "events.jsonl"
    for step in range(3):
        jsonio.append_jsonl(path, {"kind": "train", "step": step, "loss": 1.0})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"kind": "train", "st')  # the kill came mid-line
    assert [r["step"] for r in jsonio.read_jsonl(path)] == [0, 1, 2]


def test_a_damaged_line_before_the_last_names_the_file_and_line(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(jsonio.DamagedFile) as caught:
        jsonio.read_jsonl(path)
    assert caught.value.line == 2 and "history.jsonl, line 2" in str(caught.value)
    assert [r["a"] for r in jsonio.read_jsonl(path, skip_damaged=True)] == [1, 3]


def _write_then_die(path: str) -> None:
    """Start replacing the file, then die before the rename (a kill during a save)."""
    real_replace = os.replace
    os.replace = lambda *a: os._exit(9)
    try:
        jsonio.write_json_atomic(path, {"version": "new", "pad": "x" * 100_000})
    finally:
        os.replace = real_replace


def test_a_process_killed_while_writing_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "status.json"
    jsonio.write_json_atomic(path, {"version": "old"})
    child = multiprocessing.get_context("fork").Process(target=_write_then_die, args=(str(path),))
    child.start()
    child.join(30)
    assert child.exitcode == 9
    assert json.loads(path.read_text(encoding="utf-8")) == {"version": "old"}


def test_a_damaged_json_file_says_which_file(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text('{"base": ', encoding="utf-8")
    with pytest.raises(jsonio.DamagedFile, match="eval.json"):
        jsonio.read_json(path)
    assert jsonio.read_json(tmp_path / "missing.json", default={}) == {}


def test_status_from_an_older_run_keeps_unknown_fields_and_round_trips():
    old = {"state": "running", "step": 4, "total_steps": 10, "nproc": 1, "some_future_field": [1, 2]}
    status = records.from_dict(RunStatus, old)
    assert status.state is RunState.RUNNING and status.state.active and status.step == 4
    assert f"{status.state}" == "running"
    assert records.to_dict(status) == {**old, "heartbeat": 0.0, "preset": "", "run_id": "", "tokens_seen": 0,
                                       "device": "", "processes": 1, "quantization": "", "quantization_note": "",
                                       "compute_dtype": ""}


def test_events_read_as_their_kind_and_old_dpo_evaluations_are_not_losses():
    lines = [{"kind": "train", "step": 1, "loss": 2.5, "lr": 1e-4},
             {"kind": "eval", "step": 0, "val_loss": 3.1},
             {"kind": "eval", "step": 0, "preference_accuracy": 0.5, "margin": 0.1},  # a DPO run of before
             {"kind": "checkpoint", "step": 2}]
    events = [records.event_from_dict(line) for line in lines]
    assert [type(e) for e in events] == [TrainStep, LossEval, PreferenceEval, Marker]
    assert events[3].kind == "checkpoint"
    assert records.event_to_dict(events[2]) == {"kind": "preference_eval", "step": 0, "preference_accuracy": 0.5,
                                                "margin": 0.1}


def test_each_recipe_reads_back_its_own_evaluation_shape():
    sft = records.evaluation_from_dict({"base": {"loss": 3.0}, "tuned": {"loss": 2.0}, "steps": 5})
    dpo = records.evaluation_from_dict({"objective": "dpo", "pairs": 4, "before": {}, "after": {}})
    blend = records.evaluation_from_dict({"objective": "blend", "method": "linear", "sources": [], "splits": []})
    assert (type(sft).__name__, type(dpo).__name__, type(blend).__name__) == ("SftEvaluation", "DpoEvaluation",
                                                                               "BlendEvaluation")
    assert records.evaluation_from_dict({}) is None
