"""Lorebooks from other writing tools, read into story-bible entries, and the bible written out as
SillyTavern world info, so a writer can move between tools.

    sillytavern  world info JSON: {"entries": {"0": {uid, key, keysecondary, comment, content,
                 selectiveLogic, position, depth, order, ...}}} (public/scripts/world-info.js)
    novelai      .lorebook: {"lorebookVersion": 6, "entries": [{displayName, keys, text,
                 searchRange, forceActivation, contextConfig: {budgetPriority, insertionPosition}}]}
    kobold       a Kobold Lite saved story ({"gamestarted", "prompt", "memory", "worldinfo": [...],
                 "wisearchdepth", "wiinsertlocation"}) or its world-info export (the bare list); an
                 item: {key, keysecondary, keyanti (comma-separated), content, comment, selective,
                 constant, probability, wigroup, widisabled}
    studio       this studio's own saved bible (studio/write/bible.py entries_to_data)

The format is told from the content, never the file name. Whatever does not map (a probability, a
group, sticky and cooldown, NovelAI bias groups and categories, a scan depth in messages) is listed
in `unmapped`, a message each, never dropped silently; an entry that cannot be read is left out and
listed there too while the rest are imported.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from studio.messages import message
from studio.write.bible import BibleError, Entry, Settings, check_entry, parse_bible

CHARS_PER_MESSAGE = 400  # a SillyTavern scan depth counts chat messages: taken as about this many characters each
_ST_LOGIC = {0: "and_any", 1: "not_all", 2: "not_any", 3: "and_all"}
_ST_LOGIC_BACK = {v: k for k, v in _ST_LOGIC.items()}
_ST_POSITION = {0: "after_memory", 1: "after_memory", 2: "before_note", 3: "before_note", 4: "depth",
                5: "after_memory", 6: "after_memory"}
_ST_POSITION_BACK = {"after_memory": 0, "before_note": 2, "depth": 4}
_ST_EXACT_POSITIONS = (0, 1, 2, 4)  # before/after the character (the memory here), top of the note, at depth
_ST_MAPPED = {"uid", "key", "keysecondary", "comment", "content", "constant", "selective", "selectiveLogic", "order",
              "position", "depth", "disable", "excludeRecursion", "caseSensitive", "scanDepth", "addMemo",
              "displayIndex", "probability", "useProbability", "groupWeight"}  # groupWeight: only with a group
_NAI_MAPPED = {"text", "contextConfig", "lastUpdatedAt", "displayName", "id", "keys", "searchRange", "enabled",
               "forceActivation", "category", "loreBiasGroups"}
_NAI_CONTEXT_DEFAULTS = {"prefix": "", "suffix": "\n", "reservedTokens": 0, "trimDirection": "trimBottom",
                         "maximumTrimType": "sentence", "allowInnerInsertion": False, "allowInsertionInside": False,
                         "forced": False}
_KOBOLD_MAPPED = {"key", "keysecondary", "keyanti", "content", "comment", "selective", "constant", "probability",
                  "widisabled"}


@dataclass
class Imported:
    entries: list[Entry]
    settings: Settings | None  # where the file has book-wide settings that map
    unmapped: list[dict] = field(default_factory=list)  # message dicts: what did not map, entries left out
    format: str = ""  # sillytavern | novelai | kobold | studio


def read_lorebook(path: Path) -> Imported:
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise BibleError("bible.unreadable", file=path.name, error=str(err)) from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise BibleError("bible.not_json", file=path.name, line=err.lineno, column=err.colno, error=err.msg) from None
    fmt = detect_format(data)
    if fmt is None:
        raise BibleError("bible.unknown_format", file=path.name)
    return _READERS[fmt](data)


def detect_format(data) -> str | None:
    if isinstance(data, dict):
        entries = data.get("entries")
        if "lorebookVersion" in data and isinstance(entries, list):
            return "novelai"
        if isinstance(entries, dict) and all(isinstance(v, dict) for v in entries.values()):
            return "sillytavern"
        if isinstance(data.get("worldinfo"), list):
            return "kobold"
        if isinstance(entries, list) and _studio_items(entries):
            return "studio"
    if isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        if all("content" in v and isinstance(v.get("key", ""), str) for v in data):
            return "kobold"
        if _studio_items(data):
            return "studio"
    return None


def _studio_items(items: list) -> bool:
    return all(isinstance(v, dict) and "text" in v and ("keys" in v or "name" in v) for v in items)


def _kept(out: Imported, n: int, name: str, data: dict, notes: list[dict]) -> None:
    """Check one converted entry: kept with its notes, or left out and said why."""
    try:
        out.entries.append(check_entry(data))
        out.unmapped.extend(notes)
    except BibleError as err:
        out.unmapped.append(message("bible.bad_entry", n=n, name=name, why=message(err.key, **err.fields)))


def _blank(value) -> bool:
    """A value that changes nothing (a field at its empty default)."""
    if isinstance(value, dict):
        return all(_blank(v) for v in value.values())
    if isinstance(value, list):
        return all(_blank(v) for v in value)
    return value in (None, False, "", 0)


def _shown(value) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _whole(value, default):
    """A count as the file has it: an integral float as an int, a numeric string (Kobold Lite saves
    form fields as strings) as a number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default if value is None else value


def _unsupported(entry: str, name: str, value) -> dict:
    return message("bible.unsupported", entry=entry, field=name, value=_shown(value))


def _first(keys) -> str:
    return keys[0] if isinstance(keys, list) and keys and isinstance(keys[0], str) else ""


# -- SillyTavern -----------------------------------------------------------------------------------
def _from_sillytavern(data: dict) -> Imported:
    out = Imported([], None, [], "sillytavern")
    for n, (uid, raw) in enumerate(data["entries"].items(), 1):
        name = raw.get("comment") or _first(raw.get("key")) or f"#{uid}"
        position = _whole(raw.get("position"), 0)
        scan_depth = _whole(raw.get("scanDepth"), None)
        entry = {"name": name, "keys": raw.get("key", []), "text": raw.get("content", ""),
                 "secondary": raw.get("keysecondary", []),  # every entry is selective in SillyTavern now
                 "logic": _ST_LOGIC.get(_whole(raw.get("selectiveLogic"), 0), str(raw.get("selectiveLogic"))),
                 "constant": bool(raw.get("constant")), "enabled": not raw.get("disable", False),
                 "case_sensitive": bool(raw.get("caseSensitive")), "order": _whole(raw.get("order"), 100),
                 "position": _ST_POSITION.get(position, "after_memory"),
                 "depth": _whole(raw.get("depth"), 4) if position == 4 else 0,
                 "recursive": not raw.get("excludeRecursion", False)}
        notes = []
        if position not in _ST_EXACT_POSITIONS:
            notes.append(message("bible.position", entry=name, value=position, format="SillyTavern",
                                 position=message(f"bible.position.{entry['position']}")))
        if isinstance(scan_depth, int) and scan_depth > 0:
            entry["scan_chars"] = scan_depth * CHARS_PER_MESSAGE
            notes.append(message("bible.scan_depth", entry=name, value=scan_depth, chars=entry["scan_chars"],
                                 per=CHARS_PER_MESSAGE))
        elif scan_depth is not None:
            notes.append(_unsupported(name, "scanDepth", scan_depth))
        probability = _whole(raw.get("probability"), 100)
        if raw.get("useProbability", True) and probability != 100:
            notes.append(message("bible.probability", entry=name, value=probability, format="SillyTavern"))
        if position == 4 and raw.get("role") not in (None, 0):
            notes.append(_unsupported(name, "role", raw["role"]))
        notes += [_unsupported(name, k, v) for k, v in raw.items()
                  if k not in _ST_MAPPED and k != "role" and not _blank(v)]
        _kept(out, n, name, entry, notes)
    return out


def to_sillytavern(entries: list[Entry], settings: Settings) -> dict:
    """SillyTavern world info JSON. Entries without their own scan range get the bible's, in
    messages, only when the bible's differs from the default (SillyTavern keeps its default scan
    depth in its own settings, not in the book)."""
    default_scan = settings.scan_chars if settings.scan_chars != Settings().scan_chars else None
    book = {}
    for uid, e in enumerate(entries):
        scan = e.scan_chars or default_scan
        book[str(uid)] = {
            "uid": uid, "key": list(e.keys), "keysecondary": list(e.secondary), "comment": e.name, "content": e.text,
            "constant": e.constant, "vectorized": False, "selective": True, "selectiveLogic": _ST_LOGIC_BACK[e.logic],
            "addMemo": True, "order": e.order, "position": _ST_POSITION_BACK[e.position],
            "disable": not e.enabled, "excludeRecursion": not e.recursive, "preventRecursion": False,
            "delayUntilRecursion": False, "probability": 100, "useProbability": True,
            "depth": e.depth if e.position == "depth" else 4, "group": "", "groupOverride": False,
            "groupWeight": 100, "scanDepth": max(1, round(scan / CHARS_PER_MESSAGE)) if scan else None,
            "caseSensitive": e.case_sensitive, "matchWholeWords": None, "useGroupScoring": None,
            "automationId": "", "role": 0, "sticky": None, "cooldown": None, "delay": None, "displayIndex": uid}
    return {"entries": book}


# -- NovelAI ---------------------------------------------------------------------------------------
def _from_novelai(data: dict) -> Imported:
    out = Imported([], None, [], "novelai")
    categories = {c.get("id"): c.get("name", "") for c in data.get("categories") or [] if isinstance(c, dict)}
    for n, raw in enumerate(data["entries"], 1):
        if not isinstance(raw, dict):
            out.unmapped.append(message("bible.bad_entry", n=n, name="?", why=message("bible.not_object",
                                                                                      got=_shown(raw))))
            continue
        config = raw.get("contextConfig") or {}
        name = raw.get("displayName") or _first(raw.get("keys")) or f"#{n}"
        entry = {"name": name, "keys": raw.get("keys", []), "text": raw.get("text", ""),
                 "constant": bool(raw.get("forceActivation")), "enabled": raw.get("enabled", True),
                 "order": _whole(config.get("budgetPriority"), 400)}
        if isinstance(raw.get("searchRange"), int) and raw["searchRange"] > 0:
            entry["scan_chars"] = raw["searchRange"]  # NovelAI's search range is in characters too
        notes = _novelai_position(name, config, entry)
        budget = config.get("tokenBudget")
        if budget not in (None, 1, 2048):  # 1 (all of it) and 2048 are NovelAI's defaults
            notes.append(_unsupported(name, "contextConfig.tokenBudget", budget))
        notes += [_unsupported(name, f"contextConfig.{k}", config[k]) for k, default in _NAI_CONTEXT_DEFAULTS.items()
                  if k in config and config[k] != default]
        if raw.get("category"):
            notes.append(_unsupported(name, "category", categories.get(raw["category"]) or raw["category"]))
        biased = [g for g in raw.get("loreBiasGroups") or [] if isinstance(g, dict) and g.get("phrases")]
        if biased:
            notes.append(message("bible.bias", entry=name, phrases=_shown([p for g in biased for p in g["phrases"]])))
        notes += [_unsupported(name, k, v) for k, v in raw.items() if k not in _NAI_MAPPED and not _blank(v)]
        _kept(out, n, name, entry, notes)
    if categories:
        out.unmapped.append(message("bible.book_unsupported", field="categories",
                                    value=_shown(list(categories.values()))))
    if (data.get("settings") or {}).get("orderByKeyLocations"):
        out.unmapped.append(message("bible.book_unsupported", field="settings.orderByKeyLocations", value="true"))
    return out


def _novelai_position(name: str, config: dict, entry: dict) -> list[dict]:
    """NovelAI inserts an entry `insertionPosition` units (newlines by default) into the context built
    so far, negative from its end. -1 and 0 are the top with the memory, its usual place; a further
    negative count of newlines is a depth in paragraphs; anything else is placed after the memory."""
    at = _whole(config.get("insertionPosition"), -1)
    unit = config.get("insertionType", "newline")
    if at in (-1, 0):
        return []
    if isinstance(at, int) and at < -1 and unit == "newline":
        entry["position"], entry["depth"] = "depth", -at - 1
        return []
    return [message("bible.position", entry=name, value=f"{at} ({unit})", format="NovelAI",
                    position=message("bible.position.after_memory"))]


# -- Kobold Lite -----------------------------------------------------------------------------------
def _keys(value) -> list:
    """Kobold Lite keeps keys as one comma-separated string."""
    if isinstance(value, str):
        return [k.strip() for k in value.split(",") if k.strip()]
    return value if value is not None else []


def _from_kobold(data) -> Imported:
    story = data if isinstance(data, dict) else {}
    items = story.get("worldinfo", []) if story else data
    out = Imported([], None, [], "kobold")
    depth = _whole(story.get("wisearchdepth"), 0)
    if isinstance(depth, int) and depth > 0:
        out.settings = Settings(scan_chars=depth)  # Kobold Lite's search depth is in characters too
    elif story:
        out.unmapped.append(message("bible.scan_full", chars=Settings().scan_chars))
    before_note = str(story.get("wiinsertlocation", 0)) == "1"
    case_sensitive = bool((story.get("savedsettings") or {}).get("case_sensitive_wi"))
    if any(str(story.get(k) or "").strip() for k in ("prompt", "memory", "authorsnote")):
        out.unmapped.append(message("bible.kobold_story"))
    for n, raw in enumerate(items, 1):
        if not isinstance(raw, dict):
            out.unmapped.append(message("bible.bad_entry", n=n, name="?", why=message("bible.not_object",
                                                                                      got=_shown(raw))))
            continue
        keys = _keys(raw.get("key"))
        name = raw.get("comment") or _first(keys) or f"#{n}"
        entry = {"name": name, "keys": keys, "text": raw.get("content") or "", "constant": bool(raw.get("constant")),
                 "enabled": not raw.get("widisabled", False), "case_sensitive": case_sensitive,
                 "position": "before_note" if before_note else "after_memory"}
        notes = []
        if raw.get("selective"):  # without it, Kobold Lite ignores both kinds of secondary keys
            secondary, anti = _keys(raw.get("keysecondary")), _keys(raw.get("keyanti"))
            if secondary:
                entry["secondary"], entry["logic"] = secondary, "and_any"
                if anti:
                    notes.append(message("bible.anti_keys", entry=name, keys=_shown(anti)))
            elif anti:
                entry["secondary"], entry["logic"] = anti, "not_any"
        probability = _whole(raw.get("probability"), 100)
        if probability not in (100, "", None):
            notes.append(message("bible.probability", entry=name, value=probability, format="Kobold Lite"))
        notes += [_unsupported(name, k, v) for k, v in raw.items() if k not in _KOBOLD_MAPPED and not _blank(v)]
        _kept(out, n, name, entry, notes)
    return out


def _from_studio(data) -> Imported:
    entries, settings, problems = parse_bible(data)
    return Imported(entries, settings, problems, "studio")


_READERS = {"sillytavern": _from_sillytavern, "novelai": _from_novelai, "kobold": _from_kobold,
            "studio": _from_studio}
