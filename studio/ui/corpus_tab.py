"""Corpus tab: upload files (or take the sample), choose the mode, map fields, switch cleaning
rules, ingest; then the report, the length histogram and a browser of dropped items."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import CorpusConfig
from studio.corpus.readers import SUPPORTED
from studio.messages import say
from studio.paths import PROJECT_ROOT
from studio.ui.i18n import T, request_lang, text
from studio.ui.views import (HISTOGRAM_BINS, HISTOGRAM_X, HISTOGRAM_Y, corpus_report, dropped_frame, histogram_frame,
                             requests_frame)

SAMPLE_FILES = sorted((PROJECT_ROOT / "assets" / "samples").glob("*.txt"))
USER_ERRORS = (ValueError, RuntimeError)
SWITCHES = [f for f in dataclasses.fields(CorpusConfig) if isinstance(f.default, bool)]
NUMBERS = ["min_chars", "max_chars", "chunk_chars", "near_dup_threshold", "val_share", "seed"]
PAGE = 25


def build(root: Path, default_model: str, forced_lang: str | None = None) -> dict:
    """Tokens are counted with `default_model`'s tokenizer, the base a run will start from."""
    gr.Markdown(T("corpus.help"))
    defaults = CorpusConfig()
    with gr.Row():
        files = gr.File(label=T("corpus.files"), elem_id="corpus-files", file_count="multiple", file_types=list(SUPPORTED), type="filepath")
        with gr.Column():
            name = gr.Textbox(label=T("corpus.name"), elem_id="corpus-name", placeholder="my-stories", max_lines=1)
            mode = gr.Radio(["text", "pairs", "chat"], value="text", label=T("corpus.mode"),
                            info=T("corpus.mode_help"))
            ingest_btn = gr.Button(T("corpus.ingest"), variant="primary", elem_id="corpus-ingest")
            sample_btn = gr.Button(T("corpus.sample"), elem_id="corpus-sample")
    with gr.Accordion(T("corpus.fields"), open=False):
        with gr.Row():
            mapping = {key: gr.Textbox(label=T(f"setting.corpus.{key}"), info=T(f"setting.corpus.{key}.help"),
                                        max_lines=1, placeholder="auto")
                       for key in ("text_field", "prompt_field", "response_field", "messages_field")}
    with gr.Accordion(T("corpus.cleaning"), open=False):
        with gr.Row():
            switches = {f.name: gr.Checkbox(value=f.default, label=T(f"setting.corpus.{f.name}"),
                                           info=T(f"setting.corpus.{f.name}.help")) for f in SWITCHES}
        with gr.Row():
            numbers = {n: gr.Number(value=getattr(defaults, n), label=T(f"setting.corpus.{n}"),
                                 info=T(f"setting.corpus.{n}.help")) for n in NUMBERS}
    report = gr.Markdown(elem_id="corpus-report")
    histogram = gr.BarPlot(None, x=HISTOGRAM_X, y=HISTOGRAM_Y, title=T("corpus.lengths"), height=240,
                           x_title=T("plot.length"), y_title=T("plot.items"),
                           elem_id="corpus-histogram", sort=HISTOGRAM_BINS)
    with gr.Accordion(T("corpus.dropped"), open=False):
        with gr.Row():
            corpus_pick = gr.Dropdown(label=T("corpus.pick"), choices=[], allow_custom_value=True)
            reason = gr.Dropdown(label=T("corpus.reason"), choices=[""], value="", allow_custom_value=True)
            page = gr.Number(value=1, precision=0, minimum=1, label=T("corpus.page"))
        dropped = gr.Dataframe(dropped_frame([]), wrap=True, elem_id="dropped-items")

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

    settings_inputs = [mode, *mapping.values(), *switches.values(), *numbers.values()]

    def collect(mode_value, *values) -> dict:
        keys = [*mapping, *switches, *numbers]
        settings = dict(zip(keys, values))
        for key in mapping:  # an empty field box means "recognise the usual names", not a field called ""
            if not (settings[key] or "").strip():
                del settings[key]
        for n in ("min_chars", "max_chars", "chunk_chars", "seed"):
            settings[n] = int(settings[n])
        return {"mode": mode_value, **settings}

    def show(manifest: dict, lang: str):
        estimate = service.epoch_estimate(root, manifest, default_model)
        reasons = [""] + list(manifest["dropped"])
        return (corpus_report(manifest, estimate, lang), histogram_frame(manifest),
                gr.update(choices=[c["name"] for c in service.corpora(root)], value=manifest["name"]),
                gr.update(choices=reasons, value=""), 1,
                dropped_frame(service.dropped_items(root, manifest["name"], limit=PAGE), lang))

    outputs = [report, histogram, corpus_pick, reason, page, dropped]

    def ingest(request: gr.Request, paths, corpus_name, *values):
        lang = request_lang(request, forced_lang)
        try:
            manifest = service.ingest(root, paths or [], (corpus_name or "").strip(),
                                      display_names=[Path(p).name for p in paths or []], model=default_model,
                                      **collect(*values))
        except USER_ERRORS as e:
            return (say(lang, "error", error=e),) + (gr.update(),) * 5
        return show(manifest, lang)

    def ingest_sample(request: gr.Request):
        return show(service.ingest(root, SAMPLE_FILES, "lamp-log", model=default_model), request_lang(request, forced_lang))

    def browse(request: gr.Request, corpus_name, reason_value, page_number):
        lang = request_lang(request, forced_lang)
        if not corpus_name:
            return dropped_frame([], lang)
        offset = (max(int(page_number or 1), 1) - 1) * PAGE
        return dropped_frame(service.dropped_items(root, corpus_name, reason=reason_value or "", offset=offset, limit=PAGE),
                             lang)

    def sources_now():
        names = [c["name"] for c in service.corpora(root) if c["mode"] == "text"]
        tuned = [r["run_id"] for r in service.list_runs(root) if r["has_adapter"]]
        return gr.update(choices=names, value=names[-1] if names else None), gr.update(choices=["base", *tuned])

    def preview(request: gr.Request, corpus_name):
        lang = request_lang(request, forced_lang)
        try:
            return requests_frame(service.requests_preview(root, corpus_name) if corpus_name else [], lang)
        except USER_ERRORS:
            return requests_frame([], lang)

    def make(request: gr.Request, corpus_name, source, model_name, limit):
        lang = request_lang(request, forced_lang)
        if not corpus_name:
            yield say(lang, "error", error=say(lang, "requests.pick")), gr.update()
            return
        try:
            for step in service.make_requests(root, corpus_name, "", source, (model_name or "").strip(), int(limit or 0)):
                yield (say(lang, "requests.progress", done=step["done"], total=step["total"], request=step["request"]),
                       requests_frame(service.requests_preview(root, corpus_name), lang))
        except USER_ERRORS as e:
            yield say(lang, "error", error=e), gr.update()

    def stopped(request: gr.Request, corpus_name):
        lang = request_lang(request, forced_lang)
        rows = service.requests_preview(root, corpus_name) if corpus_name else []
        return say(lang, "requests.stopped", done=sum(bool(r["request"]) for r in rows), total=len(rows))

    def save_pairs(request: gr.Request, corpus_name, drop):
        lang = request_lang(request, forced_lang)
        if not corpus_name:
            return say(lang, "error", error=say(lang, "requests.pick")), gr.update()
        try:
            manifest = service.save_requests(root, corpus_name, "", drop or "")
        except USER_ERRORS as e:
            return say(lang, "error", error=e), gr.update()
        return (say(lang, "requests.saved", name=manifest["name"], version=manifest["version"], pairs=manifest["documents"]),
                requests_frame([], lang))

    making = make_btn.click(make, [req_corpus, req_source, req_model, req_limit], [req_status, req_table])
    stop_btn.click(stopped, req_corpus, req_status, cancels=[making])
    req_corpus.change(preview, req_corpus, req_table)
    save_btn.click(save_pairs, [req_corpus, req_drop], [req_status, req_table])
    ingest_btn.click(ingest, [files, name, *settings_inputs], outputs)
    sample_btn.click(ingest_sample, None, outputs)
    for control in (corpus_pick, reason, page):
        control.change(browse, [corpus_pick, reason, page], dropped)
    for event in (ingest_btn.click, sample_btn.click):
        event(sources_now, None, [req_corpus, req_source])

    def opened(request: gr.Request):
        # gradio 6.31 translates no x_title/y_title of a chart drawn with the first page (a
        # Chinese page showed `__i18n__{...}` on the histogram's axes) and may keep a drawn chart's
        # old titles when new ones come: so the histogram starts with no value and is first drawn
        # here, with its (empty) value and the titles in the visitor's language as plain text
        lang = request_lang(request, forced_lang)
        titles = gr.update(value=histogram_frame({}), x_title=text("plot.length", lang), y_title=text("plot.items", lang))
        return *sources_now(), titles

    return {"report": report, "load": (opened, None, [req_corpus, req_source, histogram])}
