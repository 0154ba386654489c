"""A demo visitor's own manuscripts, apart from the owner's and from every other visitor's.

In `--demo` mode each browser keeps a random token (the UI holds it in the browser's localStorage);
the visitor's desk works in `<data>/demo-visitors/<token>/`, a folder laid out like a data root
for manuscripts only (`manuscripts/`, and `exports/` for what they export), so the manuscript code
runs there unchanged and never sees the owner's `<data>/manuscripts/`. Runs, corpora and models
stay the owner's: `owner_root` maps a visitor's folder back to the data root for them.

Caps per visitor (refused with a message in the visitor's language, nothing changed):
MAX_MANUSCRIPTS manuscripts of at most MAX_CHARS characters each (text, memory and author's note
together), MAX_BYTES on disk in all (the trash is emptied before that is refused), and at most
MAX_VISITORS visitor folders at a time. A folder untouched for KEEP_DAYS is removed by `clean`,
which the app runs at start and, through `clean_if_due`, at most once a day after that.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path

from studio.messages import Keyed
from studio.write import manuscript_store as store

VISITORS_DIR = "demo-visitors"
MAX_MANUSCRIPTS = 3
MAX_CHARS = 200_000
MAX_BYTES = 8 * 2**20  # histories, the trash and exports of one visitor
MAX_VISITORS = 500  # 500 x 8 MB: at most 4 GB of visitors' writing on the owner's disk
KEEP_DAYS = 7
CLEAN_EVERY_S = 24 * 3600
CLEANED = ".cleaned"  # when `clean` last ran (its mtime)
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


class VisitorError(Keyed, ValueError):
    """A visitor's request past a cap, or with a token that is not one the studio makes."""


def new_token() -> str:
    return secrets.token_hex(16)


def check_token(token) -> str:
    """A token as the studio makes them (32 hex digits); anything else could name another folder."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise VisitorError("visitor.bad_token")
    return token


def visitors_dir(root: Path) -> Path:
    return Path(root) / VISITORS_DIR


def shelf(root: Path, token) -> Path:
    """The visitor's folder (made on their first manuscript, not here)."""
    return visitors_dir(root) / check_token(token)


def is_shelf(folder: Path) -> bool:
    folder = Path(folder)
    return folder.parent.name == VISITORS_DIR and bool(_TOKEN.match(folder.name))


def owner_root(folder: Path) -> Path:
    """The data root that runs, corpora and models are read from: a visitor's folder's owner, else itself."""
    return Path(folder).parent.parent if is_shelf(folder) else Path(folder)


def _files(folder: Path):
    for dirpath, _, names in os.walk(folder):  # os.walk does not follow links to folders
        for name in names:
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path


def used_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in _files(folder))


def manuscript_count(folder: Path) -> int:
    found = Path(folder) / "manuscripts"
    return sum(1 for p in found.iterdir() if p.is_dir() and not p.name.startswith(".")) if found.is_dir() else 0


def check_new(folder: Path) -> None:
    """Before a visitor's new manuscript: under the count, the disk and the visitors caps."""
    if not folder.exists():
        live = [p for p in folder.parent.iterdir() if is_shelf(p)] if folder.parent.is_dir() else []
        if len(live) >= MAX_VISITORS:
            raise VisitorError("visitor.full", most=MAX_VISITORS, days=KEEP_DAYS)
    if manuscript_count(folder) >= MAX_MANUSCRIPTS:
        raise VisitorError("visitor.too_many", most=MAX_MANUSCRIPTS)
    check_room(folder, 0)


def check_room(folder: Path, chars: int) -> None:
    """Before a visitor's change that leaves a manuscript `chars` long: under the size and disk caps."""
    if chars > MAX_CHARS:
        raise VisitorError("visitor.too_long", chars=chars, most=MAX_CHARS)
    if folder.is_dir() and used_bytes(folder) > MAX_BYTES:
        shutil.rmtree(folder / "manuscripts" / ".trash", ignore_errors=True)  # deleted manuscripts go first
        if used_bytes(folder) > MAX_BYTES:
            raise VisitorError("visitor.no_room", mb=MAX_BYTES // 2**20)


def last_used(folder: Path) -> float:
    """When anything in the visitor's folder last changed (the folder itself when it is empty)."""
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in _files(folder)])


def clean(root: Path, keep_days: float = KEEP_DAYS, now: float | None = None) -> list[str]:
    """Remove every visitor folder untouched for `keep_days`; returns their tokens. Only folders
    named as the studio names them are looked at; links are never followed."""
    now, folder = time.time() if now is None else now, visitors_dir(root)
    if not folder.is_dir():
        return []
    gone = []
    for path in sorted(folder.iterdir()):
        if is_shelf(path) and path.is_dir() and not path.is_symlink() and now - last_used(path) > keep_days * 86400:
            for ms in (path / "manuscripts").glob("*"):
                store.forget(ms)  # what this process had read of them goes too
            shutil.rmtree(path)
            gone.append(path.name)
    (folder / CLEANED).touch()
    os.utime(folder / CLEANED, (now, now))
    return gone


def clean_if_due(root: Path, now: float | None = None) -> list[str]:
    """`clean` when it last ran more than a day ago (or never): the app calls this on every visit."""
    now = time.time() if now is None else now
    stamp = visitors_dir(root) / CLEANED
    if stamp.exists() and now - stamp.stat().st_mtime < CLEAN_EVERY_S:
        return []
    return clean(root, now=now)
