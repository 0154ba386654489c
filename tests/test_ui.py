import os
import subprocess
import sys
import time
import urllib.request

from conftest import free_port
from studio.paths import PROJECT_ROOT
from studio.records import (LossEval, PreferenceEval, RunState, RunStatus, RunView, TrainStep,
                            evaluation_from_dict)
from studio.ui.views import (COMPARED_COLOURS, LOSS_COLOURS, corpus_report, eval_markdown, histogram_frame, loss_frame,
                             overlaid_loss_frame, progress_html)


def test_progress_shows_state_step_eta_and_advice():
    view = RunView("r1", RunStatus(state=RunState.RUNNING, step=5, total_steps=20, eta_s=75, message="training"), None)
    page = progress_html(view)
    assert "running" in page and "step 5/20" in page and "1 min 15 s left" in page and "width:25.0%" in page
    failed = progress_html(RunView("r1", RunStatus(state=RunState.FAILED, reason="out of memory",
                                                   advice="lower batch_size"), None))
    assert "out of memory" in failed and "lower batch_size" in failed


def test_loss_frame_has_train_and_validation_series_in_the_readers_language():
    events = [LossEval(step=0, val_loss=4.0), TrainStep(step=1, loss=3.5),
              PreferenceEval(step=1, preference_accuracy=0.5)]  # a DPO evaluation draws no loss
    frame = loss_frame(events)
    plotted = frame.dropna()
    assert sorted(plotted["series"]) == ["train", "validation"] and list(frame.columns) == ["step", "loss", "series"]
    # a series with points gets no empty row, which would break its line
    assert not frame[frame["series"].isin(["train", "validation"])]["loss"].isna().any()
    assert sorted(loss_frame(events, "zh").dropna()["series"]) == ["训练集", "验证集"]
    # every series of both languages is named even before it has a point, with numeric columns: the
    # plot's colour domain and scales are fixed by the first value it draws (tests/test_browser.py reads what it drew)
    empty = loss_frame([])
    assert set(empty["series"]) == {"train", "validation", "训练集", "验证集"} == set(LOSS_COLOURS)
    assert empty["loss"].isna().all()
    assert str(empty["step"].dtype) == "int64" and str(empty["loss"].dtype) == "float64"
    compared = overlaid_loss_frame([RunView("a", RunStatus(), None, events), RunView("b", RunStatus(), None, events)], "zh")
    assert set(compared.dropna()["series"]) == {"任务一 · 训练集", "任务一 · 验证集", "任务二 · 训练集", "任务二 · 验证集"}
    assert set(compared["series"]) == set(COMPARED_COLOURS)


def test_reports_render_numbers_a_writer_reads():
    md = eval_markdown(evaluation_from_dict({"base": {"perplexity": 100.0, "loss": 4.6}, "tuned": {"perplexity": 13.0, "loss": 2.6},
                                             "perplexity_change": -0.87, "tokens_seen": 12000, "train_seconds": 150}))
    assert "100.00" in md and "13.00 (-87%)" in md and "2 min 30 s" in md
    manifest = {"name": "lamp", "version": "v1", "mode": "text", "documents": 40, "train_documents": 36, "val_documents": 4,
                "characters": 15000, "cjk_share": 0.5, "dropped": {"exact duplicate": 2}, "rules": {"hard-wrapped lines joined": 7},
                "sources": [{"file": "a.txt", "encoding": "gb18030", "items": 43, "bytes": 999}],
                "length_histogram": {"unit": "tokens", "upper_edges": [16, 32, 64, "more"], "counts": [0, 3, 5] + [0] * 15},
                "split": {"method": "documents", "why": "40 documents: 4 whole ones held out, about 10% of the tokens",
                          "val_tokens": 450, "train_tokens": 4000, "val_share": 0.1011},
                "warnings": ["only 4,000 training tokens: too little to learn a voice from"]}
    report = corpus_report(manifest, "About 2.0 min per epoch.")
    assert "| exact duplicate | 2 |" in report and "| hard-wrapped lines joined | 7 |" in report
    assert "gb18030" in report and "50% CJK" in report and "About 2.0 min per epoch." in report
    assert "450 of 4,450 tokens (10.1%) held out" in report and "4 whole ones held out" in report
    assert "Only 4,000 training tokens" in report
    frame = histogram_frame(manifest)  # every bin in length order: the chart's axis never changes
    assert list(frame["length (tokens)"])[:3] == ["0-16", "16-32", "32-64"] and list(frame["items"])[:4] == [0, 3, 5, 0]
    assert str(frame["items"].dtype) == "int64" and str(histogram_frame({})["items"].dtype) == "int64"


def test_the_app_builds_with_its_tabs_and_the_demo_with_the_write_tab_only(tmp_path):
    from studio.ui.app import build_app

    def tab_keys(app):
        labels = [getattr(block, "label", None) for block in app.blocks.values()]
        return {getattr(label, "key", label) for label in labels}  # labels are i18n keys

    assert {"tab.corpus", "tab.train", "tab.write", "tab.runs", "tab.models"} <= tab_keys(build_app(tmp_path, "m"))
    assert not {"tab.corpus", "tab.train", "tab.runs"} & tab_keys(build_app(tmp_path, "m", demo=True))


def test_app_py_serves_http_200_on_loopback(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--data-dir", str(tmp_path)],
                            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert proc.poll() is None, "app.py exited"
                assert time.time() < deadline, "app.py did not answer within 90 s"
                time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_train_form_becomes_the_presets_config_with_the_form_over_it(tmp_path):
    import pytest

    from studio import service
    from studio.config import ConfigError
    from studio.ui.train_tab import ADVANCED, TrainForm, fill_from_preset
    from studio.ui.wiring import Call

    filled = fill_from_preset(Call(tmp_path, "en"), "quick-cpu-demo")  # what picking the preset puts in the form
    form = TrainForm("lamp", "quick-cpu-demo", " m ", filled["epochs"], "", filled["advanced"], budget=filled["budget"])
    assert form.config("en") == service.training_config("lamp", "quick-cpu-demo", ["model=m"])
    numbers = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in filled["advanced"]]
    rank = [f.name for f in ADVANCED].index("lora_r")
    numbers[rank] = 4.0  # gr.Number sends floats; an int setting takes a whole one
    cleared = TrainForm("lamp", "quick-cpu-demo", "", None, None, numbers).config("en")
    assert cleared.lora_r == 4 and cleared.epochs == service.training_config("lamp", "quick-cpu-demo").epochs
    numbers[rank] = 4.5
    with pytest.raises(ConfigError, match="lora_r"):
        TrainForm("lamp", "quick-cpu-demo", "", None, None, numbers).config("en")


def test_draft_takes_a_form_and_answers_with_named_updates_in_the_visitors_language(tmp_path):
    from studio.ui.wiring import Call
    from studio.ui.write_tab import PANES, DraftForm, draft

    form = DraftForm("continue", "Day 41.", False, [None, None, None], 8, 0, 0.9, 0, 1.0, 0, 1)
    assert form.panes() == [] and form.gen().max_new_tokens == 8
    [answer] = draft(Call(tmp_path, "zh"), form)
    assert "没有窗格" in answer["message"] and answer["last"] is None and len(answer["copied"]) == PANES
    demo = DraftForm("continue", "Day 41.", True, ["someone-elses-run", None, None], 8, 0, 0.9, 0, 1.0, 0, 1)
    [refused] = draft(Call(tmp_path, "en", demo=True), demo)
    assert "not published" in refused["message"]


def test_named_updates_become_gradios_list_in_the_wired_order():
    import gradio as gr

    from studio.ui.wiring import _parts, _positional

    class Layout:
        message, boxes, last = "m", ["b1", "b2"], "l"

    parts = _parts(Layout, ["message", "boxes", "last"])
    flat = _positional(parts, {"boxes": ["x", "y"], "message": "hi"})
    assert flat[:3] == ["hi", "x", "y"] and flat[3] == gr.update()
    assert _positional(_parts(Layout, ["message"]), "just one") == "just one"


UI_FILES = sorted((PROJECT_ROOT / "studio" / "ui").glob("*.py"))


def test_the_ui_reaches_the_core_only_through_the_service():
    import ast

    allowed = {"studio.service", "studio.messages", "studio.config"}
    wrong = []
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "studio" else [f"studio.{a.name}" for a in node.names]
            wrong += [f"{path.name}:{node.lineno} {n}" for n in names
                      if n.startswith("studio.") and n not in allowed and not n.startswith("studio.ui")]
    assert not wrong, wrong


def test_every_ui_function_fits_on_one_screen():
    import ast

    long = [f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in UI_FILES for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60]
    assert not long, long


def test_no_tab_builder_holds_closures():
    import ast

    nested = []
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and path.name != "wiring.py":
                nested += [f"{path.name}:{inner.lineno} {getattr(inner, 'name', 'lambda')} in {node.name}" for inner in ast.walk(node)
                           if inner is not node and isinstance(inner, (ast.FunctionDef, ast.Lambda))]
    assert not nested, nested


def test_the_desk_makes_saves_continues_uses_undoes_and_redoes_a_manuscript(root, tiny_model_dir):
    from studio import service
    from studio.ui import desk
    from studio.ui.wiring import Call
    from studio.write.manuscript import words

    call = Call(root, "en", default_model=str(tiny_model_dir))
    assert "No manuscript yet" in desk.open_manuscript(call, None)["notice"]
    made = desk.new_manuscript(call, "The <Lamp>")
    ms_id = made["pick"]["value"]
    assert made["text"] == "" and made["title"] == "The <Lamp>" and "The <Lamp>" in made["notice"]
    saved = desk.save(call, ms_id, "LAMP LOG. Day 41.", made["base"])
    assert saved["notice"] == "" and saved["base"] == made["base"] + 1
    assert made["pick"]["choices"] == [("The <Lamp> (0 words)", ms_id)]
    assert saved["pick"] == {"__type__": "update", "choices": [("The <Lamp> (4 words)", ms_id)], "value": ms_id}
    other = service.save_manuscript_text(root, ms_id, "LAMP LOG. Day 41. Another tab.", saved["base"])  # another tab saves
    late = desk.save(call, ms_id, "LAMP LOG. Day 41. Fog.", saved["base"])
    assert "another tab" in late["notice"] and late["base"] == other["revision"] + 1
    form = desk.DeskForm(ms_id, "LAMP LOG. Day 41. Fog. ", late["base"], True, [None, None, None], 8, 0.8, 0.9, 0, 1.0,
                         3, 2)
    answers = list(desk.continue_manuscript(call, form))
    done = answers[-1]
    assert "2 candidate(s)" in done["notice"] and done["slots"][:3] == [1, 2, None]
    assert "uses" not in done  # the boxes stream; the buttons come once, from the disk, when it ends
    buttons = desk.candidate_buttons(call, ms_id)
    assert [u["visible"] for u in buttons["uses"][:3]] == [True, True, False] and buttons["alts"][1]["visible"]
    assert not any(u["visible"] for u in desk.hide_buttons(call)["uses"])
    assert any("| manuscript |" in a.get("context_view", "") for a in answers)
    first = done["cands"][0]["value"]
    used = desk.use(call, ms_id, form.text, answers[0]["base"], done["slots"], 0)
    assert used["text"] == "LAMP LOG. Day 41. Fog. " + first and "Candidate 1" in used["notice"]
    assert 'data-source="base"' in used["sources"] and "&lt;" not in used["sources"]  # the text has no markup
    assert used["pick"]["choices"] == [(f"The <Lamp> ({words(used['text'])} words)", ms_id)]  # the count follows
    edited = used["text"] + " The keeper slept."
    undone = desk.undo(call, ms_id, edited, used["base"])  # the edit is saved first, then taken back
    assert undone["text"] == used["text"] and undone["pick"]["value"] == ms_id
    assert desk.undo(call, ms_id, undone["text"], undone["base"], redo=True)["text"] == edited
    assert service.manuscript(root, ms_id)["text"] == edited  # on disk: a reload shows it
    form = dataclasses_replace(form, text=edited, base=service.manuscript(root, ms_id)["manuscript"].revision)
    retried = list(desk.retry(call, form))
    assert retried[0] == {"seed": 4} and "candidate(s)" in retried[-1]["notice"]
    seen = desk.context(call, form)
    assert "| memory | 0 |" in seen["context_view"] and "The keeper slept." in seen["context_view"]
    assert desk.set_field(call, ms_id, "A <lighthouse>.", seen["base"], "memory")["notice"] == ""
    assert "| memory | 0 |" not in desk.context(call, form)["context_view"]
    # the boxes as they are on the screen, their blur's save not yet answered: saved first, then seen
    typed = dataclasses_replace(form, memory="Gulls at dawn.", note="Storm coming.", base=None)
    assert "Gulls at dawn." in desk.context(call, typed)["context_view"]
    assert [getattr(service.manuscript(root, ms_id)["manuscript"], f) for f in ("memory", "note")] == [
        "Gulls at dawn.", "Storm coming."]
    back = desk.refresh_desk(call, ms_id)  # the Write tab's select: the lists, not the screen
    assert set(back) == {"pick", "picks", "summary_model"} and back["pick"]["value"] == ms_id
    assert "value" not in desk.refresh_desk(call, None)["pick"]  # a manuscript made meanwhile stays picked
    gone = desk.delete_manuscript(call, ms_id)
    assert gone["pick"]["value"] is None and "trash" in gone["notice"]


def test_the_desk_refuses_without_a_manuscript_or_panes_in_the_visitors_language(root):
    from studio.ui import desk
    from studio.ui.wiring import Call

    form = desk.DeskForm(None, "x", None, True, [None, None, None], 8, 0.8, 0.9, 0, 1.0, 0, 1)
    [refused] = desk.continue_manuscript(Call(root, "zh"), form)
    assert "请选择一份稿件" in refused["notice"]
    nopanes = dataclasses_replace(form, with_base=False)
    [none] = desk.continue_manuscript(Call(root, "en"), nopanes)
    assert "no panes" in none["notice"]
    assert "pick a manuscript" in desk.undo(Call(root, "en"), None, "", None)["notice"]
    page = desk.sources_html(type("M", (), {"passages": [type("P", (), {"text": "<b>x</b>", "source": "writer"})()]})(), "en")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_the_desk_continues_from_the_cursor_stops_and_shows_its_candidates_again_after_a_reload(root, tiny_model_dir):
    from studio import service
    from studio.ui import desk
    from studio.ui.wiring import Call

    call = Call(root, "en", session="writer-1", default_model=str(tiny_model_dir))
    ms_id = desk.new_manuscript(call, "Cursor")["pick"]["value"]
    text = "First line.\nSecond line."
    form = desk.DeskForm(ms_id, text, None, True, [None, None, None], 6, 0.8, 0.9, 0, 1.0, 3, 2, cursor=11)
    done = list(desk.continue_manuscript(call, form, at_cursor=True))[-1]
    assert "from the cursor (character 11)" in done["notice"] and "fill-in-the-middle" in done["notice"]
    assert [c["at"] for c in service.pending_candidates(root, ms_id)] == [11, 11]
    reloaded = desk.open_manuscript(call, ms_id)  # a reload: the candidates come back from the disk
    assert reloaded["slots"][:3] == [1, 2, None] and reloaded["uses"][1]["visible"] and reloaded["alts"][0]["visible"]
    assert reloaded["cands"][0]["value"] == done["cands"][0]["value"]
    retried = list(desk.retry(call, dataclasses_replace(form, cursor=None)))
    assert "from the cursor (character 11)" in retried[-1]["notice"]
    used = desk.use(call, ms_id, text, reloaded["base"], retried[-1]["slots"], 0)
    assert used["text"] == "First line." + retried[-1]["cands"][0]["value"] + "\nSecond line."
    long = dataclasses_replace(form, text=used["text"], base=used["base"], max_new=380, drafts=1)
    stopped = []
    for item in desk.continue_manuscript(call, long):
        if "cands" in item and not stopped:
            stopped.append(desk.stop_drafting(call))
    assert stopped == ["Stopping…"] and "Stopped: what was drafted so far" in item["notice"]
    assert 0 < len(service.pending_candidates(root, ms_id)[0]["text"])
    assert desk.candidate_buttons(call, ms_id)["uses"][0]["visible"]
    assert desk.stop_drafting(call) == "Nothing is being drafted."
    from types import SimpleNamespace

    fim = SimpleNamespace(mode="fim", notices=[])  # a model with fill-in-the-middle tokens fills in at the cursor
    assert "在光标处补写（第 5 个字符）" in desk._where(fim, 5, "zh") and desk._where(fim, None, "en") == ""


def test_the_desk_tools_show_token_alternatives_redraft_summarize_into_memory_and_refuse_style(root, tiny_model_dir):
    from studio import service
    from studio.ui import desk, desk_tools
    from studio.ui.wiring import Call

    call = Call(root, "en", session="writer-2", default_model=str(tiny_model_dir))
    ms_id = desk.new_manuscript(call, "Tools")["pick"]["value"]
    form = desk.DeskForm(ms_id, "The keeper climbed.", None, True, [None, None, None], 6, 0.8, 0.9, 0, 1.0, 3, 1)
    done = list(desk.continue_manuscript(call, form))[-1]
    tokens = desk_tools.show_tokens(call, ms_id, done["slots"], 0)
    assert tokens["alt_n"] == 1 and len(tokens["tokens"]) >= 2 and "Candidate 1 (base)" in tokens["alt_table"]
    shown = desk_tools.show_alternatives(call, ms_id, 1, 1)
    assert "| token | drafted by % | base % |" in shown["alt_table"] and len(shown["alt_choice"]["choices"]) >= 10
    token = shown["alt_choice"]["choices"][-1][1]
    redrafted = list(desk_tools.redraft(call, ms_id, 1, 1, token, done["slots"]))
    assert "redrafted from token 1" in redrafted[-1]["notice"]
    assert service.pending_candidates(root, ms_id)[0]["text"] == [r for r in redrafted if "cands" in r][-1]["cands"][0]["value"]
    assert "pick one of the listed tokens" in list(desk_tools.redraft(call, ms_id, 1, 1, None, done["slots"]))[-1]["notice"]
    summary = list(desk_tools.summarize(call, ms_id, "The keeper climbed.", None, "base", 6, 0.8, 0.9, 0, 1.0, 1))
    assert summary[-1]["summary"] and "Edit the summary" in summary[-1]["notice"]
    put = desk_tools.to_memory(call, ms_id, " The keeper, the lamp. ", summary[0]["base"])
    assert put["memory"] == "The keeper, the lamp." and "memory now" in put["notice"]
    assert service.manuscript(root, ms_id)["manuscript"].memory == "The keeper, the lamp."
    assert service.undo_manuscript(root, ms_id)["manuscript"].memory == ""
    refused = desk_tools.style(Call(root, "zh"), ms_id, "The keeper climbed.", None, [None, None, None])
    assert "还没有至少 20 个字符的模型所写段落" in refused["style_line"]
    assert desk_tools.summary_choices(call)["summary_model"]["choices"] == [("the base model", "base")]


def dataclasses_replace(form, **changes):
    import dataclasses

    return dataclasses.replace(form, **changes)


def test_the_desk_lists_views_restores_and_exports_revisions(root):
    from studio import service
    from studio.ui import desk
    from studio.ui.wiring import Call

    call = Call(root, "zh")
    ms_id = desk.new_manuscript(call, "灯塔")["pick"]["value"]
    first = desk.save(call, ms_id, "夜里起风了。", None)
    desk.save(call, ms_id, "夜里起风了。灯灭了。", first["base"])
    listed = desk.history(call, ms_id)
    assert listed["version_text"] == "夜里起风了。灯灭了。"
    listed = listed["history"]
    assert [v for _, v in listed["choices"]] == [3, 2, 1] and listed["value"] == 3
    assert "第 2 版 · 编辑" in listed["choices"][1][0]
    assert desk.view_version(call, ms_id, 2)["version_text"] == "夜里起风了。"
    back = desk.restore(call, ms_id, "夜里起风了。灯灭了。", 3, 2)
    assert back["text"] == "夜里起风了。" and "第 2 版" in back["notice"]
    assert service.manuscript(root, ms_id)["text"] == "夜里起风了。"
    made = desk.export(call, ms_id, "夜里起风了。", back["base"], "md", True)
    page = open(made["export_file"], encoding="utf-8").read()
    assert page.startswith("# 灯塔") and "来源" in page and "作者" in page
    assert desk.export(call, ms_id, "夜里起风了。", back["base"], "docx", False)["export_file"].endswith(".docx")
    assert "请先选择一个版本" in desk.restore(call, ms_id, "夜里起风了。", back["base"], None)["notice"]


def test_a_demo_visitors_desk_sends_the_visitors_own_token_with_every_event(tmp_path):
    """In demo mode the desk is each visitor's own (tests/test_visitors.py): every one of its events
    carries the token the browser keeps, so none can reach the owner's manuscripts."""
    import gradio as gr

    from studio.ui.app import build_app

    def keys(app):
        return {getattr(getattr(b, "label", None), "key", None) for b in app.blocks.values()}

    owner = build_app(tmp_path, "m")
    assert "desk.section" in keys(owner)
    assert not any(isinstance(b, gr.BrowserState) for b in owner.blocks.values())
    demo = build_app(tmp_path, "m", demo=True)
    assert "desk.section" in keys(demo)
    desk_fns = [fn for fn in demo.fns.values() if fn.api_name.split("_")[0] in
                {"continue", "save", "use", "new", "delete", "rename", "open", "export", "undo", "restore"}]
    assert len(desk_fns) >= 10
    for fn in desk_fns:
        assert isinstance(fn.inputs[0], gr.BrowserState), fn.api_name
