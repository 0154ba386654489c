"""Validation loss and perplexity, weighted by tokens so short last blocks count fairly."""
from __future__ import annotations

import math

import torch

from studio.train.loss import loss_sum
from studio.train.packing import collate, count_targets


@torch.no_grad()
def mean_loss(model, blocks: list[list[int]], pad_id: int, device: str, batch_size: int = 8) -> float:
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(blocks), batch_size):
        batch = {k: v.to(device) for k, v in collate(blocks[i:i + batch_size], pad_id).items()}
        total += float(loss_sum(model, batch))
        count += count_targets(batch)
    model.train(was_training)
    return total / max(count, 1)


def summary(loss: float) -> dict:
    return {"loss": round(loss, 5), "perplexity": round(math.exp(min(loss, 50)), 4)}
