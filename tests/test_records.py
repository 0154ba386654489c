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


def test_a_run_folder_written_before_the_records_opens_in_every_view(tmp_path):
    """The files exactly as the worker wrote them before this redesign (nulls, no `objective`, a DPO
    evaluation as kind `eval`, `style: null`): the run lists, its view, its curves and its table."""
    from studio import runs, service
    from studio.config import TrainConfig
    from studio.ui.views import eval_markdown, loss_frame, progress_html, runs_frame

    root = tmp_path / "data"
    folder = root / "runs" / "20261120-101010-lamp-ab12"
    folder.mkdir(parents=True)
    runs.write_config(folder, TrainConfig(corpus="lamp"))
    (folder / "status.json").write_text(json.dumps({
        "state": "completed", "run_id": folder.name, "preset": "quick-cpu-demo", "created": 1.0, "heartbeat": 9.0,
        "pid": 4242, "step": 2, "total_steps": 2, "message": {"key": "status.done", "fields": {}}, "nproc": 1,
        "pgid": 4242, "started": 2.0, "reason": None, "advice": None, "finished": 9.0, "device": "cpu",
        "processes": 1, "quantization": "none", "quantization_note": "", "compute_dtype": "float32", "eta_s": 0.0,
        "tokens_seen": 512}), encoding="utf-8")
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in [
        {"time": 1.0, "kind": "eval", "step": 0, "val_loss": 4.5},
        {"time": 2.0, "kind": "train", "step": 1, "epoch": 0.5, "loss": 4.2, "lr": 1e-4, "grad_norm": 1.5,
         "tokens_per_s": 300.0, "elapsed_s": 1.0, "eta_s": 1.0},
        {"time": 3.0, "kind": "checkpoint", "step": 1},
        {"time": 4.0, "kind": "train", "step": 2, "epoch": 1.0, "loss": 3.9, "lr": 5e-5, "grad_norm": 1.2,
         "tokens_per_s": 310.0, "elapsed_s": 2.0, "eta_s": 0.0},
        {"time": 5.0, "kind": "eval", "step": 2, "preference_accuracy": 0.5, "margin": 0.1},
        {"time": 6.0, "kind": "eval", "step": 2, "val_loss": 3.8}]), encoding="utf-8")
    (folder / "eval.json").write_text(json.dumps({
        "split": "val", "val_blocks": 3, "base": {"loss": 4.5, "perplexity": 90.02}, "tuned": {"loss": 3.8, "perplexity": 44.7},
        "perplexity_change": -0.5034, "train_seconds": 2.0, "tokens_seen": 512, "steps": 2, "stopped_early": "",
        "peak_memory_gb": 1.2, "quantization": "none", "style": None}), encoding="utf-8")
    (folder / "corpus.json").write_text(json.dumps({"name": "lamp", "version": "v3", "mode": "text"}), encoding="utf-8")

    view = service.run_view(root, folder.name)
    assert view.status.state is RunState.COMPLETED and view.status.tokens_seen == 512
    assert [type(e).__name__ for e in view.events] == ["LossEval", "TrainStep", "Marker", "TrainStep",
                                                       "PreferenceEval", "LossEval"]
    assert type(view.evaluation).__name__ == "SftEvaluation" and view.evaluation.tuned["perplexity"] == 44.7
    assert "44.70 (-50%)" in eval_markdown(view.evaluation) and "completed" in progress_html(view)
    assert sorted(loss_frame(view.events).dropna()["loss"]) == [3.8, 3.9, 4.2, 4.5]
    assert runs.RunFolder(folder).trained_corpus_version() == "v3"
    [row] = service.list_runs(root)
    assert row["state"] == "completed" and "90.02 → 44.70" in runs_frame([row]).to_string()
