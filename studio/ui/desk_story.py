"""The desk's story bible and phrases to avoid (split from studio/ui/desk.py).

The bible is a table the writer edits in place (a row an entry: on, name, keys, secondary keys and
their logic, text, always on, where it goes, depth, order); Save bible keeps the table as one
revision of the manuscript, so Undo takes it back. A lorebook from SillyTavern, NovelAI or Kobold
Lite is imported into it, and it is exported as SillyTavern JSON. "What the model sees" (desk.py)
says which entries fired, by which key and where, and which the budget left out.

Phrases to avoid: one a line, the manuscript's and (the owner's) the studio's; drafting backtracks
instead of writing them (studio/write/banned.py). Suggest lists phrases the tuned run overuses
compared with the writer's corpus, to tick and ban.

Layout (`layout`, inside the desk's accordion, its fields part of DeskLayout), then the handlers,
then `wire` (called by studio/ui/desk.py)."""
from __future__ import annotations

import re
import tempfile
import threading
from pathlib import Path

import gradio as gr

from studio import service
from studio.messages import Keyed, render, say
from studio.ui.desk_parts import USER_ERRORS, failed, picked, stops
from studio.ui.i18n import T, text
from studio.ui.wiring import Call, Tab, on

class TableError(Keyed, ValueError):
    """A row of the bible's table that cannot be read; names the row (studio/messages.py)."""


COLUMNS = ("enabled", "name", "keys", "secondary", "logic", "text", "constant", "position", "depth", "order")
TYPES = ("bool", "str", "str", "str", "str", "str", "bool", "str", "number", "number")
SETTINGS = ("scan_chars", "budget_share", "budget_cap", "recursion_steps")


# -- layout ---------------------------------------------------------------------------------
def layout(demo: bool = False) -> dict:
    with gr.Accordion(T("bible.section"), open=False, elem_id="manuscript-bible-section"):
        gr.Markdown(T("bible.help"))
        # headers are plain text (gradio sends them as they are): the page load sets them in the visitor's language
        bible_table = gr.Dataframe(headers=headers("en"), datatype=list(TYPES),
                                   column_count=len(COLUMNS), column_limits=(len(COLUMNS), len(COLUMNS)), interactive=True,
                                   wrap=True, elem_id="manuscript-bible")
        with gr.Row():
            scan_chars = gr.Number(label=T("bible.scan_chars"), precision=0, minimum=100, elem_id="bible-scan")
            budget_share = gr.Number(label=T("bible.budget_share"), minimum=0.0, maximum=0.9, step=0.05,
                                     elem_id="bible-share")
            budget_cap = gr.Number(label=T("bible.budget_cap"), precision=0, minimum=0, elem_id="bible-cap")
            recursion_steps = gr.Number(label=T("bible.recursion_steps"), precision=0, minimum=0, elem_id="bible-steps")
        with gr.Row():
            bible_save = gr.Button(T("bible.save"), variant="primary", scale=0, elem_id="bible-save")
            bible_draft_btn = gr.Button(T("bible.draft"), scale=0, elem_id="bible-draft")
            bible_share = gr.Dropdown(label=T("bible.share"), choices=[], scale=2, elem_id="bible-share-pick")
            bible_share_btn = gr.Button(T("bible.share_btn"), scale=0, elem_id="bible-share-btn")
        with gr.Row():
            bible_upload = gr.File(label=T("bible.import"), file_types=[".json", ".lorebook"], height=60,
                                   elem_id="bible-import")
            bible_export_btn = gr.Button(T("bible.export"), scale=0, elem_id="bible-export")
            bible_file = gr.File(label=T("bible.export_file"), interactive=False, height=60, elem_id="bible-file")
        bible_notice = gr.Markdown(elem_id="bible-notice")
    with gr.Accordion(T("banned.section"), open=False, elem_id="manuscript-banned-section"):
        with gr.Row():
            banned = gr.Textbox(label=T("banned.manuscript"), info=T("banned.help"), lines=4, elem_id="banned-phrases")
            studio_banned = gr.Textbox(label=T("banned.studio"), lines=4, visible=not demo, elem_id="banned-studio")
        with gr.Row():
            banned_save = gr.Button(T("banned.save"), variant="primary", scale=0, elem_id="banned-save")
            suggest_btn = gr.Button(T("banned.suggest"), scale=0, elem_id="banned-suggest")
        suggestions = gr.CheckboxGroup(label=T("banned.suggestions"), choices=[], elem_id="banned-suggestions")
        ban_ticked = gr.Button(T("banned.ban_ticked"), scale=0, elem_id="banned-ban-ticked")
        banned_notice = gr.Markdown(elem_id="banned-notice")
    return dict(bible_table=bible_table, scan_chars=scan_chars, budget_share=budget_share, budget_cap=budget_cap,
                recursion_steps=recursion_steps, bible_save=bible_save, bible_draft_btn=bible_draft_btn,
                bible_share=bible_share,
                bible_share_btn=bible_share_btn, bible_upload=bible_upload, bible_export_btn=bible_export_btn,
                bible_file=bible_file, bible_notice=bible_notice, banned=banned, studio_banned=studio_banned,
                banned_save=banned_save, suggest_btn=suggest_btn, suggestions=suggestions, ban_ticked=ban_ticked,
                banned_notice=banned_notice)


# -- the table and the entries --------------------------------------------------------------
def headers(lang: str) -> list[str]:
    return [text(f"bible.col_{c}", lang) for c in COLUMNS]


def table_value(entries, lang: str) -> dict:
    return {"headers": headers(lang), "data": table_rows(entries)}


def table_rows(entries) -> list[list]:
    """Entries as the table's rows (an empty row to type into when there are none)."""
    rows = [[e.enabled, e.name, ", ".join(e.keys), ", ".join(e.secondary), e.logic, e.text, e.constant, e.position,
             e.depth, e.order] for e in entries]
    return rows or [[True, "", "", "", "and_any", "", False, "after_memory", 0, 100]]


def _cells(table) -> list[list]:
    if table is None:
        return []
    if isinstance(table, dict):  # {"headers", "data"}, as the page load sets it
        return list(table.get("data", []))
    if hasattr(table, "to_numpy"):  # a pandas DataFrame, as gradio hands an edited table
        return table.to_numpy().tolist()
    return list(table)


_KEY = re.compile(r"/(?:\\.|[^/\\])+/[a-zA-Z]*|[^,，]+")  # a /regular expression/ whole (commas and all), else up to a comma


def split_keys(text) -> list[str]:
    """Keys as typed in one cell: comma-separated, a /pattern/flags kept whole."""
    return [k.strip() for k in _KEY.findall(str(text or "")) if k.strip()]


def entries_from_table(table, stored: list | None = None) -> list[dict]:
    """The table's rows as entries, each over the stored entry of its name (so what the table does not
    show, case sensitivity, scan range, recursion, stays as it was); a row without a name and text is
    an empty line, left out. A number that is not one names its row."""
    kept = {e.name: e.to_dict() for e in stored or []}
    out = []
    for n, row in enumerate(_cells(table), 1):
        row = list(row) + [None] * (len(COLUMNS) - len(row))
        cell = dict(zip(COLUMNS, row))
        name = str(cell["name"] or "").strip()
        if not name and not str(cell["text"] or "").strip():
            continue
        try:
            depth, order = int(float(cell["depth"] or 0)), int(float(cell["order"] or 100))
        except (TypeError, ValueError):
            raise TableError("bible.bad_number", n=n, depth=cell["depth"], order=cell["order"]) from None
        out.append({**kept.get(name, {}), "name": name, "keys": split_keys(cell["keys"]),
                    "secondary": split_keys(cell["secondary"]), "logic": str(cell["logic"] or "and_any").strip(),
                    "text": str(cell["text"] or ""), "constant": _true(cell["constant"]),
                    "enabled": _true(cell["enabled"], True), "position": str(cell["position"] or "after_memory").strip(),
                    "depth": depth, "order": order})
    return out


def _true(value, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes", "y", "on", "✓")


def bible_shown(call: Call, ms_id: str | None) -> dict:
    """The bible of the manuscript picked: table, settings, what it shares, notices."""
    if not ms_id:
        return {"bible_table": table_value([], call.lang), "bible_notice": "", "banned": "", "studio_banned": ""}
    try:
        found = service.manuscript_bible(call.root, ms_id)
        phrases = service.manuscript_banned(call.root, ms_id)
    except USER_ERRORS as e:
        return {"bible_notice": failed(call, e)}
    settings = found["settings"]
    others = [(r["title"] or r["id"], r["id"]) for r in service.manuscripts(call.root) if r["id"] != ms_id]
    owner = say(call.lang, "bible.of_other", id=found["owner"]) if found["owner"] != ms_id else ""
    notices = [render(call.lang, n) for n in found["notices"]]
    return {"bible_table": table_value(found["entries"], call.lang), **{name: getattr(settings, name) for name in SETTINGS},
            "bible_share": gr.update(choices=[(say(call.lang, "bible.own"), "")] + others, value=found["bible_of"]),
            "bible_notice": "\n\n".join(filter(None, [owner, *notices])),
            "bible_upload": gr.update(visible=not call.demo),  # a demo takes no files (docs/sharing.md)
            "banned": "\n".join(phrases["manuscript"]),
            "studio_banned": gr.update(value="" if call.demo else "\n".join(phrases["studio"]), visible=not call.demo)}


BIBLE_SHOWN = ["bible_table", *SETTINGS, "bible_share", "bible_notice", "bible_upload", "banned", "studio_banned"]


def save_bible(call: Call, ms_id: str | None, table, scan_chars, budget_share, budget_cap, recursion_steps) -> dict:
    """The table and the settings as one revision of the manuscript that owns the bible."""
    try:
        ms_id = picked(call, ms_id)
        stored = service.manuscript_bible(call.root, ms_id)["entries"]
        changes = {k: v for k, v in zip(SETTINGS, (scan_chars, budget_share, budget_cap, recursion_steps))
                   if v is not None}
        changes = {k: (float(v) if k == "budget_share" else int(v)) for k, v in changes.items()}
        result = service.replace_bible_entries(call.root, ms_id, entries_from_table(table, stored), changes)
    except USER_ERRORS as e:
        return {"bible_notice": failed(call, e)}  # the table stays as the writer typed it
    count = len(service.manuscript_bible(call.root, ms_id)["entries"])
    own = result["owner"] == ms_id
    said = say(call.lang, "bible.saved", n=count, revision=result["revision"]) if own else \
        say(call.lang, "bible.saved_shared", n=count, owner=result["owner"])
    return {**bible_shown(call, ms_id), "base": result["revision"] if own else gr.update(), "bible_notice": said}


def import_bible(call: Call, ms_id: str | None, upload) -> dict:
    try:
        ms_id = picked(call, ms_id)
        if not upload:
            raise ValueError(say(call.lang, "bible.choose_file"))
        path = Path(upload if isinstance(upload, str) else getattr(upload, "name", upload))
        result = service.import_bible(call.root, ms_id, path)
    except USER_ERRORS as e:
        return {"bible_notice": failed(call, e)}
    unmapped = "".join(f"\n- {render(call.lang, u)}" for u in result["unmapped"])
    said = say(call.lang, "bible.imported", n=result["added"], format=result["format"])
    return {**bible_shown(call, ms_id), "bible_notice": said + (f"\n\n{say(call.lang, 'bible.unmapped')}{unmapped}"
                                                               if unmapped else "")}


def export_bible(call: Call, ms_id: str | None) -> dict:
    try:
        ms_id = picked(call, ms_id)
        target = Path(tempfile.mkdtemp(prefix="bible-")) / f"{ms_id}.world-info.json"
        path = service.export_bible(call.root, ms_id, target)
    except USER_ERRORS as e:
        return {"bible_notice": failed(call, e)}
    return {"bible_file": str(path), "bible_notice": say(call.lang, "bible.exported")}


def share_bible(call: Call, ms_id: str | None, other: str | None) -> dict:
    try:
        ms_id = picked(call, ms_id)
        service.share_bible(call.root, ms_id, other or "")
    except USER_ERRORS as e:
        return {"bible_notice": failed(call, e)}
    return bible_shown(call, ms_id)


def draft_entries(call: Call, ms_id: str | None, table, source: str | None, max_new, temperature, top_p, top_k,
                  repetition, seed):
    """The model in *Summarize with* proposes entries: its answer streams into the notice, then its
    proposals are added to the table, unsaved, for the writer to keep, edit or delete before Save."""
    from studio.config import GenConfig

    try:
        ms_id = picked(call, ms_id)
        most = service.demo_limits().max_new_tokens if call.demo else 4096  # a visitor's limit holds here too
        gen = GenConfig(max_new_tokens=min(max(int(max_new or 0), 256), most), temperature=float(temperature),
                        top_p=float(top_p),
                        top_k=int(top_k or 0), repetition_penalty=float(repetition), seed=int(seed or 0))
        stop = stops[call.session] = threading.Event()
        for item in service.draft_bible(call.root, ms_id, source or "base", gen, stop, model=call.default_model or None):
            if item.get("waiting"):
                yield {"bible_notice": render(call.lang, item["message"])}
            elif "proposals" in item:
                rows = [r for r in _cells(table) if any(str(c or "").strip() for c in (r[1:2] + r[5:6]))]
                added = table_rows([_proposed(p) for p in item["proposals"]]) if item["proposals"] else []
                yield {"bible_table": {"headers": headers(call.lang), "data": rows + added},
                       "bible_notice": say(call.lang, "bible.proposed", n=len(item["proposals"]))}
            elif "text" in item:
                yield {"bible_notice": say(call.lang, "bible.proposing", text=item["text"][-400:])}
    except USER_ERRORS as e:
        yield {"bible_notice": failed(call, e)}
    finally:
        stops.pop(call.session, None)


def _proposed(entry: dict):
    from types import SimpleNamespace

    return SimpleNamespace(enabled=True, name=entry["name"], keys=entry["keys"], secondary=[], logic="and_any",
                           text=entry["text"], constant=False, position="after_memory", depth=0, order=100)


# -- phrases to avoid -----------------------------------------------------------------------
def save_banned(call: Call, ms_id: str | None, phrases: str, studio: str) -> dict:
    try:
        ms_id = picked(call, ms_id)
        result = service.set_manuscript_banned(call.root, ms_id, phrases or "")
        if not call.demo:
            service.set_studio_banned(call.root, studio or "")
    except USER_ERRORS as e:
        return {"banned_notice": failed(call, e)}
    return {"banned": "\n".join(result["banned"]), "base": result["revision"],
            "banned_notice": say(call.lang, "banned.saved", n=len(result["banned"]))}


def suggest(call: Call, ms_id: str | None, picks: list) -> dict:
    run = next((p for p in picks or [] if p), None)
    try:
        ms_id = picked(call, ms_id)
        if not run:
            raise ValueError(say(call.lang, "banned.pick_run"))
        found = service.suggest_banned(call.root, ms_id, run.split("@")[0])
    except USER_ERRORS as e:
        return {"banned_notice": failed(call, e)}
    choices = [(say(call.lang, "banned.suggestion", phrase=f["phrase"], drafts=f["drafts_per_10k"],
                    corpus=f["corpus_per_10k"]), f["phrase"]) for f in found]
    return {"suggestions": gr.update(choices=choices, value=[]),
            "banned_notice": say(call.lang, "banned.suggested", n=len(found), run=run.split("@")[0])}


def ban_ticked(call: Call, ms_id: str | None, phrases: str, ticked: list) -> dict:
    joined = "\n".join(list(dict.fromkeys([*(phrases or "").splitlines(), *(ticked or [])])))
    try:
        result = service.set_manuscript_banned(call.root, picked(call, ms_id), joined)
    except USER_ERRORS as e:
        return {"banned_notice": failed(call, e)}
    return {"banned": "\n".join(result["banned"]), "base": result["revision"], "suggestions": gr.update(value=[]),
            "banned_notice": say(call.lang, "banned.saved", n=len(result["banned"]))}


def wire(ui, tab: Tab) -> None:
    on(ui.bible_save.click, save_bible, tab, ui, ["pick", "bible_table", *SETTINGS], BIBLE_SHOWN + ["base"])
    on(ui.bible_upload.upload, import_bible, tab, ui, ["pick", "bible_upload"], BIBLE_SHOWN)
    on(ui.bible_draft_btn.click, draft_entries, tab, ui, ["pick", "bible_table", "summary_model", "max_new", "temperature",
                                                          "top_p", "top_k", "repetition", "seed"],
       ["bible_table", "bible_notice"])
    on(ui.bible_export_btn.click, export_bible, tab, ui, ["pick"], ["bible_file", "bible_notice"])
    on(ui.bible_share_btn.click, share_bible, tab, ui, ["pick", "bible_share"], BIBLE_SHOWN)
    on(ui.banned_save.click, save_banned, tab, ui, ["pick", "banned", "studio_banned"],
       ["banned", "base", "banned_notice"])
    on(ui.suggest_btn.click, suggest, tab, ui, ["pick", "picks"], ["suggestions", "banned_notice"])
    on(ui.ban_ticked.click, ban_ticked, tab, ui, ["pick", "banned", "suggestions"],
       ["banned", "base", "suggestions", "banned_notice"])
