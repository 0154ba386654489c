"""Files to records, one at a time, so a large corpus never sits in memory whole.

A record is {"text": ...} (text mode), {"prompt", "response"} (pairs) or {"messages": [...]}
(chat), plus "origin" naming the file and line or row it came from. Prose formats give text
records; tabular formats (tabular.py) give whatever their fields map to; documents that need a
parser (PDF, DOCX, EPUB) are read in a bounded subprocess (bounded.py); archives in archive.py.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Iterator

from studio.corpus.decode import CorpusError, decode_bytes

PROSE = (".txt", ".md", ".markdown", ".text")
HTML = (".html", ".htm", ".xhtml")
TABULAR = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
DOCUMENTS = (".pdf", ".docx", ".epub")
ARCHIVES = (".zip",)
SUPPORTED = PROSE + HTML + TABULAR + DOCUMENTS + ARCHIVES

MAX_FILE_BYTES = 2 * 1024**3  # 2 GB a file: larger ones are split by the writer first
MAX_DOC_CHARS = 5_000_000  # one document (or line) longer than this is refused, not loaded
MAX_HTML_MB = 200  # an HTML page is parsed whole
SAMPLE_BYTES = 1 << 20  # the encoding is chosen on the first MiB, then the rest streams
_SEPARATOR = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|(?:\* ){2,}\*)[ \t]*$")


def check_size(path: Path, display: str) -> int:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CorpusError("corpus.file_too_big", file=display, gb=size / 1e9, limit=MAX_FILE_BYTES / 1e9)
    return size


def iter_lines(path: Path, display: str) -> tuple[str, Iterator[str]]:
    """(encoding, lines with their endings), decoded strictly and incrementally."""
    check_size(path, display)
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    cut = sample.rfind(b"\n") + 1 if len(sample) == SAMPLE_BYTES and b"\n" in sample else len(sample)
    _, encoding = decode_bytes(sample[:cut] or sample, display)
    return encoding, _stream(path, display, encoding)


# The BOM-aware codecs consume a byte-order mark themselves (utf-8-sig also reads plain UTF-8).
_STREAM_CODEC = {"utf-8": "utf-8-sig", "utf-16-le": "utf-16", "utf-16-be": "utf-16", "utf-32-le": "utf-32", "utf-32-be": "utf-32"}


def _stream(path: Path, display: str, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(_STREAM_CODEC.get(encoding, encoding))(errors="strict")
    pending, line_no, offset = "", 0, 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(SAMPLE_BYTES)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                raise CorpusError("corpus.mixed_encoding", file=display, encoding=encoding, byte=offset + e.start,
                                  line=line_no) from None
            offset += len(chunk)
            lines = (pending + text).splitlines(keepends=True)
            pending = lines.pop() if lines and chunk and not lines[-1].endswith(("\n", "\r")) else ""
            if len(pending) > MAX_DOC_CHARS:
                raise CorpusError("corpus.line_too_long", file=display, line=line_no + len(lines) + 1, limit=MAX_DOC_CHARS)
            for line in lines:
                line_no += 1
                yield line
            if not chunk:
                return


def iter_prose(path: Path, display: str) -> tuple[str, Iterator[dict]]:
    """A .txt/.md file: one document, or several split by a line of ---, *** or * * * (or a form feed)."""
    encoding, lines = iter_lines(path, display)

    def documents():
        buf, size, start, line_no = [], 0, 1, 0
        for line in lines:
            line_no += 1
            parts = line.split("\f")
            for i, part in enumerate(parts):
                if i:  # a form feed ends a document
                    yield from _emit(buf, display, start)
                    buf, size, start = [], 0, line_no
                if _SEPARATOR.match(part.rstrip("\r\n")):
                    yield from _emit(buf, display, start)
                    buf, size, start = [], 0, line_no + 1
                    continue
                buf.append(part)
                size += len(part)
                if size > MAX_DOC_CHARS:
                    raise CorpusError("corpus.document_too_long", file=display, line=start, limit=MAX_DOC_CHARS)
        yield from _emit(buf, display, start)

    return encoding, documents()


def _emit(buf: list[str], display: str, start: int) -> Iterator[dict]:
    text = "".join(buf).strip()
    if text:
        yield {"text": text, "origin": f"{display}:{start}"}


_BLOCKS = "p,div,h1,h2,h3,h4,h5,h6,li,blockquote,pre,tr,section,article,header,footer,dt,dd,figcaption"


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page, paragraphs kept apart, scripts and styles dropped."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    tree.strip_tags(["script", "style", "noscript", "template", "svg", "head"])
    for node in tree.css("br"):
        node.insert_after("\n")
    for node in tree.css(_BLOCKS):
        node.insert_after("\n\n")
    root = tree.body or tree.root
    text = root.text(separator="") if root is not None else ""
    return re.sub(r"\n[ \t]+", "\n", re.sub(r"[ \t]+", " ", text))


def iter_html(path: Path, display: str) -> tuple[str, Iterator[dict]]:
    size = check_size(path, display)
    if size > MAX_HTML_MB * 1024**2:
        raise CorpusError("corpus.html_too_big", file=display, mb=MAX_HTML_MB)
    text, encoding = decode_bytes(path.read_bytes(), display)
    body = html_to_text(text).strip()
    return encoding, iter([{"text": body, "origin": display}] if body else [])
