"""Runs tab: every run in one table; two runs compared (settings that differ, curves overlaid,
evaluations); delete with a confirmation; resume; publish to demo mode; export the adapter, the
merged model, or a GGUF file."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import service
from studio.config import BLEND_METHODS
from studio.train import export
from studio.ui import views
from studio.ui.actions import on_run
from studio.ui.i18n import T, request_lang
from studio.messages import say

USER_ERRORS = (ValueError, RuntimeError, OSError)


def build(root: Path, forced_lang: str | None = None) -> dict:
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
    lineage = gr.Markdown(elem_id="runs-lineage")
    differences = gr.Markdown(elem_id="runs-differences")
    curves = gr.LinePlot(views.overlaid_loss_frame([]), x="step", y="loss", color="series", title=T("runs.curves"), height=300,
                         x_title=T("plot.step"), y_title=T("plot.loss"), color_title=T("plot.series"),
                         elem_id="runs-curves", color_map=views.COMPARED_COLOURS,
                         colors_in_legend=views.compared_series(forced_lang or "en"))
    with gr.Row():
        eval_first = gr.Markdown()
        eval_second = gr.Markdown()
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

    def refresh(request: gr.Request, a=None, b=None):
        return listed(request_lang(request, forced_lang), a, b)

    def listed(lang: str, a=None, b=None):
        rows = service.list_runs(root)
        ids = [r["run_id"] for r in rows]
        a = a if a in ids else (ids[0] if ids else None)
        others = [i for i in ids if i != a]
        b = b if b in others else (others[0] if others else None)  # the second pick defaults to another run
        finished = [r["run_id"] for r in rows if r["has_adapter"]]
        return (views.runs_frame(rows, lang), gr.update(choices=ids, value=a), gr.update(choices=ids, value=b),
                gr.update(choices=finished))

    def show_lineage(request: gr.Request, a):
        return views.lineage_line(service.run_lineage(root, a), request_lang(request, forced_lang)) if a else ""

    def blend(request: gr.Request, picked, weights, method):
        lang = request_lang(request, forced_lang)
        picked = picked or []
        if not 2 <= len(picked) <= 3:
            return say(lang, "error", error=say(lang, "blend.pick")), *listed(lang)
        given = [w.strip() for w in (weights or "").split(",") if w.strip()] or [f"{1 / len(picked):g}"] * len(picked)
        if len(given) != len(picked):
            return say(lang, "error", error=say(lang, "blend.weights", weights=weights)), *listed(lang)
        try:
            run_id = service.start_blend(root, ", ".join(f"{r}:{w}" for r, w in zip(picked, given)), method)
        except USER_ERRORS as e:
            return say(lang, "error", error=e), *listed(lang)
        return say(lang, "blend.started", run=run_id), *listed(lang)

    def compare(request: gr.Request, a, b):
        lang = request_lang(request, forced_lang)
        if not a or not b or a == b:
            return say(lang, "error", error=say(lang, "run.pick_two")), "", views.overlaid_loss_frame([], lang), "", ""
        try:
            result = service.compare_runs(root, a, b)
        except USER_ERRORS as e:
            return say(lang, "error", error=e), "", views.overlaid_loss_frame([], lang), "", ""
        evals = [f"**{v['run_id']}**\n\n{views.eval_markdown(v['eval'], lang) or say(lang, 'eval.none')}"
                 for v in result["views"]]
        return "", views.differences_markdown(result, lang), views.overlaid_loss_frame(result["views"], lang), *evals

    def ask_delete(request: gr.Request, a):
        lang = request_lang(request, forced_lang)
        if not a:
            return gr.update(visible=False), "", say(lang, "error", error=say(lang, "run.pick_first"))
        return gr.update(visible=True), say(lang, "run.delete_ask", run=a), ""

    def delete(request: gr.Request, a, b):
        lang = request_lang(request, forced_lang)
        try:
            service.delete_run(root, a)
        except USER_ERRORS as e:
            return gr.update(visible=False), say(lang, "error", error=e), *listed(lang, None, b)
        return gr.update(visible=False), say(lang, "run.deleted", run=a), *listed(lang, None, b)

    def keep(request: gr.Request):
        return gr.update(visible=False), say(request_lang(request, forced_lang), "run.kept")

    def export_zip(request: gr.Request, a):
        lang = request_lang(request, forced_lang)
        if not a:
            return None, say(lang, "error", error=say(lang, "run.pick_first"))
        try:
            return str(export.adapter_zip(root, a)), say(lang, "export.zip_done", run=a)
        except USER_ERRORS as e:
            return None, say(lang, "error", error=e)

    def export_merged(request: gr.Request, a):
        lang = request_lang(request, forced_lang)
        if not a:
            return say(lang, "error", error=say(lang, "run.pick_first"))
        try:
            folder = export.merged_model(root, a)
        except USER_ERRORS as e:
            return say(lang, "error", error=e)
        return say(lang, "export.merged_done", folder=folder, run=a)

    def export_gguf(request: gr.Request, a, quant):
        lang = request_lang(request, forced_lang)
        if not a:
            return say(lang, "error", error=say(lang, "run.pick_first"))
        try:
            folder = export.gguf_model(root, a, quant)
        except USER_ERRORS as e:
            return say(lang, "error", error=e)
        gguf = next(folder.glob("*.gguf"))
        return say(lang, "export.gguf_done", file=gguf, size=gguf.stat().st_size / 1e6, run=a, folder=folder)

    def acting(action, done):
        return on_run(root, action, done, USER_ERRORS, forced_lang)

    listing = [table, first, second, blend_pick]
    refresh_btn.click(refresh, [first, second], listing)
    first.change(show_lineage, first, lineage)
    blend_btn.click(blend, [blend_pick, blend_weights, blend_method], [message, *listing])
    compare_btn.click(compare, [first, second], [message, differences, curves, eval_first, eval_second])
    resume_btn.click(acting(service.resume_run, "run.resumed"), first, message)
    publish_btn.click(acting(service.publish_run, "run.published"), first,
                      message).then(refresh, [first, second], listing)
    unpublish_btn.click(acting(lambda r, a: service.publish_run(r, a, False), "run.hidden"), first,
                        message).then(refresh, [first, second], listing)
    delete_btn.click(ask_delete, first, [confirm_row, confirm_text, message])
    confirm_btn.click(delete, [first, second], [confirm_row, message, *listing])
    keep_btn.click(keep, None, [confirm_row, message])
    zip_btn.click(export_zip, first, [export_file, message])
    merge_btn.click(export_merged, first, message)
    gguf_btn.click(export_gguf, [first, gguf_type], message)

    def opened(request: gr.Request, a=None, b=None):
        lang = request_lang(request, forced_lang)
        return *listed(lang, a, b), gr.update(colors_in_legend=views.compared_series(lang))

    return {"load": (opened, [first, second], [*listing, curves])}
