"""Handlers shared by the tabs that act on one picked run. No gradio here: they return Markdown."""
from __future__ import annotations

from pathlib import Path


def on_run(root: Path, action, done: str, errors: tuple[type[Exception], ...]):
    """A handler that applies `action(root, run_id)` to the picked run and says `done` (with {run}),
    or the error, in Markdown."""
    def handler(run_id):
        if not run_id:
            return "**Error:** pick a run first."
        try:
            action(root, run_id)
        except errors as e:
            return f"**Error:** {e}"
        return done.format(run=run_id)
    return handler
