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
import signal
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

from studio import runs
from studio.messages import message
from studio.paths import runs_dir
from studio.corpus.store import read_manifest, read_split
from studio.train.checkpoints import SaveFailed


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
            self.status.update(fields, pid=os.getpid(), pgid=os.getpgid(0), heartbeat=time.time())
            runs.write_json_atomic(self.folder / "status.json", self.status)

    def event(self, **fields) -> None:
        runs.append_event(self.folder, fields)

    def record(self, event) -> None:
        """One typed event (studio/records.py) as a line of events.jsonl."""
        from studio import jsonio, records

        jsonio.append_jsonl(self.folder / "events.jsonl", records.event_to_dict(replace(event, time=round(time.time(), 3))))

    def _beat(self) -> None:
        while not self._stop.wait(runs.HEARTBEAT_SECONDS):
            self.update()

    def close(self) -> None:
        self._stop.set()


class Silent:
    """What ranks other than 0 report through: nothing (rank 0 speaks for the run)."""

    def update(self, **fields) -> None:
        pass

    def event(self, **fields) -> None:
        pass

    def record(self, event) -> None:
        pass

    def close(self) -> None:
        pass

    def add_scalar(self, *args) -> None:
        pass

    def flush(self) -> None:
        pass


class Run:
    def __init__(self, folder: Path):
        from studio.train.distributed import Ranks

        self.folder = folder
        self.root = folder.parent.parent  # <root>/runs/<id>
        self.cfg = runs.read_config(folder)
        self.ranks = Ranks()
        self.report = Reporter(folder) if self.ranks.main else Silent()
        self.device = "cpu"
        self.quantization, self.quantization_note = "", ""  # what the base is trained in; why, when `auto` chose
        self.cancel_requested = False
        self.holding_slot = False
        self.corpus_version = ""  # the version prepare_data read

    def on_sigterm(self, *_):
        # While queued nothing is worth saving: leave at once. While training, finish the step,
        # save a checkpoint, then leave.
        if not self.holding_slot:
            raise Cancelled()
        self.cancel_requested = True

    def wait_for_slot(self):
        """One training job at a time per machine: an exclusive lock the OS frees if we die.
        Under torchrun rank 0 holds it for all ranks."""
        if not self.ranks.main:
            self.holding_slot = True
            self.ranks.barrier()
            return
        self._slot = open(runs_dir(self.root) / ".slot.lock", "w")
        try:
            fcntl.flock(self._slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.report.update(state=runs.QUEUED, message=message("status.queued"))
            fcntl.flock(self._slot, fcntl.LOCK_EX)
        self.holding_slot = True
        self.ranks.barrier()

    def computed_once(self, filename: str, compute, then=None) -> dict:
        """compute() on rank 0 the first time only, kept in the run folder as `filename` so a resumed
        run reads it back instead; `then(result)` runs after it is kept. Other ranks wait, get {}."""
        path = self.folder / filename
        if not self.ranks.main:
            self.ranks.barrier()  # rank 0 computes
            return {}
        if path.exists():
            self.ranks.barrier()
            return json.loads(path.read_text(encoding="utf-8"))
        result = compute()
        runs.write_json_atomic(path, result)
        if then:
            then(result)
        self.ranks.barrier()
        return result

    def blocks(self, records: list[dict], tok) -> list[list[int]]:
        """Corpus records as the run's training blocks (its template, masking, packing and length)."""
        from studio.train.formatting import record_to_example
        from studio.train.packing import one_per_block, pack

        cfg = self.cfg
        examples = [record_to_example(r, tok, cfg.chat_template, cfg.completion_only, cfg.prompt_template) for r in records]
        return (pack if cfg.packing else one_per_block)(examples, cfg.seq_len, tok.eos_token_id)

    def prepare_data(self, tok):
        cfg = self.cfg
        manifest = read_manifest(self.root, cfg.corpus, cfg.corpus_version)
        version = self.corpus_version = manifest["version"]
        (self.folder / "corpus.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        val_records = read_split(self.root, cfg.corpus, version, "val")
        return (self.blocks(read_split(self.root, cfg.corpus, version, "train"), tok), self.blocks(val_records, tok),
                manifest["mode"], val_records)

    def generation_metrics(self, model, tok, val_records, device) -> dict | None:
        """ROUGE/BLEU of generated responses on held-out pairs (pairs mode only)."""
        from studio.train.formatting import prompt_text
        from studio.train.metrics import generate_responses, rouge_bleu

        cfg = self.cfg
        pairs = [r for r in val_records if "prompt" in r][:cfg.eval_examples]
        if not pairs:
            return None
        prompts = [prompt_text(r, tok, cfg.chat_template, cfg.prompt_template) for r in pairs]
        outputs = generate_responses(model, tok, prompts, cfg.eval_max_new_tokens, device)
        return rouge_bleu(outputs, [r["response"] for r in pairs])

    def style_evaluation(self, model, tok, val_records, device) -> dict | None:
        """Style match (text corpora): base and tuned continue held-out openings with the same seed,
        each continuation scored against the writer's held-out text (studio/write/style.py), with
        the share of the tuned drafts copied from the corpus."""
        from studio.write import style

        cfg = self.cfg
        val_texts = [r["text"] for r in val_records if "text" in r]
        found = style.openings(val_texts, cfg.style_openings) if cfg.style_openings else []
        if not found:
            return None
        self.report.update(message=message("status.style", n=len(found)))
        base, tuned = style.continuations(model, tok, [o["opening"] for o in found], cfg.eval_max_new_tokens, device,
                                          cfg.seed)
        return style.score_on_corpus(self.root, cfg.corpus, self.corpus_version, found, base, tuned)

    def load_base(self, source: str):
        """The frozen base, ready for LoRA training: quantized as the run says (`auto` resolved,
        and the choice said in the status), with input gradients for the adapter's backward pass."""
        from peft import prepare_model_for_kbit_training

        from studio.models import compute_dtype, load_base, model_facts, training_quantization

        cfg = self.cfg
        params_m, _ = model_facts(self.root, cfg.model)
        quantization, self.quantization_note = training_quantization(cfg.quantization, self.device, params_m)
        self.quantization = quantization
        self.report.update(message=message("status.loading", model=cfg.model, quantization=quantization, device=self.device), quantization=quantization,
                           quantization_note=self.quantization_note)
        model = load_base(source, quantization, self.device, cfg.compute_dtype, cfg.double_quant)
        self.report.update(compute_dtype=str(compute_dtype(self.device, cfg.compute_dtype)).removeprefix("torch."))
        if quantization != "none":
            return prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing,
                                                   gradient_checkpointing_kwargs={"use_reentrant": False})
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        return model

    def base_evaluation(self, model, tok, val_blocks, val_records, mode, device) -> dict:
        """Validation loss (and ROUGE/BLEU for pairs) of the untouched base, computed once and
        kept in base_eval.json so a resumed run does not redo it."""
        from studio.train.evaluate import mean_loss

        def evaluate() -> dict:
            self.report.update(message=message("status.eval_base"))
            result = {"val_loss": mean_loss(model, val_blocks, tok.pad_token_id, device)}
            if mode == "pairs" and self.cfg.eval_examples:
                self.report.update(message=message("status.generation_base"))
                result["generation"] = self.generation_metrics(model, tok, val_records, device)
            return result

        return self.computed_once("base_eval.json", evaluate, lambda result: self.report.event(
            kind="eval", step=0, val_loss=round(result["val_loss"], 5)))

    def train(self):
        import torch
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
        from safetensors.torch import load_file
        from transformers import get_scheduler

        from studio.models import load_tokenizer, resolve
        from studio.train import checkpoints, continual, faults
        from studio.train.evaluate import mean_loss, summary
        from studio.train.loss import loss_sum
        from studio.train.packing import collate, count_targets

        cfg = self.cfg
        ranks = self.ranks
        torch.manual_seed(cfg.seed)
        device = self.device
        self.report.update(message=message("status.loading_corpus"))
        source = resolve(cfg.model, self.root)
        tok = load_tokenizer(source)
        train_blocks, val_blocks, mode, val_records = self.prepare_data(tok)
        if not train_blocks or not val_blocks:
            raise TrainingFailed("the corpus has too little text to make a training and a validation block",
                                 "add more text or lower seq_len")
        per_step = cfg.batch_size * cfg.grad_accum * ranks.world  # blocks per optimizer step, all processes together
        per_epoch = math.ceil(len(train_blocks) / per_step)
        total = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))

        self.report.update(total_steps=total, device=device.split(":")[0], processes=ranks.world)
        model = self.load_base(source)
        base = self.base_evaluation(model, tok, val_blocks, val_records, mode, device)

        if cfg.init_adapter:  # keep training: the parent's adapter, not a fresh one
            model = continual.attach_parent(self.root, model, cfg.init_adapter)
            parent = continual.evaluate_parent(self, model, tok, val_blocks, device)
        else:
            targets = "all-linear" if cfg.target_modules == "all-linear" else [m.strip() for m in cfg.target_modules.split(",")]
            model = get_peft_model(model, LoraConfig(
                r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
                use_rslora=cfg.use_rslora, use_dora=cfg.use_dora, task_type="CAUSAL_LM"))
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        ranks.same_start(params)
        scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=int(cfg.warmup_ratio * total),
                                  num_training_steps=total)
        order = torch.Generator().manual_seed(cfg.seed)
        progress = {"step": 0, "seen": 0, "queue": [], "best_loss": float("inf"), "best_step": 0, "bad_evals": 0,
                    "train_seconds": 0.0, "micro_batch": cfg.batch_size}

        resumed = checkpoints.latest(self.folder)
        if resumed:
            step0, ckpt = resumed
            self.report.update(message=message("status.resuming", step=step0))
            set_peft_model_state_dict(model, load_file(ckpt / "adapter_model.safetensors"))
            state = checkpoints.load_state(ckpt)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            order.set_state(state["order"])
            checkpoints.restore_rng(state["rng"])
            progress.update(state["progress"])
            if ranks.main:  # rank 0 owns the run's files
                runs.truncate_events(self.folder, after_step=step0)  # steps after the checkpoint are redone
            self.report.event(kind="resumed", step=step0)

        from torch.utils.tensorboard import SummaryWriter

        board = SummaryWriter(str(self.folder / "tb"), purge_step=progress["step"] + 1 if resumed else None) \
            if ranks.main else Silent()

        def draw(n: int) -> list:
            """The next n training blocks in a seeded order, reshuffled every epoch."""
            queue = progress["queue"]
            while len(queue) < n:
                queue += torch.randperm(len(train_blocks), generator=order).tolist()
            picked, progress["queue"] = queue[:n], queue[n:]
            return [train_blocks[i] for i in picked]

        def checkpoint_state() -> dict:
            return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "order": order.get_state(),
                    "rng": checkpoints.rng_state(), "progress": dict(progress)}

        def save_checkpoint(step: int) -> None:
            if ranks.main:
                checkpoints.save(self.folder, step, model, checkpoint_state(), cfg.keep_last)
                self.report.event(kind="checkpoint", step=step)
            ranks.barrier()

        def run_step(blocks: list) -> tuple[float, int]:
            """Forward and backward over this process's share of the step's blocks in micro-batches,
            then the gradients summed over processes; the loss is the mean over every target token
            of the step, all processes together. On out-of-memory in any process, every process
            halves its micro-batch and redoes the step (same blocks, same effective batch)."""
            while True:
                micro = progress["micro_batch"]
                optimizer.zero_grad(set_to_none=True)
                batches = [collate(blocks[i:i + micro], tok.pad_token_id) for i in range(0, len(blocks), micro)]
                weights = [count_targets(batch) for batch in batches]
                everyone = max(ranks.total(sum(weights)), 1)
                reported, failure = 0.0, None
                try:
                    faults.inject("oom", progress["step"] + 1, micro)
                    for batch in batches:
                        batch = {k: v.to(device) for k, v in batch.items()}
                        loss = loss_sum(model, batch, cfg.fused_loss) / everyone
                        loss.backward()
                        reported += float(loss.detach())
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                    if not is_out_of_memory(exc):
                        raise
                    failure = exc
                    loss = None  # drop the graph before freeing memory
                if not ranks.any(failure is not None):  # every process agrees the step worked
                    ranks.sum_gradients(params)
                    return ranks.total(reported), int(everyone)
                optimizer.zero_grad(set_to_none=True)
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                if micro == 1:
                    raise failure or torch.OutOfMemoryError("another process ran out of memory at micro-batch 1")
                progress["micro_batch"] = micro // 2
                self.report.event(kind="oom_retry", step=progress["step"] + 1, micro_batch=micro // 2)
                self.report.update(message=message("status.oom_retry", micro=micro, half=micro // 2,
                                                           steps=math.ceil(len(blocks) / (micro // 2))))

        model.train()
        clock = time.time() - progress["train_seconds"]
        stopped_early = ""
        training = message("status.training_note", note=self.quantization_note) if self.quantization_note \
            else message("status.training")
        self.report.update(message=training, step=progress["step"])
        for step in range(progress["step"] + 1, total + 1):
            step_start = time.time()
            step_loss, step_tokens = run_step(ranks.share(draw(per_step)))
            if faults.inject("nan", step):
                step_loss = float("nan")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or float("inf")))
            if not (math.isfinite(step_loss) and math.isfinite(grad_norm)):
                last = checkpoints.latest(self.folder)
                raise TrainingFailed(f"the loss or gradient became NaN/infinite at step {step}; "
                                     + (f"checkpoint step-{last[0]} is the last good one" if last else "no checkpoint was saved yet"),
                                     "lower learning_rate (e.g. halve it) or check the corpus for garbage text")
            optimizer.step()
            scheduler.step()
            progress["step"], progress["seen"] = step, progress["seen"] + step_tokens
            progress["train_seconds"] = elapsed = time.time() - clock
            eta = (time.time() - step_start) * (total - step) if step == 1 else elapsed / step * (total - step)
            lr = scheduler.get_last_lr()[0]
            self.report.event(kind="train", step=step, epoch=round(step / per_epoch, 3), loss=round(step_loss, 5),
                              lr=lr, grad_norm=round(grad_norm, 4),
                              tokens_per_s=round(step_tokens / (time.time() - step_start), 1),
                              elapsed_s=round(elapsed, 1), eta_s=round(eta, 1))
            board.add_scalar("train/loss", step_loss, step)
            board.add_scalar("train/learning_rate", lr, step)
            board.add_scalar("train/grad_norm", grad_norm, step)
            self.report.update(step=step, eta_s=round(eta, 1), tokens_seen=progress["seen"])
            faults.inject("slow", step)
            if cfg.eval_every and step % cfg.eval_every == 0 and step < total:
                if ranks.main:
                    val_loss = mean_loss(model, val_blocks, tok.pad_token_id, device)
                    self.report.event(kind="eval", step=step, val_loss=round(val_loss, 5))
                    board.add_scalar("val/loss", val_loss, step)
                    if val_loss < progress["best_loss"] - cfg.early_stopping_min_delta:
                        progress.update(best_loss=val_loss, best_step=step, bad_evals=0)
                        if cfg.early_stopping_patience:
                            checkpoints.save_adapter(model, self.folder / "checkpoints" / "best")
                    else:
                        progress["bad_evals"] += 1
                        if cfg.early_stopping_patience and progress["bad_evals"] >= cfg.early_stopping_patience:
                            stopped_early = message("status.stopped_early", step=step, evals=progress["bad_evals"],
                                                    best=progress["best_step"])
                if ranks.any(bool(stopped_early)) and not stopped_early:
                    stopped_early = message("status.stopped_early_rank0")
            if ranks.any(self.cancel_requested):
                save_checkpoint(step)
                raise Cancelled()
            if stopped_early:
                self.report.event(kind="early_stop", step=step, best_step=progress["best_step"])
                break
            if cfg.save_every and step % cfg.save_every == 0 and step < total:
                save_checkpoint(step)
        board.flush()
        if not ranks.main:
            ranks.barrier()  # rank 0 saves and evaluates
            return ""

        best = self.folder / "checkpoints" / "best"
        if cfg.early_stopping_patience and best.exists() and progress["best_step"] != progress["step"]:
            set_peft_model_state_dict(model, load_file(best / "adapter_model.safetensors"))  # the best, not the last
        self.report.update(message=message("status.saving"))
        checkpoints.save_adapter(model, self.folder / "adapter")
        self.report.update(message=message("status.eval_tuned"))
        tuned_loss = mean_loss(model, val_blocks, tok.pad_token_id, device)
        self.report.event(kind="eval", step=progress["step"], val_loss=round(tuned_loss, 5))
        board.add_scalar("val/loss", tuned_loss, progress["step"])
        result = {
            "split": "val", "val_blocks": len(val_blocks), "base": summary(base["val_loss"]), "tuned": summary(tuned_loss),
            "perplexity_change": round(math.exp(min(tuned_loss, 50)) / math.exp(min(base["val_loss"], 50)) - 1, 4),
            "train_seconds": round(progress["train_seconds"], 1), "tokens_seen": progress["seen"],
            "steps": progress["step"], "stopped_early": stopped_early, "peak_memory_gb": peak_memory_gb(device),
            "quantization": self.quantization,
        }
        if base.get("generation"):
            self.report.update(message=message("status.generation_tuned"))
            result["base"]["generation"] = base["generation"]
            result["tuned"]["generation"] = self.generation_metrics(model, tok, val_records, device)
        if mode == "text":
            result["style"] = self.style_evaluation(model, tok, val_records, device)
        if cfg.bias_probe:
            from studio.train import bias

            self.report.update(message=message("status.bias"))
            result["bias"] = bias.probe(model, tok, device)
        if cfg.init_adapter:
            result["lineage"] = continual.lineage(self, model, tok, device, parent, base["val_loss"], tuned_loss)
        board.close()
        runs.write_json_atomic(self.folder / "eval.json", result)
        ranks.barrier()
        return stopped_early


def peak_memory_gb(device: str) -> float:
    """The most memory this run held: GPU memory allocated by torch on CUDA, else the process's
    peak resident size (model, activations, optimizer and all)."""
    import resource

    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)  # KiB on Linux


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower() \
        or "can't allocate memory" in str(exc).lower()


def advice_for(exc: BaseException) -> tuple[str, str]:
    text = str(exc)
    if isinstance(exc, TrainingFailed):
        return exc.reason, exc.advice
    if isinstance(exc, SaveFailed):
        return text, "free disk space, then resume the run: it continues from the last complete checkpoint"
    if is_out_of_memory(exc):
        return (f"out of memory even at micro-batch 1: {text.splitlines()[0][:200]}",
                "lower seq_len, turn on gradient_checkpointing, use quantization nf4, or pick a smaller model")
    return f"{type(exc).__name__}: {text[:500]}", "see worker.log in the run folder for the full traceback"


def main(run_dir: str) -> int:
    folder = Path(run_dir).resolve()
    run = Run(folder)
    signal.signal(signal.SIGTERM, run.on_sigterm)
    run.report.update(state=runs.QUEUED, message=message("status.starting"))
    try:
        from studio.models import pick_device

        run.device = run.ranks.start(pick_device(run.cfg.device))
        run.wait_for_slot()
        run.report.update(state=runs.RUNNING, started=time.time(), message=message("status.starting"), reason=None, advice=None, finished=None)
        if run.cfg.objective == "dpo":
            from studio.train import dpo

            ended = dpo.train(run)
        elif run.cfg.objective == "blend":
            from studio.train import blend

            ended = blend.make(run)
        else:
            ended = run.train()
        run.report.update(state=runs.COMPLETED, finished=time.time(), message=ended or message("status.done"))
        return 0
    except Cancelled:
        run.report.update(state=runs.CANCELLED, finished=time.time(), message=message("status.cancelled"))
        return 0
    except BaseException as exc:  # every failure ends as `failed` with a reason, never a phantom `running`
        traceback.print_exc()
        reason, advice = advice_for(exc)
        run.report.update(state=runs.FAILED, finished=time.time(), reason=reason, advice=advice, message=message("status.failed"))
        return 1
    finally:
        run.report.close()
        run.ranks.close()
