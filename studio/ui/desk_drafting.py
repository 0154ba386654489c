"""Drafting at the desk (split from studio/ui/desk.py): the setup a manuscript drafts with (its panes
and sampling settings, kept with it: studio/write/desk_setup.py), Continue into the text or side by
side, Retry, Stop, and the candidates of the last continue shown again with what they are.

Handlers only; studio/ui/desk.py lays the desk out and wires them."""
from __future__ import annotations

import dataclasses
import threading
import time

import gradio as gr

from studio import service
from studio.messages import render, say
from studio.ui.desk_parts import (SLOTS, USER_ERRORS, DeskForm, _choices, candidate_updates, context_markdown,  # noqa: F401
                                  failed, inline_streams, listed, save_first, shown, source_choices, source_label,
                                  stops)
from studio.ui.wiring import Call, stop_drafting_in


# -- the setup: panes and sampling settings kept with the manuscript (studio/write/desk_setup.py) --
SETUP = ["with_base", "picks", "max_new", "temperature", "top_p", "top_k", "repetition", "seed", "drafts", "mode"]


def setup_shown(call: Call, ms_id: str | None, picks_now: list | None = None) -> dict:
    """The pane choices (every run's adapters) with the manuscript's panes picked, and its sampling
    settings; a manuscript never drafted keeps what is on the screen (the first run in pane 1)."""
    most = service.MAX_TUNED_PANES
    choices = source_choices(service.visitors.owner_root(call.root), call.demo, call.lang)
    values = [c[1] for c in choices]
    setup, notices = service.manuscript_setup(call.root, ms_id) if ms_id else (None, [])
    if setup is None or not setup.saved:
        keep = [p if p in values else None for p in list(picks_now or [])[:most] + [None] * most][:most]
        if keep[0] is None:
            keep[0] = next((v for v in values if "@" not in v), None)  # the first final adapter
        return {"picks": [gr.update(choices=choices, value=v) for v in keep],
                "setup_notice": " ".join(render(call.lang, n) for n in notices)}
    wanted = (list(setup.picks) + [None] * most)[:most]
    gone = [p for p in wanted if p and p not in values]
    gen, limits = setup.gen, service.demo_limits()
    most_new = limits.max_new_tokens if call.demo else 512
    most_drafts = max(1, min(4, limits.rows)) if call.demo else 4
    said = [render(call.lang, n) for n in notices] + ([say(call.lang, "desk.setup_gone", runs=", ".join(gone))] if gone else [])
    return {"picks": [gr.update(choices=choices, value=p if p in values else None) for p in wanted],
            "with_base": setup.with_base, "max_new": min(gen.max_new_tokens, most_new), "temperature": gen.temperature,
            "top_p": gen.top_p, "top_k": gen.top_k, "repetition": gen.repetition_penalty, "seed": gen.seed,
            "drafts": min(gen.drafts, most_drafts), "mode": setup.mode, "setup_notice": " ".join(said)}


def keep_setup(call: Call, form: DeskForm) -> None:
    """A pane or a setting changed by the writer: kept with the manuscript at once (a reload, another
    tab or a restart opens it so). A value being typed that is not valid yet is not kept."""
    if not form.pick:
        return
    try:
        service.keep_manuscript_setup(call.root, form.pick, picks=list(form.picks), with_base=bool(form.with_base),
                                      gen=form.gen(), mode=form.mode or None)
    except USER_ERRORS:
        pass  # e.g. top-p typed half-way: the next change keeps it


def pending_shown(call: Call, ms_id: str | None) -> dict:
    """The last continue's candidates, kept on disk, shown again (after a reload, in another tab),
    and `restored`: what they are (when, which panes, which seed; cut off by a closed page)."""
    try:
        found = service.pending_candidates(call.root, ms_id) if ms_id else []
    except USER_ERRORS:
        found = []
    if found and found[0].get("inline"):
        found = []  # drafted inline: it is in the text already
    panes: dict[str, list] = {}
    for c in found:
        panes.setdefault(c["source"], []).append(c["text"])
    item = {"panes": [{"source": s, "drafts": d} for s, d in panes.items()], "done": True}
    boxes, buttons, slots = candidate_updates(item, [source_label(s, call.lang) if s == "base" else s for s in panes])
    restored = ""
    if found:
        first = found[0]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(first["time"])) if first.get("time") else "?"
        labels = ", ".join(source_label(s, call.lang) if s == "base" else s for s in panes)
        restored = say(call.lang, "desk.restored_cut" if first.get("cut") else "desk.restored_from", n=len(found),
                       when=when, panes=labels, seed=first.get("settings", {}).get("seed", "?"))
    return {"cands": boxes, "uses": buttons, "alts": buttons, "slots": slots, "restored": restored}


def _cursor(form: DeskForm, at_cursor: bool) -> int | None:
    """The draft point: the cursor when asked and inside the text, else None (the end)."""
    if not at_cursor or form.cursor is None:
        return None
    at = int(form.cursor)
    return at if 0 <= at < len(form.text or "") else None


def _where(ctx, at: int | None, lang: str) -> str:
    """Says where a continue drafts when it is not the end: from the cursor, or filling in there."""
    if ctx.mode == "end" or at is None:
        return ""
    said = say(lang, "desk.fim_at" if ctx.mode == "fim" else "desk.from_cursor_at", at=at)
    return " ".join([said] + [render(lang, n) for n in ctx.notices])


def inline(form: DeskForm) -> bool:
    """Drafts stream into the text itself (the desk's default) when one pane drafts one candidate."""
    return form.mode == "inline" and len(form.panes()) == 1 and int(form.drafts or 1) == 1


def continue_manuscript(call: Call, form: DeskForm, at_cursor: bool = False):
    """Save the editor, then draft: inline, the draft streams into the text and is kept there as a
    drafted passage (Retry replaces it, Undo removes it, writing on keeps it); side by side, the
    candidates of every pane stream into their boxes, each used with a click. Stop ends the draft
    and keeps what it has."""
    panes, last, where, every = form.panes(), 0.0, "", service.SCREEN_UPDATE_S
    labels = [say(call.lang, "manuscript.source_base") if p == "base" else p for p in panes]
    into_text = inline(form)
    try:
        if not panes:
            raise ValueError(say(call.lang, "write.no_panes"))
        gen = form.gen()
        revision, notice = save_first(call, form.pick, form.text, form.base, form.memory, form.note)
        yield {"base": revision, "notice": notice or say(call.lang, "write.drafting")}
        stop = stops[call.session] = threading.Event()
        at = _cursor(form, at_cursor)
        saved = service.manuscript(call.root, form.pick)["text"]
        if into_text:
            inline_streams.add(call.session)
        point = len(saved) if at is None else at
        for item in service.continue_manuscript(call.root, form.pick, panes, gen, at, stop,
                                                model=call.default_model or None):
            if "context" in item:
                where = _where(item["context"], at, call.lang)
                yield {"context_view": context_markdown(item["context"], call.lang),
                       "notice": notice or where or say(call.lang, "write.drafting")}
            elif item.get("waiting"):
                yield {"notice": render(call.lang, item["message"])}
            elif into_text and (item.get("done") or time.time() - last >= every):
                last, every = time.time(), service.screen_update_s(call.root)
                draft = item["panes"][0]["drafts"][0] if item.get("panes") else ""
                if not item.get("done"):
                    yield {"text": gr.update(value=saved[:point] + draft + saved[point:], interactive=False),
                           "notice": " ".join(filter(None, [notice, where])) or say(call.lang, "write.drafting")}
                    continue
                stuck = " ".join(render(call.lang, n) for n in item.get("notices", []))  # a ban list with no way on
                yield _kept_inline(call, form.pick, draft, labels[0], item, " ".join(filter(None, [notice, where, stuck])))
            elif item.get("done") or time.time() - last >= every:
                last, every = time.time(), service.screen_update_s(call.root)
                boxes, _, slots = candidate_updates(item, labels)  # the buttons come after (candidate_buttons)
                done = say(call.lang, "desk.stopped" if item.get("stopped") else "desk.candidates",
                           n=sum(s is not None for s in slots)) if item.get("done") else None
                stuck = " ".join(render(call.lang, n) for n in item.get("notices", []))
                yield {"cands": boxes, "slots": slots,
                       "notice": " ".join(filter(None, [notice, where, done, stuck])) or say(call.lang, "write.drafting")}
    except Exception as e:  # noqa: BLE001 - the editor is given back as saved, then the error shown or raised
        inline_streams.discard(call.session)
        back = gr.update(interactive=True)
        if into_text and form.pick:
            back = gr.update(value=service.manuscript(call.root, form.pick)["text"], interactive=True)
        if not isinstance(e, USER_ERRORS):
            yield {"text": back}
            raise
        yield {"notice": failed(call, e), "text": back}
    finally:
        inline_streams.discard(call.session)
        stops.pop(call.session, None)


def _kept_inline(call: Call, ms_id: str, draft: str, label: str, item: dict, said: str) -> dict:
    """The finished inline draft, kept in the manuscript as a drafted passage (one revision: Undo
    takes it out, Retry replaces it); an empty draft leaves the text as it was."""
    inline_streams.discard(call.session)
    if not draft.strip():
        shown_now = shown(service.manuscript(call.root, ms_id)["manuscript"], call.lang)
        return {**shown_now, "text": gr.update(value=shown_now["text"], interactive=True),
                "notice": " ".join(filter(None, [said, say(call.lang, "desk.inline_empty")]))}
    result = service.use_pending_candidate(call.root, ms_id, 1, inline=True)
    shown_now = shown(result["manuscript"], call.lang)
    moved = render(call.lang, result["notice"]) if result.get("notice") else ""
    kept = say(call.lang, "desk.inline_stopped" if item.get("stopped") else "desk.inline_kept", source=label)
    return {**shown_now, "text": gr.update(value=shown_now["text"], interactive=True),
            "cands": [gr.update(visible=False, value="")] * SLOTS, "slots": [None] * SLOTS,
            "notice": " ".join(filter(None, [said, moved, kept])), **listed(call, ms_id)}


def hide_buttons(call: Call) -> dict:
    """A continue begins: the last candidates' Use and Alternatives buttons go until the new ones come."""
    return {"uses": [gr.update(visible=False)] * SLOTS, "alts": [gr.update(visible=False)] * SLOTS}


def candidate_buttons(call: Call, ms_id: str | None) -> dict:
    """A continue ended: the Use and Alternatives buttons of the candidates it kept on disk."""
    shown_now = pending_shown(call, ms_id)
    return {"uses": shown_now["uses"], "alts": shown_now["alts"]}


def stop_drafting(call: Call) -> str:
    """Stop ends this visitor's continue, summary or redraft at the next token; the text so far stays."""
    return stop_drafting_in(stops, call)


def retry(call: Call, form: DeskForm):
    """Continue again from the same point (the end, or where the last continue drafted from the
    cursor) with the next seed."""
    form = dataclasses.replace(form, seed=int(form.seed or 0) + 1)
    yield {"seed": form.seed}
    try:
        last = service.pending_candidates(call.root, form.pick)[0] if form.pick else None
    except USER_ERRORS:
        last = None
    if last and inline(form):
        try:  # the inline draft the writer has not written on yet is replaced, not kept beside the new one
            taken = service.take_back_inline_draft(call.root, form.pick, form.text)
        except USER_ERRORS as e:
            yield {"notice": failed(call, e)}
            return
        if taken:
            form = dataclasses.replace(form, text=taken["text"], base=taken["revision"])
            yield {**shown(taken["manuscript"], call.lang)}
    if last and last.get("mode", "end") != "end":
        form = dataclasses.replace(form, cursor=last["at"])
    yield from continue_manuscript(call, form, at_cursor=form.cursor is not None)
