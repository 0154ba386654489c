"""Every GPU figure in one call: the studio's QLoRA training against the standard recipe, memory
against the estimate, MFU, loss after the same tokens, and drafting with three tuned panes.

    python bench/gpu.py [--json bench/out/gpu.json] [--sizes 1.5b,7b]   # one H100/H200, planned < 8 min
    python bench/gpu.py --smoke                                          # the same code, tiny model, CPU

No network: the models are random-initialised from the real configs of Qwen2.5-1.5B and
Qwen2.5-7B (written below), saved once under --work-dir with a byte-level BPE tokenizer trained
on the sample text; the corpus is windows of the sample text, ingested as any corpus is.
For each size, each path in its own process, on the same blocks (the studio's packed blocks, in
the order its sampler draws them), sequence length 2048, LoRA r 16 / alpha 32 / dropout 0.05 on
all linear layers, the same micro-batch, learning rate (constant), clipping and steps:
- studio: a real run (service.start_training: the worker process and the sft recipe) from the
  gpu-24gb preset, with the settings above; tokens/s is the median of the steps after the first
  as the run's own events report them, peak memory and validation loss come from its eval.json;
- standard: transformers `Trainer` + peft LoRA on a bitsandbytes NF4 base (double quantization,
  bf16 compute), prepare_model_for_kbit_training with its default gradient checkpointing,
  `bf16=True`; the rows are the studio's blocks without their position ids; tokens/s is the
  median of its steps after the first, each timed between synchronisations.
Both count tokens as the studio does (target tokens), and score validation loss with the same
function (studio.train.evaluate.mean_loss) on the same validation blocks.
Peak memory: torch.cuda.max_memory_allocated of each process (studio.train.final_eval), against
service.training_estimate_config's memory total for the studio run (studio/estimate.py).
MFU: tokens/s x FLOPs per token / the bf16 matmul rate measured at the start of this run
(8192-square products), FLOPs per token = 4 N + 6 N_lora + 6 L T d_q: N the frozen linear
weights (every projection and the LM head), forward 2N plus the backward's input gradients 2N
(frozen weights get no weight gradient), LoRA's own forward and both gradients, causal attention
(QK^T and AV, forward and twice that backward) over T = seq_len; recomputation by gradient
checkpointing is not counted (model FLOPs, not hardware FLOPs). The JSON also holds
`studio_mfu_6n` and `standard_mfu_6n`, the 6N-per-token convention of full fine-tuning, for
comparison with published figures.
Drafting (the first size only): studio.write.drafter.Drafter with base + three tuned panes (one
batched generate, PEFT mixed adapters) against one tuned pane, greedy, the same new tokens,
median of --repeats each, alternating.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never a hub: every model here is built from a config
SAMPLE = ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"
PRESET = "gpu-24gb"
LORA = {"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05}
LEARNING_RATE = 2e-4
PROMPT = "LAMP LOG, GANNET ROCK. Day 41. Wind from the north-east"

# The config.json values of the real models that shape the compute (hub: Qwen/Qwen2.5-1.5B and
# Qwen/Qwen2.5-7B). q, k and v carry biases in Qwen2 (transformers' Qwen2Attention).
SIZES = {
    "1.5b": {"label": "Qwen2.5-1.5B", "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960,
             "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
             "max_position_embeddings": 131072, "max_window_layers": 21, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
             "hidden_act": "silu", "use_sliding_window": False, "sliding_window": 131072},
    "7b": {"label": "Qwen2.5-7B", "model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
           "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False,
           "max_position_embeddings": 131072, "max_window_layers": 28, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
           "hidden_act": "silu", "use_sliding_window": False, "sliding_window": 131072},
    # --smoke: the tiny test model of tests/conftest.py (a Llama: bitsandbytes 0.50's CPU backend cannot
    # train Qwen2's biased q/k/v layers in 4-bit after an evaluation pass; see docs/gpu.md)
    "tiny": {"label": "tiny Llama (smoke)", "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1024,
             "tie_word_embeddings": True, "max_position_embeddings": 512, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
             "hidden_act": "silu"},
}
# issue 24's targets: (figure, test, where it applies: a size's figures, or drafting)
TARGETS = [("speed >= 2x", "speed_ratio", lambda v: v >= 2), ("peak <= standard", "peak_ratio", lambda v: v <= 1),
           ("loss within 1%", "loss_diff", lambda v: abs(v) <= 0.01),
           ("estimate within 15%", "estimate_error", lambda v: abs(v) <= 0.15),
           ("MFU >= 40% (7B)", "studio_mfu", lambda v: v >= 0.40)]

# (module, pip name, what needs it): checked before anything runs
PACKAGES = [("torch", "torch", "everything"), ("transformers", "transformers", "models, Trainer"),
            ("peft", "peft", "LoRA"), ("accelerate", "accelerate", "transformers Trainer"),
            ("bitsandbytes", "bitsandbytes", "4-bit NF4 base"), ("safetensors", "safetensors", "model folders"),
            ("tokenizers", "tokenizers", "the benchmark tokenizer"), ("yaml", "pyyaml", "presets, run config"),
            ("charset_normalizer", "charset-normalizer", "corpus ingestion"),
            ("tensorboard", "tensorboard", "the training worker's logs")]


# -- set-up ----------------------------------------------------------------------------------
def check_packages(smoke: bool) -> tuple[list[str], str]:
    """(what is missing, the quantization to train with). On a GPU every package and CUDA are
    needed; --smoke trains unquantized when bitsandbytes is missing or cannot run here."""
    missing = []
    for module, pip_name, needed_for in PACKAGES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - a broken install counts as missing
            if not (smoke and module == "bitsandbytes"):
                missing.append(f"{pip_name} ({needed_for}): {type(exc).__name__}: {str(exc)[:120]}")
    if missing:
        return missing, ""
    import torch

    if not smoke and not torch.cuda.is_available():
        return ["a CUDA GPU (torch.cuda.is_available() is False); --smoke runs on the CPU"], ""
    try:  # the 4-bit kernels themselves: a wheel without this machine's CUDA binary fails here
        import bitsandbytes.functional as bnbf

        device = "cpu" if smoke else "cuda"
        bnbf.quantize_4bit(torch.randn(64, 64, device=device, dtype=torch.bfloat16), quant_type="nf4")
        return [], "nf4"
    except Exception as exc:  # noqa: BLE001
        if smoke:
            return [], "none"
        return [f"bitsandbytes with kernels for this GPU: {type(exc).__name__}: {str(exc)[:160]}"], ""


def matmul_tflops(device: str, n: int, seconds: float) -> float:
    """bf16 matmul rate on `device`: n-square products, median of 3 timings of >= `seconds` each."""
    import torch

    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a @ b
    sync()
    times = []
    for _ in range(3):
        start, count = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            a @ b
            sync()
            count += 1
        times.append((time.perf_counter() - start) / count)
    return 2 * n ** 3 / statistics.median(times) / 1e12


def build_tokenizer(folder: Path):
    """A byte-level BPE trained on the sample text, with its own pad token (not EOS, so the
    standard collator does not mask document ends)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([SAMPLE.read_text(encoding="utf-8")], trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                  pad_token="<pad>")
    tok.save_pretrained(folder)
    return tok


def build_model(work: Path, size: str, device: str) -> Path:
    """The size's model folder (config, random bf16 weights, tokenizer), made once under `work`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = work / f"model-{size}"
    spec = {k: v for k, v in SIZES[size].items() if k != "label"}
    marker = folder / "bench-spec.json"
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    tmp = work / f".model-{size}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tok = build_tokenizer(tmp)
    config = AutoConfig.for_model(**spec, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                  pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):  # initialised on the GPU: 7.6 B normal draws would take minutes on the CPU
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(tmp, max_shard_size="5GB")
    del model
    (tmp / "bench-spec.json").write_text(json.dumps(spec))
    os.rename(tmp, folder)
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def build_corpus(data: Path, model: Path, tokens: int, seq_len: int) -> str:
    """A corpus of sample-text windows of 2.5 to 3.5 blocks each, `tokens` tokens in all, kept
    whole (no chunking, no dedupe); 10% held out for validation."""
    import random
    import re

    from transformers import AutoTokenizer

    from studio import service

    tok = AutoTokenizer.from_pretrained(model)
    words = re.findall(r"\S+\s*", SAMPLE.read_text(encoding="utf-8"))
    per_word = len(tok("".join(words))["input_ids"]) / len(words)
    rng, docs, total = random.Random(0), [], 0
    while total < tokens:
        n = int(rng.uniform(2.5, 3.5) * seq_len / per_word)
        start = rng.randrange(len(words))
        docs.append("".join(words[(start + i) % len(words)] for i in range(n)).strip())
        total += n * per_word
    corpus_file = data.parent / "gpu-bench-corpus.jsonl"
    corpus_file.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    service.ingest(data, [corpus_file], "gpubench", model=str(model), min_chars=1, chunk_chars=0,
                   dedupe_exact=False, near_dup_threshold=0, val_share=0.1, join_lines=False)
    return "gpubench"


# -- FLOPs -----------------------------------------------------------------------------------
def flops_per_token(size: str, seq_len: int, lora_r: int) -> dict:
    """Model FLOPs per trained token (see the module docstring), and its parts."""
    c = SIZES[size]
    d, layers, inter, vocab = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["vocab_size"]
    head = d // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * head, c["num_key_value_heads"] * head
    shapes = [(d, q), (d, kv), (d, kv), (q, d), (d, inter), (d, inter), (inter, d)]  # q k v o gate up down
    frozen = layers * sum(i * o for i, o in shapes) + vocab * d
    lora = layers * sum(lora_r * (i + o) for i, o in shapes)
    attention = 6 * layers * seq_len * q
    return {"frozen_linear_params": frozen, "lora_params": lora, "per_token": 4 * frozen + 6 * lora + attention,
            "per_token_6n": 6 * frozen + attention,
            "formula": "4 N + 6 N_lora + 6 L T d_q (N: frozen linear weights incl. LM head; causal attention)"}


# -- the studio's path -----------------------------------------------------------------------
def studio_overrides(model: Path, args, quantization: str) -> list[str]:
    return [f"model={model}", f"seq_len={args.seq_len}", *(f"{k}={v}" for k, v in LORA.items()), "use_rslora=false",
            "target_modules=all-linear", f"quantization={quantization}", f"batch_size={args.batch}",
            f"grad_accum={args.grad_accum}", f"max_steps={args.steps}", f"learning_rate={LEARNING_RATE}",
            "lr_scheduler=constant", "warmup_ratio=0", "max_grad_norm=1.0", "weight_decay=0", "eval_every=0",
            "early_stopping_patience=0", "save_every=0", "eval_examples=0", "style_openings=0", "bias_probe=false",
            f"device={args.device}", *args.studio_set]


def studio_run(data: Path, corpus: str, model: Path, args, quantization: str) -> dict:
    """A studio run started as the Train tab starts one (its own worker process), measured from
    its own records."""
    from studio import jobs, runs, service

    run_id = service.start_training(data, corpus, PRESET, studio_overrides(model, args, quantization))
    try:
        status = jobs.wait(data, run_id, timeout=args.child_timeout, poll=0.5)
    except jobs.RunTimeout:
        jobs.cancel(data, run_id)
        raise
    folder = runs.run_dir(data, run_id)
    if status.state != "completed":
        log_file = folder / runs.RunFolder.LOG
        log = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
        raise RuntimeError(f"studio run {run_id} ended {status.state}: {status.reason}\n{log}")
    steps = [e for e in runs.read_events(folder) if e.get("kind") == "train"]
    evaluation = json.loads((folder / runs.RunFolder.EVAL).read_text())
    cfg = runs.read_config(folder)
    estimate = service.training_estimate_config(data, cfg)["memory"] or {}
    speeds = [e["tokens_per_s"] for e in steps[1:]] or [steps[0]["tokens_per_s"]]
    return {"run_id": run_id, "tokens_per_s": statistics.median(speeds), "steps": len(steps),
            "tokens": evaluation["tokens_seen"], "peak_gb": evaluation["peak_memory_gb"],
            "val_loss": evaluation["tuned"]["loss"], "base_val_loss": evaluation["base"]["loss"],
            "last_train_loss": steps[-1]["loss"], "estimate_gb": estimate.get("total"), "estimate": estimate,
            "quantization": evaluation.get("quantization"), "compute_dtype": status.compute_dtype}


def run_blocks(data: Path, run_id: str):
    """(the training blocks in the order the run's sampler drew them, the validation blocks, the
    tokenizer): rebuilt with the functions the recipe uses (RunContext.blocks, BlockSampler)."""
    from types import SimpleNamespace

    from studio import runs
    from studio.corpus.store import read_manifest, read_split
    from studio.models import load_tokenizer, resolve
    from studio.train.context import RunContext
    from studio.train.sampler import BlockSampler
    from studio.train.state import TrainState

    folder = runs.run_dir(data, run_id)
    cfg = runs.read_config(folder)
    tok = load_tokenizer(resolve(cfg.model, data))
    version = read_manifest(data, cfg.corpus, cfg.corpus_version)["version"]
    context = SimpleNamespace(cfg=cfg)  # RunContext.blocks reads only the config
    train, val = (RunContext.blocks(context, read_split(data, cfg.corpus, version, split), tok) for split in ("train", "val"))
    sampler, state, per_step = BlockSampler(train, cfg.seed), TrainState(), cfg.batch_size * cfg.grad_accum
    drawn = [block for _ in range(cfg.max_steps) for block in sampler.draw(per_step, state)]
    return drawn, val, tok, cfg


# -- the standard recipe (a child process) ---------------------------------------------------
def step_clock(sync):
    """A Trainer callback timing each optimizer step between two synchronisations."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.times, self.started = [], 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            sync()
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync()
            self.times.append(time.perf_counter() - self.started)

    return StepClock()


def standard_model(spec: dict, dtype):
    """The base as the transformers and peft QLoRA guides load it, with LoRA on every linear layer."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=dtype) if spec["quantization"] == "nf4" else None
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=dtype, quantization_config=quant,
                                                 device_map={"": spec["device"]})
    if quant:
        model = prepare_model_for_kbit_training(model)  # its default: gradient checkpointing on
    else:  # --smoke without bitsandbytes: the same, unquantized
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    torch.manual_seed(42)  # the LoRA initialisation, as the studio seeds it (Trainer seeds only later)
    return get_peft_model(model, LoraConfig(r=LORA["lora_r"], lora_alpha=LORA["lora_alpha"],
                                            lora_dropout=LORA["lora_dropout"], target_modules="all-linear",
                                            task_type="CAUSAL_LM"))


def standard_recipe(spec: dict) -> dict:
    """transformers Trainer + peft on the studio run's blocks, in this process."""
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from studio.train.evaluate import mean_loss
    from studio.train.final_eval import peak_memory_gb
    from studio.train.packing import IGNORE

    cuda = spec["device"] == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32  # the studio's rule: bf16 matmuls crawl on a CPU
    drawn, val, tok, cfg = run_blocks(Path(spec["data"]), spec["run_id"])
    model = standard_model(spec, dtype)
    options = dict(output_dir=str(Path(spec["work"]) / "trainer"), per_device_train_batch_size=cfg.batch_size,
                   gradient_accumulation_steps=cfg.grad_accum, max_steps=cfg.max_steps, learning_rate=LEARNING_RATE,
                   lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
                   logging_steps=1, save_strategy="no", report_to=[], bf16=cuda, use_cpu=not cuda, seed=42)
    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        options["train_sampling_strategy"] = "sequential"  # the studio's order (newer transformers)
    clock = step_clock(torch.cuda.synchronize if cuda else (lambda: None))
    trainer = Trainer(model=model, args=TrainingArguments(**options), train_dataset=[{"input_ids": b[0]} for b in drawn],
                      data_collator=DataCollatorForLanguageModeling(tok, mlm=False), callbacks=[clock])
    trainer.train()
    targets = sum(sum(1 for t in labels[1:] if t != IGNORE) for _, labels, _ in drawn)  # counted as the studio does
    per_step = targets / cfg.max_steps
    speeds = [per_step / t for t in clock.times[1:]] or [per_step / clock.times[0]]
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"tokens_per_s": statistics.median(speeds), "steps": len(clock.times), "tokens": targets,
            "val_loss": mean_loss(model, val, tok.pad_token_id, spec["device"]),
            "last_train_loss": losses[-1] if losses else None,
            "peak_gb": peak_memory_gb(spec["device"]), "quantization": spec["quantization"]}


def child(spec: dict, timeout: float) -> dict:
    """This script again with --child, so the path's peak memory is its own process's."""
    spec_file = Path(spec["work"]) / f"child-{spec['path']}-{spec['size']}.json"
    spec_file.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, __file__, "--child", str(spec_file)], capture_output=True, text=True,
                         timeout=timeout, env=env)
    if out.returncode:
        raise RuntimeError(f"{spec['path']} {spec['size']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- drafting --------------------------------------------------------------------------------
def tuned_copies(data: Path, run_id: str, n: int) -> list[str]:
    """The run and n - 1 finished copies of it whose adapters are scaled differently (so each
    pane's rows really take their own adapter), as drafting_setup.py marks a run finished."""
    from safetensors.torch import load_file, save_file

    from studio import jobs, runs
    from studio.adapters import ADAPTER_WEIGHTS

    source = runs.run_dir(data, run_id) / "adapter"
    ids = [run_id]
    for k in range(1, n):
        other = jobs.create_run(data, runs.read_config(runs.run_dir(data, run_id)), preset=PRESET)
        folder = runs.RunFolder.of(data, other)
        shutil.copytree(source, folder.path / "adapter")
        weights = load_file(source / ADAPTER_WEIGHTS)
        save_file({name: w * (1 + 0.5 * k) if "lora_B" in name else w for name, w in weights.items()},
                  folder.path / "adapter" / ADAPTER_WEIGHTS)
        status = folder.status()
        status.state, status.step = runs.COMPLETED, 1
        folder.write_status(status)
        ids.append(other)
    return ids


def drafting(data: Path, run_id: str, args) -> dict:
    """Seconds to draft --draft-tokens greedy tokens: one tuned pane, and base + three tuned panes."""
    from studio.config import GenConfig
    from studio.write.drafter import Drafter

    tuned = tuned_copies(data, run_id, 3)
    layouts = {"one_pane": [tuned[0]], "base_and_three": ["base", *tuned]}
    drafter = Drafter(data)
    gen = GenConfig(max_new_tokens=args.draft_tokens, temperature=0, repetition_penalty=1.0)
    drafter.draft(layouts["base_and_three"], PROMPT, gen, save=False)  # load the base and every adapter once
    drafter.model.get_base_model().generation_config.eos_token_id = None  # full length every time
    drafter.draft(layouts["one_pane"], PROMPT, gen, save=False)
    seconds: dict[str, list] = {name: [] for name in layouts}
    tokens: dict[str, int] = {}
    for k in range(args.repeats):  # A B, B A, ...: a drifting clock weighs on both
        for name in (layouts if k % 2 == 0 else reversed(layouts)):
            clock = time.perf_counter()  # the whole call, as a click waits for it (the base is loaded)
            result = drafter.draft(layouts[name], PROMPT, gen, save=False)
            seconds[name].append(time.perf_counter() - clock)
            tokens[name] = result["tokens"]
    one, four = (statistics.median(seconds[n]) for n in layouts)
    return {"one_pane_s": one, "base_and_three_s": four, "ratio": four / one, "tokens": tokens,
            "new_tokens": args.draft_tokens, "weights": drafter.weights, "device": drafter.device, "runs": tuned,
            "all_seconds": seconds}


# -- the table -------------------------------------------------------------------------------
def figures(size: dict, rate_tflops: float) -> dict:
    """The derived figures of one size (None where a part failed)."""
    studio, standard, flops = size.get("studio") or {}, size.get("standard") or {}, size["flops"]

    def ratio(a, b):
        return a / b if a is not None and b else None

    def change(a, b):
        return ratio(a, b) - 1 if ratio(a, b) is not None else None

    def mfu(path, per_token="per_token"):
        return path["tokens_per_s"] * flops[per_token] / (rate_tflops * 1e12) if path.get("tokens_per_s") else None

    return {"speed_ratio": ratio(studio.get("tokens_per_s"), standard.get("tokens_per_s")),
            "peak_ratio": ratio(studio.get("peak_gb"), standard.get("peak_gb")),
            "estimate_error": change(studio.get("estimate_gb"), studio.get("peak_gb")),
            "studio_mfu": mfu(studio), "standard_mfu": mfu(standard),
            "studio_mfu_6n": mfu(studio, "per_token_6n"), "standard_mfu_6n": mfu(standard, "per_token_6n"),
            "loss_diff": change(studio.get("val_loss"), standard.get("val_loss"))}


ROWS = [  # (label, where the value is, format, target)
    ("studio tokens/s", ("studio", "tokens_per_s"), "{:,.0f}", ""),
    ("standard tokens/s", ("standard", "tokens_per_s"), "{:,.0f}", ""),
    ("speed: studio / standard", ("figures", "speed_ratio"), "{:.2f}x", ">= 2x"),
    ("studio peak GB", ("studio", "peak_gb"), "{:.2f}", ""),
    ("standard peak GB", ("standard", "peak_gb"), "{:.2f}", ""),
    ("peak: studio / standard", ("figures", "peak_ratio"), "{:.2f}x", "<= 1x"),
    ("studio estimate GB (estimate.py)", ("studio", "estimate_gb"), "{:.2f}", ""),
    ("estimate vs studio peak", ("figures", "estimate_error"), "{:+.0%}", "within 15%"),
    ("studio MFU (4N + 6N_lora + attention)", ("figures", "studio_mfu"), "{:.1%}", ">= 40% at 7B"),
    ("standard MFU", ("figures", "standard_mfu"), "{:.1%}", ""),
    ("val loss before training", ("studio", "base_val_loss"), "{:.4f}", ""),
    ("val loss, studio", ("studio", "val_loss"), "{:.4f}", ""),
    ("val loss, standard", ("standard", "val_loss"), "{:.4f}", ""),
    ("loss: studio vs standard", ("figures", "loss_diff"), "{:+.2%}", "within 1%"),
    ("drafting: one tuned pane, s", ("drafting", "one_pane_s"), "{:.2f}", ""),
    ("drafting: base + 3 tuned panes, s", ("drafting", "base_and_three_s"), "{:.2f}", ""),
    ("drafting: 4 panes / 1 pane", ("drafting", "ratio"), "{:.2f}x", "<= 1.15x"),
]


def targets_met(results: dict) -> dict:
    """{size: {target: True/False/None (not measured)}}, and the drafting target."""
    met = {}
    for name, size in results["sizes"].items():
        found = size.get("figures") or {}
        met[name] = {label: None if found.get(key) is None else bool(test(found[key]))
                     for label, key, test in TARGETS if name == "7b" or not label.startswith("MFU")}
    ratio = (results.get("drafting") or {}).get("ratio")
    met["drafting <= 1.15x"] = None if ratio is None else ratio <= 1.15
    return met


def table(results: dict) -> str:
    sizes = results["sizes"]
    lines = [f"| figure | {' | '.join(SIZES[s]['label'] for s in sizes)} | target |",
             "|---" * (len(sizes) + 2) + "|"]
    for label, (part, key), fmt, target in ROWS:
        cells = []
        for name, size in sizes.items():
            if part == "drafting":
                source = results.get("drafting") if name == results.get("drafting_size") else None
            else:
                source = size.get(part)
            failed = (source or {}).get("error") or (part != "drafting" and size.get("error"))
            value = (source or {}).get(key)
            cells.append(fmt.format(value) if value is not None else ("failed" if failed else "-"))
        lines.append(f"| {label} | {' | '.join(cells)} | {target} |")
    return "\n".join(lines)


# -- the run ---------------------------------------------------------------------------------
def measure_size(name: str, data: Path, corpus: str, model: Path, args, quantization: str) -> dict:
    """Studio run, then the standard recipe on its blocks; each in its own process."""
    size = {"flops": flops_per_token(name, args.seq_len, LORA["lora_r"]), "seconds": {}}
    started = time.time()
    try:
        size["studio"] = studio_run(data, corpus, model, args, quantization)
        size["seconds"]["studio"] = round(time.time() - started, 1)
        spec = {"path": "standard", "size": name, "data": str(data), "run_id": size["studio"]["run_id"],
                "model": str(model), "device": args.device, "quantization": quantization, "work": str(args.work_dir)}
        size["standard"] = child(spec, args.child_timeout)
        size["seconds"]["standard"] = round(time.time() - started - size["seconds"]["studio"], 1)
    except Exception as exc:  # noqa: BLE001 - one size failing leaves the others' figures
        size["error"] = f"{type(exc).__name__}: {exc}"[-4000:]
        print(f"!! {name}: {size['error']}", file=sys.stderr, flush=True)
    return size


def free_gpu(device: str) -> None:
    """Hand back what this process's allocator keeps (the drafter's model), before the next size."""
    import gc

    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def machine(device: str) -> dict:
    import peft
    import torch
    import transformers

    found = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
             "peft": peft.__version__, "cpus": os.cpu_count(), "device": device}
    try:
        import bitsandbytes

        found["bitsandbytes"] = bitsandbytes.__version__
    except Exception:  # noqa: BLE001 - --smoke runs without it
        found["bitsandbytes"] = None
    if device == "cuda":
        found["gpu"] = torch.cuda.get_device_name()
    return found


def arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="the same code on a tiny model on the CPU (for make test)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "out" / "gpu.json"), help="where the results go")
    parser.add_argument("--sizes", default="1.5b,7b", help="comma-separated: 1.5b, 7b (the first also drafts)")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=4, help="blocks per micro-batch, both paths")
    parser.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step, both paths")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps; the first is left out of the medians")
    parser.add_argument("--draft-tokens", type=int, default=128, help="new tokens per draft")
    parser.add_argument("--repeats", type=int, default=3, help="timed drafts per layout (median)")
    parser.add_argument("--work-dir", default="/tmp/studio-gpu-bench", help="model folders (kept for a rerun) and runs")
    parser.add_argument("--studio-set", action="append", default=[], metavar="KEY=VALUE",
                        help="one more setting for the studio run (repeatable), e.g. gradient_checkpointing=false")
    parser.add_argument("--child-timeout", type=float, default=300, help="seconds one path may take")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:  # tiny and quick, whatever else was asked
        args.sizes, args.seq_len, args.batch, args.grad_accum, args.steps = "tiny", 64, 2, 1, 3
        args.draft_tokens, args.repeats, args.child_timeout = 8, 1, 120
        if args.work_dir == parser.get_default("work_dir"):
            args.work_dir = "/tmp/studio-gpu-bench-smoke"
    unknown = set(args.sizes.split(",")) - set(SIZES)
    if unknown:
        parser.error(f"--sizes: {', '.join(sorted(unknown))} unknown; known: 1.5b, 7b")
    args.device = "cpu" if args.smoke else "cuda"
    args.work_dir = Path(args.work_dir)
    return args


def main(argv=None) -> int:
    args = arguments(argv)
    if args.child:
        print(json.dumps(standard_recipe(json.loads(Path(args.child).read_text()))))
        return 0
    missing, quantization = check_packages(args.smoke)
    if missing:
        print("bench/gpu.py cannot run here; missing:\n- " + "\n- ".join(missing)
              + "\n(docs/gpu.md says how to carry a wheel to a machine without network)", file=sys.stderr)
        return 2
    started, out = time.time(), Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(args.device), "settings": {k: str(v) if isinstance(v, Path) else v
                                                              for k, v in vars(args).items() if k != "child"},
               "quantization": quantization, "sizes": {}, "drafting": None, "drafting_size": None}
    results["matmul_bf16_tflops"] = matmul_tflops(args.device, 256 if args.smoke else 8192, 0.1 if args.smoke else 0.5)
    data = args.work_dir / "data"
    shutil.rmtree(data, ignore_errors=True)  # fresh runs each call; the model folders are kept
    data.mkdir(parents=True)
    corpus = None
    for name in args.sizes.split(","):
        print(f"... {SIZES[name]['label']}", file=sys.stderr, flush=True)
        clock = time.time()
        model = build_model(args.work_dir, name, args.device)
        tokens = max(4000, int((args.steps * args.batch * args.grad_accum + 4) * args.seq_len * 1.25))
        corpus = corpus or build_corpus(data, model, tokens, args.seq_len)
        built = round(time.time() - clock, 1)
        size = results["sizes"][name] = measure_size(name, data, corpus, model, args, quantization)
        size["seconds"]["build"] = built
        if results["drafting_size"] is None and "studio" in size:
            results["drafting_size"], clock = name, time.time()
            try:
                results["drafting"] = drafting(data, size["studio"]["run_id"], args)
            except Exception as exc:  # noqa: BLE001
                results["drafting"] = {"error": f"{type(exc).__name__}: {exc}"}
            results["drafting"]["seconds"] = round(time.time() - clock, 1)
            free_gpu(args.device)
        size["figures"] = figures(size, results["matmul_bf16_tflops"])
        results["targets_met"] = targets_met(results)
        results["total_seconds"] = round(time.time() - started, 1)
        out.write_text(json.dumps(results, indent=1))  # kept as each size ends
    print(report(results))
    failed = any("error" in size for size in results["sizes"].values()) or "error" in (results["drafting"] or {})
    return 1 if failed else 0


def report(results: dict) -> str:
    """The machine line, the table, the seconds each phase took and the targets met."""
    m, settings, first = results["machine"], results["settings"], next(iter(results["sizes"].values()))
    seconds = [f"{name} " + ", ".join(f"{k} {v:.0f}" for k, v in size["seconds"].items())
               for name, size in results["sizes"].items()]
    if results.get("drafting"):
        seconds.append(f"drafting {results['drafting']['seconds']:.0f}")
    lines = [f"{m.get('gpu', m['device'])}; torch {m['torch']}, transformers {m['transformers']}, peft {m['peft']}, "
             f"bitsandbytes {m['bitsandbytes']}; base {results['quantization']}",
             f"bf16 matmul measured now: {results['matmul_bf16_tflops']:.4g} TFLOP/s; MFU counts "
             f"{first['flops']['formula']} FLOPs per token",
             f"seq_len {settings['seq_len']}, micro-batch {settings['batch']} x {settings['grad_accum']}, "
             f"{settings['steps']} steps per path (medians leave the first out), LoRA r {LORA['lora_r']} all-linear",
             "", table(results), "",
             f"seconds: {'; '.join(seconds)}; {results['total_seconds']:.0f} in all",
             "targets met: " + json.dumps(results["targets_met"])]
    return "\n" + "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
