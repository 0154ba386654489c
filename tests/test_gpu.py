"""The CUDA path: 4-bit QLoRA in bf16 on a GPU, drafting there, and cancel freeing the GPU.
Marked `gpu`: skipped on machines without CUDA (CI); run on a lent GPU machine."""
from pathlib import Path

import pytest

from conftest import tiny_overrides
from studio import jobs, runs, service
from studio.config import GenConfig
from studio.write.drafter import Drafter
from test_jobs import status, wait_until

pytestmark = pytest.mark.gpu


def alive(pid: int) -> bool:
    """Running, not exited (a zombie awaiting its parent counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def cuda_run(root, corpus, model_dir, **extra):
    return service.start_training(root, corpus, "quick-cpu-demo", tiny_overrides(model_dir, device="cuda", **extra))


@pytest.mark.parametrize("quantization", ["nf4", "int8", "none"])
def test_a_run_trains_on_the_gpu_in_bf16_and_improves(root, sample_corpus, tiny_model_dir, quantization):
    run_id = cuda_run(root, sample_corpus, tiny_model_dir, quantization=quantization, max_steps=12, save_every=6)
    final = jobs.wait(root, run_id, timeout=300)
    folder = runs.run_dir(root, run_id)
    assert final.state == "completed", (final, (folder / "worker.log").read_text()[-3000:])
    assert final.device == "cuda" and final.compute_dtype == "bfloat16"
    ev = runs.read_eval(folder)
    assert ev["tuned"]["loss"] < ev["base"]["loss"]
    assert (folder / "checkpoints" / "step-6" / "complete.json").exists()


def test_gpu_drafts_mix_base_and_tuned_rows_in_one_batch(root, sample_corpus, tiny_model_dir):
    run_id = cuda_run(root, sample_corpus, tiny_model_dir, max_steps=8, learning_rate=0.02)
    assert jobs.wait(root, run_id, timeout=300).state == "completed"
    drafter = Drafter(root)
    result = drafter.compare(run_id, "Wind: north", GenConfig(max_new_tokens=12, temperature=0, repetition_penalty=1.0))
    assert drafter.device == "cuda" and result["base"] != result["tuned"]


def test_cancel_on_the_gpu_checkpoints_and_frees_the_memory(root, sample_corpus, tiny_model_dir, monkeypatch):
    import torch

    free_before, _ = torch.cuda.mem_get_info()  # device-wide, so it sees the worker's memory too
    monkeypatch.setenv("STUDIO_FAULT", "slow@0.5")
    run_id = cuda_run(root, sample_corpus, tiny_model_dir, max_steps=200)
    wait_until(lambda: status(root, run_id).step >= 2, timeout=180, what="step 2")
    assert torch.cuda.mem_get_info()[0] < free_before - 100 * 2**20  # the worker holds GPU memory
    pid = status(root, run_id).pid
    jobs.cancel(root, run_id)
    assert jobs.wait(root, run_id, timeout=120).state == "cancelled"
    assert list((runs.run_dir(root, run_id) / "checkpoints").glob("step-*/complete.json"))
    assert wait_until(lambda: jobs.reap() or not alive(pid), timeout=30, what="the worker process to exit")
    assert wait_until(lambda: torch.cuda.mem_get_info()[0] >= free_before - 64 * 2**20, timeout=30,
                      what="GPU memory freed")
