"""Sharded training (`shard: true` with `--nproc N`): each process holds 1/N of the base, of the
adapter and of its optimizer state, instead of a whole copy (PyTorch FSDP2 `fully_shard`).

It follows the published FSDP + QLoRA recipe (Answer.AI / Hugging Face "fsdp_qlora"): the 4-bit
weights are stored in a uniform dtype (bitsandbytes' `bnb_4bit_quant_storage` = the compute dtype,
set in studio/models.py) so FSDP can split them like any other tensor, and bitsandbytes finds each
layer's quantization state on the module again after FSDP gathered its weight. Every decoder layer
is its own FSDP unit, then the decoder (embeddings, final norm) is the root unit: a layer's weights
are gathered just before it runs and freed after it, so a process holds one whole layer at a time.
The output layer stays whole in every process, outside FSDP (frozen, and read by the fused loss
outside any forward call; tied to the embeddings, it keeps the original whole tensor).

Gradients are summed over processes inside backward (a reduce-scatter, forced to a plain sum, the
same sum the replicated path takes after backward), so the losses match a single process's. What
sharding changes for the recipe, all through this module:
- the optimizer and clipping see DTensor shards; the norm is the global one;
- forward passes are collective: every process runs the validation loss together;
- saving gathers the adapter (small) and the optimizer state onto rank 0, which writes a plain
  PEFT adapter and checkpoint; resuming scatters them back from the file every process reads;
- after training, rank 0 rebuilds the plain (unsharded) model with the gathered adapter for the
  final evaluation and save; the others are done.
Limits: every process loads the whole base before it is split (peak memory at load is one
process's whole base, at training one shard plus one layer); an out-of-memory in one process
while the others wait in a gather cannot be retried together as in the replicated path.
"""
from __future__ import annotations


def active(run) -> bool:
    return bool(getattr(run.cfg, "shard", False)) and run.ranks.world > 1


def decoder_layers(model) -> list:
    """The repeated blocks (the model's own `_no_split_modules`, e.g. LlamaDecoderLayer)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(inner, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def wrap(run, model):
    """The model sharded over the processes (unchanged unless `shard` and more than one process)."""
    if not active(run):
        return model
    from torch.distributed.fsdp import FSDPModule, fully_shard

    run.ranks.same_start([p for p in model.parameters() if p.requires_grad])  # whole tensors, before the split
    for layer in decoder_layers(model):
        fully_shard(layer)
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    fully_shard(inner.get_decoder())  # the root: the fused loss calls the decoder, not the whole model
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)  # a sum, as the replicated path takes
            module.set_force_sum_reduction_for_comms(True)  # gloo has no pre-multiplied sum
    run.ranks.sharded = True
    return model


def norm(total):
    """clip_grad_norm_'s result as a plain tensor (over every shard when it is a DTensor); read
    back with the step's loss in one wait (sft.on_host)."""
    return total.full_tensor() if hasattr(total, "full_tensor") else total


def adapter_state(model) -> dict:
    """The trainable weights, whole, on the CPU (collective: every process calls it; all get them)."""
    state = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            state[name] = (p.full_tensor() if hasattr(p, "full_tensor") else p).detach().cpu()
    return state


class Gathered:
    """A sharded model as checkpoints.save/save_adapter see it: save_pretrained writes the
    gathered adapter as PEFT's own files (rank 0 only; no collective inside)."""

    def __init__(self, model, state: dict):
        self.model, self.state = model, state

    def save_pretrained(self, path, **kwargs):
        self.model.save_pretrained(path, state_dict=self.state, **kwargs)


def saveable(run, model, optimizer) -> tuple:
    """(what checkpoints.save writes as the adapter, the optimizer state); collective when sharded."""
    if not active(run):
        return model, optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    state = adapter_state(model)
    optim = get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return Gathered(model, state), optim


def save_adapter(run, model, dest) -> None:
    """checkpoints.save_adapter on rank 0, the adapter gathered first when sharded."""
    from studio.train import checkpoints

    target = Gathered(model, adapter_state(model)) if active(run) else model
    if run.ranks.main:
        checkpoints.save_adapter(target, dest)


def load_adapter(run, model, weights: dict) -> None:
    """A saved PEFT adapter (safetensors' names, without the adapter name) into the model."""
    from peft import set_peft_model_state_dict

    if not active(run):
        set_peft_model_state_dict(model, weights)
        return
    import torch
    from torch.distributed.tensor import distribute_tensor

    adapter = getattr(model, "active_adapter", "default")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                whole = weights[name.replace(f".{adapter}", "")].to(device=p.device, dtype=p.dtype)
                p.copy_(distribute_tensor(whole, p.device_mesh, p.placements))


def load_optimizer(run, model, optimizer, saved: dict) -> None:
    if not active(run):
        optimizer.load_state_dict(saved)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, saved, options=StateDictOptions(full_state_dict=True))


def unwrap(recipe) -> None:
    """After training, sharded: the recipe's optimizer and sharded model are let go, and rank 0
    gets the plain model (the base loaded again, the gathered adapter in it) for the final save and
    evaluation; the other processes get None. Unchanged unless sharded."""
    run = recipe.run
    if not active(run):
        return
    model, recipe.model, recipe.optimizer, recipe.params = recipe.model, None, None, None
    state = adapter_state(model)
    adapter = getattr(model, "active_adapter", "default")
    config = model.peft_config[adapter]
    del model
    if run.ranks.main:
        from peft import get_peft_model

        recipe.model = get_peft_model(run.load_base(recipe.source), config, adapter_name=adapter)
        recipe.model.load_state_dict(state, strict=False)  # the same names: FSDP keeps them
