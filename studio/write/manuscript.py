"""A manuscript: passages that each remember who wrote them, a memory and an author's note.

The text a writer sees is the passages joined as they are (each passage carries its own spaces and
line breaks). Every change is a short list of operations, plain dicts as they are kept in the
history (studio/write/manuscript_store.py), each of which can be applied and inverted exactly:

    {"op": "text", "p": i, "at": k, "del": "...", "ins": "...", "edited": [old, new]}
        replace `del` by `ins` at offset k of passage i (a writer's keystrokes inside a passage)
    {"op": "splice", "at": i, "del": [passage, ...], "ins": [passage, ...]}
        replace whole passages (a candidate used, an edit across passages, a restore)
    {"op": "set", "field": "memory" | "note" | "title", "old": "...", "new": "..."}
    {"op": "set", "field": "bible" | "banned" | "bible_of", "old": ..., "new": ...}
        the story bible ({"entries": [...], "settings": {...}}, studio/write/bible.py), the phrases
        drafting never writes, or the manuscript whose bible this one shares ("" = its own)

Applying checks that what an operation removes is there, so a history line that no longer fits the
text (one after a damaged line) is refused instead of scrambling the manuscript.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import asdict, dataclass, field

from studio.messages import Keyed

MAX_CHARS = 2_000_000  # passages, memory and note together: about 2 MB of English, 6 MB of UTF-8 Chinese
WRITER, BASE = "writer", "base"
FIELDS = ("title", "memory", "note", "bible", "banned", "bible_of")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class ManuscriptError(Keyed, ValueError):
    """A manuscript request that cannot be done as asked; names what to do (studio/messages.py)."""


class HistoryMismatch(ValueError):
    """An operation whose removed text is not where it says (the history line does not fit)."""


@dataclass
class Passage:
    text: str
    source: str = WRITER  # "writer", "base", "RUN" or "RUN@step-N"
    settings: dict | None = None  # the drafting settings (seed, temperature, ...) of a drafted passage
    copied: float | None = None  # share copied from the run's corpus (the copied-text guard), when checked
    copied_spans: list | None = None  # [start, end] character spans of the copies, within `text`
    edited: bool = False  # a drafted passage the writer changed afterwards

    @classmethod
    def from_dict(cls, data: dict) -> "Passage":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, False) or k == "text"}


@dataclass
class Manuscript:
    id: str
    title: str = ""
    passages: list[Passage] = field(default_factory=list)
    memory: str = ""
    note: str = ""
    revision: int = 0
    updated: float = 0.0
    bible: dict = field(default_factory=dict)  # {"entries": [...], "settings": {...}}; empty: none
    banned: list = field(default_factory=list)  # phrases drafting never writes (studio/write/banned.py)
    bible_of: str = ""  # another manuscript whose bible this one uses (a series shares one bible)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.passages)

    def starts(self) -> list[int]:
        """Where each passage starts in `text`, and the length of the whole as the last item."""
        out, at = [0], 0
        for p in self.passages:
            at += len(p.text)
            out.append(at)
        return out

    def size(self) -> int:
        extra = len(json.dumps(self.bible, ensure_ascii=False)) if self.bible else 0
        return (sum(len(p.text) for p in self.passages) + len(self.memory) + len(self.note) + extra
                + sum(len(b) for b in self.banned))

    def to_dict(self) -> dict:
        out = {"id": self.id, "title": self.title, "memory": self.memory, "note": self.note,
               "revision": self.revision, "updated": self.updated, "passages": [p.to_dict() for p in self.passages]}
        out.update({k: getattr(self, k) for k in ("bible", "banned", "bible_of") if getattr(self, k)})
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Manuscript":
        return cls(id=data["id"], title=data.get("title", ""), memory=data.get("memory", ""), note=data.get("note", ""),
                   revision=int(data.get("revision", 0)), updated=float(data.get("updated", 0.0)),
                   passages=[Passage.from_dict(p) for p in data.get("passages", [])],
                   bible=data.get("bible") if isinstance(data.get("bible"), dict) else {},
                   banned=[b for b in data.get("banned", []) if isinstance(b, str)] if isinstance(data.get("banned"), list) else [],
                   bible_of=data.get("bible_of", "") if isinstance(data.get("bible_of"), str) else "")


def words(text: str) -> int:
    """Words as a writer counts them: space-separated words, and each Chinese character as one."""
    cjk = len(_CJK.findall(text))
    return cjk + len(_CJK.sub(" ", text).split())


# -- operations -------------------------------------------------------------------------------
def apply(ms: Manuscript, op: dict) -> None:
    kind = op["op"]
    if kind == "text":
        p = ms.passages[op["p"]] if 0 <= op["p"] < len(ms.passages) else None
        at, removed = op["at"], op["del"]
        if p is None or p.text[at:at + len(removed)] != removed or at > len(p.text):
            raise HistoryMismatch(f"text op at passage {op['p']} offset {at}")
        p.text = p.text[:at] + op["ins"] + p.text[at + len(removed):]
        if "edited" in op:
            p.edited = op["edited"][1]
    elif kind == "splice":
        at, removed = op["at"], op["del"]
        current = [p.to_dict() for p in ms.passages[at:at + len(removed)]]
        if current != removed:
            raise HistoryMismatch(f"splice at passage {at}")
        ms.passages[at:at + len(removed)] = [Passage.from_dict(p) for p in op["ins"]]
    elif kind == "set":
        if getattr(ms, op["field"]) != op["old"] or op["field"] not in FIELDS:
            raise HistoryMismatch(f"set {op['field']}")
        setattr(ms, op["field"], op["new"])
    else:
        raise HistoryMismatch(f"unknown op {kind!r}")


def apply_all(ms: Manuscript, ops: list[dict]) -> None:
    """All of `ops` or none: a list that fails half-way is rolled back."""
    done = []
    try:
        for op in ops:
            apply(ms, op)
            done.append(op)
    except HistoryMismatch:
        for op in reversed(done):
            apply(ms, invert(op))
        raise


def invert(op: dict) -> dict:
    if op["op"] == "text":
        out = {**op, "del": op["ins"], "ins": op["del"]}
        if "edited" in op:
            out["edited"] = op["edited"][::-1]
        return out
    if op["op"] == "splice":
        return {**op, "del": op["ins"], "ins": op["del"]}
    return {**op, "old": op["new"], "new": op["old"]}


def invert_all(ops: list[dict]) -> list[dict]:
    return [invert(op) for op in reversed(ops)]


# -- changes as operations --------------------------------------------------------------------
def common_prefix(a: str, b: str, chunk: int = 4096) -> int:
    """Length of the common start of a and b, compared a chunk at a time (C speed on 1 MB texts),
    then in halving chunks inside the chunk that differs."""
    n, k = min(len(a), len(b)), 0
    while chunk >= 1:
        while k + chunk <= n and a[k:k + chunk] == b[k:k + chunk]:
            k += chunk
        chunk //= 2
    return k


def common_suffix(a: str, b: str, limit: int, chunk: int = 4096) -> int:
    """Length of the common end of a and b, at most `limit` (so it does not overlap the prefix)."""
    la, lb, k = len(a), len(b), 0
    while chunk >= 1:
        while k + chunk <= limit and a[la - k - chunk:la - k] == b[lb - k - chunk:lb - k]:
            k += chunk
        chunk //= 2
    return k


def diff(old: str, new: str) -> tuple[int, int, str]:
    """The one changed region: old[a:b] became `ins`."""
    a = common_prefix(old, new)
    s = common_suffix(old, new, min(len(old), len(new)) - a)
    return a, len(old) - s, new[a:len(new) - s]


def replace_ops(ms: Manuscript, a: int, b: int, ins: str) -> list[dict]:
    """Operations that make the writer's change text[a:b] -> ins, keeping every passage's source:
    a change inside one passage edits it (a drafted one is marked edited), new text between
    passages joins a neighbouring writer's passage or becomes one, and a change across passages
    keeps the untouched head and tail of the first and last with their sources."""
    if a == b and not ins:
        return []
    starts = ms.starts()
    n = len(ms.passages)
    if a == b:  # an insertion
        i = bisect.bisect_right(starts, a) - 1
        if 0 <= i < n and starts[i] < a:  # inside passage i (or at its end)
            return [_text_op(ms, i, a - starts[i], "", ins)]
        if i > 0 and ms.passages[i - 1].source == WRITER:  # right after a writer's passage
            return [_text_op(ms, i - 1, len(ms.passages[i - 1].text), "", ins)]
        if i < n and ms.passages[i].source == WRITER:
            return [_text_op(ms, i, 0, "", ins)]
        return [{"op": "splice", "at": max(i, 0), "del": [], "ins": [Passage(ins).to_dict()]}]
    i = bisect.bisect_right(starts, a) - 1
    j = bisect.bisect_right(starts, b - 1) - 1
    if i == j:
        p = ms.passages[i]
        if len(p.text) - (b - a) + len(ins) == 0:
            return [{"op": "splice", "at": i, "del": [p.to_dict()], "ins": []}]
        return [_text_op(ms, i, a - starts[i], p.text[a - starts[i]:b - starts[i]], ins)]
    first, last = ms.passages[i], ms.passages[j]
    head = Passage.from_dict(first.to_dict())
    head.text = first.text[:a - starts[i]]
    tail = Passage.from_dict(last.to_dict())
    tail.text = last.text[b - starts[j]:]
    for part in (head, tail):
        part.edited = part.source != WRITER
    new = [head, Passage(ins), tail]
    if head.source == WRITER:
        new = [Passage(head.text + ins), tail]
    new = [p for p in new if p.text]
    return [{"op": "splice", "at": i, "del": [p.to_dict() for p in ms.passages[i:j + 1]],
             "ins": [p.to_dict() for p in new]}]


def _text_op(ms: Manuscript, i: int, at: int, removed: str, ins: str) -> dict:
    p = ms.passages[i]
    op = {"op": "text", "p": i, "at": at, "del": removed, "ins": ins}
    if p.source != WRITER and not p.edited:
        op["edited"] = [False, True]
    return op


def insert_ops(ms: Manuscript, at: int, passage: Passage) -> list[dict]:
    """Operations that put `passage` at character `at`: between passages, or splitting the one
    `at` falls inside (both halves keep their source)."""
    starts = ms.starts()
    i = bisect.bisect_right(starts, at) - 1
    if 0 <= i < len(ms.passages) and starts[i] < at < starts[i + 1]:
        p = ms.passages[i]
        head, tail = Passage.from_dict(p.to_dict()), Passage.from_dict(p.to_dict())
        head.text, tail.text = p.text[:at - starts[i]], p.text[at - starts[i]:]
        return [{"op": "splice", "at": i, "del": [p.to_dict()], "ins": [head.to_dict(), passage.to_dict(), tail.to_dict()]}]
    where = len(ms.passages) if i >= len(ms.passages) else max(i, 0)
    return [{"op": "splice", "at": where, "del": [], "ins": [passage.to_dict()]}]


def replace_all_ops(ms: Manuscript, target: Manuscript) -> list[dict]:
    """Operations that turn `ms` into `target` (a restore): every passage and field."""
    ops = [{"op": "set", "field": f, "old": getattr(ms, f), "new": getattr(target, f)}
           for f in ("memory", "note", "bible", "banned", "bible_of") if getattr(ms, f) != getattr(target, f)]
    old, new = [p.to_dict() for p in ms.passages], [p.to_dict() for p in target.passages]
    if old != new:
        ops.append({"op": "splice", "at": 0, "del": old, "ins": new})
    return ops
