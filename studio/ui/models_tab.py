"""Models view: the registry, what is cached here and its size on disk, and the memory the
weights of each need in 4-bit and in 16-bit (training adds the adapter, activations and logits;
the Train tab's estimate shows those)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import service
from studio.ui import views
from studio.ui.i18n import T, request_lang


def build(root: Path, forced_lang: str | None = None) -> dict:
    gr.Markdown(T("models.help"))
    table = gr.Dataframe(views.models_frame([]), interactive=False, elem_id="models-table")
    refresh_btn = gr.Button(T("shared.refresh"))

    def refresh(request: gr.Request):
        return views.models_frame(service.models_overview(root), request_lang(request, forced_lang))

    refresh_btn.click(refresh, None, table)
    return {"load": (refresh, None, table)}
