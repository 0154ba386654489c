"""Packing: documents joined with EOS into one token stream, cut into fixed-length blocks, so no
compute is spent on padding. The last block may be short; the collator pads it and masks the pad."""
from __future__ import annotations

import torch

IGNORE = -100  # label value the loss skips


def pack(token_lists: list[list[int]], block_size: int, eos_id: int) -> list[list[int]]:
    stream: list[int] = []
    for ids in token_lists:
        stream.extend(ids)
        stream.append(eos_id)
    return [stream[i:i + block_size] for i in range(0, len(stream), block_size) if len(stream[i:i + block_size]) > 1]


def collate(blocks: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(map(len, blocks))
    input_ids = torch.full((len(blocks), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(blocks), width), dtype=torch.long)
    for row, block in enumerate(blocks):
        input_ids[row, :len(block)] = torch.tensor(block)
        attention[row, :len(block)] = 1
    labels = input_ids.masked_fill(attention == 0, IGNORE)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def count_targets(batch: dict[str, torch.Tensor]) -> int:
    """Tokens the loss is taken on (labels shift by one inside the model)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())
