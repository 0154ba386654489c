"""The writing desk: manuscripts that are never lost, the context the model sees, continue and use,
export and the CLI. Most tests run on the tiny model of conftest.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SAMPLE
from studio import service
from studio.config import GenConfig
from studio.messages import render
from studio.write import manuscript_store as store
from studio.textclean import remove_debris
from studio.write.context import Counter, assemble
from studio.write.manuscript import MAX_CHARS, ManuscriptError

PROJECT = Path(__file__).resolve().parent.parent


def reopen(root: Path, ms_id: str) -> dict:
    """The manuscript as a freshly started app reads it (nothing kept in this process)."""
    store._open.clear()
    return service.manuscript(root, ms_id)


@pytest.fixture
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


# -- never lost --------------------------------------------------------------------------------
def test_a_manuscript_comes_back_after_a_restart_with_every_passage_and_its_source(root):
    ms = service.new_manuscript(root, "The Lamp", "The keeper climbed the stair.\n", memory="A lighthouse.", note="Storm")
    service.use_candidate(root, ms.id, " The lamp was cold.", len(ms.text), "base", {"seed": 3, "temperature": 0.8})
    service.save_manuscript_text(root, ms.id, service.manuscript(root, ms.id)["text"] + "\nShe lit it.")
    back = reopen(root, ms.id)
    assert back["text"] == "The keeper climbed the stair.\n The lamp was cold.\nShe lit it."
    sources = [(p.source, p.text) for p in back["manuscript"].passages]
    assert sources == [("writer", "The keeper climbed the stair.\n"), ("base", " The lamp was cold."),
                       ("writer", "\nShe lit it.")]
    assert back["manuscript"].passages[1].settings["seed"] == 3
    assert (back["manuscript"].memory, back["manuscript"].note, back["manuscript"].title) == ("A lighthouse.", "Storm", "The Lamp")
    assert [r["id"] for r in service.manuscripts(root)] == [ms.id]


def test_titles_in_chinese_rename_and_delete_keeps_the_folder_in_the_trash(root):
    ms = service.new_manuscript(root, "灯塔日志", "夜里起风了。")
    assert ms.id == "灯塔日志"
    service.rename_manuscript(root, ms.id, "灯塔守夜人")
    assert reopen(root, ms.id)["manuscript"].title == "灯塔守夜人"
    trashed = service.delete_manuscript(root, ms.id)
    assert service.manuscripts(root) == [] and (trashed / store.HISTORY).exists()


def test_a_writer_editing_inside_a_drafted_passage_keeps_its_source_and_marks_it_edited(root):
    ms = service.new_manuscript(root, "t", "Opening. ")
    service.use_candidate(root, ms.id, "The sea was grey.", len(ms.text), "run-x@step-2", {"seed": 1})
    service.save_manuscript_text(root, ms.id, "Opening. The sea was slate grey.")
    p = reopen(root, ms.id)["manuscript"].passages
    assert (p[1].source, p[1].text, p[1].edited) == ("run-x@step-2", "The sea was slate grey.", True)


def test_any_edit_anywhere_gives_the_exact_text_and_undoing_it_gives_back_every_passage():
    import random

    from studio.write.manuscript import Manuscript, Passage, apply_all, diff, insert_ops, invert_all, replace_ops

    rng = random.Random(2)
    for _ in range(2000):
        ms = Manuscript("x", passages=[Passage("".join(rng.choice("ab .\n") for _ in range(rng.randint(1, 6))),
                                               rng.choice(["writer", "base", "run@step-1"])) for _ in range(rng.randint(0, 5))])
        old, before = ms.text, ms.to_dict()
        a = rng.randint(0, len(old))
        if rng.random() < 0.5:
            new = old[:a] + "".join(rng.choice("xy\n") for _ in range(rng.randint(0, 3))) + old[rng.randint(a, len(old)):]
            ops = replace_ops(ms, *diff(old, new))
        else:
            new, ops = old[:a] + "NEW" + old[a:], insert_ops(ms, a, Passage("NEW", "base"))
        apply_all(ms, ops)
        assert ms.text == new and all(p.text for p in ms.passages)
        apply_all(ms, invert_all(ops))
        assert ms.to_dict() == before


def test_undo_and_redo_walk_150_steps_back_and_forth_across_a_restart(root):
    ms = service.new_manuscript(root, "steps", "0")
    texts = ["0"]
    for n in range(1, 151):
        text = texts[-1] + (f" {n}" if n % 3 else f"\n{n}.")
        service.save_manuscript_text(root, ms.id, text)
        texts.append(text)
    for n in range(150):
        if n == 75:
            store._open.clear()  # the app restarts half-way: undo goes on from the disk
        assert service.undo_manuscript(root, ms.id)["manuscript"].text == texts[-2 - n]
    with pytest.raises(ManuscriptError, match="nothing to undo"):
        service.undo_manuscript(root, ms.id)
    for n in range(1, 101):
        assert service.redo_manuscript(root, ms.id)["manuscript"].text == texts[n]
    service.save_manuscript_text(root, ms.id, "fresh")  # a new edit clears redo
    with pytest.raises(ManuscriptError, match="nothing to redo"):
        service.redo_manuscript(root, ms.id)
    assert service.undo_manuscript(root, ms.id)["manuscript"].text == texts[100]


def test_an_old_version_can_be_viewed_and_restored_and_the_restore_can_be_undone(root):
    ms = service.new_manuscript(root, "v", "one")
    service.save_manuscript_text(root, ms.id, "one two")
    service.save_manuscript_text(root, ms.id, "three")
    assert service.manuscript_version(root, ms.id, 2).text == "one two"
    assert service.restore_manuscript(root, ms.id, 1)["manuscript"].text == "one"
    assert [h["kind"] for h in service.manuscript_history(root, ms.id)] == ["create", "edit", "edit", "restore"]
    assert service.undo_manuscript(root, ms.id)["manuscript"].text == "three"


def test_two_tabs_saving_from_the_same_revision_the_later_wins_says_so_and_both_stay_in_history(root):
    ms = service.new_manuscript(root, "tabs", "The start.")
    loaded = service.manuscript(root, ms.id)["manuscript"].revision
    first = service.save_manuscript_text(root, ms.id, "The start. Tab one.", base=loaded)
    second = service.save_manuscript_text(root, ms.id, "The start. Tab two.", base=loaded)
    assert first["notice"] is None
    assert second["notice"]["key"] == "manuscript.conflict" and "另一个标签页" in render("zh", second["notice"])
    assert reopen(root, ms.id)["text"] == "The start. Tab two."
    assert service.manuscript_version(root, ms.id, first["revision"]).text == "The start. Tab one."


def test_a_second_process_saving_is_seen_by_this_one_without_a_restart(root):
    ms = service.new_manuscript(root, "two", "A.")
    service.manuscript(root, ms.id)
    code = f"from studio import service; from pathlib import Path; service.save_manuscript_text(Path({str(root)!r}), 'two', 'A. B.')"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT)
    assert service.manuscript(root, ms.id)["text"] == "A. B."


def test_a_paste_beyond_the_size_limit_is_refused_and_loses_nothing(root):
    ms = service.new_manuscript(root, "big", "Kept.")
    with pytest.raises(ManuscriptError, match="at most 2,000,000") as refused:
        service.save_manuscript_text(root, ms.id, "Kept." + "x" * MAX_CHARS)
    assert "2 MB" in str(refused.value) and "最多" in render("zh", refused.value)
    assert reopen(root, ms.id)["text"] == "Kept."
    assert len(service.manuscript_history(root, ms.id)) == 1


# -- damaged files -----------------------------------------------------------------------------
def _three_saves(root) -> str:
    ms = service.new_manuscript(root, "dmg", "one")
    for text in ("one two", "one two three", "one two three four"):
        service.save_manuscript_text(root, ms.id, text)
    store.write_snapshot(store.load(root, ms.id))
    return ms.id


def test_a_history_line_cut_by_a_kill_is_dropped_kept_aside_and_saving_goes_on(root):
    ms_id = _three_saves(root)
    folder = store.folder_of(root, ms_id)
    (folder / store.STATE).unlink()
    with open(folder / store.HISTORY, "ab") as fh:
        fh.write(b'{"rev": 5, "kind": "edit", "ops": [{"op": "te')
    opened = reopen(root, ms_id)
    assert opened["text"] == "one two three four"
    assert [n["key"] for n in opened["notices"]] == ["manuscript.cut_line", "manuscript.missing_json"]
    assert list(folder.glob("history.jsonl.cut-*"))
    service.save_manuscript_text(root, ms_id, "one two three four five")
    assert reopen(root, ms_id)["text"] == "one two three four five" and not reopen(root, ms_id)["notices"]


def test_invalid_json_in_the_middle_of_the_history_is_skipped_with_a_notice_naming_the_line(root):
    ms_id = _three_saves(root)
    history = store.folder_of(root, ms_id) / store.HISTORY
    lines = history.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = "{this is not json\n"
    history.write_text("".join(lines), encoding="utf-8")
    opened = reopen(root, ms_id)
    assert opened["text"] == "one two three four"  # manuscript.json has it all
    notice = opened["notices"][0]
    assert notice["key"] == "manuscript.damaged_line" and notice["fields"]["line"] == 2
    assert service.manuscript_version(root, ms_id, 1).text == "one"


def test_a_manuscript_json_saved_in_gb18030_is_kept_aside_and_the_text_rebuilt_from_history(root):
    ms_id = _three_saves(root)
    state = store.folder_of(root, ms_id) / store.STATE
    data = json.loads(state.read_text(encoding="utf-8"))
    data["title"] = "灯塔"
    state.write_bytes(json.dumps(data, ensure_ascii=False).encode("gb18030"))
    damaged = state.read_bytes()
    opened = reopen(root, ms_id)
    assert opened["text"] == "one two three four"
    assert opened["notices"][0]["key"] == "manuscript.damaged_json"
    aside = list(state.parent.glob("manuscript.json.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # nothing overwritten


def test_a_deleted_manuscript_json_is_rebuilt_from_history(root):
    ms_id = _three_saves(root)
    (store.folder_of(root, ms_id) / store.STATE).unlink()
    opened = reopen(root, ms_id)
    assert opened["text"] == "one two three four" and opened["notices"][0]["key"] == "manuscript.missing_json"
    assert (store.folder_of(root, ms_id) / store.STATE).exists()


def test_a_snapshot_behind_its_history_is_caught_up(root):
    ms = service.new_manuscript(root, "lag", "a")
    store.SNAPSHOT_GAP_S, gap = 3600, store.SNAPSHOT_GAP_S
    try:
        service.save_manuscript_text(root, ms.id, "a b")
        service.save_manuscript_text(root, ms.id, "a b c")
    finally:
        store.SNAPSHOT_GAP_S = gap
    assert json.loads((store.folder_of(root, ms.id) / store.STATE).read_text())["revision"] == 1
    assert reopen(root, ms.id)["text"] == "a b c"


KILLED_CHILD = """
import sys, time
from pathlib import Path
from studio import service
from studio.config import GenConfig
root, model = Path(sys.argv[1]), sys.argv[2]
ms = service.new_manuscript(root, "killed", "The keeper wrote in the log.\\n")
text = service.manuscript(root, ms.id)["text"]
for n in range(5):
    text += f" Edit {n}."
    service.save_manuscript_text(root, ms.id, text)
service.use_candidate(root, ms.id, " Accepted one.", len(text), "base", {"seed": 1})
text = service.manuscript(root, ms.id)["text"] + " Last edit."
service.save_manuscript_text(root, ms.id, text)
service.use_candidate(root, ms.id, " Accepted two.", len(text), "base", {"seed": 2})
for item in service.continue_manuscript(root, ms.id, ["base"], GenConfig(max_new_tokens=300, drafts=2), model=model):
    if item.get("panes"):
        print("drafting", flush=True)
        time.sleep(60)
"""


def test_a_kill_in_the_middle_of_a_draft_loses_no_accepted_passage_and_no_edit(root, tiny_model_dir):
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(root), str(tiny_model_dir)], cwd=PROJECT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "drafting"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    opened = reopen(root, "killed")
    assert opened["text"] == ("The keeper wrote in the log.\n Edit 0. Edit 1. Edit 2. Edit 3. Edit 4. Accepted one."
                              " Last edit. Accepted two.")
    assert [p.source for p in opened["manuscript"].passages] == ["writer", "base", "writer", "base"]
    assert service.undo_manuscript(root, "killed")["manuscript"].text.endswith("Last edit.")


# -- context -----------------------------------------------------------------------------------
def test_the_context_fits_the_budget_with_memory_on_top_and_the_note_before_the_last_paragraphs(tok):
    count = Counter(tok)
    story = "".join(f"Paragraph {n} starts here. It goes on a while. It ends.\n" for n in range(60))
    ctx = assemble(count, story, "MEMORY: a lighthouse.", "NOTE: rain", 200)
    assert ctx.tokens <= 200 and len(tok(ctx.text)["input_ids"]) <= 200
    assert ctx.text.startswith("MEMORY: a lighthouse.\n\n")
    assert ctx.text.endswith("Paragraph 59 starts here. It goes on a while. It ends.\n")
    before_note, after_note = ctx.text.split("[NOTE: rain]\n")
    assert 1 <= after_note.count("\n") <= 3  # the tail: the last few paragraphs (context.py, TAIL_MIN)
    kept = ctx.text[len("MEMORY: a lighthouse.\n\n"):].replace("[NOTE: rain]\n", "")
    assert story.endswith(kept) and ctx.cut_chars == len(story) - len(kept)
    assert kept.startswith(("Paragraph", "It goes", "It ends")), "cut at a paragraph or a sentence start"
    assert [name for name, _, _ in ctx.parts] == ["memory", "manuscript", "note", "end"]


def test_a_long_paragraph_is_cut_at_a_sentence_end_and_chinese_at_its_full_stops(tok):
    count = Counter(tok)
    english = "Old words here. " * 10 + "The first sentence is long enough. The second one too! The last? Yes."
    ctx = assemble(count, english, "", "", 30)
    assert ctx.text.endswith("Yes.") and ctx.text[0].isupper() and english.endswith(ctx.text)
    chinese = "".join(f"第{n}句写作工作室测试。" for n in range(30)) + "最后一句！"
    ctx = assemble(count, chinese, "", "", 60)
    assert chinese.endswith(ctx.text) and ctx.text.startswith("第") and ctx.cut_chars > 0
    assert chinese[len(chinese) - len(ctx.text) - 1] == "。"


def test_a_memory_longer_than_the_model_can_see_is_refused_with_both_counts(tok):
    with pytest.raises(ManuscriptError, match="memory") as refused:
        assemble(Counter(tok), "Text.", "word " * 400, "", 100)
    assert refused.value.fields["budget"] == 100 and refused.value.fields["memory"] > 100
    assert "记忆" in render("zh", refused.value)


def test_the_what_the_model_sees_view_counts_with_the_models_tokenizer_and_context_length(root, tiny_model_dir):
    ms = service.new_manuscript(root, "ctx", "word " * 2000, memory="Keep me.")
    gen = GenConfig(max_new_tokens=100)
    ctx = service.manuscript_context(root, ms.id, ["base"], gen, model=str(tiny_model_dir))
    assert ctx.budget == 512 - 100 and ctx.tokens <= ctx.budget and ctx.cut_chars > 0
    assert ctx.parts[0] == ("memory", "Keep me.\n\n", ctx.parts[0][2])
    cursor = service.manuscript_context(root, ms.id, ["base"], gen, cursor=50, model=str(tiny_model_dir))
    assert cursor.mode == "cursor" and cursor.notices[0]["key"] == "manuscript.from_cursor"
    assert cursor.text == "Keep me.\n\n" + ms.text[:50]
    with pytest.raises(ManuscriptError, match="at most 384 tokens"):
        service.manuscript_context(root, ms.id, ["base"], GenConfig(max_new_tokens=500), model=str(tiny_model_dir))


# -- continue and use --------------------------------------------------------------------------
def test_continue_streams_candidates_per_pane_and_use_puts_one_where_it_was_drafted(root, tiny_model_dir):
    ms = service.new_manuscript(root, "draft", "The keeper climbed.\nThe lamp was out.")
    gen = GenConfig(max_new_tokens=6, drafts=3, seed=5)
    items = list(service.continue_manuscript(root, ms.id, ["base"], gen, cursor=len("The keeper climbed."),
                                             model=str(tiny_model_dir)))
    assert "context" in items[0] and items[-1]["done"] and len(items) > 2
    assert len(items[-1]["panes"][0]["drafts"]) == 3 and items[-1]["at"] == len("The keeper climbed.")
    numbered = service.pending_candidates(root, ms.id)
    assert [c["n"] for c in numbered] == [1, 2, 3]
    service.save_manuscript_text(root, ms.id, "Night. The keeper climbed.\nThe lamp was out.")  # an edit before it
    used = service.use_pending_candidate(root, ms.id, 2)
    text = reopen(root, ms.id)["text"]
    assert text == "Night. The keeper climbed." + numbered[1]["text"] + "\nThe lamp was out."
    assert used["passage"].settings["seed"] == 5 and used["passage"].source == "base"


def test_an_accepted_passage_copied_from_the_corpus_is_marked(root, made_run):
    ms = service.new_manuscript(root, "guard", "Log. ")
    copied = " ".join(SAMPLE.read_text(encoding="utf-8").split()[20:60])
    result = service.use_candidate(root, ms.id, copied, 5, f"{made_run}@step-2", {"seed": 0})
    assert result["passage"].copied > 0.9 and result["passage"].copied_spans
    fresh = service.use_candidate(root, ms.id, " Zebra quantum marmalade.", 0, "base", guard=[made_run])
    assert fresh["passage"].copied == 0.0


def test_a_deleted_run_keeps_its_label_on_passages_and_drafting_with_it_says_it_is_gone(root, made_run):
    ms = service.new_manuscript(root, "gone", "Start.")
    service.use_candidate(root, ms.id, " Tuned words.", 6, made_run, {"seed": 0})
    service.delete_run(root, made_run)
    opened = reopen(root, ms.id)
    assert opened["manuscript"].passages[1].source == made_run
    with pytest.raises(ManuscriptError, match="was deleted") as refused:
        list(service.continue_manuscript(root, ms.id, ["base", made_run], GenConfig(max_new_tokens=4)))
    assert "已被删除" in render("zh", refused.value)
    assert "was deleted" not in service.export_manuscript(root, ms.id, "md", sources=True).read_text()


# -- export ------------------------------------------------------------------------------------
def test_export_as_markdown_text_and_docx_with_a_sources_appendix_in_either_language(root):
    from docx import Document

    ms = service.new_manuscript(root, "灯塔", "夜里起风了。\n")
    service.use_candidate(root, ms.id, "灯还亮着。", len(ms.text), "run-a@step-4", {"seed": 7, "temperature": 0.8, "top_p": 0.9})
    md = service.export_manuscript(root, ms.id, "md", sources=True, lang="zh").read_text(encoding="utf-8")
    assert md.startswith("# 灯塔\n\n夜里起风了。\n灯还亮着。") and "## 来源" in md and "训练 run-a@step-4" in md
    assert "种子 7" in md and "作者" in md
    txt = service.export_manuscript(root, ms.id, "txt").read_text(encoding="utf-8")
    assert txt == "灯塔\n\n夜里起风了。\n灯还亮着。\n"
    doc = Document(str(service.export_manuscript(root, ms.id, "docx", sources=True)))
    paragraphs = [p.text for p in doc.paragraphs]
    assert paragraphs[:3] == ["灯塔", "夜里起风了。", "灯还亮着。"] and "Sources" in paragraphs
    assert any("run run-a@step-4 (seed 7" in p for p in paragraphs)
    with pytest.raises(ManuscriptError, match="choose md, txt or docx"):
        service.export_manuscript(root, ms.id, "pdf")


def test_a_control_character_a_model_drafted_is_left_out_of_the_docx_not_an_error(root):
    from docx import Document

    ms = service.new_manuscript(root, "ctl\x01", "Lamp\x01 lit.\x00\n")
    service.use_candidate(root, ms.id, "Bell\x1b[0m rang.", len(ms.text), "base", {"seed": 1})
    doc = Document(str(service.export_manuscript(root, ms.id, "docx", sources=True)))
    assert [p.text for p in doc.paragraphs][:3] == ["ctl", "Lamp lit.", "Bell[0m rang."]


# -- CLI ---------------------------------------------------------------------------------------
def test_the_cli_makes_continues_uses_undoes_and_exports_a_manuscript(root, tiny_model_dir, capsys):
    from studio.__main__ import main

    data = ["--data-dir", str(root)]
    assert main(["manuscript", "new", "Cli Story", "--text", "The lamp burned.", *data]) == 0
    assert "cli-story" in capsys.readouterr().out
    assert main(["manuscript", "continue", "cli-story", "--candidates", "2", "--max-new-tokens", "5",
                 "--model", str(tiny_model_dir), *data]) == 0
    out = capsys.readouterr().out
    assert "[1] base" in out and "[2] base" in out
    assert main(["manuscript", "use", "cli-story", "2", *data]) == 0
    capsys.readouterr()
    candidate = service.pending_candidates(root, "cli-story")[1]["text"]
    assert service.manuscript(root, "cli-story")["text"] == "The lamp burned." + candidate
    assert main(["manuscript", "list", *data]) == 0 and "Cli Story" in capsys.readouterr().out
    assert main(["manuscript", "show", "cli-story", "--sources", *data]) == 0 and "base" in capsys.readouterr().out
    assert main(["manuscript", "undo", "cli-story", *data]) == 0
    assert service.manuscript(root, "cli-story")["text"] == "The lamp burned."
    assert main(["manuscript", "redo", "cli-story", *data]) == 0
    assert main(["manuscript", "export", "cli-story", "--format", "docx", "--sources", *data]) == 0
    assert capsys.readouterr().out.strip().endswith("manuscript-cli-story-sources.docx")
    assert main(["manuscript", "use", "cli-story", "9", *data]) == 2
    assert "candidate 9" in capsys.readouterr().err


def test_a_chinese_manuscript_drafts_takes_a_candidate_and_exports(root, tiny_model_dir):
    ms = service.new_manuscript(root, "中文稿", "灯塔守夜人在夜里写日志。风很大！", memory="一座灯塔。")
    items = list(service.continue_manuscript(root, ms.id, ["base"], GenConfig(max_new_tokens=5, drafts=2),
                                             model=str(tiny_model_dir)))
    assert items[0]["context"].text.startswith("一座灯塔。\n\n灯塔守夜人")
    service.use_pending_candidate(root, ms.id, 1)
    text = service.manuscript(root, ms.id)["text"]
    assert text.startswith("灯塔守夜人在夜里写日志。风很大！") and len(reopen(root, ms.id)["manuscript"].passages) == 2
    exported = service.export_manuscript(root, ms.id, "txt").read_text(encoding="utf-8")
    assert exported == f"中文稿\n\n{text.rstrip()}\n"


def test_a_model_with_fill_in_the_middle_tokens_sees_the_text_after_the_cursor(tok):
    tok.add_special_tokens({"additional_special_tokens": ["<fim_prefix>", "<fim_suffix>", "<fim_middle>"]})
    from studio.write.context import fim_tokens

    fim = fim_tokens(tok)
    ctx = assemble(Counter(tok), "Before the cursor.", "", "", 200, after=" After it.", fim=fim, cursor=True)
    assert ctx.mode == "fim" and not ctx.notices
    assert ctx.text == "<fim_prefix>Before the cursor.<fim_suffix> After it.<fim_middle>"


def test_damage_notices_are_shown_when_the_manuscript_is_opened_even_after_the_list_was_read(root):
    ms_id = _three_saves(root)
    (store.folder_of(root, ms_id) / store.STATE).unlink()
    store._open.clear()
    assert service.manuscripts(root)[0]["words"] == 4
    assert service.manuscript(root, ms_id)["notices"][0]["key"] == "manuscript.missing_json"


# -- the desk's second half: alternatives, summary into memory, style match ----------------------
def base_probabilities(tiny_model_dir, ids: list[int]):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    with torch.no_grad():
        return torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].float(), -1)


def test_token_alternatives_show_the_run_beside_the_base_and_a_picked_token_redrafts_from_there(root, tuned_run,
                                                                                                 tiny_model_dir, tok):
    ms = service.new_manuscript(root, "alts", "The keeper climbed the stair.")
    list(service.continue_manuscript(root, ms.id, ["base", tuned_run], GenConfig(max_new_tokens=8, seed=3)))
    tuned = service.pending_candidates(root, ms.id)[1]
    pieces = service.candidate_tokens(root, ms.id, 2)
    assert tuned["source"] == tuned_run and "".join(pieces) == tuned["text"]
    found = service.manuscript_alternatives(root, ms.id, 2, 3)
    assert found.source == tuned_run and found.current == pieces[3] and 10 <= len(found.rows) <= 20
    assert [r.tuned for r in found.rows] == sorted((r.tuned for r in found.rows), reverse=True)
    assert any(abs(r.tuned - r.base) > 1e-3 for r in found.rows), "the run's adapter was not applied"
    ids = tok(ms.text, add_special_tokens=True)["input_ids"] + tok(tuned["text"], add_special_tokens=False)["input_ids"][:3]
    plain = base_probabilities(tiny_model_dir, ids)
    assert all(abs(r.base - float(plain[r.token_id])) < 1e-4 for r in found.rows), "the base is the plain model"
    pick = found.rows[-1]
    items = list(service.redraft_candidate(root, ms.id, 2, 3, pick.token_id))
    drafted = tok(tuned["text"], add_special_tokens=False)["input_ids"]
    start = remove_debris(tok.decode(drafted[:3] + [pick.token_id])).text  # (a control character is left out)
    assert items[-1]["done"] and items[-1]["text"].startswith(start) and len(items[-1]["text"]) > len(start)
    assert service.pending_candidates(root, ms.id)[1]["text"] == items[-1]["text"]
    service.use_pending_candidate(root, ms.id, 2)
    assert service.manuscript(root, ms.id)["text"] == "The keeper climbed the stair." + items[-1]["text"]
    base_rows = service.manuscript_alternatives(root, ms.id, 1, 0).rows
    assert base_rows and all(r.tuned is None for r in base_rows)
    with pytest.raises(ManuscriptError, match="token 99 is outside") as refused:
        service.manuscript_alternatives(root, ms.id, 1, 99)
    assert "超出" in render("zh", refused.value)


def test_a_summary_by_a_chosen_model_goes_into_memory_as_an_edit_that_undo_takes_back(root, tuned_run, tiny_model_dir):
    ms = service.new_manuscript(root, "sum", "Old paragraph. " * 300 + "\nThe newest line.", memory="Earlier: a storm.")
    gen = GenConfig(max_new_tokens=12, seed=1)
    from studio.write.summarize import summary_source

    source = summary_source(root, ms.id, tuned_run, gen)
    assert source.startswith("Earlier: a storm.\n\n") and source.endswith("The newest line.")
    assert len(source) < len(ms.text), "cut to the model's context"
    items = list(service.summarize_manuscript(root, ms.id, tuned_run, gen))
    assert items[-1]["done"] and items[-1]["text"].strip()
    edited = "The keeper, the storm, the lamp."
    service.set_manuscript_field(root, ms.id, "memory", edited)
    assert reopen(root, ms.id)["manuscript"].memory == edited
    assert service.undo_manuscript(root, ms.id)["manuscript"].memory == "Earlier: a storm."
    empty = service.new_manuscript(root, "empty")
    with pytest.raises(ManuscriptError, match="manuscript is empty"):
        list(service.summarize_manuscript(root, empty.id, "base", gen, model=str(tiny_model_dir)))


def test_the_style_match_puts_passages_copied_from_the_writer_closer_than_gibberish(root, made_run):
    corpus = SAMPLE.read_text(encoding="utf-8").split()
    ms = service.new_manuscript(root, "style", " ".join(corpus[100:160]))
    service.use_candidate(root, ms.id, " " + " ".join(corpus[300:400]), len(ms.text), made_run, {"seed": 0})
    end = len(service.manuscript(root, ms.id)["text"])
    service.use_candidate(root, ms.id, " zx qv " * 60, end, "base", {"seed": 0})
    found = service.manuscript_style(root, ms.id)
    rows = {r.source: r for r in found.rows}
    assert found.run == made_run and set(rows) == {"writer", "base", made_run}
    assert rows[made_run].distance < rows["base"].distance and rows[made_run].chars > 400
    bare = service.new_manuscript(root, "bare", "Only the writer.")
    with pytest.raises(ManuscriptError, match="no model-written passage"):
        service.manuscript_style(root, bare.id)


def test_the_cli_shows_alternatives_summarizes_into_memory_and_measures_style(root, tuned_run, capsys):
    from studio.__main__ import main

    data = ["--data-dir", str(root)]
    assert main(["manuscript", "new", "Cli Two", "--text", "The lamp burned low.", *data]) == 0
    assert main(["manuscript", "continue", "cli-two", "--pane", tuned_run, "--max-new-tokens", "6", *data]) == 0
    capsys.readouterr()
    assert main(["manuscript", "alternatives", "cli-two", "1", "2", *data]) == 0
    out = capsys.readouterr().out
    assert "tuned %" in out and "base %" in out and len(out.strip().splitlines()) >= 11
    token = out.strip().splitlines()[-1].split()[0]
    assert main(["manuscript", "alternatives", "cli-two", "1", "2", "--pick", token, *data]) == 0
    assert service.pending_candidates(root, "cli-two")[0]["text"] in capsys.readouterr().out
    assert main(["manuscript", "summarize", "cli-two", "--pane", tuned_run, "--max-new-tokens", "6", *data]) == 0
    capsys.readouterr()
    assert main(["manuscript", "memory", "cli-two", "A lamp, low.", *data]) == 0
    assert service.manuscript(root, "cli-two")["manuscript"].memory == "A lamp, low."
    service.use_pending_candidate(root, "cli-two", 1)
    assert main(["manuscript", "style", "cli-two", *data]) in (0, 2)
