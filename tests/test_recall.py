"""Recall of text that scrolled out of the context: passages, terms, the BM25 index and its cache."""
from __future__ import annotations

import random

import pytest

from studio.messages import render
from studio.write import recall
from studio.write.recall import RecallIndex, chunks, describe, terms, weight


def count(text: str) -> int:
    return len(text.split())


# -- generated manuscripts: plain prose around one planted fact ---------------------------------
PLANTED_EN = "The lighthouse keeper was named Tobias Venn, and he had kept the light for thirty years."
PLANTED_ZH = "灯塔看守人名叫秦墨，他在岛上住了三十年。"

_SUBJECTS = ["The old fisherman", "The harbour master", "A girl from the village", "The ferryman", "Her brother",
             "The captain", "The widow at the inn", "A stranger in a grey coat", "The priest", "The cooper"]
_ACTIONS = ["walked along the quay", "mended a torn net", "watched the grey water", "counted the boats",
            "carried bread up the hill", "lit the stove", "argued about the weather", "closed the shutters",
            "listened to the bell", "climbed the stair to the cliff", "sold herring by the wall",
            "wrote a letter to the mainland"]
_TIMES = ["at dawn", "after the storm", "before supper", "when the tide turned", "in the fog", "on market day"]
# the query's words, each alone, in other passages: only the planted one has them together
_DISTRACTORS = ["The lighthouse stood dark on the far rock.", "The keeper of the inn poured ale for the crew.",
                "Nobody knew who had built the lighthouse.", "A goat keeper came down from the hills."]


def english(paragraphs: int, seed: int = 1, plant_at: int | None = 5) -> str:
    rng = random.Random(seed)
    out = []
    for p in range(paragraphs):
        sentences = [f"{rng.choice(_SUBJECTS)} {rng.choice(_ACTIONS)} {rng.choice(_TIMES)}."
                     for _ in range(rng.randint(3, 7))]
        if rng.random() < 0.01:
            sentences.insert(rng.randrange(len(sentences)), rng.choice(_DISTRACTORS))
        if p == plant_at:
            sentences.insert(2, PLANTED_EN)
        out.append(" ".join(sentences))
    return "\n\n".join(out)


_ZH_TIMES = ["清晨", "黄昏时", "半夜里", "雨停之后", "赶集那天", "涨潮的时候"]
_ZH_SUBJECTS = ["渔夫", "老船长", "村里的姑娘", "摆渡的人", "她的哥哥", "客栈的寡妇", "穿灰衣的陌生人", "神父", "箍桶匠"]
_ZH_ACTIONS = ["沿着码头慢慢走", "修补破旧的渔网", "望着灰色的海面", "数着港里的船", "把面包背上山坡",
               "生起炉子", "争论明天的天气", "关上百叶窗", "听着教堂的钟声", "爬上悬崖的石阶", "在墙边卖鲱鱼"]
_ZH_DISTRACTORS = ["远处的灯塔一片漆黑。", "客栈的看守给水手们倒酒。", "没人知道灯塔是谁建的。", "山上的牧羊人下来了。"]


def chinese(paragraphs: int, seed: int = 2, plant_at: int | None = 5) -> str:
    rng = random.Random(seed)
    out = []
    for p in range(paragraphs):
        sentences = [f"{rng.choice(_ZH_TIMES)}，{rng.choice(_ZH_SUBJECTS)}{rng.choice(_ZH_ACTIONS)}。"
                     for _ in range(rng.randint(3, 7))]
        if rng.random() < 0.01:
            sentences.insert(rng.randrange(len(sentences)), rng.choice(_ZH_DISTRACTORS))
        if p == plant_at:
            sentences.insert(2, PLANTED_ZH)
        out.append("　　" + "".join(sentences))
    return "\n".join(out)  # one paragraph a line, indented: the Chinese layout


def _cut(text: str) -> int:
    """Where the kept text begins: about the last 6,000 characters stay in the context."""
    return text.rfind("\n", 0, len(text) - 6000) + 1


# -- finding the planted fact ------------------------------------------------------------------
def test_a_fact_planted_early_in_english_is_recalled_by_the_recent_text():
    text = english(1200)  # about 60,000 words
    text += "\n\nAt dusk the boat rounded the point and someone asked about the lighthouse keeper. " \
            + english(2, seed=9, plant_at=None)
    assert "the lighthouse keeper" in text[-1500:]
    found = RecallIndex().recall(text, _cut(text), text[-1500:], count, budget=300)
    assert found and found[0].start < 3000  # the planted passage is the oldest recalled
    assert PLANTED_EN in found[0].text
    assert max(found, key=lambda r: r.score).text == found[0].text  # and the best one


def test_a_fact_planted_early_in_chinese_is_recalled_by_the_recent_text():
    text = chinese(1500)
    text += "\n　　那天夜里，灯塔看守人又一次走下石阶。" + chinese(4, seed=9, plant_at=None)
    assert "灯塔看守人" in text[-1500:]
    found = RecallIndex().recall(text, _cut(text), text[-1500:], lambda s: len(s), budget=600)
    assert any(PLANTED_ZH in r.text for r in found)
    assert PLANTED_ZH in max(found, key=lambda r: r.score).text


def test_passages_after_the_cut_are_never_recalled():
    text = english(600, plant_at=590)  # the fact is in the kept text, not in what scrolled out
    cut = text.index(PLANTED_EN) - 2000
    found = RecallIndex().recall(text, cut, "the lighthouse keeper " + text[-1500:], count, budget=2000)
    assert found and all(r.end <= cut for r in found)
    assert not any(PLANTED_EN in r.text for r in found)


def test_recalled_passages_fit_the_budget_and_come_oldest_first():
    text = english(600)
    index = RecallIndex()
    query = "The goat keeper at the inn looked up at the lighthouse. " + text[-1500:]
    for budget in (50, 120, 400, 2000):
        found = index.recall(text, _cut(text), query, count, budget=budget, k=8)
        assert sum(r.tokens for r in found) <= budget
        assert [r.start for r in found] == sorted(r.start for r in found)
        assert all(r.tokens == count(r.text) and text[r.start:r.end] == r.text for r in found)
    assert len(index.recall(text, _cut(text), query, count, budget=10_000, k=4)) == 4
    assert index.recall(text, _cut(text), query, count, budget=5) == []  # no passage is that short


def test_nothing_is_recalled_without_a_cut_or_a_shared_word():
    text = english(300)
    index = RecallIndex()
    assert index.recall(text, 0, "the lighthouse keeper", count, budget=500) == []
    assert index.recall(text, _cut(text), "zebra quantum xylophone", count, budget=500) == []
    # everyday words of this manuscript (each in more than a tenth of its passages) point nowhere
    assert index.recall(text, _cut(text), "The captain walked along the quay at dawn.", count, budget=500) == []
    assert index.recall(text, _cut(text), "", count, budget=500) == []
    assert index.recall("", 0, "anything", count, budget=500) == []


# -- passages ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make, low, high", [(english, 60, 230), (chinese, 60, 230)])
def test_passages_are_paragraphs_merged_to_a_retrievable_size(make, low, high):
    text = make(400)
    found = chunks(text)
    assert all(text[c.start:c.end] == c.text and c.text == c.text.strip() for c in found)
    sizes = [weight(c.text) for c in found[:-1]]  # the last may be short: the manuscript ends there
    assert low <= min(sizes) and max(sizes) <= high
    assert found[0].paragraph == 1 and found[-1].paragraph <= 400
    long = "A sentence of about ten words sits right here, friend. " * 60  # one 600-word paragraph
    pieces = chunks(long)
    assert len(pieces) > 4 and all(weight(c.text) <= 150 for c in pieces)


def test_appending_or_editing_late_keeps_every_earlier_passage():
    for make in (english, chinese):
        text = make(300)
        before = chunks(text)
        sep = "\n\n" if make is english else "\n"
        appended = chunks(text + " And one more sentence at the end." + sep + "A new paragraph.")
        assert appended[:len(before) - 1] == before[:-1]
        late = text.rfind(sep, 0, len(text) * 3 // 4)  # a paragraph three quarters in
        edited = text[:late] + " An inserted sentence, right here." + text[late:]
        untouched = [c for c in before if c.end < text.rfind(sep, 0, late)]  # before the edited paragraph
        assert len(untouched) > len(before) // 2
        assert chunks(edited)[:len(untouched)] == untouched


def test_the_index_chunks_a_changed_manuscript_as_chunks_would():
    rng = random.Random(5)
    index = RecallIndex()
    text = english(200)
    index.update(text)
    for _ in range(40):
        at = rng.choice([len(text), len(text) - rng.randrange(1, 400), rng.randrange(len(text))])
        cut = rng.randrange(0, 30)
        text = text[:at] + rng.choice(["", " word", ". New line\n\nand more", "\n\n", "x" * 30]) + text[at + cut:]
        index.update(text)
        assert index.chunks == chunks(text)


# -- terms -------------------------------------------------------------------------------------
def test_terms_fold_case_drop_stopwords_and_plurals_and_pair_cjk_characters():
    assert terms("The Keeper's LAMPS were lit by the keepers’ boys; stories") == \
        ["keeper", "lamp", "lit", "keeper", "boy", "story"]
    assert terms("ＴＯＢＩＡＳ Venn") == ["tobia", "venn"]  # full-width letters fold (NFKC); "tobias" stems as a plural would
    assert terms("灯塔看守人") == ["灯塔", "塔看", "看守", "守人"]
    assert terms("墨，说") == ["墨", "说"]  # a lone character between punctuation is a term of its own
    assert terms("在Gannet岛上") == ["在", "gannet", "岛上"]


# -- the cache ---------------------------------------------------------------------------------
def test_the_cached_index_is_reused_and_a_changed_manuscript_refreshes_it(monkeypatch):
    builds = []
    build = RecallIndex.build
    monkeypatch.setattr(RecallIndex, "build", lambda self: (builds.append(1), build(self)))
    monkeypatch.setattr(recall, "_indexes", type(recall._indexes)())
    text = english(600)
    cut = _cut(text)
    query = "the lighthouse keeper " + text[-1500:]
    first = recall.recall("book-1", text, cut, query, count, budget=300)
    assert recall.recall("book-1", text, cut, query + " gull", count, budget=300) == first
    assert len(builds) == 1
    # a continue: text appended, the cut a paragraph further on; nothing before the cut changed
    longer = text + "\n\nThe captain lit the stove at dawn. " * 3
    recall.recall("book-1", longer, longer.index("\n\n", cut + 1) + 2, query, count, budget=300)
    assert len(builds) == 1
    # a continue from a cursor (the text before it), then from the end again: still the same index
    recall.recall("book-1", longer[:len(longer) // 2], cut // 3, query, count, budget=300)
    recall.recall("book-1", longer, cut, query, count, budget=300)
    assert len(builds) == 1
    # an edit early in the book: the index is built again and recalls the new words
    edited = longer.replace("Tobias Venn", "Silas Crane")
    found = recall.recall("book-1", edited, cut, "Silas Crane " + query, count, budget=300)
    assert len(builds) == 2 and any("Silas Crane" in r.text for r in found)
    # another manuscript has its own index; the least recently used go when more are kept
    recall.recall("book-2", chinese(100), 3000, "灯塔看守人", len, budget=300)
    assert len(builds) == 3 and set(recall._indexes) == {"book-1", "book-2"}
    for n in range(recall.INDEXES_KEPT):
        recall.index_for(f"other-{n}")
    assert "book-1" not in recall._indexes and len(recall._indexes) == recall.INDEXES_KEPT


def test_describe_names_the_paragraph_and_first_words():
    text = english(400)
    found = RecallIndex().recall(text, _cut(text), "who was the lighthouse keeper", count, budget=300)
    shown = describe(found)
    assert PLANTED_EN in found[0].text and shown[0]["start"] == found[0].start
    nth = text[:found[0].start].count("\n\n") + 1  # paragraphs are blank-line separated here
    assert shown[0]["paragraph"] == nth and nth in (5, 6)  # the planted paragraph is the sixth
    assert shown[0]["opening"].endswith("…") and len(shown[0]["opening"].split()) == 9
    assert shown[0]["opening"][:-2] in text[found[0].start:]
    assert f"paragraph {nth}" in render("en", shown[0]["label"]) and f"第 {nth} 段" in render("zh", shown[0]["label"])
    zh = chinese(200)
    shown = describe(RecallIndex().recall(zh, _cut(zh), "灯塔看守人", len, budget=600))
    assert shown[0]["opening"].endswith("……") and len(shown[0]["opening"]) == 18
