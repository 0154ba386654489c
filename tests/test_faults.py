"""Training faults on real worker processes and the tiny model: kill -9 and resume, NaN, out of
memory, a full disk, early stopping. NaN, OOM and ENOSPC are injected with STUDIO_FAULT
(studio/train/faults.py); the kill is a real SIGKILL."""
import os
import signal

import pytest

from conftest import tiny_overrides
from studio import jobs, jsonio, runs, service
from studio.messages import render
from studio.train import checkpoints
from test_jobs import status, wait_until


def train_losses(folder):
    return {e["step"]: e["loss"] for e in runs.read_events(folder) if e["kind"] == "train"}


def start(root, corpus, model_dir, **extra):
    return service.start_training(root, corpus, "quick-cpu-demo", tiny_overrides(model_dir, **extra))


def test_kill_9_then_resume_continues_the_same_curve(root, sample_corpus, tiny_model_dir, monkeypatch):
    settings = dict(max_steps=8, save_every=2, keep_last=2)
    reference = start(root, sample_corpus, tiny_model_dir, **settings)
    assert jobs.wait(root, reference, timeout=120).state == "completed"

    monkeypatch.setenv("STUDIO_FAULT", "slow@0.7")
    run_id = start(root, sample_corpus, tiny_model_dir, **settings)
    folder = runs.run_dir(root, run_id)
    wait_until(lambda: (checkpoints.latest(folder) or (0,))[0] >= 4 and status(root, run_id).step >= 5,
               timeout=120, what="step 5 after checkpoint 4")
    os.killpg(status(root, run_id).pid, signal.SIGKILL)
    assert wait_until(lambda: status(root, run_id).state == "interrupted", timeout=30, what="interrupted")
    last = checkpoints.latest(folder)[0]
    assert [step for step, _ in checkpoints.complete_checkpoints(folder)] == [last - 2, last]  # keep_last=2

    monkeypatch.delenv("STUDIO_FAULT")
    service.resume_run(root, run_id)
    final = jobs.wait(root, run_id, timeout=120)
    assert final.state == "completed" and not final.reason, final
    events = runs.read_events(folder)
    assert [e["step"] for e in events if e["kind"] == "train"] == list(range(1, 9))  # each step once
    assert [e["step"] for e in events if e["kind"] == "resumed"] == [last]
    # optimizer, scheduler, data order and RNG restored: the same losses as the run never killed
    assert train_losses(folder) == pytest.approx(train_losses(runs.run_dir(root, reference)), rel=1e-4)
    assert (folder / "adapter" / "adapter_model.safetensors").exists()
    assert list((folder / "tb").iterdir())  # TensorBoard logs beside events.jsonl


def test_only_stopped_runs_with_a_checkpoint_resume(root, sample_corpus, tiny_model_dir):
    run_id = start(root, sample_corpus, tiny_model_dir)
    assert jobs.wait(root, run_id, timeout=120).state == "completed"
    with pytest.raises(jobs.JobError, match="only interrupted, cancelled or failed runs resume"):
        service.resume_run(root, run_id)


@pytest.mark.parametrize("fault", ["nan@3", "nan-loss@3"])
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(root, sample_corpus, tiny_model_dir, monkeypatch, fault):
    # nan@3: a real NaN in a LoRA gradient after step 3's backward pass, the loss finite; nan-loss@3: the loss
    monkeypatch.setenv("STUDIO_FAULT", fault)
    run_id = start(root, sample_corpus, tiny_model_dir, save_every=2)
    final = jobs.wait(root, run_id, timeout=120)
    folder = runs.run_dir(root, run_id)
    assert final.state == "failed", final
    assert "NaN/infinite at step 3" in final.reason and "step-2 is the last good one" in final.reason
    assert "learning_rate" in final.advice
    assert final.reason_message == {"key": "failure.nan", "fields": {"step": 3, "last": 2}}
    assert render("zh", final.reason_message).startswith("第 3 步")
    assert checkpoints.latest(folder)[0] == 2
    assert sorted(train_losses(folder)) == [1, 2]  # step 3 was never taken
    assert all(loss == loss for loss in train_losses(folder).values())


def test_a_checkpoint_from_before_train_state_resumes(root, sample_corpus, tiny_model_dir):
    """Checkpoints written before TrainState hold its values as a dict under "progress"."""
    import torch

    settings = dict(max_steps=6, save_every=2, keep_last=3)
    reference = start(root, sample_corpus, tiny_model_dir, **settings)
    assert jobs.wait(root, reference, timeout=120).state == "completed"
    run_id = start(root, sample_corpus, tiny_model_dir, **settings)
    folder = runs.run_dir(root, run_id)
    assert jobs.wait(root, run_id, timeout=120).state == "completed"
    for step, ckpt in checkpoints.complete_checkpoints(folder):
        if step != 2:
            import shutil

            shutil.rmtree(ckpt)
            continue
        saved = checkpoints.load_state(ckpt)
        saved["progress"] = saved.pop("train_state")  # as today's main writes it
        torch.save(saved, ckpt / checkpoints.STATE_FILE)
    status_file = folder / "status.json"
    jsonio.write_json_atomic(status_file, {**jsonio.read_json(status_file), "state": "interrupted"})
    service.resume_run(root, run_id)
    final = jobs.wait(root, run_id, timeout=120)
    assert final.state == "completed", final
    assert [e["step"] for e in runs.read_events(folder) if e["kind"] == "resumed"] == [2]
    assert train_losses(folder) == pytest.approx(train_losses(runs.run_dir(root, reference)), rel=1e-4)
    assert runs.read_eval(folder)["objective"] == "sft"


def test_out_of_memory_retries_at_half_the_micro_batch(root, sample_corpus, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULT", "oom@1")
    run_id = start(root, sample_corpus, tiny_model_dir, batch_size=4)
    final = jobs.wait(root, run_id, timeout=120)
    assert final.state == "completed", final
    retries = [e for e in runs.read_events(runs.run_dir(root, run_id)) if e["kind"] == "oom_retry"]
    assert [(e["step"], e["micro_batch"]) for e in retries] == [(1, 2), (1, 1)]


def test_out_of_memory_at_micro_batch_1_fails_with_advice(root, sample_corpus, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULT", "oom-always@1")
    run_id = start(root, sample_corpus, tiny_model_dir, batch_size=2)
    final = jobs.wait(root, run_id, timeout=120)
    assert final.state == "failed" and "out of memory even at micro-batch 1" in final.reason
    assert "gradient_checkpointing" in final.advice


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(root, sample_corpus, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("STUDIO_FAULT", "enospc@4")
    run_id = start(root, sample_corpus, tiny_model_dir, max_steps=6, save_every=2)
    final = jobs.wait(root, run_id, timeout=120)
    folder = runs.run_dir(root, run_id)
    assert final.state == "failed"
    assert "could not write checkpoint step-4: No space left on device" in final.reason
    assert "free disk space" in final.advice
    assert checkpoints.latest(folder)[0] == 2
    assert not [p for p in (folder / "checkpoints").iterdir() if p.name.startswith(".")]  # no half-written folder


def test_early_stopping_keeps_the_best_adapter(root, sample_corpus, tiny_model_dir):
    # min_delta so large that no evaluation after the first counts as an improvement
    run_id = start(root, sample_corpus, tiny_model_dir, max_steps=10, eval_every=1, early_stopping_patience=2,
                   early_stopping_min_delta=100)
    final = jobs.wait(root, run_id, timeout=120)
    assert final.state == "completed" and render("en", final.message).startswith("stopped early at step 3")
    folder = runs.run_dir(root, run_id)
    result = runs.read_eval(folder)
    assert result["steps"] == 3 and "best one, from step 1" in render("en", result["stopped_early"])
    assert [e["step"] for e in runs.read_events(folder) if e["kind"] == "early_stop"] == [3]
    # the adapter saved is step 1's: its validation loss is the one measured at step 1
    at_step_1 = next(e["val_loss"] for e in runs.read_events(folder) if e["kind"] == "eval" and e["step"] == 1)
    assert result["tuned"]["loss"] == pytest.approx(at_step_1, abs=1e-4)
