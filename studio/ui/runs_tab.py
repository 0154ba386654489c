"""Runs tab: every run in one table; two runs compared (settings that differ, curves overlaid,
evaluations); delete with a confirmation; resume; publish to demo mode; export the adapter, the
merged model, or a GGUF file; blend finished runs."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import BLEND_METHODS
from studio.messages import say
from studio.ui import views
from studio.ui.downloads import downloadable
from studio.ui.actions import act_on_run
from studio.ui.i18n import T
from studio.ui.wiring import Call, Tab, loader, on

USER_ERRORS = (ValueError, RuntimeError, OSError)
LISTING = ["table", "first", "second", "blend_pick"]


# -- layout ---------------------------------------------------------------------------------
@dataclass
class RunsLayout:
    table: gr.Dataframe
    first: gr.Dropdown
    second: gr.Dropdown
    refresh_btn: gr.Button
    compare_btn: gr.Button
    resume_btn: gr.Button
    publish_btn: gr.Button
    unpublish_btn: gr.Button
    delete_btn: gr.Button
    confirm_row: gr.Row
    confirm_text: gr.Markdown
    confirm_btn: gr.Button
    keep_btn: gr.Button
    message: gr.Markdown
    lineage: gr.Markdown
    differences: gr.Markdown
    curves: gr.LinePlot
    eval_first: gr.Markdown
    eval_second: gr.Markdown
    zip_btn: gr.Button
    merge_btn: gr.Button
    gguf_type: gr.Dropdown
    gguf_btn: gr.Button
    export_file: gr.File
    blend_pick: gr.Dropdown
    blend_weights: gr.Textbox
    blend_method: gr.Dropdown
    blend_btn: gr.Button


def _table_and_actions() -> dict:
    table = gr.Dataframe(views.runs_frame([]), interactive=False, label=T("runs.table"), elem_id="runs-table")
    with gr.Row():
        first = gr.Dropdown(label=T("runs.first"), choices=[], elem_id="runs-first")
        second = gr.Dropdown(label=T("runs.second"), choices=[], elem_id="runs-second")
        refresh_btn = gr.Button(T("shared.refresh"), scale=0)
    with gr.Row():
        compare_btn = gr.Button(T("runs.compare"), variant="primary", elem_id="runs-compare")
        resume_btn = gr.Button(T("runs.resume"))
        publish_btn = gr.Button(T("runs.publish"))
        unpublish_btn = gr.Button(T("runs.unpublish"))
        delete_btn = gr.Button(T("runs.delete"), variant="stop", elem_id="runs-delete")
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown()
        confirm_btn = gr.Button(T("runs.delete_confirm"), variant="stop", elem_id="runs-delete-confirm")
        keep_btn = gr.Button(T("runs.delete_keep"))
    message = gr.Markdown(elem_id="runs-message")
    return dict(table=table, first=first, second=second, refresh_btn=refresh_btn, compare_btn=compare_btn,
                resume_btn=resume_btn, publish_btn=publish_btn, unpublish_btn=unpublish_btn, delete_btn=delete_btn,
                confirm_row=confirm_row, confirm_text=confirm_text, confirm_btn=confirm_btn, keep_btn=keep_btn,
                message=message)


def _comparison(lang: str) -> dict:
    lineage = gr.Markdown(elem_id="runs-lineage")
    differences = gr.Markdown(elem_id="runs-differences")
    curves = gr.LinePlot(views.overlaid_loss_frame([]), x="step", y="loss", color="series", title=T("runs.curves"),
                         height=300, x_title=T("plot.step"), y_title=T("plot.loss"), color_title=T("plot.series"),
                         elem_id="runs-curves", color_map=views.COMPARED_COLOURS,
                         colors_in_legend=views.compared_series(lang))
    with gr.Row():
        eval_first = gr.Markdown()
        eval_second = gr.Markdown()
    return dict(lineage=lineage, differences=differences, curves=curves, eval_first=eval_first, eval_second=eval_second)


def _export_and_blend() -> dict:
    with gr.Accordion(T("runs.export"), open=False):
        gr.Markdown(T("runs.export_help"))
        with gr.Row():
            zip_btn = gr.Button(T("runs.export_zip"))
            merge_btn = gr.Button(T("runs.export_merged"))
            gguf_type = gr.Dropdown(label=T("runs.gguf_type"), choices=["f16", "bf16", "q8_0"], value="q8_0",
                                    elem_id="runs-gguf-type", scale=0)
            gguf_btn = gr.Button(T("runs.export_gguf"), elem_id="runs-export-gguf")
        export_file = gr.File(label=T("runs.export_file"), interactive=False, height=60)
    with gr.Accordion(T("runs.blend"), open=False):
        gr.Markdown(T("runs.blend_help"))
        with gr.Row():
            blend_pick = gr.Dropdown(label=T("runs.blend_pick"), choices=[], multiselect=True, max_choices=3,
                                     elem_id="runs-blend-pick")
            blend_weights = gr.Textbox(label=T("runs.blend_weights"), info=T("runs.blend_weights_help"), max_lines=1,
                                       elem_id="runs-blend-weights")
            blend_method = gr.Dropdown(label=T("runs.blend_method"), choices=list(BLEND_METHODS), value="linear",
                                       elem_id="runs-blend-method", scale=0)
            blend_btn = gr.Button(T("runs.blend_start"), elem_id="runs-blend-start", scale=0)
    return dict(zip_btn=zip_btn, merge_btn=merge_btn, gguf_type=gguf_type, gguf_btn=gguf_btn, export_file=export_file,
                blend_pick=blend_pick, blend_weights=blend_weights, blend_method=blend_method, blend_btn=blend_btn)


def layout(lang: str = "en") -> RunsLayout:
    return RunsLayout(**_table_and_actions(), **_comparison(lang), **_export_and_blend())


# -- handlers -------------------------------------------------------------------------------
def listed(call: Call, a: str | None = None, b: str | None = None) -> dict:
    rows = service.list_runs(call.root)
    ids = [r["run_id"] for r in rows]
    a = a if a in ids else (ids[0] if ids else None)
    others = [i for i in ids if i != a]
    b = b if b in others else (others[0] if others else None)  # the second pick defaults to another run
    finished = [r["run_id"] for r in rows if r["has_adapter"]]
    return {"table": views.runs_frame(rows, call.lang), "first": gr.update(choices=ids, value=a),
            "second": gr.update(choices=ids, value=b), "blend_pick": gr.update(choices=finished)}


def refresh(call: Call, a: str | None = None, b: str | None = None) -> dict:
    return listed(call, a, b)


def show_lineage(call: Call, a: str | None) -> str:
    return views.lineage_line(service.run_lineage(call.root, a), call.lang) if a else ""


def blend(call: Call, picked: list | None, weights: str | None, method: str) -> dict:
    picked = picked or []
    if not 2 <= len(picked) <= 3:
        return {"message": say(call.lang, "error", error=say(call.lang, "blend.pick")), **listed(call)}
    given = [w.strip() for w in (weights or "").split(",") if w.strip()] or [f"{1 / len(picked):g}"] * len(picked)
    if len(given) != len(picked):
        return {"message": say(call.lang, "error", error=say(call.lang, "blend.weights", weights=weights)), **listed(call)}
    try:
        run_id = service.start_blend(call.root, ", ".join(f"{r}:{w}" for r, w in zip(picked, given)), method)
    except USER_ERRORS as e:
        return {"message": say(call.lang, "error", error=e), **listed(call)}
    return {"message": say(call.lang, "blend.started", run=run_id), **listed(call)}


def compare(call: Call, a: str | None, b: str | None) -> dict:
    empty = {"differences": "", "curves": views.overlaid_loss_frame([], call.lang), "eval_first": "", "eval_second": ""}
    if not a or not b or a == b:
        return {"message": say(call.lang, "error", error=say(call.lang, "run.pick_two")), **empty}
    try:
        result = service.compare_runs(call.root, a, b)
    except USER_ERRORS as e:
        return {"message": say(call.lang, "error", error=e), **empty}
    evals = [f"**{v.run_id}**\n\n{views.eval_markdown(v.evaluation, call.lang) or say(call.lang, 'eval.none')}"
             for v in result["views"]]
    return {"message": "", "differences": views.differences_markdown(result, call.lang),
            "curves": views.overlaid_loss_frame(result["views"], call.lang), "eval_first": evals[0], "eval_second": evals[1]}


def ask_delete(call: Call, a: str | None) -> dict:
    if not a:
        return {"confirm_row": gr.update(visible=False), "confirm_text": "",
                "message": say(call.lang, "error", error=say(call.lang, "run.pick_first"))}
    return {"confirm_row": gr.update(visible=True), "confirm_text": say(call.lang, "run.delete_ask", run=a), "message": ""}


def delete(call: Call, a: str | None, b: str | None) -> dict:
    try:
        service.delete_run(call.root, a)
    except USER_ERRORS as e:
        return {"confirm_row": gr.update(visible=False), "message": say(call.lang, "error", error=e), **listed(call, None, b)}
    return {"confirm_row": gr.update(visible=False), "message": say(call.lang, "run.deleted", run=a), **listed(call, None, b)}


def keep(call: Call) -> dict:
    return {"confirm_row": gr.update(visible=False), "message": say(call.lang, "run.kept")}


def resume(call: Call, a: str | None) -> str:
    return act_on_run(call, a, service.resume_run, "run.resumed")


def publish(call: Call, a: str | None) -> str:
    return act_on_run(call, a, service.publish_run, "run.published")


def unpublish(call: Call, a: str | None) -> str:
    return act_on_run(call, a, partial(service.publish_run, published=False), "run.hidden")


def export_zip(call: Call, a: str | None) -> dict:
    if not a:
        return {"export_file": None, "message": say(call.lang, "error", error=say(call.lang, "run.pick_first"))}
    try:
        return {"export_file": downloadable(service.export_adapter_zip(call.root, a)),
                "message": say(call.lang, "export.zip_done", run=a)}
    except USER_ERRORS as e:
        return {"export_file": None, "message": say(call.lang, "error", error=e)}


def export_merged(call: Call, a: str | None) -> str:
    if not a:
        return say(call.lang, "error", error=say(call.lang, "run.pick_first"))
    try:
        folder = service.export_merged(call.root, a)
    except USER_ERRORS as e:
        return say(call.lang, "error", error=e)
    return say(call.lang, "export.merged_done", folder=folder, run=a)


def export_gguf(call: Call, a: str | None, quant: str) -> str:
    if not a:
        return say(call.lang, "error", error=say(call.lang, "run.pick_first"))
    try:
        gguf = service.export_gguf(call.root, a, quant)
    except USER_ERRORS as e:
        return say(call.lang, "error", error=e)
    return say(call.lang, "export.gguf_done", file=gguf, size=gguf.stat().st_size / 1e6, run=a, folder=gguf.parent)


def opened(call: Call, a: str | None = None, b: str | None = None) -> dict:
    return {**listed(call, a, b), "curves": gr.update(colors_in_legend=views.compared_series(call.lang))}


# -- wiring ---------------------------------------------------------------------------------
def wire(ui: RunsLayout, tab: Tab) -> dict:
    picked = ["first", "second"]
    on(ui.refresh_btn.click, refresh, tab, ui, picked, LISTING)
    on(ui.first.change, show_lineage, tab, ui, ["first"], "lineage")
    on(ui.blend_btn.click, blend, tab, ui, ["blend_pick", "blend_weights", "blend_method"], ["message", *LISTING])
    on(ui.compare_btn.click, compare, tab, ui, picked,
       ["message", "differences", "curves", "eval_first", "eval_second"])
    on(ui.resume_btn.click, resume, tab, ui, ["first"], "message")
    on(on(ui.publish_btn.click, publish, tab, ui, ["first"], "message").then, refresh, tab, ui, picked, LISTING)
    on(on(ui.unpublish_btn.click, unpublish, tab, ui, ["first"], "message").then, refresh, tab, ui, picked, LISTING)
    on(ui.delete_btn.click, ask_delete, tab, ui, ["first"], ["confirm_row", "confirm_text", "message"])
    on(ui.confirm_btn.click, delete, tab, ui, picked, ["confirm_row", "message", *LISTING])
    on(ui.keep_btn.click, keep, tab, ui, [], ["confirm_row", "message"])
    on(ui.zip_btn.click, export_zip, tab, ui, ["first"], ["export_file", "message"])
    on(ui.merge_btn.click, export_merged, tab, ui, ["first"], "message")
    on(ui.gguf_btn.click, export_gguf, tab, ui, ["first", "gguf_type"], "message")
    return {"load": loader(opened, tab, ui, picked, [*LISTING, "curves"])}


def build(root: Path, forced_lang: str | None = None) -> dict:
    return wire(layout(forced_lang or "en"), Tab(root, forced_lang))
