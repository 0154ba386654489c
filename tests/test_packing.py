import torch

from studio.train.packing import IGNORE, collate, count_targets, pack


def test_pack_joins_documents_with_eos_and_cuts_blocks():
    blocks = pack([[1, 2, 3], [4, 5], [6]], block_size=4, eos_id=0)
    # the trailing lone EOS makes no block: one token has nothing to predict
    assert blocks == [[1, 2, 3, 0], [4, 5, 0, 6]]


def test_pack_drops_only_a_single_token_tail():
    assert pack([[1, 2, 3, 4, 5]], block_size=3, eos_id=0) == [[1, 2, 3], [4, 5, 0]]
    assert pack([[1, 2, 3]], block_size=3, eos_id=0) == [[1, 2, 3]]


def test_collate_pads_and_masks_the_padding():
    batch = collate([[5, 6, 7], [8]], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[5, 6, 7], [8, IGNORE, IGNORE]]
    assert count_targets(batch) == 2  # targets after the shift: 6, 7; the short row has none
    assert batch["input_ids"].dtype == torch.long
