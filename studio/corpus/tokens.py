"""Token counts with a model's fast tokenizer file, through the `tokenizers` library alone: no
transformers or torch in the ingest (a faster start and far less memory). Picklable, so the
ingest's worker processes each load their own copy. Only a model without tokenizer.json
(sentencepiece alone) is counted through transformers."""
from __future__ import annotations

from pathlib import Path


class TokenCounter:
    def __init__(self, tokenizer_json: Path):
        self.path = str(tokenizer_json)
        self._tokenizer = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "_tokenizer": None}

    def __call__(self, texts: list[str]) -> list[int]:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(self.path)
        return [len(e.ids) for e in self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def counter_for(root: Path, model: str):
    """(count, tokenizer name) for `model`'s tokenizer; (None, "") when it cannot be loaded."""
    from studio.models import ModelUnavailable, resolve

    try:
        source = resolve(model, root)
    except ModelUnavailable:
        return None, ""  # counts are a courtesy: a model we cannot load must not block ingestion
    if (Path(source) / "tokenizer.json").exists():
        return TokenCounter(Path(source) / "tokenizer.json"), model
    try:
        return SlowTokenCounter(source), model
    except ModelUnavailable:
        return None, ""


class SlowTokenCounter:
    """Counts with a tokenizer that has no tokenizer.json (sentencepiece-only models), through transformers."""

    def __init__(self, source: str):
        from studio.models import load_tokenizer

        self.source = source
        self.tokenizer = load_tokenizer(source)

    def __getstate__(self) -> dict:
        return {"source": self.source}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["source"])

    def __call__(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
