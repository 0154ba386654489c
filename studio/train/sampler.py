"""The order training blocks are drawn in: seeded, reshuffled every epoch, and exactly the same
after a resume (the generator's state goes into the checkpoint, the undrawn rest of the epoch
lives in TrainState.queue)."""
from __future__ import annotations

from studio.train.state import TrainState


class BlockSampler:
    def __init__(self, blocks: list, seed: int):
        import torch

        self.blocks = blocks
        self.order = torch.Generator().manual_seed(seed)

    def draw(self, n: int, state: TrainState) -> list:
        """The next n blocks; the queue refills with a fresh permutation when it runs short."""
        import torch

        while len(state.queue) < n:
            state.queue += torch.randperm(len(self.blocks), generator=self.order).tolist()
        picked, state.queue = state.queue[:n], state.queue[n:]
        return [self.blocks[i] for i in picked]

    def get_state(self):
        return self.order.get_state()

    def set_state(self, saved) -> None:
        self.order.set_state(saved)
