"""Bytes to text: BOMs first, then strict UTF-8, then GB18030 (a superset of GBK and GB2312).

A file decodes exactly or is refused; nothing is replaced with U+FFFD.
"""
from __future__ import annotations

import codecs

BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]
FALLBACKS = ("utf-8", "gb18030")


class CorpusError(ValueError):
    """Bad input; the message names the file (and line) and what to do."""


def decode_bytes(data: bytes, source: str) -> tuple[str, str]:
    """Return (text, encoding) or raise CorpusError naming `source`."""
    if not data.strip():
        raise CorpusError(f"{source}: the file is empty; add some text or leave it out")
    for bom, encoding in BOMS:  # UTF-32 LE before UTF-16 LE: its BOM starts with UTF-16 LE's
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding), encoding
            except UnicodeDecodeError as e:
                raise CorpusError(f"{source}: starts with a {encoding} byte-order mark but is not valid {encoding} at byte {e.start}") from None
    if b"\x00" in data:
        raise CorpusError(f"{source}: looks binary (it contains NUL bytes); upload text, not images or programs")
    for encoding in FALLBACKS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise CorpusError(
        f"{source}: not valid UTF-8 or GB18030 text; save it as UTF-8 (in most editors: Save As, encoding UTF-8)"
    )
