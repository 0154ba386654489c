"""The desk's history and export (split from studio/ui/desk.py): every revision listed, one
viewed and restored as a new revision, the manuscript exported as md, txt or docx."""
from __future__ import annotations

import time

import gradio as gr

from studio import service
from studio.messages import MESSAGES, render, say
from studio.ui.downloads import downloadable
from studio.ui.desk_parts import USER_ERRORS, picked, save_first, shown
from studio.ui.i18n import T
from studio.ui.wiring import Call


def layout() -> dict:
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


def history(call: Call, ms_id: str | None) -> dict:
    """Every revision, newest first, with what made it and when."""
    try:
        rows = service.manuscript_history(call.root, picked(call, ms_id))
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
        save_first(call, ms_id, text, base)
        result = service.restore_manuscript(call.root, ms_id, int(revision))
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {**shown(result["manuscript"], call.lang), "notice": say(call.lang, "desk.restored", revision=revision)}


def export(call: Call, ms_id: str | None, text: str, base: int | None, fmt: str, sources: bool) -> dict:
    try:
        revision, notice = save_first(call, ms_id, text, base)
        path = service.export_manuscript(call.root, ms_id, fmt, bool(sources), call.lang)
    except USER_ERRORS as e:
        return {"notice": say(call.lang, "error", error=render(call.lang, e))}
    return {"base": revision, "export_file": downloadable(path), "notice": notice or say(call.lang, "desk.exported", fmt=fmt)}
