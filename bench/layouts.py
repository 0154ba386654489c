"""Corpora in the layouts writers really have, generated from a seed for this project (no text
is copied from anywhere). Two invented voices per language, so a test can tell an author from
another one:

- the keeper (English) / 守灯人 (Chinese): short, plain sentences about a lighthouse, weather and a cat;
- the clerk (English) / 账房先生 (Chinese): long, subordinate-heavy sentences about a city office.

Used by tests (the split, style match) and by bench/writer.py (the whole loop per layout).
"""
from __future__ import annotations

import random
from pathlib import Path

KEEPER = {
    "start": ["The wind came {dir} before dawn.", "Fog sat on the rock until noon.", "The sea was {sea} all day.",
              "I lit the lamp at {time}.", "The supply boat did not come.", "Rain drummed on the lantern glass."],
    "middle": ["The cat took the warm stair and would not move.", "I counted {n} seals on the low ledge.",
               "The gulls argued over a fish head.", "I scrubbed the lens until it shone.",
               "Oil: {n} gallons, no more.", "A fishing boat passed and the men waved.",
               "I mended the rain barrel with pitch.", "The horn sounded every two minutes.",
               "The kettle boiled twice before I drank.", "I wrote to nobody and sealed the letter."],
    "end": ["A rock does not care who sits on it.", "Clean glass first; opinions after.",
            "The lamp stayed lit.", "The cat slept. So did I, later.", "Nothing else happened, which is the job."],
    "dir": ["north", "from the east", "hard from the west", "soft from the south"],
    "sea": ["grey", "green at the edges", "flat as a pressed collar", "white where it met the reef"],
}
CLERK = {
    "start": ["Although the morning had begun, as mornings in the ministry generally did, with a certain reluctance, "
              "the clerk found himself obliged, by the weight of the correspondence, to attend to it at once.",
              "It was, I believe, a Tuesday when the director, whose habits were regular to the point of tyranny, "
              "summoned the entire department into the long room overlooking the square.",
              "Whenever the trams passed beneath the windows, which they did with an impertinent frequency, "
              "the ink in every well along the counting desk trembled in sympathy."],
    "middle": ["Mr Halloway, who had been promised promotion on three separate occasions, each more solemn than the "
               "last, remarked that the ledgers were, in his considered opinion, entirely beyond redemption.",
               "The junior clerks, being of an age that mistakes boredom for wisdom, exchanged glances of a kind "
               "that suggested they had anticipated precisely this outcome for several weeks.",
               "One could not, of course, say so aloud; but it was generally understood that the filing system, "
               "inherited from a predecessor long since retired to the coast, had never once been consulted.",
               "Outside, the city went about its business with the indifference of a creditor who knows "
               "that payment, however delayed, will eventually arrive."],
    "end": ["And so the matter, like so many matters before it, was deferred until the following quarter.",
            "Nobody, naturally, was surprised; but everybody, equally naturally, pretended to be."],
}
ZH_KEEPER = {
    "start": ["天还没亮，风就从{dir}来了。", "雾一直压在礁石上，到中午才散。", "今天海是{sea}的。", "我在{time}点亮了灯。",
              "补给船又没有来。"],
    "middle": ["猫占了最暖和的台阶，怎么叫也不动。", "我在低处的礁石上数到{n}只海豹。", "海鸥为一个鱼头吵了半天。",
               "我把透镜擦得发亮。", "灯油还剩{n}桶，不能再多用了。", "一条渔船经过，船上的人朝我挥手。",
               "我用沥青补好了雨水桶。", "雾号每两分钟响一次。", "水壶开了两回，我才想起来喝。"],
    "end": ["礁石不在乎谁坐在上面。", "先把玻璃擦干净，道理以后再说。", "灯一直亮着。", "猫睡了，我后来也睡了。"],
    "dir": ["北边", "东边", "西边，刮得很猛", "南边，软软的"],
    "sea": ["灰", "绿", "白", "黑"],
}
ZH_CLERK = {
    "start": ["虽说衙门里的早晨向来是懒散的，可那位账房先生，因为来往文书堆积如山的缘故，也不得不一早便伏案料理起来。",
              "那一天，据我记得，大约是个礼拜二，局长——此人的习惯规矩到了近乎专横的地步——把全处的人都叫进了朝着广场的长厅。",
              "每当电车从窗下经过，而它们经过得又是那样频繁、那样不知趣，账台上一排墨水瓶里的墨便一齐跟着发抖。"],
    "middle": ["黄先生曾经三次被许诺升迁，而且一次比一次郑重，他此刻慢条斯理地说，依他之见，这些账簿是无论如何也救不回来的了。",
               "那几个年轻的书记，正处在把无聊误当作见识的年纪，彼此交换了一个眼色，仿佛这样的结局他们早在几个礼拜以前便料到了。",
               "这话自然是不能说出口的；不过大家心里都明白，那套从一位早已告老还乡的前任手里接过来的档案制度，从来就没有人查阅过。",
               "窗外，城市照旧忙它自己的事，那副漠然的神气，活像一个债主，知道欠款无论拖得多久，终究是要还的。"],
    "end": ["于是这件事，也像先前许多事情一样，被推到了下一个季度。", "自然谁也不觉得意外；可是，也同样自然地，人人都装作很意外。"],
}


def _fill(rng: random.Random, voice: dict, key: str) -> str:
    text = rng.choice(voice[key])
    return text.format(dir=rng.choice(voice.get("dir", [""])), sea=rng.choice(voice.get("sea", [""])),
                       time=f"{rng.randint(15, 19)}:{rng.randint(10, 59)}", n=rng.randint(2, 14))


def paragraph(rng: random.Random, voice: dict, sentences: int, joiner: str = " ") -> str:
    parts = [_fill(rng, voice, "start")] + [_fill(rng, voice, "middle") for _ in range(max(sentences - 2, 0))]
    return joiner.join(parts + [_fill(rng, voice, "end")])


def prose(rng: random.Random, voice: dict, paragraphs: int, joiner: str = " ") -> list[str]:
    return [paragraph(rng, voice, rng.randint(3, 7), joiner) for _ in range(paragraphs)]


# ---- layouts: each writes its files into `folder` and returns their paths ----------------------

def long_log(folder: Path, seed: int = 0) -> list[Path]:
    """One long file of dated entries separated by blank lines (a diary or a ship's log)."""
    rng = random.Random(seed)
    entries = [f"Day {day}. " + paragraph(rng, KEEPER, rng.randint(4, 8)) for day in range(1, 101)]
    path = folder / "keeper-log.txt"
    path.write_text("\n\n".join(entries) + "\n", encoding="utf-8")
    return [path]


def short_stories(folder: Path, seed: int = 0) -> list[Path]:
    """Three story files of very different lengths, blank-line paragraphs, a title line each."""
    rng = random.Random(seed)
    paths = []
    for title, paragraphs in (("The Supply Boat", 6), ("Fog Week", 28), ("The Winter Keeper", 70)):
        path = folder / (title.lower().replace(" ", "-") + ".txt")
        path.write_text(title + "\n\n" + "\n\n".join(prose(rng, KEEPER, paragraphs)) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def chinese_novel(folder: Path, seed: int = 0) -> list[Path]:
    """A Chinese novel in GB18030: chapter headings, one paragraph per line indented with `　　`, no blank lines."""
    rng = random.Random(seed)
    numerals = "一二三四五六七八九十"
    lines = []
    for chapter in range(10):
        lines.append(f"第{numerals[chapter]}章 守灯")
        lines += ["　　" + p for p in prose(rng, ZH_KEEPER, rng.randint(14, 20), joiner="")]
    path = folder / "守灯人.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return [path]


def markdown_manuscript(folder: Path, seed: int = 0) -> list[Path]:
    """A Markdown manuscript: `#` title, `##` chapters, blank-line paragraphs."""
    rng = random.Random(seed)
    parts = ["# The Rock Book"]
    for chapter in range(1, 9):
        parts.append(f"## Chapter {chapter}")
        parts += prose(rng, KEEPER, rng.randint(9, 13))
    path = folder / "manuscript.md"
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return [path]


def word_document(folder: Path, seed: int = 0) -> list[Path]:
    """A .docx with a heading per part and one Word paragraph per prose paragraph."""
    from docx import Document

    rng = random.Random(seed)
    document = Document()
    for part in range(1, 6):
        document.add_heading(f"Part {part}", level=1)
        for text in prose(rng, KEEPER, rng.randint(12, 16)):
            document.add_paragraph(text)
    path = folder / "keeper.docx"
    document.save(path)
    return [path]


LAYOUTS = {"long log (blank-line entries)": long_log, "three short stories": short_stories,
           "Chinese novel (GB18030, one paragraph per line)": chinese_novel,
           "Markdown manuscript": markdown_manuscript, "Word document": word_document}
