"""What the drafting benchmarks share: a data root with the sample corpus and one run holding a
LoRA adapter on the embedded model (rank 16, all linear layers, as the quick preset trains; its
weights are random, which changes what it writes but not how fast). Built once under bench/out/."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "LAMP LOG, GANNET ROCK. Day 41."


def prepare(data: Path) -> tuple[Path, str]:
    """(data root, run id of a run with an adapter)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio import jobs, runs, service
    from studio.models import EMBEDDED_DEFAULT, resolve

    for row in service.list_runs(data) if (data / "runs").exists() else []:
        if row["has_adapter"]:
            return data, row["run_id"]
    service.ingest(data, [ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"], "lamp")
    run_id = jobs.create_run(data, service.training_config("lamp", "quick-cpu-demo"), preset="quick-cpu-demo")
    base = AutoModelForCausalLM.from_pretrained(resolve(EMBEDDED_DEFAULT, data), dtype=torch.float32)
    torch.manual_seed(0)
    tuned = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False))
    tuned.save_pretrained(runs.run_dir(data, run_id) / "adapter")
    folder = runs.RunFolder.of(data, run_id)
    status = folder.status()
    status.state, status.step = runs.COMPLETED, 1
    folder.write_status(status)
    return data, run_id


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64, help="tokens per draft")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    return parser.parse_args()
