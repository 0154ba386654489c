"""The writing desk at the top of the Write tab: a manuscript kept on disk (every change a revision),
continued by the same panes and sampling settings as the comparison below it, each candidate used
with one click, undo and redo, the memory and the author's note, what the model sees, and who wrote
which passage. In demo mode each visitor's own manuscripts (wiring.visitor_tab: `call.root` is the
visitor's folder, studio/write/visitors.py), drafted with the published runs only.

Layout (`layout`), then the handlers, each taking plain values or the DeskForm and returning named
updates, then `wire`. The pane choices and the sampling settings are the Write tab's own components,
joined to the desk's layout by `wire`."""
from __future__ import annotations

import dataclasses
import html
import time
from dataclasses import dataclass
from functools import partial

import gradio as gr

from studio import service
from studio.config import GenConfig
from studio.messages import MESSAGES, render, say
from studio.ui.i18n import T
from studio.ui.wiring import Call, Tab, loader, on

USER_ERRORS = (ValueError, RuntimeError, OSError)
PANES = 1 + service.MAX_TUNED_PANES
PER_PANE = 4  # candidates per pane at most (the drafts slider's top)
SLOTS = PANES * PER_PANE
RUN_COLOURS = ("#fde2c4", "#d9f2d0", "#ead7f5", "#f9d6dc")  # one per run, in the order they first appear
BASE_COLOUR = "#d6e6fb"


# -- layout ---------------------------------------------------------------------------------
@dataclass
class DeskLayout:
    pick: gr.Dropdown
    title: gr.Textbox
    new_btn: gr.Button
    rename_btn: gr.Button
    delete_btn: gr.Button
    text: gr.Textbox
    base: gr.State  # the revision the editor's text was loaded at
    slots: gr.State  # candidate number (across panes) per slot, of the last continue
    notice: gr.Markdown
    continue_btn: gr.Button
    retry_btn: gr.Button
    undo_btn: gr.Button
    redo_btn: gr.Button
    cands: list  # PER_PANE textboxes per pane, pane-major
    uses: list  # a "Use this" button per candidate box
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
    # the Write tab's pane choices and sampling settings (set by `wire`)
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
        pick = gr.Dropdown(label=T("desk.pick"), choices=[], elem_id="manuscript-pick", scale=2)
        title = gr.Textbox(label=T("desk.title"), elem_id="manuscript-title", scale=2)
        new_btn = gr.Button(T("desk.new"), scale=0, elem_id="manuscript-new")
        rename_btn = gr.Button(T("desk.rename"), scale=0, elem_id="manuscript-rename")
        delete_btn = gr.Button(T("desk.delete"), scale=0, variant="stop", elem_id="manuscript-delete")
    return dict(pick=pick, title=title, new_btn=new_btn, rename_btn=rename_btn, delete_btn=delete_btn)


def _editor() -> dict:
    text = gr.Textbox(label=T("desk.text"), lines=16, elem_id="manuscript-text")
    with gr.Row():
        continue_btn = gr.Button(T("desk.continue"), variant="primary", elem_id="manuscript-continue")
        retry_btn = gr.Button(T("desk.retry"), elem_id="manuscript-retry")
        undo_btn = gr.Button(T("desk.undo"), elem_id="manuscript-undo")
        redo_btn = gr.Button(T("desk.redo"), elem_id="manuscript-redo")
    notice = gr.Markdown(elem_id="manuscript-notice")
    return dict(text=text, continue_btn=continue_btn, retry_btn=retry_btn, undo_btn=undo_btn, redo_btn=redo_btn,
                notice=notice)


def _candidates() -> dict:
    cands, uses = [], []
    with gr.Row():
        for n in range(PANES):
            with gr.Column():
                for k in range(PER_PANE):
                    slot = n * PER_PANE + k + 1
                    cands.append(gr.Textbox(lines=4, visible=False, interactive=False, elem_id=f"cand-{slot}"))
                    uses.append(gr.Button(T("desk.use"), visible=False, size="sm", elem_id=f"use-{slot}"))
    return dict(cands=cands, uses=uses)


def _memory_and_sources() -> dict:
    with gr.Accordion(T("desk.memory_section"), open=False):
        with gr.Row():
            memory = gr.Textbox(label=T("desk.memory"), info=T("desk.memory_help"), lines=3, elem_id="manuscript-memory")
            note = gr.Textbox(label=T("desk.note"), info=T("desk.note_help"), lines=3, elem_id="manuscript-note")
        context_btn = gr.Button(T("desk.context"), elem_id="manuscript-context-btn")
        context_view = gr.Markdown(elem_id="manuscript-context")
    sources = gr.HTML(label=T("desk.sources"), elem_id="manuscript-sources")
    return dict(memory=memory, note=note, context_btn=context_btn, context_view=context_view, sources=sources)


def _history_and_export() -> dict:
    with gr.Accordion(T("desk.history_section"), open=False):
        with gr.Row():
            history_btn = gr.Button(T("desk.history_list"), scale=0, elem_id="manuscript-history-btn")
            history = gr.Dropdown(label=T("desk.history"), choices=[], elem_id="manuscript-history")
            restore_btn = gr.Button(T("desk.restore"), scale=0, elem_id="manuscript-restore")
        version_text = gr.Textbox(label=T("desk.version"), lines=6, interactive=False, elem_id="manuscript-version")
        with gr.Row():
            export_fmt = gr.Radio(["md", "txt", "docx"], value="md", label=T("desk.export_format"))
            export_sources = gr.Checkbox(value=False, label=T("desk.export_sources"))
            export_btn = gr.Button(T("desk.export"), scale=0, elem_id="manuscript-export")
        export_file = gr.File(label=T("desk.export_file"), interactive=False, height=60, elem_id="manuscript-file")
    return dict(history_btn=history_btn, history=history, version_text=version_text, restore_btn=restore_btn,
                export_fmt=export_fmt, export_sources=export_sources, export_btn=export_btn, export_file=export_file)


def layout() -> DeskLayout:
    with gr.Accordion(T("desk.section"), open=True, elem_id="manuscript-desk"):
        parts = {**_manage(), **_editor(), **_candidates(), **_memory_and_sources(), **_history_and_export()}
    return DeskLayout(base=gr.State(None), slots=gr.State([]), **parts)


# -- handlers -------------------------------------------------------------------------------
@dataclass
class DeskForm:
    """The desk and the Write tab's pane and sampling settings, as continue gets them."""
    pick: str | None
    text: str
    base: int | None
    with_base: bool
    picks: list
    max_new: float
    temperature: float
    top_p: float
    top_k: float | None
    repetition: float
    seed: float | None
    drafts: float

    def panes(self) -> list[str]:
        return chosen_panes(self)

    def gen(self) -> GenConfig:
        return sampling(self)


def chosen_panes(form) -> list[str]:
    """The panes a form (the desk's or the comparison's) drafts with: the base if ticked, then the picks."""
    return (["base"] if form.with_base else []) + [p for p in form.picks if p]


def sampling(form) -> GenConfig:
    """The Write tab's sampling settings (shared by the desk and the comparison) as a GenConfig."""
    return GenConfig(max_new_tokens=int(form.max_new), temperature=float(form.temperature), top_p=float(form.top_p),
                     top_k=int(form.top_k or 0), repetition_penalty=float(form.repetition),
                     seed=int(form.seed or 0), drafts=int(form.drafts))


def _source_label(source: str, lang: str) -> str:
    if source == "writer":
        return say(lang, "manuscript.source_writer")
    return say(lang, "manuscript.source_base") if source == "base" else say(lang, "manuscript.source_run", run=source)


def sources_html(ms, lang: str) -> str:
    """The legend, then the manuscript with each passage coloured by who wrote it (escaped)."""
    colours, runs = {"writer": "transparent", "base": BASE_COLOUR}, []
    for p in ms.passages:
        if p.source not in colours:
            colours[p.source] = RUN_COLOURS[len(runs) % len(RUN_COLOURS)]
            runs.append(p.source)
    legend = " ".join(f'<span class="ws-source" style="background:{colour};padding:0 .4em;border:1px solid #ccc">'
                      f"{html.escape(_source_label(source, lang))}</span>" for source, colour in colours.items())
    body = "".join(f'<span data-source="{html.escape(p.source)}" title="{html.escape(_source_label(p.source, lang))}" '
                   f'style="background:{colours[p.source]}">{html.escape(p.text)}</span>' for p in ms.passages)
    return (f'<div class="ws-legend"><b>{html.escape(say(lang, "desk.who_wrote"))}</b> {legend}</div>'
            f'<div class="ws-manuscript" style="white-space:pre-wrap;margin-top:.5em">{body}</div>')


def _shown(ms, lang: str) -> dict:
    """The named updates that show manuscript `ms` as it is now."""
    return {"text": ms.text, "base": ms.revision, "sources": sources_html(ms, lang)}


def _opened(call: Call, ms_id: str) -> dict:
    view = service.manuscript(call.root, ms_id)
    ms = view["manuscript"]
    return {**_shown(ms, call.lang), "title": ms.title, "memory": ms.memory, "note": ms.note,
            "notice": "\n\n".join(render(call.lang, n) for n in view["notices"])}


def _empty() -> dict:
    return {"text": "", "base": None, "title": "", "memory": "", "note": "", "sources": ""}


def open_manuscript(call: Call, ms_id: str | None) -> dict:
    """The list of manuscripts and the one picked (else the newest), read from the disk."""
    rows = service.manuscripts(call.root)
    ids = [r["id"] for r in rows]
    chosen = ms_id if ms_id in ids else (ids[0] if ids else None)
    choices = [(say(call.lang, "desk.choice", title=r["title"] or r["id"], words=r["words"]), r["id"]) for r in rows]
    # with no manuscript yet, a title being typed for New stays: the page load and the tab's select
    # both land here, and the second must not clear what the writer typed after the first
    shown = _opened(call, chosen) if chosen else {**_empty(), "title": gr.update(),
                                                   "notice": say(call.lang, "desk.none_yet")}
    return {"pick": gr.update(choices=choices, value=chosen), **shown}


def new_manuscript(call: Call, title: str) -> dict:
    try:
        ms = service.new_manuscript(call.root, (title or "").strip() or say(call.lang, "manuscript.untitled"))
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**open_manuscript(call, ms.id), "notice": say(call.lang, "desk.created", title=ms.title)}


def rename_manuscript(call: Call, ms_id: str | None, title: str) -> dict:
    try:
        ms = service.rename_manuscript(call.root, _picked(call, ms_id), (title or "").strip())
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**open_manuscript(call, ms.id), "notice": say(call.lang, "desk.renamed", title=ms.title)}


def delete_manuscript(call: Call, ms_id: str | None) -> dict:
    try:
        where = service.delete_manuscript(call.root, _picked(call, ms_id))
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**open_manuscript(call, None), "notice": say(call.lang, "desk.deleted", id=ms_id, where=where)}


def _picked(call: Call, ms_id: str | None) -> str:
    if not ms_id:
        raise ValueError(say(call.lang, "desk.pick_first"))
    return ms_id


def _save_first(call: Call, ms_id: str | None, text: str, base: int | None) -> tuple[int, str]:
    """Save the editor's text when it differs from the disk: (revision, conflict notice or '')."""
    now = service.manuscript(call.root, _picked(call, ms_id))
    if now["text"] == (text or ""):
        return now["manuscript"].revision, ""
    saved = service.save_manuscript_text(call.root, ms_id, text or "", base)
    return saved["revision"], render(call.lang, saved["notice"]) if saved["notice"] else ""


def save(call: Call, ms_id: str | None, text: str, base: int | None) -> dict:
    """The editor left (blur): its text is saved against the revision it was based on."""
    if not ms_id:
        return {}
    try:
        revision, notice = _save_first(call, ms_id, text, base)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    ms = service.manuscript(call.root, ms_id)["manuscript"]
    return {"base": revision, "notice": notice, "sources": sources_html(ms, call.lang)}


def set_field(call: Call, ms_id: str | None, value: str, base: int | None, name: str) -> dict:
    if not ms_id:
        return {}
    try:
        result = service.set_manuscript_field(call.root, ms_id, name, value or "", base)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {"base": result["revision"], "notice": render(call.lang, result["notice"]) if result["notice"] else ""}


def _candidate_updates(item: dict, labels: list) -> tuple[list, list, list]:
    """(box updates, button updates, candidate number per slot) of a drafter item."""
    boxes, buttons, slots, n = [], [], [], 0
    for col in range(PANES):
        drafts = item["panes"][col]["drafts"] if col < len(item["panes"]) else []
        for k in range(PER_PANE):
            if k < len(drafts):
                n += 1
                boxes.append(gr.update(visible=True, value=drafts[k], label=f"{labels[col]} · {k + 1}"))
                buttons.append(gr.update(visible=bool(item.get("done"))))
                slots.append(n)
            else:
                boxes.append(gr.update(visible=False, value=""))
                buttons.append(gr.update(visible=False))
                slots.append(None)
    return boxes, buttons, slots


def continue_manuscript(call: Call, form: DeskForm):
    """Save the editor, then stream candidates for every pane side by side; Use buttons at the end."""
    panes, shown = form.panes(), 0.0
    labels = [say(call.lang, "manuscript.source_base") if p == "base" else p for p in panes]
    try:
        if not panes:
            raise ValueError(say(call.lang, "write.no_panes"))
        gen = form.gen()
        revision, notice = _save_first(call, form.pick, form.text, form.base)
        yield {"base": revision, "notice": notice or say(call.lang, "write.drafting"),
               "uses": [gr.update(visible=False)] * SLOTS}  # the last continue's candidates are replaced
        for item in service.continue_manuscript(call.root, form.pick, panes, gen, model=call.default_model or None):
            if "context" in item:
                yield {"context_view": context_markdown(item["context"], call.lang)}
            elif item.get("waiting"):
                yield {"notice": render(call.lang, item["message"])}
            elif item.get("done") or time.time() - shown >= 0.25:
                shown = time.time()
                boxes, buttons, slots = _candidate_updates(item, labels)
                done = say(call.lang, "desk.candidates", n=sum(s is not None for s in slots)) if item.get("done") else None
                yield {"cands": boxes, "uses": buttons, "slots": slots, "notice": notice or done or
                       say(call.lang, "write.drafting")}
    except USER_ERRORS as e:
        yield {"notice": say(call.lang, "error", error=render(call.lang, e))}


def retry(call: Call, form: DeskForm):
    """Continue again from the same point with the next seed."""
    form = dataclasses.replace(form, seed=int(form.seed or 0) + 1)
    yield {"seed": form.seed}
    yield from continue_manuscript(call, form)


def use(call: Call, ms_id: str | None, text: str, base: int | None, slots: list, slot: int) -> dict:
    """Insert the candidate in `slot` where it was drafted for (the editor is saved first)."""
    try:
        n = (slots or [None] * SLOTS)[slot]
        if n is None:
            raise ValueError(say(call.lang, "manuscript.no_pending"))
        _save_first(call, ms_id, text, base)
        result = service.use_pending_candidate(call.root, ms_id, n)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    moved = render(call.lang, result["notice"]) if result.get("notice") else ""
    return {**_shown(result["manuscript"], call.lang), "notice": moved or say(call.lang, "desk.used", n=n)}


def undo(call: Call, ms_id: str | None, text: str, base: int | None, redo: bool = False) -> dict:
    try:
        _save_first(call, ms_id, text, base)
        result = (service.redo_manuscript if redo else service.undo_manuscript)(call.root, ms_id)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**_shown(result["manuscript"], call.lang), "notice": ""}


def context_markdown(ctx, lang: str) -> str:
    """Each part the model sees with its tokens, the total, then the text itself."""
    rows = [f"| {say(lang, 'manuscript.part_' + part)} | {tokens} |" for part, _, tokens in ctx.parts]
    total = say(lang, "manuscript.context_total", tokens=ctx.tokens, budget=ctx.budget, cut=ctx.cut_chars)
    notes = "".join(f"\n\n{render(lang, n)}" for n in ctx.notices)
    sent = ctx.text.replace("```", "'''")
    return "\n".join([say(lang, "desk.context_heading"), "|---|---|", *rows]) + f"\n\n{total}{notes}\n\n```\n{sent}\n```"


def context(call: Call, form: DeskForm) -> dict:
    try:
        revision, notice = _save_first(call, form.pick, form.text, form.base)
        ctx = service.manuscript_context(call.root, form.pick, form.panes() or ["base"], form.gen(),
                                         model=call.default_model or None)
    except USER_ERRORS as e:
        return {"context_view": say(call.lang, "error", error=render(call.lang, e))}
    return {"base": revision, "context_view": context_markdown(ctx, call.lang), "notice": notice}


def history(call: Call, ms_id: str | None) -> dict:
    """Every revision, newest first, with what made it and when."""
    try:
        rows = service.manuscript_history(call.root, _picked(call, ms_id))
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    choices = [(say(call.lang, "desk.revision", revision=r["revision"], kind=_kind(r["kind"], call.lang),
                    time=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["time"] or 0))), r["revision"])
               for r in reversed(rows)]
    latest = service.manuscript_version(call.root, ms_id, rows[-1]["revision"]).text if rows else ""
    return {"history": gr.update(choices=choices, value=choices[0][1] if choices else None), "version_text": latest}


def _kind(kind: str | None, lang: str) -> str:
    return say(lang, f"desk.kind_{kind}") if f"desk.kind_{kind}" in MESSAGES else str(kind)


def view_version(call: Call, ms_id: str | None, revision: int | None) -> dict:
    if not ms_id or revision is None:
        return {"version_text": ""}
    try:
        return {"version_text": service.manuscript_version(call.root, ms_id, int(revision)).text}
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}


def restore(call: Call, ms_id: str | None, text: str, base: int | None, revision: int | None) -> dict:
    """The editor saved first, then the picked revision brought back as a new one (Undo takes it back)."""
    try:
        if revision is None:
            raise ValueError(say(call.lang, "desk.pick_revision"))
        _save_first(call, ms_id, text, base)
        result = service.restore_manuscript(call.root, ms_id, int(revision))
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**_shown(result["manuscript"], call.lang), "notice": say(call.lang, "desk.restored", revision=revision)}


def export(call: Call, ms_id: str | None, text: str, base: int | None, fmt: str, sources: bool) -> dict:
    try:
        revision, notice = _save_first(call, ms_id, text, base)
        path = service.export_manuscript(call.root, ms_id, fmt, bool(sources), call.lang)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {"base": revision, "export_file": str(path), "notice": notice or say(call.lang, "desk.exported", fmt=fmt)}


# -- wiring ---------------------------------------------------------------------------------
SHOWN = ["pick", "text", "base", "title", "memory", "note", "sources", "notice"]
EDITED = ["text", "base", "sources", "notice"]


def wire(ui: DeskLayout, write, tab: Tab) -> tuple:
    """Join the Write tab's pane and sampling components, wire the desk, return its page loader."""
    ui = dataclasses.replace(ui, with_base=write.with_base, picks=write.picks, max_new=write.max_new,
                             temperature=write.temperature, top_p=write.top_p, top_k=write.top_k,
                             repetition=write.repetition, seed=write.seed, drafts=write.drafts)
    on(ui.pick.input, open_manuscript, tab, ui, ["pick"], SHOWN)
    on(ui.new_btn.click, new_manuscript, tab, ui, ["title"], SHOWN)
    on(ui.rename_btn.click, rename_manuscript, tab, ui, ["pick", "title"], SHOWN)
    on(ui.delete_btn.click, delete_manuscript, tab, ui, ["pick"], SHOWN)
    on(ui.text.blur, save, tab, ui, ["pick", "text", "base"], ["base", "notice", "sources"])
    for box, name in ((ui.memory, "memory"), (ui.note, "note")):
        on(box.blur, partial(set_field, name=name), tab, ui, ["pick", name, "base"], ["base", "notice"])
    drafted = ["base", "notice", "context_view", "cands", "uses", "slots"]
    on(ui.continue_btn.click, continue_manuscript, tab, ui, form=DeskForm, outputs=drafted)
    on(ui.retry_btn.click, retry, tab, ui, form=DeskForm, outputs=drafted + ["seed"])
    for slot, button in enumerate(ui.uses):
        on(button.click, partial(use, slot=slot), tab, ui, ["pick", "text", "base", "slots"], EDITED)
    on(ui.undo_btn.click, undo, tab, ui, ["pick", "text", "base"], EDITED)
    on(ui.redo_btn.click, partial(undo, redo=True), tab, ui, ["pick", "text", "base"], EDITED)
    on(ui.context_btn.click, context, tab, ui, form=DeskForm, outputs=["base", "context_view", "notice"])
    on(ui.history_btn.click, history, tab, ui, ["pick"], ["history", "version_text", "notice"])
    on(ui.history.input, view_version, tab, ui, ["pick", "history"], ["version_text", "notice"])
    on(ui.restore_btn.click, restore, tab, ui, ["pick", "text", "base", "history"], EDITED)
    on(ui.export_btn.click, export, tab, ui, ["pick", "text", "base", "export_fmt", "export_sources"],
       ["base", "export_file", "notice"])
    return loader(open_manuscript, tab, ui, ["pick"], SHOWN)
