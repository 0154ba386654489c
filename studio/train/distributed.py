"""Several processes, one run: the worker under torchrun (`python -m studio train --nproc N`).

Each process trains on its share of every step's blocks; after the local backward passes the
adapter's gradients are summed over processes in one all-reduce (gloo on the CPU, NCCL on GPUs).
Not DDP's hooks: they all-reduce inside backward, so a process that ran out of memory mid-step
would leave the others waiting forever. Summing after backward lets every process first agree
whether the step worked, and the LoRA gradients are small enough (megabytes) that overlapping
their transfer with backward would save next to nothing. Rank 0 alone writes status, events, TensorBoard,
checkpoints, the adapter and the evaluation; the others wait for it at barriers. With one
process (no torchrun) every call here is a no-op.

With `shard` (studio/train/shard.py) FSDP holds 1/N of the weights in each process and sums the
gradients itself inside backward; `sharded` is then set and the replicated path's broadcast and
sum are skipped.
"""
from __future__ import annotations

import os


class Ranks:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.main = self.rank == 0
        self.active = False
        self.sharded = False  # FSDP owns the trainable weights (studio/train/shard.py)

    def start(self, device: str) -> str:
        """Join the process group; returns this process's device (cuda:<local rank> on GPUs)."""
        if self.world == 1:
            return device
        import torch
        import torch.distributed as dist

        if device == "cuda":
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        self.active = True
        return f"cuda:{self.local_rank}" if device == "cuda" else device

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def total(self, value: float) -> float:
        """The sum of `value` over all processes."""
        if not self.active:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item())

    def any(self, flag: bool) -> bool:
        return self.total(1.0 if flag else 0.0) > 0

    def share(self, items: list) -> list:
        """This process's part of a list every process holds the same copy of."""
        return items[self.rank::self.world]

    def same_start(self, params: list) -> None:
        """Every process starts from rank 0's trainable weights."""
        if not self.active or self.sharded:
            return
        import torch.distributed as dist

        for p in params:
            dist.broadcast(p.data, src=0)

    def sum_gradients(self, params: list) -> None:
        """Sum the trainable gradients over processes, flattened into one buffer (one transfer)."""
        if not self.active or self.sharded:
            return
        import torch
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            p.grad = flat[offset:offset + g.numel()].view_as(g).to(g.dtype)
            offset += g.numel()

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.active = False
