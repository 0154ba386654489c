"""Cleaning rules. Each reports how many items it changed, so the corpus report can say what each
rule did. Most are switches in CorpusConfig; the terminal and control debris rules (DEBRIS_RULES,
studio/textclean.py) always run: escape codes and control characters are never trained on."""
from __future__ import annotations

import re
import unicodedata
from collections import Counter

from studio import textclean
from studio.messages import stored_reason
from studio.corpus.paragraphs import is_heading, one_per_line, starts_indented

SWITCH_RULES = {  # switch in CorpusConfig -> what the corpus report calls its count
    "nfc": "unicode normalised (NFC)",
    "strip_markup": "HTML markup stripped",
    "join_lines": "hard-wrapped lines joined",
    "mask_pii": "e-mails and phone numbers masked",
    "strip_page_furniture": "page headers, footers and numbers removed (lines)",
    "chunk_chars": "long documents cut into pieces",
}
DEBRIS_RULES = {  # always on: textclean's rule -> what the corpus report calls its count (the label is its key)
    textclean.ESCAPES: "terminal escape sequences removed",
    textclean.BARE_CODES: "colour codes without their ESC byte removed",
    textclean.OVERSTRIKES: "backspace overstrikes resolved (letter kept)",
    textclean.CONTROLS: "control characters removed",
}
RULE_LABELS = {**SWITCH_RULES, **DEBRIS_RULES}  # every rule -> its label; the report keys its message rule.<rule>
# Why an item was dropped: a message key (studio/messages.py) and its values. The manifest counts
# dropped items by key ("dropped": {"drop.near": 2}) and keeps each key's message beside the counts
# ("drop_reasons": {"drop.near": {"key": "drop.near", "fields": {"t": 0.85}}}); dropped.jsonl
# names the key and its fields on every line. Manifests written before the keys counted by the
# English sentence; `drop_reason` reads both.
_OLD_DROP_REASONS = [(r"exact duplicate", "drop.exact"), (r"near duplicate \(similarity >= (?P<t>[\d.]+)\)", "drop.near"),
                     (r"shorter than (?P<n>\d+) characters", "drop.short"), (r"longer than (?P<n>\d+) characters", "drop.long")]


def drop_reason(manifest: dict, reason: str) -> dict | str:
    """The message a key of `manifest["dropped"]` stands for (render it with messages.render); an
    older manifest's English reason as the same message; anything else as it is."""
    return stored_reason(reason, manifest.get("drop_reasons", {}), _OLD_DROP_REASONS)


def dropped_item_reason(item: dict) -> dict | str:
    """The message of one line of dropped.jsonl ({"reason": key, "fields": values}, or an older
    line's English reason)."""
    if "fields" in item:
        return {"key": item["reason"], "fields": item["fields"]}
    return drop_reason({}, item["reason"])


_CJK = r"\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SENTENCE_END = tuple('.!?;:"\'”’」』)）。！？；：…—')
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?\s*(?:(?:of|/)\s*\d{1,4})?\s*$|^\s*第\s*\d{1,4}\s*页\s*$", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\w.])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3,4}[ .-]?\d{3,4}(?:[ .-]?\d{2,4})?(?!\w|\.\d)")
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")


def remove_debris(text: str, rules: Counter, examples: dict) -> str:
    """Terminal and control debris out (studio/textclean.py): each rule's count added to `rules`
    under its label, and its first example ({"before", "after"}, escapes shown) kept in `examples`."""
    cleaned = textclean.remove_debris(text)
    for rule, n in cleaned.counts.items():
        rules[DEBRIS_RULES[rule]] += n
        examples.setdefault(DEBRIS_RULES[rule], cleaned.examples[rule])
    return cleaned.text


def normalize_whitespace(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def join_wrapped_lines(text: str) -> tuple[str, int]:
    """Join hard-wrapped lines inside paragraphs (a line that fills most of the width and does not
    end a sentence continues on the next). CJK joins without a space; other scripts with one.
    Short lines, lists, verse, headings and indented first lines stay as they are, and so does a
    block laid out one paragraph per line (see paragraphs.py)."""
    joins = 0
    paragraphs = []
    for para in text.split("\n\n"):
        lines = para.split("\n")
        width = max(map(len, lines))
        if len(lines) < 2 or width < 30 or one_per_line(lines):
            paragraphs.append(para)
            continue
        out = lines[0]
        for prev, line in zip(lines, lines[1:]):
            wrapped = len(prev) >= 0.6 * width and not prev.rstrip().endswith(_SENTENCE_END) and line.strip() \
                and not re.match(r"\s*(?:[-*•·]|\d+[.)])\s", line) and not starts_indented(line) \
                and not is_heading(prev) and not is_heading(line)
            if wrapped:
                joins += 1
                cjk = re.search(f"[{_CJK}]$", out) and re.match(f"[{_CJK}]", line.lstrip())
                out = out.rstrip() + ("" if cjk else " ") + line.lstrip()
            else:
                out += "\n" + line
        paragraphs.append(out)
    return "\n\n".join(paragraphs), joins


def strip_markup(text: str) -> tuple[str, bool]:
    if "<" not in text or not _TAG.search(text):
        return text, False
    from studio.corpus.readers import html_to_text

    return html_to_text(text).strip(), True


def mask_pii(text: str) -> tuple[str, int]:
    text, emails = _EMAIL.subn("[email]", text)
    text, phones = _PHONE.subn(lambda m: "[phone]" if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)
    return text, emails + text.count("[phone]")


def strip_page_furniture(pages: list[str]) -> tuple[str, int]:
    """Join PDF pages, dropping running headers/footers (the same line at the top or bottom of
    many pages, digits ignored) and bare page numbers. Returns the text and lines removed."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", line.strip().lower())

    edges = Counter()
    for page in pages:
        lines = [l for l in page.split("\n") if l.strip()]
        edges.update({key(l) for l in lines[:2] + lines[-2:]})
    repeated = {k for k, n in edges.items() if k and n >= max(3, len(pages) // 2)}
    removed, kept_pages = 0, []
    for page in pages:
        lines = [l for l in page.split("\n") if l.strip()]
        keep = []
        for i, line in enumerate(lines):
            at_edge = i < 2 or i >= len(lines) - 2
            if _PAGE_NUMBER.match(line) or (at_edge and key(line) in repeated):
                removed += 1
            else:
                keep.append(line)
        kept_pages.append("\n".join(keep))
    return "\n\n".join(p for p in kept_pages if p.strip()), removed


def cjk_chars(text: str) -> int:
    return len(re.findall(f"[{_CJK}]", text))
