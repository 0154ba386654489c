"""The worker under torchrun: two processes on the CPU (gloo), one adapter saved by rank 0."""
from conftest import tiny_overrides
from studio import jobs, runs, service


def test_two_processes_train_one_run_and_save_one_adapter_that_loads(root, sample_corpus, tiny_model_dir):
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo",
                                    tiny_overrides(tiny_model_dir, max_steps=3, save_every=2, device="cpu"), nproc=2)
    final = jobs.wait(root, run_id, timeout=240)
    folder = runs.run_dir(root, run_id)
    assert final.state == "completed", (final, (folder / "worker.log").read_text()[-3000:])
    assert final.processes == 2
    events = runs.read_events(folder)
    assert [e["step"] for e in events if e["kind"] == "train"] == [1, 2, 3]  # rank 0 alone reports
    assert [e["step"] for e in events if e["kind"] == "checkpoint"] == [2]
    # a step is batch_size (2) blocks of 32 tokens per process: more than one process's 3 x 2 x 31
    # targets were trained on, so the second process did its share
    assert runs.read_eval(folder)["tokens_seen"] > 3 * 2 * 31
    saved = list(folder.glob("**/adapter_model.safetensors"))
    assert sorted(p.parent.name for p in saved) == ["adapter", "step-2"]  # once, not once per process

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), folder / "adapter")
    assert any("lora_" in n for n, _ in tuned.named_parameters())
    assert runs.read_eval(folder)["tuned"]["perplexity"] > 0


def test_out_of_memory_in_one_process_retries_the_step_in_all(root, sample_corpus, tiny_model_dir, monkeypatch):
    # only the second process runs out of memory (at any micro-batch above 1); without agreement
    # the first would wait for it forever
    monkeypatch.setenv("STUDIO_FAULT", "oom@2")
    monkeypatch.setenv("STUDIO_FAULT_RANK", "1")
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo",
                                    tiny_overrides(tiny_model_dir, max_steps=3, batch_size=4, device="cpu"), nproc=2)
    final = jobs.wait(root, run_id, timeout=240)
    folder = runs.run_dir(root, run_id)
    assert final.state == "completed", (final, (folder / "worker.log").read_text()[-3000:])
    events = runs.read_events(folder)
    assert [(e["step"], e["micro_batch"]) for e in events if e["kind"] == "oom_retry"] == [(2, 2), (2, 1)]
    assert [e["step"] for e in events if e["kind"] == "train"] == [1, 2, 3]
