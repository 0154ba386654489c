"""What the model sees changes late, not early, between two continues of a growing manuscript
(studio/write/context.py): the drafter reuses the key/value cache of the last context up to the first
token that differs, so the head cut and the place of the note move on a grid, not with every sentence."""
from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from studio.write.bible import Entry, Settings
from studio.write.context import RECALL_END, Counter, assemble

BUDGET = 8000  # tokens of the tiny model's tokenizer: about 19,000 English or 2,700 Chinese characters
MEMORY, NOTE = "A lighthouse on a northern island.", "Rain all night."

_SUBJECTS = ["The old fisherman", "The harbour master", "A girl from the village", "The ferryman", "Her brother"]
_ACTIONS = ["walked along the quay", "mended a torn net", "watched the grey water", "counted the boats",
            "lit the stove"]
_TIMES = ["at dawn", "after the storm", "before supper", "when the tide turned", "in the fog"]
_ZH_TIMES = ["清晨", "黄昏时", "半夜里", "雨停之后"]
_ZH_SUBJECTS = ["渔夫", "老船长", "村里的姑娘", "摆渡的人"]
_ZH_ACTIONS = ["沿着码头慢慢走", "修补破旧的渔网", "望着灰色的海面", "生起炉子"]


@pytest.fixture(scope="module")
def count(tiny_model_dir):
    from transformers import AutoTokenizer

    return Counter(AutoTokenizer.from_pretrained(str(tiny_model_dir)))


class Story:
    """A manuscript that grows a sentence or a paragraph at a time, in English (blank lines between
    paragraphs) or Chinese (one indented paragraph a line)."""

    def __init__(self, lang: str, paragraphs: int, seed: int = 1):
        self.lang, self.rng = lang, random.Random(seed)
        self.text = self.paragraph()
        for _ in range(paragraphs - 1):
            self.add_paragraph()

    def sentence(self) -> str:
        r = self.rng
        if self.lang == "zh":
            return f"{r.choice(_ZH_TIMES)}，{r.choice(_ZH_SUBJECTS)}{r.choice(_ZH_ACTIONS)}。"
        return f"{r.choice(_SUBJECTS)} {r.choice(_ACTIONS)} {r.choice(_TIMES)}."

    def paragraph(self) -> str:
        joiner, indent = ("", "　　") if self.lang == "zh" else (" ", "")
        return indent + joiner.join(self.sentence() for _ in range(self.rng.randint(3, 6)))

    def add_sentence(self) -> None:
        self.text += ("" if self.lang == "zh" else " ") + self.sentence()

    def add_paragraph(self) -> None:
        self.text += ("\n" if self.lang == "zh" else "\n\n") + self.paragraph()


def stable(ctx) -> str:
    """The context up to the late block: what the drafter's cache can keep."""
    return ctx.text[:ctx.stable_chars]


def part(ctx, name: str, nth: int = 0) -> str:
    return [text for p, text, _ in ctx.parts if p == name][nth]


def grow(count, story: Story, steps: int, budget: int = BUDGET, **kw) -> list:
    """The contexts of `steps` continues, a sentence appended each time (a paragraph every sixth)."""
    out = []
    for i in range(steps):
        story.add_paragraph() if i % 6 == 5 else story.add_sentence()
        out.append(assemble(count, story.text, MEMORY, NOTE, budget, **kw))
    return out


def fits(count, ctx) -> bool:
    return ctx.tokens <= ctx.budget and count.exact(ctx.text) <= ctx.budget


# -- (a) an appended sentence or paragraph changes the context only from the late block on ------------
@pytest.mark.parametrize("lang, paragraphs", [("en", 250), ("zh", 120)])
def test_appending_a_sentence_or_a_paragraph_leaves_the_context_unchanged_up_to_the_late_block(count, lang,
                                                                                               paragraphs):
    story = Story(lang, paragraphs)
    old = assemble(count, story.text, MEMORY, NOTE, BUDGET)
    assert old.cut_chars > 0, "the manuscript is longer than the window"
    kept, moved = 0, 0
    for add in [story.add_sentence, story.add_paragraph] * 12:
        add()
        new = assemble(count, story.text, MEMORY, NOTE, BUDGET)
        if new.cut_chars == old.cut_chars:
            assert new.text.startswith(stable(old)), "the head stayed, so the text up to the late block stays"
            kept += 1
        else:
            moved += 1
        assert stable(new).startswith(f"{MEMORY}\n\n") and len(stable(new)) > len(new.text) // 2
        old = new
    assert kept >= 20 and moved <= 4, (kept, moved)


# -- (b) the head cut and the tail split move a few times over many continues ----------------------
@pytest.mark.parametrize("lang, paragraphs", [("en", 250), ("zh", 120)])
def test_over_forty_appends_the_head_cut_and_the_tail_split_move_only_a_few_times(count, lang, paragraphs):
    contexts = grow(count, Story(lang, paragraphs), 40)
    cuts = [c.cut_chars for c in contexts]
    splits = [c.tail_at for c in contexts]
    assert all(c > 0 for c in cuts) and cuts == sorted(cuts) and splits == sorted(splits)
    assert len(set(cuts)) <= 6, cuts  # the old exact cut moved on all 40
    assert len(set(splits)) <= 8, splits  # the old note, 3 paragraphs before the end: on every paragraph
    reused = sum(b.text.startswith(stable(a)) for a, b in zip(contexts, contexts[1:]))
    assert reused >= 33, reused


# -- (c) the order: memory, always-on entries, older text, late block, tail -------------------------
def test_the_note_fired_entries_and_recall_come_after_the_older_text_and_always_on_entries_after_the_memory(count):
    story = Story("en", 250)
    story.text += "\n\nAt dusk the ferryman rowed out past the point."
    entries = [Entry("Island", [], "The island is called Skarra.", constant=True),
               Entry("Oskar", ["ferryman"], "The ferryman is Oskar Brannigan."),
               Entry("Wren", ["ferryman"], "Wren keeps the tide tables.", position="before_note"),
               Entry("Deep", ["ferryman"], "Oskar fears the water.", position="depth", depth=2)]

    @dataclass
    class Recalled:
        text: str
        end: int

    asked = []

    def recall(before, cut, count_, tokens):
        asked.append(cut)
        return [Recalled("Long ago the lamp was lit with whale oil.", 40)]

    ctx = assemble(count, story.text, MEMORY, NOTE, BUDGET, bible=(entries, Settings()), recall=recall,
                   recall_budget=300, context_length=8192)
    text = ctx.text
    assert text.startswith(f"{MEMORY}\n\nThe island is called Skarra.\n")
    older, tail = part(ctx, "manuscript"), part(ctx, "end")
    assert older and text.index(older) == len(f"{MEMORY}\n\nThe island is called Skarra.\n")
    at = {s: text.index(s) for s in ("The ferryman is Oskar", "Long ago the lamp", RECALL_END, "Wren keeps",
                                     f"[{NOTE}]", "Oskar fears")}
    assert text.index(older) + len(older) <= at["The ferryman is Oskar"] < at["Long ago the lamp"] < at[RECALL_END] \
        < at["Wren keeps"] < at[f"[{NOTE}]"] < at["Oskar fears"]
    assert stable(ctx) == f"{MEMORY}\n\nThe island is called Skarra.\n" + older
    assert text.endswith("rowed out past the point.") and "Oskar fears the water.\n" in text[-len(tail) - 40:]
    assert asked == [ctx.cut_chars], "recall asks for passages before the stepped cut"
    names = [p for p, _, _ in ctx.parts]
    assert names == ["memory", "bible", "manuscript", "bible", "recall", "note", "end"]
    assert part(ctx, "bible", 1) == ("The ferryman is Oskar Brannigan.\nWren keeps the tide tables.\n"
                                     "Oskar fears the water.\n")
    assert fits(count, ctx)


def test_an_entry_fired_or_not_does_not_move_the_head_cut(count):
    story = Story("en", 250)
    entries = [Entry("Lantern", ["lantern"], "The lantern came from Oskar's father. " * 5)]
    without = assemble(count, story.text + " The moon rose.", MEMORY, NOTE, BUDGET, bible=(entries, Settings()))
    fired = assemble(count, story.text + " The lantern rose.", MEMORY, NOTE, BUDGET, bible=(entries, Settings()))
    assert not without.bible.fired and fired.bible.fired
    assert fired.cut_chars == without.cut_chars and fired.text.startswith(stable(without))


# -- (d) the tail: never empty, the manuscript's last words --------------------------------------------
@pytest.mark.parametrize("text", [
    "One sentence only.",
    "A first paragraph.\n\nA second one, short.",
    "No newline at all. " * 400 + "The end.",
    "A line.\n" * 300 + "And a last line without a full stop",
    "　　" + "清晨，渔夫沿着码头慢慢走。" * 200 + "最后一句！",
    "Trailing blank lines.\n\n\n\n",
    "word " * 3000,  # one sentence longer than the room: its end, mid-sentence
])
@pytest.mark.parametrize("note", ["", NOTE])
def test_the_tail_is_never_empty_and_ends_with_the_manuscripts_last_words(count, text, note):
    for budget in (60, 300, BUDGET):
        ctx = assemble(count, text, "", note, budget)
        tail = part(ctx, "end")
        assert tail.strip() and text.endswith(tail) and ctx.text.endswith(tail)
        assert ctx.tail_at == len(text) - len(tail) and ctx.tail_at >= ctx.cut_chars
        if note:
            assert ctx.text.index(f"[{note}]") < len(ctx.text) - len(tail)
        assert fits(count, ctx)


def test_the_tail_holds_the_last_few_paragraphs_not_the_whole_window(count):
    ctx = grow(count, Story("en", 250), 1)[0]
    tail = part(ctx, "end")
    assert 600 <= len(tail) <= 600 + 1200 + 600  # TAIL_MIN, TAIL_STEP, at most a paragraph more
    assert len(part(ctx, "manuscript")) > 3 * len(tail)


# -- (e) the budget -----------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_budget_is_never_exceeded_while_the_text_grows(count, lang):
    story = Story(lang, 250 if lang == "en" else 120, seed=3)
    entries = [Entry("Always", [], "The island is called Skarra.", constant=True),
               Entry("Ferry", ["ferryman", "摆渡"], "The ferryman is Oskar Brannigan.")]
    for budget in (120, 700, BUDGET):
        for ctx in grow(count, story, 8, budget, bible=(entries, Settings())):
            assert fits(count, ctx) and part(ctx, "end").strip()
            assert sum(t for _, _, t in ctx.parts) <= ctx.budget
            if budget >= 700:  # a room of a few sentences may keep only one
                assert ctx.tokens >= budget * 3 // 4, "about a step of the room at most is left unused"
