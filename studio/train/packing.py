"""Examples (token ids with their labels) to training blocks.

Packing joins the examples with EOS into one stream cut into fixed-length blocks, so no
compute is spent on padding. Without packing each example is its own block, cut at the block
size. The collator pads short blocks and masks the pad."""
from __future__ import annotations

import torch

IGNORE = -100  # label value the loss skips

Example = tuple[list[int], list[int]]  # (input ids, labels)


def pack(examples: list[Example], block_size: int, eos_id: int) -> list[Example]:
    ids: list[int] = []
    labels: list[int] = []
    for example_ids, example_labels in examples:
        ids.extend(example_ids)
        labels.extend(example_labels)
        ids.append(eos_id)
        labels.append(eos_id if not example_labels or example_labels[-1] != IGNORE else IGNORE)
    blocks = []
    for i in range(0, len(ids), block_size):
        block_labels = labels[i:i + block_size]
        if len(block_labels) > 1 and any(t != IGNORE for t in block_labels[1:]):  # something to predict
            blocks.append((ids[i:i + block_size], block_labels))
    return blocks


def one_per_block(examples: list[Example], block_size: int, eos_id: int) -> list[Example]:
    """No packing: each example ends with EOS and is cut at the block size."""
    blocks = []
    for ids, labels in examples:
        ids, labels = (ids + [eos_id])[:block_size], (labels + [eos_id if labels and labels[-1] != IGNORE else IGNORE])[:block_size]
        if len(labels) > 1 and any(t != IGNORE for t in labels[1:]):
            blocks.append((ids, labels))
    return blocks


def collate(blocks: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in blocks)
    input_ids = torch.full((len(blocks), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(blocks), width), dtype=torch.long)
    labels = torch.full((len(blocks), width), IGNORE, dtype=torch.long)
    for row, (ids, block_labels) in enumerate(blocks):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention[row, :len(ids)] = 1
        labels[row, :len(block_labels)] = torch.tensor(block_labels)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def count_targets(batch: dict[str, torch.Tensor]) -> int:
    """Tokens the loss is taken on (labels shift by one inside the model)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())
