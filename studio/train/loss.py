"""The training loss without the full logits: next-token cross-entropy summed over the targets,
computed a chunk of rows at a time straight from the last hidden states.

A plain causal-LM forward makes logits for every position (batch x length x vocabulary: 400 MB
in float32 for 4 x 512 tokens of a 49k vocabulary, twice over with their gradient) and then
throws most away: padding and masked prompt tokens are no targets. Here only target rows go
through the output layer, a chunk at a time, and the gradient for the hidden states is formed in
the same pass (softmax minus one-hot, times the weight), so the backward pass has nothing to
recompute and no logits are kept. The output layer is frozen in LoRA training, so its own
gradient is never needed. Liger's and Apple's fused kernels do this on GPUs through Triton; this
runs on every device torch does.
"""
from __future__ import annotations

import torch

from studio.train.packing import IGNORE

CHUNK_ROWS = 1024  # 1024 x 49k float32 logits = 200 MB at a time


def head_logits(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """One chunk of logits, in the output layer's dtype (bf16 on the GPU path)."""
    return hidden.to(weight.dtype) @ weight.T


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        need_grad = ctx.needs_input_grad[0]
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad = torch.empty_like(hidden) if need_grad else None
        for start in range(0, hidden.shape[0], chunk):
            rows = slice(start, start + chunk)
            logits = head_logits(hidden[rows], weight).float()  # the softmax statistics in float32
            log_norm = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, targets[rows, None]).squeeze(1)
            total += (log_norm - picked).sum()
            if need_grad:
                probs = logits.sub_(log_norm[:, None]).exp_()  # softmax, in the logits' memory
                probs[torch.arange(probs.shape[0], device=probs.device), targets[rows]] -= 1
                grad[rows] = (probs.to(weight.dtype) @ weight).to(grad.dtype)
        if need_grad:
            ctx.save_for_backward(grad)
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_total.to(grad.dtype), None, None, None


def fusable(model) -> bool:
    """Whether the output layer is a frozen, bias-free linear map with nothing after it, which is
    what the fused loss computes; otherwise the plain forward is used."""
    head = model.get_output_embeddings()
    config = model.config
    return (type(head) is torch.nn.Linear and head.bias is None and not head.weight.requires_grad
            and not getattr(config, "final_logit_softcapping", None) and getattr(config, "logit_scale", 1.0) in (1.0, None))


def target_rows(labels: torch.Tensor) -> torch.Tensor:
    """Where a batch's targets are: flat indices into its (row, position) grid of the positions
    whose next token is a target, in order. Made on the host from the collated labels, they spare
    the device a wait: gathering with a boolean mask there reads the mask's count back first."""
    rows, positions = (labels[:, 1:] != IGNORE).nonzero(as_tuple=True)
    return rows * labels.shape[1] + positions


def loss_sum(model, batch: dict[str, torch.Tensor], fused: bool = True, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Summed next-token cross-entropy over the batch's targets (labels shifted by one, IGNORE
    skipped). `model` is a causal LM, a PEFT model over one included; `rows`: target_rows of the
    labels, already on the device (made from the labels here when not given)."""
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = batch["labels"]
    # No cache: transformers reads packed documents from the position ids only without one.
    inputs = {**{k: v for k, v in batch.items() if k != "labels"}, "use_cache": False}
    if not (fused and fusable(causal_lm)):
        logits = model(**inputs).logits
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                                 ignore_index=IGNORE, reduction="sum")
    hidden = causal_lm.get_decoder()(**inputs).last_hidden_state
    rows = target_rows(labels) if rows is None else rows
    head = causal_lm.get_output_embeddings()
    return _LinearCrossEntropy.apply(hidden.flatten(0, 1).index_select(0, rows), head.weight,
                                     labels.flatten().index_select(0, rows + 1), CHUNK_ROWS)
