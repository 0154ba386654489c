"""Summarize into memory: a story longer than the context keeps its thread.

A chosen model (a run trained in summarize or pairs mode, whose prompt template is used, or the
base, through its chat template when it is an instruct model) summarizes the manuscript so far:
the memory there is now (the summary of what came before), then the newest manuscript text that
fits the model's context less the summary's length and the template's room. The writer edits the
result in a box before it goes into the memory (desk.set_field: a revision like any edit, undone
by Undo).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from studio.config import GenConfig
from studio.write import manuscript_store as store
from studio.write.context import MEMORY_FORMAT, counter_for, newest_text
from studio.write.manuscript import ManuscriptError

TEMPLATE_ROOM = 64  # tokens kept for the summarize template or the chat template around the text


def summary_source(root: Path, ms_id: str, source: str, gen: GenConfig, model: str | None = None,
                   data: Path | None = None) -> str:
    """The text the model summarizes: the memory, then the newest manuscript text that fits."""
    from studio.write.desk import base_model

    ms = store.load(root, ms_id).ms
    if not ms.text.strip():  # before any model is loaded
        raise ManuscriptError("manuscript.nothing_to_summarize")
    data = data or root  # the models' data root (a demo visitor's manuscripts live elsewhere)
    count, length = counter_for(data, base_model(data, [source], model))
    if gen.max_new_tokens > length * 3 // 4:
        raise ManuscriptError("manuscript.draft_too_long", draft=gen.max_new_tokens, context=length, most=length * 3 // 4)
    memory = MEMORY_FORMAT.format(memory=ms.memory.strip()) if ms.memory.strip() else ""
    room = length - gen.max_new_tokens - TEMPLATE_ROOM - count(memory)
    return memory + newest_text(count, ms.text, room)


def summarize_stream(root: Path, drafter, ms_id: str, source: str, gen: GenConfig, stop=None,
                     model: str | None = None, data: Path | None = None):
    """The summary as it grows: {"text", "done"} items (and the drafter's waiting notices)."""
    from studio.write.desk import base_model

    text = summary_source(root, ms_id, source, gen, model, data)
    gen = dataclasses.replace(gen, drafts=1)
    model = base_model(data or root, [source], model)
    for item in drafter.stream([source], text, gen, "summarize", stop, model, save=False):
        if "panes" in item:
            yield {"text": item["panes"][0]["drafts"][0].strip(), "done": bool(item.get("done")), "source": source}
        else:
            yield item
