"""Train tab: a simple view (corpus, preset, model, epochs) and an advanced view with every
TrainConfig field, an estimate of tokens, time and memory before the start; then progress, loss
and learning-rate curves live, cancel and resume.

Everything shown is read back from the run folder on each tick, so a page reload or an app
restart shows the run again exactly where it is.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import TrainConfig
from studio.ui.actions import on_run
from studio.ui.i18n import T, request_lang
from studio.messages import say
from studio.ui.views import (LOSS_COLOURS, eval_markdown, estimate_markdown, loss_frame, loss_series, lr_frame,
                             progress_html, runs_choices, sweep_frame)

POLL_SECONDS = 2
USER_ERRORS = (ValueError, RuntimeError)
SIMPLE = ("model", "epochs", "init_adapter")  # shown in the simple view; corpus and preset have their own pickers
BLEND_FIELDS = ("blend_of", "blend_method", "blend_density")  # blends are made in the Runs tab
ADVANCED = [f for f in dataclasses.fields(TrainConfig) if f.name not in ("corpus", "corpus_version", *SIMPLE, *BLEND_FIELDS)]


def field_input(f: dataclasses.Field, value):
    label, info = T(f"setting.train.{f.name}"), T(f"setting.train.{f.name}.help")
    if f.metadata.get("choices"):
        return gr.Dropdown(label=label, info=info, choices=list(f.metadata["choices"]), value=value)
    if isinstance(f.default, bool):
        return gr.Checkbox(label=label, info=info, value=value)
    if isinstance(f.default, (int, float)):
        return gr.Number(label=label, info=info, value=value, precision=0 if isinstance(f.default, int) else None)
    return gr.Textbox(label=label, info=info, value=value, max_lines=1)


def build(root: Path, default_model: str, forced_lang: str | None = None) -> dict:
    presets = {p["name"]: p for p in service.presets()}
    first = "quick-cpu-demo" if "quick-cpu-demo" in presets else next(iter(presets), None)
    start_values = presets[first]["values"] if first else {}
    with gr.Row():
        corpus = gr.Dropdown(label=T("train.corpus"), choices=[], allow_custom_value=False, elem_id="train-corpus")
        preset = gr.Dropdown(label=T("train.preset"), choices=list(presets), value=first, elem_id="train-preset")
        model = gr.Textbox(label=T("train.model"), value=default_model, max_lines=1, info=T("train.model_help"),
                           elem_id="train-model")
        epochs = gr.Number(label=T("train.epochs"), elem_id="train-epochs", value=start_values.get("epochs", 1), info=T("train.epochs_help"))
    parent = gr.Dropdown(label=T("train.continue_from"), info=T("train.continue_from_help"), choices=[("—", "")],
                         value="", elem_id="train-continue-from")
    preset_help = gr.Markdown(presets[first]["description"] if first else "")
    with gr.Accordion(T("train.advanced"), open=False):
        advanced = []
        for i in range(0, len(ADVANCED), 3):
            with gr.Row():
                advanced += [field_input(f, start_values.get(f.name, f.default)) for f in ADVANCED[i:i + 3]]
    estimate = gr.Markdown(elem_id="train-estimate")
    with gr.Row():
        train_btn = gr.Button(T("train.train"), variant="primary", elem_id="train-start")
        cancel_btn = gr.Button(T("train.cancel"), variant="stop")
        resume_btn = gr.Button(T("train.resume"))
        refresh_btn = gr.Button(T("train.refresh"))
    message = gr.Markdown(elem_id="train-message")
    run = gr.Dropdown(label=T("train.run"), choices=[], elem_id="run-picker")
    progress = gr.HTML(progress_html(None, forced_lang or "en"), elem_id="run-progress")
    with gr.Row():
        plot = gr.LinePlot(loss_frame([]), x="step", y="loss", color="series", title=T("train.loss"), x_title=T("plot.step"),
                           y_title=T("plot.loss"), color_title=T("plot.series"),
                           height=280, elem_id="loss-plot", color_map=LOSS_COLOURS,
                           colors_in_legend=loss_series(forced_lang or "en"))
        lr_plot = gr.LinePlot(lr_frame([]), x="step", y="learning rate", title=T("train.lr"), height=280,
                              x_title=T("plot.step"), y_title=T("plot.lr"),
                              elem_id="lr-plot")
    evaluation = gr.Markdown(elem_id="run-eval")
    with gr.Accordion(T("train.sweep"), open=False):
        gr.Markdown(T("train.sweep_help"))
        with gr.Row():
            sweep_trials = gr.Number(label=T("train.trials"), value=6, precision=0)
            sweep_sampler = gr.Dropdown(label=T("train.sampler"), choices=["tpe", "random", "grid"], value="tpe")
            sweep_steps = gr.Number(label=T("train.trial_steps"), value=20, precision=0, info=T("train.trial_steps_help"))
            sweep_btn = gr.Button(T("train.start_sweep"))
        sweep_pick = gr.Dropdown(label=T("train.sweep_pick"), choices=[])
        sweep_table = gr.Dataframe(sweep_frame([]), interactive=False, elem_id="sweep-table")
    timer = gr.Timer(POLL_SECONDS)

    def settings(model_name, epochs_value, parent_run, *values) -> list[str]:
        """The form as KEY=VALUE overrides on top of the preset."""
        pairs = [("model", (model_name or "").strip()), ("epochs", epochs_value), ("init_adapter", parent_run)]
        pairs += [(f.name, v) for f, v in zip(ADVANCED, values)]
        return [f"{k}={int(v) if isinstance(v, float) and v.is_integer() and isinstance(getattr(TrainConfig, k, 0), int) else v}"
                for k, v in pairs if v is not None and v != ""]

    def lists(selected=None):
        rows = service.list_runs(root)
        names = [c["name"] for c in service.corpora(root)]
        choices = runs_choices(rows)
        keep = selected if selected in [c[1] for c in choices] else (choices[0][1] if choices else None)
        sweeps = [s["sweep_id"] for s in service.list_sweeps(root)]
        parents = [("—", "")] + [(r["run_id"], r["run_id"]) for r in rows if r["has_adapter"]]
        return (gr.update(choices=names, value=names[-1] if names else None), gr.update(choices=choices, value=keep),
                gr.update(choices=sweeps, value=sweeps[0] if sweeps else None), gr.update(choices=parents))

    def parent_model(parent_run, model_name):
        """Continuing a run keeps its base model: the model field follows the picked parent."""
        return service.run_view(root, parent_run)["config"]["model"] if parent_run else model_name

    def show(request: gr.Request, run_id):
        lang = request_lang(request, forced_lang)
        if not run_id:
            return progress_html(None, lang), loss_frame([], lang), lr_frame([]), ""
        view = service.run_view(root, run_id)
        return (progress_html(view, lang), loss_frame(view["events"], lang), lr_frame(view["events"]),
                eval_markdown(view["eval"], lang))

    def described(name, lang: str) -> str:
        preset_found = presets.get(name, {})
        return (lang == "zh" and preset_found.get("description_zh")) or preset_found.get("description", "")

    def fill_from_preset(request: gr.Request, name):
        values = presets[name]["values"] if name in presets else {}
        return ([described(name, request_lang(request, forced_lang)), values.get("epochs", 1)]
                + [values.get(f.name, f.default) for f in ADVANCED])

    def on_load(request: gr.Request, name, selected):
        lang = request_lang(request, forced_lang)
        return [described(name, lang), *lists(selected), gr.update(colors_in_legend=loss_series(lang))]

    def estimate_now(request: gr.Request, corpus_name, preset_name, model_name, epochs_value, parent_run, *values):
        lang = request_lang(request, forced_lang)
        if not corpus_name or not preset_name:
            return say(lang, "estimate.pick")
        try:
            return estimate_markdown(service.training_estimate(root, corpus_name, preset_name,
                                                               settings(model_name, epochs_value, parent_run, *values)), lang)
        except USER_ERRORS as e:
            return say(lang, "estimate.cannot", error=e)

    def start(request: gr.Request, corpus_name, preset_name, model_name, epochs_value, parent_run, *values):
        lang = request_lang(request, forced_lang)
        if not corpus_name:
            return say(lang, "error", error=say(lang, "error.no_corpus")), gr.update()
        try:
            run_id = service.start_training(root, corpus_name, preset_name,
                                            settings(model_name, epochs_value, parent_run, *values))
        except USER_ERRORS as e:
            return say(lang, "error", error=e), gr.update()
        rows = service.list_runs(root)
        return say(lang, "run.started", run=run_id), gr.update(choices=runs_choices(rows), value=run_id)

    cancel = on_run(root, service.cancel_run, "run.cancelling", USER_ERRORS, forced_lang)
    resume = on_run(root, service.resume_run, "run.resuming", USER_ERRORS, forced_lang)

    def start_sweep(request: gr.Request, trials, sampler, steps, corpus_name, preset_name, model_name, epochs_value,
                    parent_run, *values):
        lang = request_lang(request, forced_lang)
        if not corpus_name:
            return say(lang, "error", error=say(lang, "error.no_corpus")), gr.update()
        try:
            sweep_id = service.start_sweep(root, corpus_name, preset_name, int(trials or 0), sampler, int(steps or 0),
                                           settings(model_name, epochs_value, parent_run, *values))
        except USER_ERRORS as e:
            return say(lang, "error", error=e), gr.update()
        ids = [s["sweep_id"] for s in service.list_sweeps(root)]
        return say(lang, "sweep.started", sweep=sweep_id), gr.update(choices=ids, value=sweep_id)

    def show_sweep(request: gr.Request, sweep_id):
        lang = request_lang(request, forced_lang)
        return sweep_frame(service.sweep_trials(root, sweep_id) if sweep_id else [], lang)

    form = [corpus, preset, model, epochs, parent, *advanced]
    sweep_btn.click(start_sweep, [sweep_trials, sweep_sampler, sweep_steps, *form], [message, sweep_pick])
    sweep_pick.change(show_sweep, sweep_pick, sweep_table)
    timer.tick(show_sweep, sweep_pick, sweep_table)
    preset.change(fill_from_preset, preset, [preset_help, epochs, *advanced]).then(estimate_now, form, estimate)
    for component in (corpus, model, epochs):
        component.change(estimate_now, form, estimate)
    train_btn.click(start, form, [message, run])
    cancel_btn.click(cancel, run, message)
    resume_btn.click(resume, run, message)
    refresh_btn.click(lists, run, [corpus, run, sweep_pick, parent])
    parent.change(parent_model, [parent, model], model)
    run.change(show, run, [progress, plot, lr_plot, evaluation])
    timer.tick(show, run, [progress, plot, lr_plot, evaluation])
    return {"load": (on_load, [preset, run], [preset_help, corpus, run, sweep_pick, parent, plot])}
