"""The LoRA recipe (objective `sft`): a writer's corpus teaches a fresh adapter, or a parent run's
adapter keeps training on it (studio/train/continual.py).

setup() reads the corpus into blocks, loads the base, measures it, attaches the adapter and
resumes from the last checkpoint; train() runs the steps (step(): draw, forward and backward with
the out-of-memory retry, clip, optimizer step, report), evaluating and checkpointing as the
config says; save() writes the adapter (the best one when early stopping kept one); evaluate()
measures it and writes eval.json.
"""
from __future__ import annotations

import math
import time

from studio import jsonio
from studio.messages import message
from studio.records import LossEval, Marker, SftEvaluation, TrainStep, to_dict
from studio.adapters import ADAPTER_WEIGHTS
from studio.estimate import total_steps
from studio.runs import RunFolder, read_status
from studio.train import checkpoints, continual, early_stop, final_eval, oom, shard
from studio.train.errors import Cancelled, TrainingFailed
from studio.train.evaluate import mean_loss, summary
from studio.train.loss import loss_sum, target_rows
from studio.train.packing import collate, count_targets
from studio.train.reporter import Silent, truncate_events
from studio.train.sampler import BlockSampler
from studio.train.state import TrainState


OVERRUN = 1.5  # a budgeted run that took this many times its minutes stops where it is


class SftRecipe:
    def __init__(self, run):
        self.run, self.cfg = run, run.cfg
        self.state = TrainState(micro_batch=run.cfg.batch_size)

    def __call__(self) -> str:
        """setup -> train -> save -> evaluate; returns the closing message ("" for "done")."""
        self.setup()
        stopped = self.train()
        shard.unwrap(self)  # sharded: rank 0 gets the plain model back to save and evaluate
        if not self.run.ranks.main:
            self.run.ranks.barrier()  # rank 0 saves and evaluates
            return ""
        self.save()
        self.evaluate(stopped)
        self.run.ranks.barrier()
        return stopped

    def setup(self) -> TrainState:
        import torch

        from studio.models import load_tokenizer, resolve

        run, cfg = self.run, self.cfg
        torch.manual_seed(cfg.seed)
        run.report.update(message=message("status.loading_corpus"))
        source = self.source = resolve(cfg.model, run.root)
        self.tok = load_tokenizer(source)
        self.train_blocks, self.val_blocks, self.mode, self.val_records = run.prepare_data(self.tok)
        if not self.train_blocks or not self.val_blocks:
            raise TrainingFailed("failure.too_little", "failure.too_little.advice")
        self.per_step = cfg.batch_size * cfg.grad_accum * run.ranks.world  # blocks per optimizer step, all processes
        self.per_epoch = math.ceil(len(self.train_blocks) / self.per_step)
        budget = read_status(run.folder).budget  # steps a time budget bought at the start, kept for resumes
        self.total = total_steps(cfg, self.per_epoch, budget["steps"] if budget else 0)
        run.report.update(total_steps=self.total, device=run.device.split(":")[0], processes=run.ranks.world)
        model = run.load_base(source)
        self.base = final_eval.base_evaluation(run, model, self.tok, self.val_blocks, self.val_records, self.mode)
        self.model, self.parent = self.adapter(model)
        self.optimizer_and_schedule()
        self.sampler = BlockSampler(self.train_blocks, cfg.seed)
        resumed = self.resume()
        self.board = self.tensorboard(resumed)
        return self.state

    def adapter(self, model):
        """(the model with its trainable adapter, the parent's evaluation or None)."""
        from peft import LoraConfig, get_peft_model

        from studio.models import lora_in_compute_dtype

        cfg = self.cfg
        if cfg.init_adapter:  # keep training: the parent's adapter, not a fresh one
            model = continual.attach_parent(self.run.root, model, cfg.init_adapter)
            lora_in_compute_dtype(model)
            return model, continual.evaluate_parent(self.run, model, self.tok, self.val_blocks, self.run.device)
        targets = "all-linear" if cfg.target_modules == "all-linear" else [m.strip() for m in cfg.target_modules.split(",")]
        model = get_peft_model(model, LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=targets,
            use_rslora=cfg.use_rslora, use_dora=cfg.use_dora, task_type="CAUSAL_LM"))
        lora_in_compute_dtype(model)  # float32 LoRA weights (the optimizer's), bf16 products on the GPU path
        return model, None

    def optimizer_and_schedule(self) -> None:
        import torch
        from transformers import get_scheduler

        cfg = self.cfg
        self.model = shard.wrap(self.run, self.model)  # unchanged unless `shard`
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.run.ranks.same_start(self.params)
        self.scheduler = get_scheduler(cfg.lr_scheduler, self.optimizer, num_warmup_steps=int(cfg.warmup_ratio * self.total),
                                       num_training_steps=self.total)

    def resume(self) -> bool:
        """Continue from the newest complete checkpoint, if any: adapter, optimizer, schedule, data
        order, random state and TrainState as they were; the events after it are dropped."""
        from safetensors.torch import load_file

        run = self.run
        found = checkpoints.latest(run.folder)
        if not found:
            return False
        step, folder = found
        run.report.update(message=message("status.resuming", step=step))
        shard.load_adapter(run, self.model, load_file(folder / ADAPTER_WEIGHTS))
        saved = checkpoints.load_state(folder)
        shard.load_optimizer(run, self.model, self.optimizer, saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.sampler.set_state(saved["order"])
        checkpoints.restore_rng(saved["rng"])
        self.state = TrainState.from_checkpoint(saved)
        if run.ranks.main:  # rank 0 owns the run's files
            truncate_events(run.folder, after_step=step)  # steps after the checkpoint are redone
        run.report.record(Marker("resumed", step=step))
        return True

    def tensorboard(self, resumed: bool):
        if not self.run.ranks.main:
            return Silent()
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.run.folder / "tb"), purge_step=self.state.step + 1 if resumed else None)

    def train(self) -> str:
        """Every step from the state's to the last; returns the early-stopping message or ""."""
        run, cfg, state = self.run, self.cfg, self.state
        self.model.train()
        clock = time.time() - state.train_seconds
        note = run.quantization_note
        run.report.update(message=message("status.training_note", note=note) if note else message("status.training"),
                          step=state.step)
        stopped = ""
        for step in range(state.step + 1, self.total + 1):
            self.step(step, clock)
            stopped = self.evaluate_during(step)
            if run.ranks.any(run.cancel_requested):
                self.save_checkpoint(step)
                raise Cancelled()
            if stopped:
                run.report.record(Marker("early_stop", step=step, extra={"best_step": state.best_step}))
                break
            if run.ranks.any(self.over_budget()):
                stopped = message("status.over_budget", minutes=cfg.time_budget_min, steps=step, planned=self.total)
                run.report.record(Marker("over_budget", step=step))
                break
            if cfg.save_every and step % cfg.save_every == 0 and step < self.total:
                self.save_checkpoint(step)
        self.board.flush()
        return stopped

    def over_budget(self) -> bool:
        """A safety net under the time budget: its step count came from an earlier run's speed, and
        a machine that has since slowed (other work on it, a warmer room) must not turn 5 minutes
        into 50. Training stops at OVERRUN times the budget, saved and evaluated as usual."""
        minutes = self.cfg.time_budget_min
        return bool(minutes) and self.state.train_seconds > OVERRUN * minutes * 60

    def step(self, step: int, clock: float) -> None:
        """One optimizer step over the next blocks; a NaN/infinite loss or gradient ends the run."""
        started = time.time()
        loss, tokens = self.accumulate(self.run.ranks.share(self.sampler.draw(self.per_step, self.state)))
        loss, grad_norm = on_host(loss, self.clip())  # the step's one wait for the device
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            last = checkpoints.latest(self.run.folder)
            if last:
                raise TrainingFailed("failure.nan", "failure.nan.advice", step=step, last=last[0])
            raise TrainingFailed("failure.nan_no_checkpoint", "failure.nan.advice", step=step)
        self.optimizer.step()
        self.scheduler.step()
        state = self.state
        state.step, state.seen = step, state.seen + tokens
        state.train_seconds = elapsed = time.time() - clock
        eta = (time.time() - started) * (self.total - step) if step == 1 else elapsed / step * (self.total - step)
        lr = self.scheduler.get_last_lr()[0]
        self.run.report.record(TrainStep(
            step=step, epoch=round(step / self.per_epoch, 3), loss=round(loss, 5), lr=lr, grad_norm=round(grad_norm, 4),
            tokens_per_s=round(tokens / (time.time() - started), 1), elapsed_s=round(elapsed, 1), eta_s=round(eta, 1)))
        for name, value in (("train/loss", loss), ("train/learning_rate", lr), ("train/grad_norm", grad_norm)):
            self.board.add_scalar(name, value, step)
        self.run.report.update(step=step, eta_s=round(eta, 1), tokens_seen=state.seen)

    def accumulate(self, blocks: list) -> tuple:
        """Forward and backward over this process's share of the step's blocks in micro-batches,
        then the gradients summed over processes; the loss is the mean over every target token
        of the step, all processes together (the micro-batch halves on out-of-memory)."""
        reported, everyone = oom.halving(self.run, self.state, len(blocks), lambda micro: self.attempt(blocks, micro),
                                         lambda: self.optimizer.zero_grad(set_to_none=True))
        self.run.ranks.sum_gradients(self.params)
        return self.run.ranks.total(reported), int(everyone)

    def attempt(self, blocks: list, micro: int) -> tuple:
        self.optimizer.zero_grad(set_to_none=True)
        batches = [collate(blocks[i:i + micro], self.tok.pad_token_id) for i in range(0, len(blocks), micro)]
        everyone = max(self.run.ranks.total(sum(count_targets(batch) for batch in batches)), 1)
        return self.backward(batches, everyone), everyone

    def backward(self, batches: list, everyone: float):
        """Gradients of this process's micro-batches; their share of the step's loss, summed on
        the device (reading each micro-batch's loss back would wait for the device every time)."""
        reported, device = 0.0, self.run.device
        for batch in batches:  # copies that do not wait for the device (a blocking copy to a GPU does)
            rows = target_rows(batch["labels"]).to(device, non_blocking=True)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            loss = loss_sum(self.model, batch, self.cfg.fused_loss, rows) / everyone
            loss.backward()
            reported = reported + loss.detach()
        return reported

    def clip(self):
        """The gradients' norm before clipping, as a tensor on the device."""
        import torch

        return shard.norm(torch.nn.utils.clip_grad_norm_(self.params, self.cfg.max_grad_norm or float("inf")))

    def evaluate_during(self, step: int):
        """Validation loss every eval_every steps (rank 0), with early stopping; the stop message or ""."""
        cfg, run = self.cfg, self.run
        if not (cfg.eval_every and step % cfg.eval_every == 0 and step < self.total):
            return ""
        stopped = ""
        if run.ranks.main or shard.active(run):  # sharded, every process takes part in each forward pass
            val_loss = mean_loss(self.model, self.val_blocks, self.tok.pad_token_id, run.device)
            run.report.record(LossEval(step=step, val_loss=round(val_loss, 5)))
            self.board.add_scalar("val/loss", val_loss, step)
            stopped = early_stop.judge(self.state, val_loss, step, cfg.early_stopping_patience, cfg.early_stopping_min_delta,
                                       lambda: shard.save_adapter(run, self.model, run.folder / "checkpoints" / "best"))
        if run.ranks.any(bool(stopped)) and not stopped:
            stopped = message("status.stopped_early_rank0")
        return stopped

    def save_checkpoint(self, step: int) -> None:
        run = self.run
        model, optimizer = shard.saveable(run, self.model, self.optimizer)  # gathered onto rank 0 when sharded
        if run.ranks.main:
            state = {"optimizer": optimizer, "scheduler": self.scheduler.state_dict(),
                     "order": self.sampler.get_state(), "rng": checkpoints.rng_state(), "train_state": self.state.to_dict()}
            checkpoints.save(run.folder, step, model, state, self.cfg.keep_last)
            run.report.record(Marker("checkpoint", step=step))
        run.ranks.barrier()

    def save(self) -> None:
        """The run's adapter: the best one when early stopping kept one, else the last."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        best = self.run.folder / "checkpoints" / "best"
        if self.cfg.early_stopping_patience and best.exists() and self.state.best_step != self.state.step:
            set_peft_model_state_dict(self.model, load_file(best / ADAPTER_WEIGHTS))
        self.run.report.update(message=message("status.saving"))
        checkpoints.save_adapter(self.model, self.run.folder / "adapter")

    def evaluate(self, stopped) -> SftEvaluation:
        """The tuned adapter measured as the base was, and more; written to eval.json."""
        run, state, base, started = self.run, self.state, self.base, time.time()
        run.report.update(message=message("status.eval_tuned"))
        tuned_loss = mean_loss(self.model, self.val_blocks, self.tok.pad_token_id, run.device)
        run.report.record(LossEval(step=state.step, val_loss=round(tuned_loss, 5)))
        self.board.add_scalar("val/loss", tuned_loss, state.step)
        result = SftEvaluation(
            split="val", val_blocks=len(self.val_blocks), base=summary(base["val_loss"]), tuned=summary(tuned_loss),
            perplexity_change=round(math.exp(min(tuned_loss, 50)) / math.exp(min(base["val_loss"], 50)) - 1, 4),
            train_seconds=round(state.train_seconds, 1), tokens_seen=state.seen, steps=state.step, stopped_early=stopped,
            passes=round(state.step * self.per_step / len(self.train_blocks), 3), train_blocks=len(self.train_blocks),
            peak_memory_gb=final_eval.peak_memory_gb(run.device), quantization=run.quantization)
        if base.get("generation"):
            run.report.update(message=message("status.generation_tuned"))
            result.base["generation"] = base["generation"]
            result.tuned["generation"] = final_eval.generation_metrics(run, self.model, self.tok, self.val_records)
        if self.mode == "text":
            result.style = final_eval.style_evaluation(run, self.model, self.tok, self.val_records)
        result.bias = final_eval.bias_probe(run, self.model, self.tok)
        if self.cfg.init_adapter:
            result.lineage = continual.lineage(run, self.model, self.tok, run.device, self.parent, base["val_loss"], tuned_loss)
        self.board.close()
        result.eval_seconds = round(time.time() - started, 1)
        jsonio.write_json_atomic(run.folder / RunFolder.EVAL, to_dict(result))
        return result


def on_host(*values) -> list[float]:
    """Numbers (tensors on the device or floats) as floats, read back from the device at once."""
    import torch

    tensors = [v.detach().float().reshape(()) for v in values if isinstance(v, torch.Tensor)]
    if not tensors:
        return [float(v) for v in values]
    read = iter(torch.stack([t.to(tensors[0].device) for t in tensors]).tolist())
    return [next(read) if isinstance(v, torch.Tensor) else float(v) for v in values]
