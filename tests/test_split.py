"""The validation split, measured in tokens, on corpora in the layouts writers have: whole
documents held out when there are many, the end of each document when there are few, and never
more than a fifth of the writing."""
import json
import random

import pytest

import layouts
from studio.config import CorpusConfig
from studio.corpus import clean, split
from studio.corpus.build import ingest
from studio.corpus.decode import CorpusError
from studio.corpus.paragraphs import chunk_paragraphs
from studio.corpus.store import read_split
from studio.messages import render


def words_and_hanzi(texts):
    return [len(t.split()) + clean.cjk_chars(t) for t in texts]


def build(tmp_path, files, **settings):
    root = tmp_path / "data"
    m = ingest([(p, p.name) for p in files], CorpusConfig(name="c", **settings), root, count_tokens=words_and_hanzi,
               tokenizer_name="words")
    return m, read_split(root, "c", "", "train"), read_split(root, "c", "", "val")


def stories(tmp_path, n, paragraphs):
    rng = random.Random(n)
    files = []
    for k in range(n):
        path = tmp_path / f"story-{k}.txt"
        path.write_text("\n\n".join(layouts.prose(rng, layouts.KEEPER, paragraphs[k % len(paragraphs)])), encoding="utf-8")
        files.append(path)
    return files


def share(m):
    return m["tokens"]["val"] / (m["tokens"]["train"] + m["tokens"]["val"])


def test_two_files_of_very_different_length_each_give_their_end(tmp_path):
    """The case that was seen: a long log and a short note. Holding out one whole file took 85%."""
    log = tmp_path / "log.txt"
    log.write_text("\n\n".join(f"Day {d}. " + layouts.paragraph(random.Random(d), layouts.KEEPER, 6) for d in range(90)),
                   encoding="utf-8")
    note = tmp_path / "note.txt"
    note.write_text("\n".join("　　" + p for p in layouts.prose(random.Random(7), layouts.ZH_KEEPER, 12, joiner="")),
                    encoding="gb18030")
    m, train, val = build(tmp_path, [log, note])
    assert m["split"]["method"] == "document ends" and 0.05 <= share(m) <= 0.2
    assert m["split"]["val_share"] == pytest.approx(share(m), abs=1e-3)
    assert {r["origin"].split(":")[0] for r in val} == {"log.txt", "note.txt"}  # both files give their end
    log_text = log.read_text(encoding="utf-8")
    held = [r["text"] for r in val if r["origin"].startswith("log.txt")]
    assert log_text.rstrip().endswith(held[-1]) and log_text.index(held[0]) > 0.7 * len(log_text)  # a span at the end
    assert not any(v["text"] in t["text"] for v in val for t in train)


def test_five_stories_hold_out_the_end_of_each_not_whole_ones(tmp_path):
    m, train, val = build(tmp_path, stories(tmp_path, 5, [4, 10, 25, 40, 60]))
    assert m["split"]["method"] == "document ends" and 0.05 <= share(m) <= 0.2
    assert len({r["origin"].split(":")[0] for r in train}) == 5  # every story is still trained on
    given = {r["origin"].split(":")[0] for r in val}
    assert {"story-2.txt", "story-3.txt", "story-4.txt"} <= given  # the two shortest give too little for a passage


def test_fifty_documents_hold_out_whole_documents(tmp_path):
    m, train, val = build(tmp_path, stories(tmp_path, 50, [3, 5, 8]))
    assert m["split"]["method"] == "documents" and 0.05 <= share(m) <= 0.2
    assert not {r["origin"] for r in train} & {r["origin"] for r in val}
    again, _, val_again = build(tmp_path / "again", stories(tmp_path, 50, [3, 5, 8]))
    assert [r["origin"] for r in val_again] == [r["origin"] for r in val]  # seeded


def test_a_new_version_with_added_stories_keeps_what_the_last_one_held_out(tmp_path):
    """A writer adds stories and ingests again: what v1 held out stays held out, and nothing v1
    trained on becomes validation (so a run continued on v2 is measured on unseen text)."""
    first = stories(tmp_path, 30, [3, 5, 8])
    root = tmp_path / "data"

    def version(files):
        m = ingest([(p, p.name) for p in files], CorpusConfig(name="c"), root, count_tokens=words_and_hanzi,
                   tokenizer_name="words")
        keys = {side: {split.record_key(r) for r in read_split(root, "c", m["version"], side)} for side in ("train", "val")}
        return m, keys

    v1, old = version(first)
    added = tmp_path / "added"
    added.mkdir()
    v2, new = version(first + stories(added, 30, [4, 6, 9]))  # 30 more stories, other lengths and words
    assert v1["split"]["method"] == v2["split"]["method"] == "documents"
    assert v2["split"]["follows"] == "v1" and "follows" not in v1["split"]
    assert old["val"] <= new["val"], "every piece v1 held out is held out in v2"
    assert not old["train"] & new["val"], "nothing v1 trained on is validation in v2"
    assert 0.05 <= share(v2) <= 0.2
    from studio.ui.views import corpus_report

    assert "as v1 did" in corpus_report(v2, None) and "尽量沿用 v1 的划分" in corpus_report(v2, None, "zh")


def test_one_document_gives_its_ending_in_several_pieces(tmp_path):
    (path,) = stories(tmp_path, 1, [60])
    m, train, val = build(tmp_path, [path])
    assert m["split"]["method"] == "document ends" and 0.05 <= share(m) <= 0.2
    assert len(val) >= split.MIN_VAL_PIECES and path.read_text(encoding="utf-8").endswith(val[-1]["text"])


def test_chinese_novel_one_paragraph_per_line_is_cut_at_lines_and_chapters(tmp_path):
    (path,) = layouts.chinese_novel(tmp_path)
    m, train, val = build(tmp_path, [path])
    assert m["sources"][0]["encoding"] == "gb18030" and m["split"]["method"] == "document ends"
    assert 0.05 <= share(m) <= 0.2 and len(val) >= 2
    assert m["rules"].get("hard-wrapped lines joined", 0) == 0  # every line is a paragraph: none joined
    for record in train + val:
        for line in record["text"].split("\n"):
            assert line.startswith("　　") or line.startswith("第")  # cut only between paragraphs
    assert train[0]["text"].count("第") >= 1 and "\n第二章" in "\n".join(r["text"] for r in train)


def test_a_novel_with_chapters_appended_holds_out_the_old_end_again_and_the_new_end(tmp_path):
    """One file, one paragraph per line: v1 holds out its end. The writer appends three chapters
    and ingests again: the old end (now mid-book) stays held out, the new end is held out too."""
    (path,) = layouts.chinese_novel(tmp_path)
    root = tmp_path / "data"

    def version():
        m = ingest([(path, path.name)], CorpusConfig(name="c"), root, count_tokens=words_and_hanzi, tokenizer_name="words")
        return m, *(read_split(root, "c", m["version"], side) for side in ("train", "val"))

    def lines(records):
        return {line for r in records for line in r["text"].split("\n") if line.strip()}

    v1, train1, val1 = version()
    same, _, val_same = version()  # ingested again unchanged: the very same held-out text
    assert lines(val_same) == lines(val1) and same["split"]["follows"] == "v1"
    rng = random.Random(5)
    more = []
    for chapter in "七八九":
        more += [f"第{chapter}章 新来的船", *("　　" + p for p in layouts.prose(rng, layouts.ZH_KEEPER, 16, joiner=""))]
    path.write_bytes(path.read_bytes() + ("\r\n".join(more) + "\r\n").encode("gb18030"))
    v2, train2, val2 = version()
    assert v1["split"]["method"] == v2["split"]["method"] == "document ends" and v2["split"]["follows"] == "v2"
    old_end, new_val = lines(val1), lines(val2)
    assert len(old_end & new_val) >= 0.9 * len(old_end), "the old end is held out again"
    assert not old_end & lines(train2) - new_val or len(old_end & lines(train2)) <= 0.1 * len(old_end)
    assert more[-1] in new_val, "the new chapters' end is held out"
    assert len(lines(train1) & new_val) <= 0.05 * len(new_val), "hardly anything v1 trained on is validation now"
    assert 0.05 <= share(v2) <= 0.2


def test_a_corpus_too_small_to_measure_is_refused_before_training(tmp_path):
    (path,) = stories(tmp_path, 1, [3])
    with pytest.raises(CorpusError, match="too small to measure.*Add text"):
        build(tmp_path, [path])


def test_a_small_corpus_says_it_is_too_small_to_learn_from(tmp_path):
    m, _, _ = build(tmp_path, stories(tmp_path, 2, [20]))
    assert any("too little to learn a voice from" in render("en", w) for w in m["warnings"])
    assert any("学不出文风" in render("zh", w) for w in m["warnings"])  # the reader's language, chosen when shown


def test_val_share_above_a_fifth_is_refused():
    from studio.config import ConfigError

    with pytest.raises(ConfigError, match="val_share"):
        CorpusConfig(name="x", val_share=0.3)


@pytest.mark.parametrize("text, target, expected", [
    ("First paragraph.\n\nSecond paragraph.", 20, ["First paragraph.", "Second paragraph."]),
    ("　　他走了。\n　　她没有说话。\n　　灯亮了。", 10, ["　　他走了。", "　　她没有说话。", "　　灯亮了。"]),
    ("Chapter 1\nIt began.\nChapter 2\nIt went on.", 20, ["Chapter 1\nIt began.", "Chapter 2\nIt went on."]),
    ("# Title\n\nText here.\n\n## Part\n\nMore.", 20, ["# Title\n\nText here.", "## Part\n\nMore."]),
])
def test_paragraph_conventions_are_cut_between_paragraphs(text, target, expected):
    assert chunk_paragraphs(text, target) == expected


@pytest.mark.parametrize("text", [
    "\n".join("　　" + "他沿着礁石走了很久，风从北边吹过来，海浪一阵一阵地拍着岸边" + "。" * (i % 2) for i in range(4)),
    "\n".join(["A long paragraph that was typed on one line in a word processor and saved as text " * 3] * 3),
    "Chapter 1\nThe lamp was lit at six and it burned all night without a flicker or a\nChapter 2",
])
def test_lines_that_are_paragraphs_or_headings_are_never_joined(text):
    assert clean.join_wrapped_lines(text) == (text, 0)


def test_hard_wrapped_prose_is_still_joined():
    text = ("The keeper climbed the stair at dusk and found the lamp already\n"
            "trimmed, the glass clean, and the cat asleep on the warm brass.")
    joined, n = clean.join_wrapped_lines(text)
    assert n == 1 and "\n" not in joined
