"""The per-record work of an ingest: clean, cut long texts, length filters, dedupe keys and
signatures, character and token counts. It needs no state shared between records, so batches of
records run in worker processes (build.py decides) while the ingest process keeps the
duplicate indexes and writes the results in order.
"""
from __future__ import annotations

import json
import os
from collections import Counter

from studio.config import CorpusConfig
from studio.corpus import clean
from studio.corpus.clean import RULE_LABELS
from studio.corpus.dedupe import exact_key, signature
from studio.corpus.paragraphs import chunk_paragraphs
from studio.messages import message


def record_text(record: dict) -> str:
    """All the text of a record, for filters, dedupe, counts and token counts."""
    if "text" in record:
        return record["text"]
    if "prompt" in record:
        return f"{record['prompt']}\n\n{record['response']}"
    return "\n\n".join(m["content"] for m in record["messages"])


def _clean_field(text: str, cfg: CorpusConfig, rules: Counter, examples: dict) -> str:
    text = clean.remove_debris(text, rules, examples)  # always: escape codes are never trained on
    if cfg.nfc:
        normal = clean.nfc(text)
        rules[RULE_LABELS["nfc"]] += normal != text
        text = normal
    if cfg.strip_markup:
        text, stripped = clean.strip_markup(text)
        rules[RULE_LABELS["strip_markup"]] += stripped
    text = clean.normalize_whitespace(text)
    if cfg.join_lines:
        text, joins = clean.join_wrapped_lines(text)
        rules[RULE_LABELS["join_lines"]] += joins
    if cfg.mask_pii:
        text, masked = clean.mask_pii(text)
        rules[RULE_LABELS["mask_pii"]] += masked
    return text


def clean_record(record: dict, cfg: CorpusConfig, rules: Counter, examples: dict | None = None) -> dict:
    """The record with every text field cleaned; rule counts added to `rules`, each rule's first
    example (the debris rules keep one) to `examples`."""
    examples = {} if examples is None else examples
    out = {"origin": record["origin"]}
    if "text" in record:
        out["text"] = _clean_field(record["text"], cfg, rules, examples)
    elif "prompt" in record:
        out["prompt"] = _clean_field(record["prompt"], cfg, rules, examples)
        out["response"] = _clean_field(record["response"], cfg, rules, examples)
    else:
        out["messages"] = [{"role": m["role"], "content": _clean_field(m["content"], cfg, rules, examples)}
                           for m in record["messages"]]
    return out


def sampled_for_tokens(key: str, every: int) -> bool:
    """Whether a text is among the ones whose tokens are counted: all when every == 1, else one
    in `every`, chosen by content hash so the sample does not depend on file order."""
    return every == 1 or int(key[:8], 16) % every == 0


def prepare_batch(records: list[dict], cfg: CorpusConfig, count_tokens,
                  token_every: int) -> tuple[list[list[dict]], dict, dict]:
    """Each record -> its pieces, each {"piece", "drop": reason (a message() dict)} or {"drop": None, "line" (its JSON
    line), "key", "sig", "chars", "cjk", "tokens"}.
    Returns (per-record piece lists, rule counts, the first example of what each debris rule removed)."""
    rules: Counter = Counter()  # rule label -> items it changed, merged into the ingest's tally
    examples: dict = {}  # rule label -> {"before", "after"}
    out, to_count = [], []
    for record in records:
        record = clean_record(record, cfg, rules, examples)
        pieces = [record]
        if "text" in record and cfg.chunk_chars and len(record["text"]) > 1.5 * cfg.chunk_chars:
            rules[RULE_LABELS["chunk_chars"]] += 1
            pieces = [{"text": t, "origin": f"{record['origin']} (part {i + 1})"}
                      for i, t in enumerate(chunk_paragraphs(record["text"], cfg.chunk_chars))]
        entries = []
        for piece in pieces:
            text = record_text(piece)
            if len(text) < cfg.min_chars:
                entries.append({"piece": piece, "drop": message("drop.short", n=cfg.min_chars)})
                continue
            if len(text) > cfg.max_chars:
                entries.append({"piece": piece, "drop": message("drop.long", n=cfg.max_chars)})
                continue
            entry = {"drop": None, "line": json.dumps(piece, ensure_ascii=False) + "\n",
                     "key": exact_key(text), "chars": len(text),
                     "cjk": clean.cjk_chars(text), "tokens": None,
                     "sig": signature(text) if cfg.near_dup_threshold > 0 else None}
            if count_tokens is not None and sampled_for_tokens(entry["key"], token_every):
                to_count.append((entry, text))
            entries.append(entry)
        out.append(entries)
    if to_count:
        for (entry, _), n in zip(to_count, count_tokens([text for _, text in to_count])):
            entry["tokens"] = n
    return out, dict(rules), examples


# Worker processes: the settings and the token counter arrive once, through the initializer.
_worker: dict = {}


def init_worker(cfg: CorpusConfig, count_tokens, token_every: int) -> None:
    # Each worker is one of os.cpu_count() processes: the tokenizer's own thread pool would only
    # oversubscribe the cores.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker.update(cfg=cfg, count_tokens=count_tokens, token_every=token_every)


def prepare_in_worker(records: list[dict]) -> tuple[list[list[dict]], dict, dict]:
    return prepare_batch(records, _worker["cfg"], _worker["count_tokens"], _worker["token_every"])
