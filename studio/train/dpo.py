"""A DPO run: the writer's blind picks (preference pairs) teach a tuned adapter which drafts they
prefer. TRL's `DPOTrainer` does the training on the same base (4-bit when the run says so) with
the chosen run's adapter as the starting point; TRL keeps a frozen copy of that adapter as the
reference. It runs inside the ordinary worker (slot, status, events, cancel), reading the pairs
the run was created with (`dpo-pairs.jsonl` in the run folder, so the run describes itself).

Before and after training it measures, on the pairs, how often the model gives the chosen draft
a higher log-likelihood margin than the rejected one (preference accuracy).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from studio.messages import message
from studio.records import PreferenceEval

PAIRS_FILE = "dpo-pairs.jsonl"


def read_pairs(folder: Path) -> list[dict]:
    path = folder / PAIRS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def response_logprob(model, tok, prompt: str, response: str, device: str) -> float:
    """Sum of log-probabilities of `response`'s tokens after `prompt`."""
    import torch

    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tok(response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([prompt_ids + response_ids], device=device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1:-1].float()
    picked = torch.log_softmax(logits, dim=-1).gather(1, ids[0, len(prompt_ids):, None])
    return float(picked.sum())


def preference_accuracy(model, tok, pairs: list[dict], device: str) -> dict:
    margins = [response_logprob(model, tok, p["prompt"], p["chosen"], device)
               - response_logprob(model, tok, p["prompt"], p["rejected"], device) for p in pairs]
    return {"accuracy": round(sum(m > 0 for m in margins) / len(margins), 4),
            "mean_margin": round(sum(margins) / len(margins), 4)}


def planned_steps(cfg, pairs: int, world: int = 1) -> int:
    """The optimizer steps the trainer will take: max_steps, else its epochs over the pairs in
    batches of batch_size x grad_accum (the trainer's own count, partial batches included)."""
    if cfg.max_steps:
        return cfg.max_steps
    batches = math.ceil(pairs / (cfg.batch_size * world))
    return math.ceil(cfg.epochs * max(1, math.ceil(batches / cfg.grad_accum)))


def train(run) -> str:
    """Train run.cfg's init adapter on the run's preference pairs; returns the closing message."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from studio import runs
    from studio.models import compute_dtype, load_tokenizer, resolve
    from studio.train import checkpoints
    from studio.train.worker import Cancelled, TrainingFailed
    from studio.adapters import adapter_folder, parse_source

    cfg, device, report = run.cfg, run.device, run.report
    pairs = read_pairs(run.folder)
    if len(pairs) < 2:
        raise TrainingFailed(f"{len(pairs)} preference pair(s): a DPO run needs at least 2",
                             "judge more blind comparisons in the Write tab (ties give no pair)")
    torch.manual_seed(cfg.seed)
    source = resolve(cfg.model, run.root)
    tok = load_tokenizer(source)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = run.load_base(source)
    dtype = compute_dtype(device, cfg.compute_dtype)
    start = adapter_folder(run.root, parse_source(cfg.init_adapter))
    model = PeftModel.from_pretrained(model, str(start), is_trainable=True)  # adapter "default"

    model.eval()
    report.update(message=message("status.dpo_before", n=len(pairs)))
    before = preference_accuracy(model, tok, pairs, device)
    report.record(PreferenceEval(step=0, preference_accuracy=before["accuracy"], margin=before["mean_margin"]))

    class Report(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            report.update(step=state.global_step, total_steps=state.max_steps)
            if run.cancel_requested:
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                report.event(kind="train", step=state.global_step, loss=round(float(logs["loss"]), 5),
                             lr=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
                             reward_accuracy=logs.get("rewards/accuracies"), reward_margin=logs.get("rewards/margins"))

    args = DPOConfig(
        output_dir=str(run.folder / "trl"), beta=cfg.dpo_beta, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, max_grad_norm=cfg.max_grad_norm or 1e9,
        weight_decay=cfg.weight_decay, seed=cfg.seed, logging_steps=1, save_strategy="no", report_to=[],
        max_length=cfg.seq_len, bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16,
        use_cpu=device == "cpu", disable_tqdm=True, gradient_checkpointing=cfg.gradient_checkpointing)
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tok,
                         callbacks=[Report()])
    report.update(message=message("status.dpo", n=len(pairs)), total_steps=planned_steps(cfg, len(pairs)))
    started = time.time()
    trainer.train()
    if run.cancel_requested:
        raise Cancelled()
    model.eval()
    report.update(message=message("status.saving"))
    checkpoints.save_adapter(model, run.folder / "adapter", adapters=["default"])
    report.update(message=message("status.dpo_after"))
    after = preference_accuracy(model, tok, pairs, device)
    steps = trainer.state.global_step
    report.record(PreferenceEval(step=steps, preference_accuracy=after["accuracy"], margin=after["mean_margin"]))
    runs.write_json_atomic(run.folder / "eval.json", {
        "objective": "dpo", "pairs": len(pairs), "init_adapter": cfg.init_adapter, "before": before, "after": after,
        "steps": steps, "train_seconds": round(time.time() - started, 1)})
    return message("status.dpo_done", n=len(pairs), before=before["accuracy"], after=after["accuracy"])
