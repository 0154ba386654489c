"""Adapter addressing: which weights a name means. "base", a run's final adapter ("<run id>") or
one of its complete checkpoints ("<run id>@step-N"). Training (keep training, DPO, blends, export)
and drafting both name adapters this way, so it lives below both."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio import runs
from studio.runs import ADAPTER_WEIGHTS, COMPLETE_MARK  # noqa: F401 (re-exported)
from studio.messages import Keyed

BASE = "__base__"  # PEFT's name for "no adapter" in a mixed-adapter batch
PICKLED_WEIGHTS = "adapter_model.bin"  # refused: loading a pickle runs code
_CHECKPOINT = re.compile(r"^(?P<run>[^@]+)@(?P<step>step-\d+)$")


class AdapterRefused(Keyed, ValueError):
    """An adapter that cannot be loaded: missing, unfinished, or a pickle."""


@dataclass(frozen=True)
class Source:
    """What one pane drafts with: the base, a run's final adapter, or one of its checkpoints."""
    key: str  # "base", "<run id>" or "<run id>@step-N"; also the PEFT adapter name
    run_id: str = ""
    checkpoint: str = ""  # "step-N", or "" for the final adapter

    @property
    def label(self) -> str:
        if not self.run_id:
            return "base model"
        return f"{self.run_id} ({self.checkpoint})" if self.checkpoint else self.run_id


def parse_source(text: str) -> Source:
    text = (text or "").strip()
    if text in ("", "base", BASE):
        return Source("base")
    found = _CHECKPOINT.match(text)
    if found:
        return Source(text, found["run"], found["step"])
    return Source(text, text)


def adapter_folder(root: Path, source: Source) -> Path:
    """The adapter folder of a source, refusing pickles, missing adapters and checkpoints the
    studio did not finish writing."""
    run = runs.run_dir(root, source.run_id)  # validates the run name
    if source.checkpoint:
        folder = run / "checkpoints" / source.checkpoint
        if not (folder / COMPLETE_MARK).exists():
            raise AdapterRefused("adapter.no_checkpoint", run=source.run_id, checkpoint=source.checkpoint)
    else:
        folder = run / "adapter"
    if (folder / PICKLED_WEIGHTS).exists() and not (folder / ADAPTER_WEIGHTS).exists():
        raise AdapterRefused("adapter.pickle", source=source.label)
    if not (folder / ADAPTER_WEIGHTS).exists():
        state = runs.read_status(run).state if run.exists() else "missing"
        raise AdapterRefused("adapter.none_yet", run=source.run_id, state=state)
    return folder
