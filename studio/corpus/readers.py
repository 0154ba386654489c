"""Files to documents. A .txt or .md file is one document, or several separated by a line of
`---`, `***` or `* * *` alone (or a form feed), the way writers mark breaks between pieces."""
from __future__ import annotations

import re
from pathlib import Path

from studio.corpus.decode import CorpusError, decode_bytes

SUPPORTED = (".txt", ".md")
MAX_FILE_BYTES = 200 * 1024 * 1024
_SEPARATOR = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|(?:\* ){2,}\*|\f)[ \t]*$|\f", re.MULTILINE)


def read_documents(path: Path, display_name: str | None = None) -> tuple[list[str], str]:
    """Documents in `path` and the encoding it was read with."""
    name = display_name or path.name
    if path.suffix.lower() not in SUPPORTED:
        raise CorpusError(f"{name}: unsupported file type '{path.suffix}'; use {', '.join(SUPPORTED)}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"{name}: {size / 1e6:.0f} MB is over the {MAX_FILE_BYTES // 10**6} MB limit per file; split it")
    text, encoding = decode_bytes(path.read_bytes(), name)
    docs = [d.strip() for d in _SEPARATOR.split(text)]
    return [d for d in docs if d], encoding
