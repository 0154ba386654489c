"""manifest.json, the description every corpus version carries: one typed shape for both ways a
version is made (an ingest of the writer's files, corpus/build.py; a pairs version made from
generated requests, write/requests.py), so a field is named, defaulted and documented once.
Older manifests read back with `from_dict` (unknown fields kept in `extra`)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from studio.records import from_dict, to_dict


@dataclass
class CorpusManifest:
    name: str
    mode: str  # text, pairs or chat
    documents: int  # pieces kept, train and validation together
    train_documents: int
    val_documents: int
    characters: int
    split: dict  # how the validation split was chosen: method, why (a message), tokens and share, follows
    settings: dict = field(default_factory=dict)  # the CorpusConfig it was made with
    sources: list = field(default_factory=list)  # per file: name, encoding, items, bytes
    passed_over: list = field(default_factory=list)  # archive members not read, with the reason (a message)
    rows: dict = field(default_factory=lambda: {"seen": 0, "skipped": {}})  # JSONL/CSV rows seen and skipped by reason
    rules: dict = field(default_factory=dict)  # cleaning rule label -> how often it changed something
    rule_examples: dict = field(default_factory=dict)  # rule label -> the first thing it removed: {"before", "after"}
    dropped: dict = field(default_factory=dict)  # drop reason key -> count
    drop_reasons: dict = field(default_factory=dict)  # drop reason key -> its message with this ingest's values
    warnings: list = field(default_factory=list)  # messages, e.g. a corpus too small to learn much from
    cjk_share: float = 0.0
    length_histogram: dict = field(default_factory=dict)  # unit, upper_edges, counts
    tokens: dict | None = None  # train, val, tokenizer, counted (exact or estimated)
    ingest_seconds: float | None = None
    derived_from: dict | None = None  # a version made from another: which, and how
    generated: dict | None = None  # fields a model wrote (requests), by whom and with which settings
    dropped_by_writer: list | None = None
    without_request: list | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    version: str = ""  # set when the version is committed (store.commit_version)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return to_dict(self)


def manifest_from_dict(data: dict) -> CorpusManifest:
    return from_dict(CorpusManifest, data)
