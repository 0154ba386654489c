"""The writing desk at the top of the Write tab: a manuscript kept on disk (every change a revision),
continued by the same panes and sampling settings as the comparison below it (from the end or from
the cursor; Stop keeps what was drafted; the last candidates come back after a reload), each
candidate used with one click, undo and redo, the memory and the author's note, what the model sees,
and who wrote which passage. Token alternatives, the summary into memory and the style match are in
desk_tools.py, history and export in desk_history.py, what they share in desk_parts.py. In demo mode
each visitor's own manuscripts (wiring.visitor_tab: `call.root` is the visitor's folder,
studio/write/visitors.py), drafted with the published runs only.

Layout (`layout`), then the handlers, each taking plain values or the DeskForm and returning named
updates, then `wire`. The pane choices and the sampling settings are the Write tab's own components,
joined to the desk's layout by `wire`."""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from functools import partial

import gradio as gr

from studio import service
from studio.messages import render, say
from studio.ui import desk_drafting, desk_history, desk_story, desk_tools
from studio.ui.desk_drafting import (SETUP, candidate_buttons, continue_manuscript, hide_buttons,  # noqa: F401
                                     inline, keep_setup, pending_shown, retry, setup_shown, stop_drafting, _where)
from studio.ui.desk_history import export, history, restore, view_version  # noqa: F401  (the desk's handlers)
from studio.ui.desk_parts import _choices, listed, refresh  # noqa: F401
from studio.ui.desk_parts import (PANES, PER_PANE, SLOTS, USER_ERRORS, DeskForm, candidate_updates,  # noqa: F401
                                  chosen_panes, context_markdown, failed, picked, sampling, save_first, shown,
                                  source_label, sources_html, stops, inline_streams)
from studio.ui.downloads import downloadable
from studio.ui.i18n import T
from studio.ui.wiring import Call, Tab, loader, on, stop_drafting_in

# Save while typing: after a pause of AUTOSAVE_MS in the editor (not during an input method's
# composition, where Chinese is typed), the hidden autosave button is clicked; its handler is the
# blur's. Each save sends the whole text, so not at every keystroke.
AUTOSAVE_MS = 1500
AUTOSAVE_JS = """() => {
  let timer = null, composing = false;
  const inEditor = (e) => e.target && e.target.closest && e.target.closest('#manuscript-text');
  const later = () => { clearTimeout(timer); timer = setTimeout(() => {
    const button = document.querySelector('#manuscript-autosave');
    const editor = document.querySelector('#manuscript-text textarea');
    if (!composing && button && editor && !editor.disabled) button.click(); }, %d); };
  document.addEventListener('click', (e) => {  // a continue saves the editor first: no save after it
    if (e.target && e.target.closest && e.target.closest('#manuscript-continue, #manuscript-continue-cursor, '
        + '#manuscript-retry')) clearTimeout(timer); }, true);
  document.addEventListener('compositionstart', (e) => { if (inEditor(e)) composing = true; }, true);
  document.addEventListener('compositionend', (e) => { if (inEditor(e)) { composing = false; later(); } }, true);
  document.addEventListener('input', (e) => { if (inEditor(e) && !composing) later(); }, true);
}""" % AUTOSAVE_MS

# the character offset of the editor's cursor (in code points, as Python counts), handed to the
# handler in place of the hidden `cursor` number, the last of the DeskForm's inputs
CURSOR_JS = ("(...a) => { const t = document.querySelector('#manuscript-text textarea'); "
             "a[a.length - 1] = t ? Array.from(t.value.slice(0, t.selectionStart)).length : null; return a; }")


# -- layout ---------------------------------------------------------------------------------
@dataclass
class DeskLayout:
    pick: gr.Dropdown
    title: gr.Textbox
    new_btn: gr.Button
    rename_btn: gr.Button
    delete_btn: gr.Button
    text: gr.Textbox
    mode: gr.Radio  # inline (the draft streams into the text) or candidates (side by side)
    saved: gr.Markdown  # when the text was last saved
    autosave_btn: gr.Button  # hidden: clicked by AUTOSAVE_JS when the writer pauses typing
    base: gr.State  # the revision the editor's text was loaded at
    slots: gr.State  # candidate number (across panes) per slot, of the last continue
    notice: gr.Markdown
    continue_btn: gr.Button
    cursor_btn: gr.Button  # continue from the cursor
    stop_btn: gr.Button
    cursor: gr.Number  # hidden: the cursor offset, filled by CURSOR_JS for the cursor button
    retry_btn: gr.Button
    undo_btn: gr.Button
    redo_btn: gr.Button
    cands: list  # PER_PANE textboxes per pane, pane-major
    uses: list  # a "Use this" button per candidate box
    alts: list  # a "Token alternatives" button per candidate box
    memory: gr.Textbox
    note: gr.Textbox
    context_btn: gr.Button
    context_view: gr.Markdown
    sources: gr.HTML
    history_btn: gr.Button
    history: gr.Dropdown
    version_text: gr.Textbox
    restore_btn: gr.Button
    export_fmt: gr.Radio
    export_sources: gr.Checkbox
    export_btn: gr.Button
    export_file: gr.File
    # token alternatives, summarize into memory, style match (studio/ui/desk_tools.py)
    alt_n: gr.State  # the candidate whose tokens are shown
    tokens: gr.HighlightedText
    alt_position: gr.Number
    alt_btn: gr.Button
    alt_table: gr.Markdown
    alt_choice: gr.Radio
    redraft_btn: gr.Button
    summary_model: gr.Dropdown
    summarize_btn: gr.Button
    to_memory_btn: gr.Button
    summary: gr.Textbox
    style_btn: gr.Button
    style_line: gr.Markdown
    # the story bible and the phrases to avoid (studio/ui/desk_story.py)
    bible_table: gr.Dataframe
    scan_chars: gr.Number
    budget_share: gr.Number
    budget_cap: gr.Number
    recursion_steps: gr.Number
    bible_save: gr.Button
    bible_draft_btn: gr.Button
    bible_share: gr.Dropdown
    bible_share_btn: gr.Button
    bible_upload: gr.File
    bible_export_btn: gr.Button
    bible_file: gr.File
    bible_notice: gr.Markdown
    banned: gr.Textbox
    studio_banned: gr.Textbox
    banned_save: gr.Button
    suggest_btn: gr.Button
    suggestions: gr.CheckboxGroup
    ban_ticked: gr.Button
    banned_notice: gr.Markdown
    # the Write tab's pane choices and sampling settings (made inside the desk's layout, set by `wire`)
    with_base: gr.Checkbox | None = None
    picks: list | None = None
    max_new: gr.Slider | None = None
    temperature: gr.Slider | None = None
    top_p: gr.Slider | None = None
    top_k: gr.Number | None = None
    repetition: gr.Slider | None = None
    seed: gr.Number | None = None
    drafts: gr.Slider | None = None


def _manage() -> dict:
    with gr.Row():
        # the pick, New and the boxes open when the page's load has answered (open_desk): a late
        # answer would otherwise replace what was typed before it came
        pick = gr.Dropdown(label=T("desk.pick"), choices=[], elem_id="manuscript-pick", scale=2, interactive=False)
        title = gr.Textbox(label=T("desk.title"), elem_id="manuscript-title", scale=2)
        new_btn = gr.Button(T("desk.new"), scale=0, elem_id="manuscript-new", interactive=False)
        rename_btn = gr.Button(T("desk.rename"), scale=0, elem_id="manuscript-rename")
        delete_btn = gr.Button(T("desk.delete"), scale=0, variant="stop", elem_id="manuscript-delete")
    return dict(pick=pick, title=title, new_btn=new_btn, rename_btn=rename_btn, delete_btn=delete_btn)


def _editor() -> dict:
    text = gr.Textbox(label=T("desk.text"), lines=16, elem_id="manuscript-text", interactive=False)
    with gr.Row():
        continue_btn = gr.Button(T("desk.continue"), variant="primary", elem_id="manuscript-continue")
        cursor_btn = gr.Button(T("desk.continue_cursor"), elem_id="manuscript-continue-cursor")
        stop_btn = gr.Button(T("desk.stop"), variant="stop", elem_id="manuscript-stop")
        retry_btn = gr.Button(T("desk.retry"), elem_id="manuscript-retry")
        undo_btn = gr.Button(T("desk.undo"), elem_id="manuscript-undo")
        redo_btn = gr.Button(T("desk.redo"), elem_id="manuscript-redo")
    mode = gr.Radio([(T("desk.mode_inline"), "inline"), (T("desk.mode_candidates"), "candidates")], value="inline",
                    label=T("desk.mode"), info=T("desk.mode_help"), elem_id="manuscript-mode")
    notice = gr.Markdown(elem_id="manuscript-notice")
    saved = gr.Markdown(elem_id="manuscript-saved")
    autosave_btn = gr.Button(visible="hidden", elem_id="manuscript-autosave")  # AUTOSAVE_JS clicks it
    return dict(text=text, mode=mode, saved=saved, autosave_btn=autosave_btn, continue_btn=continue_btn, cursor_btn=cursor_btn, stop_btn=stop_btn,
                cursor=gr.Number(visible=False, elem_id="manuscript-cursor"), retry_btn=retry_btn, undo_btn=undo_btn,
                redo_btn=redo_btn, notice=notice)


def _candidates() -> dict:
    cands, uses, alts = [], [], []
    with gr.Row():
        for n in range(PANES):
            with gr.Column():
                for k in range(PER_PANE):
                    slot = n * PER_PANE + k + 1
                    cands.append(gr.Textbox(lines=4, visible=False, interactive=False, elem_id=f"cand-{slot}"))
                    with gr.Row():
                        uses.append(gr.Button(T("desk.use"), visible=False, size="sm", elem_id=f"use-{slot}"))
                        alts.append(gr.Button(T("desk.alternatives"), visible=False, size="sm", elem_id=f"alt-{slot}"))
    return dict(cands=cands, uses=uses, alts=alts)


def _memory_and_sources() -> dict:
    # The memory and the note are always on the page, not in a closed accordion. CI (a loaded machine)
    # once lost a memory and a note typed right after New and after opening that accordion, and no
    # handler of ours had written them: the likely cause is a box mounted late by the accordion taking
    # the value an answer sent while it was closed. Not reproduced here, even with the browser slowed 6x.
    with gr.Row():
        memory = gr.Textbox(label=T("desk.memory"), info=T("desk.memory_help"), lines=2, elem_id="manuscript-memory")
        note = gr.Textbox(label=T("desk.note"), info=T("desk.note_help"), lines=2, elem_id="manuscript-note")
    with gr.Accordion(T("desk.context_section"), open=False):
        context_btn = gr.Button(T("desk.context"), elem_id="manuscript-context-btn")
        context_view = gr.Markdown(elem_id="manuscript-context")
    sources = gr.HTML(label=T("desk.sources"), elem_id="manuscript-sources")
    return dict(memory=memory, note=note, context_btn=context_btn, context_view=context_view, sources=sources)


def layout(controls=None) -> DeskLayout:
    """The desk; `controls()` makes the pane choices and sampling settings (the Write tab's), placed
    under the editor: the setup a manuscript drafts with is shown beside it."""
    with gr.Accordion(T("desk.section"), open=True, elem_id="manuscript-desk"):
        parts = {**_manage(), **_editor()}
        if controls:
            controls()
        parts.update({**_candidates(), **_memory_and_sources(), **desk_story.layout(), **desk_tools.layout(),
                      **desk_history.layout()})
    return DeskLayout(base=gr.State(None), slots=gr.State([]), **parts)


# -- handlers (the DeskForm, chosen_panes and sampling are in studio/ui/desk_parts.py) ---------
def _opened(call: Call, ms_id: str) -> dict:
    view = service.manuscript(call.root, ms_id)
    ms = view["manuscript"]
    return {**shown(ms, call.lang), "title": ms.title, "memory": ms.memory, "note": ms.note,
            "notice": "\n\n".join(render(call.lang, n) for n in view["notices"])}


def _empty() -> dict:
    return {"text": "", "base": None, "title": "", "memory": "", "note": "", "sources": ""}


def open_manuscript(call: Call, ms_id: str | None, picks: list | None = None) -> dict:
    """The list of manuscripts and the one picked (else the newest), read from the disk, with the
    panes and settings it drafts with, its story bible and its last candidates."""
    rows = service.manuscripts(call.root)
    ids = [r["id"] for r in rows]
    chosen = ms_id if ms_id in ids else (ids[0] if ids else None)
    # with no manuscript yet, a title being typed for New stays: the page load and the tab's select
    # both land here, and the second must not clear what the writer typed after the first
    view = _opened(call, chosen) if chosen else {**_empty(), "title": gr.update(),
                                                  "notice": say(call.lang, "desk.none_yet")}
    setup = setup_shown(call, chosen, picks)
    pending = pending_shown(call, chosen)
    notice = "\n\n".join(filter(None, [view.pop("notice"), setup.pop("setup_notice", ""), pending.pop("restored", "")]))
    return {"pick": gr.update(choices=_choices(call, rows), value=chosen), **view, "notice": notice, **pending,
            **setup, **desk_story.bible_shown(call, chosen)}


def open_desk(call: Call, ms_id: str | None, picks: list | None = None) -> dict:
    """What a page load shows: the manuscript, its candidates, the models that can summarize; and
    the desk opened for writing (it starts closed, see _manage)."""
    shown_now = open_manuscript(call, ms_id, picks)
    opened = {name: gr.update(value=shown_now[name], interactive=True) for name in READY if name in shown_now}
    return {**shown_now, **opened, "pick": {**shown_now["pick"], "interactive": True},
            "new_btn": gr.update(interactive=True), **desk_tools.summary_choices(call)}


def refresh_desk(call: Call, ms_id: str | None, picks: list | None = None) -> dict:
    """Coming back to the Write tab: the lists as they are now (the manuscripts and their word counts,
    the runs the panes can draft with, the models that can summarize); what is on the screen stays.
    A reload here would replace what the writer typed after the request left (the memory typed while
    a slow server answered the tab's select was lost that way), and the writer's edits are saved
    against their revision anyway. Only a manuscript deleted elsewhere is replaced, by the newest
    (open_manuscript)."""
    rows = service.manuscripts(call.root)
    if ms_id and ms_id not in {r["id"] for r in rows}:
        return {**open_manuscript(call, None, picks), **desk_tools.summary_choices(call)}
    # no value with no manuscript picked: a New answered meanwhile has picked one, and it stays
    pick = gr.update(choices=_choices(call, rows), value=ms_id) if ms_id else gr.update(choices=_choices(call, rows))
    owner = Call(service.visitors.owner_root(call.root), call.lang, call.session, call.demo, call.default_model)
    # an empty first pane gets the newest run unless the manuscript keeps its own panes (base alone, say)
    kept = bool(ms_id) and service.manuscript_setup(call.root, ms_id)[0].saved > 0
    return {"pick": pick, **refresh(owner, list(picks or [None] * service.MAX_TUNED_PANES), fill_first=not kept),
            **desk_tools.summary_choices(call)}


def new_manuscript(call: Call, title: str) -> dict:
    try:
        ms = service.new_manuscript(call.root, (title or "").strip() or say(call.lang, "manuscript.untitled"))
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**open_manuscript(call, ms.id), "notice": say(call.lang, "desk.created", title=ms.title)}


def rename_manuscript(call: Call, ms_id: str | None, title: str) -> dict:
    try:
        ms = service.rename_manuscript(call.root, picked(call, ms_id), (title or "").strip())
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**open_manuscript(call, ms.id), "notice": say(call.lang, "desk.renamed", title=ms.title)}


def delete_manuscript(call: Call, ms_id: str | None) -> dict:
    try:
        where = service.delete_manuscript(call.root, picked(call, ms_id))
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**open_manuscript(call, None), "notice": say(call.lang, "desk.deleted", id=ms_id, where=where)}


def save(call: Call, ms_id: str | None, text: str, base: int | None) -> dict:
    """The editor left (blur) or the writer paused typing (AUTOSAVE_JS): its text is saved against the
    revision it was based on, and the line under it says when. A text refused (too big) is kept in a
    file offered for download, and the editor goes back to the saved text, so every later action
    works again."""
    if not ms_id or call.session in inline_streams:
        return {}  # (a draft streaming into the editor is not the writer's text: it goes in when it ends)
    try:
        revision, notice = save_first(call, ms_id, text, base)
    except USER_ERRORS as e:
        if getattr(e, "key", None) != "manuscript.too_big":
            return {"notice": failed(call, e)}
        kept = service.keep_refused_text(call.root, ms_id, text or "")
        ms = service.manuscript(call.root, ms_id)["manuscript"]
        return {**shown(ms, call.lang), "export_file": downloadable(kept),
                "notice": say(call.lang, "desk.refused_kept", error=render(call.lang, e), file=kept.name)}
    ms = service.manuscript(call.root, ms_id)["manuscript"]
    return {"base": revision, "notice": notice, "sources": sources_html(ms, call.lang), **listed(call, ms_id),
            "saved": say(call.lang, "desk.saved_at", time=time.strftime("%H:%M:%S"), revision=revision)}



def set_field(call: Call, ms_id: str | None, value: str, base: int | None, name: str) -> dict:
    if not ms_id:
        return {}
    try:
        result = service.set_manuscript_field(call.root, ms_id, name, value or "", base)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {"base": result["revision"], "notice": render(call.lang, result["notice"]) if result["notice"] else ""}


def use(call: Call, ms_id: str | None, text: str, base: int | None, slots: list, slot: int) -> dict:
    """Insert the candidate in `slot` where it was drafted for (the editor is saved first)."""
    try:
        n = (slots or [None] * SLOTS)[slot]
        if n is None:
            raise ValueError(say(call.lang, "manuscript.no_pending"))
        save_first(call, ms_id, text, base)
        result = service.use_pending_candidate(call.root, ms_id, n)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    moved = render(call.lang, result["notice"]) if result.get("notice") else ""
    return {**shown(result["manuscript"], call.lang), "notice": moved or say(call.lang, "desk.used", n=n),
            **listed(call, ms_id)}


def undo(call: Call, ms_id: str | None, text: str, base: int | None, redo: bool = False) -> dict:
    try:
        save_first(call, ms_id, text, base)
        result = (service.redo_manuscript if redo else service.undo_manuscript)(call.root, ms_id)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**shown(result["manuscript"], call.lang), "notice": "", **listed(call, ms_id),
            **desk_story.bible_shown(call, ms_id)}


def context(call: Call, form: DeskForm) -> dict:
    try:
        revision, notice = save_first(call, form.pick, form.text, form.base, form.memory, form.note)
        ctx = service.manuscript_context(call.root, form.pick, form.panes() or ["base"], form.gen(),
                                         model=call.default_model or None)
    except USER_ERRORS as e:
        return {"context_view": say(call.lang, "error", error=render(call.lang, e))}
    return {"base": revision, "context_view": context_markdown(ctx, call.lang), "notice": notice}


# -- wiring ---------------------------------------------------------------------------------
CANDIDATES = ["cands", "uses", "alts", "slots"]
SHOWN = ["pick", "text", "base", "title", "memory", "note", "sources", "notice", *CANDIDATES, *SETUP,
         *desk_story.BIBLE_SHOWN]
# with the pick and New: what the page load opens for writing (not the memory and the note: a box in
# a closed accordion, made interactive by an update, did not send what was typed into it after)
READY = ["text"]
EDITED = ["text", "base", "sources", "notice", "pick"]  # the pick: its word counts follow the text


def wire(ui: DeskLayout, write, tab: Tab) -> dict:
    """Join the Write tab's pane and sampling components, wire the desk; return its page loader
    ("desk_load") and what the Write tab's select runs ("desk_refresh")."""
    ui = dataclasses.replace(ui, with_base=write.with_base, picks=write.picks, max_new=write.max_new,
                             temperature=write.temperature, top_p=write.top_p, top_k=write.top_k,
                             repetition=write.repetition, seed=write.seed, drafts=write.drafts)
    on(ui.pick.input, open_manuscript, tab, ui, ["pick", "picks"], SHOWN)
    # a pane or a setting the writer changes is kept with the manuscript at once (not the values a
    # manuscript's opening sets: `input` and `release` are the writer's own changes only)
    for control in [ui.with_base, *ui.picks, ui.top_k, ui.seed, ui.mode]:
        on(control.input, keep_setup, tab, ui, form=DeskForm, outputs=[])
    for slider in (ui.max_new, ui.temperature, ui.top_p, ui.repetition, ui.drafts):
        on(slider.release, keep_setup, tab, ui, form=DeskForm, outputs=[])
    on(ui.new_btn.click, new_manuscript, tab, ui, ["title"], SHOWN)
    on(ui.rename_btn.click, rename_manuscript, tab, ui, ["pick", "title"], SHOWN)
    on(ui.delete_btn.click, delete_manuscript, tab, ui, ["pick"], SHOWN)
    saving = ["base", "notice", "sources", "pick", "saved", "text", "export_file"]
    on(ui.text.blur, save, tab, ui, ["pick", "text", "base"], saving)
    on(ui.autosave_btn.click, save, tab, ui, ["pick", "text", "base"], saving, trigger_mode="always_last")
    for box, name in ((ui.memory, "memory"), (ui.note, "note")):
        on(box.blur, partial(set_field, name=name), tab, ui, ["pick", name, "base"], ["base", "notice"])
    # A continue streams into the candidate boxes only: gradio builds a new component for every output of
    # every update it sends (even an empty one), and 16 boxes with 32 buttons at four updates a second
    # took a third of the demo server's time at 20 visitors (py-spy, docs/benchmarks.md). The buttons
    # are hidden as it starts and shown once, from the disk, when it ends.
    drafted = ["base", "notice", "context_view", "cands", "slots", "text", "sources", "pick"]
    for button, handler, extra, js in ((ui.continue_btn, continue_manuscript, [], None),
                                       (ui.cursor_btn, partial(continue_manuscript, at_cursor=True), [], CURSOR_JS),
                                       (ui.retry_btn, retry, ["seed"], None)):
        on(button.click, hide_buttons, tab, ui, [], ["uses", "alts"])
        drafting = on(button.click, handler, tab, ui, form=DeskForm, outputs=drafted + extra, **({"js": js} if js else {}))
        on(drafting.then, candidate_buttons, tab, ui, ["pick"], ["uses", "alts"])
    on(ui.stop_btn.click, stop_drafting, tab, ui, [], "notice")  # the draft ends at the next token; it stays
    for slot, button in enumerate(ui.uses):
        on(button.click, partial(use, slot=slot), tab, ui, ["pick", "text", "base", "slots"], EDITED)
    # Undo covers the bible and the phrases: they come back in the same answer (a second, later one
    # would overwrite what the writer typed into the phrases box meanwhile)
    on(ui.undo_btn.click, undo, tab, ui, ["pick", "text", "base"], EDITED + desk_story.BIBLE_SHOWN)
    on(ui.redo_btn.click, partial(undo, redo=True), tab, ui, ["pick", "text", "base"], EDITED + desk_story.BIBLE_SHOWN)
    on(ui.context_btn.click, context, tab, ui, form=DeskForm, outputs=["base", "context_view", "notice"])
    on(ui.history_btn.click, history, tab, ui, ["pick"], ["history", "version_text", "notice"])
    on(ui.history.input, view_version, tab, ui, ["pick", "history"], ["version_text", "notice"])
    restored = on(ui.restore_btn.click, restore, tab, ui, ["pick", "text", "base", "history"], EDITED)
    on(restored.then, desk_story.bible_shown, tab, ui, ["pick"], desk_story.BIBLE_SHOWN)
    on(ui.export_btn.click, export, tab, ui, ["pick", "text", "base", "export_fmt", "export_sources"],
       ["base", "export_file", "notice"])
    desk_tools.wire(ui, tab)
    desk_story.wire(ui, tab)
    return {"desk_load": loader(open_desk, tab, ui, ["pick", "picks"], SHOWN + ["summary_model", "new_btn"]),
            "desk_refresh": loader(refresh_desk, tab, ui, ["pick", "picks"], ["pick", "picks", "summary_model"])}
