"""The validation split, measured in tokens.

The held-out share is `val_share` of the corpus's tokens (at most MAX_VAL_SHARE), and at least
enough to measure (MIN_VAL_PIECES pieces, MIN_VAL_TOKENS tokens). Two ways to hold it out:

- whole documents, when the corpus has enough of them that a few whole ones make up about the
  share: the better test, the model never saw a word of them;
- otherwise (a writer's two or three stories, one novel) the end of every document long enough,
  cut at a paragraph break: each document gives its last `val_share` of tokens, so validation is
  unseen text of every document, one contiguous span each, never paragraphs interleaved with the
  training text. Holding out one of two whole files would take half the writing, chosen by chance.

A new version of a corpus (a writer's added chapters) follows the previous one where it can: whole
documents held out before are held out first, documents trained on before are held out last; with
document ends, the paragraphs held out before are cut out and held out again (the old end of a
novel is mid-book once chapters are appended) and the new ends make up the rest. So a run that
keeps training on the new version is measured on text its parent never trained on, and the
parent's held-out text mostly stays out of the child's training.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from studio.corpus import clean
from studio.corpus.decode import CorpusError
from studio.messages import message
from studio.corpus.paragraphs import chunk_paragraphs, cut_tail

MAX_VAL_SHARE = 0.2
MIN_VAL_TOKENS = 256
MIN_VAL_PIECES = 2
DOCUMENT_HOLDOUT_MIN_DOCS = 10  # fewer documents: whole ones are too coarse a unit to hold out
MIN_TAIL_TOKENS = 48  # a document whose share would be shorter gives no tail; the others give more
HELD_LINE_CHARS = 8  # a shorter line (a heading, "***") is too common to say which version held it out
VAL_PIECE_TOKENS = 256  # held-out spans are cut into pieces of about this size (openings for style match)
SMALL_CORPUS_TOKENS = 5000  # below this many training tokens the report warns that little can be learnt


@dataclass
class SplitPlan:
    method: str  # "documents" or "document ends"
    why: dict  # a message (studio/messages.py): the reader's language is chosen when it is shown
    val_groups: set[int] = field(default_factory=set)  # documents held out whole
    tails: dict[int, float] = field(default_factory=dict)  # document -> tokens held out from its end
    held_again: set[int] = field(default_factory=set)  # pieces the previous version held out, held out again


def record_key(record: dict) -> str:
    """A kept record's identity across versions: its content without where it came from."""
    content = json.dumps({k: v for k, v in record.items() if k != "origin"}, ensure_ascii=False, sort_keys=True)
    return hashlib.blake2b(content.encode("utf-8"), digest_size=16).hexdigest()


def previous_sides(split_files: dict[str, Path]) -> dict[str, str]:
    """record key -> "train" or "val" in a version's split files ({} when there is none)."""
    sides = {}
    for side, path in split_files.items():
        if path.exists():
            with open(path, encoding="utf-8") as fh:
                sides.update((record_key(json.loads(line)), side) for line in fh if line.strip())
    return sides


def document_sides(kept: Path, group_of, previous: dict[str, str]) -> dict[int, str]:
    """Each new document's side in the previous version: "val" when any of its pieces was held
    out there, else "train" when any was trained on; documents new to this version are absent."""
    sides: dict[int, str] = {}
    with open(kept, encoding="utf-8") as fh:
        for group, line in zip(group_of, fh):
            side = previous.get(record_key(json.loads(line)))
            if side and sides.get(group) != "val":
                sides[group] = side
    return sides


def _line_key(line: str) -> bytes:
    return hashlib.blake2b(line.strip().encode("utf-8"), digest_size=12).digest()


def held_lines(val_file: Path) -> set[bytes]:
    """The lines (paragraphs) of a version's validation texts, as keys."""
    if not val_file.exists():
        return set()
    with open(val_file, encoding="utf-8") as fh:
        return {_line_key(line) for row in fh if row.strip()
                for line in json.loads(row).get("text", "").split("\n") if line.strip()}


def split_at_held(tmp: Path, meta, lines: set[bytes], meta_type):
    """Rewrite kept.jsonl so that text the previous version held out is pieces of its own: when a
    writer appends chapters, the old end is now mid-document, and it stays held out. A piece is cut
    only between lines (paragraphs); lines shorter than HELD_LINE_CHARS (headings, "***") follow
    their neighbours. Returns (new meta, indexes of the held pieces); (meta, set()) when none."""
    source, target = tmp / "kept.jsonl", tmp / "kept.held.jsonl"
    new_meta, held = meta_type(), set()
    with open(source, encoding="utf-8") as fh, open(target, "w", encoding="utf-8") as out:
        for index, row in enumerate(fh):
            record = json.loads(row)
            text, group = record.get("text", ""), meta.group[index]
            segments: list[list] = []  # [held?, lines]
            for line in text.split("\n"):
                side = _line_key(line) in lines if len(line.strip()) >= HELD_LINE_CHARS else None
                if segments and (side is None or side == segments[-1][0]):
                    segments[-1][1].append(line)
                else:
                    segments.append([bool(side), [line]])
            if not any(side for side, _ in segments):
                out.write(row)
                new_meta.add(group, meta.chars[index], meta.cjk[index], None if meta.tokens[index] < 0 else meta.tokens[index])
                continue
            for side, part in segments:
                segment = "\n".join(part).strip("\n")
                if not segment.strip():
                    continue
                pieces = [segment]
                if side:  # in validation pieces of about VAL_PIECE_TOKENS, as cut_document_ends makes them
                    cjk = clean.cjk_chars(segment)
                    per_char = (cjk + 0.25 * (len(segment) - cjk)) / len(segment)  # the ingest's rough token rate
                    pieces = chunk_paragraphs(segment, round(max(100, min(VAL_PIECE_TOKENS / per_char,
                                                                          len(segment) / MIN_VAL_PIECES))))
                for piece in pieces:
                    if side:
                        held.add(len(new_meta))
                    out.write(json.dumps({**record, "text": piece}, ensure_ascii=False) + "\n")
                    new_meta.add(group, len(piece), clean.cjk_chars(piece), None)
    if not held:
        target.unlink()
        return meta, set()
    target.replace(source)
    return new_meta, held


def plan(sizes: list[float], group_of, cuttable: bool, val_share: float, seed: int,
         before: dict[int, str] | None = None, held_before: set[int] | None = None) -> SplitPlan:
    """Decide the split from each kept piece's size in tokens and its document. `cuttable`: the
    pieces are prose (text mode) that may be cut at paragraph breaks; pairs and chat rows are not.
    `before`: each document's side in the previous version (document_sides), and `held_before`:
    the pieces that version held out (split_at_held); both followed where they can be."""
    total = sum(sizes)
    doc_sizes: dict[int, float] = {}
    doc_pieces: dict[int, int] = {}
    for size, group in zip(sizes, group_of):
        doc_sizes[group] = doc_sizes.get(group, 0.0) + size
        doc_pieces[group] = doc_pieces.get(group, 0) + 1
    share = min(val_share, MAX_VAL_SHARE)
    target = max(share * total, MIN_VAL_TOKENS)
    if target > MAX_VAL_SHARE * total:
        raise CorpusError("corpus.too_small", total=total, min_val=MIN_VAL_TOKENS, share=MIN_VAL_TOKENS / max(total, 1),
                          max_share=MAX_VAL_SHARE, need=MIN_VAL_TOKENS / MAX_VAL_SHARE)
    docs = len(doc_sizes)
    if docs >= DOCUMENT_HOLDOUT_MIN_DOCS or not cuttable:
        chosen = _whole_documents(doc_sizes, doc_pieces, target, total, seed, relaxed=not cuttable, before=before or {})
        if chosen:
            return SplitPlan("documents", message("split.documents", docs=docs, chosen=len(chosen), share=share),
                             val_groups=chosen)
        if not cuttable:
            raise CorpusError("corpus.rows_uneven", share=share, max_share=MAX_VAL_SHARE, docs=docs, total=total)
    held = set(held_before or ())
    held_tokens = sum(sizes[i] for i in held)
    if held_tokens > MAX_VAL_SHARE * total:  # most of the writing was cut since: start afresh
        held, held_tokens = set(), 0.0
    rest = target - held_tokens  # the new ends make up what the old held-out text does not
    # a sliver more is not worth moving text the previous version trained on into validation
    tails = _tails(doc_sizes, rest) if not held or rest >= max(MIN_TAIL_TOKENS, 0.25 * target) else {}
    if not tails:
        why = message("split.held_again", docs=docs, share=held_tokens / total)
    else:
        why = message("split.ends_one" if len(tails) == 1 else "split.ends", docs=docs, share=rest / total, cut=len(tails))
    return SplitPlan("document ends", why, tails=tails, held_again=held)


def _whole_documents(doc_sizes: dict, doc_pieces: dict, target: float, total: float, seed: int,
                     relaxed: bool = False, before: dict[int, str] | None = None) -> set[int]:
    """Documents in a seeded order (those held out in the previous version first, those trained on
    there last), added while they fit under the upper bound, until the target is reached. Empty
    when no such set comes near the target (a few huge documents); `relaxed` (rows that cannot be
    cut) takes any set that is enough to measure."""
    order = sorted(doc_sizes)
    random.Random(seed).shuffle(order)
    rank = {"val": 0, "train": 2}
    order.sort(key=lambda g: rank.get((before or {}).get(g), 1))  # stable: the seeded order within each rank
    upper = MAX_VAL_SHARE * total * 1.0001
    chosen, held = set(), 0.0
    for group in order:
        if held + doc_sizes[group] <= upper:
            chosen.add(group)
            held += doc_sizes[group]
            if held >= target:
                break
    enough = (relaxed or held >= 0.75 * target) and held >= MIN_VAL_TOKENS and sum(doc_pieces[g] for g in chosen) >= MIN_VAL_PIECES
    return chosen if enough and len(chosen) < len(doc_sizes) else set()


def _tails(doc_sizes: dict, target: float) -> dict[int, float]:
    """The target spread over the documents in proportion to their size; a document whose share
    would be too short to be a passage gives none and the others give more."""
    taking = dict(doc_sizes)
    while True:
        total = sum(taking.values())
        tails = {g: target * size / total for g, size in taking.items()}
        short = [g for g, t in tails.items() if t < MIN_TAIL_TOKENS]
        if not short or len(short) == len(taking):
            return tails
        for g in short:
            del taking[g]


def cut_document_ends(tmp: Path, meta, sizes: list[float], decided: SplitPlan, meta_type):
    """Rewrite kept.jsonl with each planned tail cut off its document's last pieces into validation
    pieces. Returns (new meta, is-validation flag per line). Cut pieces get their tokens counted later."""
    last_of: dict[int, int] = {}
    for index, group in enumerate(meta.group):
        last_of[group] = index
    # walk each document's pieces from its end: how much of each goes to validation, in tokens
    wanted: dict[int, float] = {}
    for group, tail in decided.tails.items():
        index = last_of[group]
        while tail > 0 and index >= 0 and meta.group[index] == group:
            if index not in decided.held_again:  # held out whole already
                wanted[index] = min(tail, sizes[index])
                tail -= sizes[index]
            index -= 1
    new_meta, is_val = meta_type(), bytearray()

    def add(record: dict, group: int, val: bool, tokens: int | None) -> None:
        text = record["text"]
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        new_meta.add(group, len(text), clean.cjk_chars(text), tokens)
        is_val.append(val)

    source, target = tmp / "kept.jsonl", tmp / "kept.split.jsonl"
    with open(source, encoding="utf-8") as fh, open(target, "w", encoding="utf-8") as out:
        for index, line in enumerate(fh):
            group, take = meta.group[index], wanted.get(index, 0.0)
            tokens = meta.tokens[index]
            if not take:
                out.write(line)
                new_meta.add(group, meta.chars[index], meta.cjk[index], None if tokens < 0 else tokens)
                is_val.append(index in decided.held_again)
                continue
            record = json.loads(line)
            text, per_char = record["text"], sizes[index] / max(len(record["text"]), 1)
            if take >= 0.98 * sizes[index]:
                head, tail = "", text
            else:
                head, tail = cut_tail(text, round(take / per_char))
                if not head:  # nowhere to cut: the piece stays in training
                    head, tail = text, ""
            if head:
                add({**record, "text": head}, group, False, None)
            if not tail:
                continue
            piece_chars = max(100, min(VAL_PIECE_TOKENS / per_char, len(tail) / MIN_VAL_PIECES))
            pieces = chunk_paragraphs(tail, round(piece_chars))
            for n, piece in enumerate(pieces, 1):
                origin = record["origin"] + (f" (end, part {n})" if len(pieces) > 1 else " (end)")
                add({"text": piece, "origin": origin}, group, True, None)
    target.replace(source)
    return new_meta, is_val


def flags_for_documents(meta, decided: SplitPlan) -> bytearray:
    return bytearray(group in decided.val_groups for group in meta.group)


def report(decided: SplitPlan, tokens: dict) -> tuple[dict, list[str]]:
    """The split as the manifest states it, and warnings for a corpus too small to learn from."""
    total = tokens["train"] + tokens["val"]
    summary = {"method": decided.method, "why": decided.why, "val_tokens": tokens["val"], "train_tokens": tokens["train"],
               "val_share": round(tokens["val"] / max(total, 1), 4)}
    warnings = []
    if tokens["train"] < SMALL_CORPUS_TOKENS:
        warnings.append(message("split.small", tokens=tokens["train"]))
    return summary, warnings
