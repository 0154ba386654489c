"""bench/gpu.py, the one call that measures every GPU figure, kept from rotting on a machine without
a GPU: --smoke runs its every path (the studio run, the standard recipe in its own process, the
estimate, MFU, the losses, drafting with base + three tuned panes) on the tiny model on the CPU,
and the model configs and FLOPs count it states are checked against the models they describe."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from studio.paths import PROJECT_ROOT


def test_smoke_runs_every_figure_of_the_gpu_bench(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "gpu.py"), "--smoke", "--json", str(out),
                           "--work-dir", str(tmp_path / "work")], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out.read_text())
    size = results["sizes"]["tiny"]
    for path in ("studio", "standard"):
        assert size[path]["tokens_per_s"] > 0 and size[path]["peak_gb"] > 0, path
        assert math.isfinite(size[path]["val_loss"]), path
    assert size["studio"]["tokens"] == size["standard"]["tokens"] > 0  # the same blocks, counted alike
    assert size["studio"]["estimate_gb"] is not None
    assert all(value is not None for value in size["figures"].values()), size["figures"]
    drafting = results["drafting"]
    assert drafting["tokens"]["base_and_three"] == 4 * drafting["tokens"]["one_pane"] == 4 * drafting["new_tokens"]
    assert drafting["one_pane_s"] > 0 and drafting["ratio"] > 0
    assert "| speed: studio / standard |" in done.stdout and "| drafting: 4 panes / 1 pane |" in done.stdout


@pytest.mark.parametrize("size, total", [("1.5b", 1.54e9), ("7b", 7.62e9)])
def test_bench_configs_are_the_published_models_and_the_flops_count_their_weights(size, total):
    """The written-in configs build models of the published sizes (Qwen2.5-1.5B: 1.54B parameters,
    Qwen2.5-7B: 7.62B), and N in the MFU formula is exactly their linear weights (LM head included)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    import gpu as bench

    spec = {k: v for k, v in bench.SIZES[size].items() if k != "label"}
    with torch.device("meta"):  # shapes only: no memory, no time
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**spec))
    assert model.num_parameters() == pytest.approx(total, rel=0.005)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    flops = bench.flops_per_token(size, 2048, 16)
    assert flops["frozen_linear_params"] == linear
