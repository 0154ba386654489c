"""Terminal and control debris (studio/textclean.py): removed by corpus cleaning, counted per rule
with an example in the report, and never shown in a draft. Text that only looks like a code stays."""
import json
import re

import pytest

from studio.corpus.build import ingest
from studio.config import CorpusConfig, GenConfig
from studio.corpus.clean import DEBRIS_RULES
from studio.corpus.store import read_manifest, read_split
from studio.textclean import remove_debris

DEBRIS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]|\[\d*(?:;\d+)*m")  # control characters and colour codes


@pytest.mark.parametrize("raw, clean", [
    ("\x1b[32m《静夜思》\x1b[m", "《静夜思》"),  # what the fortune poems carried
    ("\x1b[01;34mdir\x1b[0m\x1b(B and \x1b[2K\x1b[1Agone", "dir and gone"),  # ls colours, tput sgr0, cursor moves
    ("a\x9b1mb\x9bm", "ab"),  # CSI as the 8-bit C1 byte
    ("\x1b]0;title\x07Hello \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "Hello link"),  # OSC: BEL and ST ends
    ("^[[32mgreen^[[m", "green"),  # the ESC byte shown as text by cat -v
    ("[32m《静夜思》[m\n李白\n[33m床前明月光", "《静夜思》\n李白\n床前明月光"),  # ESC lost: an opening and reset on a line
    ("B\bBo\bol\bld and _\bu_\bn_\bd_\be_\br", "Bold and under"),  # man-page overstrikes keep the letter
    ("x\x00y\x0cz\r\nw\x07\x85v\tt", "xy\nz\nw\nv\tt"),  # C0/C1 out; FF and NEL break the line; CR LF, tab stay
    ("a draft cut off \x1b[3", "a draft cut off "),  # a sequence cut at the end (a draft still streaming)
])
def test_terminal_and_control_debris_is_removed(raw, clean):
    assert remove_debris(raw).text == clean


@pytest.mark.parametrize("prose", [
    "In the manual, type [32m to make the text green.",  # a writer's literal code: no ESC, no reset after it
    "Reset with [0m. Then [32m turns it green.",  # the reset comes first: not a pair
    "She wrote [1m on the board.\nLater, [m meant nothing.",  # opening and reset on different lines
    "Footnote [12] and a list [a] [b]; 5 [m] and [x]m stay.",  # brackets that are not codes
    "Match a class with ^[[:alpha:]]+ and ^[a-z].",  # a regular expression: ^[ but not a colour code
    "Tabs\tand\nnew lines stay, and so do 《书名》 and “quotes”.",
])
def test_text_that_only_looks_like_a_code_stays(prose):
    cleaned = remove_debris(prose)
    assert cleaned.text == prose and cleaned.counts == {}


def test_each_rule_counts_and_keeps_its_first_example_with_the_codes_shown():
    cleaned = remove_debris("\x1b[32m《静夜思》\x1b[m\nB\bBold\x0c[1m[m")
    assert cleaned.text == "《静夜思》\nBold\n"
    assert cleaned.counts == {"escapes": 2, "overstrikes": 1, "bare_codes": 2, "controls": 1}
    assert cleaned.examples["escapes"] == {"before": "\\x1b[32m《静夜思》\\x1b[m\\nBol", "after": "《静夜思》\\nBol"}
    assert cleaned.examples["controls"]["before"].count("\\x0c") == 1 and "\\x0c" not in cleaned.examples["controls"]["after"]


def _split_texts(root, name) -> str:
    return "\n".join(r["text"] for side in ("train", "val") for r in read_split(root, name, "", side))


@pytest.mark.usefixtures("small_corpora")
def test_an_ingested_corpus_stores_no_debris_and_the_report_counts_and_shows_it(tmp_path):
    poems = "\n---\n".join(f"\x1b[32m《诗{i}》\x1b[m\n\x1b[33m李白\x1b[m\n床前明月光，疑是地上霜。举头望明月，低头思故乡。第{i}首。"
                           for i in range(6))
    (tmp_path / "poems.txt").write_bytes(poems.encode("gb18030"))
    log = "\n---\n".join(f"[1mEntry {i}[0m: the keeper climbed the stair at dusk, N\bNi\big\bgh\bht\bt {i}.\x0b"
                         f"\x07Wind from the north, the sea grey, the lamp lit at six. All well." for i in range(6))
    (tmp_path / "log.txt").write_text(log, encoding="utf-8")
    root = tmp_path / "data"
    m = ingest([(tmp_path / "poems.txt", "poems.txt"), (tmp_path / "log.txt", "log.txt")],
               CorpusConfig(name="debris", near_dup_threshold=0), root)
    stored = _split_texts(root, "debris")
    assert not DEBRIS.search(stored) and "《诗3》\n李白" in stored and "Entry 2: the keeper" in stored and "Night 4" in stored
    for folder in (root / "corpora" / "debris").iterdir():
        for side in ("train.jsonl", "val.jsonl"):
            raw = (folder / side).read_text(encoding="utf-8")
            assert "\\u001b" not in raw and "\x1b" not in raw and "[32m" not in raw
    rules = read_manifest(root, "debris")["rules"]
    assert rules[DEBRIS_RULES["escapes"]] == 24 and rules[DEBRIS_RULES["bare_codes"]] == 12
    assert rules[DEBRIS_RULES["overstrikes"]] == 30 and rules[DEBRIS_RULES["controls"]] == 12
    assert m["rule_examples"][DEBRIS_RULES["escapes"]]["before"].startswith("\\x1b[32m《诗0》\\x1b[m")
    from studio.__main__ import _cleaned
    from studio.ui.views import corpus_report

    report = corpus_report(m, lang="zh")
    assert "去除终端转义序列" in report and "<code>&#92;x1b&#91;32m《诗0》" in report and "\x1b" not in report
    assert "24 terminal escape sequences removed" in _cleaned(m) and "\\x1b[32m《诗0》\\x1b[m" in _cleaned(m)


@pytest.mark.usefixtures("small_corpora")
def test_a_writers_literal_code_in_prose_is_ingested_as_written(tmp_path):
    prose = "\n---\n".join(f"Entry {i}. In the old manual she found [32m and typed it, and nothing turned green at all."
                           for i in range(4))
    (tmp_path / "manual.txt").write_text(prose, encoding="utf-8")
    m = ingest([(tmp_path / "manual.txt", "manual.txt")], CorpusConfig(name="prose", near_dup_threshold=0), tmp_path / "d")
    assert _split_texts(tmp_path / "d", "prose").count("[32m") == 4
    assert all(m["rules"][label] == 0 for label in DEBRIS_RULES.values()) and m["rule_examples"] == {}


def test_drafts_never_show_control_characters_while_streaming_or_when_done(tmp_path, tiny_model_dir, monkeypatch):
    """An adapter trained on escape codes emits them: here every decode does."""
    from transformers import PreTrainedTokenizerBase

    from studio.write.drafter import Drafter, read_drafts

    decode = PreTrainedTokenizerBase.decode
    monkeypatch.setattr(PreTrainedTokenizerBase, "decode",
                        lambda self, ids, **kw: "\x1b[32m《" + decode(self, ids, **kw) + "》\x1b[m\x07\x1b[3")
    items = list(Drafter(tmp_path).stream(["base"], "The lamp", GenConfig(max_new_tokens=6, drafts=2),
                                          model=str(tiny_model_dir)))
    drafts = [d for item in items if "panes" in item for p in item["panes"] for d in p["drafts"]]
    assert items[-1]["done"] and len(drafts) > 4 and all(d.startswith("《") and d.endswith("》") for d in drafts)
    assert not any(re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]|\[\d*m", d) for d in drafts)
    assert "\\u001b" not in json.dumps(read_drafts(tmp_path))  # the draft log keeps what the writer saw


def test_desk_candidates_kept_before_the_fix_are_shown_without_codes(tmp_path):
    from studio.write import desk, manuscript_store as store

    store.folder_of(tmp_path, "old").mkdir(parents=True)
    store.write_pending(store.folder_of(tmp_path, "old"), {"panes": [{"source": "base", "drafts": ["\x1b[32m《夜》\x1b[m\x08"]}]})
    assert desk.candidates(tmp_path, "old")[0]["text"] == "《夜》"
