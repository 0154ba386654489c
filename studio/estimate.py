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


def plan(cfg, train_tokens: int, tokens_per_s: float | None) -> dict:
    """Steps and time for `cfg` on a corpus of `train_tokens` training tokens."""
    blocks = max(1, math.ceil(train_tokens / cfg.seq_len))
    per_epoch = math.ceil(blocks / (cfg.batch_size * cfg.grad_accum))
    steps = cfg.max_steps or max(1, math.ceil(per_epoch * cfg.epochs))
    tokens = min(steps * cfg.batch_size * cfg.grad_accum * cfg.seq_len, train_tokens * max(cfg.epochs, 1)) \
        if not cfg.max_steps else steps * cfg.batch_size * cfg.grad_accum * cfg.seq_len
    return {"steps": steps, "steps_per_epoch": per_epoch, "tokens": int(tokens),
            "minutes": round(tokens / tokens_per_s / 60, 1) if tokens_per_s else None}
