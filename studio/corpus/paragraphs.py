"""Where a writer's paragraphs are, in every layout writers use:

- blank-line paragraphs (most English plain text and Markdown);
- one paragraph per line, with no blank line between (Chinese web novels and most Chinese
  editors, Word's "save as text"), often with an indented first line (`　　` or spaces);
- chapter and section headings (`第N章`, `Chapter N`, Markdown `#`), which start a new piece.

The cleaner uses this to know which lines must never be joined as hard-wrapped; the ingest uses it
to cut long documents into pieces and to cut a validation span off the end of a document.
"""
from __future__ import annotations

import re

_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                 r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty")
_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s+\S"  # Markdown
    r"|第\s*[0-9０-９〇零一二三四五六七八九十百千两]+\s*[章节回卷部篇集幕]"  # 第三章, 第12回
    r"|(?:序章|楔子|引子|尾声|后记|番外|序言|前言)(?:\s|$)"
    rf"|(?:chapter|book|part)\s+(?:\d+|[ivxlcdm]+|(?:{_NUMBER_WORDS})(?:-(?:{_NUMBER_WORDS}))?)\b"
    r"|(?:prologue|epilogue|interlude)\b)", re.I)
HEADING_MAX_CHARS = 60  # a heading is a short line; a long one that starts "Part two of ..." is prose
_INDENT = re.compile(r"^(?:\u3000+|\t+| {2,})\S")
# Nobody hard-wraps wider than this many columns (a CJK character takes two): a block with a
# longer line keeps one paragraph per line.
WRAP_COLUMNS_MAX = 150
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")


def is_heading(line: str) -> bool:
    return len(line.strip()) <= HEADING_MAX_CHARS and bool(_HEADING.match(line))


def starts_indented(line: str) -> bool:
    """A first-line indent marks a new paragraph (`　　` in Chinese prose, spaces or a tab elsewhere)."""
    return bool(_INDENT.match(line))


def columns(line: str) -> int:
    """Display width: East Asian wide characters take two columns."""
    return len(line) + sum(1 for c in line if "\u2e80" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or "\uff00" <= c <= "\uffef")


def one_per_line(lines: list[str]) -> bool:
    """A block whose lines are paragraphs, not hard-wrapped: some line is wider than anyone wraps."""
    return max(map(columns, lines), default=0) > WRAP_COLUMNS_MAX


def units(text: str, target: int) -> list[tuple[str, str]]:
    """(separator before, unit) pairs that join back into `text`: blank-line blocks, and a block
    longer than `target` characters cut into its lines (after cleaning, a line left inside a block is
    a paragraph in the one-per-line layout, a verse line or a list item; never half a sentence)."""
    out = []
    for b, block in enumerate(text.split("\n\n")):
        sep = "\n\n" if b else ""
        if len(block) <= target:
            out.append((sep, block))
            continue
        for k, line in enumerate(block.split("\n")):
            out.append((sep if k == 0 else "\n", line))
    return out


def sentences(text: str) -> list[tuple[str, str]]:
    """(separator before, sentence) pairs that join back into `text`."""
    out, start, sep = [], 0, ""
    for m in _SENTENCE_BREAK.finditer(text):
        if m.end() > start and m.start() > start:
            out.append((sep, text[start:m.start()]))
            sep, start = m.group(), m.end()
    return out + [(sep, text[start:])] if start < len(text) else out


def chunk_paragraphs(doc: str, target: int) -> list[str]:
    """Cut `doc` into pieces of about `target` characters, only at paragraph breaks; a heading
    starts a new piece once the current one is half full."""
    pieces, current = [], ""
    for sep, unit in units(doc, target):
        if current and (len(current) + len(unit) > target or (is_heading(unit) and len(current) >= target / 2)):
            pieces.append(current)
            current = unit
        else:
            current = f"{current}{sep}{unit}" if current else unit
    return pieces + ([current] if current.strip() else [])


def cut_tail(text: str, tail_chars: int) -> tuple[str, str]:
    """(head, tail) of `text` cut at the paragraph break that makes the tail closest to
    `tail_chars` characters; the head keeps at least one paragraph. ("", text) when there is no
    break to cut at."""
    parts = units(text, tail_chars)
    if len(parts) < 2:  # one paragraph: cut between sentences instead
        parts = sentences(text)
        if len(parts) < 2:
            return "", text
    # the tail starting at unit i has len(text) - start_i characters (its separator dropped)
    starts, position = [], 0
    for sep, unit in parts:
        starts.append(position + len(sep))
        position += len(sep) + len(unit)
    # a heading stays with the text it heads
    cuts = [i for i in range(1, len(parts)) if not is_heading(parts[i - 1][1])] or range(1, len(parts))
    best = min(cuts, key=lambda i: abs(len(text) - starts[i] - tail_chars))
    head_end = starts[best] - len(parts[best][0])
    return text[:head_end], text[starts[best]:]
