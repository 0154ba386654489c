"""Write tab: one prompt, the base and up to three tuned adapters (runs or checkpoints) drafted
side by side in one streamed batch; blind A/B judging that feeds DPO; corpus-overlap highlights;
exports (studio/ui/judging.py).

Layout (`layout` and its parts), then the handlers, each taking plain values or the DraftForm
and returning named updates, then `wire`."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import GenConfig
from studio.messages import render, say
from studio.ui import desk, judging, views
from studio.ui.desk_parts import refresh, source_choices  # noqa: F401  (the pane lists: shared with the desk)
from studio.ui.i18n import T, text
from studio.ui.wiring import Call, Tab, loader, on, stop_drafting_in, visitor_tab

USER_ERRORS = (ValueError, RuntimeError)  # the core's refusals (config, adapters, judging) are ValueErrors
PANES = 1 + service.MAX_TUNED_PANES  # the base and the tuned panes
_stops: dict[str, threading.Event] = {}  # per browser session: what the Stop button sets


# -- layout ---------------------------------------------------------------------------------
@dataclass
class WriteLayout:
    last: gr.State  # the finished comparison shown now
    mode: gr.Radio
    with_base: gr.Checkbox
    prompt: gr.Textbox
    picks: list  # the tuned panes' sources
    refresh_btn: gr.Button
    max_new: gr.Slider
    temperature: gr.Slider
    top_p: gr.Slider
    top_k: gr.Number
    repetition: gr.Slider
    seed: gr.Number
    drafts: gr.Slider
    draft_btn: gr.Button
    stop_btn: gr.Button
    message: gr.Markdown
    boxes: list  # one textbox per pane
    copied: list  # one highlighted view per pane
    style_openings: gr.Number
    style_btn: gr.Button
    style_table: gr.Markdown
    judging: judging.JudgingLayout | None = None  # exports and blind judging; not built in demo mode
    desk: desk.DeskLayout | None = None  # the manuscript at the top (studio/ui/desk.py); a visitor's own in demo mode

    @property
    def first_pick(self):
        return self.picks[0]

    @property
    def rates(self):  # the win rates, refreshed with the pane lists when the page opens
        return self.judging.rates


def _prompt() -> dict:
    mode = gr.Radio([(T(f"write.mode_{m}"), m) for m in service.DRAFT_MODES], value="continue",
                    label=T("write.mode"), info=T("write.hint_continue"), elem_id="write-mode")
    prompt = gr.Textbox(label=T("write.prompt"), lines=4, value="LAMP LOG, GANNET ROCK. Day 41.", elem_id="write-prompt")
    return dict(mode=mode, prompt=prompt)


def _picks() -> dict:
    with gr.Row():
        with_base = gr.Checkbox(value=True, label=T("write.base_pane"), elem_id="write-base-pane", scale=0)
        picks = [gr.Dropdown(label=T(f"write.tuned_{n + 1}"), choices=[], elem_id=f"write-run-{n + 1}")
                 for n in range(service.MAX_TUNED_PANES)]
        refresh_btn = gr.Button(T("write.refresh"), scale=0)
    return dict(with_base=with_base, picks=picks, refresh_btn=refresh_btn)


def _sampling(demo: bool = False, open_: bool = False) -> dict:
    defaults, limits = GenConfig(), service.demo_limits()
    # a demo visitor's sliders stop at the owner's limits (the service refuses more, whatever is sent)
    most_new, most_drafts = (limits.max_new_tokens, max(1, min(4, limits.rows))) if demo else (512, 4)
    with gr.Accordion(T("write.sampling"), open=open_, elem_id="write-sampling"):
        with gr.Row():
            max_new = gr.Slider(8, most_new, value=min(defaults.max_new_tokens, most_new), step=8,
                                label=T("write.max_new"))
            temperature = gr.Slider(0, 2, value=defaults.temperature, step=0.05, label=T("write.temperature"))
            top_p = gr.Slider(0.05, 1, value=defaults.top_p, step=0.05, label=T("write.top_p"))
            top_k = gr.Number(value=defaults.top_k, precision=0, label=T("write.top_k"))
        with gr.Row():
            repetition = gr.Slider(0.8, 2, value=defaults.repetition_penalty, step=0.05, label=T("write.repetition"))
            seed = gr.Number(value=defaults.seed, precision=0, label=T("write.seed"))
            drafts = gr.Slider(1, most_drafts, value=1, step=1, label=T("write.drafts"))
    return dict(max_new=max_new, temperature=temperature, top_p=top_p, top_k=top_k, repetition=repetition, seed=seed,
                drafts=drafts)


def _panes() -> dict:
    with gr.Row():
        draft_btn = gr.Button(T("write.draft"), variant="primary", elem_id="write-draft")
        stop_btn = gr.Button(T("write.stop"), variant="stop", elem_id="write-stop")
    message = gr.Markdown(elem_id="write-message")
    boxes, copied = [], []
    with gr.Row():
        for n in range(PANES):
            with gr.Column():
                boxes.append(gr.Textbox(label=T("write.base_label") if n == 0 else T(f"write.tuned_{n}"), lines=12,
                                        buttons=["copy"], visible=n <= 1,
                                        elem_id="draft-base" if n == 0 else f"draft-tuned-{n}"))
                copied.append(gr.HighlightedText(label=T("write.copied"), color_map={"copied": "#f4a261"},
                                                 visible=False, combine_adjacent=True))
    return dict(draft_btn=draft_btn, stop_btn=stop_btn, message=message, boxes=boxes, copied=copied)


def _style(demo: bool) -> dict:
    with gr.Accordion(T("write.style"), open=False, visible=service.demo_allows(demo, "style")):
        gr.Markdown(T("write.style_help"))
        with gr.Row():
            style_openings = gr.Number(value=24, precision=0, minimum=1, maximum=64, label=T("write.style_openings"))
            style_btn = gr.Button(T("write.style_start"), elem_id="style-start")
        style_table = gr.Markdown(elem_id="style-result")
    return dict(style_openings=style_openings, style_btn=style_btn, style_table=style_table)


def _controls_into(controls: dict, demo: bool) -> None:
    """The pane choices and sampling settings, made where this is called (under the desk's editor)."""
    controls.update({**_picks(), **_sampling(demo)})


def layout(demo: bool = False) -> WriteLayout:
    """The desk on top with the panes and sampling settings beside it (the comparison below shares
    them); without a desk, they sit with the comparison's prompt."""
    controls: dict = {}
    with_desk = service.demo_allows(demo, "manuscript")
    desk_ui = desk.layout(partial(_controls_into, controls, demo)) if with_desk else None
    if desk_ui is None:
        controls.update(_picks())
    parts = {"last": gr.State(None), **_prompt(), **controls}
    if desk_ui is None:
        parts.update(_sampling(demo))
    parts.update(_panes())
    judged = None
    if service.demo_allows(demo, "judge"):
        judged = judging.layout(parts["last"], parts["message"], parts["picks"])
    return WriteLayout(**parts, **_style(demo), judging=judged, desk=desk_ui)


# -- handlers -------------------------------------------------------------------------------
@dataclass
class DraftForm:
    """The Write form as the draft handler gets it (its fields name the layout's inputs, in the
    order of the /draft endpoint)."""
    mode: str
    prompt: str
    with_base: bool
    picks: list
    max_new: float
    temperature: float
    top_p: float
    top_k: float | None
    repetition: float
    seed: float | None
    drafts: float

    def panes(self) -> list[str]:
        return desk.chosen_panes(self)

    def gen(self) -> GenConfig:
        return desk.sampling(self)


def check_demo_panes(root: Path, panes: list[str], demo: bool = True) -> None:
    """Demo mode drafts with published runs only, whatever a caller sends (the rule is the service's)."""
    if demo:
        service.check_demo_sources(root, panes)


def mode_hint(call: Call, mode: str):
    mode = mode if mode in service.DRAFT_MODES else "continue"  # a script may send anything
    return gr.update(info=text(f"write.hint_{mode}", call.lang))  # a plain string: JSON over the REST route too


def _pane_updates(item: dict, labels: list, lang: str) -> list:
    texts = [views.pane_text(p["drafts"], lang) for p in item["panes"]]
    updates = [gr.update(visible=True, value=t, label=label) for t, label in zip(texts, labels)]
    return updates + [gr.update(visible=False, value="")] * (PANES - len(updates))


def _copied_updates(item: dict, lang: str) -> list:
    marks = [gr.update(visible=any(p.get("copied") or []), value=service.copied_pieces(p),
                       label=views.copied_label(p, lang)) for p in item["panes"]]
    return marks + [gr.update(visible=False, value=None)] * (PANES - len(marks))


def draft(call: Call, form: DraftForm):
    """Stream the drafts of every pane; a few updates a second, then the finished comparison."""
    hidden = [gr.update(visible=False, value=None)] * PANES
    panes = form.panes()
    labels = [(text("write.base_label", call.lang) if p == "base" else p) for p in panes]
    try:
        gen = form.gen()
        if not panes:
            raise ValueError(say(call.lang, "write.no_panes"))
        check_demo_panes(call.root, panes, call.demo)
    except USER_ERRORS as e:
        yield {"message": say(call.lang, "error", error=e), "last": None, "copied": hidden}
        return
    stop = _stops[call.session] = threading.Event()
    shown, every = 0.0, service.SCREEN_UPDATE_S
    try:
        for item in service.draft_stream(call.root, panes, form.prompt, gen, form.mode, stop):
            if item.get("waiting"):
                yield {"message": render(call.lang, item["message"]), "copied": hidden}
            elif not item["done"]:
                if time.time() - shown >= every:  # a few updates a second: the browser keeps up, the CPU drafts
                    shown, every = time.time(), service.screen_update_s(call.root)
                    yield {"message": say(call.lang, "write.drafting"), "boxes": _pane_updates(item, labels, call.lang),
                           "copied": hidden}
            else:
                yield {"message": views.draft_summary(item, call.lang), "last": item,
                       "boxes": _pane_updates(item, labels, call.lang), "copied": _copied_updates(item, call.lang)}
    except USER_ERRORS as e:
        yield {"message": say(call.lang, "error", error=e), "copied": hidden}
    finally:
        _stops.pop(call.session, None)


def stop_drafting(call: Call) -> str:
    return stop_drafting_in(_stops, call)


def style_check(call: Call, source: str | None, count) -> str:
    """Style match of the run in tuned pane 1 (a checkpoint counts as its run), on demand."""
    run_id = service.run_of_source(source or "")
    if not run_id:
        return say(call.lang, "error", error=say(call.lang, "style.pick"))
    try:
        result = service.style_match(call.root, run_id, max(1, int(count or 8)))
    except USER_ERRORS as e:
        return say(call.lang, "error", error=e)
    table = "\n".join([say(call.lang, "eval.heading"), "|---|---|---|", *views.style_rows(result, call.lang)])
    sample = result["rows"][0]
    return f"{table}\n\n" + say(call.lang, "style.sample", opening=sample["opening"], base=sample["base"],
                                 tuned=sample["tuned"])


def on_load(call: Call, picks: list) -> dict:
    return {**refresh(call, picks), **judging.win_rates(call)}


# -- wiring ---------------------------------------------------------------------------------
def wire(ui: WriteLayout, tab: Tab) -> dict:
    on(ui.mode.change, mode_hint, tab, ui, ["mode"], "mode")
    on(ui.refresh_btn.click, refresh, tab, ui, ["picks"], ["picks"])
    # demo mode: the comparison's drafts and the desk are each visitor's own (their folder, their limits)
    drafting = visitor_tab(tab)
    on(ui.draft_btn.click, draft, drafting, ui, form=DraftForm, outputs=["message", "last", "boxes", "copied"])
    on(ui.stop_btn.click, stop_drafting, drafting, ui, [], "message")  # generation ends at the next token; drafts stay
    # with a desk, the page's load sets the panes from the manuscript's setup (desk.open_desk): a second
    # load setting them too would race it, and the later answer would win
    if not ui.judging:
        desk_load = desk.wire(ui.desk, ui, drafting) if ui.desk else {}
        return {"load": loader(refresh, tab, ui, ["picks"], [] if ui.desk else ["picks"]), **desk_load}
    judging.wire(ui.judging, tab)
    on(ui.style_btn.click, style_check, tab, ui, ["first_pick", "style_openings"], "style_table")
    desk_load = desk.wire(ui.desk, ui, tab) if ui.desk else {}
    return {"load": loader(on_load, tab, ui, ["picks"], ["rates"] if ui.desk else ["picks", "rates"]), **desk_load}


def build(root: Path, demo: bool = False, forced_lang: str | None = None, default_model: str = "") -> dict:
    return wire(layout(demo), Tab(root, forced_lang, demo, default_model))
