"""The Write tab's exports and blind judging: export the drafts shown, judge two drafts without
knowing which is which (the picks feed DPO), export the pairs, start a DPO run. Not built in
demo mode (nothing written, no judgements that would feed training)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from studio import service
from studio.messages import say
from studio.ui import views
from studio.ui.downloads import downloadable
from studio.ui.i18n import T
from studio.ui.wiring import Call, Tab, on

USER_ERRORS = (ValueError, RuntimeError)


# -- layout ---------------------------------------------------------------------------------
@dataclass
class JudgingLayout:
    last: gr.State  # the Write tab's finished comparison
    message: gr.Markdown  # the Write tab's message line
    picks: list  # the Write tab's tuned panes
    duel: gr.State  # the duel being judged
    export_md: gr.Button
    export_json: gr.Button
    export_file: gr.File
    duel_btn: gr.Button
    side_a: gr.Textbox
    side_b: gr.Textbox
    pick_a: gr.Button
    pick_tie: gr.Button
    pick_b: gr.Button
    reveal: gr.Markdown
    rates: gr.Dataframe
    dpo_export_btn: gr.Button
    dpo_train_btn: gr.Button
    dpo_file: gr.File
    dpo_message: gr.Markdown

    @property
    def first_pick(self):
        return self.picks[0]


def layout(last: gr.State, message: gr.Markdown, picks: list) -> JudgingLayout:
    duel = gr.State("")
    with gr.Row():
        export_md = gr.Button(T("write.export_md"), scale=0)
        export_json = gr.Button(T("write.export_json"), scale=0)
        export_file = gr.File(label=T("write.export_file"), interactive=False, height=60)
    with gr.Accordion(T("write.blind"), open=False):
        gr.Markdown(T("write.blind_help"))
        duel_btn = gr.Button(T("write.duel_start"), elem_id="duel-start")
        with gr.Row():
            side_a = gr.Textbox(label=T("write.side_a"), lines=8, interactive=False, elem_id="duel-a")
            side_b = gr.Textbox(label=T("write.side_b"), lines=8, interactive=False, elem_id="duel-b")
        with gr.Row():
            pick_a = gr.Button(T("write.pick_a"), elem_id="pick-a")
            pick_tie = gr.Button(T("write.pick_tie"), elem_id="pick-tie")
            pick_b = gr.Button(T("write.pick_b"), elem_id="pick-b")
        reveal = gr.Markdown(elem_id="duel-reveal")
        rates = gr.Dataframe(label=T("write.win_rates"), interactive=False, elem_id="win-rates")
        with gr.Row():
            dpo_export_btn = gr.Button(T("write.dpo_export"), scale=0)
            dpo_train_btn = gr.Button(T("write.dpo_train"), scale=0, elem_id="dpo-train")
        dpo_file = gr.File(label=T("write.dpo_file"), interactive=False, height=60)
        dpo_message = gr.Markdown()
    return JudgingLayout(last=last, message=message, picks=picks, duel=duel, export_md=export_md, export_json=export_json,
                         export_file=export_file, duel_btn=duel_btn, side_a=side_a, side_b=side_b, pick_a=pick_a,
                         pick_tie=pick_tie, pick_b=pick_b, reveal=reveal, rates=rates, dpo_export_btn=dpo_export_btn,
                         dpo_train_btn=dpo_train_btn, dpo_file=dpo_file, dpo_message=dpo_message)


# -- handlers -------------------------------------------------------------------------------
def export(call: Call, record: dict | None, fmt: str) -> dict:
    if not record:
        return {"export_file": None, "message": say(call.lang, "error", error=say(call.lang, "write.export_first"))}
    return {"export_file": downloadable(service.export_drafts(call.root, record, fmt)),
            "message": say(call.lang, "write.exported", id=record["id"], fmt=fmt)}


def export_markdown(call: Call, record: dict | None) -> dict:
    return export(call, record, "md")


def export_json_file(call: Call, record: dict | None) -> dict:
    return export(call, record, "json")


def start_duel(call: Call, record: dict | None) -> dict:
    fail = {"duel": "", "side_a": "", "side_b": ""}
    if not record:
        return {**fail, "reveal": say(call.lang, "error", error=say(call.lang, "write.duel_first"))}
    try:
        shown = service.start_duel(call.root, record["id"])
    except USER_ERRORS as e:
        return {**fail, "reveal": say(call.lang, "error", error=e)}
    return {"duel": shown["duel"], "side_a": shown["A"], "side_b": shown["B"], "reveal": say(call.lang, "write.duel_read")}


def judge(call: Call, duel_id: str, pick: str) -> dict:
    try:
        result = service.judge_duel(call.root, duel_id or "", pick)
    except USER_ERRORS as e:
        return {"duel": duel_id, "reveal": say(call.lang, "error", error=e)}
    return {"duel": "", "reveal": say(call.lang, f"write.verdict_{pick}", a=result["A"], b=result["B"]),
            "rates": views.win_rate_frame(service.win_rates(call.root), call.lang)}


def export_dpo(call: Call) -> dict:
    try:
        path, pairs = service.export_preferences(call.root)
    except USER_ERRORS as e:
        return {"dpo_file": None, "dpo_message": say(call.lang, "error", error=e)}
    return {"dpo_file": downloadable(path), "dpo_message": say(call.lang, "write.dpo_exported", n=pairs)}


def train_dpo(call: Call, source: str | None) -> str:
    if not source:
        return say(call.lang, "error", error=say(call.lang, "write.dpo_pick"))
    try:
        run_id = service.start_dpo(call.root, source)
    except USER_ERRORS as e:
        return say(call.lang, "error", error=e)
    return say(call.lang, "write.dpo_started", run=run_id, source=source)


def win_rates(call: Call) -> dict:
    return {"rates": views.win_rate_frame(service.win_rates(call.root), call.lang)}


# -- wiring ---------------------------------------------------------------------------------
def wire(ui: JudgingLayout, tab: Tab) -> None:
    on(ui.export_md.click, export_markdown, tab, ui, ["last"], ["export_file", "message"])
    on(ui.export_json.click, export_json_file, tab, ui, ["last"], ["export_file", "message"])
    on(ui.duel_btn.click, start_duel, tab, ui, ["last"], ["duel", "side_a", "side_b", "reveal"])
    for button, pick in ((ui.pick_a, "A"), (ui.pick_b, "B"), (ui.pick_tie, "tie")):
        on(button.click, partial(judge, pick=pick), tab, ui, ["duel"], ["duel", "reveal", "rates"])
    on(ui.dpo_export_btn.click, export_dpo, tab, ui, [], ["dpo_file", "dpo_message"])
    on(ui.dpo_train_btn.click, train_dpo, tab, ui, ["first_pick"], "dpo_message")
