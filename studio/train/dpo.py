"""A DPO run: the writer's blind picks (preference pairs) teach a tuned adapter which drafts they
prefer. TRL's `DPOTrainer` does the training on the same base (4-bit when the run says so) with
the chosen run's adapter as the starting point; TRL keeps a frozen copy of that adapter as the
reference. It runs inside the ordinary worker (slot, status, events, cancel), reading the pairs
the run was created with (`dpo-pairs.jsonl` in the run folder, so the run describes itself).

Before and after training it measures, on the pairs, how often the model gives the chosen draft
a higher log-likelihood margin than the rejected one (preference accuracy).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

from studio import jsonio
from studio.messages import message
from studio.records import DpoEvaluation, PreferenceEval, TrainStep, to_dict
from studio.runs import RunFolder
from studio.train import checkpoints
from studio.train.errors import Cancelled, TrainingFailed

PAIRS_FILE = "dpo-pairs.jsonl"


def read_pairs(folder: Path) -> list[dict]:
    return jsonio.read_jsonl(folder / PAIRS_FILE)


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


def trainer_callback(run):
    """TRL's progress as the run's status and typed events; a cancel stops the trainer."""
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            run.report.update(step=state.global_step, total_steps=state.max_steps)
            if run.cancel_requested:
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                run.report.record(TrainStep(
                    step=state.global_step, loss=round(float(logs["loss"]), 5), lr=logs.get("learning_rate"),
                    grad_norm=logs.get("grad_norm"), reward_accuracy=logs.get("rewards/accuracies"),
                    reward_margin=logs.get("rewards/margins")))

    return Report()


class DpoRecipe:
    def __init__(self, run):
        self.run, self.cfg = run, run.cfg

    def __call__(self) -> str:
        """setup -> train -> save -> evaluate; returns the closing message."""
        self.setup()
        self.before = self.measure(0, "status.dpo_before")
        self.train()
        self.save()
        return self.evaluate()

    def setup(self) -> None:
        """The pairs, the tokenizer, and the base with the init adapter attached as "default"."""
        import torch
        from peft import PeftModel

        from studio.adapters import adapter_folder, parse_source
        from studio.models import load_tokenizer, resolve

        run, cfg = self.run, self.cfg
        self.pairs = read_pairs(run.folder)
        if len(self.pairs) < 2:
            raise TrainingFailed("failure.dpo_pairs", "failure.dpo_pairs.advice", n=len(self.pairs))
        torch.manual_seed(cfg.seed)
        source = resolve(cfg.model, run.root)
        self.tok = load_tokenizer(source)
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        start = adapter_folder(run.root, parse_source(cfg.init_adapter))
        self.model = PeftModel.from_pretrained(run.load_base(source), str(start), is_trainable=True)

    def measure(self, step: int, key: str) -> dict:
        """Preference accuracy on the pairs now, as an event."""
        self.model.eval()
        self.run.report.update(message=message(key, n=len(self.pairs)))
        result = preference_accuracy(self.model, self.tok, self.pairs, self.run.device)
        self.run.report.record(PreferenceEval(step=step, preference_accuracy=result["accuracy"], margin=result["mean_margin"]))
        return result

    def train(self) -> None:
        """TRL's DPOTrainer over the pairs (its reference: a frozen copy of the init adapter)."""
        from datasets import Dataset
        from trl import DPOTrainer

        run = self.run
        trainer = DPOTrainer(model=self.model, args=self.arguments(), train_dataset=Dataset.from_list(self.pairs),
                             processing_class=self.tok, callbacks=[trainer_callback(run)])
        run.report.update(message=message("status.dpo", n=len(self.pairs)), total_steps=planned_steps(self.cfg, len(self.pairs)))
        started = time.time()
        trainer.train()
        self.steps, self.seconds = trainer.state.global_step, round(time.time() - started, 1)
        if run.cancel_requested:
            raise Cancelled()

    def arguments(self):
        import torch
        from trl import DPOConfig

        from studio.models import compute_dtype

        run, cfg = self.run, self.cfg
        dtype = compute_dtype(run.device, run.compute_dtype)  # as load_base resolved it
        return DPOConfig(
            output_dir=str(run.folder / "trl"), beta=cfg.dpo_beta, learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio
            num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1, per_device_train_batch_size=cfg.batch_size,
            gradient_accumulation_steps=cfg.grad_accum, max_grad_norm=cfg.max_grad_norm or 1e9,
            weight_decay=cfg.weight_decay, seed=cfg.seed, logging_steps=1, save_strategy="no", report_to=[],
            max_length=cfg.seq_len, bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16,
            use_cpu=run.device == "cpu", disable_tqdm=True, gradient_checkpointing=cfg.gradient_checkpointing)

    def save(self) -> None:
        self.model.eval()
        self.run.report.update(message=message("status.saving"))
        checkpoints.save_adapter(self.model, self.run.folder / "adapter", adapters=["default"])

    def evaluate(self) -> str:
        """Preference accuracy after training, eval.json, and the closing message."""
        after = self.measure(self.steps, "status.dpo_after")
        result = DpoEvaluation(pairs=len(self.pairs), init_adapter=self.cfg.init_adapter, before=self.before, after=after,
                               steps=self.steps, train_seconds=self.seconds)
        jsonio.write_json_atomic(self.run.folder / RunFolder.EVAL, to_dict(result))
        return message("status.dpo_done", n=len(self.pairs), before=self.before["accuracy"], after=after["accuracy"])
