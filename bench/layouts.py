"""Corpora in the layouts writers really have, generated from a seed for this project (no text
is copied from anywhere). Two invented voices per language, so a test can tell an author from
another one:

- the keeper (English) / 守灯人 (Chinese): short, plain sentences about a lighthouse, weather and a cat;
- the clerk (English) / 账房先生 (Chinese): long, subordinate-heavy sentences about a city office.

Used by tests (the split, style match) and by bench/writer.py (the whole loop per layout).
"""
from __future__ import annotations

import random
import re
from pathlib import Path

# Each voice is a grammar: sentence templates whose slots are filled independently, so a corpus of
# thousands of sentences rarely repeats eight words in a row (as real prose does not), while the
# voice's habits (sentence length, function words, punctuation, subjects) stay its own.
KEEPER = {
    "templates": ["{When}, {weather}.", "I {task} {when}.", "{Creature} {creature_act}.", "{Thing} {state}; I let it be.",
                  "{Boat} {boat_act}.", "Counted {n} seals on the low ledge {when}.", "{Weather}, so I {task} instead.",
                  "{Maxim}.", "Oil: {n} gallons, and {thing} {state}.", "{Creature} {creature_act} while I {task}."],
    "when": ["before dawn", "at first light", "by midmorning", "after the noon meal", "towards dusk", "in the small hours",
             "all afternoon", "at the change of the tide", "before the lamp was lit", "while the kettle boiled"],
    "weather": ["the wind backed to the north", "rain came in sideways", "fog sat on the rock", "the swell rose out of the west",
                "a hard frost whitened the rail", "the sky cleared after all", "squalls came through one after another",
                "the sea went flat and oily", "sleet rattled on the lantern glass", "the glass fell and kept falling"],
    "task": ["scrubbed the lens", "trimmed the wicks", "greased the clockwork", "mended the rain barrel", "painted the north rail",
             "split kindling", "carried oil up the stair", "patched the boat", "wound the fog signal",
             "checked the log against the clock", "blacked the stove", "counted the stores twice"],
    "creature": ["the cat", "a grey seal", "three gulls", "a heron", "the old cormorant", "a pair of terns", "a fox from somewhere"],
    "creature_act": ["watched me from the ledge", "took the warm stair", "argued over a fish head", "slept in the coil of rope",
                     "refused to move for anyone", "stole the bacon rind", "stood in the rain like a sentry", "ignored the horn"],
    "thing": ["the kettle", "the lamp", "the barometer", "the logbook", "the brass", "the horn", "the stove", "the clock"],
    "state": ["would not settle", "stayed steady", "dropped a tenth", "needed more patience than oil", "held its own",
              "smoked badly", "rang true", "sulked"],
    "boat": ["the supply boat", "a fishing smack", "the pilot cutter", "a coal barge", "the mail launch", "a yacht, lost"],
    "boat_act": ["passed well out", "did not come", "stood off the reef for an hour", "ran for the harbour",
                 "signalled twice and went on", "waved and was gone"],
    "maxim": ["A rock does not care who sits on it", "Clean glass first; opinions after", "Oil forgives nothing",
              "The tide keeps better time than I do", "Nobody thanks a lamp that works", "Mend the barrel on the dry day",
              "Wave with the hand you mean to be known by"],
}
CLERK = {
    "templates": ["Although {clause}, {person} found {himself} obliged, by {cause}, to {act}, {aside}.",
                  "It was, I believe, {day} when {person}, whose habits were {habit}, {act_past}.",
                  "Whenever {event}, which {frequency}, {consequence}.",
                  "{Person}, who had been promised {promise} on three separate occasions, remarked that {remark}, {aside}.",
                  "One could not, of course, say so aloud; but it was generally understood that {remark}."],
    "clause": ["the morning had begun, as mornings in the ministry generally did, with a certain reluctance",
               "the trams were once again running late", "nobody had yet read the director's memorandum",
               "the radiators had failed for the third winter running", "the quarterly returns were already overdue"],
    "person": ["Mr Halloway", "the director", "Miss Arbuthnot of the second floor", "the junior clerk",
               "the cashier, a man of fixed opinions", "old Mr Penrose"],
    "himself": ["himself", "themselves"],
    "cause": ["the weight of the correspondence", "a sense of duty that did not survive the afternoon",
              "the presence of the inspector", "a memorandum of uncommon length", "the approach of the audit"],
    "act": ["attend to the ledgers at once", "summon the entire department into the long room",
            "rearrange the filing system according to principles known only to the dead",
            "compose a reply of such courtesy that it could only be read as an insult"],
    "act_past": ["summoned the department into the long room overlooking the square",
                 "announced, without the least sign of irony, a new procedure for the requisition of pencils",
                 "declined, with great ceremony, to sign anything whatever before luncheon"],
    "aside": ["which, in the circumstances, surprised nobody", "as was his habit whenever the weather turned",
              "though it must be said that the ledgers were against him", "a conclusion nobody cared to dispute",
              "and the matter was accordingly deferred until the following quarter"],
    "day": ["a Tuesday", "the last Friday of the month", "the morning of the inspection", "a day of unusual fog"],
    "habit": ["regular to the point of tyranny", "known to every waiter in the district",
              "the subject of a long and respectful silence"],
    "event": ["the trams passed beneath the windows", "the bell of the cathedral struck the quarter",
              "the director cleared his throat", "the post arrived"],
    "frequency": ["they did with an impertinent frequency", "it did at intervals nobody could predict",
                  "happened rather more often than was strictly necessary"],
    "consequence": ["the ink in every well along the counting desk trembled in sympathy",
                    "the junior clerks exchanged glances of a kind that suggested long anticipation",
                    "the whole department discovered an urgent interest in its own correspondence"],
    "promise": ["promotion", "a window", "a larger desk", "a pension of some dignity"],
    "remark": ["the ledgers were, in his considered opinion, entirely beyond redemption",
               "the filing system had never once been consulted", "nobody, naturally, was surprised",
               "the city went about its business with the indifference of a creditor"],
}
ZH_KEEPER = {
    "templates": ["{when}，{weather}。", "我{when}{task}。", "{creature}{act}。", "{thing}{state}，我就随它去了。", "{boat}{boat_act}。",
                  "{when}数了数，低处的礁石上有{n}只海豹。", "{maxim}。", "灯油还剩{n}桶，{thing}{state}。", "{weather}，我只好{task}。"],
    "when": ["天还没亮", "清早", "上午", "午饭后", "傍晚", "半夜", "涨潮的时候", "退潮以后", "点灯以前", "烧水的工夫"],
    "weather": ["风从北边来了", "雨斜着打进来", "雾压在礁石上", "西边起了大浪", "栏杆上结了一层霜", "天居然晴了", "海面平得发亮",
                "冰雨敲着灯罩", "气压一直往下掉"],
    "task": ["擦了透镜", "剪了灯芯", "给钟表上了油", "补了雨水桶", "把北边的栏杆刷了漆", "劈了柴", "把灯油提上楼", "补了小船",
             "核对了日志和钟", "把炉子擦黑", "把存粮数了两遍"],
    "creature": ["猫", "一只灰海豹", "三只海鸥", "一只苍鹭", "那只老鸬鹚", "两只燕鸥", "不知哪来的狐狸"],
    "act": ["在礁石上看着我", "占了最暖和的台阶", "为一个鱼头吵了半天", "睡在缆绳堆里", "怎么赶也不走", "偷走了一块咸肉皮",
            "站在雨里像个哨兵", "对雾号不理不睬"],
    "thing": ["水壶", "灯", "气压计", "日志", "铜件", "雾号", "炉子", "钟"],
    "state": ["怎么也静不下来", "一直很稳", "降了一格", "比灯油还费耐心", "还算争气", "冒了很多烟", "响得很正", "闹起了脾气"],
    "boat": ["补给船", "一条渔船", "引水船", "运煤的驳船", "邮船", "一条迷路的游艇"],
    "boat_act": ["远远地开过去了", "没有来", "在礁石外停了一个钟头", "往港口跑了", "打了两次信号就走了", "挥了挥手就不见了"],
    "maxim": ["礁石不在乎谁坐在上面", "先把玻璃擦干净，道理以后再说", "灯油什么都不原谅", "潮水比我守时", "灯亮着的时候没人道谢",
              "晴天补桶"],
}
ZH_CLERK = {
    "templates": ["虽说{clause}，可{person}因为{cause}的缘故，也不得不{act}，{aside}。",
                  "那一天，据我记得，大约是{day}，{person}——此人{habit}——{act_past}。",
                  "每当{event}，而这又{frequency}，{consequence}。",
                  "{person}曾经三次被许诺{promise}，而且一次比一次郑重，他此刻慢条斯理地说，依他之见，{remark}，{aside}。",
                  "这话自然是不能说出口的；不过大家心里都明白，{remark}。"],
    "clause": ["衙门里的早晨向来是懒散的", "电车又一次误了点", "局长的那份备忘录还没有人读过", "暖气已经连着三个冬天不灵了",
               "季度的报表早已过了期限"],
    "person": ["黄先生", "局长", "二楼的阿布思诺特小姐", "那个年轻的书记", "管银钱的那位先生", "老彭先生"],
    "cause": ["来往文书堆积如山", "一种撑不过下午的责任心", "视察员就在隔壁", "一份长得出奇的备忘录", "查账的日子近了"],
    "act": ["一早便伏案料理账簿", "把全处的人都叫进朝着广场的长厅", "照着只有死人才懂的章法重排档案",
            "写一封客气到只能读作挖苦的回信"],
    "act_past": ["把全处的人都叫进了朝着广场的长厅", "一本正经地宣布了领取铅笔的新章程", "郑重其事地拒绝在午饭以前签任何字"],
    "aside": ["这在当时的情形下，谁也不觉得意外", "他每逢天气转凉便是如此", "不过话说回来，账簿确实是不站在他那一边的",
              "这个结论也没有人愿意去驳", "于是这件事照例被推到了下一个季度"],
    "day": ["个礼拜二", "月底的最后一个礼拜五", "视察的那天早上", "一个雾大得出奇的日子"],
    "habit": ["规矩到了近乎专横的地步", "附近每一个跑堂都认得", "向来是大家恭恭敬敬闭口不谈的"],
    "event": ["电车从窗下经过", "教堂的钟敲了一刻", "局长清了清嗓子", "邮件送到了"],
    "frequency": ["是那样频繁、那样不知趣", "来得毫无规律", "比真正需要的要多得多"],
    "consequence": ["账台上一排墨水瓶里的墨便一齐跟着发抖", "那几个年轻的书记便彼此交换一个心照不宣的眼色",
                    "全处的人都忽然对自己的信件发生了浓厚的兴趣"],
    "promise": ["升迁", "一扇窗", "一张大些的桌子", "一份体面的养老金"],
    "remark": ["这些账簿是无论如何也救不回来的了", "那套档案制度从来就没有人查阅过", "谁也不觉得意外",
               "城市照旧忙它自己的事，活像一个笃定能收回欠款的债主"],
}


def _fill(rng: random.Random, voice: dict) -> str:
    """One sentence: a template with every slot filled on its own (a capitalised slot name
    capitalises its filler)."""
    template = rng.choice(voice["templates"])

    def slot(match: re.Match) -> str:
        name = match.group(1)
        if name == "n":
            return str(rng.randint(2, 14))
        text = rng.choice(voice[name.lower()])
        return text[0].upper() + text[1:] if name[0].isupper() else text

    return re.sub(r"\{(\w+)\}", slot, template)


def paragraph(rng: random.Random, voice: dict, sentences: int, joiner: str = " ") -> str:
    return joiner.join(_fill(rng, voice) for _ in range(sentences))


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
    for title, paragraphs in (("The Supply Boat", 8), ("Fog Week", 45), ("The Winter Keeper", 110)):
        path = folder / (title.lower().replace(" ", "-") + ".txt")
        path.write_text(title + "\n\n" + "\n\n".join(prose(rng, KEEPER, paragraphs)) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def chinese_novel(folder: Path, seed: int = 0) -> list[Path]:
    """A Chinese novel in GB18030: chapter headings, one paragraph per line indented with `　　`, no blank lines."""
    rng = random.Random(seed)
    numerals = "一二三四五六七八九十"
    lines = []
    for chapter in range(6):
        lines.append(f"第{numerals[chapter]}章 守灯")
        lines += ["　　" + p for p in prose(rng, ZH_KEEPER, rng.randint(14, 18), joiner="")]
    path = folder / "守灯人.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return [path]


def markdown_manuscript(folder: Path, seed: int = 0) -> list[Path]:
    """A Markdown manuscript: `#` title, `##` chapters, blank-line paragraphs."""
    rng = random.Random(seed)
    parts = ["# The Rock Book"]
    for chapter in range(1, 9):
        parts.append(f"## Chapter {chapter}")
        parts += prose(rng, KEEPER, rng.randint(24, 30))
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
        for text in prose(rng, KEEPER, rng.randint(26, 32)):
            document.add_paragraph(text)
    path = folder / "keeper.docx"
    document.save(path)
    return [path]


LAYOUTS = {"long log (blank-line entries)": long_log, "three short stories": short_stories,
           "Chinese novel (GB18030, one paragraph per line)": chinese_novel,
           "Markdown manuscript": markdown_manuscript, "Word document": word_document}
