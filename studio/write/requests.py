"""Grow a corpus: requests for the writer's passages. For each piece of a text corpus a chosen
model (the base, another model by name, or a tuned run) writes the short request the passage
answers; the writer previews them, drops the bad ones, and saves a pairs corpus of (request, the
writer's own passage) as the next version of the corpus. The passages are copied byte for byte:
only the requests are generated, and the manifest and every record say so.

Requests are staged one per line in corpora/<name>/.requests-<version>.jsonl as they are made, so
a page reload, a stop or a crash loses nothing: the next run goes on from the first passage
without a request. Each passage keeps its split (a validation passage stays held out).
"""
from __future__ import annotations

import json
import re
import threading
import time
import unicodedata
from pathlib import Path
from typing import Iterator

from studio.config import GenConfig
from studio.corpus.decode import CorpusError
from studio.corpus.manifest import CorpusManifest
from studio.corpus.store import commit_version, discard, read_manifest, read_split, scratch_dir, version_dir
from studio.jsonio import append_jsonl, read_jsonl
from studio.messages import message

PASSAGE_CHARS = 1500  # the request needs the gist: a long piece is shown to the model cut here
REQUEST_CHARS = 300
INSTRUCTION = {
    "en": ("Here is a passage by a writer:\n\n{passage}\n\nWrite the short request a reader could have given the writer "
           "for this passage, for example: \"Write a ship's log entry for a foggy day with a sighting.\" Reply with "
           "the request only, in one sentence."),
    "zh": "下面是一位作者写的一段文字：\n\n{passage}\n\n请写出读者可能向作者提出、而这段文字正好回应的简短要求，"
          "例如：“写一篇雾天航海日志，记下一次目击。”只回复这个要求，一句话。",
}
GENERATION = GenConfig(max_new_tokens=60, temperature=0.7, top_p=0.9, repetition_penalty=1.1, seed=0)
_LABEL = re.compile(r"^\s*(request|prompt|instruction|要求|请求|指令)\s*[:：]\s*", re.IGNORECASE)


def staging_path(root: Path, name: str, version: str) -> Path:
    return version_dir(root, name, version).parent / f".requests-{version}.jsonl"


def passages(root: Path, name: str, version: str = "") -> tuple[str, list[dict]]:
    """(version, every text piece of the corpus with its index, split and origin); other modes refused."""
    manifest = read_manifest(root, name, version)
    if manifest["mode"] != "text":
        raise CorpusError("requests.not_text", name=name, version=manifest["version"], mode=manifest["mode"])
    found = []
    for split in ("train", "val"):
        for record in read_split(root, name, manifest["version"], split):
            found.append({"index": len(found) + 1, "split": split, "origin": record.get("origin", ""), "text": record["text"]})
    return manifest["version"], found


def ask(passage: str) -> str:
    """The instruction for one passage, in the passage's language."""
    cjk = sum("\u4e00" <= c <= "\u9fff" for c in passage[:400])
    return INSTRUCTION["zh" if cjk > 40 else "en"].format(passage=passage[:PASSAGE_CHARS])


def clean(draft: str) -> str:
    """The request out of a model's reply: its first non-empty line, without a label or quotes."""
    line = next((l.strip() for l in draft.splitlines() if l.strip()), "")
    line = _LABEL.sub("", line).strip().strip("\"'“”「」").strip()
    # control characters and U+FFFD (a token cut inside a UTF-8 sequence) are not part of any request
    line = "".join(c for c in line if c != "\ufffd" and not unicodedata.category(c).startswith("C"))
    return re.sub(r"\s+", " ", line).strip()[:REQUEST_CHARS]


def staged(root: Path, name: str, version: str) -> dict[int, dict]:
    # a line cut short by a kill is dropped: that passage is asked again
    return {item["index"]: item for item in read_jsonl(staging_path(root, name, version), skip_damaged=True)}


def generate(drafter, root: Path, name: str, version: str = "", source: str = "base", model: str | None = None,
             limit: int = 0, stop: threading.Event | None = None, gen: GenConfig = GENERATION) -> Iterator[dict]:
    """Make the missing requests, one passage at a time, each staged as soon as it exists; yields
    {"done", "total", "request"} after each. `limit` caps the passages asked in this call (0: all)."""
    version, pieces = passages(root, name, version)
    have = staged(root, name, version)
    # both splits from the start (a few requests already make a trainable pairs version): each
    # passage in the order of its place within its own split
    size = {split: sum(p["split"] == split for p in pieces) for split in ("train", "val")}
    seen, place = {"train": 0, "val": 0}, {}
    for p in pieces:
        place[p["index"]] = seen[p["split"]] / size[p["split"]]
        seen[p["split"]] += 1
    todo = sorted((p for p in pieces if p["index"] not in have), key=lambda p: (place[p["index"]], p["split"] == "val"))
    if limit:
        todo = todo[:limit]
    path = staging_path(root, name, version)
    done = len(have)
    for piece in todo:
        if stop is not None and stop.is_set():
            return
        result = drafter.draft([source], ask(piece["text"]), gen, "instruct", stop, model, save=False)
        if stop is not None and stop.is_set():
            return  # a request cut off mid-word is not kept
        request = clean(result["panes"][0]["drafts"][0])
        item = {"index": piece["index"], "split": piece["split"], "origin": piece["origin"], "request": request,
                "source": source if source != "base" else (model or "base"), "time": round(time.time(), 1)}
        append_jsonl(path, item)
        done += 1
        yield {"done": done, "total": len(pieces), "request": request, "version": version}


def preview(root: Path, name: str, version: str = "") -> list[dict]:
    """Every passage with its staged request ("" when not made yet), in corpus order."""
    version, pieces = passages(root, name, version)
    have = staged(root, name, version)
    return [{**p, "request": have.get(p["index"], {}).get("request", ""), "made_by": have.get(p["index"], {}).get("source", "")}
            for p in pieces]


def parse_drop(text: str, last: int) -> set[int]:
    """'3, 7, 10-12' as item numbers; anything else is an error naming the part."""
    found = set()
    for part in filter(None, (p.strip() for p in (text or "").replace("，", ",").split(","))):
        low, _, high = part.partition("-")
        if not low.strip().isdigit() or (high and not high.strip().isdigit()):
            raise CorpusError("requests.bad_drop", part=part)
        low_n, high_n = int(low), int(high or low)
        if not 1 <= low_n <= high_n <= last:
            raise CorpusError("requests.drop_range", part=part, last=last)
        found.update(range(low_n, high_n + 1))
    return found


def pairs_split(splits: dict[str, list[dict]], tokens: dict, version: str) -> dict:
    """The pairs version's split as the manifest states it: every pair in its passage's split of
    `version`, its own tokens (a characters / 4 estimate when not counted)."""
    size = {s: tokens.get(s, sum(len(r["request"]) + 1 + len(r["text"]) for r in items) // 4) for s, items in splits.items()}
    return {"method": "requests", "follows": version, "val_tokens": size["val"], "train_tokens": size["train"],
            "val_share": round(size["val"] / max(size["train"] + size["val"], 1), 4),
            "why": message("split.requests", pairs=sum(map(len, splits.values())), version=version, val=len(splits["val"]))}


def save(root: Path, name: str, version: str = "", drop: set[int] = frozenset(), count_tokens=None,
         tokenizer_name: str = "") -> dict:
    """The next version of `name`: a pairs corpus of (request, passage) for every passage with a
    request that the writer did not drop, each in its original split. Returns the manifest."""
    source = read_manifest(root, name, version)
    version = source["version"]
    rows = preview(root, name, version)
    kept = [r for r in rows if r["request"] and r["index"] not in drop]
    splits = {s: [r for r in kept if r["split"] == s] for s in ("train", "val")}
    if not splits["train"] or not splits["val"]:
        raise CorpusError("requests.too_few", train=len(splits["train"]), val=len(splits["val"]))
    tmp = scratch_dir(root, name)
    try:
        tokens = {}
        for split, items in splits.items():
            records = [{"prompt": r["request"], "response": r["text"], "origin": r["origin"], "generated": ["prompt"]}
                       for r in items]
            with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records)
            if count_tokens:
                tokens[split] = sum(count_tokens([r["request"] + "\n" + r["text"] for r in items]))
        manifest = commit_version(root, name, tmp, CorpusManifest(
            name=name, mode="pairs", settings=source.get("settings", {}), sources=source.get("sources", []),
            derived_from={"version": source["version"], "how": "requests generated for the writer's passages"},
            generated={"fields": ["prompt"], "unchanged": ["response"],
                       "made_by": sorted({r["made_by"] for r in kept}), "settings": vars(GENERATION)},
            dropped_by_writer=sorted(drop), without_request=[r["index"] for r in rows if not r["request"]],
            documents=len(kept), train_documents=len(splits["train"]), val_documents=len(splits["val"]),
            characters=sum(len(r["text"]) + len(r["request"]) for r in kept),
            cjk_share=source.get("cjk_share", 0), split=pairs_split(splits, tokens, version),
            length_histogram=source.get("length_histogram", {}),
            tokens={**tokens, "tokenizer": tokenizer_name, "counted": "exact"} if count_tokens else None))
    except BaseException:
        discard(tmp)
        raise
    staging_path(root, name, version).unlink(missing_ok=True)
    return manifest
