"""The story bible: what the model should know about the people, places and things of a manuscript,
each entry brought into the context when its keys appear in the text before the draft point.

    entry      name, keys (words, names, aliases; `/pattern/flags` is a regular expression, flags
               i s m), the text the model sees, optional secondary keys that gate a match
               (and_any, and_all, not_any, not_all), always on (constant), where it is placed
               (after the memory, before the author's note, or `depth` paragraphs from the end) and
               its order (higher is kept first when the budget is short)
    select     scan the last `scan_chars` characters before the draft point; then the texts of the
               entries that fired, for the keys of the rest (recursion, a few steps); then fit the
               budget: always-on entries first, then by order, ties nearest the draft point first

Keys match better than SillyTavern's. Text and key are NFKC-normalized (full-width Ｌｉｎ matches
Lin) and casefolded unless the entry is case-sensitive. SillyTavern's "match whole words" puts a
non-word character on both sides of every key, which breaks Chinese: 林黛玉 never fires inside
running Chinese text, which has no spaces, and Alice never fires in "Alice在花园里". Here a word
boundary applies only on a side where the key itself begins or ends with a letter or digit of an
alphabet written with spaces (Latin, Greek, Cyrillic): "Ann" does not fire on "Anne" or
"planning", while 林黛玉 fires anywhere and Alice fires before 在. Regular-expression keys are
matched as written, against the text as written.

Plain keys are found with str.rfind on the window normalized once per selection (no regex per key),
so 500 entries on a 2,000-character window take a few milliseconds; compiled keys are cached.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

from studio.messages import Keyed, message

LOGICS = ("and_any", "and_all", "not_any", "not_all")
POSITIONS = ("after_memory", "before_note", "depth")
_REGEX_KEY = re.compile(r"^/(.+)/([A-Za-z]*)$", re.S)
_FLAGS = {"i": re.I, "s": re.S, "m": re.M, "g": 0, "u": 0}  # g and u change nothing about finding a match
_KINDS = {"name": "text", "keys": "list", "text": "text", "secondary": "list", "logic": "text", "constant": "bool",
          "enabled": "bool", "case_sensitive": "bool", "scan_chars": "int?", "position": "text", "depth": "int",
          "order": "int", "recursive": "bool"}


class BibleError(Keyed, ValueError):
    """An entry, a setting or a file that cannot be used as given; names it and what to do."""


@dataclass
class Entry:
    name: str
    keys: list[str]  # words, names, aliases; "/pattern/flags" is a regular expression
    text: str  # what goes into the model's context
    secondary: list[str] = field(default_factory=list)
    logic: str = "and_any"  # how secondary keys gate a primary match; no secondary keys, no gate
    constant: bool = False  # always on
    enabled: bool = True
    case_sensitive: bool = False
    scan_chars: int | None = None  # None: the bible's default
    position: str = "after_memory"  # after_memory | before_note | depth
    depth: int = 0  # paragraphs from the end, for position "depth"
    order: int = 100  # higher is kept first when the budget is short
    recursive: bool = True  # may be brought in by another entry's text

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Entry":
        """Missing fields take their defaults (the name: the first key); a field of the wrong type is
        refused, naming it."""
        if not isinstance(data, dict):
            raise BibleError("bible.not_object", got=_shown(data))
        label = _label(data)
        values = {f.name: _typed(label, f.name, data[f.name]) for f in fields(cls)
                  if f.name in data and not (f.name == "scan_chars" and data[f.name] is None)}
        if "text" not in values:
            raise BibleError("bible.no_text", entry=label)
        values.setdefault("keys", [])
        if not values.get("name", "").strip():
            values["name"] = values["keys"][0] if values["keys"] else ""
        return cls(**values)


@dataclass
class Settings:
    scan_chars: int = 2000  # characters before the draft point searched for keys
    budget_share: float = 0.25  # share of the model's context the bible may take
    budget_cap: int = 1024  # tokens, whatever the share
    recursion_steps: int = 3  # rounds of entries brought in by other entries' text
    # recall of scrolled-out text (studio/write/recall.py) has a budget of its own beside the entries'
    recall_share: float = 0.125  # share of the model's context for recalled passages; 0 turns recall off
    recall_cap: int = 1024  # tokens, whatever the share

    def budget(self, context_length: int) -> int:
        return min(self.budget_cap, int(self.budget_share * context_length))

    def recall_budget(self, context_length: int) -> int:
        return min(self.recall_cap, int(self.recall_share * context_length))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, problems: list[dict] | None = None) -> "Settings":
        """Strict: a wrong value raises. With `problems`, a wrong value is reported there and its
        default kept (a file damaged outside the app still opens)."""
        if not isinstance(data, dict):
            raise BibleError("bible.settings_shape", got=_shown(data))
        out = cls()
        for name, low, high in (("scan_chars", 1, None), ("budget_share", 0, 1), ("budget_cap", 0, None),
                                ("recursion_steps", 0, None), ("recall_share", 0, 1), ("recall_cap", 0, None)):
            if name not in data:
                continue
            value = data[name]
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            whole = name not in ("budget_share", "recall_share")
            in_range = number and value >= low and (high is None or value <= high)
            if not in_range or (whole and not isinstance(value, int)):
                error = BibleError("bible.setting", field=name, value=_shown(value), low=low,
                                   high="∞" if high is None else high, default=getattr(out, name),
                                   expected=message("bible.kind.int" if whole else "bible.kind.number"))
                if problems is None:
                    raise error
                problems.append(message(error.key, **error.fields))
                continue
            setattr(out, name, value)
        return out


@dataclass
class Fired:
    entry: Entry
    key: str | None  # the key that fired; None for an always-on entry
    at: int | None  # offset in the text of the key's last match; None when brought in by another entry
    via: str | None = None  # the entry whose text brought this one in
    tokens: int = 0  # count(entry.text + "\n")


@dataclass
class Selection:
    fired: list[Fired]  # kept, in placement order (order descending, then name)
    left_out: list[Fired]  # matched, over the budget
    notices: list[dict]  # message dicts: recursion limit reached, over the budget
    tokens: int = 0  # of the kept entries together


# -- checking entries ------------------------------------------------------------------------------
def check_entry(data: dict) -> Entry:
    """An entry as a writer adds or edits it: every problem refused with the field named."""
    entry = Entry.from_dict(data)
    name = entry.name
    if not name.strip():
        raise BibleError("bible.no_name")
    if not entry.text.strip():
        raise BibleError("bible.no_text", entry=name)
    if not entry.keys and not entry.constant:
        raise BibleError("bible.no_keys", entry=name)
    for value, choices, field_name in ((entry.logic, LOGICS, "logic"), (entry.position, POSITIONS, "position")):
        if value not in choices:
            raise BibleError("bible.choice", entry=name, field=field_name, value=value, choices=", ".join(choices))
    for field_name, value, low in (("depth", entry.depth, 0), ("scan_chars", entry.scan_chars, 1)):
        if value is not None and value < low:
            raise BibleError("bible.range", entry=name, field=field_name, value=value, low=low)
    for key in entry.keys + entry.secondary:
        try:
            _compiled(key, entry.case_sensitive)
        except _FlagError as err:
            raise BibleError("bible.regex_flag", entry=name, pattern=key, flag=err.flag) from None
        except re.error as err:
            raise BibleError("bible.bad_regex", entry=name, pattern=key, error=str(err)) from None
    return entry


def parse_bible(data) -> tuple[list[Entry], Settings, list[dict]]:
    """A saved bible ({"entries": [...], "settings": {...}} or a bare list of entries), read
    tolerantly: an entry that fails its checks is left out and reported; the rest are kept."""
    problems: list[dict] = []
    if isinstance(data, list):
        items, settings = data, Settings()
    elif isinstance(data, dict) and isinstance(data.get("entries", []), list):
        items, stored = data.get("entries", []), data.get("settings") or {}
        if isinstance(stored, dict):
            settings = Settings.from_dict(stored, problems)
        else:
            settings = Settings()
            problems.append(message("bible.settings_shape", got=_shown(stored)))
    else:
        raise BibleError("bible.shape", got=_shown(data))
    entries = []
    for n, item in enumerate(items, 1):
        try:
            entries.append(check_entry(item))
        except BibleError as err:
            problems.append(message("bible.bad_entry", n=n, name=_label(item), why=message(err.key, **err.fields)))
    return entries, settings, problems


def entries_to_data(entries: list[Entry], settings: Settings) -> dict:
    """What a bible is saved as (parse_bible reads it back)."""
    return {"entries": [e.to_dict() for e in entries], "settings": settings.to_dict()}


def _label(data) -> str:
    """The name to call an entry by in a message, before it is checked."""
    if not isinstance(data, dict):
        return "?"
    name, keys = data.get("name"), data.get("keys")
    if isinstance(name, str) and name.strip():
        return name
    if isinstance(keys, list) and keys and isinstance(keys[0], str):
        return keys[0]
    return "?"


def _typed(label: str, name: str, value):
    kind = _KINDS[name]
    ok = {"text": isinstance(value, str), "bool": isinstance(value, bool),
          "int": isinstance(value, int) and not isinstance(value, bool),
          "int?": value is None or (isinstance(value, int) and not isinstance(value, bool)),
          "list": isinstance(value, list) and all(isinstance(v, str) for v in value)}[kind]
    if not ok:
        raise BibleError("bible.type", entry=label, field=name, expected=message(f"bible.kind.{kind.rstrip('?')}"),
                         got=_shown(value))
    if kind == "list":  # keys are trimmed and blank ones dropped: a stray comma is not a key
        return [v.strip() for v in value if v.strip()]
    return value


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- matching keys ---------------------------------------------------------------------------------
class _FlagError(ValueError):
    def __init__(self, flag: str):
        super().__init__(flag)
        self.flag = flag


@dataclass(frozen=True)
class _Key:
    pattern: re.Pattern | None  # a regular-expression key, matched against the text as written
    literal: str = ""  # a plain key, normalized as the text is
    head: str = ""  # its first two characters and last two: a window without them cannot hold it
    tail: str = ""
    left: bool = False  # a word boundary is needed before it (it begins with a letter or digit)
    right: bool = False  # ... after it
    folded: bool = True  # compared with the casefolded text


def _wordish(char: str) -> bool:
    """A letter or digit of an alphabet written with spaces between words (Latin with its accented
    letters, Greek, Cyrillic): only next to these does a key need a word boundary."""
    return char.isalnum() and (char < "\u0590" or "\u1e00" <= char <= "\u1fff")


def _fold(text: str, folded: bool) -> str:
    text = unicodedata.normalize("NFKC", text)
    return text.casefold() if folded else text


@functools.lru_cache(maxsize=16384)
def _compiled(key: str, case_sensitive: bool) -> _Key:
    found = _REGEX_KEY.match(key)
    if found:
        flags = 0
        for flag in found.group(2):
            if flag not in _FLAGS:
                raise _FlagError(flag)
            flags |= _FLAGS[flag]
        return _Key(re.compile(found.group(1), flags))
    literal = _fold(key, not case_sensitive)
    return _Key(None, literal, literal[:2], literal[-2:], bool(literal) and _wordish(literal[0]),
                bool(literal) and _wordish(literal[-1]), not case_sensitive)


def _key(key: str, case_sensitive: bool) -> _Key | None:
    """A checked entry's key; None for one that no longer compiles (never fires, never crashes)."""
    try:
        return _compiled(key, case_sensitive)
    except (re.error, _FlagError):
        return None


class _Haystack:
    """A text to search from `start` on, normalized once (per case) for all the entries' keys; the
    normalized offsets map back to the text's, so a match names where it is in the manuscript.
    The set of its characters and pairs of characters rejects most keys (absent ones) in a set
    lookup each, ~100 times faster than a search of 2,000 characters."""

    def __init__(self, text: str, start: int = 0):
        self.start = max(0, start - 1)  # one character before the window: the boundary of a key at its edge
        self.window = text[self.start:]
        self._forms: dict[bool, tuple[str, list[int] | None]] = {}
        self._grams: dict[bool, set[str]] = {}

    def grams(self, folded: bool) -> set[str]:
        if folded not in self._grams:
            hay = self.form(folded)[0]
            self._grams[folded] = set(hay) | {hay[i:i + 2] for i in range(len(hay) - 1)}
        return self._grams[folded]

    def form(self, folded: bool) -> tuple[str, list[int] | None]:
        """The normalized window and, where lengths changed (ß, ﬁ, decomposed accents), each of its
        characters' offset in the window; None where they map one to one."""
        if folded not in self._forms:
            window = self.window
            if window.isascii():
                self._forms[folded] = (window.lower() if folded else window), None
            else:
                whole = _fold(window, folded)
                if len(whole) == len(window):
                    self._forms[folded] = whole, None
                else:
                    pieces = [_fold(c, folded) for c in window]
                    index = [i for i, piece in enumerate(pieces) for _ in piece]
                    self._forms[folded] = "".join(pieces), index
        return self._forms[folded]

    def last(self, key: _Key, lo: int) -> int | None:
        """Offset (in the text given) of the last match of `key` that starts at `lo` or later."""
        if key.pattern is not None:
            last = None
            for found in key.pattern.finditer(self.window, max(0, lo - self.start)):
                last = found.start()
            return None if last is None else self.start + last
        grams = self._grams.get(key.folded) or self.grams(key.folded)
        if key.head not in grams or key.tail not in grams or not key.literal:
            return None
        literal, n = key.literal, len(key.literal)
        hay, index = self._forms[key.folded]
        lo_hay = max(0, lo - self.start)
        if index is not None:
            lo_hay = bisect_left(index, lo_hay)
        end = len(hay)
        while True:
            i = hay.rfind(literal, lo_hay, end)
            if i < 0:
                return None
            if (not key.left or i == 0 or not _wordish(hay[i - 1])) and \
                    (not key.right or i + n >= len(hay) or not _wordish(hay[i + n])):
                return self.start + (i if index is None else index[i])
            end = i + n - 1  # the next candidate starts before this one


def _primary(entry: Entry, hay: _Haystack, lo: int) -> tuple[str, int] | None:
    """The primary key whose last match is nearest the end, and where."""
    best = None
    for key in entry.keys:
        compiled = _key(key, entry.case_sensitive)
        at = hay.last(compiled, lo) if compiled else None
        if at is not None and (best is None or at > best[1]):
            best = (key, at)
    return best


def _gate(entry: Entry, places: list[tuple[_Haystack, int]]) -> bool:
    """Whether the secondary keys, searched in `places` ((haystack, from), ...), let a primary match in."""
    if not entry.secondary:
        return True

    def present(key: str) -> bool:
        compiled = _key(key, entry.case_sensitive)
        return compiled is not None and any(hay.last(compiled, lo) is not None for hay, lo in places)

    if entry.logic == "and_any":
        return any(map(present, entry.secondary))
    if entry.logic == "and_all":
        return all(map(present, entry.secondary))
    if entry.logic == "not_any":
        return not any(map(present, entry.secondary))
    return not all(map(present, entry.secondary))  # not_all


def matches(entry: Entry, text: str) -> list[tuple[str, int]]:
    """Each primary key of `entry` found in `text`, with the offset of its last match, in text order
    (for showing a writer why an entry fires)."""
    hay = _Haystack(text)
    found = [(key, hay.last(c, 0)) for key in entry.keys if (c := _key(key, entry.case_sensitive))]
    return sorted(((k, at) for k, at in found if at is not None), key=lambda kv: kv[1])


# -- selecting -------------------------------------------------------------------------------------
def select(entries: list[Entry], settings: Settings, text: str, count: Callable[[str], int],
           budget: int) -> Selection:
    """The entries the model sees for a draft at the end of `text` (the manuscript before the draft
    point), within `budget` tokens as `count` counts them."""
    live = [e for e in entries if e.enabled]
    scans = [e.scan_chars or settings.scan_chars for e in live]
    manuscript = _Haystack(text, len(text) - max(scans, default=0))
    fired: dict[int, Fired] = {}
    source: dict[int, int] = {}  # entry brought in through recursion -> the entry whose text did it
    for i, (entry, scan) in enumerate(zip(live, scans)):
        if entry.constant:
            fired[i] = Fired(entry, None, None)
            continue
        lo = max(0, len(text) - scan)
        hit = _primary(entry, manuscript, lo)
        if hit and _gate(entry, [(manuscript, lo)]):
            fired[i] = Fired(entry, hit[0], hit[1])
    notices: list[dict] = []
    newest, step = list(fired), 0
    while newest:
        waiting = _recursion_step(live, scans, text, manuscript, fired, newest)
        if not waiting:
            break
        if step == settings.recursion_steps:
            if step:  # zero steps is recursion turned off, not a limit reached
                notices.append(message("bible.recursion_limit", steps=step,
                                       names=sorted(live[i].name for i in waiting)))
            break
        step += 1
        for i, (key, j) in waiting.items():
            fired[i] = Fired(live[i], key, None, live[j].name)
            source[i] = j
        newest = list(waiting)
    for f in fired.values():
        f.tokens = count(f.entry.text + "\n")
    kept, left_out, fit_notices = _fit(fired, source, budget)
    kept.sort(key=lambda f: (-f.entry.order, f.entry.name))
    return Selection(kept, left_out, notices + fit_notices, sum(f.tokens for f in kept))


def _recursion_step(live: list[Entry], scans: list[int], text: str, manuscript: _Haystack,
                    fired: dict[int, Fired], newest: list[int]) -> dict[int, tuple[str, int]]:
    """The entries not yet fired whose keys appear in the texts of the `newest` fired ones: entry ->
    (key, the entry whose text has it). The texts are searched joined (one search per key, not one
    per key and text), a line break between them so no key spans two."""
    starts, parts, at = [], [], 0
    for j in newest:
        starts.append(at)
        parts.append(live[j].text)
        at += len(live[j].text) + 1
    joined = _Haystack("\n".join(parts))
    waiting = {}
    for i, entry in enumerate(live):
        if i in fired or not entry.recursive or entry.constant:
            continue
        hit = _primary(entry, joined, 0)
        if hit and _gate(entry, [(joined, 0), (manuscript, max(0, len(text) - scans[i]))]):
            waiting[i] = (hit[0], newest[bisect_right(starts, hit[1]) - 1])
    return waiting


def _fit(fired: dict[int, Fired], source: dict[int, int], budget: int) -> tuple[list[Fired], list[Fired], list[dict]]:
    """Always-on entries first, then by order (higher first), ties nearest the draft point first; an
    entry that does not fit is left out and smaller ones after it may still fit. An entry brought in
    by another's text is kept only if that one is (else its reason to be there is not in the context)."""
    constants = sorted((i for i, f in fired.items() if f.entry.constant),
                       key=lambda i: (-fired[i].entry.order, fired[i].entry.name))
    matched = sorted((i for i, f in fired.items() if not f.entry.constant),
                     key=lambda i: (-fired[i].entry.order, -(fired[i].at if fired[i].at is not None else -1),
                                    fired[i].entry.name))
    kept: set[int] = set()
    out: list[int] = []
    used = 0
    for i in constants:
        if used + fired[i].tokens <= budget:
            kept.add(i)
            used += fired[i].tokens
        else:
            out.append(i)
    cut_constants = list(out)
    pending = matched
    while pending:
        deferred = []
        for i in pending:
            if i in source and source[i] not in kept:
                deferred.append(i)
            elif used + fired[i].tokens <= budget:
                kept.add(i)
                used += fired[i].tokens
            else:
                out.append(i)
        if not any(source[i] in kept for i in deferred):
            out.extend(deferred)  # their sources were left out: nothing brings them in
            break
        pending = deferred
    notices = []
    if cut_constants:
        notices.append(message("bible.constants_over", budget=budget,
                               tokens=sum(fired[i].tokens for i in constants),
                               names=[fired[i].entry.name for i in cut_constants]))
    others = [fired[i].entry.name for i in out if i not in cut_constants]
    if others:
        notices.append(message("bible.over_budget", budget=budget, names=others))
    return [fired[i] for i in kept], [fired[i] for i in out], notices

