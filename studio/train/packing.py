"""Examples (token ids with their labels) to training blocks, and blocks to batches.

Packing joins the examples, each ended by EOS, into one stream cut into fixed-length blocks, so
no compute is spent on padding. Each document's position ids start again at 0; from them
transformers builds a block-diagonal causal mask (masking_utils.find_packed_sequence_indices),
so a document never attends to the one before it, and a document's first token is not a target
(what precedes it belongs to another document). A block therefore trains exactly as its
documents would one per row, without the padding. Without packing each example is its own block,
cut at the block size.

Batches carry position ids and no attention mask: the padding at the end of a short block is a
segment of its own (positions from 0), which real tokens never see, and its labels are ignored.
"""
from __future__ import annotations

import torch

from studio.formatting import IGNORE  # noqa: F401 (the label value the loss skips; re-exported)

Example = tuple[list[int], list[int]]  # (input ids, labels)
Block = tuple[list[int], list[int], list[int]]  # (input ids, labels, position ids)


def _closed(example: Example, eos_id: int) -> Example:
    """The example ended by EOS; EOS is a target when the example's last token is."""
    ids, labels = example
    return ids + [eos_id], labels + [eos_id if labels and labels[-1] != IGNORE else IGNORE]


def _has_target(labels: list[int]) -> bool:
    return any(t != IGNORE for t in labels[1:])  # the first label of a row is never predicted


def pack(examples: list[Example], block_size: int, eos_id: int) -> list[Block]:
    ids: list[int] = []
    labels: list[int] = []
    starts: set[int] = set()
    for example in examples:
        example_ids, example_labels = _closed(example, eos_id)
        starts.add(len(ids))
        ids.extend(example_ids)
        labels.extend([IGNORE] + example_labels[1:])
    positions, segment_start = [], 0
    for k in range(len(ids)):
        if k in starts or k % block_size == 0:  # a new document, or a document going on in the next block
            segment_start = k
        positions.append(k - segment_start)
    blocks = []
    for i in range(0, len(ids), block_size):
        block_labels = labels[i:i + block_size]
        if _has_target(block_labels):
            blocks.append((ids[i:i + block_size], block_labels, positions[i:i + block_size]))
    return blocks


def one_per_block(examples: list[Example], block_size: int, eos_id: int) -> list[Block]:
    """No packing: each example ends with EOS and is cut at the block size."""
    blocks = []
    for example in examples:
        ids, labels = (part[:block_size] for part in _closed(example, eos_id))
        if len(labels) > 1 and _has_target(labels):
            blocks.append((ids, labels, list(range(len(ids)))))
    return blocks


def collate(blocks: list[Block], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _, _ in blocks)
    input_ids = torch.full((len(blocks), width), pad_id, dtype=torch.long)
    labels = torch.full((len(blocks), width), IGNORE, dtype=torch.long)
    positions = torch.arange(width).repeat(len(blocks), 1)
    for row, (ids, block_labels, block_positions) in enumerate(blocks):
        n = len(ids)
        input_ids[row, :n] = torch.tensor(ids)
        labels[row, :n] = torch.tensor(block_labels)
        positions[row, :n] = torch.tensor(block_positions)
        positions[row, n:] = torch.arange(width - n)  # the padding: a segment of its own
    return {"input_ids": input_ids, "labels": labels, "position_ids": positions}


def count_targets(batch: dict[str, torch.Tensor]) -> int:
    """Tokens the loss is taken on (labels shift by one inside the model)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())
