"""Job lifecycle with real worker processes on the tiny model: every state a user can see."""
import fcntl
import os
import signal
import time

import pytest

from conftest import tiny_overrides
from studio.corpus.store import read_split
from studio import jobs, runs, service
from studio.config import TrainConfig
from studio.corpus.decode import CorpusError
from studio.messages import render
from studio.paths import BadName


def wait_until(predicate, timeout=90, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def status(root, run_id):
    return runs.read_status(runs.run_dir(root, run_id))


def test_a_run_completes_with_adapter_events_and_eval(root, sample_corpus, tiny_model_dir):
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir))
    final = jobs.wait(root, run_id, timeout=120)
    assert final.state == "completed", final
    folder = runs.run_dir(root, run_id)
    train_events = [e for e in runs.read_events(folder) if e["kind"] == "train"]
    assert [e["step"] for e in train_events] == [1, 2, 3, 4]
    assert all({"loss", "lr", "tokens_per_s", "eta_s"} <= e.keys() for e in train_events)
    assert train_events[-1]["eta_s"] == 0
    ev = runs.read_eval(folder)
    assert ev["base"]["perplexity"] > 0 and ev["tuned"]["perplexity"] > 0
    style = ev["style"]  # held-out openings continued by base and tuned with one seed, each scored
    assert style["openings"] == len(style["rows"]) >= 4 and 0 <= style["tuned_closer"] <= style["openings"]
    assert any(r["base"] != r["tuned"] for r in style["rows"]) and 0 <= style["tuned_copied"] <= 1
    val = " ".join(r["text"] for r in read_split(root, "lamp", "", "val"))
    assert all(r["opening"] in val and r["base_distance"] > 0 for r in style["rows"])
    assert runs.read_config(folder).corpus == "lamp"
    assert (folder / "corpus.json").exists()

    # the adapter is PEFT's own format: plain transformers + peft load it, nothing of ours needed
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(base, folder / "adapter")
    assert (folder / "adapter" / "adapter_model.safetensors").exists()
    assert not (folder / "adapter" / "adapter_model.bin").exists()
    assert any("lora_" in n for n, _ in tuned.named_parameters())


def test_a_run_that_cannot_load_its_model_fails_with_a_reason(root, sample_corpus, tiny_model_dir, tmp_path):
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", [f"model={tmp_path}/missing-model"])
    final = jobs.wait(root, run_id, timeout=90)
    assert final.state == "failed"
    assert "missing-model" in final.reason and final.advice


# Loaded by the worker's Python at start-up (sitecustomize on PYTHONPATH): it starts a child shell
# that starts a grandchild, as a data loader or a tokenizer pool would, and writes down their pids.
SPAWN_FAMILY = """
import os, subprocess
record = os.environ.pop("STUDIO_TEST_FAMILY", None)  # popped: the family itself starts no family
if record:
    child = subprocess.Popen(["sh", "-c", 'sleep 600 & echo $! > "$0.grandchild"; wait', record])
    with open(record + ".child", "w") as fh:
        fh.write(str(child.pid))
"""


def test_cancel_saves_a_checkpoint_and_ends_the_process_group(root, sample_corpus, tiny_model_dir, tmp_path, monkeypatch):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SPAWN_FAMILY)
    record = tmp_path / "family"
    monkeypatch.setenv("PYTHONPATH", str(hook))
    monkeypatch.setenv("STUDIO_TEST_FAMILY", str(record))
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo",
                                    tiny_overrides(tiny_model_dir, max_steps=100000))
    family = []
    try:
        wait_until(lambda: status(root, run_id).step >= 2, what="training steps")
        pid = status(root, run_id).pid
        family = [int(wait_until(lambda p=p: p.exists() and p.read_text().strip(), what=p.name))
                  for p in (record.with_suffix(".child"), record.with_suffix(".grandchild"))]
        assert all(runs._pid_alive(p) and os.getpgid(p) == pid for p in family)  # the worker's group
        jobs.cancel(root, run_id)
        final = jobs.wait(root, run_id, timeout=60)
        assert final.state == "cancelled"
        checkpoints = list((runs.run_dir(root, run_id) / "checkpoints").iterdir())
        assert checkpoints and (checkpoints[0] / "adapter_model.safetensors").exists()
        wait_until(lambda: not runs._pid_alive(pid), timeout=20, what="worker exit")
        wait_until(lambda: not any(runs._pid_alive(p) for p in family), timeout=20,
                   what="the worker's child and grandchild to end with it")
        with pytest.raises(jobs.JobError, match="cancelled, not running"):
            jobs.cancel(root, run_id)
    finally:
        for p in family:  # only if the test failed: leave no sleeper behind
            if runs._pid_alive(p):
                os.kill(p, signal.SIGKILL)


def test_a_second_start_queues_until_the_slot_is_free(root, sample_corpus, tiny_model_dir):
    (root / "runs").mkdir(parents=True, exist_ok=True)
    with open(root / "runs" / ".slot.lock", "w") as slot:
        fcntl.flock(slot, fcntl.LOCK_EX)  # another job holds the training slot
        run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir))
        queued = wait_until(lambda: "another run" in render("en", status(root, run_id).message or "") and status(root, run_id),
                            what="queued message")
        assert queued.state == "queued"
        time.sleep(1)
        assert status(root, run_id).state == "queued"
        fcntl.flock(slot, fcntl.LOCK_UN)
    assert jobs.wait(root, run_id, timeout=120).state == "completed"


def test_a_cancelled_queued_run_never_trains(root, sample_corpus, tiny_model_dir):
    (root / "runs").mkdir(parents=True, exist_ok=True)
    with open(root / "runs" / ".slot.lock", "w") as slot:
        fcntl.flock(slot, fcntl.LOCK_EX)
        run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir))
        wait_until(lambda: "another run" in render("en", status(root, run_id).message or ""), what="queued")
        jobs.cancel(root, run_id)
        assert jobs.wait(root, run_id, timeout=30).state == "cancelled"
    assert not runs.read_events(runs.run_dir(root, run_id))


def test_kill_9_reads_as_interrupted(root, sample_corpus, tiny_model_dir):
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo",
                                    tiny_overrides(tiny_model_dir, max_steps=100000))
    wait_until(lambda: status(root, run_id).step >= 1, what="training steps")
    os.killpg(status(root, run_id).pid, signal.SIGKILL)
    final = jobs.wait(root, run_id, timeout=30)
    assert final.state == "interrupted"


def test_missing_corpus_and_hostile_names_are_refused_before_anything_runs(root, tiny_model_dir):
    with pytest.raises(CorpusError, match="no corpus named 'ghost'"):
        jobs.create_run(root, TrainConfig(corpus="ghost"))
    with pytest.raises(BadName):
        jobs.create_run(root, TrainConfig(corpus="../../etc"))
    with pytest.raises(BadName):
        runs.run_dir(root, "../../etc")
    assert not (root / "runs").exists() or not [p for p in (root / "runs").iterdir() if not p.name.startswith(".")]


def test_a_pairs_corpus_trains_on_the_responses_and_reports_rouge_and_bleu(root, tiny_model_dir, tmp_path):
    import json

    from conftest import SAMPLE
    from studio.models import load_tokenizer
    from studio.formatting import record_to_example
    from studio.train.packing import IGNORE

    entries = SAMPLE.read_text(encoding="utf-8").split("\n---\n")
    rows = [{"document": e, "summary": e.splitlines()[-1]} for e in entries[:24]]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    service.ingest(root, [data], "sums", mode="pairs", model=str(tiny_model_dir), val_share=0.2)
    run_id = service.start_training(root, "sums", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, prompt_template="Summarize: {prompt}", eval_examples=3, eval_max_new_tokens=8))
    assert jobs.wait(root, run_id, timeout=180).state == "completed"
    result = runs.read_eval(runs.run_dir(root, run_id))
    for side in ("base", "tuned"):
        assert set(result[side]["generation"]) == {"rouge1", "rouge2", "rougeL", "bleu", "examples"}
        assert result[side]["generation"]["examples"] == 3

    tok = load_tokenizer(str(tiny_model_dir))  # no chat template of its own: the plain layout
    record = {"prompt": "The lamp was lit.", "response": "Lamp lit."}
    ids, labels = record_to_example(record, tok, "tokenizer", completion_only=True, prompt_template="Summarize:\n\n{prompt}")
    assert tok.decode(ids).startswith("User: Summarize:\n\nThe lamp was lit.\n\nAssistant: Lamp lit.")
    learned = tok.decode([t for t in labels if t != IGNORE])
    assert learned.strip().startswith("Lamp lit.") and "Summarize" not in learned and labels[0] == IGNORE
    _, all_labels = record_to_example(record, tok, "tokenizer", completion_only=False)
    assert IGNORE not in all_labels
    chatml_ids, chatml_labels = record_to_example(record, tok, "chatml")
    assert tok.decode([t for t in chatml_labels if t != IGNORE]).startswith("Lamp lit.<|im_end|>")

@pytest.mark.parametrize("settings", [
    {"quantization": "fp4", "double_quant": False},
    {"quantization": "int8"},
    {"quantization": "none", "gradient_checkpointing": True, "use_rslora": True},
    {"quantization": "nf4", "use_dora": True, "packing": False},
])
def test_every_base_weight_format_and_adapter_variant_trains(root, sample_corpus, tiny_model_dir, settings):
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir, max_steps=2, **settings))
    final = jobs.wait(root, run_id, timeout=120)
    folder = runs.run_dir(root, run_id)
    assert final.state == "completed", (final, (folder / "worker.log").read_text()[-2000:])
    assert runs.read_eval(folder)["tuned"]["perplexity"] > 0
    config = (folder / "adapter" / "adapter_config.json").read_text()
    assert ('"use_dora": true' in config) == settings.get("use_dora", False)
    assert ('"use_rslora": true' in config) == settings.get("use_rslora", False)
