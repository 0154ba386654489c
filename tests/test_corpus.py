import json
import random

from conftest import SAMPLE

import pytest

from studio.config import CorpusConfig
from studio.corpus import clean
from studio.corpus.build import ingest
from studio.corpus.clean import drop_reason
from studio.messages import render
from studio.corpus.decode import CorpusError, decode_bytes
from studio.corpus.store import read_dropped, read_manifest, read_split, versions
from studio.paths import BadName

# Readers and cleaning are tested on inputs of a few sentences (see conftest.small_corpora).
pytestmark = pytest.mark.usefixtures("small_corpora")

CHINESE = "灯塔日志，第一天。风从东北来，海面灰暗。我把灯点亮了，一切平安。"
TRADITIONAL = "燈塔日誌，第一天。風從東北來，海面灰暗。我把燈點亮了，一切平安。這座島嶼很小，但是海鷗很多。"


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def texts(root, name, split):
    return [r["text"] for r in read_split(root, name, "", split)]


ENTRIES = SAMPLE.read_text(encoding="utf-8").split("\n---\n")


def pieces(n, start=0):
    """n distinct documents (lamp-log entries) separated as writers do."""
    return "\n---\n".join(ENTRIES[start:start + n])


@pytest.mark.parametrize("data, encoding", [
    (CHINESE.encode("utf-8"), "utf-8"),
    (CHINESE.encode("gb18030"), "gb18030"),
    (CHINESE.encode("gbk"), "gb18030"),
    (b"\xef\xbb\xbf" + CHINESE.encode("utf-8"), "utf-8"),
    (b"\xff\xfe" + CHINESE.encode("utf-16-le"), "utf-16-le"),
    (b"\xfe\xff" + CHINESE.encode("utf-16-be"), "utf-16-be"),
    (b"\xff\xfe\x00\x00" + CHINESE.encode("utf-32-le"), "utf-32-le"),
])
def test_chinese_decodes_exactly(data, encoding):
    text, used = decode_bytes(data, "novel.txt")
    assert text == CHINESE and used == encoding and "\ufffd" not in text


def test_big5_is_not_mistaken_for_gb18030():
    data = TRADITIONAL.encode("big5")
    assert data.decode("gb18030") != TRADITIONAL  # it decodes without error, into nonsense
    assert decode_bytes(data, "novel.txt") == (TRADITIONAL, "big5")


@pytest.mark.parametrize("text", ["燈塔", "風", "臺灣", "中文", "你好", "Chapter 1 第一章 The lamp 燈"])
def test_short_big5_decodes_exactly(text):
    assert decode_bytes(text.encode("big5"), "a.txt") == (text, "big5")


@pytest.mark.parametrize("text", ["灯塔", "风", "中文", "你好", "说话", "Chapter 1 第一章 The lamp 灯"])
def test_short_gb18030_decodes_exactly(text):
    assert decode_bytes(text.encode("gb18030"), "a.txt") == (text, "gb18030")


def test_other_legacy_encodings_go_to_the_detector():
    text = "Ελληνικά κείμενα για δοκιμή, με αρκετές λέξεις ώστε να φανεί η κωδικοποίηση."
    decoded, encoding = decode_bytes(text.encode("iso-8859-7"), "greek.txt")
    assert decoded == text


def test_mixed_latin_and_short_cjk_decode_exactly():
    for text in ("风", "Chapter 1 第一章 The lamp 灯"):
        assert decode_bytes(text.encode("gb18030"), "a.txt")[0] == text


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"  \n\t\n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
])
def test_empty_and_binary_files_are_refused_by_name(data, words):
    with pytest.raises(CorpusError, match=f"photo.txt.*{words}"):
        decode_bytes(data, "photo.txt")


def test_undecodable_bytes_are_refused_not_replaced():
    with pytest.raises(CorpusError, match="old.txt.*UTF-8"):
        decode_bytes(bytes(range(128, 256)) * 4, "old.txt")


def test_ingest_splits_pieces_drops_duplicates_and_short_ones(tmp_path):
    root = tmp_path / "data"
    near = ENTRIES[4].replace("Mended", "Fixed", 1)
    assert near != ENTRIES[4]
    text = pieces(12) + "\n***\n" + ENTRIES[3] + "\n* * *\n" + near + "\n---\ntoo short"
    f = write(tmp_path, "log.md", text.encode("utf-8"))
    m = ingest([(f, "log.md")], CorpusConfig(name="log", val_share=0.2), root)
    assert m["sources"][0]["items"] == 15
    assert m["dropped"] == {"drop.short": 1, "drop.exact": 1, "drop.near": 1}  # counted by message key
    reasons = {key: render("en", drop_reason(m, key)) for key in m["dropped"]}
    assert reasons == {"drop.short": "shorter than 20 characters", "drop.exact": "exact duplicate",
                       "drop.near": "near duplicate (similarity >= 0.85)"}
    assert render("zh", drop_reason(m, "drop.near")) == "近似重复（相似度 >= 0.85）"
    assert m["documents"] == 12 and m["split"]["method"] == "documents" and 2 <= m["val_documents"] <= 3
    train, val = texts(root, "log", "train"), texts(root, "log", "val")
    assert not set(train) & set(val) and sorted(train + val) == sorted(ENTRIES[:12])
    items = read_dropped(root, "log")
    assert {(d["reason"], json.dumps(d["fields"])) for d in items} == {
        ("drop.short", '{"n": 20}'), ("drop.exact", "{}"), ("drop.near", '{"t": 0.85}')}
    assert read_dropped(root, "log", reason="drop.exact")[0]["preview"].startswith("LAMP LOG")
    short = read_dropped(root, "log", reason="drop.short")[0]
    assert render("zh", clean.dropped_item_reason(short)) == "短于 20 个字符"


def test_an_older_manifests_english_drop_reasons_still_read_as_their_messages():
    old = {"dropped": {"exact duplicate": 2, "near duplicate (similarity >= 0.9)": 1, "something else": 1}}
    assert drop_reason(old, "near duplicate (similarity >= 0.9)") == {"key": "drop.near", "fields": {"t": "0.9"}}
    assert render("zh", drop_reason(old, "exact duplicate")) == "完全重复"
    assert drop_reason(old, "something else") == "something else"
    assert render("en", clean.dropped_item_reason({"reason": "longer than 9 characters"})) == "longer than 9 characters"


def test_split_is_by_document_and_seeded(tmp_path):
    f = write(tmp_path, "a.txt", "\n---\n".join(f"Document number {i} about the sea and the lamp." for i in range(50)).encode())
    splits = []
    for seed, name in ((7, "a"), (7, "b"), (8, "c")):
        ingest([(f, "a.txt")], CorpusConfig(name=name, seed=seed, near_dup_threshold=0), tmp_path / "data")
        splits.append(sorted(texts(tmp_path / "data", name, "val")))
    assert splits[0] == splits[1] != splits[2] and 4 <= len(splits[0]) <= 7  # about 10% of 50


def test_gb18030_corpus_is_stored_as_exact_utf8(tmp_path):
    root = tmp_path / "data"
    text = "\n---\n".join(f"{CHINESE}第{i}篇。" for i in range(6))
    f = write(tmp_path, "中文.txt", text.encode("gb18030"))
    m = ingest([(f, "中文.txt")], CorpusConfig(name="中文日志", near_dup_threshold=0), root)
    assert m["sources"][0]["encoding"] == "gb18030"
    stored = texts(root, "中文日志", "train") + texts(root, "中文日志", "val")
    assert sorted(stored) == sorted(f"{CHINESE}第{i}篇。" for i in range(6))


def test_reingest_makes_a_new_version_and_keeps_the_old(tmp_path):
    root = tmp_path / "data"
    f = write(tmp_path, "a.txt", pieces(5).encode())
    ingest([(f, "a.txt")], CorpusConfig(name="c"), root)
    before = (root / "corpora" / "c" / "v1" / "manifest.json").read_bytes()
    g = write(tmp_path, "b.txt", pieces(8, start=10).encode())
    m = ingest([(g, "b.txt")], CorpusConfig(name="c"), root)
    assert m["version"] == "v2" and versions(root, "c") == ["v1", "v2"]
    assert (root / "corpora" / "c" / "v1" / "manifest.json").read_bytes() == before
    assert read_manifest(root, "c")["version"] == "v2"


def test_one_long_document_is_cut_so_validation_exists(tmp_path):
    root = tmp_path / "data"
    book = "\n\n".join(f"Paragraph {i}: " + "the sea was grey and the lamp was lit. " * 12 for i in range(20))
    f = write(tmp_path, "book.txt", book.encode())
    m = ingest([(f, "book.txt")], CorpusConfig(name="book"), root)
    assert m["train_documents"] >= 1 and m["val_documents"] >= 1 and m["split"]["method"] == "document ends"
    tail = texts(root, "book", "val")[-1]
    assert " ".join(book.split()).endswith(" ".join(tail.split())) and tail.startswith("Paragraph ")  # the end of the book, cut at a paragraph


def test_nothing_is_created_when_ingest_fails(tmp_path):
    root = tmp_path / "data"
    f = write(tmp_path, "empty.txt", b"")
    with pytest.raises(CorpusError, match="empty.txt"):
        ingest([(f, "empty.txt")], CorpusConfig(name="e"), root)
    assert not (root / "corpora" / "e").exists() or versions(root, "e") == []


@pytest.mark.parametrize("name", ["../../x", "/etc", "a/b", "..", ".hidden", ""])
def test_hostile_corpus_names_are_refused(tmp_path, name):
    f = write(tmp_path, "a.txt", pieces(4).encode())
    with pytest.raises(BadName):
        ingest([(f, "a.txt")], CorpusConfig(name=name), tmp_path / "data")


def test_manifest_records_sources_and_counts(tmp_path):
    root = tmp_path / "data"
    f = write(tmp_path, "a.txt", pieces(6).encode())
    m = ingest([(f, "a.txt")], CorpusConfig(name="m"), root, count_tokens=lambda ts: [len(t.split()) for t in ts], tokenizer_name="words")
    on_disk = json.loads((root / "corpora" / "m" / "v1" / "manifest.json").read_text())
    assert on_disk == m
    assert len(m["sources"][0]["sha256"]) == 64 and m["tokens"]["tokenizer"] == "words"
    assert m["tokens"]["train"] + m["tokens"]["val"] == sum(len(e.split()) for e in ENTRIES[:6])


class WordsAndHanzi:
    """A picklable stand-in tokenizer (it travels to worker processes): a token per word and per
    CJK character, so counts are linear in the characters, as real tokenizers roughly are."""

    def __call__(self, texts):
        return [len(t.split()) + clean.cjk_chars(t) for t in texts]


def mixed_corpus(tmp_path, n=80):
    """English and Chinese documents in three files, with exact and near copies among them."""
    rng = random.Random(0)
    hanzi = sorted(set(CHINESE + TRADITIONAL) - set("，。"))
    docs = []
    for i in range(n):
        if i % 3 == 0:
            docs.append("。".join("".join(rng.choices(hanzi, k=rng.randint(5, 15))) for _ in range(rng.randint(3, 30))) + "。")
        else:
            docs.append(f"Entry {i}. " + ENTRIES[i % len(ENTRIES)] + "\n\n" + ENTRIES[(i * 7 + 3) % len(ENTRIES)])
    docs += [docs[5], docs[9].replace("The", "the", 1) + " ", docs[12] + "!"]  # copies
    files = []
    for k, suffix in enumerate(("txt", "md", "jsonl")):
        part = docs[k::3]
        data = ("\n".join(json.dumps({"text": d}, ensure_ascii=False) for d in part) if suffix == "jsonl"
                else "\n---\n".join(part))
        files.append((write(tmp_path, f"part{k}.{suffix}", data.encode("utf-8")), f"part{k}.{suffix}"))
    return files


def test_worker_processes_make_the_same_corpus_as_one_process(tmp_path):
    files = mixed_corpus(tmp_path)
    made = {}
    for workers in (1, 2):
        root = tmp_path / f"data{workers}"
        m = ingest(files, CorpusConfig(name="c", val_share=0.2), root, count_tokens=WordsAndHanzi(), tokenizer_name="w",
                   workers=workers)
        folder = root / "corpora" / "c" / "v1"
        made[workers] = ({k: v for k, v in m.items() if k not in ("created", "ingest_seconds")},
                         [(folder / f).read_text(encoding="utf-8") for f in ("train.jsonl", "val.jsonl", "dropped.jsonl")])
    assert made[1] == made[2]
    manifest = made[2][0]
    assert manifest["dropped"]["drop.exact"] == 2 and manifest["tokens"]["counted"] == "exact"


def test_large_corpora_count_a_token_sample_and_estimate_the_rest(tmp_path, monkeypatch):
    from studio.corpus import build

    files = mixed_corpus(tmp_path, n=300)
    exact = ingest(files, CorpusConfig(name="exact"), tmp_path / "data", count_tokens=WordsAndHanzi(), tokenizer_name="w")
    monkeypatch.setattr(build, "EXACT_TOKEN_BYTES", sum(p.stat().st_size for p, _ in files) // 4)
    sampled = ingest(files, CorpusConfig(name="sampled"), tmp_path / "data", count_tokens=WordsAndHanzi(), tokenizer_name="w")
    forced = ingest(files, CorpusConfig(name="forced", exact_tokens=True), tmp_path / "data", count_tokens=WordsAndHanzi(),
                    tokenizer_name="w")
    total = lambda m: m["tokens"]["train"] + m["tokens"]["val"]  # noqa: E731
    assert exact["tokens"]["counted"] == forced["tokens"]["counted"] == "exact" and total(forced) == total(exact)
    assert sampled["tokens"]["counted"].startswith("exact for ") and "estimated from characters" in sampled["tokens"]["counted"]
    assert total(sampled) == pytest.approx(total(exact), rel=0.05)
    assert sampled["documents"] == exact["documents"]


def test_minhash_signatures_estimate_similarity():
    from studio.corpus.dedupe import NearDuplicates, signature

    index = NearDuplicates(0.85)
    assert not index.seen_similar(signature(ENTRIES[0]))
    assert index.seen_similar(signature(ENTRIES[0].replace("LAMP", "Lamp").replace(".", "!", 1)))  # case and a mark
    assert not index.seen_similar(signature(ENTRIES[1]))
    long_zh = "".join(CHINESE[(i * 7) % len(CHINESE):] + TRADITIONAL[: i % 30] for i in range(60))
    assert not index.seen_similar(signature(long_zh))
    assert index.seen_similar(signature(long_zh[:-20] + "。补一句话。"))
    assert not index.seen_similar(signature(long_zh[: len(long_zh) // 2]))  # half the text is not a near copy
