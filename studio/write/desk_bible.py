"""A manuscript's story bible and its phrases to avoid, as the desk and the CLI change them.

The bible is a field of the manuscript (studio/write/manuscript.py), so every change is a history
line: Undo takes back an entry added, edited, removed or switched off, and a restore brings the
bible of that revision back with the text. A manuscript may use another's bible (`bible_of`: the
books of a series share one); changes to a shared bible are made in the manuscript that owns it.

Entries are named: a name is unique within a bible (the CLI and the desk's list address entries by
it). Adding or editing checks an entry strictly (studio/write/bible.py check_entry: an invalid
regular expression is refused, the rest of the bible stays); reading is tolerant (an entry damaged
outside the app is left out and reported, the others are used).
"""
from __future__ import annotations

import json
from pathlib import Path

from studio import jsonio
from studio.messages import message
from studio.write import bible as bible_rules
from studio.write import manuscript_store as store
from studio.write.manuscript import Manuscript, ManuscriptError

STUDIO_BANNED = "banned_phrases.json"  # the studio-wide phrases to avoid, in the data root
MAX_PHRASES = 1000


# -- reading ----------------------------------------------------------------------------------
def owner_of(root: Path, ms: Manuscript) -> Manuscript:
    """The manuscript whose bible `ms` uses: itself, or the one it shares (a link to a manuscript
    that is gone reads as its own)."""
    if ms.bible_of and ms.bible_of != ms.id and store.folder_of(root, ms.bible_of).is_dir():
        return store.load(root, ms.bible_of).ms
    return ms


def read(root: Path, ms: Manuscript) -> tuple[list, "bible_rules.Settings", list[dict]]:
    """(entries, settings, notices) of the bible `ms` uses; damaged entries left out and named."""
    owner = owner_of(root, ms)
    notices = []
    if ms.bible_of and owner is ms:
        notices.append(message("bible.shared_gone", id=ms.bible_of))
    entries, settings, problems = parsed(owner.bible or {})
    return list(entries), settings, notices + problems


_parsed: dict[int, tuple[dict, tuple]] = {}  # id(bible dict) -> (that dict, what parse_bible made of it)


def parsed(bible: dict) -> tuple:
    """parse_bible, once per bible as it is: a manuscript's bible dict is replaced (never changed in
    place) by a change to it, so the same object is the same bible. Checking 500 entries took 40 ms,
    most of a continue's context build on a long novel."""
    found = _parsed.get(id(bible))
    if found is not None and found[0] is bible:
        return found[1]
    if len(_parsed) > 64:
        _parsed.clear()
    result = bible_rules.parse_bible(bible)
    _parsed[id(bible)] = (bible, result)
    return result


# -- changing ---------------------------------------------------------------------------------
def _commit_bible(root: Path, ms_id: str, change) -> dict:
    """Apply `change(entries, settings) -> (entries, settings)` to the bible `ms_id` uses, as one
    history line of the manuscript that owns it."""
    target = owner_of(root, store.load(root, ms_id).ms).id

    def build(ms: Manuscript):
        entries, settings, _ = bible_rules.parse_bible(ms.bible or {})
        kept_raw = (ms.bible or {}).get("entries", []) if isinstance(ms.bible, dict) else []
        entries, settings = change(entries, settings)
        new = bible_rules.entries_to_data(entries, settings)
        # entries that could not be read stay in the file as they were: an edit never drops them
        unread = [e for e in kept_raw if not _readable(e)]
        if unread:
            new["entries"] = new["entries"] + unread
        return [{"op": "set", "field": "bible", "old": ms.bible, "new": new}] if new != ms.bible else []
    opened, _ = store.commit(root, target, "bible", build)
    return {"revision": opened.ms.revision, "owner": target, "manuscript": opened.ms}


def _readable(raw) -> bool:
    try:
        bible_rules.check_entry(raw)
        return True
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def _index(entries: list, name: str) -> int:
    for i, e in enumerate(entries):
        if e.name == name:
            return i
    raise ManuscriptError("bible.no_entry", name=name, names=", ".join(e.name for e in entries) or "-")


def add_entry(root: Path, ms_id: str, data: dict) -> dict:
    entry = bible_rules.check_entry(data)

    def change(entries, settings):
        if any(e.name == entry.name for e in entries):
            raise ManuscriptError("bible.name_taken", name=entry.name)
        return entries + [entry], settings
    return _commit_bible(root, ms_id, change)


def edit_entry(root: Path, ms_id: str, name: str, changes: dict) -> dict:
    def change(entries, settings):
        i = _index(entries, name)
        entry = bible_rules.check_entry({**entries[i].to_dict(), **changes})
        if entry.name != name and any(e.name == entry.name for e in entries):
            raise ManuscriptError("bible.name_taken", name=entry.name)
        return entries[:i] + [entry] + entries[i + 1:], settings
    return _commit_bible(root, ms_id, change)


def remove_entry(root: Path, ms_id: str, name: str) -> dict:
    def change(entries, settings):
        i = _index(entries, name)
        return entries[:i] + entries[i + 1:], settings
    return _commit_bible(root, ms_id, change)


def replace_entries(root: Path, ms_id: str, rows: list[dict], settings: dict | None = None) -> dict:
    """The whole list at once (the desk's table), with the settings when given, as one revision:
    every row checked, the first bad one named, nothing saved then."""
    checked = []
    for n, row in enumerate(rows, 1):
        try:
            checked.append(bible_rules.check_entry(row))
        except ValueError as e:
            raise ManuscriptError("bible.bad_row", n=n, error=e) from None
    names = [e.name for e in checked]
    if len(set(names)) != len(names):
        raise ManuscriptError("bible.name_taken", name=next(n for n in names if names.count(n) > 1))
    new_settings = None
    if settings:
        current = read(root, store.load(root, ms_id).ms)[1]
        new_settings = bible_rules.Settings.from_dict({**current.to_dict(), **settings})  # checked before any change
    return _commit_bible(root, ms_id, lambda entries, old: (checked, new_settings or old))


def set_settings(root: Path, ms_id: str, changes: dict) -> dict:
    def change(entries, settings):
        return entries, bible_rules.Settings.from_dict({**settings.to_dict(), **changes})
    return _commit_bible(root, ms_id, change)


def import_file(root: Path, ms_id: str, path: Path) -> dict:
    """Entries of a SillyTavern, NovelAI or Kobold Lite file added to the bible (a name already
    there gets a number); what could not map is listed."""
    from studio.write.bible_formats import read_lorebook

    found = read_lorebook(Path(path))

    def change(entries, settings):
        names = {e.name for e in entries}
        added = []
        for entry in found.entries:
            name, n = entry.name, 1
            while name in names:
                n += 1
                name = f"{entry.name} ({n})"
            entry.name = name
            names.add(name)
            added.append(entry)
        return entries + added, settings
    result = _commit_bible(root, ms_id, change)
    return {**result, "added": len(found.entries), "format": found.format, "unmapped": found.unmapped}


def export_file(root: Path, ms_id: str, target: Path) -> Path:
    from studio.write.bible_formats import to_sillytavern

    entries, settings, _ = read(root, store.load(root, ms_id).ms)
    jsonio.write_text_atomic(Path(target), json.dumps(to_sillytavern(entries, settings), ensure_ascii=False, indent=2))
    return Path(target)


def share(root: Path, ms_id: str, other: str) -> dict:
    """Use the bible of manuscript `other` ('' for this one's own)."""
    if other and not store.folder_of(root, other).is_dir():
        raise ManuscriptError("manuscript.no_such", id=other)
    if other == ms_id:
        other = ""
    if other and store.load(root, other).ms.bible_of:
        raise ManuscriptError("bible.share_chain", id=other, of=store.load(root, other).ms.bible_of)

    def build(ms: Manuscript):
        return [{"op": "set", "field": "bible_of", "old": ms.bible_of, "new": other}] if ms.bible_of != other else []
    opened, _ = store.commit(root, ms_id, "bible", build)
    return {"revision": opened.ms.revision, "manuscript": opened.ms}


# -- phrases to avoid -------------------------------------------------------------------------
def clean_phrases(phrases) -> list[str]:
    """One phrase a line or a list: stripped, blank lines and repeats dropped, order kept."""
    if isinstance(phrases, str):
        phrases = phrases.splitlines()
    out = list(dict.fromkeys(p.strip() for p in phrases if p and p.strip()))
    if len(out) > MAX_PHRASES:
        raise ManuscriptError("banned.too_many", count=len(out), most=MAX_PHRASES)
    return out


def set_banned(root: Path, ms_id: str, phrases) -> dict:
    new = clean_phrases(phrases)

    def build(ms: Manuscript):
        return [{"op": "set", "field": "banned", "old": ms.banned, "new": new}] if ms.banned != new else []
    opened, _ = store.commit(root, ms_id, "banned", build)
    return {"revision": opened.ms.revision, "manuscript": opened.ms, "banned": new}


def studio_banned(data: Path) -> list[str]:
    """The phrases no manuscript of this studio drafts (the owner's data root); damaged: none, said
    by the desk that shows them."""
    try:
        found = jsonio.read_json(Path(data) / STUDIO_BANNED, default=[])
    except ValueError:
        return []
    return [p for p in found if isinstance(p, str)] if isinstance(found, list) else []


def set_studio_banned(data: Path, phrases) -> list[str]:
    new = clean_phrases(phrases)
    jsonio.write_json_atomic(Path(data) / STUDIO_BANNED, new)
    return new


def banned_for(root: Path, ms: Manuscript, data: Path | None = None) -> list[str]:
    """The manuscript's phrases and the studio's, together."""
    return list(dict.fromkeys(ms.banned + studio_banned(data or root)))
