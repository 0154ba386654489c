"""Drafts out of the studio: Markdown for reading and sharing, JSON for tools."""
from __future__ import annotations

import json
import time
from pathlib import Path

from studio.messages import Keyed
from studio.paths import exports_dir


class ExportRefused(Keyed, ValueError):
    """An export format that is not offered."""


def as_markdown(record: dict) -> str:
    settings = record.get("settings", {})
    lines = [f"# Drafts {record['id']}", "",
             f"- mode: {record['mode']}; seed {settings.get('seed')}, temperature {settings.get('temperature')}, "
             f"top-p {settings.get('top_p')}, top-k {settings.get('top_k')}, max new tokens {settings.get('max_new_tokens')}",
             f"- written {time.strftime('%Y-%m-%d %H:%M', time.localtime(record['time']))} in {record['seconds']} s "
             f"on {record.get('device', '?')}", "", "## Prompt", "", record["prompt"], ""]
    for pane in record["panes"]:
        for n, text in enumerate(pane["drafts"], 1):
            suffix = f", draft {n}" if len(pane["drafts"]) > 1 else ""
            copied = pane.get("copied", [None] * len(pane["drafts"]))[n - 1]
            note = f" ({copied:.0%} copied from the corpus)" if copied else ""
            lines += [f"## {pane['label']}{suffix}{note}", "", text.strip(), ""]
    return "\n".join(lines)


def write_export(root: Path, record: dict, fmt: str) -> Path:
    """The drafts of one comparison as `<data>/exports/drafts-<id>.md` or `.json`."""
    if fmt not in ("md", "json"):
        raise ExportRefused("export.format", fmt=fmt)
    path = exports_dir(root) / f"drafts-{record['id']}.{fmt}"
    text = as_markdown(record) if fmt == "md" else json.dumps(record, ensure_ascii=False, indent=1)
    path.write_text(text, encoding="utf-8")
    return path
