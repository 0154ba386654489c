"""The ingest pipeline: files -> documents -> cleaned -> deduplicated -> split -> stored version."""
from __future__ import annotations

import hashlib
import random
import re
import time
import unicodedata
from pathlib import Path
from typing import Callable

from studio.config import CorpusConfig
from studio.corpus.decode import CorpusError
from studio.corpus.readers import read_documents
from studio.corpus.store import write_version
from studio.paths import check_name

CHUNK_CHARS = 1500  # a lone long document is cut at paragraphs into pieces about this long


def clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _dedupe_key(text: str) -> str:
    # Exact duplicates up to case and white space.
    return hashlib.sha256(" ".join(text.casefold().split()).encode("utf-8")).hexdigest()


def chunk_paragraphs(doc: str, target: int = CHUNK_CHARS) -> list[str]:
    pieces, current = [], ""
    for para in doc.split("\n\n"):
        if current and len(current) + len(para) > target:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    return pieces + ([current] if current else [])


def split_documents(docs: list[str], cfg: CorpusConfig) -> tuple[list[str], list[str]]:
    """Seeded split by document: no document is on both sides."""
    order = list(range(len(docs)))
    random.Random(cfg.seed).shuffle(order)
    n_val = min(max(cfg.min_val_docs, round(cfg.val_share * len(docs))), len(docs) - 1)
    val_ids = set(order[:n_val])
    return [d for i, d in enumerate(docs) if i not in val_ids], [d for i, d in enumerate(docs) if i in val_ids]


def ingest(
    files: list[tuple[Path, str]],
    cfg: CorpusConfig,
    root: Path,
    count_tokens: Callable[[str], int] | None = None,
    tokenizer_name: str = "",
) -> dict:
    """Ingest (path, display name) pairs into a new version of corpus `cfg.name`; return its manifest."""
    check_name(cfg.name, "corpus name")
    if not files:
        raise CorpusError("no files given: add at least one .txt or .md file")
    sources, docs = [], []
    for path, display in files:
        found, encoding = read_documents(path, display)
        sources.append({
            "file": display,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size,
            "encoding": encoding,
            "documents": len(found),
        })
        docs.extend(found)

    dropped = {"too_short": 0, "exact_duplicate": 0}
    kept, seen = [], set()
    for doc in map(clean, docs):
        if len(doc) < cfg.min_chars:
            dropped["too_short"] += 1
            continue
        key = _dedupe_key(doc)
        if key in seen:
            dropped["exact_duplicate"] += 1
            continue
        seen.add(key)
        kept.append(doc)
    if not kept:
        raise CorpusError(
            f"no documents left after cleaning ({dropped['too_short']} shorter than {cfg.min_chars} characters, "
            f"{dropped['exact_duplicate']} duplicates): add more text or lower min_chars"
        )
    if len(kept) == 1:  # a single book or story: cut it so a validation split can exist
        kept = chunk_paragraphs(kept[0])
    if len(kept) < 2:
        raise CorpusError("the corpus is one short document; validation needs at least two: add more text")

    train, val = split_documents(kept, cfg)
    manifest = {
        "name": cfg.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "mode": cfg.mode,
        "settings": {"val_share": cfg.val_share, "min_val_docs": cfg.min_val_docs, "min_chars": cfg.min_chars, "seed": cfg.seed},
        "sources": sources,
        "documents": len(kept),
        "train_documents": len(train),
        "val_documents": len(val),
        "characters": sum(map(len, kept)),
        "dropped": dropped,
    }
    if count_tokens:
        manifest["tokens"] = {
            "train": sum(map(count_tokens, train)),
            "val": sum(map(count_tokens, val)),
            "tokenizer": tokenizer_name,
        }
    write_version(root, cfg.name, manifest, train, val)
    return manifest
