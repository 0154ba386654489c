import torch

from studio.train.packing import IGNORE, collate, count_targets, one_per_block, pack


def plain(*docs):
    return [(list(d), list(d)) for d in docs]


def test_pack_joins_documents_with_eos_and_cuts_blocks():
    blocks = pack(plain([1, 2, 3], [4, 5], [6]), block_size=4, eos_id=0)
    # the trailing lone EOS makes no block: one token has nothing to predict
    assert [ids for ids, _ in blocks] == [[1, 2, 3, 0], [4, 5, 0, 6]]
    assert all(ids == labels for ids, labels in blocks)


def test_pack_drops_only_a_single_token_tail():
    assert [ids for ids, _ in pack(plain([1, 2, 3, 4, 5]), block_size=3, eos_id=0)] == [[1, 2, 3], [4, 5, 0]]
    assert [ids for ids, _ in pack(plain([1, 2, 3]), block_size=3, eos_id=0)] == [[1, 2, 3]]


def test_masked_prompts_stay_masked_through_packing_and_blocks_with_nothing_to_learn_are_dropped():
    example = ([7, 7, 7, 8, 9], [IGNORE, IGNORE, IGNORE, 8, 9])  # prompt 7 7 7, response 8 9
    blocks = pack([example, example], block_size=6, eos_id=0)
    assert blocks[0] == ([7, 7, 7, 8, 9, 0], [IGNORE, IGNORE, IGNORE, 8, 9, 0])
    assert pack([([7, 7, 7, 7], [IGNORE] * 4)], block_size=2, eos_id=0) == []


def test_without_packing_each_example_is_one_block_cut_at_the_size():
    blocks = one_per_block(plain([1, 2, 3, 4, 5], [6, 7]), block_size=4, eos_id=0)
    assert blocks == [([1, 2, 3, 4], [1, 2, 3, 4]), ([6, 7, 0], [6, 7, 0])]


def test_collate_pads_and_masks_the_padding():
    batch = collate(plain([5, 6, 7], [8]), pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[5, 6, 7], [8, IGNORE, IGNORE]]
    assert count_targets(batch) == 2  # targets after the shift: 6, 7; the short row has none
    assert batch["input_ids"].dtype == torch.long
