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
from studio.ui.i18n import T, request_lang
from studio.ui.views import HISTOGRAM_BINS, HISTOGRAM_X, HISTOGRAM_Y, corpus_report, dropped_frame, histogram_frame

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
    histogram = gr.BarPlot(histogram_frame({}), x=HISTOGRAM_X, y=HISTOGRAM_Y, title=T("corpus.lengths"), height=240,
                           x_title=T("plot.length"), y_title=T("plot.items"),
                           elem_id="corpus-histogram", sort=HISTOGRAM_BINS)
    with gr.Accordion(T("corpus.dropped"), open=False):
        with gr.Row():
            corpus_pick = gr.Dropdown(label=T("corpus.pick"), choices=[], allow_custom_value=True)
            reason = gr.Dropdown(label=T("corpus.reason"), choices=[""], value="", allow_custom_value=True)
            page = gr.Number(value=1, precision=0, minimum=1, label=T("corpus.page"))
        dropped = gr.Dataframe(dropped_frame([]), wrap=True, elem_id="dropped-items")

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

    ingest_btn.click(ingest, [files, name, *settings_inputs], outputs)
    sample_btn.click(ingest_sample, None, outputs)
    for control in (corpus_pick, reason, page):
        control.change(browse, [corpus_pick, reason, page], dropped)
    return {"report": report}
