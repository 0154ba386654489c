"""Handlers shared by the tabs that act on one picked run. They return Markdown."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio.ui.i18n import request_lang
from studio.messages import say


def on_run(root: Path, action, done: str, errors: tuple[type[Exception], ...], forced_lang: str | None = None):
    """A handler that applies `action(root, run_id)` to the picked run and says message `done`
    (filled with run=), or the error, in Markdown in the visitor's language."""
    def handler(request: gr.Request, run_id):
        lang = request_lang(request, forced_lang)
        if not run_id:
            return say(lang, "error", error=say(lang, "error.no_run"))
        try:
            action(root, run_id)
        except errors as e:
            return say(lang, "error", error=e)
        return say(lang, done, run=run_id)
    return handler
