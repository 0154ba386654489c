"""Any uploaded file to records: dispatch by type, recurse into zip archives safely.

Zip members are copied to scratch files whose names we make up, inside the corpus's own
temporary folder under the data root; a member name is never used as a path, so `../` or an
absolute name cannot write anywhere. Archives nest at most MAX_DEPTH deep.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from studio.corpus import bounded, readers, tabular
from studio.corpus.clean import RULE_LABELS, strip_page_furniture
from studio.corpus.decode import CorpusError
from studio.messages import message

MAX_DEPTH = 3


class Tally:
    """What the readers saw: per-file facts, skipped rows by reason, rule counts, archive members passed over."""

    def __init__(self):
        self.sources: list[dict] = []
        self.rows_seen = 0
        self.rows_skipped: dict[str, int] = {}  # reason id (tabular.skip_id) -> rows
        self.skip_reasons: dict[str, dict] = {}  # reason id -> its message
        self.rules: dict[str, int] = {}
        self.rule_examples: dict[str, dict] = {}  # rule label -> the first thing it removed {"before", "after"}
        self.passed_over: list[dict] = []
        self.skipped_examples: list[dict] = []

    def skip_row(self, origin: str, reason: dict) -> None:
        """Count a row skipped for `reason`, a `message()` dict."""
        rid = tabular.skip_id(reason)
        self.rows_skipped[rid] = self.rows_skipped.get(rid, 0) + 1
        self.skip_reasons.setdefault(rid, reason)
        if len(self.skipped_examples) < 1000:
            self.skipped_examples.append({"origin": origin, "reason": reason["key"], "fields": reason["fields"]})

    def count(self, rule: str, n: int = 1) -> None:
        if n:
            self.rules[rule] = self.rules.get(rule, 0) + n


def iter_source(path: Path, display: str, cfg, tally: Tally, scratch: Path, depth: int = 0) -> Iterator[dict]:
    suffix = path.suffix.lower()
    if suffix not in readers.SUPPORTED:
        raise CorpusError("corpus.file_type", file=display, suffix=suffix or path.name, supported=", ".join(readers.SUPPORTED))
    if suffix in readers.ARCHIVES:
        yield from _iter_zip(path, display, cfg, tally, scratch, depth)
        return
    if suffix in readers.TABULAR:
        encoding, rows = tabular.iter_rows(path, display)
        info = _source(tally, path, display, encoding)
        for origin, row in rows:
            tally.rows_seen += 1
            info["items"] += 1
            try:
                yield {**tabular.to_record(row, cfg.mode, _fields(cfg)), "origin": origin}
            except tabular.Skip as why:
                tally.skip_row(origin, message(why.key, **why.fields))
        return
    if cfg.mode != "text":
        raise CorpusError("corpus.prose_in_rows_mode", file=display, suffix=suffix, mode=cfg.mode)
    if suffix in readers.DOCUMENTS:
        extracted = bounded.extract(path, display)
        info = _source(tally, path, display, suffix.lstrip("."))
        if "pages" in extracted:
            pages = extracted["pages"]
            if cfg.strip_page_furniture:
                text, removed = strip_page_furniture(pages)
                tally.count(RULE_LABELS["strip_page_furniture"], removed)
            else:
                text = "\n\n".join(pages)
            documents = [text] if text.strip() else []
            info["pages"] = len(pages)
        else:
            documents = extracted["documents"]
        if not documents:
            raise CorpusError("corpus.no_text", file=display)
        for i, doc in enumerate(documents):
            info["items"] += 1
            yield {"text": doc, "origin": f"{display}#{i + 1}" if len(documents) > 1 else display}
        return
    encoding, records = (readers.iter_html if suffix in readers.HTML else readers.iter_prose)(path, display)
    info = _source(tally, path, display, encoding)
    for record in records:
        info["items"] += 1
        yield record


def _fields(cfg) -> dict:
    return {"text": cfg.text_field, "prompt": cfg.prompt_field, "response": cfg.response_field, "messages": cfg.messages_field}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _source(tally: Tally, path: Path, display: str, encoding: str) -> dict:
    info = {"file": display, "sha256": _sha256(path), "bytes": path.stat().st_size, "encoding": encoding, "items": 0}
    tally.sources.append(info)
    return info


def _iter_zip(path: Path, display: str, cfg, tally: Tally, scratch: Path, depth: int) -> Iterator[dict]:
    if depth >= MAX_DEPTH:
        raise CorpusError("corpus.nested", file=display, depth=MAX_DEPTH)
    with bounded.check_zip_bounds(path, display) as archive:
        for info in archive.infolist():
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if info.is_dir():
                continue
            where = f"{display}/{name}"
            if name.startswith(("/", "\\")) or ".." in parts or ":" in name.split("/")[0]:
                tally.passed_over.append({"file": where, "reason": message("passed.unsafe")})
                continue
            suffix = PurePosixPath(name).suffix.lower()
            if parts[0] == "__MACOSX" or parts[-1].startswith(".") or suffix not in readers.SUPPORTED:
                tally.passed_over.append({"file": where, "reason": message("passed.type")})
                continue
            folder = Path(tempfile.mkdtemp(dir=scratch, prefix="member-"))
            try:
                member = folder / f"member{suffix}"  # our name, never the archive's
                with archive.open(info) as src, open(member, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                yield from iter_source(member, where, cfg, tally, scratch, depth + 1)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
