"""The worker under torchrun: two processes on the CPU (gloo), one adapter saved by rank 0 (the
replicated two-machine test checks it); the sharded path (FSDP2) and two machines on the loopback address.

The sharded tests train the real 4-bit path (nf4, stored in the compute dtype so FSDP can split
it; bitsandbytes' CPU backend runs it here) and match a one-process reference run's losses within
LOSS_TOLERANCE.
"""
import subprocess

import pytest
from conftest import SAMPLE, free_port, tiny_overrides

from studio import jobs, runs, service


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


# What one process and two differ by: the same sums in another order (the reduce-scatter, the
# all-reduce). Measured: 2e-6 at most on these losses (about 6.4).
LOSS_TOLERANCE = 1e-4
STEPS = {"max_steps": 4, "save_every": 2, "device": "cpu", "quantization": "nf4", "lora_dropout": 0.0,
         "style_openings": 0, "bias_probe": False, "eval_examples": 0,  # the final evaluation: loss only
         "eval_every": 2, "gradient_checkpointing": True}  # validation during training, as the GPU presets run


def losses(root, run_id) -> list[float]:
    """The training losses, then the validation losses, in order."""
    events = runs.read_events(runs.run_dir(root, run_id))
    return [e["loss"] for e in events if e["kind"] == "train"] + [e["val_loss"] for e in events if e["kind"] == "eval"]


def finished(root, run_id, timeout=240):
    final = jobs.wait(root, run_id, timeout=timeout, poll=0.3)
    assert final.state == "completed", (final, (runs.run_dir(root, run_id) / "worker.log").read_text()[-3000:])
    return final


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= LOSS_TOLERANCE for x, y in zip(a, b))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model_dir):
    """(root, run id): one process, two micro-batches of 2 blocks per step, the 4 blocks two
    processes of batch 2 share."""
    root = tmp_path_factory.mktemp("shard") / "data"
    service.ingest(root, [SAMPLE], "lamp", model=str(tiny_model_dir))
    run_id = service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(tiny_model_dir, grad_accum=2, **STEPS))
    finished(root, run_id)
    return root, run_id


def test_sharded_two_processes_match_one_resume_and_save_a_plain_adapter(reference, tiny_model_dir, monkeypatch):
    root, ref = reference
    monkeypatch.setenv("STUDIO_FAULT", "nan-loss@3")  # fails at step 3; step 2 was checkpointed
    run_id = service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(tiny_model_dir, shard=True, **STEPS),
                                    nproc=2)
    assert jobs.wait(root, run_id, timeout=240, poll=0.3).state == "failed"
    monkeypatch.delenv("STUDIO_FAULT")
    service.resume_run(root, run_id)
    final = finished(root, run_id)
    folder = runs.run_dir(root, run_id)
    assert final.processes == 2
    assert close(losses(root, run_id), losses(root, ref)), (losses(root, run_id), losses(root, ref))
    assert [e["step"] for e in runs.read_events(folder) if e["kind"] == "resumed"] == [2]
    tuned, expected = runs.read_eval(folder)["tuned"]["loss"], runs.read_eval(runs.run_dir(root, ref))["tuned"]["loss"]
    assert abs(tuned - expected) <= LOSS_TOLERANCE

    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    saved = load_file(folder / "adapter" / "adapter_model.safetensors")
    same = load_file(runs.run_dir(root, ref) / "adapter" / "adapter_model.safetensors")
    assert saved.keys() == same.keys()  # whole tensors, PEFT's names, not shards
    assert all(saved[k].shape == same[k].shape for k in saved)
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), folder / "adapter")
    assert any("lora_" in n for n, _ in plain.named_parameters())


@pytest.mark.parametrize("shard", [False, True], ids=["replicated", "sharded"])
def test_two_machines_on_loopback_match_one_process(reference, tiny_model_dir, shard):
    """Two torchrun launches, node 0 and node 1 of --nnodes 2, meeting at a c10d rendezvous on
    127.0.0.1; both see the run folder (the shared disk several machines need)."""
    root, ref = reference
    nodes = jobs.Nodes(2, 0, f"127.0.0.1:{free_port()}")
    run_id = service.start_training(root, "lamp", "quick-cpu-demo",
                                    tiny_overrides(tiny_model_dir, shard=shard, **STEPS), nproc=1, nodes=nodes)
    folder = runs.run_dir(root, run_id)
    command = jobs.torchrun(folder, 1, jobs.Nodes(2, 1, nodes.rdzv))
    assert "--node-rank=1" in command and "--rdzv-backend=c10d" in command
    with open(folder / "node-1.log", "wb") as log:
        other = subprocess.Popen(command, cwd=jobs.PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 env=jobs.worker_env())
    final = finished(root, run_id)
    assert other.wait(timeout=60) == 0, (folder / "node-1.log").read_text()[-3000:]
    assert final.processes == 2
    assert close(losses(root, run_id), losses(root, ref)), (losses(root, run_id), losses(root, ref))
    events = runs.read_events(folder)
    assert [e["step"] for e in events if e["kind"] == "train"] == [1, 2, 3, 4]  # rank 0 alone reports
    saved = sorted(p.parent.name for p in folder.glob("**/adapter_model.safetensors"))
    assert saved == ["adapter", "step-2"], saved  # once, not once per process


def test_estimate_shows_memory_per_gpu_under_sharding_and_shard_is_sft_only():
    from studio.config import ConfigError, TrainConfig
    from studio.estimate import memory_gb
    from studio.ui.views import estimate_markdown

    shape = {"hidden_size": 8192, "num_hidden_layers": 80, "vocab_size": 128256}  # a 70B
    settings = {"quantization": "nf4", "seq_len": 1024, "batch_size": 1, "gradient_checkpointing": True}
    whole = memory_gb(TrainConfig(**settings), 70_000, shape, "cuda")
    split = memory_gb(TrainConfig(**settings, shard=True), 70_000, shape, "cuda", 4)
    assert whole["base weights"] > 24 > split["total"]  # 70B in 4-bit fits 24 GB GPUs only sharded (4 of them)
    assert split["base weights"] == round(whole["base weights"] / 4, 2) and split["sharded_over"] == 4
    assert split["gathered layers"] > 0 and split["activations"] == whole["activations"]
    assert memory_gb(TrainConfig(quantization="nf4", shard=True), 70_000, shape, "cuda", 1) == \
        memory_gb(TrainConfig(quantization="nf4"), 70_000, shape, "cuda")  # one process: nothing to split
    est = {"plan": {"steps": 1, "steps_per_epoch": 1, "tokens": 1, "minutes": None, "share": 1.0, "passes": 1.0}, "memory": split, "speed": None,
           "speed_source": "x", "device": "cuda", "quantization": "nf4"}
    assert "per GPU, sharded over 4 processes" in estimate_markdown(est, "en")
    assert "每块 GPU，切分到 4 个进程" in estimate_markdown(est, "zh")
    with pytest.raises(ConfigError, match="shard"):
        TrainConfig(objective="dpo", init_adapter="run-a", shard=True)


def test_torchrun_command_for_one_machine_and_for_node_k_of_several(tmp_path):
    one = jobs.torchrun(tmp_path / "run-1", 2)
    assert "--standalone" in one and "--nproc-per-node=2" in one and one[-3:] == ["-m", "studio.train", str(tmp_path / "run-1")]
    other = jobs.torchrun(tmp_path / "run-1", 4, jobs.Nodes(2, 1, "node0:29500"))
    assert {"--nnodes=2", "--node-rank=1", "--rdzv-backend=c10d", "--rdzv-endpoint=node0:29500", "--rdzv-id=run-1",
            "--nproc-per-node=4"} <= set(other) and "--standalone" not in other
    with pytest.raises(ValueError, match="rdzv"):
        service.start_training_config(tmp_path, service.training_config("lamp", "quick-cpu-demo"), nproc=1,
                                      nodes=jobs.Nodes(2, 0, ""))


def test_the_train_tab_starts_a_sharded_run_with_its_process_count(tmp_path, monkeypatch):
    from studio.ui import train_tab
    from studio.ui.wiring import Call

    started = []
    monkeypatch.setattr(service, "start_training_config", lambda root, cfg, preset, nproc: started.append((cfg, nproc)) or "r1")
    filled = train_tab.fill_from_preset(Call(tmp_path, "en"), "quick-cpu-demo")
    assert filled["shard"] is False
    form = train_tab.TrainForm("lamp", "quick-cpu-demo", "", None, "", filled["advanced"], nproc=2.0, shard=True)
    train_tab.start(Call(tmp_path, "en"), form)
    [(cfg, nproc)] = started
    assert cfg.shard is True and nproc == 2
