"""Models view: the registry, what is cached here and its size on disk, the memory the weights of
each need in 4-bit and in 16-bit (training adds the adapter, activations and logits; the Train
tab's estimate shows those), the licence, and Download: a hub model fetched before a run needs it,
its size shown first, with a progress bar."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from studio import service
from studio.messages import say
from studio.ui import views
from studio.ui.i18n import T
from studio.ui.wiring import Call, Tab, loader, on

USER_ERRORS = (RuntimeError,)  # ModelUnavailable: a name not in the registry, no network, a gated repo


# -- layout ---------------------------------------------------------------------------------
@dataclass
class ModelsLayout:
    table: gr.Dataframe
    refresh_btn: gr.Button
    pick: gr.Dropdown
    size_btn: gr.Button
    download_btn: gr.Button
    status: gr.Markdown


def layout() -> ModelsLayout:
    gr.Markdown(T("models.help"))
    table = gr.Dataframe(views.models_frame([]), interactive=False, elem_id="models-table")
    refresh_btn = gr.Button(T("shared.refresh"))
    hub_names = service.hub_models()
    with gr.Row():
        pick = gr.Dropdown(label=T("models.download_pick"), info=T("models.download_pick_help"), choices=hub_names,
                           value=hub_names[0] if hub_names else None, allow_custom_value=True,
                           elem_id="models-download-pick")
        size_btn = gr.Button(T("models.size"), elem_id="models-size", scale=0)
        download_btn = gr.Button(T("models.download"), variant="primary", elem_id="models-download", scale=0)
    status = gr.Markdown(elem_id="models-download-status")
    return ModelsLayout(table, refresh_btn, pick, size_btn, download_btn, status)


# -- handlers -------------------------------------------------------------------------------
def refresh(call: Call):
    return views.models_frame(service.models_overview(call.root), call.lang)


def size(call: Call, model: str | None) -> str:
    try:
        found = service.download_plan((model or "").strip())
    except USER_ERRORS as e:
        return say(call.lang, "error", error=e)
    return say(call.lang, "download.size", repo=found.repo_id, files=found.files, total=found.total_bytes / 1e9,
               cached=found.cached_bytes / 1e9)


def _report_bytes(progress, desc: str, done: int, total: int) -> None:
    progress((done, max(total, 1)), unit="B", desc=desc)


def fetch(call: Call, model: str | None, progress) -> dict:
    """Download with a progress bar (`progress`: gradio's, see wiring.endpoint)."""
    model = (model or "").strip()
    try:
        found = service.download_plan(model)  # the size first: it also fails fast without a network
        desc = say(call.lang, "download.progress", repo=found.repo_id)
        progress(0, desc=desc)
        service.download_model(model, partial(_report_bytes, progress, desc))
    except USER_ERRORS as e:
        return {"status": say(call.lang, "error", error=e)}
    return {"status": say(call.lang, "download.done", repo=found.repo_id, total=found.total_bytes / 1e9),
            "table": views.models_frame(service.models_overview(call.root), call.lang)}


# -- wiring ---------------------------------------------------------------------------------
def wire(ui: ModelsLayout, tab: Tab) -> dict:
    on(ui.refresh_btn.click, refresh, tab, ui, [], "table")
    on(ui.size_btn.click, size, tab, ui, ["pick"], "status")
    on(ui.download_btn.click, fetch, tab, ui, ["pick"], ["status", "table"])
    return {"load": loader(refresh, tab, ui, [], "table")}


def build(root: Path, forced_lang: str | None = None) -> dict:
    return wire(layout(), Tab(root, forced_lang))
