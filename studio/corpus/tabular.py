"""Rows to records: JSONL, JSON, CSV/TSV and Parquet, with the user's field mapping.

Common field names are recognised without a mapping: text/content/body; prompt/response,
instruction(+input)/output, document/summary, question/answer; messages/conversations.
A row that lacks what its mode needs is not an error: it is counted by reason (see build.py),
and ingestion refuses only when too few rows survive. Broken syntax is an error naming the line.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Iterator

from studio.corpus.decode import CorpusError
from studio.corpus.readers import check_size, iter_lines
from studio.messages import Keyed, message, stored_reason

TEXT_NAMES = ("text", "content", "body", "story", "article")
PAIR_NAMES = (("prompt", "response"), ("prompt", "completion"), ("instruction", "output"), ("document", "summary"),
              ("article", "summary"), ("question", "answer"), ("input", "output"), ("source", "target"))
CHAT_NAMES = ("messages", "conversations", "conversation")
ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant", "user": "user",
                "assistant": "assistant", "system": "system"}
MAX_JSON_MB = 500  # a whole .json file is parsed at once; larger ones must be .jsonl
csv.field_size_limit(64 * 1024 * 1024)  # long articles in one cell are normal; 64 MiB bounds a runaway quote


class Skip(Keyed, Exception):
    """A row without what its mode needs: a message key (`skip.*`) and its values, the reason the row
    is counted under."""


# The manifest counts skipped rows by reason id ("rows": {"skipped": {"skip.empty_field:name=output": 1}})
# and keeps each id's message beside the counts ("rows": {"reasons": {id: {"key", "fields"}}}).
# Manifests written before the keys counted by the English sentence; `skip_reason` reads both.
_OLD_SKIP_REASONS = [(r"no text field \(looked for (?P<names>.*); set the text field\)", "skip.no_text_field"),
                     (r"missing field '(?P<name>.*)'", "skip.missing_field"),
                     (r"no prompt/response fields \(set the prompt and response fields\)", "skip.no_pair_fields"),
                     (r"no messages list \(set the messages field\)", "skip.no_messages"),
                     (r"a message is not an object", "skip.message_not_object"),
                     (r"a message without a known role or text content", "skip.message_unknown"),
                     (r"a conversation without both a user and an assistant turn", "skip.no_turns"),
                     (r"empty field '(?P<name>.*)'", "skip.empty_field"),
                     (r"field '(?P<name>.*)' is not text", "skip.field_not_text")]


def skip_id(reason: dict) -> str:
    """The id a skip reason (a `message()` dict) is counted under: its key, and its values if any."""
    fields = ",".join(f"{k}={v}" for k, v in sorted(reason["fields"].items()))
    return f"{reason['key']}:{fields}" if fields else reason["key"]


def skip_reason(rows: dict, reason: str) -> dict | str:
    """The message a key of a manifest's `rows["skipped"]` stands for (render it with
    messages.render); an older manifest's English reason as the same message; anything else as it is."""
    return stored_reason(reason, rows.get("reasons", {}), _OLD_SKIP_REASONS)


def iter_rows(path: Path, display: str) -> tuple[str, Iterator[tuple[str, dict]]]:
    """(encoding, (origin, row) pairs) for a tabular file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "parquet", _parquet_rows(path, display)
    if suffix == ".json":
        return _json_rows(path, display)
    encoding, lines = iter_lines(path, display)
    if suffix == ".jsonl":
        return encoding, _jsonl_rows(lines, display)
    return encoding, _csv_rows(lines, display, "\t" if suffix == ".tsv" else ",")


def _jsonl_rows(lines, display) -> Iterator[tuple[str, dict]]:
    types: dict[str, str] = {}
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError("corpus.json_line", file=display, line=no, error=e.msg, column=e.colno) from None
        if not isinstance(row, dict):
            raise CorpusError("corpus.json_not_object", file=display, line=no, kind=type(row).__name__)
        _check_types(row, types, display, message("corpus.where_line", line=no))
        yield f"{display}:{no}", row


def _check_types(row: dict, types: dict, display: str, where: dict) -> None:
    for key, value in row.items():
        if value is None:
            continue
        kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
        if types.setdefault(key, kind) != kind:
            raise CorpusError("corpus.field_type", file=display, where=where, field=key, kind=kind, earlier=types[key])


def _json_rows(path: Path, display: str):
    size = check_size(path, display)
    if size > MAX_JSON_MB * 1024**2:
        raise CorpusError("corpus.json_too_big", file=display, mb=MAX_JSON_MB)
    from studio.corpus.decode import decode_bytes

    text, encoding = decode_bytes(path.read_bytes(), display)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorpusError("corpus.json_file", file=display, error=e.msg, line=e.lineno, column=e.colno) from None
    if isinstance(data, dict):  # {"data": [...]} and similar wrappers
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise CorpusError("corpus.json_not_list", file=display)

    def rows():
        types: dict[str, str] = {}
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise CorpusError("corpus.json_item", file=display, item=i, kind=type(row).__name__)
            _check_types(row, types, display, message("corpus.where_item", item=i))
            yield f"{display}[{i}]", row

    return encoding, rows()


def _csv_rows(lines, display, delimiter) -> Iterator[tuple[str, dict]]:
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise CorpusError("corpus.csv_no_header", file=display)
        header = [h.strip().lstrip("\ufeff") for h in header]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise CorpusError("corpus.csv_fields_tab" if delimiter == chr(9) else "corpus.csv_fields", file=display,
                                  line=reader.line_num, fields=len(row), header=len(header))
            yield f"{display}:{reader.line_num}", dict(zip(header, row))
    except csv.Error as e:
        raise CorpusError("corpus.csv_error", file=display, line=reader.line_num, error=e) from None


def _parquet_rows(path: Path, display: str) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise CorpusError("corpus.parquet", file=display, error=str(e)) from None
    index = 0
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield f"{display}[{index}]", row
            index += 1


def to_record(row: dict, mode: str, fields: dict) -> dict:
    """Map one row to a record of `mode`; raise Skip with the reason when it cannot be."""
    if mode == "text":
        name = fields.get("text") or next((n for n in TEXT_NAMES if n in row), None)
        if name is None:
            raise Skip("skip.no_text_field", names=", ".join(TEXT_NAMES))
        return {"text": _str(row.get(name), name)}
    if mode == "pairs":
        prompt_name, response_name = fields.get("prompt"), fields.get("response")
        if not (prompt_name and response_name):
            found = next(((p, r) for p, r in PAIR_NAMES if p in row and r in row), None)
            if found is None:
                half = next(((p, r) for p, r in PAIR_NAMES if p in row), None)
                raise Skip("skip.missing_field", name=half[1]) if half else Skip("skip.no_pair_fields")
            prompt_name, response_name = prompt_name or found[0], response_name or found[1]
        prompt = _str(row.get(prompt_name), prompt_name)
        if prompt_name == "instruction" and str(row.get("input") or "").strip():
            prompt = f"{prompt}\n\n{row['input']}"
        return {"prompt": prompt, "response": _str(row.get(response_name), response_name)}
    name = fields.get("messages") or next((n for n in CHAT_NAMES if n in row), None)
    if name is None or not isinstance(row.get(name), list):
        raise Skip("skip.no_messages")
    messages = []
    for m in row[name]:
        if not isinstance(m, dict):
            raise Skip("skip.message_not_object")
        role = ROLE_ALIASES.get(str(m.get("role", m.get("from", ""))).lower())
        content = m.get("content", m.get("value"))
        if role is None or not isinstance(content, str):
            raise Skip("skip.message_unknown")
        messages.append({"role": role, "content": content})
    roles = {m["role"] for m in messages if m["content"].strip()}
    if not {"user", "assistant"} <= roles:
        raise Skip("skip.no_turns")
    return {"messages": messages}


def _str(value, name: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Skip("skip.empty_field", name=name)
    if not isinstance(value, (str, int, float)):
        raise Skip("skip.field_not_text", name=name)
    return str(value)
