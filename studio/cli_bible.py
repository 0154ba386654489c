"""`python -m studio manuscript bible|banned|setup ...`: the story bible, the phrases to avoid and
the writer's setup from the command line (the same service calls as the desk).

    manuscript bible ID list
    manuscript bible ID add --name Tobias --keys "Tobias,the keeper" --text "Tobias Venn keeps the light."
                            [--secondary K,K --logic and_any|and_all|not_any|not_all] [--constant]
                            [--position after_memory|before_note|depth --depth N] [--order N]
                            [--case-sensitive] [--scan-chars N] [--disabled] [--no-recursive]
    manuscript bible ID edit NAME [any of add's flags: only those given change]
    manuscript bible ID remove NAME
    manuscript bible ID import FILE          SillyTavern, NovelAI (.lorebook) or Kobold Lite
    manuscript bible ID export FILE          as SillyTavern World Info JSON
    manuscript bible ID share OTHER_ID       use OTHER_ID's bible ('' for its own again)
    manuscript bible ID settings [--scan-chars N --budget-share F --budget-cap N --recursion-steps N]
    manuscript banned ID [list | set PHRASE... | add PHRASE... | remove PHRASE... | suggest RUN]
    manuscript setup ID
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio import service
from studio.messages import render

ENTRY_FLAGS = ("name", "keys", "secondary", "logic", "text", "constant", "position", "depth", "order",
               "case_sensitive", "scan_chars", "enabled", "recursive")


def add_flags(s: argparse.ArgumentParser) -> None:
    """The bible's flags on the manuscript command (each optional: an edit changes only those given)."""
    d = argparse.SUPPRESS
    s.add_argument("--name", default=d, help="bible: the entry's name (unique in the bible)")
    s.add_argument("--keys", default=d, help="bible: words or names that fire it, comma-separated; /regex/i for a pattern")
    s.add_argument("--secondary", default=d, help="bible: secondary keys, comma-separated (with --logic)")
    s.add_argument("--logic", default=d, help="bible: and_any, and_all, not_any or not_all (secondary keys)")
    s.add_argument("--constant", action="store_true", default=d, help="bible: always in the context")
    s.add_argument("--position", default=d, help="bible: after_memory, before_note or depth")
    s.add_argument("--depth", type=int, default=d, help="bible: paragraphs from the end (position depth)")
    s.add_argument("--order", type=int, default=d, help="bible: higher is kept first when the budget is short")
    s.add_argument("--case-sensitive", dest="case_sensitive", action="store_true", default=d, help="bible: match case")
    s.add_argument("--scan-chars", dest="scan_chars", type=int, default=d,
                   help="bible: characters before the draft point searched for its keys")
    s.add_argument("--disabled", dest="disabled", action="store_true", default=d, help="bible: switched off")
    s.add_argument("--no-recursive", dest="no_recursive", action="store_true", default=d,
                   help="bible: not fired by other entries' text")
    for flag, dest, what in (("--enabled", "on_enabled", "switched on again"), ("--not-constant", "off_constant",
                             "fired by its keys only"), ("--case-insensitive", "off_case", "any case"),
                             ("--recursive", "on_recursive", "fired by other entries' text too")):
        s.add_argument(flag, dest=dest, action="store_true", default=d, help=f"bible edit: {what}")
    s.add_argument("--budget-share", dest="budget_share", type=float, default=d, help="bible settings: share of the context")
    s.add_argument("--budget-cap", dest="budget_cap", type=int, default=d, help="bible settings: most tokens for entries")
    s.add_argument("--recursion-steps", dest="recursion_steps", type=int, default=d, help="bible settings: recursion limit")


def _csv(value: str) -> list[str]:
    """Comma-separated keys, a /pattern/flags kept whole (its commas are the pattern's)."""
    import re

    return [k.strip() for k in re.findall(r"/(?:\\.|[^/\\])+/[a-zA-Z]*|[^,，]+", value) if k.strip()]


def entry_from(args) -> dict:
    """The entry fields the flags give (only those given)."""
    given = vars(args)
    out = {}
    if given.get("text"):  # --text: the opening of `new`, the entry's text here
        out["text"] = given["text"]
    for flag, field in (("name", "name"), ("logic", "logic"), ("position", "position"),
                        ("depth", "depth"), ("order", "order"), ("scan_chars", "scan_chars")):
        if flag in given:
            out[field] = given[flag]
    for flag in ("keys", "secondary"):
        if flag in given:
            out[flag] = _csv(given[flag])
    for flag, field, value in (("constant", "constant", True), ("case_sensitive", "case_sensitive", True),
                               ("disabled", "enabled", False), ("no_recursive", "recursive", False),
                               ("on_enabled", "enabled", True), ("off_constant", "constant", False),
                               ("off_case", "case_sensitive", False), ("on_recursive", "recursive", True)):
        if flag in given:
            out[field] = value
    return out


def entry_line(entry) -> str:
    flags = [f for f, on in (("always on", entry.constant), ("off", not entry.enabled),
                             ("case", entry.case_sensitive)) if on]
    where = entry.position + (f" {entry.depth}" if entry.position == "depth" else "")
    second = f"  {entry.logic}: {', '.join(entry.secondary)}" if entry.secondary else ""
    return (f"{entry.name}  [{', '.join(entry.keys)}]{second}  order {entry.order}  {where}"
            + (f"  ({', '.join(flags)})" if flags else "") + f"\n    {entry.text}")


def bible(args, root: Path, say) -> int:
    rest = args.args
    ms_id, act = rest[0], rest[1] if len(rest) > 1 else "list"
    values = rest[2:]
    if act == "list":
        found = service.manuscript_bible(root, ms_id)
        for notice in found["notices"]:
            print(f"note: {render('en', notice)}", file=sys.stderr)
        owner = f" (the bible of {found['owner']})" if found["owner"] != ms_id else ""
        say([e.to_dict() for e in found["entries"]],
            "\n".join(entry_line(e) for e in found["entries"]) + owner if found["entries"] else "no entries yet" + owner)
        return 0
    if act in ("edit", "remove", "import", "export", "share") and not values:
        print(f"error: manuscript bible {act} needs a value: see --help", file=sys.stderr)
        return 2
    if act == "add":
        done = service.add_bible_entry(root, ms_id, entry_from(args))
    elif act == "edit":
        done = service.edit_bible_entry(root, ms_id, values[0], entry_from(args))
    elif act == "remove":
        done = service.remove_bible_entry(root, ms_id, values[0])
    elif act == "import":
        done = service.import_bible(root, ms_id, Path(values[0]))
        for item in done["unmapped"]:
            print(f"note: {render('en', item)}", file=sys.stderr)
        say({"revision": done["revision"], "added": done["added"], "format": done["format"],
             "unmapped": [render("en", u) for u in done["unmapped"]]},
            f"{done['added']} entries from a {done['format']} file; revision {done['revision']}")
        return 0
    elif act == "export":
        path = service.export_bible(root, ms_id, Path(values[0]))
        say({"path": str(path)}, str(path))
        return 0
    elif act == "share":
        done = service.share_bible(root, ms_id, values[0])
    elif act == "settings":
        given = vars(args)
        done = service.set_bible_settings(root, ms_id, {k: given[k] for k in ("scan_chars", "budget_share", "budget_cap",
                                                                             "recursion_steps") if k in given})
    else:
        print(f"error: manuscript bible: no action {act!r} (list, add, edit, remove, import, export, share, settings)",
              file=sys.stderr)
        return 2
    say({"revision": done["revision"]}, f"revision {done['revision']}")
    return 0


def banned(args, root: Path, say) -> int:
    rest = args.args
    ms_id, act, values = rest[0], rest[1] if len(rest) > 1 else "list", rest[2:]
    now = service.manuscript_banned(root, ms_id)
    if act == "list":
        say(now, "\n".join(now["manuscript"]) or "no phrases to avoid in this manuscript"
            + (f"\nstudio-wide: {'; '.join(now['studio'])}" if now["studio"] else ""))
        return 0
    if act == "suggest":
        if not values:
            print("error: manuscript banned suggest needs a run id", file=sys.stderr)
            return 2
        found = service.suggest_banned(root, ms_id, values[0])
        say(found, "\n".join(f"{f['phrase']}  {f['drafts_per_10k']:.1f} vs {f['corpus_per_10k']:.1f} per 10k words"
                             for f in found) or "no phrase stands out yet: draft more with this run")
        return 0
    phrases = {"set": values, "add": now["manuscript"] + values,
               "remove": [p for p in now["manuscript"] if p not in set(values)]}.get(act)
    if phrases is None:
        print(f"error: manuscript banned: no action {act!r} (list, set, add, remove, suggest)", file=sys.stderr)
        return 2
    done = service.set_manuscript_banned(root, ms_id, phrases)
    say({"revision": done["revision"], "banned": done["banned"]}, f"revision {done['revision']}")
    return 0


def setup(args, root: Path, say) -> int:
    found, notices = service.manuscript_setup(root, args.args[0])
    for notice in notices:
        print(f"note: {render('en', notice)}", file=sys.stderr)
    say(found.to_dict(), f"panes: {', '.join(found.panes) or '-'}; mode {found.mode}; "
        + ", ".join(f"{k} {v}" for k, v in vars(found.gen).items()))
    return 0
