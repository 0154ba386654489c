"""Write tab: one prompt, base and tuned drafts side by side, same settings and seed."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import service
from studio.config import ConfigError, GenConfig
from studio.ui.views import runs_choices

USER_ERRORS = (ValueError, RuntimeError, ConfigError)


def build(root: Path) -> dict:
    with gr.Row():
        run = gr.Dropdown(label="Tuned run", choices=[], elem_id="write-run")
        refresh_btn = gr.Button("Refresh runs", scale=0)
    prompt = gr.Textbox(label="Prompt: the opening to continue", lines=3, value="LAMP LOG, GANNET ROCK. Day 41.")
    defaults = GenConfig()
    with gr.Row():
        max_new = gr.Slider(8, 512, value=defaults.max_new_tokens, step=8, label="Max new tokens")
        temperature = gr.Slider(0, 2, value=defaults.temperature, step=0.05, label="Temperature (0 = greedy)")
        seed = gr.Number(value=defaults.seed, precision=0, label="Seed")
    draft_btn = gr.Button("Draft both", variant="primary")
    message = gr.Markdown()
    with gr.Row():
        base = gr.Textbox(label="Base model", lines=12, elem_id="draft-base")
        tuned = gr.Textbox(label="Tuned model", lines=12, elem_id="draft-tuned")

    def runs_list(selected=None):
        choices = runs_choices(service.list_runs(root), only_with_adapter=True)
        keep = selected if selected in [c[1] for c in choices] else (choices[0][1] if choices else None)
        return gr.update(choices=choices, value=keep)

    def draft(run_id, text, n_tokens, temp, seed_value):
        if not run_id:
            return "**Error:** pick a completed run first (train one in the Train tab).", "", ""
        try:
            gen = GenConfig(max_new_tokens=int(n_tokens), temperature=float(temp), seed=int(seed_value or 0))
            result = service.draft(root, run_id, text, gen)
        except USER_ERRORS as e:
            return f"**Error:** {e}", "", ""
        return f"Drafted both in one batch in {result['seconds']} s (seed {gen.seed}).", result["base"], result["tuned"]

    refresh_btn.click(runs_list, run, run)
    draft_btn.click(draft, [run, prompt, max_new, temperature, seed], [message, base, tuned])
    return {"load": (runs_list, None, run)}
