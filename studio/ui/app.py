"""The whole UI over one data root, and how it is served.

In demo mode only the Write tab is built, over the runs the owner published, without the owner's
exports, judging or training: the handlers that are not built are not endpoints either, so calling
them over HTTP is refused by gradio itself, and uploads are capped at zero bytes. Its desk is each
visitor's own (studio/write/visitors.py): a folder per browser, capped, cleaned after a week unused.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr
from fastapi.responses import JSONResponse
from gradio.route_utils import FnIndexInferError

from studio import service
from studio.messages import say
from studio.ui import corpus_tab, models_tab, runs_tab, train_tab, write_tab
from studio.ui.i18n import T, fixed_labels_script, translations
from studio.ui.wiring import Call, Tab, loader

STYLES = service.assets_dir() / "studio.css"


def build_app(root: Path, default_model: str, demo: bool = False, lang: str | None = None) -> gr.Blocks:
    with gr.Blocks(title="Writing Studio") as app:
        gr.Markdown(T("app.intro_demo" if demo else "app.intro"))
        if demo:
            service.clean_visitors(root)  # at start; then once a day, on a visit (wiring.loader)
            shown = SimpleNamespace(welcome=gr.Markdown(elem_id="visitor-welcome"))
            write = write_tab.build(root, demo=True, forced_lang=lang, default_model=default_model)
            loads = [write["load"], write["desk_load"], loader(_welcome, Tab(root, lang, True), shown, [], "welcome")]
        else:
            with gr.Tabs():
                with gr.Tab(T("tab.corpus"), id="corpus"):
                    corpus = corpus_tab.build(root, default_model, lang)
                with gr.Tab(T("tab.train"), id="train"):
                    train = train_tab.build(root, default_model, lang)
                with gr.Tab(T("tab.write"), id="write") as write_page:
                    write = write_tab.build(root, forced_lang=lang, default_model=default_model)
                with gr.Tab(T("tab.runs"), id="runs") as runs_page:
                    runs = runs_tab.build(root, lang)
                with gr.Tab(T("tab.models"), id="models") as models_page:
                    models = models_tab.build(root, lang)
            loads = [corpus["load"], train["load"], write["load"], write["desk_load"], runs["load"], models["load"]]
            # Opening a tab reads the disk again: a run that finished meanwhile shows its state and adapter.
            # The desk refreshes its lists only: the manuscript on the screen is the writer's (desk.refresh_desk).
            for page, (fn, inputs, outputs) in ((write_page, write["load"]), (write_page, write["desk_refresh"]),
                                                (runs_page, runs["load"]),
                                                (models_page, models["load"])):
                page.select(fn, inputs, outputs)
        for fn, inputs, outputs in loads:
            app.load(fn, inputs, outputs)
    app.studio_lang = lang or "en"  # the console's language: --lang, else English
    app.studio_i18n = translations(lang)
    app.studio_js = fixed_labels_script(lang)
    return app


def _welcome(call: Call) -> str:
    """What a demo visitor's manuscripts are: theirs alone, and the caps."""
    return say(call.lang, "visitor.welcome", **service.visitor_caps())


def _no_such_endpoint(request, exc) -> JSONResponse:
    """A call to an API name this app does not define (a demo's missing write endpoints, a typo) is
    the caller's error, 404, not a crash: gradio leaves it uncaught, which answers 500."""
    return JSONResponse({"detail": str(exc)}, status_code=404)


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
           logins: list[tuple[str, str]] | None = None, demo: bool = False, max_upload_mb: float = 200,
           block: bool = True) -> gr.Blocks:
    if share and not logins:
        raise ValueError(say(app.studio_lang, "app.share_login"))
    app.queue(default_concurrency_limit=2)
    app.launch(server_name=host, server_port=port, share=share, auth=logins or None,
               max_file_size=service.upload_limit_bytes(demo, max_upload_mb), i18n=app.studio_i18n, js=app.studio_js,
               css=STYLES.read_text(encoding="utf-8"), prevent_thread_lock=True, show_error=True,
               app_kwargs={"exception_handlers": {FnIndexInferError: _no_such_endpoint}})
    if share and not app.share_url:
        print(say(app.studio_lang, "app.share_failed", url=app.local_url), flush=True)
    if block:
        app.block_thread()
    return app
