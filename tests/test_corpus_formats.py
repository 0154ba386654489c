"""Every format, mode, cleaning rule and hostile input of the corpus stage."""
import json
import zipfile

import pytest

from conftest import SAMPLE
from studio.config import CorpusConfig
from studio.corpus import bounded, clean, readers
from studio.corpus.build import ingest
from studio.corpus.decode import CorpusError
from studio.corpus.store import read_split
from studio.corpus.tabular import skip_reason
from studio.messages import MESSAGES, render

# Readers and cleaning are tested on inputs of a few sentences (see conftest.small_corpora).
pytestmark = pytest.mark.usefixtures("small_corpora")

ENTRIES = SAMPLE.read_text(encoding="utf-8").split("\n---\n")
ZH = ["灯塔日志，第一天。风从东北来，海面灰暗。我把灯点亮了，一切平安。猫睡在最暖和的台阶上。",
      "第二天。风向转北，海浪很大。补给船没有来，我把最后一块面包吃完了，给猫读潮汐表。",
      "第三天。雾从早上一直到下午，每两分钟鸣一次雾号。海鸥不理我，它们只关心鱼。",
      "第四天。天气晴朗，海面像镜子一样平静。我修好了雨水桶，数了数礁石上的海豹。",
      "第五天。夜里起了大风，灯塔的玻璃嗡嗡作响。我守着灯，猫守着我，天亮时风才停。"]


def corpus(tmp_path, files, **settings):
    root = tmp_path / "data"
    cfg = CorpusConfig(name="c", **settings)
    manifest = ingest([(p, p.name) for p in files], cfg, root)
    records = read_split(root, "c", "", "train") + read_split(root, "c", "", "val")
    return manifest, records


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def make_pdf(pages: list[list[str]]) -> bytes:
    """A small valid PDF, one text line per entry, built by hand so the test needs no PDF writer."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        ops = " ".join(f"BT /F1 11 Tf 72 {760 - 16 * i} Td ({line}) Tj ET" for i, line in enumerate(lines))
        objects.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
                       "/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


# ---- prose and documents ----------------------------------------------------------------

def test_html_keeps_paragraphs_and_drops_scripts(tmp_path):
    page = ("<html><head><title>T</title><style>p{color:red}</style></head><body><h1>The Keeper</h1>"
            f"<p>{ENTRIES[0]}</p><p>Second <em>paragraph</em> here, long enough.</p><script>alert(1)</script></body></html>")
    _, records = corpus(tmp_path, [write(tmp_path, "page.html", page)])
    text = records[0]["text"] if len(records) == 1 else "\n\n".join(r["text"] for r in records)
    assert "The Keeper" in text and "Second paragraph here" in text
    assert "alert" not in text and "color" not in text and "<p>" not in text


def test_docx_paragraphs_and_tables_are_read(tmp_path):
    import docx

    document = docx.Document()
    for entry in ENTRIES[:3]:
        document.add_paragraph(entry)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Oil", "three gallons"
    document.save(tmp_path / "log.docx")
    m, records = corpus(tmp_path, [tmp_path / "log.docx"])
    text = "\n\n".join(r["text"] for r in records)
    assert "LAMP LOG, GANNET ROCK. Day 2." in text and "Oil | three gallons" in text
    assert m["sources"][0]["encoding"] == "docx"


def test_pdf_pages_lose_running_headers_and_page_numbers(tmp_path):
    pages = [["Gannet Rock Papers"] + ENTRIES[i].splitlines() + [str(i + 1)] for i in range(5)]
    m, records = corpus(tmp_path, [write(tmp_path, "book.pdf", make_pdf(pages))])
    text = "\n".join(r["text"] for r in records)
    # "LAMP LOG, GANNET ROCK. Day N." tops every page too: a running head, rightly removed
    assert "Wind: west, gusting." in text and "Clean glass first" in text and "LAMP LOG" not in text
    assert "Gannet Rock Papers" not in text
    assert not any(line.strip().isdigit() for line in text.splitlines())
    assert m["rules"]["page headers, footers and numbers removed (lines)"] == 15  # title, running head, number x 5
    assert m["sources"][0]["pages"] == 5

    m_off, records_off = corpus(tmp_path / "off", [tmp_path / "book.pdf"], strip_page_furniture=False)
    assert "Gannet Rock Papers" in "\n".join(r["text"] for r in records_off)


def test_epub_chapters_become_documents(tmp_path):
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("id1")
    book.set_title("Log")
    book.set_language("en")
    chapters = []
    for i, entry in enumerate(ENTRIES[:5]):
        ch = epub.EpubHtml(title=f"Day {i + 1}", file_name=f"c{i}.xhtml", lang="en")
        ch.content = f"<html><body><h1>Day {i + 1}</h1><p>{entry}</p></body></html>"
        book.add_item(ch)
        chapters.append(ch)
    book.toc = chapters
    book.spine = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(tmp_path / "log.epub"), book)
    m, records = corpus(tmp_path, [tmp_path / "log.epub"])
    assert m["documents"] == 5 and all("LAMP LOG" in r["text"] for r in records)


def test_a_parser_that_runs_too_long_is_stopped_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "TIME_LIMIT_S", 0.01)
    with pytest.raises(CorpusError, match=r"book.pdf: reading it took over .* damaged"):
        corpus(tmp_path, [write(tmp_path, "book.pdf", make_pdf([["Some text here."]]))])


def test_a_damaged_pdf_is_refused_by_name(tmp_path):
    with pytest.raises(CorpusError, match="broken.pdf: could not be read as PDF"):
        corpus(tmp_path, [write(tmp_path, "broken.pdf", b"%PDF-1.4\nthis is not really a pdf")])


def test_a_password_protected_pdf_is_refused_saying_so_in_both_languages(tmp_path):
    from pypdf import PdfWriter

    locked = PdfWriter()
    locked.add_blank_page(100, 100)
    locked.encrypt("secret", owner_password="owner")
    locked.write(tmp_path / "locked.pdf")
    with pytest.raises(CorpusError, match="locked.pdf: could not be read as PDF: the PDF is password-protected") as caught:
        corpus(tmp_path, [tmp_path / "locked.pdf"])
    assert render("zh", caught.value) == "locked.pdf：无法按 PDF 读取：这个 PDF 有密码保护；请去掉密码后重新上传"


def deflated(path, member: str, data: bytes):
    """A zip holding one highly compressible member: a small file that expands a lot."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
    return path


def test_a_docx_zip_bomb_is_refused_before_parsing(tmp_path):
    bomb = deflated(tmp_path / "bomb.docx", "word/document.xml", b"\0" * (60 * 1024 * 1024))
    with pytest.raises(CorpusError, match="bomb.docx: member word/document.xml expands .*zip bomb"):
        corpus(tmp_path, [bomb])


def test_a_huge_line_is_refused_with_its_line_number_without_loading_it(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_DOC_CHARS", 100_000)
    f = write(tmp_path, "huge.txt", "short first line\n" + "x" * 3_000_000 + "\n")
    with pytest.raises(CorpusError, match="huge.txt: line 2 is over 100,000 characters"):
        corpus(tmp_path, [f])


def test_prose_in_pairs_mode_is_explained(tmp_path):
    with pytest.raises(CorpusError, match="a.txt: a .txt file holds prose.*pairs mode needs"):
        corpus(tmp_path, [write(tmp_path, "a.txt", ENTRIES[0])], mode="pairs")


# ---- rows: jsonl, json, csv, tsv, parquet -------------------------------------------------

def test_jsonl_text_mode_recognises_common_fields(tmp_path):
    lines = [json.dumps({"content": e, "id": i}) for i, e in enumerate(ENTRIES[:5])]
    m, records = corpus(tmp_path, [write(tmp_path, "a.jsonl", "\n".join(lines))])
    assert m["documents"] == 5 and records[0]["origin"].startswith("a.jsonl:")


def test_jsonl_broken_line_and_changing_type_name_the_line(tmp_path):
    good = json.dumps({"text": ENTRIES[0]})
    with pytest.raises(CorpusError, match=r"a.jsonl: line 3 is not valid JSON"):
        corpus(tmp_path, [write(tmp_path, "a.jsonl", f"{good}\n{good}\n{{broken\n")])
    with pytest.raises(CorpusError, match=r"b.jsonl: line 2: field 'text' is a list here but a str"):
        corpus(tmp_path, [write(tmp_path, "b.jsonl", f'{good}\n{{"text": ["a"]}}\n')])


def test_pairs_with_instruction_input_output_and_missing_fields_counted(tmp_path):
    rows = [{"instruction": "Summarise:", "input": e, "output": e.split(".")[0]} for e in ENTRIES[:8]]
    rows += [{"instruction": "Summarise:", "input": "x", "output": ""}, {"instruction": "Summarise:", "input": "y"}]
    m, records = corpus(tmp_path, [write(tmp_path, "p.jsonl", "\n".join(json.dumps(r) for r in rows))], mode="pairs")
    assert m["rows"]["seen"] == 10
    reasons = {render("en", skip_reason(m["rows"], why)): n for why, n in m["rows"]["skipped"].items()}
    assert reasons == {"empty field 'output'": 1, "missing field 'output'": 1}
    assert render("zh", skip_reason(m["rows"], "skip.empty_field:name=output")) == "字段“output”为空"
    assert records[0]["prompt"].startswith("Summarise:\n\nLAMP LOG") and records[0]["response"].startswith("LAMP LOG")


def test_pairs_refuse_when_too_few_rows_survive(tmp_path):
    rows = [{"document": e, "summary": ""} for e in ENTRIES[:6]] + [{"document": ENTRIES[7], "summary": "A day."}]
    with pytest.raises(CorpusError, match=r"only 1 of 7 rows have what pairs mode needs .*6 rows: empty field 'summary'"):
        corpus(tmp_path, [write(tmp_path, "p.jsonl", "\n".join(json.dumps(r) for r in rows))], mode="pairs")


def test_mapped_columns_in_csv_with_bom_quoted_newlines_and_a_big_field(tmp_path):
    big = "word " * 40_000  # 200 KB in one cell
    rows = ['"article","abstract"'] + [f'"{e}","{e.splitlines()[0]}"' for e in ENTRIES[:5]] + [f'"{big}","big one"']
    data = "\ufeff" + "\r\n".join(rows) + "\r\n"
    m, records = corpus(tmp_path, [write(tmp_path, "a.csv", data)], mode="pairs",
                        prompt_field="article", response_field="abstract", max_chars=300_000)
    assert m["documents"] == 6 and any(len(r["prompt"]) > 190_000 for r in records)
    assert any("\nWind:" in r["prompt"] for r in records)  # the quoted newline survived


def test_csv_unmatched_quote_names_the_line(tmp_path):
    with pytest.raises(CorpusError, match=r"a.csv: CSV error at line \d+.*unmatched quote"):
        corpus(tmp_path, [write(tmp_path, "a.csv", 'text\n"fine"\n"broken,\nmore\n')])


def test_tsv_and_json_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tsv = "text\n" + "\n".join(e.replace("\n", " ") for e in ENTRIES[:3])
    js = json.dumps({"data": [{"text": e} for e in ENTRIES[3:6]]})
    summaries = ["one", "two", "three", "four", "five", "six"]
    pq.write_table(pa.table({"document": ENTRIES[6:12], "summary": summaries}), tmp_path / "d.parquet")
    m, _ = corpus(tmp_path, [write(tmp_path, "a.tsv", tsv), write(tmp_path, "b.json", js)])
    assert m["documents"] == 6
    m, records = corpus(tmp_path / "p", [tmp_path / "d.parquet"], mode="pairs")
    assert m["documents"] == 6 and {r["response"] for r in records} == set(summaries)


def test_chat_messages_and_sharegpt_conversations(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Write day {i}."}, {"role": "assistant", "content": e}]}
            for i, e in enumerate(ENTRIES[:4])]
    rows += [{"conversations": [{"from": "human", "value": "Write day 9."}, {"from": "gpt", "value": ENTRIES[8]}]}]
    rows += [{"messages": [{"role": "user", "content": "only a question"}]}]
    m, records = corpus(tmp_path, [write(tmp_path, "c.jsonl", "\n".join(json.dumps(r) for r in rows))], mode="chat")
    assert m["documents"] == 5 and m["rows"]["skipped"] == {"skip.no_turns": 1}
    assert render("en", skip_reason(m["rows"], "skip.no_turns")) == "a conversation without both a user and an assistant turn"
    assert all(r["messages"][1]["role"] == "assistant" for r in records)


# ---- archives ------------------------------------------------------------------------------

def test_zip_with_folders_mixed_types_and_hostile_names_reads_safely(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("stories/day1.txt", ENTRIES[0])
        z.writestr("stories/more/day2.md", ENTRIES[1])
        z.writestr("rows/data.jsonl", "\n".join(json.dumps({"text": e}) for e in ENTRIES[2:5]))
        z.writestr("../../escape.txt", ENTRIES[3])
        z.writestr("/abs/path.txt", ENTRIES[4])
        z.writestr("__MACOSX/._day1.txt", "junk")
        z.writestr("image.png", b"\x89PNG")
    m, records = corpus(tmp_path, [archive])
    assert m["documents"] == 5
    assert {r["origin"].split(":")[0] for r in records} == {"upload.zip/stories/day1.txt", "upload.zip/stories/more/day2.md",
                                                           "upload.zip/rows/data.jsonl"}
    unsafe = [p for p in m["passed_over"] if p["reason"] == {"key": "passed.unsafe", "fields": {}}]
    assert len(unsafe) == 2 and "unsafe path" in render("en", unsafe[0]["reason"])
    assert "不安全" in render("zh", unsafe[0]["reason"])
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert not list((tmp_path / "data" / "corpora" / "c").glob(".tmp-*")), "scratch files are cleaned up"


def test_zip_bomb_is_refused(tmp_path):
    archive = deflated(tmp_path / "bomb.zip", "a.txt", b"a" * (50 * 1024 * 1024))
    with pytest.raises(CorpusError, match="bomb.zip: member a.txt expands"):
        corpus(tmp_path, [archive])


# ---- cleaning rules, each switchable and counted -----------------------------------------------

def test_hard_wrapped_lines_join_with_a_space_in_english_and_none_in_chinese():
    english = ("The storm came in from the south and the tower hummed like a\nkettle deciding whether to boil, "
               "and I trimmed the wick at\ntwo and again at four.")
    joined, n = clean.join_wrapped_lines(english)
    assert n == 2 and "like a kettle" in joined and "wick at two" in joined
    chinese = "风从东北来，海面灰暗。我把灯点亮了，一切平安。这座岛屿很小，但是海鸥很多，猫睡在最暖和的\n台阶上，补给船明天会来。"
    joined, n = clean.join_wrapped_lines(chinese)
    assert n == 1 and "最暖和的台阶上" in joined
    verse = "Wind: north.\nSea: grey.\nLamp lit."
    assert clean.join_wrapped_lines(verse) == (verse, 0)


def test_rules_are_counted_and_can_be_switched_off(tmp_path):
    text = ENTRIES[0] + "\nWrite to keeper@gannet.example or call +44 1234 567890.\n<b>bold</b> words here."
    f = write(tmp_path, "a.txt", text + "\n---\n" + ENTRIES[1])
    m, records = corpus(tmp_path, [f], mask_pii=True)
    joined = "\n".join(r["text"] for r in records)
    assert "[email]" in joined and "[phone]" in joined and "<b>" not in joined
    assert m["rules"]["e-mails and phone numbers masked"] == 2 and m["rules"]["HTML markup stripped"] == 1
    m_off, records_off = corpus(tmp_path / "off", [f], strip_markup=False)
    assert "<b>bold</b>" in "\n".join(r["text"] for r in records_off) and "HTML markup stripped" not in m_off["rules"]
    assert "keeper@gannet.example" in "\n".join(r["text"] for r in records_off)


def test_chinese_corpus_reports_cjk_share_and_histogram(tmp_path):
    f = write(tmp_path, "zh.txt", "\n---\n".join(ZH).encode("gb18030"))
    m, records = corpus(tmp_path, [f])
    assert m["documents"] == 5 and m["cjk_share"] > 0.8
    assert sum(m["length_histogram"]["counts"]) == 5 and m["length_histogram"]["unit"] == "characters"
    assert sorted(r["text"] for r in records) == sorted(ZH)


def test_a_100_mb_single_line_is_refused_in_bounded_memory(tmp_path):
    """The real limit, the real size: the reader stops at the limit instead of loading the line."""
    import subprocess
    import sys

    huge = tmp_path / "huge.txt"
    with open(huge, "w", encoding="utf-8") as fh:
        fh.write("a title line\n")
        for _ in range(100):
            fh.write("海浪" * 170_000 + "wave ")  # about 1 MB of UTF-8 per write, no line break
    assert huge.stat().st_size > 100e6
    # The child reports its own high-water mark (VmHWM starts afresh at exec; a fork's rusage
    # would include the pytest process it was forked from).
    script = ("import sys; from pathlib import Path; from studio.config import CorpusConfig; "
              "from studio.corpus.build import ingest\n"
              "try:\n    ingest([(Path(sys.argv[1]), 'huge.txt')], CorpusConfig(name='h'), Path(sys.argv[2]))\n"
              "finally:\n    print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    done = subprocess.run([sys.executable, "-c", script, str(huge), str(tmp_path / "data")], capture_output=True, text=True)
    peak_mb = int(done.stdout.split()[1]) / 1024
    assert done.returncode != 0 and "huge.txt: line 2 is over 5,000,000 characters" in done.stderr
    # about 110 MB measured; reading the line whole would add 100 MB of bytes and 68 MB of text
    assert peak_mb < 250, f"peak {peak_mb:.0f} MB"
    assert not list((tmp_path / "data" / "corpora" / "h").iterdir())  # no version, no scratch left


def test_a_malformed_csv_or_jsonl_file_is_refused_in_chinese_naming_the_file_and_line(tmp_path):
    good = json.dumps({"text": ENTRIES[0]})
    with pytest.raises(CorpusError) as caught:
        corpus(tmp_path, [write(tmp_path, "坏.jsonl", f"{good}\n{{broken\n")])
    assert render("zh", caught.value).startswith("坏.jsonl：第 2 行不是有效的 JSON")
    with pytest.raises(CorpusError) as caught:
        corpus(tmp_path, [write(tmp_path, "b.jsonl", f'{good}\n{{"text": ["a"]}}\n')])
    assert render("zh", caught.value).startswith("b.jsonl：第 2 行：字段“text”在这里是 list，在前面的行里却是 str")
    with pytest.raises(CorpusError) as caught:
        corpus(tmp_path, [write(tmp_path, "t.csv", "text,source\nfine,a\ntoo,many,fields\n")])
    assert str(caught.value).startswith("t.csv: row ending at line 3 has 3 fields, the header has 2")
    assert render("zh", caught.value).startswith("t.csv：到第 3 行结束的这一行有 3 个字段，表头有 2 个")


def test_an_older_manifests_english_skip_reasons_still_read_as_their_messages():
    old = {"seen": 3, "skipped": {"empty field 'output'": 1, "a message is not an object": 1, "odd": 1}}
    assert skip_reason(old, "empty field 'output'") == {"key": "skip.empty_field", "fields": {"name": "output"}}
    assert render("zh", skip_reason(old, "a message is not an object")) == "有一条消息不是对象"
    assert skip_reason(old, "odd") == "odd"


def _raised_keys() -> set[tuple[str, str]]:
    """(file:line, key) of every `raise SomeError("key", ...)` in studio/ whose first argument is a
    key-shaped string (a call anywhere in the raised expression, so `Skip(a) if x else Skip(b)` counts)."""
    import ast
    import re
    from pathlib import Path

    key_shape = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+$")
    found = set()
    for path in sorted(Path(__file__).resolve().parent.parent.joinpath("studio").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            calls = []
            if isinstance(node, ast.Raise) and node.exc is not None:
                calls = [n for n in ast.walk(node.exc) if isinstance(n, ast.Call)]
            for call in calls:
                first = call.args[0] if call.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and key_shape.match(first.value):
                    found.add((f"{path.name}:{call.lineno}", first.value))
    return found


def test_every_key_an_error_is_raised_with_has_english_and_chinese_with_the_same_fields():
    import string

    from studio.write.drafter import EMPTY_PROMPT

    used = _raised_keys() | {("drafter.py", key) for key in EMPTY_PROMPT.values()}  # raised through a table
    assert len(used) > 60  # the scan sees the studio's keyed raises
    for where, key in used:
        assert key in MESSAGES, f"{where}: {key} is not in studio/messages.py"
        en, zh = MESSAGES[key]
        assert en.strip() and zh.strip() and en != zh or key == "text", f"{where}: {key} lacks a Chinese text"
        fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in (en, zh)]
        assert fields[0] == fields[1], f"{key}: English and Chinese name different values"
