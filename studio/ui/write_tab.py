"""Write tab: one prompt, the base and up to three tuned adapters (runs or checkpoints) drafted
side by side in one streamed batch; blind A/B judging that feeds DPO; corpus-overlap highlights;
exports."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import gradio as gr

from studio import service
from studio.config import ConfigError, GenConfig
from studio.ui import views
from studio.ui.i18n import T, request_lang
from studio.messages import render, say
from studio.write import feedback
from studio.write.drafter import MAX_TUNED_PANES, MODES, AdapterRefused, checkpoints_of, parse_source
from studio.write.export import write_export

USER_ERRORS = (ValueError, RuntimeError, ConfigError, AdapterRefused)
PANES = 1 + MAX_TUNED_PANES  # the base and the tuned panes
_stops: dict[str, threading.Event] = {}  # per browser session: what the Stop button sets


def source_choices(root: Path, published_only: bool = False) -> list[tuple[str, str]]:
    """Every adapter a pane can draft with: each run's final adapter and its checkpoints, the
    checkpoints labelled with the validation loss at their step. In demo mode, published runs only."""
    choices = []
    for row in service.list_runs(root):
        if published_only and not row["published"]:
            continue
        try:
            found = checkpoints_of(root, row["run_id"])
        except (OSError, ValueError):
            continue
        for c in reversed(found):
            if c.get("final"):
                label = f"{row['run_id']} (final)"
            else:
                loss = f", val loss {c['val_loss']:.3f}" if c.get("val_loss") is not None else ""
                label = f"{row['run_id']} @ step {c['step']}{loss}"
            choices.append((label, c["source"]))
    return choices


def check_demo_panes(root: Path, panes: list[str]) -> None:
    """Demo mode drafts with published runs only, whatever a caller sends over HTTP."""
    for source in map(parse_source, panes):
        if source.run_id and not service.is_published(root, source.run_id):
            raise ValueError(f"run '{source.run_id}' is not published for this demo: pick one from the list")


def build(root: Path, demo: bool = False, forced_lang: str | None = None) -> dict:
    last = gr.State(None)  # the finished comparison shown now
    duel = gr.State("")
    with gr.Row():
        mode = gr.Radio([(T(f"write.mode_{m}"), m) for m in MODES], value="continue", label=T("write.mode"),
                        info=T("write.hint_continue"), elem_id="write-mode")
        with_base = gr.Checkbox(value=True, label=T("write.base_pane"))
    prompt = gr.Textbox(label=T("write.prompt"), lines=4, value="LAMP LOG, GANNET ROCK. Day 41.", elem_id="write-prompt")
    with gr.Row():
        picks = [gr.Dropdown(label=T(f"write.tuned_{n + 1}"), choices=[], elem_id=f"write-run-{n + 1}")
                 for n in range(MAX_TUNED_PANES)]
        refresh_btn = gr.Button(T("write.refresh"), scale=0)
    defaults = GenConfig()
    with gr.Accordion(T("write.sampling"), open=False):
        with gr.Row():
            max_new = gr.Slider(8, 512, value=defaults.max_new_tokens, step=8, label=T("write.max_new"))
            temperature = gr.Slider(0, 2, value=defaults.temperature, step=0.05, label=T("write.temperature"))
            top_p = gr.Slider(0.05, 1, value=defaults.top_p, step=0.05, label=T("write.top_p"))
            top_k = gr.Number(value=defaults.top_k, precision=0, label=T("write.top_k"))
        with gr.Row():
            repetition = gr.Slider(0.8, 2, value=defaults.repetition_penalty, step=0.05, label=T("write.repetition"))
            seed = gr.Number(value=defaults.seed, precision=0, label=T("write.seed"))
            drafts = gr.Slider(1, 4, value=1, step=1, label=T("write.drafts"))
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
    if not demo:  # a demo visitor drafts only: no files written, no judgements that would feed training
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

    with gr.Accordion(T("write.style"), open=False, visible=not demo):
        gr.Markdown(T("write.style_help"))
        with gr.Row():
            style_openings = gr.Number(value=8, precision=0, minimum=1, maximum=32, label=T("write.style_openings"))
            style_btn = gr.Button(T("write.style_start"), elem_id="style-start")
        style_table = gr.Markdown(elem_id="style-result")

    def refresh(*selected):
        choices = source_choices(root, published_only=demo)
        values = [c[1] for c in choices]
        first_final = next((v for v in values if "@" not in v), None)
        keep = [s if s in values else None for s in selected]
        if keep[0] is None:
            keep[0] = first_final
        return [gr.update(choices=choices, value=v) for v in keep]

    def pane_sources(base_on, *chosen):
        return (["base"] if base_on else []) + [c for c in chosen if c]

    def draft(mode_value, text, base_on, p1, p2, p3, n_tokens, temp, top_p_value, top_k_value, rep, seed_value, n_drafts,
              request: gr.Request):
        lang = request_lang(request, forced_lang)
        panes = pane_sources(base_on, p1, p2, p3)
        labels = [(T("write.base_label") if p == "base" else p) for p in panes]
        hidden = [gr.update(visible=False, value=None)] * PANES
        try:
            gen = GenConfig(max_new_tokens=int(n_tokens), temperature=float(temp), top_p=float(top_p_value),
                            top_k=int(top_k_value or 0), repetition_penalty=float(rep), seed=int(seed_value or 0),
                            drafts=int(n_drafts))
            if not panes:
                raise ValueError(say(lang, "write.no_panes"))
            if demo:
                check_demo_panes(root, panes)
        except USER_ERRORS as e:
            yield [say(lang, "error", error=e), None] + [gr.update()] * PANES + hidden
            return
        stop = _stops[request.session_hash] = threading.Event()
        shown = 0.0
        try:
            for item in service.draft_stream(root, panes, text, gen, mode_value, stop):
                if item.get("waiting"):
                    yield [render(lang, item["message"]), gr.update()] + [gr.update()] * PANES + hidden
                    continue
                texts = [views.pane_text(p["drafts"]) for p in item["panes"]]
                updates = [gr.update(visible=True, value=t, label=label) for t, label in zip(texts, labels)]
                updates += [gr.update(visible=False, value="")] * (PANES - len(updates))
                if not item["done"]:
                    if time.time() - shown >= 0.25:  # a few updates a second: the browser keeps up, the CPU drafts
                        shown = time.time()
                        yield [say(lang, "write.drafting"), gr.update()] + updates + hidden
                    continue
                marks = [gr.update(visible=any(p.get("copied") or []), value=views.copied_pieces(p), label=views.copied_label(p, lang))
                         for p in item["panes"]]
                marks += hidden[len(marks):]
                yield [views.draft_summary(item, lang), item] + updates + marks
        except USER_ERRORS as e:
            yield [say(lang, "error", error=e), gr.update()] + [gr.update()] * PANES + hidden
        finally:
            _stops.pop(request.session_hash, None)

    def stop_drafting(request: gr.Request):
        event = _stops.get(request.session_hash)
        if event:
            event.set()
        lang = request_lang(request, forced_lang)
        return say(lang, "write.stopping") if event else say(lang, "write.nothing_drafting")

    def export(request: gr.Request, record, fmt):
        lang = request_lang(request, forced_lang)
        if not record:
            return None, say(lang, "error", error=say(lang, "write.export_first"))
        return str(write_export(root, record, fmt)), say(lang, "write.exported", id=record["id"], fmt=fmt)

    def export_markdown(request: gr.Request, record):
        return export(request, record, "md")

    def export_json_file(request: gr.Request, record):
        return export(request, record, "json")

    def start_duel(request: gr.Request, record):
        lang = request_lang(request, forced_lang)
        if not record:
            return "", "", "", say(lang, "error", error=say(lang, "write.duel_first"))
        try:
            shown = feedback.start_duel(root, record["id"])
        except feedback.JudgingError as e:
            return "", "", "", say(lang, "error", error=e)
        return shown["duel"], shown["A"], shown["B"], say(lang, "write.duel_read")

    def judge(lang, duel_id, pick):
        try:
            result = feedback.judge(root, duel_id or "", pick)
        except feedback.JudgingError as e:
            return duel_id, say(lang, "error", error=e), gr.update()
        return ("", say(lang, f"write.verdict_{pick}", a=result["A"], b=result["B"]),
                views.win_rate_frame(feedback.win_rates(root), lang))

    def export_dpo(request: gr.Request):
        lang = request_lang(request, forced_lang)
        try:
            path = feedback.export_dpo(root)
        except feedback.JudgingError as e:
            return None, say(lang, "error", error=e)
        return str(path), say(lang, "write.dpo_exported", n=len(feedback.dpo_pairs(root)))

    def train_dpo(request: gr.Request, p1):
        lang = request_lang(request, forced_lang)
        if not p1:
            return say(lang, "error", error=say(lang, "write.dpo_pick"))
        try:
            run_id = service.start_dpo(root, p1)
        except (*USER_ERRORS, feedback.JudgingError) as e:
            return say(lang, "error", error=e)
        return say(lang, "write.dpo_started", run=run_id, source=p1)

    def style_check(request: gr.Request, p1, count):
        """Style match of the run in tuned pane 1 (a checkpoint counts as its run), on demand."""
        lang = request_lang(request, forced_lang)
        source = parse_source(p1 or "")
        if not source.run_id:
            return say(lang, "error", error=say(lang, "style.pick"))
        try:
            result = service.style_match(root, source.run_id, max(1, int(count or 8)))
        except USER_ERRORS as e:
            return say(lang, "error", error=e)
        table = "\n".join([say(lang, "eval.heading"), "|---|---|---|", *views.style_rows(result, lang)])
        sample = result["rows"][0]
        return (f"{table}\n\n" + say(lang, "style.sample", opening=sample["opening"], base=sample["base"],
                                          tuned=sample["tuned"]))

    mode.change(lambda m: gr.update(info=T(f"write.hint_{m}")), mode, mode)
    refresh_btn.click(refresh, picks, picks)
    draft_btn.click(draft, [mode, prompt, with_base, *picks, max_new, temperature, top_p, top_k, repetition, seed, drafts],
                               [message, last, *boxes, *copied])
    stop_btn.click(stop_drafting, None, message)  # generation ends at the next token; the drafts so far stay
    if demo:
        return {"load": (refresh, picks, picks)}
    export_md.click(export_markdown, last, [export_file, message])
    export_json.click(export_json_file, last, [export_file, message])
    duel_btn.click(start_duel, last, [duel, side_a, side_b, reveal])

    def judged(pick):
        def handler(request: gr.Request, duel_id):
            return judge(request_lang(request, forced_lang), duel_id, pick)
        return handler

    for button, pick in ((pick_a, "A"), (pick_b, "B"), (pick_tie, "tie")):
        button.click(judged(pick), duel, [duel, reveal, rates])
    dpo_export_btn.click(export_dpo, None, [dpo_file, dpo_message])
    dpo_train_btn.click(train_dpo, picks[0], dpo_message)
    style_btn.click(style_check, [picks[0], style_openings], style_table)

    def on_load(p1, p2, p3, request: gr.Request):
        return [*refresh(p1, p2, p3), views.win_rate_frame(feedback.win_rates(root), request_lang(request, forced_lang))]

    return {"load": (on_load, picks, [*picks, rates])}
