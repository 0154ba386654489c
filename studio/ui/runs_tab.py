"""Runs tab: every run in one table; two runs compared (settings that differ, curves overlaid,
evaluations); delete with a confirmation; resume; publish to demo mode; export the adapter or
the merged model."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import service
from studio.train import export
from studio.ui import views
from studio.ui.actions import on_run
from studio.ui.i18n import T

USER_ERRORS = (ValueError, RuntimeError, OSError)


def build(root: Path) -> dict:
    table = gr.Dataframe(views.runs_frame([]), interactive=False, label=T("runs.table"), elem_id="runs-table")
    with gr.Row():
        first = gr.Dropdown(label=T("runs.first"), choices=[], elem_id="runs-first")
        second = gr.Dropdown(label=T("runs.second"), choices=[], elem_id="runs-second")
        refresh_btn = gr.Button(T("common.refresh"), scale=0)
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
    differences = gr.Markdown(elem_id="runs-differences")
    curves = gr.LinePlot(views.loss_frame([]), x="step", y="loss", color="series", title=T("runs.curves"), height=300)
    with gr.Row():
        eval_first = gr.Markdown()
        eval_second = gr.Markdown()
    with gr.Accordion(T("runs.export"), open=False):
        gr.Markdown(T("runs.export_help"))
        with gr.Row():
            zip_btn = gr.Button(T("runs.export_zip"))
            merge_btn = gr.Button(T("runs.export_merged"))
        export_file = gr.File(label=T("runs.export_file"), interactive=False, height=60)

    def refresh(a=None, b=None):
        rows = service.list_runs(root)
        ids = [r["run_id"] for r in rows]
        a = a if a in ids else (ids[0] if ids else None)
        b = b if b in ids else (ids[1] if len(ids) > 1 else None)
        return views.runs_frame(rows), gr.update(choices=ids, value=a), gr.update(choices=ids, value=b)

    def compare(a, b):
        if not a or not b or a == b:
            return "**Error:** pick two different runs.", "", views.loss_frame([]), "", ""
        try:
            result = service.compare_runs(root, a, b)
        except USER_ERRORS as e:
            return f"**Error:** {e}", "", views.loss_frame([]), "", ""
        evals = [f"**{v['run_id']}**\n\n{views.eval_markdown(v['eval']) or 'No evaluation yet.'}" for v in result["views"]]
        return "", views.differences_markdown(result), views.overlaid_loss_frame(result["views"]), *evals

    def ask_delete(a):
        if not a:
            return gr.update(visible=False), "", "**Error:** pick the run to delete (first run)."
        return (gr.update(visible=True), f"Delete run **{a}**? Its folder goes: settings, checkpoints, adapter, curves "
                f"and evaluation. Corpora, other runs and drafts stay.", "")

    def delete(a, b):
        try:
            service.delete_run(root, a)
        except USER_ERRORS as e:
            return gr.update(visible=False), f"**Error:** {e}", *refresh(None, b)
        return gr.update(visible=False), f"Deleted run `{a}`.", *refresh(None, b)

    def export_zip(a):
        if not a:
            return None, "**Error:** pick a run (first run)."
        try:
            return str(export.adapter_zip(root, a)), f"Adapter of `{a}` exported."
        except USER_ERRORS as e:
            return None, f"**Error:** {e}"

    def export_merged(a):
        if not a:
            return "**Error:** pick a run (first run)."
        try:
            folder = export.merged_model(root, a)
        except USER_ERRORS as e:
            return f"**Error:** {e}"
        return (f"Merged model written to `{folder}`: load it with `AutoModelForCausalLM.from_pretrained` or, for "
                f"Ollama, run `ollama create {a} -f Modelfile` in that folder.")

    refresh_btn.click(refresh, [first, second], [table, first, second])
    compare_btn.click(compare, [first, second], [message, differences, curves, eval_first, eval_second])
    resume_btn.click(on_run(root, service.resume_run, "Resumed run `{run}`: follow it in the Train tab.", USER_ERRORS),
                     first, message)
    publish_btn.click(on_run(root, service.publish_run, "Run `{run}` is shown in demo mode.", USER_ERRORS), first,
                      message).then(refresh, [first, second], [table, first, second])
    unpublish_btn.click(on_run(root, lambda r, a: service.publish_run(r, a, False), "Run `{run}` is hidden from demo mode.",
                               USER_ERRORS), first, message).then(refresh, [first, second], [table, first, second])
    delete_btn.click(ask_delete, first, [confirm_row, confirm_text, message])
    confirm_btn.click(delete, [first, second], [confirm_row, message, table, first, second])
    keep_btn.click(lambda: (gr.update(visible=False), "Nothing deleted."), None, [confirm_row, message])
    zip_btn.click(export_zip, first, [export_file, message])
    merge_btn.click(export_merged, first, message)
    return {"load": (refresh, [first, second], [table, first, second])}
