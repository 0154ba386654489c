"""One training run, start to finish, in its own process.

setup (config, corpus, tokenizer, packed blocks) -> wait for the training slot -> load the base
(4-bit or not) -> evaluate the base -> add LoRA -> train -> save the adapter -> evaluate the tuned
model. It reports only through runs/<id>/status.json (atomically replaced, with a heartbeat) and
runs/<id>/events.jsonl (append-only).
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import signal
import threading
import time
import traceback
from pathlib import Path

from studio import runs
from studio.paths import runs_dir
from studio.corpus.store import read_manifest, read_split


class Cancelled(Exception):
    pass


class TrainingFailed(Exception):
    def __init__(self, reason: str, advice: str = ""):
        super().__init__(reason)
        self.reason, self.advice = reason, advice


class Reporter:
    """Owns status.json: every update merges into it, and a thread refreshes the heartbeat."""

    def __init__(self, folder: Path):
        self.folder = folder
        path = folder / "status.json"
        self.status = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def update(self, **fields) -> None:
        with self._lock:
            self.status.update(fields, pid=os.getpid(), heartbeat=time.time())
            runs.write_json_atomic(self.folder / "status.json", self.status)

    def event(self, **fields) -> None:
        runs.append_event(self.folder, fields)

    def _beat(self) -> None:
        while not self._stop.wait(runs.HEARTBEAT_SECONDS):
            self.update()

    def close(self) -> None:
        self._stop.set()


class Run:
    def __init__(self, folder: Path):
        self.folder = folder
        self.root = folder.parent.parent  # <root>/runs/<id>
        self.cfg = runs.read_config(folder)
        self.report = Reporter(folder)
        self.cancel_requested = False
        self.holding_slot = False

    def on_sigterm(self, *_):
        # While queued nothing is worth saving: leave at once. While training, finish the step,
        # save a checkpoint, then leave.
        if not self.holding_slot:
            raise Cancelled()
        self.cancel_requested = True

    def wait_for_slot(self):
        """One training job at a time per machine: an exclusive lock the OS frees if we die."""
        self._slot = open(runs_dir(self.root) / ".slot.lock", "w")
        try:
            fcntl.flock(self._slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.report.update(state=runs.QUEUED, message="queued: another run holds the training slot; this one starts when it ends")
            fcntl.flock(self._slot, fcntl.LOCK_EX)
        self.holding_slot = True

    def prepare_data(self, tok):
        from studio.train.formatting import record_to_text
        from studio.train.packing import pack

        cfg = self.cfg
        manifest = read_manifest(self.root, cfg.corpus, cfg.corpus_version)
        version = manifest["version"]
        (self.folder / "corpus.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")

        def blocks(split):
            texts = [record_to_text(r, tok) for r in read_split(self.root, cfg.corpus, version, split)]
            return pack(tok(texts, add_special_tokens=False)["input_ids"], cfg.seq_len, tok.eos_token_id)

        return blocks("train"), blocks("val")

    def train(self):
        import torch
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import get_scheduler

        from studio.models import load_base, load_tokenizer, pick_device, resolve
        from studio.train.evaluate import mean_loss, summary
        from studio.train.packing import collate, count_targets

        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        device = pick_device(cfg.device)
        self.report.update(message="loading the tokenizer and corpus")
        source = resolve(cfg.model, self.root)
        tok = load_tokenizer(source)
        train_blocks, val_blocks = self.prepare_data(tok)
        if not train_blocks or not val_blocks:
            raise TrainingFailed("the corpus has too little text to make a training and a validation block",
                                 "add more text or lower seq_len")
        per_epoch = math.ceil(len(train_blocks) / (cfg.batch_size * cfg.grad_accum))
        total = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))

        self.report.update(message=f"loading {cfg.model} ({cfg.quantization}) on {device}", total_steps=total, device=device)
        model = load_base(source, cfg.quantization, device)
        if cfg.quantization != "none":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        self.report.update(message="evaluating the base model")
        base_loss = mean_loss(model, val_blocks, tok.pad_token_id, device)
        self.report.event(kind="eval", step=0, val_loss=round(base_loss, 5))

        targets = "all-linear" if cfg.target_modules == "all-linear" else [m.strip() for m in cfg.target_modules.split(",")]
        model = get_peft_model(model, LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
            target_modules=targets, task_type="CAUSAL_LM"))
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=int(cfg.warmup_ratio * total),
                                  num_training_steps=total)
        order = torch.Generator().manual_seed(cfg.seed)
        queue: list[int] = []

        def next_batch():
            nonlocal queue
            if len(queue) < cfg.batch_size:  # a new epoch: reshuffle
                queue += torch.randperm(len(train_blocks), generator=order).tolist()
            picked, queue = queue[:cfg.batch_size], queue[cfg.batch_size:]
            return {k: v.to(device) for k, v in collate([train_blocks[i] for i in picked], tok.pad_token_id).items()}

        model.train()
        start, seen = time.time(), 0
        self.report.update(message="training", step=0)
        for step in range(1, total + 1):
            step_start, step_tokens, step_loss = time.time(), 0, 0.0
            for _ in range(cfg.grad_accum):
                batch = next_batch()
                loss = model(**batch).loss / cfg.grad_accum
                loss.backward()
                step_loss += float(loss)
                step_tokens += count_targets(batch)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or float("inf")))
            if not (math.isfinite(step_loss) and math.isfinite(grad_norm)):
                raise TrainingFailed(f"the loss or gradient became NaN/infinite at step {step}",
                                     "lower learning_rate (e.g. halve it) or check the corpus for garbage text")
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            seen += step_tokens
            elapsed = time.time() - start
            eta = elapsed / step * (total - step)
            self.report.event(kind="train", step=step, epoch=round(step / per_epoch, 3), loss=round(step_loss, 5),
                              lr=scheduler.get_last_lr()[0], grad_norm=round(grad_norm, 4),
                              tokens_per_s=round(step_tokens / (time.time() - step_start), 1),
                              elapsed_s=round(elapsed, 1), eta_s=round(eta, 1))
            self.report.update(step=step, eta_s=round(eta, 1), tokens_seen=seen)
            if cfg.eval_every and step % cfg.eval_every == 0 and step < total:
                self.report.event(kind="eval", step=step, val_loss=round(mean_loss(model, val_blocks, tok.pad_token_id, device), 5))
            if self.cancel_requested:
                self.save_adapter(model, self.folder / "checkpoints" / f"step-{step}")
                raise Cancelled()

        self.report.update(message="saving the adapter")
        self.save_adapter(model, self.folder / "adapter")
        self.report.update(message="evaluating the tuned model")
        tuned_loss = mean_loss(model, val_blocks, tok.pad_token_id, device)
        self.report.event(kind="eval", step=total, val_loss=round(tuned_loss, 5))
        base, tuned = summary(base_loss), summary(tuned_loss)
        runs.write_json_atomic(self.folder / "eval.json", {
            "split": "val", "val_blocks": len(val_blocks), "base": base, "tuned": tuned,
            "perplexity_change": round(tuned["perplexity"] / base["perplexity"] - 1, 4),
            "train_seconds": round(time.time() - start, 1), "tokens_seen": seen,
        })

    def save_adapter(self, model, dest: Path) -> None:
        """PEFT's own format, safetensors; written aside and renamed so a kill never leaves half."""
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        if dest.exists():
            shutil.rmtree(dest)
        os.rename(tmp, dest)


def advice_for(exc: BaseException) -> tuple[str, str]:
    text = str(exc)
    if isinstance(exc, TrainingFailed):
        return exc.reason, exc.advice
    if "out of memory" in text.lower() or type(exc).__name__ == "OutOfMemoryError":
        return f"out of memory: {text.splitlines()[0][:200]}", "lower batch_size or seq_len, or use quantization nf4"
    return f"{type(exc).__name__}: {text[:500]}", "see worker.log in the run folder for the full traceback"


def main(run_dir: str) -> int:
    folder = Path(run_dir).resolve()
    run = Run(folder)
    signal.signal(signal.SIGTERM, run.on_sigterm)
    run.report.update(state=runs.QUEUED, message="starting")
    try:
        run.wait_for_slot()
        run.report.update(state=runs.RUNNING, started=time.time(), message="starting")
        run.train()
        run.report.update(state=runs.COMPLETED, finished=time.time(), message="done")
        return 0
    except Cancelled:
        run.report.update(state=runs.CANCELLED, finished=time.time(), message="cancelled")
        return 0
    except BaseException as exc:  # every failure ends as `failed` with a reason, never a phantom `running`
        traceback.print_exc()
        reason, advice = advice_for(exc)
        run.report.update(state=runs.FAILED, finished=time.time(), reason=reason, advice=advice, message="failed")
        return 1
    finally:
        run.report.close()
