"""Training speed: the studio's path against the standard transformers + peft QLoRA recipe,
side by side in one run on this machine, with the embedded default model.

    .venv/bin/python bench/train.py [--tokens 12000] [--seq-len 256] [--levers]

Corpus: mixed lengths as real writing is (three short pieces for every long one), cut from the
sample text with a fixed seed; the same training and validation documents for every path.
- baseline: transformers `Trainer` + peft LoRA on a 4-bit NF4 base, as their documentation
  teaches it (prepare_model_for_kbit_training with its default gradient checkpointing, one example
  per document truncated to the sequence length, dynamic padding per batch).
- studio: a real studio run (service.start_training: the worker process, packing, fused loss) on
  each training path the calibration times (studio/train/calibrate.py): fp32 LoRA, bf16 LoRA
  (where the CPU has bf16 instructions; on a GPU, the GPU's bf16) and 4-bit NF4 with the compute
  dtype `auto` gives it. The calibration's table and choice are printed first; the row it chose is
  marked, and the target is read from it: at least 60% of the matmul rate measured here for the
  dtype it computes in.
- --levers: the studio run again with one lever changed at a time.
Every path: the same model, sequence length, LoRA rank and targets, learning rate and schedule,
about as many target tokens per optimizer step (4 padded documents for the baseline, 2 packed rows
for the studio), and about --tokens non-padding target tokens. Reported: tokens/s over the
training loop (model loading and evaluation excluded), its ratio to the baseline, the process's
peak memory, the validation loss after training (every path scored by the same code: each
validation document alone, truncated to the sequence length), and the share of the machine's
matmul rate reached, counting 4 x parameters FLOPs per token (frozen base: forward plus the
input gradients), against bf16 and float32 matmuls measured in this run. Each path runs in its
own process; the numbers are single runs (the noise between two identical runs is printed).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out" / "train"
MODEL = "smollm2-135m-instruct"
LORA = {"r": 16, "alpha": 32, "dropout": 0.05}
LEARNING_RATE, WARMUP = 2e-4, 0.1
# Rows per step. The baseline's 4 padded rows hold about 640 real tokens on this corpus; 2 packed
# rows of 256 hold 512, so both take about as many optimizer steps for the same tokens (fewer,
# bigger steps would learn less from the same tokens: see the micro-batch lever).
BATCH, STUDIO_BATCH = 4, 2

LEVERS = {  # name: (overrides on the studio's 4-bit run, the prediction written before measuring)
    "no packing": (["packing=false"], "slower by the padding share of the baseline batches (about 1.5x fewer tokens/s)"),
    "plain loss": (["fused_loss=false"], "about 5% slower, 0.3 GB more peak memory (full logits and their gradient)"),
    "gradient checkpointing": (["gradient_checkpointing=true"], "about 25% slower (a second forward), less memory"),
    "micro-batch 4": (["batch_size=4"], "speed within 5% (2 x 256 rows already fill the matmuls); loss higher "
                      "after the same tokens (half the optimizer steps)"),
}


def corpus(seed: int = 0) -> tuple[list[str], list[str]]:
    """Training and validation documents: 3 of every 4 short (20-150 words), the rest long
    (400-1600 words), each a stretch of the sample log starting at a random word."""
    words = re.findall(r"\S+\s*", (ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt").read_text(encoding="utf-8"))
    rng = random.Random(seed)

    def document() -> str:
        n = rng.randint(20, 150) if rng.random() < 0.75 else rng.randint(400, 1600)
        start = rng.randrange(len(words))
        return "".join(words[(start + i) % len(words)] for i in range(n)).strip()

    return [document() for _ in range(600)], [document() for _ in range(24)]


def matmul_rates() -> dict:
    """GFLOP/s of a 1024-square matmul in bf16 and float32 on this device: the median of 3 timings,
    each repeating the product for at least half a second (a bf16 product takes seconds on a CPU
    without bf16 instructions)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    n, rates = 1024 if device == "cpu" else 8192, {}
    for dtype in (torch.bfloat16, torch.float32):
        a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
        a @ b  # warm-up
        times = []
        for _ in range(3):
            if device == "cuda":
                torch.cuda.synchronize()
            start, count = time.perf_counter(), 0
            while time.perf_counter() - start < 0.5:
                a @ b
                if device == "cuda":
                    torch.cuda.synchronize()
                count += 1
            times.append((time.perf_counter() - start) / count)
        rates[str(dtype).removeprefix("torch.")] = 2 * n ** 3 / sorted(times)[1] / 1e9
    return rates


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")
ATTENTION_OPS = ("flash_attention", "scaled_dot_product", "aten::_softmax", "aten::_softmax_backward")


def step_breakdown(path: str, params: int, seq_len: int) -> dict:
    """Where a training step on `path` spends its time (CPU): self time of the profiled operators in
    two steps of STUDIO_BATCH x seq_len tokens, grouped as matrix products, attention and the rest
    (elementwise, casts, the optimizer), and the rate the products themselves reach."""
    import time

    import torch

    from studio.calibration import hardware
    from studio.models import resolve
    from studio.train import calibrate

    source = resolve(MODEL, OUT / "data")
    model, tok, optimizer = calibrate.prepared(source, path, hardware())
    batches = calibrate.sample_blocks(tok, 3, STUDIO_BATCH, seq_len)
    calibrate.train_step(model, optimizer, batches[0])  # warm-up
    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for batch in batches[1:]:
            calibrate.train_step(model, optimizer, batch)
    wall = (time.perf_counter() - start) / 2
    parts = {"matrix products": 0.0, "attention": 0.0, "the rest": 0.0}
    for event in prof.key_averages():
        kind = ("matrix products" if event.key in MATMUL_OPS else
                "attention" if any(k in event.key for k in ATTENTION_OPS) else "the rest")
        parts[kind] += event.self_cpu_time_total / 1e6 / 2
    total = sum(parts.values())
    counted = 4 * params * STUDIO_BATCH * seq_len / 1e9  # GFLOP a step, as the table counts them
    return {"step_s": wall, "tok_s": STUDIO_BATCH * seq_len / wall,
            "shares": {k: v / total for k, v in parts.items()},
            "matmul_gflops": counted / (parts["matrix products"] * wall / total)}


def validation_loss(model, tok, docs: list[str], seq_len: int) -> float:
    """Token-weighted loss of each validation document alone (truncated), the same for every path."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for text in docs:
            ids = tok(text, truncation=True, max_length=seq_len, return_tensors="pt")["input_ids"].to(model.device)
            n = ids.shape[1] - 1
            total += float(model(input_ids=ids, labels=ids).loss) * n
            count += n
    return total / count


def baseline(spec: dict) -> dict:
    """The standard recipe, in this process."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (AutoModelForCausalLM, BitsAndBytesConfig, DataCollatorForLanguageModeling, Trainer,
                              TrainingArguments)

    from studio.models import compute_dtype, load_tokenizer, resolve
    from studio.train.final_eval import peak_memory_gb

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = compute_dtype(device)  # fp32 on the CPU for both paths: bf16 matmuls crawl there
    source = resolve(MODEL, Path(spec["data"]))
    tok = load_tokenizer(source)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, device_map={"": device}, quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype))
    model = prepare_model_for_kbit_training(model)
    model = get_peft_model(model, LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    examples, tokens = [], 0
    for text in spec["train"]:  # documents in the corpus order until the token budget is met
        ids = tok(text, truncation=True, max_length=spec["seq_len"])["input_ids"]
        examples.append({"input_ids": ids})
        tokens += len(ids) - 1
        if tokens >= spec["tokens"]:
            break
    args = TrainingArguments(output_dir=str(Path(spec["folder"]) / "trainer"), per_device_train_batch_size=BATCH,
                             num_train_epochs=1, learning_rate=LEARNING_RATE, lr_scheduler_type="cosine",
                             warmup_steps=WARMUP, logging_steps=10, save_strategy="no", report_to=[],
                             bf16=dtype == torch.bfloat16, use_cpu=device == "cpu", seed=42)
    collator, positions = DataCollatorForLanguageModeling(tok, mlm=False), [0]

    def counting_collator(features):  # the batch positions the model computes, padding included
        batch = collator(features)
        positions[0] += batch["input_ids"].numel()
        return batch

    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=counting_collator)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    real = sum(len(e["input_ids"]) for e in examples)  # tokens the batches hold before padding
    return {"tokens": tokens, "seconds": seconds, "peak_gb": peak_memory_gb(device), "device": device,
            "val_loss": validation_loss(model, tok, spec["val"], spec["seq_len"]),
            "steps": math.ceil(len(examples) / BATCH),
            "note": f"{len(examples)} documents; padding {1 - real / positions[0]:.0%} of the {positions[0]:,} positions computed"}


def studio(spec: dict) -> dict:
    """A studio run through the service, as the Train tab starts it; scored afterwards here."""
    import torch
    from peft import PeftModel

    from studio import runs, service
    from studio.models import load_base, load_tokenizer, resolve

    data = Path(spec["data"])
    quantization = next((o.split("=", 1)[1] for o in spec["overrides"] if o.startswith("quantization=")), "nf4")
    rows = int(next((o.split("=")[1] for o in spec["overrides"] if o.startswith("batch_size=")), STUDIO_BATCH))
    steps = max(1, round(spec["tokens"] / (rows * spec["seq_len"])))  # the same tokens whatever the micro-batch
    overrides = [f"model={MODEL}", f"seq_len={spec['seq_len']}", f"lora_r={LORA['r']}", f"lora_alpha={LORA['alpha']}",
                 f"lora_dropout={LORA['dropout']}", "target_modules=all-linear", f"learning_rate={LEARNING_RATE}",
                 "lr_scheduler=cosine", f"warmup_ratio={WARMUP}", f"batch_size={STUDIO_BATCH}", "grad_accum=1",
                 f"max_steps={steps}", "save_every=0", "eval_every=0", "eval_examples=0", *spec["overrides"]]
    run_id = service.start_training(data, "bench", "quick-cpu-demo", overrides)
    status = service.wait_for_run(data, run_id)
    folder = runs.run_dir(data, run_id)
    trained_in = f"{status.quantization} weights, {status.compute_dtype} compute"
    if status.state != "completed":
        raise SystemExit(f"studio run {run_id} ended {status.state}: {status.reason}; see {folder}/worker.log")
    ev = json.loads((folder / "eval.json").read_text())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    source = resolve(MODEL, data)
    tok = load_tokenizer(source)
    model = PeftModel.from_pretrained(load_base(source, quantization, device), folder / "adapter")
    return {"tokens": ev["tokens_seen"], "seconds": ev["train_seconds"], "peak_gb": ev["peak_memory_gb"], "device": device,
            "val_loss": validation_loss(model, tok, spec["val"], spec["seq_len"]), "steps": ev["steps"],
            "note": f"run {run_id} ({trained_in})", "compute_dtype": status.compute_dtype}


def child(label: str, spec: dict) -> dict:
    """Run one path in a fresh process, so its peak memory is its own."""
    spec_file = Path(spec["folder"]) / f"{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}.json"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec))
    out = subprocess.run([sys.executable, __file__, "--child", str(spec_file)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{label} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    spec_file.with_suffix(".result.json").write_text(json.dumps(result))  # kept even if a later path fails
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=12000, help="non-padding target tokens each path trains on")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--levers", action="store_true", help="also measure the studio with one lever changed at a time")
    parser.add_argument("--lever", action="append", choices=list(LEVERS), help="measure only this lever (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(Path(args.child).read_text())
        result = baseline(spec) if spec["path"] == "baseline" else studio(spec)
        print(json.dumps(result))
        return

    from studio import service
    from studio.models import resolve

    data = OUT / "data"
    train, val = corpus()
    OUT.mkdir(parents=True, exist_ok=True)
    corpus_file = OUT / "bench-corpus.jsonl"
    corpus_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in train), encoding="utf-8")
    # Kept whole and in order: no cleaning drops, no chunking, no near-duplicate pass, a token-sized validation split
    service.ingest(data, [corpus_file], "bench", model=MODEL, min_chars=1, chunk_chars=0, dedupe_exact=False,
                   near_dup_threshold=0, val_share=0.01, join_lines=False)
    resolve(MODEL, data)  # the safetensors cache, made once before any timing
    spec = {"data": str(data), "folder": str(OUT), "train": train, "val": val, "tokens": args.tokens, "seq_len": args.seq_len}

    rates = matmul_rates()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    params = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(resolve(MODEL, data))).num_parameters()
    from studio.calibration import has_bf16, hardware
    from studio.train import calibrate

    gpu = torch.cuda.is_available()
    chosen = ""
    if not gpu:  # the path the studio takes here: measured once per machine, as a first run does
        kept = calibrate.remembered(data, MODEL) or service.calibrate_training(data, MODEL)
        chosen = kept["chosen"]
        print(calibrate.table(kept), file=sys.stderr, flush=True)
    paths = {"baseline (Trainer + peft, 4-bit NF4)": ("baseline", []),
             "studio, fp32 LoRA": ("studio", ["quantization=none", "compute_dtype=fp32"])}
    if gpu or has_bf16(hardware()):
        paths["studio, bf16 LoRA"] = ("studio", ["quantization=none", "compute_dtype=bf16"])
    paths["studio, 4-bit NF4"] = ("studio", ["quantization=nf4"])
    mark = {"fp32": "studio, fp32 LoRA", "bf16": "studio, bf16 LoRA", "nf4": "studio, 4-bit NF4"}.get(chosen)
    levers = args.lever or (list(LEVERS) if args.levers else [])
    paths |= {f"studio 4-bit, {name}": ("studio", ["quantization=nf4", *LEVERS[name][0]]) for name in levers}
    if args.levers:
        paths["studio, 4-bit NF4 (again: the noise)"] = ("studio", ["quantization=nf4"])
    results = {}
    for label, (kind, overrides) in paths.items():
        print(f"... {label}", file=sys.stderr, flush=True)
        results[label] = child(label, {**spec, "path": kind, "overrides": overrides, "tokens": args.tokens})
    base = results["baseline (Trainer + peft, 4-bit NF4)"]
    base_speed = base["tokens"] / base["seconds"]
    print(f"\nTraining {MODEL} ({params / 1e6:.0f} M parameters), seq_len {args.seq_len}, LoRA r {LORA['r']} all-linear, "
          f"micro-batch {BATCH} documents (baseline) / {STUDIO_BATCH} packed rows (studio), about {args.tokens:,} target tokens per path; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, device {base['device']}"
          + (f" ({torch.cuda.get_device_name()})" if base["device"] == "cuda" else ""))
    print(f"matmul rate measured now: bf16 {rates['bfloat16']:.1f} GFLOP/s, float32 {rates['float32']:.1f} GFLOP/s; "
          f"FLOPs per token counted as 4 x {params / 1e6:.0f} M")
    print(f"\n| path | tokens | tokens/s | x baseline | peak GB | val loss | vs baseline | % of bf16 rate | % of fp32 rate |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        speed = r["tokens"] / r["seconds"]
        flops = 4 * params * speed / 1e9
        label = f"**{label} (the calibration's choice)**" if label == mark else label
        print(f"| {label} | {r['tokens']:,} | {speed:.0f} | {speed / base_speed:.2f} | {r['peak_gb']:.2f} | "
              f"{r['val_loss']:.4f} | {100 * (r['val_loss'] / base['val_loss'] - 1):+.1f}% | "
              f"{100 * flops / rates['bfloat16']:.0f}% | {100 * flops / rates['float32']:.0f}% |")
    print("\n" + "\n".join(f"- {label}: {r['note']}" for label, r in results.items()))
    if mark in results:
        r = results[mark]
        dtype = r["compute_dtype"] or "float32"
        share = 4 * params * r["tokens"] / r["seconds"] / 1e9 / rates[dtype]
        print(f"\nthe calibration chose {chosen} on this machine: {r['tokens'] / r['seconds']:.0f} tokens/s = "
              f"{share:.0%} of the {dtype} matmul rate ({rates[dtype]:.0f} GFLOP/s; target >= 60%), "
              f"{r['tokens'] / r['seconds'] / base_speed:.2f}x the baseline")
        b = step_breakdown(chosen, params, args.seq_len)
        print(f"where a {chosen} step goes ({STUDIO_BATCH} x {args.seq_len} tokens, profiled, {b['tok_s']:.0f} tokens/s "
              f"in the loop alone): " + ", ".join(f"{k} {v:.0%}" for k, v in b["shares"].items())
              + f"; the products alone at {b['matmul_gflops']:.0f} GFLOP/s "
              f"({b['matmul_gflops'] / rates[dtype]:.0%} of the {dtype} rate)")
    if levers:
        print("\nPredictions written before measuring:")
        for name in levers:
            print(f"- {name}: {LEVERS[name][1]}")
    (OUT / "results.json").write_text(json.dumps({"rates": rates, "params": params, "results": results}, indent=1))


if __name__ == "__main__":
    main()
