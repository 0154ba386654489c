"""Terminal and control debris out of text: one function, `remove_debris`, used by corpus cleaning
(studio/corpus/prepare.py, counted per rule in the corpus report) and by every place a draft
reaches the writer (studio/write/drafter.py, desk.py). It imports nothing of the studio, so both
floors may use it.

What goes, in this order:
1. Backspace overstrikes, as `man` and `nroff` print them: `X\\bX` (bold) and `_\\bX` or `X\\b_`
   (underline) keep the letter; any other `A\\bB` keeps B, what a terminal would show.
2. Escape sequences with their ESC byte (7-bit) or as the 8-bit C1 byte: CSI (`ESC [` or 0x9B,
   parameters, a final byte: colours, cursor moves), OSC (`ESC ]` or 0x9D ... BEL or ST: window
   titles, hyperlinks) and the other string forms (DCS, SOS, PM, APC), and two- or three-byte
   escapes such as `ESC ( B` or `ESC 7`. The ESC byte shown as text, `^[` or `␛` (cat -v, less),
   counts as the byte itself before a plain CSI (digits and `;`, then a letter: `^[[32m`, `^[[2K`;
   not `^[[:alpha:]]`, a regular expression). A sequence cut off at the very end of the text (a
   draft stopped, or still streaming, in the middle of one) goes too.
3. Colour codes whose ESC byte was lost on the way (`[32m` ... `[m`). The rule: in one text, bare
   codes `[N;...m` and `[m` are removed only when the text shows the pattern a terminal leaves: at
   least one line where an opening code (`[1m`, `[32m`, `[01;32m`) is followed on the same line
   by a reset (`[m`, `[0m`, `[00m`). Then every bare code of that text goes. A writer's `[32m`
   in prose, with no ESC and no reset after it on its line, stays. Other ESC-less sequences
   (`[2K`, `[H`) are too like ordinary brackets to be told apart, and stay.
4. Other control characters: C0 (0x00-0x1F) but tab, newline and carriage return, DEL, and C1
   (0x80-0x9F). Form feed, vertical tab and NEL (0x85) become a line break (they separate
   text); the rest are removed. Carriage returns become line breaks as the corpus cleaner has
   always done (CR LF -> LF), and are not counted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

OVERSTRIKES, ESCAPES, BARE_CODES, CONTROLS = "overstrikes", "escapes", "bare_codes", "controls"
RULES = (OVERSTRIKES, ESCAPES, BARE_CODES, CONTROLS)  # in the order they run
EXAMPLE_CONTEXT = 12  # characters kept either side of the first thing a rule removed, for its example

_OVERSTRIKE = re.compile(r"([^\n\x08])\x08([^\n\x08])")
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|(?:\^\[|\u241b)\[[\d;]*[A-Za-z]"  # a plain CSI after the ESC byte shown as text (cat -v, less) or as ␛
    r"|\x9b[0-?]*[ -/]*[@-~]"  # CSI as one C1 byte
    r"|\x1b[P\]X^_][^\x07\x1b\x9c\n]{0,4096}(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC ... BEL or ST
    r"|[\x90\x9d\x98\x9e\x9f][^\x07\x1b\x9c\n]{0,4096}(?:\x07|\x1b\\|\x9c)"  # the same opened by a C1 byte
    r"|(?:\x1b(?:\[[0-?]*[ -/]*|[P\]X^_][^\x07\x1b\x9c\n]*|[ -/]*)|\x9b[0-?]*[ -/]*)\Z"  # cut off at the end
    r"|\x1b[ -/]*[0-~]")  # two- and three-byte escapes: ESC ( B, ESC 7, ESC =
_BARE = re.compile(r"\[(?:\d{1,3}(?:;\d{1,3})*)?m")
_BARE_PAIR = re.compile(r"\[\d{1,3}(?:;\d{1,3})*m[^\n]{0,2000}?\[0{0,2}m")  # an opening, then a reset on its line
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # all but tab, LF and CR (made LF before)
_BREAKING = "\x0b\x0c\x85"  # vertical tab, form feed, next line: they separate text, so a line break
_ASCII_CONTROLS = tuple(chr(c) for c in [*range(0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f])


@dataclass
class Cleaned:
    """The text without debris; per rule (RULES) how many pieces it removed, and the first one
    as an example {"before", "after"}: the same short stretch of text before and after, with
    control characters written as escapes (see `shown`)."""
    text: str
    counts: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)


def shown(text: str) -> str:
    """Text with its control characters written as Python escapes ("\\x1b[32m"), line breaks as \\n."""
    return "".join(c if c.isprintable() else "\\n" if c == "\n" else "\\t" if c == "\t" else
                   f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)


def _apply(text: str, pattern: re.Pattern, repl, rule: str, out: Cleaned) -> str:
    """Substitute, counting the matches and keeping the first as an example."""
    first = pattern.search(text)
    if not first:
        return text
    new, n = pattern.subn(repl, text)
    out.counts[rule] = out.counts.get(rule, 0) + n
    if rule not in out.examples:
        start, end = max(0, first.start() - EXAMPLE_CONTEXT), first.end() + EXAMPLE_CONTEXT
        before = text[start:end]
        out.examples[rule] = {"before": shown(before), "after": shown(pattern.sub(repl, before))}
    return new


def _overstruck(m: re.Match) -> str:
    a, b = m.group(1), m.group(2)
    return a if b == "_" and a != "_" else b


def _has_controls(text: str) -> bool:
    """Whether any control character but tab, LF and CR is in `text`: for ASCII text (most of any
    corpus) one fast scan per character, else one regular expression."""
    if text.isascii():
        return any(map(text.__contains__, _ASCII_CONTROLS))
    return _CONTROL.search(text) is not None


def remove_debris(text: str) -> Cleaned:
    """`text` without terminal and control debris (the rules in this module's docstring), with the
    count and an example per rule. Each rule runs only where what it looks for is present: text
    without debris costs a few scans."""
    out = Cleaned(text)
    if "\r" in text:
        text = out.text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = _has_controls(text)
    if controls and "\x08" in text:
        while "\x08" in text:
            before = text
            text = _apply(text, _OVERSTRIKE, _overstruck, OVERSTRIKES, out)
            if text == before:
                break
    if controls or "^[" in text or "\u241b" in text:
        text = _apply(text, _ESCAPE, "", ESCAPES, out)
    if "[" in text and _BARE_PAIR.search(text):
        text = _apply(text, _BARE, "", BARE_CODES, out)
    if controls:
        text = _apply(text, _CONTROL, lambda m: "\n" if m.group() in _BREAKING else "", CONTROLS, out)
    out.text = text
    return out
