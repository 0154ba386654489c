"""The ingest pipeline, streamed in two passes so memory does not grow with the corpus:

1. read every file -> records, in batches -> (in worker processes for large corpora, see
   prepare.py) clean (each rule counted), length filters, dedupe keys and MinHash signatures,
   characters and tokens -> (here, in input order) exact and near dedupe -> kept items to
   kept.jsonl, dropped ones (with the reason) to dropped.jsonl;
2. choose the validation split by tokens (split.py: whole documents, or each document's end),
   then stream kept.jsonl into train.jsonl / val.jsonl while
   summing characters and tokens (estimating those not counted) and the length histogram.

All of it happens in a scratch folder renamed into a new version at the end: a failure leaves
no corpus and touches no earlier version.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import time
from array import array
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from studio.config import CorpusConfig, to_dict
from studio.corpus import split
from studio.corpus.decode import CorpusError
from studio.corpus.clean import DEBRIS_RULES, SWITCH_RULES
from studio.corpus.dedupe import NearDuplicates
from studio.corpus.manifest import CorpusManifest
from studio.corpus.prepare import init_worker, prepare_batch, prepare_in_worker, record_text
from studio.corpus.sources import Tally, iter_source
from studio.corpus.store import commit_version, discard, scratch_dir, version_dir, versions
from studio.messages import message, render
from studio.paths import check_name

MAX_DROPPED_KEPT = 20_000  # dropped items stored for browsing; the counts are always exact
TOKEN_BATCH = 256
BATCH_CHARS = 1 << 20  # records go to the workers in batches of about a million characters
PARALLEL_MIN_BYTES = 4 << 20  # below this, worker processes cost more than they save
# Token counts are exact up to this much input; above it a hash-chosen sample of about this size is
# counted and the rest estimated (the tokenizer runs at ~3 MB/s per core, the rest of ingest ~4x faster).
EXACT_TOKEN_BYTES = 16 << 20
MIN_FIT_SAMPLES = 20
HISTOGRAM_EDGES = [0] + [2 ** k for k in range(4, 21)]  # 16, 32, ... 1M


class Dropped:
    """Dropped items: counted by reason, a message key ("drop.near"), with the message each key
    stands for (its values are this ingest's settings); the first MAX_DROPPED_KEPT kept for browsing
    in dropped.jsonl as {"reason": key, "fields": values, "origin", "chars", "preview"}."""

    def __init__(self, path: Path):
        self.fh = open(path, "w", encoding="utf-8")
        self.counts: dict[str, int] = {}
        self.reasons: dict[str, dict] = {}
        self.stored = 0

    def add(self, reason: dict, record: dict) -> None:
        key = reason["key"]
        self.counts[key] = self.counts.get(key, 0) + 1
        self.reasons.setdefault(key, reason)
        if self.stored < MAX_DROPPED_KEPT:
            self.stored += 1
            text = record_text(record)
            self.fh.write(json.dumps({"reason": key, "fields": reason["fields"], "origin": record["origin"],
                                      "chars": len(text), "preview": text[:400]}, ensure_ascii=False) + "\n")


def _batches(files, cfg: CorpusConfig, tally: Tally, tmp: Path) -> Iterator[list[dict]]:
    """Records from the readers, grouped into batches of about BATCH_CHARS characters."""
    batch, size = [], 0
    for path, display in files:
        for record in iter_source(Path(path), display, cfg, tally, tmp):
            batch.append(record)
            size += len(record_text(record))
            if size >= BATCH_CHARS:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def _prepared(files, cfg, tally, tmp, count_tokens, token_every: int, workers: int) -> Iterator[list[dict]]:
    """Prepared records in input order; the per-record work runs in `workers` processes when > 1."""
    if workers <= 1:
        for batch in _batches(files, cfg, tally, tmp):
            records, rules, examples = prepare_batch(batch, cfg, count_tokens, token_every)
            _merge_rules(tally, rules, examples)
            yield from records
        return
    # spawn, not fork: the studio app that calls this has threads (and maybe torch) running.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker,
                             initargs=(cfg, count_tokens, token_every)) as pool:
        pending: deque = deque()
        for batch in _batches(files, cfg, tally, tmp):
            pending.append(pool.submit(prepare_in_worker, batch))
            while len(pending) > 2 * workers:  # bounded read-ahead: memory stays flat
                yield from _collect(pending.popleft(), tally)
        while pending:
            yield from _collect(pending.popleft(), tally)


def _collect(future, tally: Tally) -> list[list[dict]]:
    records, rules, examples = future.result()
    _merge_rules(tally, rules, examples)
    return records


def _merge_rules(tally: Tally, rules: dict, examples: dict) -> None:
    for rule, n in rules.items():
        tally.count(rule, n)
    for rule, example in examples.items():  # the first in input order: batches arrive in order
        tally.rule_examples.setdefault(rule, example)


class TokenFit:
    """tokens ~ a * CJK characters + b * other characters, fitted by least squares on the texts
    whose tokens were counted; it estimates the others when only a sample is counted."""

    def __init__(self):
        self.sums = np.zeros(5)  # cc, co, oo, ct, ot
        self.samples = 0

    def add(self, cjk: int, chars: int, tokens: int) -> None:
        other = chars - cjk
        self.sums += (cjk * cjk, cjk * other, other * other, cjk * tokens, other * tokens)
        self.samples += 1

    def coefficients(self) -> tuple[float, float]:
        cc, co, oo, ct, ot = self.sums
        det = cc * oo - co * co
        if abs(det) > 1e-9 * max(cc * oo, 1.0):
            return (ct * oo - ot * co) / det, (ot * cc - ct * co) / det
        # one kind of character only: a single ratio
        return (ct + ot) / max(cc + co, 1.0) if cc else 0.0, (ct + ot) / max(oo + co, 1.0) if oo else 0.0


class KeptMeta:
    """Per kept item, in kept.jsonl's order: its group and counts (tokens -1 = not counted), in
    compact arrays, so pass 2 copies lines without parsing them."""

    def __init__(self):
        self.group, self.chars, self.cjk, self.tokens = (array("q") for _ in range(4))

    def add(self, group: int, chars: int, cjk: int, tokens: int | None) -> None:
        self.group.append(group)
        self.chars.append(chars)
        self.cjk.append(cjk)
        self.tokens.append(-1 if tokens is None else tokens)

    def __len__(self) -> int:
        return len(self.group)


def first_pass(files, cfg: CorpusConfig, tmp: Path, tally: Tally, count_tokens, token_every: int,
               workers: int) -> tuple[KeptMeta, list[int], Dropped, TokenFit]:
    """Read, clean, filter, dedupe; kept items go to kept.jsonl. Returns (their counts, group sizes, dropped, token fit)."""
    dropped = Dropped(tmp / "dropped.jsonl")
    seen_exact: set[bytes] = set()
    near = NearDuplicates(cfg.near_dup_threshold) if cfg.near_dup_threshold > 0 else None
    fit = TokenFit()
    groups: list[int] = []  # pieces per source document: pieces of one document stay on one side of the split
    kept_meta = KeptMeta()
    with open(tmp / "kept.jsonl", "w", encoding="utf-8") as out:
        for entries in _prepared(files, cfg, tally, tmp, count_tokens, token_every, workers):
            in_group = 0
            for entry in entries:
                if entry["drop"]:
                    dropped.add(entry["drop"], entry["piece"])
                    continue
                if cfg.dedupe_exact:
                    key = bytes.fromhex(entry["key"])
                    if key in seen_exact:
                        dropped.add(message("drop.exact"), json.loads(entry["line"]))
                        continue
                    seen_exact.add(key)
                if near is not None and near.seen_similar(entry["sig"]):
                    dropped.add(message("drop.near", t=cfg.near_dup_threshold), json.loads(entry["line"]))
                    continue
                if entry["tokens"] is not None:
                    fit.add(entry["cjk"], entry["chars"], entry["tokens"])
                out.write(entry["line"])
                kept_meta.add(len(groups), entry["chars"], entry["cjk"], entry["tokens"])
                in_group += 1
            if in_group:
                groups.append(in_group)
    dropped.fh.close()
    return kept_meta, groups, dropped, fit


def piece_sizes(meta: KeptMeta, fit: TokenFit, counted: bool) -> list[float]:
    """Each kept piece's tokens: counted, else estimated from its characters (the fit, or about a
    token per CJK character and per four other characters when there is no tokenizer)."""
    a, b = fit.coefficients() if counted and fit.samples else (1.0, 0.25)
    return [t if t >= 0 else a * cjk + b * (chars - cjk) for t, chars, cjk in zip(meta.tokens, meta.chars, meta.cjk)]


def previous_version(root: Path, name: str) -> tuple[str, dict[str, Path]] | None:
    """The corpus's latest version and its split files, before this ingest adds the next."""
    found = versions(root, name)
    if not found:
        return None
    folder = version_dir(root, name, found[-1])
    return found[-1], {side: folder / f"{side}.jsonl" for side in ("train", "val")}


def choose_validation(tmp: Path, meta: KeptMeta, fit: TokenFit, cfg: CorpusConfig, counted: bool,
                      previous: dict[str, Path] | None = None):
    """Plan the split (split.py) and apply it: whole documents flagged, or each document's end cut
    off into validation pieces. `previous`: the split files of the corpus's previous version, whose
    split is followed where it can be. Returns (plan, meta of kept.jsonl as it now is, validation flags)."""
    before = held = None
    if previous:
        before = split.document_sides(tmp / "kept.jsonl", meta.group, split.previous_sides(previous))
        if cfg.mode == "text" and len(set(meta.group)) < split.DOCUMENT_HOLDOUT_MIN_DOCS:  # document ends
            meta, held = split.split_at_held(tmp, meta, split.held_lines(previous["val"]), KeptMeta)
    sizes = piece_sizes(meta, fit, counted)
    plan = split.plan(sizes, meta.group, cfg.mode == "text", cfg.val_share, cfg.seed, before, held)
    if plan.method == "documents":
        return plan, meta, split.flags_for_documents(meta, plan)
    new_meta, flags = split.cut_document_ends(tmp, meta, sizes, plan, KeptMeta)
    return plan, new_meta, flags


def second_pass(tmp: Path, meta: KeptMeta, is_val: bytearray, count_tokens, fit: TokenFit) -> dict:
    """Split kept.jsonl into train and val (lines copied, not parsed); sum characters and tokens;
    the length histogram."""
    stats = {"train_documents": 0, "val_documents": 0, "characters": sum(meta.chars), "cjk_characters": sum(meta.cjk),
             "tokens": {"train": 0, "val": 0}, "estimated_documents": 0, "histogram": [0] * (len(HISTOGRAM_EDGES))}
    estimate = fit.coefficients() if fit.samples >= MIN_FIT_SAMPLES else None
    outs = {"train": open(tmp / "train.jsonl", "w", encoding="utf-8"), "val": open(tmp / "val.jsonl", "w", encoding="utf-8")}
    uncounted: list[tuple[str, str]] = []  # texts whose tokens are counted here, in batches

    def tally_length(split: str, n: int) -> None:
        stats["tokens"][split] += n
        stats["histogram"][min(len(HISTOGRAM_EDGES) - 1, max(0, math.ceil(math.log2(max(n, 1))) - 4))] += 1

    def flush():
        if uncounted:
            for (side, _), n in zip(uncounted, count_tokens([text for _, text in uncounted])):
                tally_length(side, n)
            uncounted.clear()

    with open(tmp / "kept.jsonl", encoding="utf-8") as fh:
        for index, line in enumerate(fh):
            side = "val" if is_val[index] else "train"
            outs[side].write(line)
            stats[f"{side}_documents"] += 1
            chars, cjk, tokens = meta.chars[index], meta.cjk[index], meta.tokens[index]
            if count_tokens is None:
                tally_length(side, chars)  # no tokenizer: the histogram is in characters
            elif tokens >= 0:
                tally_length(side, tokens)
            elif estimate is not None:
                stats["estimated_documents"] += 1
                tally_length(side, round(estimate[0] * cjk + estimate[1] * (chars - cjk)))
            else:
                uncounted.append((side, record_text(json.loads(line))))
                if len(uncounted) >= TOKEN_BATCH:
                    flush()
    flush()
    for fh in outs.values():
        fh.close()
    (tmp / "kept.jsonl").unlink()
    return stats


def token_sampling(total_bytes: int, cfg: CorpusConfig, count_tokens) -> int:
    """1 in how many texts get their tokens counted: all of a corpus up to EXACT_TOKEN_BYTES,
    else a hash-chosen sample of about that size, the rest estimated from their characters."""
    if count_tokens is None or cfg.exact_tokens:
        return 1
    return max(1, math.ceil(total_bytes / EXACT_TOKEN_BYTES))


def worker_count(total_bytes: int, count_tokens, requested: int | None) -> int:
    if requested is not None:
        return requested
    if total_bytes < PARALLEL_MIN_BYTES or (os.cpu_count() or 1) < 2:
        return 1  # starting worker processes costs about a second: not worth it for small corpora
    try:
        pickle.dumps(count_tokens)
    except Exception:  # noqa: BLE001 - a counter that cannot travel to a worker (a lambda) runs here
        return 1
    return os.cpu_count() or 1


def ingest(files: list[tuple[Path, str]], cfg: CorpusConfig, root: Path,
           count_tokens: Callable[[list[str]], list[int]] | None = None, tokenizer_name: str = "",
           workers: int | None = None) -> dict:
    """Ingest (path, display name) pairs into a new version of corpus `cfg.name`; return its manifest.
    `count_tokens` runs in worker processes for large corpora, so it must pickle (no lambda);
    `workers` overrides the automatic choice (1 = all in this process)."""
    check_name(cfg.name, "corpus name")
    if not files:
        raise CorpusError("corpus.no_files")
    tmp = scratch_dir(root, cfg.name)
    tally = Tally()
    tally.rules = {label: 0 for switch, label in SWITCH_RULES.items() if getattr(cfg, switch)}
    tally.rules.update({label: 0 for label in DEBRIS_RULES.values()})  # always on, reported even when nothing was found
    started = time.time()
    try:
        total_bytes = sum(Path(path).stat().st_size for path, _ in files)
        kept, _, dropped, fit = first_pass(files, cfg, tmp, tally, count_tokens,
                                                token_sampling(total_bytes, cfg, count_tokens),
                                                worker_count(total_bytes, count_tokens, workers))
        _check_something_left(cfg, tally, kept, dropped)
        previous = previous_version(root, cfg.name)
        plan, kept, is_val = choose_validation(tmp, kept, fit, cfg, count_tokens is not None,
                                               previous[1] if previous else None)
        stats = second_pass(tmp, kept, is_val, count_tokens, fit)
        held_out = stats["tokens"] if count_tokens else {"train": 0, "val": 0}
        if not count_tokens:  # no tokenizer: the split is stated in characters' token estimate
            sizes = piece_sizes(kept, fit, False)
            for size, val in zip(sizes, is_val):
                held_out["val" if val else "train"] += round(size)
        if stats["val_documents"] < split.MIN_VAL_PIECES or held_out["val"] < split.MIN_VAL_TOKENS / 2:
            raise CorpusError("corpus.few_breaks", pieces=stats["val_documents"], tokens=held_out["val"])
        split_summary, warnings = split.report(plan, held_out)
        if previous and (plan.method == "documents" or plan.held_again):
            split_summary["follows"] = previous[0]  # held out what that version held out, where it could
        (tmp / "skipped_rows.json").write_text(json.dumps(tally.skipped_examples, ensure_ascii=False), encoding="utf-8")
        manifest = _manifest(cfg, tally, stats, dropped, split_summary, warnings, count_tokens, tokenizer_name)
        manifest.ingest_seconds = round(time.time() - started, 2)
        return commit_version(root, cfg.name, tmp, manifest)
    except BaseException:
        discard(tmp)
        raise


def _check_something_left(cfg: CorpusConfig, tally: Tally, kept, dropped: Dropped) -> None:
    """Refuse a corpus where most rows were unusable or nothing was kept, saying why."""
    if tally.rows_seen:
        valid = tally.rows_seen - sum(tally.rows_skipped.values())
        if valid < cfg.min_valid_share * tally.rows_seen:
            reasons = [message("corpus.rows_reason", n=n, reason=tally.skip_reasons[why])
                       for why, n in sorted(tally.rows_skipped.items(), key=lambda x: -x[1])]
            raise CorpusError("corpus.rows_invalid", valid=valid, seen=tally.rows_seen, mode=cfg.mode,
                              share=cfg.min_valid_share, reasons=reasons)
    if len(kept) == 0:
        raise CorpusError("corpus.nothing_left", dropped=", ".join(
            f"{v} {render('en', dropped.reasons[k])}" for k, v in dropped.counts.items()) or "-")


def _manifest(cfg: CorpusConfig, tally: Tally, stats: dict, dropped: Dropped, split_summary: dict, warnings: list,
              count_tokens, tokenizer_name: str) -> CorpusManifest:
    documents = stats["train_documents"] + stats["val_documents"]
    tokens = None
    if count_tokens:
        estimated = stats["estimated_documents"]
        tokens = {**stats["tokens"], "tokenizer": tokenizer_name,
                  "counted": "exact" if not estimated else
                  f"exact for {documents - estimated} sampled documents, estimated from characters for {estimated}"}
    return CorpusManifest(
        name=cfg.name, mode=cfg.mode, settings=to_dict(cfg), sources=tally.sources, passed_over=tally.passed_over,
        rows={"seen": tally.rows_seen, "skipped": tally.rows_skipped, "reasons": tally.skip_reasons}, rules=tally.rules,
        rule_examples=tally.rule_examples, documents=documents,
        train_documents=stats["train_documents"], val_documents=stats["val_documents"], split=split_summary,
        warnings=warnings, characters=stats["characters"],
        cjk_share=round(stats["cjk_characters"] / max(stats["characters"], 1), 4), dropped=dropped.counts,
        drop_reasons=dropped.reasons, tokens=tokens,
        length_histogram={"unit": "tokens" if count_tokens else "characters",
                          "upper_edges": HISTOGRAM_EDGES[1:] + ["more"], "counts": stats["histogram"]})
