"""Handlers shared by the tabs that act on one picked run. They return Markdown."""
from __future__ import annotations

from studio.messages import say
from studio.ui.wiring import Call

USER_ERRORS = (ValueError, RuntimeError, OSError)


def act_on_run(call: Call, run_id: str | None, action, done: str) -> str:
    """Apply `action(root, run_id)` to the picked run and say message `done` (filled with run=),
    or the error, in Markdown in the visitor's language."""
    if not run_id:
        return say(call.lang, "error", error=say(call.lang, "error.no_run"))
    try:
        action(call.root, run_id)
    except USER_ERRORS as e:
        return say(call.lang, "error", error=e)
    return say(call.lang, done, run=run_id)
