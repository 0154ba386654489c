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

from studio import jsonio, runs
from studio.config import blend_parts
from studio.messages import message
from studio.records import BlendEvaluation, LossEval, to_dict
from studio.runs import RunFolder
from studio.train import checkpoints, final_eval
from studio.train.errors import Cancelled, JobError

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


class BlendRecipe:
    """The worker's job for a blend run: combine (setup), save, measure (evaluate). Nothing trains."""

    def __init__(self, run):
        self.run, self.cfg = run, run.cfg

    def __call__(self) -> str:
        self.setup()
        self.save()
        return self.evaluate()

    def setup(self) -> None:
        """The sources, the corpora to measure on (the first one described as the run's), and the
        base with every source and their blend attached."""
        import torch

        from studio.corpus.store import read_manifest
        from studio.models import load_tokenizer, resolve

        run, cfg = self.run, self.cfg
        torch.manual_seed(cfg.seed)  # dare_* drop weights at random
        self.found = sources(run.root, cfg.blend_of)
        source = resolve(cfg.model, run.root)
        self.tok = load_tokenizer(source)
        self.corpora = list(dict.fromkeys((s["config"].corpus, _version(run.root, s["key"])) for s in self.found))
        jsonio.write_json_atomic(run.folder / RunFolder.CORPUS, read_manifest(run.root, *self.corpora[0]))
        run.report.update(total_steps=len(self.corpora) + 1)
        self.model, self.names = combine(run.load_base(source), self.found, cfg.blend_method, cfg.blend_density)
        if run.cancel_requested:
            raise Cancelled()

    def save(self) -> None:
        self.run.report.update(message=message("status.saving"), step=1)
        checkpoints.save_adapter(self.model, self.run.folder / "adapter", adapters=[BLENDED])
        self.model.eval()

    def evaluate(self) -> str:
        """Base, every source and the blend on each corpus's validation split; eval.json."""
        run, cfg = self.run, self.cfg
        splits = []
        for n, (corpus, version) in enumerate(self.corpora, start=2):
            if run.cancel_requested:
                raise Cancelled()
            run.report.update(message=message("status.blend_eval", split=f"{corpus} {version}"))
            splits.append(self.measure(corpus, version))
            run.report.record(LossEval(step=n, val_loss=splits[-1]["blend"]["loss"]))
            run.report.update(step=n)
        result = BlendEvaluation(method=cfg.blend_method, density=cfg.blend_density, splits=splits,
                                 sources=[{"run": s["key"], "weight": s["weight"]} for s in self.found])
        result.bias = final_eval.bias_probe(run, self.model, self.tok)
        jsonio.write_json_atomic(run.folder / RunFolder.EVAL, to_dict(result))
        return message("status.blend_done", n=len(self.found), method=cfg.blend_method)

    def measure(self, corpus: str, version: str) -> dict:
        from studio.corpus.store import read_split
        from studio.train.evaluate import mean_loss, summary

        model, tok, device = self.model, self.tok, self.run.device
        blocks = self.run.blocks(read_split(self.run.root, corpus, version, "val"), tok)
        row = {"split": f"{corpus} {version}", "sources": {}}
        with model.disable_adapter():
            row["base"] = summary(mean_loss(model, blocks, tok.pad_token_id, device))
        for name, s in zip(self.names, self.found):
            model.set_adapter(name)
            row["sources"][s["key"]] = summary(mean_loss(model, blocks, tok.pad_token_id, device))
        model.set_adapter(BLENDED)
        row["blend"] = summary(mean_loss(model, blocks, tok.pad_token_id, device))
        return row


def _version(root: Path, key: str) -> str:
    from studio.train.continual import parent_corpus

    return parent_corpus(root, key)[1]
