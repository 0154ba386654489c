"""Blend voices: one adapter made from two or three finished runs' adapters by PEFT's own
`add_weighted_adapter` (linear, cat, svd, ties, dare, magnitude pruning), with a weight for each.

A blend is a run (objective `blend`): the ordinary worker makes it in its own process (slot,
status, cancel), saves the blended adapter as the run's adapter, so it drafts, exports and
publishes like any other, and measures base, every source and the blend on each source's
validation split. Nothing is trained.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from studio import runs
from studio.config import blend_parts
from studio.messages import message

EQUAL_RANKS = ("linear", "ties", "dare_linear", "dare_ties", "magnitude_prune")  # PEFT refuses mixed ranks there
USES_DENSITY = ("ties", "dare_linear", "dare_ties", "magnitude_prune", "ties_svd", "dare_linear_svd", "dare_ties_svd",
                "magnitude_prune_svd")
BLENDED = "default"  # PEFT saves the adapter named "default" at the top of the folder, where every reader looks
MAX_SOURCES = 3


def sources(root: Path, blend_of: str) -> list[dict]:
    """Each source of a blend: its key, weight, adapter folder, adapter config and run config."""
    from studio.adapters import adapter_folder, parse_source

    found = []
    for key, weight in blend_parts(blend_of):
        source = parse_source(key)
        folder = adapter_folder(root, source)  # refuses a run without a finished adapter, by name
        found.append({"key": source.key, "weight": weight, "folder": folder,
                      "adapter": json.loads((folder / "adapter_config.json").read_text(encoding="utf-8")),
                      "config": runs.read_config(runs.run_dir(root, source.run_id))})
    return found


def blend_config(root: Path, cfg):
    """`cfg` for a blend of cfg.blend_of, checked: 2 or 3 distinct runs of one base model, ranks
    the method accepts, no DoRA; base model, corpus and data settings come from the first source."""
    from studio.jobs import JobError

    found = sources(root, cfg.blend_of)
    keys = [s["key"] for s in found]
    if not 2 <= len(found) <= MAX_SOURCES or len(set(keys)) != len(keys):
        raise JobError("blend.count", runs=", ".join(keys))
    if len({s["config"].model for s in found}) > 1:
        raise JobError("blend.models", runs=", ".join(f"{s['key']} ({s['config'].model})" for s in found))
    ranks = [s["adapter"]["r"] for s in found]
    if cfg.blend_method in EQUAL_RANKS and len(set(ranks)) > 1:
        raise JobError("blend.ranks", method=cfg.blend_method,
                       runs=", ".join(f"{s['key']} (r={r})" for s, r in zip(found, ranks)))
    dora = [s["key"] for s in found if s["adapter"].get("use_dora")]
    if dora:
        raise JobError("blend.dora", runs=", ".join(dora))
    first = found[0]["config"]
    rank = sum(ranks) if cfg.blend_method == "cat" else max(ranks)
    return replace(first, objective="blend", init_adapter="", blend_of=cfg.blend_of, blend_method=cfg.blend_method,
                   blend_density=cfg.blend_density, lora_r=rank, lora_alpha=rank, seed=cfg.seed,
                   corpus_version=_version(root, found[0]["key"]))


def combine(model, found: list[dict], method: str, density: float):
    """The base `model` with every source attached ("source-0", ...) and their blend as BLENDED, active."""
    from peft import PeftModel

    names = [f"source-{i}" for i in range(len(found))]
    model = PeftModel.from_pretrained(model, str(found[0]["folder"]), adapter_name=names[0])
    for name, source in zip(names[1:], found[1:]):
        model.load_adapter(str(source["folder"]), adapter_name=name)
    model.add_weighted_adapter(names, [s["weight"] for s in found], BLENDED, combination_type=method,
                               density=density if method in USES_DENSITY else None)
    model.set_adapter(BLENDED)
    return model, names


def make(run) -> str:
    """The worker's job for a blend run: combine, save, measure; returns the closing message."""
    import torch

    from studio.corpus.store import read_manifest, read_split
    from studio.models import load_tokenizer, resolve
    from studio.train import checkpoints
    from studio.train.evaluate import mean_loss, summary
    from studio.train.worker import Cancelled

    cfg, report, device = run.cfg, run.report, run.device
    torch.manual_seed(cfg.seed)  # dare_* drop weights at random
    found = sources(run.root, cfg.blend_of)
    source = resolve(cfg.model, run.root)
    tok = load_tokenizer(source)
    corpora = list(dict.fromkeys((s["config"].corpus, _version(run.root, s["key"])) for s in found))
    manifest = read_manifest(run.root, *corpora[0])  # the run describes its corpus as a trained run does
    (run.folder / "corpus.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    report.update(total_steps=len(corpora) + 1)
    model, names = combine(run.load_base(source), found, cfg.blend_method, cfg.blend_density)
    if run.cancel_requested:
        raise Cancelled()
    report.update(message=message("status.saving"), step=1)
    checkpoints.save_adapter(model, run.folder / "adapter", adapters=[BLENDED])
    model.eval()
    splits = []
    for n, (corpus, version) in enumerate(corpora, start=2):
        if run.cancel_requested:
            raise Cancelled()
        report.update(message=message("status.blend_eval", split=f"{corpus} {version}"))
        blocks = run.blocks(read_split(run.root, corpus, version, "val"), tok)
        row = {"split": f"{corpus} {version}", "sources": {}}
        with model.disable_adapter():
            row["base"] = summary(mean_loss(model, blocks, tok.pad_token_id, device))
        for name, s in zip(names, found):
            model.set_adapter(name)
            row["sources"][s["key"]] = summary(mean_loss(model, blocks, tok.pad_token_id, device))
        model.set_adapter(BLENDED)
        row["blend"] = summary(mean_loss(model, blocks, tok.pad_token_id, device))
        splits.append(row)
        report.event(kind="eval", step=n, val_loss=row["blend"]["loss"])
        report.update(step=n)
    result = {"objective": "blend", "method": cfg.blend_method, "density": cfg.blend_density,
              "sources": [{"run": s["key"], "weight": s["weight"]} for s in found], "splits": splits}
    if cfg.bias_probe:
        from studio.train import bias

        report.update(message=message("status.bias"))
        result["bias"] = bias.probe(model, tok, device)
    runs.write_json_atomic(run.folder / "eval.json", result)
    return message("status.blend_done", n=len(found), method=cfg.blend_method)


def _version(root: Path, key: str) -> str:
    from studio.train.continual import parent_corpus

    return parent_corpus(root, key)[1]
