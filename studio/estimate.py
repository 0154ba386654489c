"""Before a run starts: how many tokens and steps, how long, how much memory.

Time comes from measured training speed (tokens/s of earlier runs here, or a reference figure).
Memory is a sum of parts a practitioner would write on a whiteboard:
- base weights: parameters x bytes per weight (4-bit NF4/FP4 with double quantization about 0.52
  bytes, 8-bit about 1.06, otherwise the compute dtype's width);
- LoRA adapter with AdamW: each adapted h x h projection gains r x 2h parameters, kept in fp32
  with two optimizer moments and a gradient: 16 bytes each;
- activations kept for the backward pass: about 34 x hidden bytes per token per layer in 16-bit
  (Korthikanti et al. 2022, with fused attention), about 2 x hidden with gradient checkpointing;
- logits: batch x seq_len x vocabulary in fp32, for the values and their gradient.
Sharded over N processes (`shard`, FSDP2), the figures are per GPU: base weights and adapter +
optimizer are split N ways, and each GPU also holds the layer being computed gathered whole
(two layers: the next one is fetched while one runs) and the output layer whole in the compute
dtype (studio/train/shard.py keeps it outside FSDP); activations and logits are its own batch's.

A time budget (TrainConfig.time_budget_min) becomes a step count here, from the same measured
speed: the minutes, less the evaluation's estimated time and the start-up, times tokens/s, over
the tokens of one optimizer step. That count is a ceiling: epochs (or max_steps) still bound the
run, so a small corpus is not read twenty times over to fill the minutes (epochs 0: the budget
alone). The budget includes the evaluation; training keeps at least half of it (a budget
smaller than twice the evaluation runs over, and the estimate says so). The evaluation's time is
written in training-speed units (FORWARD_SPEEDUP and GENERATION_* below, measured on the 2-core
machine with the embedded model), so it scales with the machine the speed was measured on.
"""
from __future__ import annotations

import math

WEIGHT_BYTES = {"nf4": 0.52, "fp4": 0.52, "int8": 1.06}
LINEAR_PROJECTIONS_PER_LAYER = 7  # q, k, v, o, gate, up, down in Llama-style blocks


def memory_gb(cfg, params_m: float | None, model_config: dict | None, device: str, processes: int = 1) -> dict | None:
    """Memory of one training process, by part, in GB; per GPU when `cfg.shard` splits it over `processes`."""
    if not params_m or not model_config:
        return None
    hidden = model_config.get("hidden_size", 0)
    layers = model_config.get("num_hidden_layers", 0)
    vocab = model_config.get("vocab_size", 0)
    if not (hidden and layers and vocab):
        return None
    act_bytes = 4 if device == "cpu" and cfg.compute_dtype in ("auto", "fp32") else 2
    weights = params_m * 1e6 * WEIGHT_BYTES.get(cfg.quantization, act_bytes)
    lora_params = layers * LINEAR_PROJECTIONS_PER_LAYER * cfg.lora_r * 2 * hidden
    adapter = lora_params * 16
    per_token_layer = (2 if cfg.gradient_checkpointing else 34) * hidden * act_bytes / 2
    activations = cfg.batch_size * cfg.seq_len * layers * per_token_layer
    logits = cfg.batch_size * cfg.seq_len * vocab * 4 * 2
    parts = {"base weights": weights, "adapter + optimizer": adapter, "activations": activations, "logits": logits}
    sharded = {}
    if getattr(cfg, "shard", False) and processes > 1:
        layer = (weights + adapter / 4) / layers  # one decoder layer's weights (and its adapter), whole
        parts.update({"base weights": weights / processes, "adapter + optimizer": adapter / processes,
                      "gathered layers": 2 * layer, "output layer": vocab * hidden * act_bytes})
        sharded = {"sharded_over": processes}
    return {**sharded, "total": round(sum(parts.values()) / 1e9, 2), **{k: round(v / 1e9, 2) for k, v in parts.items()},
            "lora_params_m": round(lora_params / 1e6, 2)}


# The evaluation around training, in units of the measured training speed (tokens/s, forward and
# backward): a forward pass alone (validation loss of base and tuned, bias probe) reads about
# FORWARD_SPEEDUP times more tokens a second; one decoding step of a batch of b drafts costs as
# much as training on GENERATION_STEP_TOKENS + GENERATION_TOKENS_PER_DRAFT x b tokens. Measured
# with the embedded model on the 2-core machine (2026-11-29, one thread, a busy machine, so ratios
# only): training 20 tokens/s, forward 52 (2.6x), 64 decoding steps of 1 draft 44 s (13.8 training
# tokens a step), of 8 drafts 59 s (18.5).
FORWARD_SPEEDUP = 2.5
GENERATION_STEP_TOKENS = 13.0
GENERATION_TOKENS_PER_DRAFT = 0.7
BIAS_PROBE_TOKENS = 80 * 2 * 2 * 30  # 80 pairs, two variants, base and tuned, about 30 tokens each with the lead-in
STARTUP_SECONDS = 20.0  # the worker's imports, the base model loaded, the corpus made into blocks


def tokens_per_step(cfg) -> int:
    return cfg.batch_size * cfg.grad_accum * cfg.seq_len


def eval_seconds(cfg, val_tokens: int, tokens_per_s: float | None, mode: str = "text") -> dict | None:
    """Seconds the evaluation adds to the wait, by part (base and tuned both): validation loss,
    drafts (style openings of text corpora, ROUGE/BLEU responses of pairs), bias probe."""
    if not tokens_per_s:
        return None
    forward = FORWARD_SPEEDUP * tokens_per_s
    drafts = cfg.style_openings if mode == "text" else cfg.eval_examples if mode == "pairs" else 0
    decode = GENERATION_STEP_TOKENS + GENERATION_TOKENS_PER_DRAFT * drafts
    parts = {"loss": 2 * val_tokens / forward,
             "drafts": 2 * cfg.eval_max_new_tokens * decode / tokens_per_s if drafts else 0.0,
             "bias": BIAS_PROBE_TOKENS / forward if cfg.bias_probe else 0.0}
    return {**{k: round(v, 1) for k, v in parts.items()}, "total": round(sum(parts.values()), 1)}


def budget_steps(cfg, tokens_per_s: float, eval_s: float, startup_s: float = STARTUP_SECONDS) -> int:
    """Optimizer steps that fit in cfg.time_budget_min on a machine training at tokens_per_s, after
    the evaluation and the start-up; at least half the budget trains."""
    budget = cfg.time_budget_min * 60
    train_s = max(budget - eval_s - startup_s, budget / 2)
    return max(1, int(train_s * tokens_per_s / tokens_per_step(cfg)))


def total_steps(cfg, steps_per_epoch: int, budget: int = 0) -> int:
    """The steps a run takes: max_steps, else epochs' worth; a time budget's count is a ceiling on
    either (epochs 0 with a budget: the budget alone)."""
    limit = cfg.max_steps or (max(1, math.ceil(steps_per_epoch * cfg.epochs)) if cfg.epochs > 0 else 0)
    if budget:
        return min(budget, limit) if limit else budget
    return limit or 1  # epochs 0 and no count from a budget: the service refuses such a start


def plan(cfg, train_tokens: int, tokens_per_s: float | None, val_tokens: int = 0, mode: str = "text",
         calibrating_s: float = 0.0) -> dict:
    """Steps and time for `cfg` on a corpus of `train_tokens` training tokens: the steps' share of
    the training split and passes over it, the evaluation's time, and what a time budget buys
    (None when the speed is unknown). `calibrating_s`: the first run on a machine measures its
    training paths before it starts (studio/train/calibrate.py), part of the start-up."""
    blocks = max(1, math.ceil(train_tokens / cfg.seq_len))
    per_epoch = math.ceil(blocks / (cfg.batch_size * cfg.grad_accum))
    evaluation = eval_seconds(cfg, val_tokens, tokens_per_s, mode)
    startup = STARTUP_SECONDS + calibrating_s
    budget = budget_steps(cfg, tokens_per_s, evaluation["total"], startup) if cfg.time_budget_min and tokens_per_s else 0
    steps = total_steps(cfg, per_epoch, budget)
    fixed = cfg.max_steps or steps == budget
    tokens = steps * tokens_per_step(cfg) if fixed else min(steps * tokens_per_step(cfg), train_tokens * max(cfg.epochs, 1))
    passes = steps * cfg.batch_size * cfg.grad_accum / blocks
    minutes = tokens / tokens_per_s / 60 if tokens_per_s else None
    return {"steps": steps, "steps_per_epoch": per_epoch, "tokens": int(tokens),
            "minutes": round(minutes, 1) if minutes is not None else None,
            "passes": round(passes, 2), "share": round(min(passes, 1.0), 2),
            "eval": evaluation, "startup_s": startup,
            "total_minutes": round(minutes + (evaluation["total"] + startup) / 60, 1) if minutes is not None else None,
            "budget": {"minutes": cfg.time_budget_min, "steps": budget, "capped": bool(budget and steps < budget),
                       "by": "max_steps" if cfg.max_steps else "epochs" if cfg.epochs > 0 else ""}
            if cfg.time_budget_min else None}
