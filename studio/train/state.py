"""TrainState: where a LoRA run is, in one typed object, saved with every checkpoint.

Checkpoints written before it existed keep the same values as a dict under "progress"; they
still load (`from_checkpoint`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    seen: int = 0  # target tokens trained on, all processes together
    queue: list = field(default_factory=list)  # block indices drawn for this epoch and not used yet
    best_loss: float = float("inf")  # best validation loss so far (early stopping)
    best_step: int = 0
    bad_evals: int = 0  # evaluations in a row without improvement
    train_seconds: float = 0.0  # time in the training loop, summed over resumes
    micro_batch: int = 1  # blocks per forward pass; halved on out-of-memory

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainState":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_checkpoint(cls, saved: dict) -> "TrainState":
        """The state a checkpoint holds: "train_state", or the older "progress" dict."""
        return cls.from_dict(saved["train_state"] if "train_state" in saved else saved["progress"])
