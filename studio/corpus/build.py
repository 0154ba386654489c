"""The ingest pipeline, streamed in two passes so memory does not grow with the corpus:

1. read every file -> records -> clean (each rule counted) -> length filters -> exact and near
   dedupe -> kept items to kept.jsonl, dropped ones (with the reason) to dropped.jsonl;
2. choose the validation documents, then stream kept.jsonl into train.jsonl / val.jsonl while
   counting tokens, characters, CJK share and the length histogram.

All of it happens in a scratch folder renamed into a new version at the end: a failure leaves
no corpus and touches no earlier version.
"""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Callable

from studio.config import CorpusConfig, to_dict
from studio.corpus import clean
from studio.corpus.decode import CorpusError
from studio.corpus.clean import RULE_LABELS
from studio.corpus.dedupe import NearDuplicates, exact_key
from studio.corpus.sources import Tally, iter_source
from studio.corpus.store import commit_version, discard, scratch_dir
from studio.paths import check_name

MAX_DROPPED_KEPT = 20_000  # dropped items stored for browsing; the counts are always exact
TOKEN_BATCH = 256
HISTOGRAM_EDGES = [0] + [2 ** k for k in range(4, 21)]  # 16, 32, ... 1M


def chunk_paragraphs(doc: str, target: int) -> list[str]:
    pieces, current = [], ""
    for para in doc.split("\n\n"):
        if current and len(current) + len(para) > target:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    return pieces + ([current] if current else [])


def record_text(record: dict) -> str:
    """All the text of a record, for filters, dedupe, counts and token counts."""
    if "text" in record:
        return record["text"]
    if "prompt" in record:
        return f"{record['prompt']}\n\n{record['response']}"
    return "\n\n".join(m["content"] for m in record["messages"])


def _clean_field(text: str, cfg: CorpusConfig, tally: Tally) -> str:
    if cfg.nfc:
        normal = clean.nfc(text)
        tally.count(RULE_LABELS["nfc"], normal != text)
        text = normal
    if cfg.strip_markup:
        text, stripped = clean.strip_markup(text)
        tally.count(RULE_LABELS["strip_markup"], stripped)
    text = clean.normalize_whitespace(text)
    if cfg.join_lines:
        text, joins = clean.join_wrapped_lines(text)
        tally.count(RULE_LABELS["join_lines"], joins)
    if cfg.mask_pii:
        text, masked = clean.mask_pii(text)
        tally.count(RULE_LABELS["mask_pii"], masked)
    return text


def clean_record(record: dict, cfg: CorpusConfig, tally: Tally) -> dict:
    out = {"origin": record["origin"]}
    if "text" in record:
        out["text"] = _clean_field(record["text"], cfg, tally)
    elif "prompt" in record:
        out["prompt"] = _clean_field(record["prompt"], cfg, tally)
        out["response"] = _clean_field(record["response"], cfg, tally)
    else:
        out["messages"] = [{"role": m["role"], "content": _clean_field(m["content"], cfg, tally)} for m in record["messages"]]
    return out


class Dropped:
    def __init__(self, path: Path):
        self.fh = open(path, "w", encoding="utf-8")
        self.counts: dict[str, int] = {}
        self.stored = 0

    def add(self, reason: str, record: dict) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if self.stored < MAX_DROPPED_KEPT:
            self.stored += 1
            text = record_text(record)
            self.fh.write(json.dumps({"reason": reason, "origin": record["origin"], "chars": len(text),
                                      "preview": text[:400]}, ensure_ascii=False) + "\n")


def first_pass(files, cfg: CorpusConfig, tmp: Path, tally: Tally) -> tuple[int, list[int], Dropped]:
    """Read, clean, filter, dedupe; kept items go to kept.jsonl. Returns (kept, group sizes, dropped)."""
    dropped = Dropped(tmp / "dropped.jsonl")
    seen_exact: set[str] = set()
    near = NearDuplicates(cfg.near_dup_threshold) if cfg.near_dup_threshold > 0 else None
    groups: list[int] = []  # pieces per source document: pieces of one document stay on one side of the split
    kept = 0
    with open(tmp / "kept.jsonl", "w", encoding="utf-8") as out:
        for path, display in files:
            for record in iter_source(Path(path), display, cfg, tally, tmp):
                record = clean_record(record, cfg, tally)
                pieces = [record]
                if "text" in record and cfg.chunk_chars and len(record["text"]) > 1.5 * cfg.chunk_chars:
                    texts = chunk_paragraphs(record["text"], cfg.chunk_chars)
                    tally.count(RULE_LABELS["chunk_chars"], 1)
                    pieces = [{"text": t, "origin": f"{record['origin']} (part {i + 1})"} for i, t in enumerate(texts)]
                in_group = 0
                for piece in pieces:
                    text = record_text(piece)
                    if len(text) < cfg.min_chars:
                        dropped.add(f"shorter than {cfg.min_chars} characters", piece)
                        continue
                    if len(text) > cfg.max_chars:
                        dropped.add(f"longer than {cfg.max_chars} characters", piece)
                        continue
                    if cfg.dedupe_exact:
                        key = exact_key(text)
                        if key in seen_exact:
                            dropped.add("exact duplicate", piece)
                            continue
                        seen_exact.add(key)
                    if near is not None and near.seen_similar(text):
                        dropped.add(f"near duplicate (similarity >= {cfg.near_dup_threshold})", piece)
                        continue
                    out.write(json.dumps({**piece, "group": len(groups)}, ensure_ascii=False) + "\n")
                    kept += 1
                    in_group += 1
                if in_group:
                    groups.append(in_group)
    dropped.fh.close()
    return kept, groups, dropped


def cut_lone_document(tmp: Path, tally: Tally) -> tuple[int, list[int]]:
    """A corpus of one document (a single story or book) is cut at paragraphs into about ten
    pieces, so that a validation split can exist."""
    path = tmp / "kept.jsonl"
    item = json.loads(path.read_text(encoding="utf-8"))
    if "text" not in item:
        return 1, [1]
    pieces = chunk_paragraphs(item["text"], max(300, len(item["text"]) // 10))
    tally.count(RULE_LABELS["chunk_chars"], len(pieces) > 1)
    with open(path, "w", encoding="utf-8") as out:
        for i, text in enumerate(pieces):
            out.write(json.dumps({"text": text, "origin": f"{item['origin']} (part {i + 1})", "group": 0}, ensure_ascii=False) + "\n")
    return len(pieces), [len(pieces)]


def choose_validation(groups: list[int], cfg: CorpusConfig) -> tuple[set[int], str]:
    """Validation groups (source documents), seeded. A corpus of one document is split by its pieces."""
    rng = random.Random(cfg.seed)
    if len(groups) >= 2:
        n_val = min(max(cfg.min_val_docs, round(cfg.val_share * len(groups))), len(groups) - 1)
        return set(rng.sample(range(len(groups)), n_val)), "group"
    pieces = groups[0] if groups else 0
    if pieces < 2:
        raise CorpusError("the corpus is a single short document; validation needs at least two: add more text")
    n_val = min(max(cfg.min_val_docs, round(cfg.val_share * pieces)), pieces - 1)
    return set(rng.sample(range(pieces), n_val)), "piece"


def second_pass(tmp: Path, val_ids: set[int], by: str, count_tokens) -> dict:
    stats = {"train_documents": 0, "val_documents": 0, "characters": 0, "cjk_characters": 0,
             "tokens": {"train": 0, "val": 0}, "histogram": [0] * (len(HISTOGRAM_EDGES))}
    outs = {"train": open(tmp / "train.jsonl", "w", encoding="utf-8"), "val": open(tmp / "val.jsonl", "w", encoding="utf-8")}
    batch: list[tuple[str, str]] = []

    def flush():
        if not batch:
            return
        lengths = count_tokens([text for _, text in batch]) if count_tokens else [len(text) for _, text in batch]
        for (split, _), n in zip(batch, lengths):
            stats["tokens"][split] += n
            stats["histogram"][min(len(HISTOGRAM_EDGES) - 1, max(0, math.ceil(math.log2(max(n, 1))) - 4))] += 1
        batch.clear()

    with open(tmp / "kept.jsonl", encoding="utf-8") as fh:
        for index, line in enumerate(fh):
            item = json.loads(line)
            split = "val" if (item["group"] if by == "group" else index) in val_ids else "train"
            del item["group"]
            outs[split].write(json.dumps(item, ensure_ascii=False) + "\n")
            text = record_text(item)
            stats[f"{split}_documents"] += 1
            stats["characters"] += len(text)
            stats["cjk_characters"] += clean.cjk_chars(text)
            batch.append((split, text))
            if len(batch) >= TOKEN_BATCH:
                flush()
    flush()
    for fh in outs.values():
        fh.close()
    (tmp / "kept.jsonl").unlink()
    return stats


def ingest(files: list[tuple[Path, str]], cfg: CorpusConfig, root: Path,
           count_tokens: Callable[[list[str]], list[int]] | None = None, tokenizer_name: str = "") -> dict:
    """Ingest (path, display name) pairs into a new version of corpus `cfg.name`; return its manifest."""
    check_name(cfg.name, "corpus name")
    if not files:
        raise CorpusError("no files given: add at least one file")
    tmp = scratch_dir(root, cfg.name)
    tally = Tally()
    tally.rules = {label: 0 for switch, label in RULE_LABELS.items() if getattr(cfg, switch)}
    started = time.time()
    try:
        kept, groups, dropped = first_pass(files, cfg, tmp, tally)
        if tally.rows_seen:
            valid = tally.rows_seen - sum(tally.rows_skipped.values())
            if valid < cfg.min_valid_share * tally.rows_seen:
                reasons = "; ".join(f"{n} rows: {why}" for why, n in sorted(tally.rows_skipped.items(), key=lambda x: -x[1]))
                raise CorpusError(f"only {valid} of {tally.rows_seen} rows have what {cfg.mode} mode needs "
                                  f"(at least {cfg.min_valid_share:.0%} must): {reasons}")
        if kept == 0:
            raise CorpusError(f"no items left after cleaning ({', '.join(f'{v} {k}' for k, v in dropped.counts.items()) or 'no text found'}): "
                              "add more text or loosen the filters")
        if kept == 1:
            kept, groups = cut_lone_document(tmp, tally)
        val_ids, by = choose_validation(groups, cfg)
        stats = second_pass(tmp, val_ids, by, count_tokens)
        (tmp / "skipped_rows.json").write_text(json.dumps(tally.skipped_examples, ensure_ascii=False), encoding="utf-8")
        manifest = {
            "name": cfg.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "mode": cfg.mode,
            "settings": to_dict(cfg),
            "sources": tally.sources,
            "passed_over": tally.passed_over,
            "rows": {"seen": tally.rows_seen, "skipped": tally.rows_skipped},
            "rules": tally.rules,
            "documents": stats["train_documents"] + stats["val_documents"],
            "train_documents": stats["train_documents"],
            "val_documents": stats["val_documents"],
            "split_by": "document" if by == "group" else "piece of the one document",
            "characters": stats["characters"],
            "cjk_share": round(stats["cjk_characters"] / max(stats["characters"], 1), 4),
            "dropped": dropped.counts,
            "length_histogram": {"unit": "tokens" if count_tokens else "characters",
                                 "upper_edges": HISTOGRAM_EDGES[1:] + ["more"], "counts": stats["histogram"]},
            "ingest_seconds": round(time.time() - started, 2),
        }
        if count_tokens:
            manifest["tokens"] = {**stats["tokens"], "tokenizer": tokenizer_name}
        commit_version(root, cfg.name, tmp, manifest)
        return manifest
    except BaseException:
        discard(tmp)
        raise
