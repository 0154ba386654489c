"""Documents that need a real parser (PDF, DOCX, EPUB) are read in a child process with a time
limit and a memory limit, after a check of the zip container (DOCX and EPUB are zips) for
bombs. A hostile or broken file ends in a clear refusal; the app itself never hangs on it."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

from studio.corpus.decode import CorpusError
from studio.messages import MESSAGES, message
from studio.paths import PROJECT_ROOT

TIME_LIMIT_S = 120
MEMORY_LIMIT_BYTES = 3 * 1024**3
MAX_UNZIPPED_BYTES = 512 * 1024**2
MAX_RATIO = 200  # a member that expands more than this from its compressed size is a bomb, not a document


def check_zip_bounds(path: Path, display: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise CorpusError("corpus.zip_damaged", file=display, kind=path.suffix.lower().lstrip(".").upper() or "ZIP") from None
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.file_size > 1024**2 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise CorpusError("corpus.zip_bomb", file=display, member=info.filename,
                              ratio=info.file_size // max(info.compress_size, 1))
    if total > MAX_UNZIPPED_BYTES:
        raise CorpusError("corpus.zip_too_big", file=display, mb=total / 1e6, limit=MAX_UNZIPPED_BYTES / 1e6)
    return archive


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def extract(path: Path, display: str) -> dict:
    """{"pages": [...]} for a PDF, {"documents": [...]} for DOCX and EPUB."""
    kind = path.suffix.lower().lstrip(".")
    if kind in ("docx", "epub"):
        check_zip_bounds(path, display).close()
    try:
        done = subprocess.run([sys.executable, "-m", "studio.corpus.extract", kind, str(path)],
                              cwd=PROJECT_ROOT, capture_output=True, timeout=TIME_LIMIT_S, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        raise CorpusError("corpus.read_timeout", file=display, seconds=TIME_LIMIT_S) from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CorpusError("corpus.unreadable", file=display, kind=kind.upper(), why=_why(lines, done.returncode))
    return json.loads(done.stdout)


def _why(stderr_lines: list[str], code: int) -> dict | str:
    """Why the reader failed: its last line of stderr, which is a message key when the reader itself
    refused the file (a password-protected PDF), else a library's own words, cut short."""
    if not stderr_lines:
        return message("corpus.reader_stopped", code=code)
    last = stderr_lines[-1].strip()
    return message(last) if last in MESSAGES else last[:300]
