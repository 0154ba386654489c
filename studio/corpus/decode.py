"""Bytes to text, exactly or not at all.

Order: byte-order marks (UTF-8, UTF-16, UTF-32), then strict UTF-8, then the legacy Chinese
encodings GB18030 (covers GBK and GB2312) and Big5, then charset-normalizer for the rest.
Big5 bytes often decode *without error* as GB18030 into nonsense (and short GB text decodes
as Big5), so among the legacy encodings that decode cleanly we pick the one whose text is most
plausible: the largest share of common hanzi and CJK punctuation, instead of the first that
raises no error. Nothing is ever replaced with U+FFFD.
"""
from __future__ import annotations

import codecs
from functools import lru_cache

from studio.messages import Keyed

BOMS = [  # UTF-32 LE before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]
CHINESE_LEGACY = ("gb18030", "big5")
MIN_PLAUSIBILITY = 0.6  # below this share of plausible characters a legacy decoding is nonsense
SAMPLE_CHARS = 20_000


class CorpusError(Keyed, ValueError):
    """Bad input; the message names the file (and line) and what to do (a key in studio/messages.py
    and its values)."""


# The codecs double as frequency tables: GB2312 level 1 (lead bytes B0-D7) holds the 3,755 most
# common simplified characters; Big5 lead bytes A4-C6 hold its 5,401 common traditional ones.
COMMON_RANGES = {"gb2312": (0xB0, 0xD7), "big5": (0xA4, 0xC6)}
STANDARD_OF = {"gb18030": ("gb2312",), "big5": ("big5",), None: ("gb2312", "big5")}


@lru_cache(maxsize=65536)
def _common_in(ch: str, standard: str) -> bool:
    low, high = COMMON_RANGES[standard]
    try:
        return low <= ch.encode(standard)[0] <= high
    except UnicodeEncodeError:
        return False


def plausibility(text: str, encoding: str | None = None) -> float:
    """Share of the non-ASCII characters that are common hanzi or CJK/general punctuation.

    Hanzi count as common against the standard of `encoding` (a real GB text uses GB2312's
    common characters, a real Big5 text Big5's); with no encoding, against either.
    """
    standards = STANDARD_OF[encoding]
    good = total = 0
    for ch in text[:SAMPLE_CHARS]:
        if ch.isascii():
            continue  # ASCII reads the same in every candidate: it tells them nothing apart
        total += 1
        cp = ord(ch)
        if 0x4E00 <= cp <= 0x9FFF:
            good += any(_common_in(ch, s) for s in standards)
        elif 0x3000 <= cp <= 0x303F or 0xFF00 <= cp <= 0xFFEF or 0x2010 <= cp <= 0x206F:
            good += 1
    return good / total if total else 1.0


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def decode_bytes(data: bytes, source: str) -> tuple[str, str]:
    """Return (text, encoding) or raise CorpusError naming `source`."""
    if not data.strip():
        raise CorpusError("corpus.empty_file", file=source)
    for bom, encoding in BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom):], encoding)
            if text is None:
                raise CorpusError("corpus.bad_bom", file=source, encoding=encoding)
            return text, encoding
    if b"\x00" in data:
        raise CorpusError("corpus.binary", file=source)
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"

    candidates = [(plausibility(t, enc), -i, enc, t) for i, enc in enumerate(CHINESE_LEGACY) if (t := _strict(data, enc)) is not None]
    if candidates:
        score, _, encoding, text = max(candidates)  # ties go to GB18030, the more common one
        if score >= MIN_PLAUSIBILITY:
            return text, encoding

    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        text = str(best)
        has_hanzi = any(0x4E00 <= ord(c) <= 0x9FFF for c in text[:SAMPLE_CHARS])
        if "\ufffd" not in text and (plausibility(text) >= MIN_PLAUSIBILITY or not has_hanzi):
            return text, best.encoding
    raise CorpusError("corpus.unknown_encoding", file=source)
