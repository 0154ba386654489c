"""What the model sees when it continues a manuscript, fitted to its context.

    memory            kept at the top, whole
    story bible       the entries fired by the text near the draft point (and the always-on ones),
                      within their own budget; each placed after the memory (default), just before
                      the author's note, or at a depth of N paragraphs from the end
    recalled          passages of the text that scrolled out, the most relevant to the newest text,
                      within their own budget, oldest first, closed by a scene break
    manuscript        the newest text that fits, its oldest part cut at a paragraph boundary, else
                      at a sentence end (. ! ? … 。！？ and closing quotes); mid-sentence only when
                      the one sentence before the draft point is longer than everything allowed
    author's note     inserted NOTE_DEPTH paragraphs before the end
    end               the last NOTE_DEPTH paragraphs

all within the model's context length minus the tokens to draft, counted with the model's own
tokenizer. Token counts are cached per paragraph and per sentence (by their text), and only the
paragraphs nearest the draft point are counted at all, so a continue on a 200,000-word manuscript
tokenizes only what changed near its end; the assembled text is counted once more as a whole and
trimmed if the pieces' sum was short of the real count.

From the cursor: the text before the cursor is the manuscript. A tokenizer with fill-in-the-middle
tokens (<fim_prefix> or <|fim_prefix|> and the rest) also gets the text after the cursor (a quarter
of the room at most); without them the context says that it continues from the cursor.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.messages import message
from studio.write.manuscript import ManuscriptError

NOTE_DEPTH = 3  # the author's note goes this many paragraphs before the end
NOTE_FORMAT = "[{note}]\n"
MEMORY_FORMAT = "{memory}\n\n"
AFTER_SHARE = 4  # with fill-in-the-middle, the text after the cursor gets at most 1/4 of the room
_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’」』)）\]]*\s*")
_FIM_NAMES = (("<fim_prefix>", "<fim_suffix>", "<fim_middle>"), ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"))
CACHE_LIMIT = 200_000
RECALL_END = "* * *\n\n"  # after recalled passages: a scene break, then the newest text


@dataclass
class Context:
    text: str  # what is sent to the model
    parts: list[tuple[str, str, int]]  # (part, its text, its tokens): memory, manuscript, note, end, after
    tokens: int  # the whole text, counted as sent
    budget: int  # context length minus the tokens to draft
    cut_chars: int  # characters of the manuscript before the draft point left out
    mode: str = "end"  # end | cursor | fim
    notices: list[dict] = field(default_factory=list)
    bible: Any = None  # the story bible's Selection (studio/write/bible.py): what fired, what was left out
    recalled: list = field(default_factory=list)  # passages of scrolled-out text placed (studio/write/recall.py)


class Counter:
    """A tokenizer's token counts, remembered by text (paragraphs and sentences recur between
    continues; only new or changed ones are tokenized)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if not text:
            return 0
        found = self.cache.get(text)
        if found is None:
            if len(self.cache) > CACHE_LIMIT:
                self.cache.clear()
            found = self.cache[text] = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return found

    def exact(self, text: str) -> int:
        """The whole prompt as the drafter sends it (special tokens included)."""
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def tail(self, text: str, tokens: int) -> str:
        """The last `tokens` tokens of text, as text (the one over-long sentence)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer.decode(ids[-tokens:]) if tokens > 0 else ""


def fim_tokens(tokenizer) -> tuple[str, str, str] | None:
    vocab = tokenizer.get_vocab()
    return next((names for names in _FIM_NAMES if all(n in vocab for n in names)), None)


def sentences(paragraph: str) -> list[str]:
    """A paragraph cut after each sentence end (with its closing quotes and spaces)."""
    cuts = [m.end() for m in _SENTENCE_END.finditer(paragraph)]
    starts = [0] + [c for c in cuts if c < len(paragraph)]
    return [paragraph[a:b] for a, b in zip(starts, starts[1:] + [len(paragraph)])]


def _newest_fitting(count: Counter, text: str, room: int) -> tuple[list[str], int]:
    """The newest paragraphs of text (oldest first) that fit `room` tokens, the oldest one cut at
    a sentence start when it does not fit whole; and the tokens used (sum of the pieces)."""
    paragraphs = text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for paragraph in reversed(paragraphs):
        n = count(paragraph)
        if used + n <= room:
            kept.append(paragraph)
            used += n
            continue
        part = []
        for sentence in reversed(sentences(paragraph)):
            m = count(sentence)
            if used + m > room:
                break
            part.append(sentence)
            used += m
        if part:
            kept.append("".join(reversed(part)))
        elif not kept:  # one sentence longer than all the room: its end, mid-sentence
            piece = count.tail(paragraph, room - used)
            kept.append(piece)
            used += count(piece)
        break
    kept.reverse()
    return kept, used


def newest_text(count: Counter, text: str, room: int) -> str:
    """The newest part of text that fits `room` tokens, cut at a paragraph or sentence start."""
    return "".join(_newest_fitting(count, text, room)[0]) if room > 0 else ""


def _oldest_fitting(count: Counter, text: str, room: int) -> str:
    """The start of the text after the cursor that fits `room`, cut at a paragraph or sentence end."""
    out, used = [], 0
    for paragraph in text.splitlines(keepends=True):
        pieces = [paragraph] if used + count(paragraph) <= room else sentences(paragraph)
        for piece in pieces:
            if used + count(piece) > room:
                return "".join(out)
            out.append(piece)
            used += count(piece)
    return "".join(out)


def _lore_text(fired) -> str:
    """A story-bible entry as the model reads it: its text on lines of its own."""
    text = fired.entry.text.strip()
    return text + "\n" if text else ""


def _recall_text(recalled: list) -> str:
    """Recalled passages, oldest first, each a paragraph, closed by a scene break before the text
    the model continues (so it reads them as earlier pages, not as the lines it goes on from)."""
    if not recalled:
        return ""
    return "".join(r.text.strip() + "\n\n" for r in recalled) + RECALL_END


def _depth_index(kept: list[str], depth: int) -> int:
    """Where in `kept` a block `depth` paragraphs before the end goes. Depth 0 counts as 1: an entry
    after the last paragraph would sit between the text and its draft, and the model would continue
    the entry instead of the sentence."""
    lines = [i for i, k in enumerate(kept) if k.strip()]
    depth = max(1, depth)
    return lines[-depth] if len(lines) >= depth else 0


def _join(kept: list[str], inserts: dict[int, list[str]]) -> str:
    """The kept paragraphs with blocks inserted before the paragraph of each index (len(kept): at
    the end). Each block starts on a line of its own."""
    out = []
    for i in range(len(kept) + 1):
        for block in inserts.get(i, []):
            if block:
                if out and not out[-1].endswith("\n"):
                    out.append("\n")
                out.append(block)
        if i < len(kept):
            out.append(kept[i])
    return "".join(out)


def _parts(count: Counter, top: list[tuple[str, str]], kept: list[str], split: int, note: str,
           after: str | None) -> list[tuple[str, str, int]]:
    """Each part of the context with its tokens, as the sum of its pieces' (cached) counts: no part
    is tokenized again. The bible and recall only when they hold something."""
    parts = [(name, text, count(text)) for name, text in top if text or name == "memory"]
    parts += [("manuscript", "".join(kept[:split]), sum(map(count, kept[:split]))), ("note", note, count(note)),
              ("end", "".join(kept[split:]), sum(map(count, kept[split:])))]
    return parts + ([("after", after, count(after))] if after is not None else [])


def _fired(count: Counter, before: str, bible: tuple | None, room: int, context_length: int) -> tuple:
    """(the bible's Selection or None, its fired entries by position): the entries fired by the text
    before the draft point, within the bible's budget and at most half the room left."""
    lore: dict[str, list] = {"after_memory": [], "before_note": [], "depth": []}
    if not bible:
        return None, lore
    from studio.write import bible as bible_rules

    entries, settings = bible
    share = settings.budget(context_length)
    selection = bible_rules.select(entries, settings, before, count, max(0, min(share, room // 2)))
    for fired in selection.fired:
        lore.get(fired.entry.position, lore["after_memory"]).append(fired)
    return selection, lore


def assemble(count: Counter, before: str, memory: str, note: str, budget: int, after: str | None = None,
             fim: tuple[str, str, str] | None = None, cursor: bool = False, bible: tuple | None = None,
             recall=None, recall_budget: int = 0, context_length: int | None = None) -> Context:
    """The context for a draft at the end of `before` (the manuscript, or the text before the
    cursor); `after` (with `fim`) is the text after the cursor. `bible`: (entries, settings) of the
    story bible (studio/write/bible.py), its entries fired by the text before the draft point within
    their own budget; `recall(before, cut, count, tokens) -> [Recalled]`: passages of the text that
    scrolled out (studio/write/recall.py), within `recall_budget` tokens."""
    memory_part = MEMORY_FORMAT.format(memory=memory.strip()) if memory.strip() else ""
    note_part = NOTE_FORMAT.format(note=note.strip()) if note.strip() else ""
    fixed = count(memory_part) + count(note_part) + (count("".join(fim)) + 1 if fim else 1)
    if fixed > budget:
        raise ManuscriptError("manuscript.memory_too_long", memory=count(memory_part), note=count(note_part),
                              budget=budget)
    after_part = _oldest_fitting(count, after, (budget - fixed) // AFTER_SHARE) if fim and after else ""
    room = budget - fixed - count(after_part)
    selection, lore = _fired(count, before, bible, room, context_length or budget)
    room -= sum(count(_lore_text(f)) for f in selection.fired) if selection else 0
    reserve = min(recall_budget, room // 4) if recall is not None and before else 0
    recalled: list = []
    if reserve > 0:
        kept, _ = _newest_fitting(count, before, room - reserve)
        recalled = recall(before, len(before) - len("".join(kept)), count, reserve - count(RECALL_END))
    head_lore = "".join(map(_lore_text, lore["after_memory"]))
    while True:
        recall_part = _recall_text(recalled)
        kept, _ = _newest_fitting(count, before, room - count(recall_part))
        cut = len(before) - len("".join(kept))
        kept_recalled = [r for r in recalled if r.end <= cut]  # the text kept whole needs no recall
        if kept_recalled != recalled:
            recalled = kept_recalled
            continue
        lines = [i for i, k in enumerate(kept) if k.strip()]
        split = lines[-NOTE_DEPTH] if len(lines) >= NOTE_DEPTH else 0
        inserts: dict[int, list[str]] = {split: ["".join(map(_lore_text, lore["before_note"])), note_part]}
        for fired in lore["depth"]:
            inserts.setdefault(_depth_index(kept, fired.entry.depth), []).insert(0, _lore_text(fired))
        prompt = memory_part + head_lore + recall_part + _join(kept, inserts)
        text = f"{fim[0]}{prompt}{fim[1]}{after_part}{fim[2]}" if fim else prompt
        total = count.exact(text)
        if total <= budget or room <= 0:
            break
        room -= total - budget  # the pieces' sum was short of the real count: ask for less
    lore_text = "".join(_lore_text(f) for f in selection.fired) if selection else ""
    parts = _parts(count, [("memory", memory_part), ("bible", lore_text), ("recall", recall_part)], kept, split,
                   note_part, after_part if fim else None)
    mode = "fim" if fim else "cursor" if cursor else "end"
    ctx = Context(text, parts, total, budget, cut, mode, bible=selection, recalled=recalled)
    if selection:
        ctx.notices.extend(selection.notices)
    if cursor and not fim:
        ctx.notices.append(message("manuscript.from_cursor"))
    return ctx


# -- the model's tokenizer and context length -------------------------------------------------
_counters: dict[str, tuple[Counter, int]] = {}


def counter_for(root: Path, model: str) -> tuple[Counter, int]:
    """(token counter, context length) of a model, loaded once per process."""
    if model not in _counters:
        from studio.models import load_tokenizer, resolve

        source = resolve(model, root)
        tok = load_tokenizer(source)
        _counters[model] = (Counter(tok), context_length(source, tok))
    return _counters[model]


def context_length(source: str, tokenizer) -> int:
    """max_position_embeddings of the model's config, else the tokenizer's model_max_length."""
    import json

    config = Path(source) / "config.json"
    if config.exists():
        data = json.loads(config.read_text(encoding="utf-8"))
        for key in ("max_position_embeddings", "n_positions", "seq_length"):
            if data.get(key):
                return int(data[key])
    limit = getattr(tokenizer, "model_max_length", 0) or 0
    return int(limit) if 0 < limit < 1_000_000 else 2048
