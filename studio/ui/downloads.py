"""Files a handler hands the browser to download (exports), from any data folder.

Gradio serves only files under the working directory, the system's temp folder or paths allowed
at launch; a data folder elsewhere (`--data-dir ~/studio`) made every export fail with "not
created by the application". Allowing the data folder would let anyone who can reach the app fetch
any file in it by path (the owner's runs; in demo mode another visitor's exports), so each export
is copied instead into a folder of its own under the temp folder, which gradio then moves into its
cache. Copies older than KEEP_S are removed at the next export; gradio's cache copies are removed
by the app's `delete_cache` (studio/ui/app.py).
"""
from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from pathlib import Path

FOLDER = "writing-studio-downloads"
KEEP_S = 3600


def downloads_dir() -> Path:
    return Path(tempfile.gettempdir()) / FOLDER


def downloadable(path: Path | str) -> str:
    """A copy of `path` that gradio will serve, whatever folder `path` is in."""
    folder = downloads_dir()
    _remove_old(folder)
    copy = folder / secrets.token_hex(8) / Path(path).name  # one folder each: two exports of one name never meet
    copy.parent.mkdir(parents=True)
    shutil.copyfile(path, copy)
    return str(copy)


def _remove_old(folder: Path, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        try:
            if now - child.stat().st_mtime > KEEP_S:
                shutil.rmtree(child, ignore_errors=True)
        except OSError:
            continue  # removed by another export meanwhile
