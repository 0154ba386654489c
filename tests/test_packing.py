import torch

from studio.train.packing import IGNORE, collate, count_targets, one_per_block, pack


def plain(*docs):
    return [(list(d), list(d)) for d in docs]


def ids_of(blocks):
    return [ids for ids, _, _ in blocks]


def test_pack_joins_documents_with_eos_and_cuts_blocks():
    blocks = pack(plain([1, 2, 3], [4, 5], [6]), block_size=4, eos_id=0)
    # the trailing lone EOS makes no block: one token has nothing to predict
    assert ids_of(blocks) == [[1, 2, 3, 0], [4, 5, 0, 6]]
    # each document starts at position 0 and its first token is no target (what precedes it is another document)
    assert blocks[1] == ([4, 5, 0, 6], [IGNORE, 5, 0, IGNORE], [0, 1, 2, 0])


def test_a_document_cut_by_a_block_goes_on_from_position_zero():
    blocks = pack(plain([1, 2, 3, 4, 5]), block_size=3, eos_id=0)
    assert blocks == [([1, 2, 3], [IGNORE, 2, 3], [0, 1, 2]), ([4, 5, 0], [4, 5, 0], [0, 1, 2])]
    assert ids_of(pack(plain([1, 2, 3]), block_size=3, eos_id=0)) == [[1, 2, 3]]


def test_masked_prompts_stay_masked_through_packing_and_blocks_with_nothing_to_learn_are_dropped():
    example = ([7, 7, 7, 8, 9], [IGNORE, IGNORE, IGNORE, 8, 9])  # prompt 7 7 7, response 8 9
    blocks = pack([example, example], block_size=6, eos_id=0)
    assert blocks[0] == ([7, 7, 7, 8, 9, 0], [IGNORE, IGNORE, IGNORE, 8, 9, 0], [0, 1, 2, 3, 4, 5])
    assert pack([([7, 7, 7, 7], [IGNORE] * 4)], block_size=2, eos_id=0) == []


def test_without_packing_each_example_is_one_block_cut_at_the_size():
    blocks = one_per_block(plain([1, 2, 3, 4, 5], [6, 7]), block_size=4, eos_id=0)
    assert blocks == [([1, 2, 3, 4], [1, 2, 3, 4], [0, 1, 2, 3]), ([6, 7, 0], [6, 7, 0], [0, 1, 2])]


def test_collate_pads_with_a_segment_of_its_own_and_ignores_its_labels():
    batch = collate(one_per_block(plain([5, 6], [8]), 8, eos_id=0), pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 0], [8, 0, 0]]
    assert batch["labels"].tolist() == [[5, 6, 0], [8, 0, IGNORE]]
    assert batch["position_ids"].tolist() == [[0, 1, 2], [0, 1, 0]]  # the padding restarts at 0: nobody sees it
    assert "attention_mask" not in batch
    assert count_targets(batch) == 3  # targets after the shift: 6, EOS; EOS
    assert batch["input_ids"].dtype == torch.long
