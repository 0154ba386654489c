"""Corpus tab: upload files (or take the sample), choose the mode, map fields, switch cleaning
rules, ingest; then the report, the length histogram and a browser of dropped items; and requests
made for a text corpus's passages, saved as its next version (pairs)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import CorpusConfig
from studio.messages import say
from studio.ui.i18n import T, text
from studio.ui.views import (HISTOGRAM_BINS, HISTOGRAM_X, HISTOGRAM_Y, corpus_report, dropped_frame, histogram_frame,
                             requests_frame)
from studio.ui.wiring import Call, Tab, loader, on

USER_ERRORS = (ValueError, RuntimeError)
MAPPING = ["text_field", "prompt_field", "response_field", "messages_field"]
SWITCHES = [f for f in dataclasses.fields(CorpusConfig) if isinstance(f.default, bool)]
NUMBERS = ["min_chars", "max_chars", "chunk_chars", "near_dup_threshold", "val_share", "seed"]
PAGE = 25
SHOWN = ["report", "histogram", "corpus_pick", "reason", "page", "dropped"]  # what an ingest shows


# -- layout ---------------------------------------------------------------------------------
@dataclass
class CorpusLayout:
    files: gr.File
    name: gr.Textbox
    mode: gr.Radio
    ingest_btn: gr.Button
    sample_btn: gr.Button
    mapping: list  # one textbox per MAPPING field
    switches: list  # one checkbox per SWITCHES field
    numbers: list  # one number per NUMBERS field
    report: gr.Markdown
    histogram: gr.BarPlot
    corpus_pick: gr.Dropdown
    reason: gr.Dropdown
    page: gr.Number
    dropped: gr.Dataframe
    req_corpus: gr.Dropdown
    req_source: gr.Dropdown
    req_model: gr.Textbox
    req_limit: gr.Number
    make_btn: gr.Button
    stop_btn: gr.Button
    req_status: gr.Markdown
    req_table: gr.Dataframe
    req_drop: gr.Textbox
    save_btn: gr.Button


def _upload() -> dict:
    gr.Markdown(T("corpus.help"))
    with gr.Row():
        files = gr.File(label=T("corpus.files"), elem_id="corpus-files", file_count="multiple",
                        file_types=list(service.CORPUS_FORMATS), type="filepath")
        with gr.Column():
            name = gr.Textbox(label=T("corpus.name"), elem_id="corpus-name", placeholder="my-stories", max_lines=1)
            mode = gr.Radio(["text", "pairs", "chat"], value="text", label=T("corpus.mode"), info=T("corpus.mode_help"))
            ingest_btn = gr.Button(T("corpus.ingest"), variant="primary", elem_id="corpus-ingest")
            sample_btn = gr.Button(T("corpus.sample"), elem_id="corpus-sample")
    return dict(files=files, name=name, mode=mode, ingest_btn=ingest_btn, sample_btn=sample_btn)


def _settings() -> dict:
    defaults = CorpusConfig()
    with gr.Accordion(T("corpus.fields"), open=False):
        with gr.Row():
            mapping = [gr.Textbox(label=T(f"setting.corpus.{key}"), info=T(f"setting.corpus.{key}.help"), max_lines=1,
                                  placeholder="auto") for key in MAPPING]
    with gr.Accordion(T("corpus.cleaning"), open=False):
        with gr.Row():
            switches = [gr.Checkbox(value=f.default, label=T(f"setting.corpus.{f.name}"),
                                    info=T(f"setting.corpus.{f.name}.help")) for f in SWITCHES]
        with gr.Row():
            numbers = [gr.Number(value=getattr(defaults, n), label=T(f"setting.corpus.{n}"),
                                 info=T(f"setting.corpus.{n}.help")) for n in NUMBERS]
    return dict(mapping=mapping, switches=switches, numbers=numbers)


def _report() -> dict:
    report = gr.Markdown(elem_id="corpus-report")
    histogram = gr.BarPlot(None, x=HISTOGRAM_X, y=HISTOGRAM_Y, title=T("corpus.lengths"), height=240,
                           x_title=T("plot.length"), y_title=T("plot.items"), elem_id="corpus-histogram",
                           sort=HISTOGRAM_BINS)
    with gr.Accordion(T("corpus.dropped"), open=False):
        with gr.Row():
            corpus_pick = gr.Dropdown(label=T("corpus.pick"), choices=[], allow_custom_value=True)
            reason = gr.Dropdown(label=T("corpus.reason"), choices=[""], value="", allow_custom_value=True)
            page = gr.Number(value=1, precision=0, minimum=1, label=T("corpus.page"))
        dropped = gr.Dataframe(dropped_frame([]), wrap=True, elem_id="dropped-items")
    return dict(report=report, histogram=histogram, corpus_pick=corpus_pick, reason=reason, page=page, dropped=dropped)


def _requests(default_model: str) -> dict:
    with gr.Accordion(T("requests.title"), open=False):
        gr.Markdown(T("requests.help"))
        with gr.Row():
            req_corpus = gr.Dropdown(label=T("corpus.pick"), choices=[], elem_id="requests-corpus")
            req_source = gr.Dropdown(label=T("requests.source"), info=T("requests.source_help"), choices=["base"],
                                     value="base", allow_custom_value=True, elem_id="requests-source")
            req_model = gr.Textbox(label=T("train.model"), value=default_model, max_lines=1, elem_id="requests-model")
            req_limit = gr.Number(label=T("requests.limit"), info=T("requests.limit_help"), value=0, precision=0)
        with gr.Row():
            make_btn = gr.Button(T("requests.make"), variant="primary", elem_id="requests-make")
            stop_btn = gr.Button(T("requests.stop"), variant="stop", elem_id="requests-stop")
        req_status = gr.Markdown(elem_id="requests-status")
        req_table = gr.Dataframe(requests_frame([]), wrap=True, interactive=False, elem_id="requests-table")
        with gr.Row():
            req_drop = gr.Textbox(label=T("requests.drop"), info=T("requests.drop_help"), max_lines=1,
                                  elem_id="requests-drop")
            save_btn = gr.Button(T("requests.save"), elem_id="requests-save", scale=0)
    return dict(req_corpus=req_corpus, req_source=req_source, req_model=req_model, req_limit=req_limit,
                make_btn=make_btn, stop_btn=stop_btn, req_status=req_status, req_table=req_table, req_drop=req_drop,
                save_btn=save_btn)


def layout(default_model: str) -> CorpusLayout:
    return CorpusLayout(**_upload(), **_settings(), **_report(), **_requests(default_model))


# -- handlers -------------------------------------------------------------------------------
@dataclass
class CorpusForm:
    """The upload and its settings as the ingest handler gets them (fields name the layout's inputs)."""
    files: list | None
    name: str | None
    mode: str
    mapping: list
    switches: list
    numbers: list

    def settings(self) -> dict:
        """CorpusConfig's fields the form sets; an empty field box means "recognise the usual names"."""
        given = {key: value for key, value in zip(MAPPING, self.mapping) if (value or "").strip()}
        given.update({f.name: value for f, value in zip(SWITCHES, self.switches)})
        numbers = dict(zip(NUMBERS, self.numbers))
        for n in ("min_chars", "max_chars", "chunk_chars", "seed"):
            numbers[n] = int(numbers[n])
        return {"mode": self.mode, **given, **numbers}


def show(call: Call, manifest: dict) -> dict:
    estimate = service.epoch_estimate(call.root, manifest, call.default_model)
    return {"report": corpus_report(manifest, estimate, call.lang), "histogram": histogram_frame(manifest),
            "corpus_pick": gr.update(choices=[c["name"] for c in service.corpora(call.root)], value=manifest["name"]),
            "reason": gr.update(choices=["", *manifest["dropped"]], value=""), "page": 1,
            "dropped": dropped_frame(service.dropped_items(call.root, manifest["name"], limit=PAGE), call.lang)}


def ingest(call: Call, form: CorpusForm) -> dict:
    paths = form.files or []
    try:
        manifest = service.ingest(call.root, paths, (form.name or "").strip(), display_names=[Path(p).name for p in paths],
                                  model=call.default_model, **form.settings())
    except USER_ERRORS as e:
        return {"report": say(call.lang, "error", error=e)}
    return show(call, manifest)


def ingest_sample(call: Call) -> dict:
    return show(call, service.ingest(call.root, service.sample_files(), "lamp-log", model=call.default_model))


def browse(call: Call, corpus_name: str | None, reason: str | None, page) -> object:
    if not corpus_name:
        return dropped_frame([], call.lang)
    offset = (max(int(page or 1), 1) - 1) * PAGE
    found = service.dropped_items(call.root, corpus_name, reason=reason or "", offset=offset, limit=PAGE)
    return dropped_frame(found, call.lang)


def sources_now(call: Call) -> dict:
    names = [c["name"] for c in service.corpora(call.root) if c["mode"] == "text"]
    tuned = [r["run_id"] for r in service.list_runs(call.root) if r["has_adapter"]]
    return {"req_corpus": gr.update(choices=names, value=names[-1] if names else None),
            "req_source": gr.update(choices=["base", *tuned])}


def preview(call: Call, corpus_name: str | None):
    try:
        return requests_frame(service.requests_preview(call.root, corpus_name) if corpus_name else [], call.lang)
    except USER_ERRORS:
        return requests_frame([], call.lang)


def make(call: Call, corpus_name: str | None, source: str | None, model: str | None, limit):
    if not corpus_name:
        yield {"req_status": say(call.lang, "error", error=say(call.lang, "requests.pick"))}
        return
    try:
        for step in service.make_requests(call.root, corpus_name, "", source, (model or "").strip(), int(limit or 0)):
            yield {"req_status": say(call.lang, "requests.progress", done=step["done"], total=step["total"],
                                     request=step["request"]),
                   "req_table": requests_frame(service.requests_preview(call.root, corpus_name), call.lang)}
    except USER_ERRORS as e:
        yield {"req_status": say(call.lang, "error", error=e)}


def stopped(call: Call, corpus_name: str | None) -> str:
    rows = service.requests_preview(call.root, corpus_name) if corpus_name else []
    return say(call.lang, "requests.stopped", done=sum(bool(r["request"]) for r in rows), total=len(rows))


def save_pairs(call: Call, corpus_name: str | None, drop: str | None) -> dict:
    if not corpus_name:
        return {"req_status": say(call.lang, "error", error=say(call.lang, "requests.pick"))}
    try:
        manifest = service.save_requests(call.root, corpus_name, "", drop or "")
    except USER_ERRORS as e:
        return {"req_status": say(call.lang, "error", error=e)}
    return {"req_status": say(call.lang, "requests.saved", name=manifest["name"], version=manifest["version"],
                              pairs=manifest["documents"]),
            "req_table": requests_frame([], call.lang)}


def opened(call: Call) -> dict:
    # gradio 6.31 translates no x_title/y_title of a chart drawn with the first page (a Chinese page
    # showed `__i18n__{...}` on the histogram's axes) and may keep a drawn chart's old titles when new
    # ones come: so the histogram starts with no value and is first drawn here, with its (empty)
    # value and the titles in the visitor's language as plain text
    titles = gr.update(value=histogram_frame({}), x_title=text("plot.length", call.lang),
                       y_title=text("plot.items", call.lang))
    return {**sources_now(call), "histogram": titles}


# -- wiring ---------------------------------------------------------------------------------
def wire(ui: CorpusLayout, tab: Tab) -> dict:
    making = on(ui.make_btn.click, make, tab, ui, ["req_corpus", "req_source", "req_model", "req_limit"],
                ["req_status", "req_table"])
    on(ui.stop_btn.click, stopped, tab, ui, ["req_corpus"], "req_status", cancels=[making])
    on(ui.req_corpus.change, preview, tab, ui, ["req_corpus"], "req_table")
    on(ui.save_btn.click, save_pairs, tab, ui, ["req_corpus", "req_drop"], ["req_status", "req_table"])
    on(ui.ingest_btn.click, ingest, tab, ui, form=CorpusForm, outputs=SHOWN)
    on(ui.sample_btn.click, ingest_sample, tab, ui, [], SHOWN)
    for control in (ui.corpus_pick, ui.reason, ui.page):
        on(control.change, browse, tab, ui, ["corpus_pick", "reason", "page"], "dropped")
    for event in (ui.ingest_btn.click, ui.sample_btn.click):
        on(event, sources_now, tab, ui, [], ["req_corpus", "req_source"])
    return {"report": ui.report, "load": loader(opened, tab, ui, [], ["req_corpus", "req_source", "histogram"])}


def build(root: Path, default_model: str, forced_lang: str | None = None) -> dict:
    """Tokens are counted with `default_model`'s tokenizer, the base a run will start from."""
    return wire(layout(default_model), Tab(root, forced_lang, default_model=default_model))
