"""Corpus tab: upload files (or take the sample), ingest, see what was kept and why."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import service
from studio.paths import PROJECT_ROOT
from studio.ui.views import corpus_report

SAMPLE_FILES = sorted((PROJECT_ROOT / "assets" / "samples").glob("*.txt"))
USER_ERRORS = (ValueError, RuntimeError)


def build(root: Path) -> dict:
    gr.Markdown("Bring your writing: `.txt` or `.md`, UTF-8 or GB18030. Separate pieces inside one file "
                "with a line of `---`. Each version of a corpus is kept; re-ingesting makes a new one.")
    with gr.Row():
        files = gr.File(label="Files", file_count="multiple", file_types=[".txt", ".md"], type="filepath")
        with gr.Column():
            name = gr.Textbox(label="Corpus name", placeholder="my-stories", max_lines=1)
            ingest_btn = gr.Button("Ingest", variant="primary")
            sample_btn = gr.Button("Use the sample corpus (a lighthouse keeper's log)")
    report = gr.Markdown(elem_id="corpus-report")

    def ingest(paths, corpus_name):
        if not paths:
            return "**Error:** choose at least one file first."
        try:
            names = [Path(p).name for p in paths]
            return corpus_report(service.ingest(root, paths, (corpus_name or "").strip(), display_names=names))
        except USER_ERRORS as e:
            return f"**Error:** {e}"

    def ingest_sample():
        return corpus_report(service.ingest(root, SAMPLE_FILES, "lamp-log"))

    ingest_btn.click(ingest, [files, name], report)
    sample_btn.click(ingest_sample, None, report)
    return {"report": report}
