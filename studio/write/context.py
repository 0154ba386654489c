"""What the model sees when it continues a manuscript, fitted to its context.

    memory            kept at the top, whole
    story bible       the always-on entries placed after the memory
    manuscript        the older kept text: from the head cut to the tail split
    late block        the entries fired by a key (placed "after the memory" or not: a fired entry
                      changes from one continue to the next, so it comes here, not at the top);
                      the passages of text that scrolled out, the most relevant to the newest text,
                      oldest first, closed by a scene break (RECALL_END); the entries placed before
                      the note (always-on or fired); the author's note
    end (the tail)    the newest text, with the entries placed at a depth of N paragraphs from its
                      end (at most at its start); never empty when there is text before the draft point

all within the model's context length minus the tokens to draft, counted with the model's own
tokenizer.

Stable first, changing last. The drafter keeps the key/value cache of the last context it read for
each manuscript and pane, and at the next continue reads only from the first token that differs. So
the parts that change between two continues of a growing manuscript (fired entries, recall, the
note's place, the newest text) come last, and the two places where the text is cut move on a grid
of "weighted characters" counted from the start of the text before the draft point, not with every
appended sentence. A character weighs its UTF-8 length: 1 for ASCII, 2 for accented Latin, Greek and
Cyrillic, 3 for CJK (and for typographic punctuation such as “ ” — …). SmolLM2 spends about one
token on 4.5 English characters and 1.5 tokens on a Chinese character: about 4 weighted characters
a token in English, 2 in Chinese.

    head cut          when the manuscript is longer than fits, the kept text starts at the first
                      grid point at or after the exact cut where the room runs out, moved on to the
                      next paragraph start within a quarter step, else to the next sentence start in
                      that paragraph (. ! ? … 。！？ and closing quotes). The grid: multiples of a step
                      of 1/CUT_SHARE = 1/8 of the manuscript's room, in tokens times the kept text's
                      weighted characters per token rounded to a power of two (4 in English, 2 in
                      Chinese: rounded so that it stays the same while the window slides; about 3,000
                      weighted characters on an 8,192-token context). The start then stays put while
                      the writer appends about an eighth of the room, and moves a step at a time. The
                      price: the kept text is shorter than the room by up to a step and a quarter,
                      half a step (1/16 of the room) on average. The exact cut (mid-sentence when one
                      sentence is longer than the room) when no start follows the grid point in reach,
                      or when the stepped cut would keep less than half the text (a room of a few
                      sentences). The room the head cut counts with leaves out the whole recall budget
                      and the tokens of every enabled bible entry (at most the bible's budget), not
                      what fired or was recalled this time: otherwise an entry firing or not would
                      move the start back and forth across a grid point. What they leave unused stays
                      empty.
    tail split        the late block goes before the tail, which starts at the grid point
                      floor((W - TAIL_MIN) / TAIL_STEP) * TAIL_STEP of the text's weight W, moved back
                      to the start of its paragraph (or of its sentence, when the paragraph starts more
                      than TAIL_STEP characters before it). Backward, not forward: a paragraph or
                      sentence start before the point never changes as the writer appends, one after it
                      may appear with the next paragraph; so the split moves only when W passes a grid
                      line, once per TAIL_STEP of new text, and the tail holds at least TAIL_MIN.
                      TAIL_MIN = 600 (about 130 English tokens, 200 Chinese characters: the last few
                      sentences, which the model reads right after the note) and TAIL_STEP = 1,200
                      (a move every 2 to 4 continues of 64-128 tokens in English, 5 to 9 in Chinese;
                      the tail, read again at every continue, is 130-400 English tokens plus at most a
                      paragraph). On a small context (a step under 1,200) they shrink to half a step
                      and a step.

Token counts are cached per paragraph and per sentence (by their text), and only the paragraphs
nearest the draft point are counted at all, so a continue on a 200,000-word manuscript tokenizes
only what changed near its end; the assembled text is counted once more as a whole and the room
made smaller if the pieces' sum was short of the real count.

From the cursor: the text before the cursor is the manuscript. A tokenizer with fill-in-the-middle
tokens (<fim_prefix> or <|fim_prefix|> and the rest) also gets the text after the cursor (a quarter
of the room at most); without them the context says that it continues from the cursor.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.messages import message
from studio.write.manuscript import ManuscriptError

WEIGHT_PER_TOKEN = 4  # weighted characters (UTF-8 bytes) per token, when no text was counted yet
CUT_SHARE = 8  # the head cut moves in steps of 1/8 of the manuscript's room
TAIL_MIN = 600  # weighted characters the tail (the text after the note) holds at least
TAIL_STEP = 1200  # the tail split moves once per this much new text (weighted characters)
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
    parts: list[tuple[str, str, int]]  # (part, its text, its tokens), in the text's order: memory, bible,
    # manuscript (the older text), bible (fired, before the note, at a depth), recall, note, end (the tail), after
    tokens: int  # the whole text, counted as sent
    budget: int  # context length minus the tokens to draft
    cut_chars: int  # characters of the manuscript before the draft point left out
    mode: str = "end"  # end | cursor | fim
    notices: list[dict] = field(default_factory=list)
    bible: Any = None  # the story bible's Selection (studio/write/bible.py): what fired, what was left out
    recalled: list = field(default_factory=list)  # passages of scrolled-out text placed (studio/write/recall.py)
    stable_chars: int = 0  # characters of `text` before the late block: they change only when the head cut moves
    tail_at: int = 0  # where in the text before the draft point the tail (the text after the late block) starts


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


# -- where the text is cut: on a grid of weighted characters (see the module's docstring) ----------
_PARAGRAPH_START = re.compile(r"^(?=[^\S\n]*\S)", re.M)  # the start of a line with more than spaces on it


def _weight(text: str) -> int:
    """Weighted characters: the UTF-8 length (ASCII 1, CJK 3)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _char_at(text: str, start: int, weight: int) -> int:
    """The offset of the first character of text[start:] that begins `weight` or more weighted
    characters after `start` (len(text) when none does)."""
    rest = text[start:]
    if rest.isascii():
        return min(len(text), start + max(0, weight))
    return len(text) - len(rest.encode("utf-8")[max(0, weight):].decode("utf-8", "ignore"))


def _sentence_starts(text: str, lo: int):
    """The sentence starts (ends of sentence marks with their quotes and spaces) in the line of text
    around `lo`, from `lo` on; none at the line's end (that is the next paragraph's start)."""
    line_end = text.find("\n", lo)
    line_end = len(text) if line_end < 0 else line_end
    for m in _SENTENCE_END.finditer(text, lo, line_end):
        if m.end() < line_end:
            yield m.end()


def _paragraph_start_before(text: str, at: int, lo: int) -> int | None:
    """The start of the last line with more than spaces on it that begins at or before `at`, not
    before `lo`."""
    while at >= lo:
        start = text.rfind("\n", 0, at) + 1
        if start < lo:
            return None
        if _PARAGRAPH_START.match(text, start):
            return start
        if start == 0:
            return None
        at = start - 1
    return None


def _exact_cut(count: Counter, before: str, room: int) -> tuple[int, str, int]:
    """(where the text that fits `room` starts, that text, its tokens as the pieces' sum)."""
    pieces, used = _newest_fitting(count, before, room) if room > 0 else ([], 0)
    kept = "".join(pieces)
    return len(before) - len(kept), kept, used


def _cut_step(kept: str, used: int, room: int) -> int:
    """The head cut's step in weighted characters: 1/CUT_SHARE of the room, at the kept text's weighted
    characters per token rounded to a power of two (about 4 in English, 2 in Chinese with SmolLM2:
    rounded, so that the step stays the same while the window slides over text like the rest)."""
    per_token = 2 ** max(0, min(3, round(math.log2(max(1.0, _weight(kept) / used))))) if used > 0 else WEIGHT_PER_TOKEN
    return max(1, room * per_token // CUT_SHARE)


def _head_cut(before: str, exact: int, kept: str, step: int) -> tuple[int, str]:
    """(where the kept text starts, the kept text): the exact cut moved on to the next grid point, then
    to the next paragraph start within a quarter step, else to the next sentence start in its
    paragraph; the exact cut when neither exists or when that keeps less than half of the text (a
    room of a few sentences)."""
    if exact == 0 or not kept or not before.endswith(kept):  # all of it, nothing, or the one long sentence
        return exact, kept
    done = _weight(before[:exact])
    at = _char_at(before, exact, -(-done // step) * step - done)
    if at >= len(before):
        return exact, kept
    paragraph = _PARAGRAPH_START.search(before, at, min(len(before), at + max(1, step // 4)))
    if paragraph:
        cut = paragraph.start()
    else:
        line = before.rfind("\n", 0, at) + 1
        cut = next((s for s in _sentence_starts(before, max(line, at - 16)) if s >= at), exact)
    return (cut, before[cut:]) if 2 * _weight(before[cut:]) >= _weight(kept) else (exact, kept)


def _tail_split(before: str, cut: int, tail_min: int, tail_step: int) -> int:
    """Where the tail (the text after the late block) starts: the grid point TAIL_MIN or more before
    the end, moved back to its paragraph's start, or to its sentence's start when the paragraph
    starts more than a step before it; never before `cut`, never at the end."""
    done = _weight(before[:cut])
    grid = (done + _weight(before[cut:]) - tail_min) // tail_step * tail_step
    if grid <= done:
        return cut
    at = _char_at(before, cut, grid - done)
    paragraph = _paragraph_start_before(before, at, cut)
    if paragraph is not None and at - paragraph <= tail_step:
        return paragraph
    lo = max(paragraph if paragraph is not None else cut, cut, at - 2 * tail_step)
    starts = _sentence_starts(before, max(before.rfind("\n", 0, lo) + 1, lo - 16))
    found = [s for s in itertools.takewhile(lambda s: s <= at, starts) if s >= lo]
    split = found[-1] if found else paragraph if paragraph is not None else cut
    return split if split < len(before) else cut


# -- the parts and their places ------------------------------------------------------------------
def _parts(count: Counter, head: list[tuple[str, str]], older: str, late: list[tuple[str, str]], tail: list[str],
           after: str | None) -> list[tuple[str, str, int]]:
    """Each part of the context with its tokens, in the order of the text, as the sum of its pieces'
    (cached) counts: no part is tokenized again. The bible and recall only when they hold something."""
    def pieces(text: str) -> int:
        return sum(map(count, text.splitlines(keepends=True)))

    parts = [(name, text, count(text)) for name, text in head if text or name == "memory"]
    parts.append(("manuscript", older, pieces(older)))
    parts += [(name, text, count(text)) for name, text in late if text or name == "note"]
    parts.append(("end", "".join(tail), sum(map(count, tail))))
    return parts + ([("after", after, count(after))] if after is not None else [])


def _fired(count: Counter, before: str, bible: tuple | None, room: int, context_length: int) -> tuple:
    """(the bible's Selection or None, its fired entries by place, the tokens kept for the bible): the
    entries fired by the text before the draft point, within the bible's budget and at most half the
    room left. Places: "head" (always on, after the memory), "late" (fired by a key, placed after the
    memory), "before_note", "depth". The tokens kept: those of every enabled entry, at most the
    budget, so that what fires does not move the head cut."""
    lore: dict[str, list] = {"head": [], "late": [], "before_note": [], "depth": []}
    if not bible:
        return None, lore, 0
    from studio.write import bible as bible_rules

    entries, settings = bible
    budget = max(0, min(settings.budget(context_length), room // 2))
    selection = bible_rules.select(entries, settings, before, count, budget)
    for fired in selection.fired:
        place = fired.entry.position if fired.entry.position in ("before_note", "depth") else \
            "head" if fired.entry.constant else "late"
        lore[place].append(fired)
    fired_tokens = sum(count(_lore_text(f)) for f in selection.fired)
    every = sum(count(e.text.strip() + "\n") for e in entries if e.enabled and e.text.strip())
    return selection, lore, max(fired_tokens, min(budget, every))


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
    selection, lore, lore_tokens = _fired(count, before, bible, room, context_length or budget)
    room -= lore_tokens
    reserve = min(recall_budget, room // 4) if recall is not None and before else 0
    room -= reserve  # what is left for the manuscript, whatever fires or is recalled this time
    exact, kept, used = _exact_cut(count, before, room)
    step = _cut_step(kept, used, room)
    tail_min, tail_step = max(4, min(TAIL_MIN, step // 2)), max(1, min(TAIL_STEP, step))
    cut, kept = _head_cut(before, exact, kept, step)
    recalled = recall(before, cut, count, reserve - count(RECALL_END)) if reserve > 0 else []
    head_lore, late_lore, note_lore = ("".join(map(_lore_text, lore[k])) for k in ("head", "late", "before_note"))
    while True:
        recalled = [r for r in recalled if r.end <= cut]
        recall_part = _recall_text(recalled)
        split = _tail_split(before, cut, tail_min, tail_step) if before.endswith(kept) else cut
        older, tail = kept[:split - cut], kept[split - cut:].splitlines(keepends=True)
        inserts: dict[int, list[str]] = {}
        for fired in lore["depth"]:
            inserts.setdefault(_depth_index(tail, fired.entry.depth), []).insert(0, _lore_text(fired))
        late = late_lore + recall_part + note_lore + note_part
        if older and not older.endswith("\n") and (late or inserts.get(0)):
            older += "\n"  # the late block starts on a line of its own
        stable = memory_part + head_lore + older
        prompt = stable + late + _join(tail, inserts)
        text = f"{fim[0]}{prompt}{fim[1]}{after_part}{fim[2]}" if fim else prompt
        total = count.exact(text)
        if total <= budget or room <= 0:
            break
        room -= total - budget  # the pieces' sum was short of the real count: ask for less
        cut, kept = _head_cut(before, *_exact_cut(count, before, room)[:2], step)
    depth_lore = "".join(_lore_text(f) for f in lore["depth"])
    parts = _parts(count, [("memory", memory_part), ("bible", head_lore)], older,
                   [("bible", late_lore + note_lore + depth_lore), ("recall", recall_part), ("note", note_part)],
                   tail, after_part if fim else None)
    mode = "fim" if fim else "cursor" if cursor else "end"
    ctx = Context(text, parts, total, budget, cut, mode, bible=selection, recalled=recalled,
                  stable_chars=len(fim[0] if fim else "") + len(stable), tail_at=split)
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
