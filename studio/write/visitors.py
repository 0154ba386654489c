"""A demo visitor's own manuscripts, apart from the owner's and from every other visitor's.

In `--demo` mode each browser keeps a key the server handed it (the UI holds it in the browser's
localStorage); the visitor's desk works in `<data>/demo-visitors/<id>/`, a folder laid out like a data
root for manuscripts only (`manuscripts/`, `drafts/` for the comparison's drafts, `exports/`), so the
manuscript code runs there unchanged and never sees the owner's `<data>/manuscripts/`. Runs, corpora
and models stay the owner's: `owner_root` maps a visitor's folder back to the data root for them.

A key is the folder's id and the id's HMAC under a secret kept in `<data>/demo-visitors/.secret`: a
script cannot make keys up, it has to ask the server for them, which hands them out at a bounded
rate (studio/write/demo_gate.py). Keys made before keys were signed (the bare id) still open the
folder they made, and nothing else.

Caps per visitor (refused with a message in the visitor's language, nothing changed):
MAX_MANUSCRIPTS manuscripts of at most MAX_CHARS characters each (text, memory and author's note
together), MAX_BYTES on disk in all (the trash is emptied before that is refused). The number of
visitors counts those who wrote something (a folder is made by a visitor's first manuscript, not by
a key); when it is reached, `make_room` reclaims the least recently used empty folders, then the
oldest untouched for a day; a visitor who wrote within the day is never evicted. A folder untouched
for KEEP_DAYS is removed by `clean`, which the app runs at start and, through `clean_if_due`, at
most once a day after that.
"""

from __future__ import annotations

import hashlib
import hmac
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
MAX_VISITORS = 500  # 500 x 8 MB: at most 4 GB of visitors' writing on the owner's disk (DemoLimits.visitors)
KEEP_DAYS = 7
PROTECT_S = 24 * 3600  # a visitor who wrote within this is never reclaimed to make room
CLEAN_EVERY_S = 24 * 3600
CLEANED = ".cleaned"  # when `clean` last ran (its mtime)
SECRET = ".secret"  # the key that signs visitor keys; made once per data root
_ID = re.compile(r"[0-9a-f]{32}")
_SIGNED = re.compile(r"[0-9a-f]{64}")


class VisitorError(Keyed, ValueError):
    """A visitor's request past a cap, or with a token that is not one the studio makes."""


def _secret(root: Path) -> bytes:
    """The data root's signing key, made on first use (O_EXCL: two processes starting at once agree)."""
    path = visitors_dir(root) / SECRET
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            time.sleep(0.05)
            return bytes.fromhex(path.read_text(encoding="ascii").strip())
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        return _secret(root)


def _mac(root: Path, visitor_id: str) -> str:
    return hmac.new(_secret(root), visitor_id.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def new_token(root: Path) -> str:
    """A key for a new visitor: a random id (their folder's name) and its signature."""
    visitor_id = secrets.token_hex(16)
    return visitor_id + _mac(root, visitor_id)


def visitor_id(root: Path, token) -> str:
    """The folder id a key opens. A signed key opens its id's folder; a bare id (a key made before
    keys were signed) opens only a folder that exists. Anything else is refused: it could name
    another folder, or be made up by a script."""
    if isinstance(token, str) and _SIGNED.fullmatch(token):
        if hmac.compare_digest(token[32:], _mac(root, token[:32])):
            return token[:32]
    elif isinstance(token, str) and _ID.fullmatch(token) and (visitors_dir(root) / token).is_dir():
        return token
    raise VisitorError("visitor.bad_token")


def visitors_dir(root: Path) -> Path:
    return Path(root) / VISITORS_DIR


def shelf(root: Path, token) -> Path:
    """The visitor's folder (made on their first manuscript, not here)."""
    return visitors_dir(root) / visitor_id(root, token)


def is_shelf(folder: Path) -> bool:
    folder = Path(folder)
    return folder.parent.name == VISITORS_DIR and bool(_ID.fullmatch(folder.name))


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


def check_new(folder: Path, most: int = MAX_VISITORS) -> None:
    """Before a visitor's new manuscript: under the count and disk caps, and, for a visitor's first,
    room among the visitors (make_room)."""
    if not folder.exists():
        make_room(folder.parent, most)
    if manuscript_count(folder) >= MAX_MANUSCRIPTS:
        raise VisitorError("visitor.too_many", most=MAX_MANUSCRIPTS)
    check_room(folder, 0)


def shelves(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if is_shelf(p) and p.is_dir() and not p.is_symlink()] if folder.is_dir() else []


def make_room(folder: Path, most: int = MAX_VISITORS, now: float | None = None) -> list[str]:
    """Room for one more visitor among at most `most`: the least recently used empty folders go
    first (a key that wrote nothing, or deleted all), then the oldest untouched for PROTECT_S. When
    every visitor wrote within PROTECT_S the demo is full (refused): a script cannot push out people
    who are writing. Returns the ids removed."""
    now = time.time() if now is None else now
    live = shelves(folder)
    over = len(live) - most + 1
    if over <= 0:
        return []
    used = {p: last_used(p) for p in live}
    empty = sorted((p for p in live if manuscript_count(p) == 0), key=used.get)
    idle = sorted((p for p in live if p not in empty and now - used[p] > PROTECT_S), key=used.get)
    gone = (empty + idle)[:over]
    if len(gone) < over:
        raise VisitorError("visitor.full", most=most, hours=PROTECT_S // 3600)
    for path in gone:
        _remove(path)
    return [p.name for p in gone]


def is_full(root: Path, most: int = MAX_VISITORS, now: float | None = None) -> bool:
    """Whether a new visitor would be refused now (what the welcome line says)."""
    now = time.time() if now is None else now
    live = shelves(visitors_dir(root))
    return len(live) >= most and not any(manuscript_count(p) == 0 or now - last_used(p) > PROTECT_S for p in live)


def _remove(path: Path) -> None:
    for ms in (path / "manuscripts").glob("*"):
        store.forget(ms)  # what this process had read of them goes too
    shutil.rmtree(path)


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
    _secret(root)  # made at the app's start, before any visitor comes
    if not folder.is_dir():
        return []
    gone = []
    for path in sorted(folder.iterdir()):
        if is_shelf(path) and path.is_dir() and not path.is_symlink() and now - last_used(path) > keep_days * 86400:
            _remove(path)
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
