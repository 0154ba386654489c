"""Keep training (continual learning): a run whose adapter starts as another run's adapter.

The child is an ordinary sft run with `init_adapter` naming its parent (a run, or run@step-N).
Before training, the parent is measured on the child's validation split and on the parent's own
one (with the base on the parent's split too); after training, the child on both. The parent's
split shows forgetting: what the child lost on the text the parent learned. A parent split whose
texts reappear in the child's training split would hide forgetting, so the share that does is
reported beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

from studio import runs
from studio.records import Marker
from studio.train.errors import JobError
from studio.corpus.split import record_key
from studio.corpus.store import read_split


ADAPTER_FIELDS = {"lora_r": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
                  "use_rslora": "use_rslora", "use_dora": "use_dora"}


def continuing(root: Path, cfg):
    """`cfg` for a child of cfg.init_adapter: checked against the parent, with the adapter's shape
    (rank, alpha, layers) taken from the parent's adapter, since training continues that adapter."""
    from dataclasses import replace

    from studio.adapters import adapter_folder, parse_source

    source = parse_source(cfg.init_adapter)
    if not source.run_id:
        raise JobError("continue.no_parent")
    folder = adapter_folder(root, source)  # a missing or unfinished adapter is refused here, by name
    parent = runs.read_config(runs.run_dir(root, source.run_id))
    if parent.model != cfg.model:
        raise JobError("continue.other_model", parent=source.key, parent_model=parent.model, model=cfg.model)
    adapter = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    shape = {field: adapter[key] for field, key in ADAPTER_FIELDS.items() if key in adapter}
    targets = adapter.get("target_modules")
    if targets:
        shape["target_modules"] = targets if isinstance(targets, str) else ",".join(sorted(targets))
    return replace(cfg, **shape)


def attach_parent(root: Path, model, init_adapter: str):
    """The base with the parent's adapter attached as the trainable adapter "default"."""
    from peft import PeftModel

    from studio.adapters import adapter_folder, parse_source

    return PeftModel.from_pretrained(model, str(adapter_folder(root, parse_source(init_adapter))), is_trainable=True)


def parent_corpus(root: Path, init_adapter: str) -> tuple[str, str]:
    """(corpus, version) the parent trained on, from the parent's own record of it."""
    from studio.adapters import parse_source

    folder = runs.run_dir(root, parse_source(init_adapter).run_id)
    cfg = runs.read_config(folder)
    return cfg.corpus, runs.trained_corpus_version(folder, cfg)


def evaluate_parent(run, model, tok, val_blocks, device) -> dict:
    """The parent, before any step, on both splits (and the base on the parent's); kept in
    parent_eval.json so a resumed run does not redo it."""
    from studio.train.evaluate import mean_loss

    def evaluate() -> dict:
        corpus, version = parent_corpus(run.root, run.cfg.init_adapter)
        parent_val = read_split(run.root, corpus, version, "val")
        old_blocks = run.blocks(parent_val, tok)
        child_train = {record_key(r) for r in read_split(run.root, run.cfg.corpus, run.corpus_version, "train")}
        with model.disable_adapter():
            base_old = mean_loss(model, old_blocks, tok.pad_token_id, device)
        return {
            "parent": run.cfg.init_adapter, "parent_split": f"{corpus} {version}",
            "parent_on_new": mean_loss(model, val_blocks, tok.pad_token_id, device),
            "parent_on_old": mean_loss(model, old_blocks, tok.pad_token_id, device), "base_on_old": base_old,
            "old_in_train": round(sum(record_key(r) in child_train for r in parent_val) / max(len(parent_val), 1), 4),
        }

    return run.computed_once("parent_eval.json", evaluate, lambda result: run.report.record(
        Marker("parent_eval", step=0, extra={"parent_val_loss": round(result["parent_on_new"], 5)})))


def lineage(run, model, tok, device, parent: dict, base_loss: float, child_loss: float) -> dict:
    """eval.json's `lineage`: base, parent and child on the child's split and on the parent's."""
    from studio.train.evaluate import mean_loss, summary

    corpus, version = parent_corpus(run.root, run.cfg.init_adapter)
    child_old = mean_loss(model, run.blocks(read_split(run.root, corpus, version, "val"), tok), tok.pad_token_id, device)
    return {
        "parent": parent["parent"],
        "splits": [
            {"split": f"{run.cfg.corpus} {run.corpus_version}", "base": summary(base_loss),
             "parent": summary(parent["parent_on_new"]), "child": summary(child_loss)},
            {"split": parent["parent_split"], "base": summary(parent["base_on_old"]),
             "parent": summary(parent["parent_on_old"]), "child": summary(child_old)},
        ],
        # above 0: the child is worse than its parent on the parent's held-out text
        "forgetting": round(child_old - parent["parent_on_old"], 5),
        "parent_split_in_train": parent["old_in_train"],
    }


def chain(root: Path, run_id: str, limit: int = 20) -> list[str]:
    """The run and its ancestors through `init_adapter`, oldest first ("run" or "run@step-N")."""
    from studio.adapters import parse_source

    found, current = [run_id], run_id
    while len(found) < limit:
        folder = runs.run_dir(root, current)
        if not (folder / "config.yaml").exists():
            break
        parent = runs.read_config(folder).init_adapter
        if not parent or parse_source(parent).run_id in (current, *found[1:]):
            break
        found.insert(0, parent)
        current = parse_source(parent).run_id
    return found
