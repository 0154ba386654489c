"""Train tab: a simple view (corpus, preset, model, epochs) and an advanced view with every
TrainConfig field, an estimate of tokens, time and memory before the start; then progress, loss
and learning-rate curves live, cancel and resume.

Everything shown is read back from the run folder on each tick, so a page reload or an app
restart shows the run again exactly where it is. The form becomes a TrainConfig through
`config.from_dict` (the preset's values, then the form's over them): no key=value strings.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import TrainConfig, from_dict
from studio.messages import say
from studio.ui.actions import act_on_run
from studio.ui.i18n import T
from studio.ui.views import (LOSS_COLOURS, eval_markdown, estimate_markdown, loss_frame, loss_series, lr_frame,
                             progress_html, runs_choices, sweep_frame)
from studio.ui.wiring import Call, Tab, loader, on

POLL_SECONDS = 2
USER_ERRORS = (ValueError, RuntimeError)
SIMPLE = ("model", "epochs", "time_budget_min", "init_adapter")  # shown in the simple view; corpus and preset have their own pickers
BLEND_FIELDS = ("blend_of", "blend_method", "blend_density")  # blends are made in the Runs tab
PROCESSES = ("shard",)  # shown beside the process count
ADVANCED = [f for f in dataclasses.fields(TrainConfig)
            if f.name not in ("corpus", "corpus_version", *SIMPLE, *BLEND_FIELDS, *PROCESSES)]
SHARD = next(f for f in dataclasses.fields(TrainConfig) if f.name == "shard")


# -- layout ---------------------------------------------------------------------------------
@dataclass
class TrainLayout:
    corpus: gr.Dropdown
    preset: gr.Dropdown
    model: gr.Textbox
    epochs: gr.Number
    budget: gr.Number
    parent: gr.Dropdown
    preset_help: gr.Markdown
    advanced: list  # one input per ADVANCED field, in that order
    nproc: gr.Number
    shard: gr.Checkbox
    estimate: gr.Markdown
    train_btn: gr.Button
    cancel_btn: gr.Button
    resume_btn: gr.Button
    refresh_btn: gr.Button
    message: gr.Markdown
    run: gr.Dropdown
    progress: gr.HTML
    plot: gr.LinePlot
    lr_plot: gr.LinePlot
    evaluation: gr.Markdown
    sweep_trials: gr.Number
    sweep_sampler: gr.Dropdown
    sweep_steps: gr.Number
    sweep_btn: gr.Button
    sweep_pick: gr.Dropdown
    sweep_table: gr.Dataframe
    timer: gr.Timer


def field_input(f: dataclasses.Field, value):
    label, info = T(f"setting.train.{f.name}"), T(f"setting.train.{f.name}.help")
    if f.metadata.get("choices"):
        return gr.Dropdown(label=label, info=info, choices=list(f.metadata["choices"]), value=value)
    if isinstance(f.default, bool):
        return gr.Checkbox(label=label, info=info, value=value)
    if isinstance(f.default, (int, float)):
        return gr.Number(label=label, info=info, value=value, precision=0 if isinstance(f.default, int) else None)
    return gr.Textbox(label=label, info=info, value=value, max_lines=1)


def _form(default_model: str) -> dict:
    presets = {p["name"]: p for p in service.presets()}
    first = "quick-cpu-demo" if "quick-cpu-demo" in presets else next(iter(presets), None)
    start_values = presets[first]["values"] if first else {}
    with gr.Row():
        corpus = gr.Dropdown(label=T("train.corpus"), choices=[], allow_custom_value=False, elem_id="train-corpus")
        preset = gr.Dropdown(label=T("train.preset"), choices=list(presets), value=first, elem_id="train-preset")
        model = gr.Textbox(label=T("train.model"), value=default_model, max_lines=1, info=T("train.model_help"),
                           elem_id="train-model")
        epochs = gr.Number(label=T("train.epochs"), elem_id="train-epochs", value=start_values.get("epochs", 1),
                           info=T("train.epochs_help"))
        budget = gr.Number(label=T("train.budget"), elem_id="train-budget", value=start_values.get("time_budget_min", 0),
                           info=T("train.budget_help"), minimum=0)
    parent = gr.Dropdown(label=T("train.continue_from"), info=T("train.continue_from_help"), choices=[("—", "")],
                         value="", elem_id="train-continue-from")
    preset_help = gr.Markdown(presets[first]["description"] if first else "")
    with gr.Accordion(T("train.advanced"), open=False):
        advanced = []
        for i in range(0, len(ADVANCED), 3):
            with gr.Row():
                advanced += [field_input(f, start_values.get(f.name, f.default)) for f in ADVANCED[i:i + 3]]
        with gr.Row():
            nproc = gr.Number(label=T("train.processes"), info=T("train.processes_help"), value=1, precision=0,
                              minimum=1, elem_id="train-nproc")
            shard = field_input(SHARD, start_values.get("shard", False))
    estimate = gr.Markdown(elem_id="train-estimate")
    with gr.Row():
        train_btn = gr.Button(T("train.train"), variant="primary", elem_id="train-start")
        cancel_btn = gr.Button(T("train.cancel"), variant="stop")
        resume_btn = gr.Button(T("train.resume"))
        refresh_btn = gr.Button(T("train.refresh"))
    message = gr.Markdown(elem_id="train-message")
    return dict(corpus=corpus, preset=preset, model=model, epochs=epochs, budget=budget, parent=parent,
                preset_help=preset_help, advanced=advanced, nproc=nproc, shard=shard, estimate=estimate,
                train_btn=train_btn, cancel_btn=cancel_btn,
                resume_btn=resume_btn, refresh_btn=refresh_btn, message=message)


def _run_view(lang: str) -> dict:
    run = gr.Dropdown(label=T("train.run"), choices=[], elem_id="run-picker")
    progress = gr.HTML(progress_html(None, lang), elem_id="run-progress")
    with gr.Row():
        plot = gr.LinePlot(loss_frame([]), x="step", y="loss", color="series", title=T("train.loss"),
                           x_title=T("plot.step"), y_title=T("plot.loss"), color_title=T("plot.series"),
                           height=280, elem_id="loss-plot", color_map=LOSS_COLOURS, colors_in_legend=loss_series(lang))
        lr_plot = gr.LinePlot(lr_frame([]), x="step", y="learning rate", title=T("train.lr"), height=280,
                              x_title=T("plot.step"), y_title=T("plot.lr"), elem_id="lr-plot")
    evaluation = gr.Markdown(elem_id="run-eval")
    return dict(run=run, progress=progress, plot=plot, lr_plot=lr_plot, evaluation=evaluation)


def _sweep() -> dict:
    with gr.Accordion(T("train.sweep"), open=False):
        gr.Markdown(T("train.sweep_help"))
        with gr.Row():
            sweep_trials = gr.Number(label=T("train.trials"), value=6, precision=0)
            sweep_sampler = gr.Dropdown(label=T("train.sampler"), choices=["tpe", "random", "grid"], value="tpe")
            sweep_steps = gr.Number(label=T("train.trial_steps"), value=20, precision=0, info=T("train.trial_steps_help"))
            sweep_btn = gr.Button(T("train.start_sweep"))
        sweep_pick = gr.Dropdown(label=T("train.sweep_pick"), choices=[])
        sweep_table = gr.Dataframe(sweep_frame([]), interactive=False, elem_id="sweep-table")
    return dict(sweep_trials=sweep_trials, sweep_sampler=sweep_sampler, sweep_steps=sweep_steps, sweep_btn=sweep_btn,
                sweep_pick=sweep_pick, sweep_table=sweep_table)


def layout(default_model: str, lang: str = "en") -> TrainLayout:
    parts = {**_form(default_model), **_run_view(lang), **_sweep()}
    return TrainLayout(**parts, timer=gr.Timer(POLL_SECONDS))


# -- handlers -------------------------------------------------------------------------------
@dataclass
class TrainForm:
    """The Train form as its handlers get it (fields name the layout's inputs, in endpoint order)."""
    corpus: str | None
    preset: str | None
    model: str | None
    epochs: float | None
    parent: str | None
    advanced: list
    nproc: float | None = 1
    shard: bool | None = None
    budget: float | None = None  # minutes; empty means no budget (not the preset's)

    def values(self) -> dict:
        """The settings the form gives; an empty box leaves the preset's value, but an empty
        budget is no budget."""
        given = {"model": (self.model or "").strip(), "epochs": self.epochs, "init_adapter": self.parent, "shard": self.shard}
        given.update({f.name: v for f, v in zip(ADVANCED, self.advanced)})
        return {k: v for k, v in given.items() if v is not None and v != ""} | {"time_budget_min": self.budget or 0}

    def config(self, lang: str) -> TrainConfig:
        """The preset's values, then the form's over them, as one TrainConfig."""
        preset = next((p["values"] for p in service.presets() if p["name"] == self.preset), None)
        if preset is None:
            raise ValueError(say(lang, "estimate.pick"))
        return from_dict(TrainConfig, {**preset, "corpus": self.corpus, **self.values()}, source=say(lang, "train.form"))


@dataclass
class SweepForm:
    sweep_trials: float | None
    sweep_sampler: str
    sweep_steps: float | None
    corpus: str | None
    preset: str | None
    model: str | None
    epochs: float | None
    parent: str | None
    advanced: list
    budget: float | None = None

    def train(self) -> TrainForm:
        return TrainForm(self.corpus, self.preset, self.model, self.epochs, self.parent, self.advanced, budget=self.budget)


def lists(call: Call, selected: str | None = None) -> dict:
    rows = service.list_runs(call.root)
    names = [c["name"] for c in service.corpora(call.root)]
    choices = runs_choices(rows)
    keep = selected if selected in [c[1] for c in choices] else (choices[0][1] if choices else None)
    sweeps = [s["sweep_id"] for s in service.list_sweeps(call.root)]
    parents = [("—", "")] + [(r["run_id"], r["run_id"]) for r in rows if r["has_adapter"]]
    return {"corpus": gr.update(choices=names, value=names[-1] if names else None),
            "run": gr.update(choices=choices, value=keep),
            "sweep_pick": gr.update(choices=sweeps, value=sweeps[0] if sweeps else None),
            "parent": gr.update(choices=parents)}


def parent_model(call: Call, parent: str | None, model: str | None):
    """Continuing a run keeps its base model: the model field follows the picked parent."""
    return service.run_view(call.root, parent).config.model if parent else model


def show(call: Call, run_id: str | None) -> dict:
    if not run_id:
        return {"progress": progress_html(None, call.lang), "plot": loss_frame([], call.lang), "lr_plot": lr_frame([]),
                "evaluation": ""}
    view = service.run_view(call.root, run_id)
    return {"progress": progress_html(view, call.lang), "plot": loss_frame(view.events, call.lang),
            "lr_plot": lr_frame(view.events), "evaluation": eval_markdown(view.evaluation, call.lang)}


def described(name: str | None, lang: str) -> str:
    found = next((p for p in service.presets() if p["name"] == name), {})
    return (lang == "zh" and found.get("description_zh")) or found.get("description", "")


def fill_from_preset(call: Call, name: str | None) -> dict:
    values = next((p["values"] for p in service.presets() if p["name"] == name), {})
    return {"preset_help": described(name, call.lang), "epochs": values.get("epochs", 1),
            "budget": values.get("time_budget_min", 0), "advanced": [values.get(f.name, f.default) for f in ADVANCED],
            "shard": values.get("shard", SHARD.default)}


def on_load(call: Call, preset: str | None, run_id: str | None) -> dict:
    return {"preset_help": described(preset, call.lang), **lists(call, run_id),
            "plot": gr.update(colors_in_legend=loss_series(call.lang))}


def estimate_now(call: Call, form: TrainForm) -> str:
    if not form.corpus or not form.preset:
        return say(call.lang, "estimate.pick")
    try:
        estimate = service.training_estimate_config(call.root, form.config(call.lang), int(form.nproc or 1))
        return estimate_markdown(estimate, call.lang)
    except USER_ERRORS as e:
        return say(call.lang, "estimate.cannot", error=e)


def start(call: Call, form: TrainForm) -> dict:
    if not form.corpus:
        return {"message": say(call.lang, "error", error=say(call.lang, "error.no_corpus"))}
    try:
        run_id = service.start_training_config(call.root, form.config(call.lang), form.preset, int(form.nproc or 1))
    except USER_ERRORS as e:
        return {"message": say(call.lang, "error", error=e)}
    rows = service.list_runs(call.root)
    return {"message": say(call.lang, "run.started", run=run_id), "run": gr.update(choices=runs_choices(rows), value=run_id)}


def cancel(call: Call, run_id: str | None) -> str:
    return act_on_run(call, run_id, service.cancel_run, "run.cancelling")


def resume(call: Call, run_id: str | None) -> str:
    return act_on_run(call, run_id, service.resume_run, "run.resuming")


def start_sweep(call: Call, form: SweepForm) -> dict:
    if not form.corpus:
        return {"message": say(call.lang, "error", error=say(call.lang, "error.no_corpus"))}
    try:
        sweep_id = service.start_sweep_config(call.root, form.train().config(call.lang), form.preset,
                                              int(form.sweep_trials or 0), form.sweep_sampler, int(form.sweep_steps or 0))
    except USER_ERRORS as e:
        return {"message": say(call.lang, "error", error=e)}
    ids = [s["sweep_id"] for s in service.list_sweeps(call.root)]
    return {"message": say(call.lang, "sweep.started", sweep=sweep_id), "sweep_pick": gr.update(choices=ids, value=sweep_id)}


def show_sweep(call: Call, sweep_id: str | None):
    return sweep_frame(service.sweep_trials(call.root, sweep_id) if sweep_id else [], call.lang)


# -- wiring ---------------------------------------------------------------------------------
def wire(ui: TrainLayout, tab: Tab) -> dict:
    curves = ["progress", "plot", "lr_plot", "evaluation"]
    on(ui.sweep_btn.click, start_sweep, tab, ui, form=SweepForm, outputs=["message", "sweep_pick"])
    on(ui.sweep_pick.change, show_sweep, tab, ui, ["sweep_pick"], "sweep_table")
    on(ui.timer.tick, show_sweep, tab, ui, ["sweep_pick"], "sweep_table")
    filled = on(ui.preset.change, fill_from_preset, tab, ui, ["preset"], ["preset_help", "epochs", "budget", "advanced",
                                                                        "shard"])
    on(filled.then, estimate_now, tab, ui, form=TrainForm, outputs="estimate")
    for component in (ui.corpus, ui.model, ui.epochs, ui.budget, ui.nproc, ui.shard):
        on(component.change, estimate_now, tab, ui, form=TrainForm, outputs="estimate")
    on(ui.train_btn.click, start, tab, ui, form=TrainForm, outputs=["message", "run"])
    on(ui.cancel_btn.click, cancel, tab, ui, ["run"], "message")
    on(ui.resume_btn.click, resume, tab, ui, ["run"], "message")
    on(ui.refresh_btn.click, lists, tab, ui, ["run"], ["corpus", "run", "sweep_pick", "parent"])
    on(ui.parent.change, parent_model, tab, ui, ["parent", "model"], "model")
    on(ui.run.change, show, tab, ui, ["run"], curves)
    on(ui.timer.tick, show, tab, ui, ["run"], curves)
    return {"load": loader(on_load, tab, ui, ["preset", "run"], ["preset_help", "corpus", "run", "sweep_pick", "parent",
                                                                 "plot"])}


def build(root: Path, default_model: str, forced_lang: str | None = None) -> dict:
    return wire(layout(default_model, forced_lang or "en"), Tab(root, forced_lang, default_model=default_model))
