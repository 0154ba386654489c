"""The whole UI: three tabs over one data root."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio.ui import corpus_tab, train_tab, write_tab


def build_app(root: Path, default_model: str) -> gr.Blocks:
    with gr.Blocks(title="Writing Studio") as demo:
        gr.Markdown("# Writing Studio\nBring a corpus, fine-tune a writing model with 4-bit QLoRA, "
                    "compare base and tuned drafts side by side.")
        with gr.Tabs():
            with gr.Tab("Corpus", id="corpus"):
                corpus_tab.build(root)
            with gr.Tab("Train", id="train"):
                train = train_tab.build(root, default_model)
            with gr.Tab("Write", id="write"):
                write = write_tab.build(root)
        for fn, inputs, outputs in (train["load"], write["load"]):
            demo.load(fn, inputs, outputs)
    return demo
