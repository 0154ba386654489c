"""What the desk's modules share (studio/ui/desk.py and the modules split from it): the candidate
slots, who-wrote-what colours, saving the editor before an action, showing a manuscript."""
from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import GenConfig
from studio.messages import render, say
from studio.ui.wiring import Call

USER_ERRORS = (ValueError, RuntimeError, OSError)
PANES = 1 + service.MAX_TUNED_PANES
PER_PANE = 4  # candidates per pane at most (the drafts slider's top)
SLOTS = PANES * PER_PANE
RUN_COLOURS = ("#fde2c4", "#d9f2d0", "#ead7f5", "#f9d6dc")  # one per run, in the order they first appear
BASE_COLOUR = "#d6e6fb"
stops: dict[str, threading.Event] = {}  # per browser session: what the desk's Stop button sets
# sessions whose inline draft is streaming into the editor: its value is the saved text plus the draft
# so far, so it is not the writer's and no save may take it (the draft goes in when it ends)
inline_streams: set[str] = set()


@dataclass
class DeskForm:
    """The desk and the Write tab's pane and sampling settings, as continue gets them."""
    pick: str | None
    text: str
    base: int | None
    with_base: bool
    picks: list
    max_new: float
    temperature: float
    top_p: float
    top_k: float | None
    repetition: float
    seed: float | None
    drafts: float
    # the memory and the author's note as they are on the screen: saved with the text before a
    # draft, so a box the writer has not left yet (its blur's save still in flight, or never sent)
    # is what the model sees; None or empty keeps what is stored
    memory: str | None = None
    note: str | None = None
    mode: str | None = None  # "inline": one pane's draft streams into the text; else side by side (the page sends it)
    cursor: float | None = None  # the editor's cursor (the cursor button's CURSOR_JS fills it); last

    def panes(self) -> list[str]:
        return chosen_panes(self)

    def gen(self) -> GenConfig:
        return sampling(self)


def chosen_panes(form) -> list[str]:
    """The panes a form (the desk's or the comparison's) drafts with: the base if ticked, then the picks."""
    return (["base"] if form.with_base else []) + [p for p in form.picks if p]


def sampling(form) -> GenConfig:
    """The Write tab's sampling settings (shared by the desk and the comparison) as a GenConfig."""
    return GenConfig(max_new_tokens=int(form.max_new), temperature=float(form.temperature), top_p=float(form.top_p),
                     top_k=int(form.top_k or 0), repetition_penalty=float(form.repetition),
                     seed=int(form.seed or 0), drafts=int(form.drafts))


def source_label(source: str, lang: str) -> str:
    if source == "writer":
        return say(lang, "manuscript.source_writer")
    return say(lang, "manuscript.source_base") if source == "base" else say(lang, "manuscript.source_run", run=source)


def sources_html(ms, lang: str) -> str:
    """The legend, then the manuscript with each passage coloured by who wrote it (escaped)."""
    colours, runs = {"writer": "transparent", "base": BASE_COLOUR}, []
    for p in ms.passages:
        if p.source not in colours:
            colours[p.source] = RUN_COLOURS[len(runs) % len(RUN_COLOURS)]
            runs.append(p.source)
    legend = " ".join(f'<span class="ws-source" style="background:{colour};padding:0 .4em;border:1px solid #ccc">'
                      f"{html.escape(source_label(source, lang))}</span>" for source, colour in colours.items())
    body = "".join(f'<span data-source="{html.escape(p.source)}" title="{html.escape(source_label(p.source, lang))}" '
                   f'style="background:{colours[p.source]}">{html.escape(p.text)}</span>' for p in ms.passages)
    return (f'<div class="ws-legend"><b>{html.escape(say(lang, "desk.who_wrote"))}</b> {legend}</div>'
            f'<div class="ws-manuscript" style="white-space:pre-wrap;margin-top:.5em">{body}</div>')


def shown(ms, lang: str) -> dict:
    """The named updates that show manuscript `ms` as it is now."""
    return {"text": ms.text, "base": ms.revision, "sources": sources_html(ms, lang)}


def picked(call: Call, ms_id: str | None) -> str:
    if not ms_id:
        raise ValueError(say(call.lang, "desk.pick_first"))
    return ms_id


def save_first(call: Call, ms_id: str | None, text: str, base: int | None, memory: str | None = None,
               note: str | None = None) -> tuple[int, str]:
    """Save the editor's text (and the memory and the note, when given) where they differ from the
    disk: (revision, conflict notice or '')."""
    now = service.manuscript(call.root, picked(call, ms_id))["manuscript"]
    revision, notices = now.revision, []
    if call.session in inline_streams:
        return revision, ""  # the editor shows a draft streaming in: nothing of it is the writer's yet
    if now.text != (text or ""):
        saved = service.save_manuscript_text(call.root, ms_id, text or "", base)
        revision, notices = saved["revision"], [saved["notice"]]
    for name, value in (("memory", memory), ("note", note)):
        # an empty box is not saved over a stored memory here: a box a late page update emptied
        # must not erase it (a writer who clears the box has it saved when they leave it, blur)
        if value and getattr(now, name) != value:
            revision = service.set_manuscript_field(call.root, ms_id, name, value, revision)["revision"]
    return revision, " ".join(render(call.lang, n) for n in notices if n)


def candidate_updates(item: dict, labels: list) -> tuple[list, list, list]:
    """(box updates, button updates, candidate number per slot) of a drafter item."""
    boxes, buttons, slots, n = [], [], [], 0
    for col in range(PANES):
        drafts = item["panes"][col]["drafts"] if col < len(item["panes"]) else []
        for k in range(PER_PANE):
            if k < len(drafts):
                n += 1
                boxes.append(gr.update(visible=True, value=drafts[k], label=f"{labels[col]} · {k + 1}"))
                buttons.append(gr.update(visible=bool(item.get("done"))))
                slots.append(n)
            else:
                boxes.append(gr.update(visible=False, value=""))
                buttons.append(gr.update(visible=False))
                slots.append(None)
    return boxes, buttons, slots


def context_markdown(ctx, lang: str) -> str:
    """Each part the model sees with its tokens, the total, then the text itself."""
    rows = [f"| {say(lang, 'manuscript.part_' + part)} | {tokens} |" for part, _, tokens in ctx.parts]
    total = say(lang, "manuscript.context_total", tokens=ctx.tokens, budget=ctx.budget, cut=ctx.cut_chars)
    notes = "".join(f"\n\n{render(lang, n)}" for n in ctx.notices)
    sent = ctx.text.replace("```", "'''")
    return ("\n".join([say(lang, "desk.context_heading"), "|---|---|", *rows]) + f"\n\n{total}{notes}"
            + lore_markdown(ctx, lang) + f"\n\n```\n{sent}\n```")


def _cell(text: str, most: int = 60) -> str:
    """Text in a table cell: one line, short, pipes escaped."""
    one = " ".join(str(text).split())
    return (one[:most] + "…" if len(one) > most else one).replace("|", "\\|")


def lore_markdown(ctx, lang: str) -> str:
    """Which story-bible entries fired (by which key, where in the manuscript, how many tokens),
    which the budget left out, and the passages recalled from text that scrolled out."""
    out = []
    selection = getattr(ctx, "bible", None)
    if selection is not None and (selection.fired or selection.left_out):
        rows = []
        for f in selection.fired:
            if f.entry.constant:
                why = say(lang, "bible.why_constant")
            elif f.via:
                why = say(lang, "bible.why_via", entry=f.via, word=f.key)
            else:
                why = say(lang, "bible.why_key", word=f.key, at=f"{f.at:,}" if f.at is not None else "?")
            rows.append(f"| {_cell(f.entry.name)} | {_cell(why)} | {f.tokens} |")
        out.append("\n\n" + say(lang, "bible.fired_heading") + "\n|---|---|---:|\n" + "\n".join(rows))
        # the entries the budget left out are in the notices above (bible.over_budget)
    if getattr(ctx, "recalled", None):
        rows = [f"| {r.start:,} | {_cell(r.text)} | {r.tokens} |" for r in ctx.recalled]
        out.append("\n\n" + say(lang, "recall.heading") + "\n|---:|---|---:|\n" + "\n".join(rows))
    return "".join(out)


def failed(call: Call, error: Exception) -> str:
    """An error as the notice line shows it, in the visitor's language."""
    return say(call.lang, "error", error=render(call.lang, error))


# -- the pane choices (the Write tab's and the desk's) ------------------------------------------
def source_choices(root: Path, demo: bool = False, lang: str = "en") -> list[tuple[str, str]]:
    """Every adapter a pane can draft with: each run's final adapter and its checkpoints, the
    checkpoints labelled with the validation loss at their step. In demo mode, published runs only."""
    choices = []
    for row in service.visible_runs(root, demo):
        try:
            found = service.checkpoints(root, row["run_id"])
        except (OSError, ValueError):
            continue
        for c in reversed(found):
            if c.get("final"):
                label = say(lang, "write.source_final", run=row["run_id"])
            else:
                loss = say(lang, "write.source_loss", loss=c["val_loss"]) if c.get("val_loss") is not None else ""
                label = say(lang, "write.source_step", run=row["run_id"], step=c["step"], loss=loss)
            choices.append((label, c["source"]))
    return choices


def refresh(call: Call, picks: list, fill_first: bool = True) -> dict:
    """The pane lists as the runs are now, the picks kept; an empty first pane gets the first final
    adapter (`fill_first`; not on the desk, whose panes are the manuscript's own setup)."""
    choices = source_choices(call.root, call.demo, call.lang)
    values = [c[1] for c in choices]
    keep = [s if s in values else None for s in picks]
    if keep[0] is None and fill_first:
        keep[0] = next((v for v in values if "@" not in v), None)  # the first final adapter
    return {"picks": [gr.update(choices=choices, value=v) for v in keep]}


# -- the manuscript list ---------------------------------------------------------------------
def _choices(call: Call, rows: list[dict]) -> list[tuple[str, str]]:
    return [(say(call.lang, "desk.choice", title=r["title"] or r["id"], words=r["words"]), r["id"]) for r in rows]


def listed(call: Call, ms_id: str) -> dict:
    """The manuscript list again, its word counts as they are now, the same one picked. Reopens
    nothing: a manuscript is opened by the pick's `input` (the writer's choice), which an update
    of its choices or value does not fire (its `change` would)."""
    return {"pick": gr.update(choices=_choices(call, service.manuscripts(call.root)), value=ms_id)}
