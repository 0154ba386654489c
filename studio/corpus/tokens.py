"""Token counts with a model's fast tokenizer file, through the `tokenizers` library alone: no
transformers or torch in the ingest (a faster start and far less memory). Picklable, so the
ingest's worker processes each load their own copy."""
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
