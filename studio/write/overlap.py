"""Corpus-overlap guard: which spans of a draft reproduce the training corpus.

A span counts as copied when it repeats at least 8 consecutive words of the corpus, or 13
consecutive CJK characters (Chinese has no spaces; 13 characters carry about as much as 8 English
words). Words and CJK characters are hashed (crc32 of the lower-cased unit, stable across
processes), windows are combined with a polynomial hash in numpy, and the corpus's windows are kept
as one sorted uint64 array per corpus version, cached beside the corpus. A draft is checked by
hashing its own windows and looking them up with `np.isin`.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from studio.jsonio import temp_name

WORD_WINDOW = 8
CJK_WINDOW = 13
_UNIT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]|[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_PRIME = np.uint64(1099511628211)
INDEX_FILE = "overlap-index.npy"
_loaded: dict[Path, np.ndarray] = {}


def units(text: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(unit hashes, is-CJK flags, character spans) of the words and CJK characters of `text`."""
    found = list(_UNIT.finditer(text))
    hashes = np.fromiter((zlib.crc32(m.group().lower().encode("utf-8")) for m in found), dtype=np.uint64, count=len(found))
    cjk = np.fromiter((bool(_CJK.match(m.group())) for m in found), dtype=bool, count=len(found))
    return hashes, cjk, [m.span() for m in found]


def windows(hashes: np.ndarray, cjk: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """For each window kind: (window hashes, start positions, window length). A word window holds
    only words, a CJK window only CJK characters."""
    out = []
    for size, kind in ((WORD_WINDOW, False), (CJK_WINDOW, True)):
        count = len(hashes) - size + 1
        if count <= 0:
            continue
        with np.errstate(over="ignore"):  # the hash wraps around 2**64 on purpose
            value = np.zeros(count, dtype=np.uint64)
            for k in range(size):
                value = value * _PRIME + hashes[k:k + count]
        same_kind = np.concatenate([[0], np.cumsum(cjk == kind)])
        whole = (same_kind[size:size + count] - same_kind[:count]) == size
        starts = np.nonzero(whole)[0]
        out.append((value[starts] + np.uint64(size), starts, size))  # + size keeps the two kinds apart
    return out


def build_index(texts) -> np.ndarray:
    parts = []
    for text in texts:
        for value, _, _ in windows(*units(text)[:2]):
            parts.append(value)
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def record_texts(record: dict):
    for key in ("text", "prompt", "response"):
        if record.get(key):
            yield record[key]
    for message in record.get("messages", []):
        yield message.get("content", "")


def corpus_index(root: Path, corpus: str, version: str = "") -> np.ndarray:
    """The window index of a corpus version (train and validation), built once, cached on disk and
    kept in memory."""
    from studio.corpus.store import read_manifest, read_split, version_dir

    manifest = read_manifest(root, corpus, version)
    path = version_dir(root, corpus, manifest["version"]) / INDEX_FILE
    if path in _loaded:  # corpus versions never change: one load per process
        return _loaded[path]
    if path.exists():
        _loaded[path] = np.load(path)
        return _loaded[path]
    texts = (t for split in ("train", "val") for r in read_split(root, corpus, manifest["version"], split) for t in record_texts(r))
    index = build_index(texts)
    tmp = temp_name(path)  # this thread's own: two visitors' first drafts of a run may build it at once
    with open(tmp, "wb") as fh:
        np.save(fh, index)
    tmp.replace(path)
    _loaded[path] = index
    return index


def copied_spans(text: str, index: np.ndarray) -> dict:
    """The character spans of `text` found in the corpus index (merged), and the share of the
    text's visible characters they cover."""
    hashes, cjk, spans = units(text)
    covered: list[tuple[int, int]] = []
    for value, starts, size in windows(hashes, cjk):
        for start in starts[np.isin(value, index)]:
            covered.append((spans[start][0], spans[start + size - 1][1]))
    merged: list[list[int]] = []
    for a, b in sorted(covered):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    visible = sum(1 for c in text if not c.isspace())
    copied = sum(1 for a, b in merged for c in text[a:b] if not c.isspace())
    return {"spans": [tuple(m) for m in merged], "share": round(copied / visible, 4) if visible else 0.0,
            "copied_chars": copied}


def highlighted(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, str | None]]:
    """`text` cut into (segment, "copied" or None) pieces, for a highlighted view."""
    pieces, at = [], 0
    for a, b in spans:
        if a > at:
            pieces.append((text[at:a], None))
        pieces.append((text[a:b], "copied"))
        at = b
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces
