"""The desk's tools (split from studio/ui/desk.py): token alternatives of a candidate (the model that
drafted it beside the base, one token picked and the candidate redrafted from there), summarize the
manuscript into memory (a chosen model drafts the summary, the writer edits it, a button puts it
into memory), and the style match of the model-written passages against the writer's held-out text.

Layout (`layout`, inside the desk's accordion, its fields part of DeskLayout), then the handlers;
studio/ui/desk.py wires them with the rest of the desk."""
from __future__ import annotations

import threading
import unicodedata
from functools import partial

import gradio as gr

from studio import service
from studio.config import GenConfig
from studio.messages import render, say
from studio.ui.desk_parts import SLOTS, USER_ERRORS, failed, picked, save_first, shown, source_label, stops
from studio.ui.i18n import T
from studio.ui.wiring import Call, Tab, on


TOKEN_COLOURS = {"a": "#e3ecfa", "b": "#f8ecd9"}  # neighbouring tokens alternate, so each one shows
# Whitespace drawn as text editors draw it: a token of spaces or a line break is a chip like any other
# (gradio draws no chip for a part of a token that is empty or only whitespace, so chip k was not token k)
SHOWN_WHITESPACE = {" ": "\u00b7", "\t": "\u21e5", "\n": "\u23ce", "\r": "\u240d"}  # · ⇥ ⏎ ␍


# -- layout ---------------------------------------------------------------------------------
def layout() -> dict:
    with gr.Accordion(T("desk.alt_section"), open=False, elem_id="manuscript-alternatives"):
        # the colours tell neighbours apart; their category names ("a", "b") are no text for a writer
        tokens = gr.HighlightedText(label=T("desk.alt_tokens"), combine_adjacent=False, show_legend=False,
                                    show_inline_category=False, show_whitespaces=True, color_map=TOKEN_COLOURS,
                                    elem_id="manuscript-tokens")
        with gr.Row():
            alt_position = gr.Number(label=T("desk.alt_position"), precision=0, minimum=0, scale=0,
                                     elem_id="manuscript-alt-position")
            alt_btn = gr.Button(T("desk.alt_show"), scale=0, elem_id="manuscript-alt-show")
        alt_table = gr.Markdown(elem_id="manuscript-alt-table")
        with gr.Row():
            alt_choice = gr.Radio(label=T("desk.alt_choice"), choices=[], elem_id="manuscript-alt-choice", scale=3)
            redraft_btn = gr.Button(T("desk.alt_redraft"), scale=0, elem_id="manuscript-redraft")
    with gr.Accordion(T("desk.summary_section"), open=False, elem_id="manuscript-summary-section"):
        with gr.Row():
            summary_model = gr.Dropdown(label=T("desk.summary_model"), choices=[], elem_id="manuscript-summary-model",
                                        scale=2)  # the base and the runs, in the visitor's language, on page load
            summarize_btn = gr.Button(T("desk.summarize"), scale=0, elem_id="manuscript-summarize")
            to_memory_btn = gr.Button(T("desk.to_memory"), scale=0, elem_id="manuscript-to-memory")
        summary = gr.Textbox(label=T("desk.summary"), lines=4, elem_id="manuscript-summary")
        with gr.Row():
            style_btn = gr.Button(T("desk.style"), scale=0, elem_id="manuscript-style")
            style_line = gr.Markdown(elem_id="manuscript-style-line")
    return dict(alt_n=gr.State(None), tokens=tokens, alt_position=alt_position, alt_btn=alt_btn, alt_table=alt_table, alt_choice=alt_choice,
                redraft_btn=redraft_btn, summary_model=summary_model, summarize_btn=summarize_btn,
                to_memory_btn=to_memory_btn, summary=summary, style_btn=style_btn, style_line=style_line)


# -- token alternatives ---------------------------------------------------------------------
def show_tokens(call: Call, ms_id: str | None, slots: list, slot: int) -> dict:
    """The candidate in `slot` as tokens to click (the Alternatives button under it)."""
    try:
        n = (slots or [None] * SLOTS)[slot]
        if n is None:
            raise ValueError(say(call.lang, "desk.pick_candidate"))
        pieces = service.candidate_tokens(call.root, picked(call, ms_id), n)
        source = next(c["source"] for c in service.pending_candidates(call.root, ms_id) if c["n"] == n)
    except USER_ERRORS as e:
        return {"notice": failed(call, e)}
    return {"alt_n": n, "tokens": token_view(pieces), "alt_position": None,
            "alt_choice": gr.update(choices=[], value=None),
            "alt_table": say(call.lang, "desk.tokens_of", n=n, source=source, count=len(pieces))}


def shown_token(piece: str) -> str:
    """A token as its chip shows it: whitespace as a visible mark (other spaces, such as the
    full-width one, as ·; control characters as their Unicode pictures), then its line breaks
    again, after the chip (gradio breaks the line there and draws no chip for what follows);
    '' (a piece of a character split over two tokens) as an ellipsis."""
    if not piece:
        return "\u2026"
    marks = []
    for c in piece:
        if c in SHOWN_WHITESPACE:
            marks.append(SHOWN_WHITESPACE[c])
        elif c.isspace():
            marks.append(SHOWN_WHITESPACE[" "])
        elif unicodedata.category(c) == "Cc":
            marks.append(chr(0x2400 + ord(c)) if ord(c) < 0x20 else "\u2421" if c == "\x7f" else "\ufffd")
        else:
            marks.append(c)
    return "".join(marks) + "\n" * piece.count("\n")


def token_view(pieces: list[str]) -> list[tuple[str, str]]:
    """The tokens for the HighlightedText: each one chip (chip k is token k, as a click reports it),
    its whitespace shown, neighbours in two colours."""
    return [(shown_token(p), "ab"[k % 2]) for k, p in enumerate(pieces)]


def clicked_token(evt: gr.SelectData) -> int:
    """The position of the token a writer clicked in the tokens view."""
    index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    return int(index)


def _code(token: str) -> str:
    """A token inside a Markdown code span in a table cell: quoted, no backtick, pipes escaped."""
    return "`" + repr(token).replace("`", "'").replace("|", "\\|") + "`"


def _percent(p: float | None) -> str:
    return "" if p is None else f"{100 * p:.1f}"


def alternatives_markdown(found, lang: str) -> str:
    tuned = say(lang, "desk.alt_tuned") if found.source != "base" else say(lang, "desk.alt_drafted")
    head = (say(lang, "desk.alt_at", position=found.position, current=_code(found.current))
            if found.current else say(lang, "desk.alt_end"))
    rows = [f"| {_code(c.text)} | {_percent(c.tuned if found.source != 'base' else c.base)} | {_percent(c.base)} |"
            for c in found.rows]
    return "\n".join([head, "", say(lang, "desk.alt_heading", tuned=tuned, base=say(lang, "desk.alt_base")),
                      "|---|---:|---:|", *rows])


def show_alternatives(call: Call, ms_id: str | None, n: int | None, position: float | None) -> dict:
    """The likeliest tokens at the position under the drafting model and the base, to pick one."""
    try:
        if n is None:
            raise ValueError(say(call.lang, "desk.pick_candidate"))
        found = service.manuscript_alternatives(call.root, picked(call, ms_id), int(n), int(position or 0))
    except USER_ERRORS as e:
        return {"alt_table": failed(call, e)}
    choices = [(f"{c.text!r} · {_percent(c.tuned if found.source != 'base' else c.base)}% · {_percent(c.base)}%",
                c.token_id) for c in found.rows]
    return {"alt_table": alternatives_markdown(found, call.lang), "alt_choice": gr.update(choices=choices, value=None),
            "alt_position": found.position}


def redraft(call: Call, ms_id: str | None, n: int | None, position: float | None, token: int | None, slots: list):
    """Candidate n redrafted from the picked token, streamed into its box."""
    try:
        if n is None or token is None:
            raise ValueError(say(call.lang, "desk.pick_token"))
        if n not in (slots or []):  # the candidates were replaced by a newer continue
            raise ValueError(say(call.lang, "desk.pick_candidate"))
        slot = slots.index(n)
        stop = stops[call.session] = threading.Event()
        text = ""
        for item in service.redraft_candidate(call.root, picked(call, ms_id), int(n), int(position or 0), int(token), stop):
            if "text" not in item:
                yield {"notice": render(call.lang, item["message"])}
                continue
            text = item["text"]
            boxes = [gr.update()] * SLOTS
            boxes[slot] = gr.update(value=text)
            yield {"cands": boxes, "notice": say(call.lang, "write.drafting")}
        pieces = service.candidate_tokens(call.root, ms_id, int(n))
        yield {"tokens": token_view(pieces),
               "notice": say(call.lang, "desk.redrafted", n=n, position=int(position or 0))}
    except USER_ERRORS as e:
        yield {"notice": failed(call, e)}
    finally:
        stops.pop(call.session, None)


# -- summarize into memory, style match -----------------------------------------------------
def summary_choices(call: Call) -> dict:
    """The models that can summarize: the base, then each run with a final adapter."""
    choices = [(say(call.lang, "manuscript.source_base"), "base")]
    for row in service.visible_runs(call.root, call.demo):
        try:
            if any(c.get("final") for c in service.checkpoints(call.root, row["run_id"])):
                choices.append((say(call.lang, "manuscript.source_run", run=row["run_id"]), row["run_id"]))
        except (OSError, ValueError):
            continue
    return {"summary_model": gr.update(choices=choices, value="base")}


def summarize(call: Call, ms_id: str | None, text: str, base: int | None, source: str | None, max_new: float,
              temperature: float, top_p: float, top_k: float | None, repetition: float, seed: float | None):
    """The chosen model's summary of the manuscript so far, streamed into the summary box."""
    try:
        if call.demo:  # a visitor summarizes with published runs only, whatever is sent
            service.check_demo_sources(call.root, [source or "base"])
        revision, notice = save_first(call, ms_id, text, base)
        gen = GenConfig(max_new_tokens=int(max_new), temperature=float(temperature), top_p=float(top_p),
                        top_k=int(top_k or 0), repetition_penalty=float(repetition), seed=int(seed or 0))
        yield {"base": revision, "notice": notice or say(call.lang, "desk.summarizing")}
        stop = stops[call.session] = threading.Event()
        for item in service.summarize_manuscript(call.root, ms_id, source or "base", gen, stop,
                                                 model=call.default_model or None):
            if "text" in item:
                yield {"summary": item["text"], **({"notice": say(call.lang, "desk.summary_ready")}
                                                   if item["done"] else {})}
            else:
                yield {"notice": render(call.lang, item["message"])}
    except USER_ERRORS as e:
        yield {"notice": failed(call, e)}
    finally:
        stops.pop(call.session, None)


def to_memory(call: Call, ms_id: str | None, summary: str, base: int | None) -> dict:
    """The (edited) summary becomes the memory: a revision like any edit (Undo takes it back)."""
    try:
        result = service.set_manuscript_field(call.root, picked(call, ms_id), "memory", (summary or "").strip(), base)
    except USER_ERRORS as e:
        return {"notice": failed(call, e)}
    conflict = render(call.lang, result["notice"]) if result["notice"] else ""
    return {"memory": (summary or "").strip(), "base": result["revision"],
            "notice": conflict or say(call.lang, "desk.memory_set"), **shown(result["manuscript"], call.lang)}


def style(call: Call, ms_id: str | None, text: str, base: int | None, picks: list) -> dict:
    """One line: Burrows' Delta of each model's passages and the writer's own, against the held-out
    text of the first tuned pane's run (else the first run that wrote a passage)."""
    try:
        revision, _ = save_first(call, ms_id, text, base)
        run = next((p.split("@")[0] for p in picks or [] if p), None)
        found = service.manuscript_style(call.root, ms_id, run)
    except USER_ERRORS as e:
        return {"style_line": failed(call, e)}
    rows = "; ".join(say(call.lang, "desk.style_row", source=source_label(r.source, call.lang), distance=r.distance,
                         chars=r.chars) for r in found.rows)
    return {"base": revision, "style_line": say(call.lang, "desk.style_line", run=found.run, rows=rows)}


# -- wiring (called by studio/ui/desk.py's wire with the whole DeskLayout) --------------------
def wire(ui, tab: Tab) -> None:
    shown_tokens = ["alt_n", "tokens", "alt_position", "alt_choice", "alt_table", "notice"]
    for slot, button in enumerate(ui.alts):
        on(button.click, partial(show_tokens, slot=slot), tab, ui, ["pick", "slots"], shown_tokens)
    picked_alts = ["alt_table", "alt_choice", "alt_position"]
    clicked = ui.tokens.select(clicked_token, None, ui.alt_position)
    on(clicked.then, show_alternatives, tab, ui, ["pick", "alt_n", "alt_position"], picked_alts)
    on(ui.alt_btn.click, show_alternatives, tab, ui, ["pick", "alt_n", "alt_position"], picked_alts)
    on(ui.redraft_btn.click, redraft, tab, ui, ["pick", "alt_n", "alt_position", "alt_choice", "slots"],
       ["cands", "tokens", "notice"])
    on(ui.summarize_btn.click, summarize, tab, ui, ["pick", "text", "base", "summary_model", "max_new", "temperature",
                                                    "top_p", "top_k", "repetition", "seed"], ["base", "summary", "notice"])
    on(ui.to_memory_btn.click, to_memory, tab, ui, ["pick", "summary", "base"],
       ["memory", "base", "notice", "text", "sources"])
    on(ui.style_btn.click, style, tab, ui, ["pick", "text", "base", "picks"], ["base", "style_line"])
