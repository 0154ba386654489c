"""The fast training path computes the same loss as the plain one: packing (documents end to
end, attention kept inside each) and the fused cross-entropy (no full logits) change the speed,
not the numbers. Checked on the tiny model, forward and backward, with a LoRA adapter on."""
import pytest
import torch

from studio.train.loss import fusable, loss_sum, target_rows
from studio.train.packing import IGNORE, collate, count_targets, one_per_block, pack

DOCS = [[5, 9, 14, 3, 8], [22, 7, 31, 40, 41, 2, 19, 11, 6], [12, 13, 4], [60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71],
        [90, 91, 92, 93, 94, 95, 96]]


@pytest.fixture
def lora_model(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    return model.eval()


def plain_path(model, docs, eos):
    """Each document alone in its row, through the model's own loss: the reference."""
    total, count = 0.0, 0
    for doc in docs:
        ids = torch.tensor([doc + [eos]])
        n = ids.shape[1] - 1
        total = total + model(input_ids=ids, labels=ids).loss * n
        count += n
    return total / count


def test_packed_blocks_give_each_document_the_loss_it_has_alone(lora_model):
    eos = lora_model.config.eos_token_id
    examples = [(d, d) for d in DOCS]
    # two packed rows (the second padded), documents never cut: the block holds whole documents
    blocks = pack(examples[:2], 64, eos) + pack(examples[2:], 64, eos)
    batch = collate(blocks, pad_id=eos)
    reference = plain_path(lora_model, DOCS, eos)
    packed = loss_sum(lora_model, batch, fused=False) / count_targets(batch)
    assert count_targets(batch) == sum(len(d) for d in DOCS)  # every token after the first, and each EOS
    torch.testing.assert_close(packed, reference, rtol=1e-5, atol=1e-5)
    # without packing (one padded row each) the loss is the same too
    unpacked = collate(one_per_block(examples, 64, eos), pad_id=eos)
    torch.testing.assert_close(loss_sum(lora_model, unpacked, fused=False) / count_targets(unpacked), reference,
                               rtol=1e-5, atol=1e-5)


def test_the_fused_loss_matches_the_plain_loss_and_its_gradients(lora_model, monkeypatch):
    import studio.train.loss as loss_module

    monkeypatch.setattr(loss_module, "CHUNK_ROWS", 7)  # several chunks, the last one short
    eos = lora_model.config.eos_token_id
    batch = collate(pack([(d, d) for d in DOCS], 16, eos), pad_id=eos)
    batch["labels"][0, 2:4] = IGNORE  # a masked prompt inside
    assert fusable(lora_model.get_base_model())
    trainable = [p for p in lora_model.parameters() if p.requires_grad]
    results = []
    for fused in (False, True):
        lora_model.zero_grad()
        value = loss_sum(lora_model, batch, fused=fused)
        value.backward()
        results.append((value.detach(), [p.grad.clone() for p in trainable]))
    (plain, plain_grads), (fused, fused_grads) = results
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-4)
    for a, b in zip(fused_grads, plain_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # evaluation: the same number, no gradient work
        torch.testing.assert_close(loss_sum(lora_model, batch), plain, rtol=1e-5, atol=1e-4)
        # the targets' places made on the host beforehand (as training does): the same number again
        rows = target_rows(batch["labels"])
        assert len(rows) == count_targets(batch) and rows.tolist() == sorted(rows.tolist())
        torch.testing.assert_close(loss_sum(lora_model, batch, rows=rows), plain, rtol=1e-5, atol=1e-4)
