"""The desk's story bible, recall and phrases to avoid as a writer meets them: kept with the
manuscript's history (Undo covers them), fired into what the model sees, shared between the books
of a series, from the CLI; and the setup (panes and settings) kept with the manuscript.
On the tiny model of conftest.py (its byte-level tokenizer counts the context)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio import service
from studio.__main__ import main
from studio.config import GenConfig
from studio.messages import render
from studio.write import manuscript_store as store
from studio.write.manuscript import ManuscriptError

DATA = Path(__file__).parent / "data" / "bible"
GEN = GenConfig(max_new_tokens=8, temperature=0)
FERRYMAN = {"name": "Oskar Brannigan", "keys": ["ferryman", "Oskar"], "text": "The ferryman is Oskar Brannigan."}
ZH = {"name": "林黛玉", "keys": ["黛玉", "林姑娘"], "text": "林黛玉：寄居贾府，体弱多病，工诗。"}


def filler(words: int) -> str:
    line = "The lamp was trimmed and the glass was cleaned before the weather turned again."
    return "\n".join([line] * (words // len(line.split()))) + "\n"


def reopen(root: Path, ms_id: str) -> dict:
    store._open.clear()
    return service.manuscript(root, ms_id)


def test_entries_are_kept_with_the_history_undo_takes_them_back_and_a_restart_keeps_them(root):
    ms = service.new_manuscript(root, "Gannet Rock", "The ferryman came at dawn.")
    service.add_bible_entry(root, ms.id, FERRYMAN)
    service.add_bible_entry(root, ms.id, ZH)
    service.edit_bible_entry(root, ms.id, "林黛玉", {"keys": ["黛玉", "颦儿"]})
    names = [e.name for e in service.manuscript_bible(root, ms.id)["entries"]]
    assert names == ["Oskar Brannigan", "林黛玉"]
    assert reopen(root, ms.id)["manuscript"].bible["entries"][1]["keys"] == ["黛玉", "颦儿"]
    service.undo_manuscript(root, ms.id)  # the edit
    assert service.manuscript_bible(root, ms.id)["entries"][1].keys == ["黛玉", "林姑娘"]
    service.remove_bible_entry(root, ms.id, "Oskar Brannigan")
    assert [e.name for e in service.manuscript_bible(root, ms.id)["entries"]] == ["林黛玉"]
    service.undo_manuscript(root, ms.id)
    assert [e.name for e in service.manuscript_bible(root, ms.id)["entries"]] == ["Oskar Brannigan", "林黛玉"]
    with pytest.raises(ManuscriptError, match="already in the bible"):
        service.add_bible_entry(root, ms.id, FERRYMAN)


def test_a_bad_regular_expression_is_refused_and_the_bible_stays_as_it_was(root):
    ms = service.new_manuscript(root, "Regex", "Text.")
    service.add_bible_entry(root, ms.id, FERRYMAN)
    revision = service.manuscript(root, ms.id)["manuscript"].revision
    with pytest.raises(ValueError, match=r"\(unclosed"):
        service.add_bible_entry(root, ms.id, {"name": "Bad", "keys": ["/(unclosed/"], "text": "x"})
    assert service.manuscript(root, ms.id)["manuscript"].revision == revision
    assert [e.name for e in service.manuscript_bible(root, ms.id)["entries"]] == ["Oskar Brannigan"]


def test_an_entry_damaged_outside_the_app_is_named_and_the_rest_are_used(root, tiny_model_dir):
    ms = service.new_manuscript(root, "Damaged", "The ferryman waved. " + filler(50))
    service.add_bible_entry(root, ms.id, FERRYMAN)
    folder = store.folder_of(root, ms.id)
    store.write_snapshot(store.load(root, ms.id))
    state = json.loads((folder / "manuscript.json").read_text(encoding="utf-8"))
    state["bible"]["entries"].append({"name": "Broken", "keys": 5, "text": 7})  # edited by hand, badly
    (folder / "manuscript.json").write_text(json.dumps(state), encoding="utf-8")
    store._open.clear()
    found = service.manuscript_bible(root, ms.id)
    assert [e.name for e in found["entries"]] == ["Oskar Brannigan"]
    assert any("Broken" in render("en", n) for n in found["notices"])


def test_an_entry_fires_into_what_the_model_sees_and_the_view_says_which_key_and_where(root, tiny_model_dir):
    opening = "The ferryman's boat was painted blue.\n" + filler(3000)
    ms = service.new_manuscript(root, "Fires", opening + "At dusk the ferryman came up the path.")
    gen = GenConfig(max_new_tokens=8)
    plain = service.manuscript_context(root, ms.id, ["base"], gen, model=str(tiny_model_dir))
    assert "Oskar Brannigan" not in plain.text and plain.cut_chars > 0
    service.add_bible_entry(root, ms.id, FERRYMAN)
    service.add_bible_entry(root, ms.id, {"name": "Never", "keys": ["unicorn"], "text": "A unicorn lives here."})
    ctx = service.manuscript_context(root, ms.id, ["base"], gen, model=str(tiny_model_dir))
    assert "The ferryman is Oskar Brannigan." in ctx.text and "unicorn" not in ctx.text
    assert ctx.tokens <= ctx.budget
    fired = {f.entry.name: f for f in ctx.bible.fired}
    assert set(fired) == {"Oskar Brannigan"}
    assert fired["Oskar Brannigan"].key == "ferryman"
    text = service.manuscript(root, ms.id)["text"]
    assert text[fired["Oskar Brannigan"].at:].lower().startswith("ferryman")
    assert [p for p, _, _ in ctx.parts][:3] == ["memory", "manuscript", "bible"]  # fired: after the older text
    from studio.ui.desk_parts import context_markdown

    shown = context_markdown(ctx, "en")
    assert "Oskar Brannigan" in shown and "“ferryman” at character" in shown
    assert "“ferryman”，位于第" in context_markdown(ctx, "zh")


def test_a_chinese_key_fires_inside_running_text_and_an_entry_can_go_before_the_note(root, tiny_model_dir):
    ms = service.new_manuscript(root, "红楼", "那日宝玉去潇湘馆，只见黛玉正在窗下读书。", note="写雨。")
    service.add_bible_entry(root, ms.id, {**ZH, "position": "before_note"})
    ctx = service.manuscript_context(root, ms.id, ["base"], GenConfig(max_new_tokens=8), model=str(tiny_model_dir))
    assert ctx.text.index("寄居贾府") < ctx.text.index("[写雨。]")
    assert ctx.bible.fired[0].key == "黛玉"


def test_recall_brings_back_a_passage_that_scrolled_out(root, tiny_model_dir, monkeypatch):
    from studio.write import context

    # the tiny model sees 512 byte-level tokens: too few for a recalled passage; read it as a 4,096-token model
    count, _ = context.counter_for(root, str(tiny_model_dir))
    monkeypatch.setitem(context._counters, str(tiny_model_dir), (count, 4096))
    planted = "The lighthouse keeper's daughter was named Wren Halloran, and she kept the tide tables.\n"
    text = planted + filler(4000) + "That evening the keeper's daughter opened the tide tables again."
    ms = service.new_manuscript(root, "Recall", text)
    ctx = service.manuscript_context(root, ms.id, ["base"], GenConfig(max_new_tokens=8), model=str(tiny_model_dir))
    assert ctx.cut_chars > len(planted)
    assert "Wren Halloran" in ctx.text
    assert ctx.recalled and ctx.recalled[0].start == 0
    assert "recall" in [p for p, _, _ in ctx.parts]


def test_a_series_shares_one_bible_and_changes_go_to_its_owner(root, tiny_model_dir):
    first = service.new_manuscript(root, "Book one", "The ferryman rowed.")
    second = service.new_manuscript(root, "Book two", "The ferryman rowed again.")
    service.add_bible_entry(root, first.id, FERRYMAN)
    service.share_bible(root, second.id, first.id)
    ctx = service.manuscript_context(root, second.id, ["base"], GEN, model=str(tiny_model_dir))
    assert "Oskar Brannigan" in ctx.text
    service.add_bible_entry(root, second.id, ZH)  # made in book one's bible
    assert len(service.manuscript_bible(root, first.id)["entries"]) == 2
    service.delete_manuscript(root, first.id)
    found = service.manuscript_bible(root, second.id)
    assert found["entries"] == [] and "gone" in render("en", found["notices"][0])


def test_the_cli_adds_lists_edits_removes_imports_and_exports_entries(root, capsys, tmp_path):
    ms = service.new_manuscript(root, "CLI bible", "Text.")
    base = ["--data-dir", str(root)]
    assert main(["manuscript", "bible", ms.id, "add", "--name", "Tobias", "--keys", "Tobias, the keeper",
                 "--text", "Tobias Venn keeps the light.", "--position", "depth", "--depth", "2", *base]) == 0
    assert main(["manuscript", "bible", ms.id, "edit", "Tobias", "--order", "150", "--constant", *base]) == 0
    capsys.readouterr()
    assert main(["manuscript", "bible", ms.id, "list", *base]) == 0
    listed = capsys.readouterr().out
    assert "Tobias  [Tobias, the keeper]  order 150  depth 2  (always on)" in listed
    assert main(["manuscript", "bible", ms.id, "import", str(DATA / "sillytavern.json"), *base]) == 0
    assert "entries from a sillytavern file" in capsys.readouterr().out
    out = tmp_path / "out.json"
    assert main(["manuscript", "bible", ms.id, "export", str(out), *base]) == 0
    exported = json.loads(out.read_text(encoding="utf-8"))["entries"]
    assert any(e["comment"] == "Tobias" and e["constant"] for e in exported.values())
    assert main(["manuscript", "bible", ms.id, "remove", "Tobias", *base]) == 0
    assert "Tobias" not in [e.name for e in service.manuscript_bible(root, ms.id)["entries"]]
    assert main(["manuscript", "bible", ms.id, "edit", "Nobody", "--order", "1", *base]) == 2
    assert "no entry named 'Nobody'" in capsys.readouterr().err


def test_an_import_of_broken_json_names_the_line_and_adds_nothing(root, tmp_path):
    ms = service.new_manuscript(root, "Broken import", "Text.")
    bad = tmp_path / "world.json"
    bad.write_text('{"entries": {\n  "0": {"key": ["a"],\n  }\n}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"world\.json.*line 3"):
        service.import_bible(root, ms.id, bad)
    assert service.manuscript_bible(root, ms.id)["entries"] == []


def test_phrases_to_avoid_are_kept_with_the_manuscript_and_the_studio_wide_list_is_the_owners(root):
    ms = service.new_manuscript(root, "Banned", "Text.")
    service.set_manuscript_banned(root, ms.id, "shivers down her spine\n\n嘴角勾起一抹\nshivers down her spine")
    assert service.manuscript_banned(root, ms.id)["manuscript"] == ["shivers down her spine", "嘴角勾起一抹"]
    service.set_studio_banned(root, ["a testament to"])
    assert service.manuscript_banned(root, ms.id)["studio"] == ["a testament to"]
    service.undo_manuscript(root, ms.id)
    assert service.manuscript_banned(root, ms.id)["manuscript"] == []


def test_the_setup_a_continue_used_is_kept_and_read_back_after_a_restart(root, tiny_model_dir):
    ms = service.new_manuscript(root, "Setup", "The keeper climbed the stair.")
    assert service.manuscript_setup(root, ms.id)[0].saved == 0
    gen = GenConfig(max_new_tokens=8, temperature=0.7, seed=5, drafts=2)
    list(service.continue_manuscript(root, ms.id, ["base"], gen, model=str(tiny_model_dir)))
    store._open.clear()
    setup, notices = service.manuscript_setup(root, ms.id)
    assert (setup.panes, setup.gen, notices) == (["base"], gen, [])
    found = service.pending_candidates(root, ms.id)
    assert len(found) == 2 and found[0]["settings"]["seed"] == 5
    (store.folder_of(root, ms.id) / "setup.json").write_text("{ not json", encoding="utf-8")
    setup, notices = service.manuscript_setup(root, ms.id)
    assert setup.saved == 0 and "could not be read" in render("en", notices[0])


def test_a_draft_cut_off_by_a_closed_page_keeps_what_it_had_and_says_so(root, tiny_model_dir):
    ms = service.new_manuscript(root, "Closed tab", "The keeper climbed the stair.")
    stream = service.continue_manuscript(root, ms.id, ["base"], GenConfig(max_new_tokens=200, temperature=0),
                                         model=str(tiny_model_dir))
    for item in stream:
        if item.get("panes") and any(d for p in item["panes"] for d in p["drafts"]):
            break
    stream.close()  # the page closed: gradio drops the generator
    found = service.pending_candidates(root, ms.id)
    assert found and found[0]["cut"] and found[0]["text"]


# -- the desk's page: inline drafting, the setup restored, candidates explained ------------------------
def desk_form(ms_id, text, **changes):
    from studio.ui import desk

    form = desk.DeskForm(ms_id, text, None, True, [None, None, None], 8, 0.0, 0.9, 0, 1.0, 3, 1, mode="inline")
    import dataclasses

    return dataclasses.replace(form, **changes)


def test_inline_drafts_stream_into_the_text_retry_replaces_and_undo_takes_out(root, tiny_model_dir):
    from studio.ui import desk
    from studio.ui.wiring import Call

    call = Call(root, "en", session="inline", default_model=str(tiny_model_dir))
    ms_id = desk.new_manuscript(call, "Inline")["pick"]["value"]
    opening = "The keeper climbed the stair."
    answers = list(desk.continue_manuscript(call, desk_form(ms_id, opening)))
    streamed = [a["text"]["value"] for a in answers[:-1] if isinstance(a.get("text"), dict)]
    done = answers[-1]
    assert streamed and all(t.startswith(opening) for t in streamed)
    assert done["text"]["value"].startswith(opening) and len(done["text"]["value"]) > len(opening)
    assert done["text"]["interactive"] and "Retry replaces it" in done["notice"]
    ms = service.manuscript(root, ms_id)["manuscript"]
    assert ms.text == done["text"]["value"] and ms.passages[-1].source == "base"
    assert not any(c.get("visible") for c in desk.pending_shown(call, ms_id)["cands"])  # in the text, not in a box
    first = ms.text
    retried = list(desk.retry(call, desk_form(ms_id, first, temperature=0.9)))
    again = service.manuscript(root, ms_id)["manuscript"]
    assert again.text.startswith(opening) and again.text != first and first not in again.text  # replaced
    assert len(again.passages) == 2 and retried[-1]["text"]["value"] == again.text
    undone = desk.undo(call, ms_id, again.text, again.revision)
    assert undone["text"] == opening
    written_on = list(desk.continue_manuscript(call, desk_form(ms_id, opening)))[-1]["text"]["value"] + " She slept."
    kept = list(desk.retry(call, desk_form(ms_id, written_on, temperature=0.9)))[-1]["text"]["value"]
    assert kept.startswith(written_on)  # the writer wrote on: the draft is kept and the retry drafts after it


def test_a_reload_opens_the_manuscript_with_its_panes_settings_and_explained_candidates(root, tiny_model_dir):
    from studio.ui import desk
    from studio.ui.wiring import Call

    call = Call(root, "en", session="setup", default_model=str(tiny_model_dir))
    ms_id = desk.new_manuscript(call, "Setup page")["pick"]["value"]
    form = desk_form(ms_id, "The keeper climbed.", drafts=2, seed=7, temperature=0.7, max_new=16, mode="candidates")
    list(desk.continue_manuscript(call, form))
    desk.keep_setup(call, form)
    reloaded = desk.open_manuscript(call, ms_id, [None, None, None])
    assert (reloaded["drafts"], reloaded["seed"], reloaded["temperature"], reloaded["max_new"]) == (2, 7, 0.7, 16)
    assert reloaded["with_base"] is True and reloaded["mode"] == "candidates"
    assert "2 candidate(s) kept from the last continue" in reloaded["notice"] and "seed 7" in reloaded["notice"]
    zh = desk.open_manuscript(Call(root, "zh", default_model=str(tiny_model_dir)), ms_id)
    assert "上次续写保留的 2 个候选" in zh["notice"]
    gone = dict(desk_form(ms_id, "x").__dict__, picks=["deleted-run", None, None], with_base=False)
    desk.keep_setup(call, desk.DeskForm(**gone))
    back = desk.open_manuscript(call, ms_id)
    assert back["picks"][0]["value"] is None and "deleted-run" in back["notice"]


def test_draft_the_bible_reads_proposals_from_the_models_answer_and_saves_nothing(root, tiny_model_dir):
    from studio.write.bible_draft import proposals

    answer = ("Here are the characters:\n1. Oskar Brannigan | the ferryman, Oskar | Rows the north crossing, takes no coin.\n"
              "- 梅港 | Mei Harbour，港口 | 渔船停靠的小港。\nThe island | | \nnot a line in the shape\n"
              "Tobias | keeper | Keeps the light.")
    found = proposals(answer, existing={"tobias"})
    assert [p["name"] for p in found] == ["Oskar Brannigan", "梅港"]
    assert found[0]["keys"] == ["Oskar Brannigan", "the ferryman", "Oskar"] and found[1]["keys"] == ["梅港", "Mei Harbour", "港口"]
    ms = service.new_manuscript(root, "Draft bible", "The ferryman Oskar rowed to Mei Harbour at dawn.")
    items = list(service.draft_bible(root, ms.id, "base", GenConfig(max_new_tokens=16, temperature=0),
                                     model=str(tiny_model_dir)))
    assert items[-1]["done"] and isinstance(items[-1]["proposals"], list)
    assert service.manuscript_bible(root, ms.id)["entries"] == []  # the writer decides what goes in


def test_the_studio_wide_phrases_hold_for_the_comparison_and_a_manuscripts_for_its_continue(root, tiny_model_dir):
    from studio.write.banned import BanList

    greedy = GenConfig(max_new_tokens=24, temperature=0, repetition_penalty=1.0)
    prompt = "The keeper climbed the stair at dusk."
    first = list(service.draft_stream(root, ["base"], prompt, greedy, model=str(tiny_model_dir)))[-1]
    drafted = first["panes"][0]["drafts"][0]
    phrase = next(w for w in drafted.split() if len(w) >= 3)[:3]  # something the model does write
    assert BanList.of([phrase]).occurrences(drafted)
    service.set_studio_banned(root, [phrase])
    again = list(service.draft_stream(root, ["base"], prompt, greedy, model=str(tiny_model_dir)))[-1]
    assert not BanList.of([phrase]).occurrences(again["panes"][0]["drafts"][0])
    service.set_studio_banned(root, [])
    ms = service.new_manuscript(root, "Bans", prompt)
    service.set_manuscript_banned(root, ms.id, [phrase])
    items = list(service.continue_manuscript(root, ms.id, ["base"], greedy, model=str(tiny_model_dir)))
    assert not BanList.of([phrase]).occurrences(items[-1]["panes"][0]["drafts"][0])


def test_the_table_keeps_what_it_does_not_show_and_a_patterns_commas(root):
    from studio.ui import desk_story
    from studio.ui.wiring import Call

    ms = service.new_manuscript(root, "Table", "Text.")
    service.add_bible_entry(root, ms.id, {**FERRYMAN, "case_sensitive": True, "scan_chars": 500, "recursive": False})
    call = Call(root, "en")
    shown = desk_story.bible_shown(call, ms.id)
    rows = shown["bible_table"]["data"] + [[True, "Rule", "/a{1,3}/i, Bob", "", "and_any", "A rule.", False,
                                            "depth", 0, 100]]
    saved = desk_story.save_bible(call, ms.id, {"data": rows}, 2000, 0.25, 1024, 3)
    assert "Bible saved: 2 entries" in saved["bible_notice"]
    ferryman, rule = service.manuscript_bible(root, ms.id)["entries"]
    assert (ferryman.case_sensitive, ferryman.scan_chars, ferryman.recursive) == (True, 500, False)
    assert rule.keys == ["/a{1,3}/i", "Bob"]
    service.undo_manuscript(root, ms.id)  # one revision: the table and the settings together
    assert [e.name for e in service.manuscript_bible(root, ms.id)["entries"]] == ["Oskar Brannigan"]
    bad = desk_story.save_bible(Call(root, "zh"), ms.id, {"data": [[True, "X", "x", "", "and_any", "x", False,
                                                                     "depth", "deep", 100]]}, None, None, None, None)
    assert "第 1 行" in bad["bible_notice"]


def test_a_depth_entry_goes_before_a_paragraph_never_between_the_text_and_its_draft(root, tiny_model_dir):
    ms = service.new_manuscript(root, "Depth", "First paragraph.\nSecond paragraph.\nThe keeper said")
    service.add_bible_entry(root, ms.id, {"name": "Tobias", "keys": ["keeper"], "text": "Tobias keeps the light.",
                                          "position": "depth", "depth": 0})
    ctx = service.manuscript_context(root, ms.id, ["base"], GEN, model=str(tiny_model_dir))
    assert ctx.text.endswith("Tobias keeps the light.\nThe keeper said")


def test_nothing_is_saved_from_the_editor_while_an_inline_draft_streams_into_it(root):
    from studio.ui import desk, desk_parts
    from studio.ui.wiring import Call

    call = Call(root, "en", session="streaming")
    ms = service.new_manuscript(root, "Streaming", "The keeper climbed.")
    desk_parts.inline_streams.add("streaming")
    try:
        assert desk.save(call, ms.id, "The keeper climbed. The draft so f", None) == {}
        assert desk_parts.save_first(call, ms.id, "The keeper climbed. The draft so f", None)[1] == ""
    finally:
        desk_parts.inline_streams.discard("streaming")
    assert service.manuscript(root, ms.id)["text"] == "The keeper climbed."
    service.keep_manuscript_setup(root, ms.id, picks=[None, None, None], with_base=True)  # the base alone
    back = desk.refresh_desk(call, ms.id, [None, None, None])  # the tab's select leaves its empty pane empty
    assert back["picks"][0]["value"] is None
