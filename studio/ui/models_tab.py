"""Models view: the registry, what is cached here and its size on disk, the memory the weights of
each need in 4-bit and in 16-bit (training adds the adapter, activations and logits; the Train
tab's estimate shows those), the licence, and Download: a hub model fetched before a run needs it,
its size shown first, with a progress bar."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import download, service
from studio.messages import say
from studio.models import ModelUnavailable, registry
from studio.ui import views
from studio.ui.i18n import T, request_lang


def build(root: Path, forced_lang: str | None = None) -> dict:
    gr.Markdown(T("models.help"))
    table = gr.Dataframe(views.models_frame([]), interactive=False, elem_id="models-table")
    refresh_btn = gr.Button(T("shared.refresh"))
    hub_names = [name for name, entry in registry().items() if entry.source == "hub"]
    with gr.Row():
        pick = gr.Dropdown(label=T("models.download_pick"), info=T("models.download_pick_help"), choices=hub_names,
                           value=hub_names[0] if hub_names else None, allow_custom_value=True,
                           elem_id="models-download-pick")
        size_btn = gr.Button(T("models.size"), elem_id="models-size", scale=0)
        download_btn = gr.Button(T("models.download"), variant="primary", elem_id="models-download", scale=0)
    status = gr.Markdown(elem_id="models-download-status")

    def refresh(request: gr.Request):
        return views.models_frame(service.models_overview(root), request_lang(request, forced_lang))

    def size(request: gr.Request, model):
        lang = request_lang(request, forced_lang)
        try:
            found = download.plan((model or "").strip())
        except ModelUnavailable as e:
            return say(lang, "error", error=e)
        return say(lang, "download.size", repo=found.repo_id, files=found.files, total=found.total_bytes / 1e9,
                   cached=found.cached_bytes / 1e9)

    def fetch(request: gr.Request, model, progress=gr.Progress()):
        lang = request_lang(request, forced_lang)
        model = (model or "").strip()
        try:
            found = download.plan(model)  # the size first: it also fails fast without a network
            progress(0, desc=say(lang, "download.progress", repo=found.repo_id))
            download.download(model, lambda done, total: progress((done, max(total, 1)), unit="B",
                                                                  desc=say(lang, "download.progress", repo=found.repo_id)))
        except ModelUnavailable as e:
            return say(lang, "error", error=e), gr.update()
        return (say(lang, "download.done", repo=found.repo_id, total=found.total_bytes / 1e9),
                views.models_frame(service.models_overview(root), lang))

    refresh_btn.click(refresh, None, table)
    size_btn.click(size, pick, status)
    download_btn.click(fetch, pick, [status, table])
    return {"load": (refresh, None, table)}
