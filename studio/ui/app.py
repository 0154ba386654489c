"""The whole UI over one data root, and how it is served.

In demo mode only the Write tab is built, over the runs the owner published, without the owner's
exports, judging or training: the handlers that are not built are not endpoints either, so calling
them over HTTP is refused by gradio itself, and uploads are capped at zero bytes. Its desk is each
visitor's own (studio/write/visitors.py): a folder per browser, capped, cleaned after a week unused.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime
import gc
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
from fastapi.responses import JSONResponse
from gradio.route_utils import FnIndexInferError
from starlette.middleware import Middleware

from studio import service
from studio.messages import say
from studio.ui import corpus_tab, desk, models_tab, runs_tab, train_tab, write_tab
from studio.ui.i18n import PICKED_LANGUAGE_SCRIPT, T, fixed_labels_script, translations
from studio.ui.wiring import Call, Tab, loader

STYLES = service.assets_dir() / "studio.css"
CACHE_CHECK_S, CACHE_KEEP_S = 600, 3600
DEMO_SESSIONS = 2000  # page sessions kept at most in demo mode, least recently used out (gradio's default: 10,000)
REAP_EVERY_S = 60
DEMO_CONCURRENCY = 32  # events of one kind running at once in demo mode (gradio's thread pool holds 40)
UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
FN_INDEX_ROUTES = ("/queue/join", "/run/predict", "/api/predict")  # where a caller names an event by number


def build_app(root: Path, default_model: str, demo: bool = False, lang: str | None = None) -> gr.Blocks:
    # gradio's copies of exports and uploads: removed an hour after they were made (studio/ui/downloads.py)
    with gr.Blocks(title="Writing Studio", delete_cache=(CACHE_CHECK_S, CACHE_KEEP_S)) as app:
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
    app.studio_forced_lang = lang  # None: each visitor's own (the browser's, or a pick in gradio's Settings)
    app.studio_i18n = translations(lang)
    # launch takes one page script: the fixed labels' (i18n.py), then the desk's save while typing
    app.studio_js = f"() => {{ ({fixed_labels_script(lang)})(); ({desk.AUTOSAVE_JS})(); }}"
    return app


def _welcome(call: Call) -> str:
    """What a demo visitor's manuscripts are: theirs alone, and the caps; first, when the demo is full."""
    caps = service.visitor_caps()
    welcome = say(call.lang, "visitor.welcome", **caps)
    if service.demo_is_full(call.root):
        return say(call.lang, "visitor.full_now", most=caps["visitors"], hours=caps["hours"]) + "\n\n" + welcome
    return welcome


def _no_such_endpoint(request, exc) -> JSONResponse:
    """A call to an API name this app does not define (a demo's missing write endpoints, a typo) is
    the caller's error, 404, not a crash: gradio leaves it uncaught, which answers 500."""
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _unknown_fn_index(request, exc) -> JSONResponse:
    """A `fn_index` this app does not have (gradio looks it up in a dict and lets the KeyError out):
    the caller's error, 404. A KeyError on any other route stays the server's error."""
    if request.url.path.rstrip("/").endswith(FN_INDEX_ROUTES):
        return JSONResponse({"detail": f"no event {exc}"}, status_code=404)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


class RefuseUploads:
    """Demo mode takes no files at all: the upload route answers 403 before reading a byte (a size
    cap of zero still let a 0-byte file into gradio's cache)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith(UPLOAD_PATHS):
            await JSONResponse({"detail": "this demo takes no uploads"}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class OpenInPickedLanguage:
    """The page's HTML with PICKED_LANGUAGE_SCRIPT first in its <head>: a language the visitor
    picked in gradio's Settings panel opens the next page (a reload, another visit) in that
    language, every tab's label included. Only the page is read (an HTML answer outside gradio's
    API routes, where files are served), and changed where gradio's config begins."""

    MARK = b"<script>window.gradio_config"  # where gradio's page starts its own scripts

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or "/gradio_api/" in scope["path"]:
            await self.app(scope, receive, send)
            return
        start, body = None, []

        async def patched(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/html") and b"content-encoding" not in headers:
                    start = message  # held until the body is whole
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = b"".join(body).replace(self.MARK, PICKED_LANGUAGE_SCRIPT.encode() + self.MARK, 1)
                headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        await self.app(scope, receive, patched)


def reap_sessions(app: gr.Blocks, closed_s: float, idle_s: float, now: float | None = None) -> int:
    """Forget the page sessions that ended: closed (the tab's heartbeat stopped) `closed_s` ago, or
    with no call for `idle_s` (a script's call without a session, a tab left for hours). Gradio
    drops only their gr.State values after an hour and keeps each session's copy of the page's
    config (about 0.5 MB, tests/test_demo_link.py) until 10,000 sessions: on a public link that is
    memory held for every visit, never given back. Returns how many were forgotten."""
    holder = app.state_holder
    now = datetime.datetime.now() if now is None else datetime.datetime.fromtimestamp(now)
    with holder.lock:
        ended = [sid for sid, state in list(holder.session_data.items())
                 if (age := (now - holder.time_last_used.get(sid, now)).total_seconds()) > idle_s
                 or (state.is_closed and age > closed_s)]
        for sid in ended:
            holder.session_data.pop(sid, None)
            holder.time_last_used.pop(sid, None)
    _forget_queue_records(app, ended)
    return len(ended)


def _forget_queue_records(app: gr.Blocks, ended: list[str]) -> None:
    """Gradio's queue keeps, per session hash, a message queue (up to 2,000 sessions) and a set of
    event ids (no bound), and drops them only when a page disconnects mid-event: each visit that
    ended cleanly left about 3.6 KB (tests/test_session_memory.py). Dropped on the server's event
    loop, where gradio makes and reads them, so no request sees a dict change under it; a session
    with an event still waiting or running keeps them."""
    queue = getattr(app, "_queue", None)
    if queue is None or not ended:
        return
    loop = getattr(app, "studio_loop", None)
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(_drop_queue_records, queue, ended)
    else:  # not served (or stopped): nothing else touches them
        _drop_queue_records(queue, ended)


def _drop_queue_records(queue, ended: list[str]) -> None:
    for sid in ended:
        if not queue.pending_event_ids_session.get(sid):
            queue.pending_event_ids_session.pop(sid, None)
            queue.pending_messages_per_session.pop(sid, None)


@contextlib.asynccontextmanager
async def _note_loop(server):
    """The served app's event loop, for the session reaper's thread to hand gradio's queue work to."""
    server.get_blocks().studio_loop = asyncio.get_running_loop()
    yield


def give_back_memory() -> None:
    """Hand the heap that Python and torch freed back to the system (glibc keeps it otherwise, so
    the process's size never falls after a crowd of visitors leaves). Not on other C libraries."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reap_forever(app: gr.Blocks, closed_s: float, idle_s: float) -> None:
    while True:
        time.sleep(REAP_EVERY_S)
        if reap_sessions(app, closed_s, idle_s):
            gc.collect()  # a session's components refer to each other
            give_back_memory()


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
           logins: list[tuple[str, str]] | None = None, demo: bool = False, max_upload_mb: float = 200,
           block: bool = True) -> gr.Blocks:
    if share and not logins:
        raise ValueError(say(app.studio_lang, "app.share_login"))
    # a demo's visitors draft together in one batch (studio/write/batching.py): their events must be
    # able to run at once to join it; the owner's studio keeps two at a time
    app.queue(default_concurrency_limit=DEMO_CONCURRENCY if demo else 2)
    if demo:  # strangers' sessions: kept while in use, forgotten after (reap_sessions)
        limits = service.demo_limits()
        threading.Thread(target=_reap_forever, args=(app, limits.closed_session_s, limits.idle_session_s),
                         name="session-reaper", daemon=True).start()
    app.launch(server_name=host, server_port=port, share=share, auth=logins or None,
               state_session_capacity=DEMO_SESSIONS if demo else 10_000,
               max_file_size=service.upload_limit_bytes(demo, max_upload_mb), i18n=app.studio_i18n, js=app.studio_js,
               css=STYLES.read_text(encoding="utf-8"), prevent_thread_lock=True, show_error=True,
               app_kwargs={"exception_handlers": {FnIndexInferError: _no_such_endpoint, KeyError: _unknown_fn_index},
                           "middleware": ([Middleware(RefuseUploads)] if demo else [])
                           + ([] if app.studio_forced_lang else [Middleware(OpenInPickedLanguage)]),
                           "lifespan": _note_loop})
    if share and not app.share_url:
        print(say(app.studio_lang, "app.share_failed", url=app.local_url), flush=True)
    if block:
        app.block_thread()
    return app
