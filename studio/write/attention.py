"""Attention for drafting on the CPU: PyTorch's fused kernel for a prompt, plain matrix products for
one new token.

A decode step asks attention for one query against the whole cache. On the CPU, PyTorch's fused
kernel (`scaled_dot_product_attention`) does that slowly in bf16: transformers calls it with
`enable_gqa` when the batch has no padding, and at 20 rows of 300 tokens on SmolLM2-135M that was
half the step (159 ms against 77 ms for the same step with a padding mask; `bench/batching.py`
prints both). Two matrix products over the key/value heads, with the query heads of a group side
by side so no key is copied, cost a fraction of it; the softmax runs in float32. A prompt (more
than one query) still goes to the fused kernel, which is the fastest there.

A small cache (the desk's one row) is multiplied in float32: a bf16 product of a shape oneDNN has
not seen makes it build a kernel, and the cache grows by one column a step. `bench/batching.py`'s
step costs, 2026-12-07, rows of 300 tokens: one row 34-36 ms a step with the cast against 44-46
without, 8 rows 48-51 against 64-65; casting 20 rows' cache at every layer cost more than it
saved (85-97 against 74-78 ms), so a large batch keeps its products in bf16.
"""
from __future__ import annotations

NAME = "studio_decode"  # the attn_implementation name a drafting model runs with
CAST_UP_TO = 4096  # rows x cached tokens under which one step's products run in float32


def decode_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' attention interface: query (batch, heads, q, dim), key and value (batch,
    kv heads, columns, dim), attention_mask a boolean (batch, 1, q, columns) where True attends,
    or None; returns ((batch, q, heads, dim), None)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.shape[2] != 1 or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    batch, heads, _, dim = query.shape
    groups = key.shape[1]
    dtype = query.dtype
    if batch * key.shape[2] <= CAST_UP_TO:  # a small cache: its products in float32 (see the module's doc)
        query, key, value = query.float(), key.float(), value.float()
    grouped = query.reshape(batch, groups, heads // groups, dim)  # a group's query heads share one key head
    scores = torch.matmul(grouped, key.transpose(2, 3))
    scores = scores.float() * (scaling if scaling is not None else dim ** -0.5)
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask[:, :, :, -key.shape[2]:].bool(), float("-inf"))
    weights = scores.softmax(dim=-1).to(value.dtype)
    out = torch.matmul(weights, value).to(dtype)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2), None


def use_decode_attention(model) -> None:
    """Run `model` (a transformers model, maybe inside a PeftModel) with decode_attention; masks
    are made as for sdpa (boolean). Registered once per process under NAME."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(NAME, decode_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.set_attn_implementation(NAME)
