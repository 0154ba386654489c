"""Train tab: pick corpus and preset, start, watch progress and loss live, cancel.

Everything shown is read back from the run folder on each tick, so a page reload or an app
restart shows the run again exactly where it is.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import service
from studio.ui.views import eval_markdown, loss_frame, progress_html, runs_choices

POLL_SECONDS = 2
USER_ERRORS = (ValueError, RuntimeError)


def build(root: Path, default_model: str) -> dict:
    presets = {p["name"]: p["description"] for p in service.presets()}
    with gr.Row():
        corpus = gr.Dropdown(label="Corpus", choices=[], allow_custom_value=False)
        preset = gr.Dropdown(label="Preset", choices=list(presets), value="quick-cpu-demo" if "quick-cpu-demo" in presets else None)
        model = gr.Textbox(label="Base model", value=default_model, max_lines=1,
                           info="A name from presets/models.yaml, a hub id, or a local folder.")
    preset_help = gr.Markdown(presets.get("quick-cpu-demo", ""))
    with gr.Row():
        train_btn = gr.Button("Train", variant="primary")
        cancel_btn = gr.Button("Cancel run", variant="stop")
        refresh_btn = gr.Button("Refresh lists")
    message = gr.Markdown()
    run = gr.Dropdown(label="Run", choices=[], elem_id="run-picker")
    progress = gr.HTML(progress_html(None), elem_id="run-progress")
    plot = gr.LinePlot(loss_frame([]), x="step", y="loss", color="series", title="Loss", height=280, elem_id="loss-plot")
    evaluation = gr.Markdown(elem_id="run-eval")
    timer = gr.Timer(POLL_SECONDS)

    def lists(selected=None):
        rows = service.list_runs(root)
        names = [c["name"] for c in service.corpora(root)]
        choices = runs_choices(rows)
        keep = selected if selected in [c[1] for c in choices] else (choices[0][1] if choices else None)
        return gr.update(choices=names, value=names[-1] if names else None), gr.update(choices=choices, value=keep)

    def show(run_id):
        if not run_id:
            return progress_html(None), loss_frame([]), ""
        view = service.run_view(root, run_id)
        return progress_html(view), loss_frame(view["events"]), eval_markdown(view["eval"])

    def start(corpus_name, preset_name, model_name):
        if not corpus_name:
            return "**Error:** ingest a corpus first (Corpus tab), then pick it here.", gr.update()
        try:
            run_id = service.start_training(root, corpus_name, preset_name, model=model_name.strip())
        except USER_ERRORS as e:
            return f"**Error:** {e}", gr.update()
        rows = service.list_runs(root)
        return f"Started run `{run_id}`.", gr.update(choices=runs_choices(rows), value=run_id)

    def cancel(run_id):
        if not run_id:
            return "**Error:** no run selected."
        try:
            service.cancel_run(root, run_id)
            return f"Cancelling `{run_id}`: it saves a checkpoint and stops."
        except USER_ERRORS as e:
            return f"**Error:** {e}"

    preset.change(lambda p: presets.get(p, ""), preset, preset_help)
    train_btn.click(start, [corpus, preset, model], [message, run])
    cancel_btn.click(cancel, run, message)
    refresh_btn.click(lists, run, [corpus, run])
    run.change(show, run, [progress, plot, evaluation])
    timer.tick(show, run, [progress, plot, evaluation])
    return {"load": (lists, None, [corpus, run])}
