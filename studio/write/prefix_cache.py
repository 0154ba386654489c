"""What the model already read: the key/value cache of the last context per (manuscript, pane).

A continue at the desk sends the model its whole context (up to the model's window: 8,192 tokens
for SmolLM2, 24 s to read on a 2-core CPU), although between two continues only the end changed.
The drafter keeps, per (manuscript, pane), the keys and values of the last prompt it read and the
logits of its last token; the next prompt reads only what comes after the first token that differs
(as llama.cpp's and KoboldCpp's "fast forwarding" do). Retry, the same prompt again, reads nothing.

The same output with and without it: a prompt is always read in CHUNK-token pieces at fixed
positions (0, CHUNK, 2*CHUNK, ...), whether or not a cache is reused, and a reused cache is cut at a
chunk boundary. Reading token i then runs the same operations on the same numbers either way. Read
in one pass instead, the cached and uncached paths differ by up to 0.3 in the last logits in bf16
on the embedded model (a reused cache of 1,450 tokens read on to 1,500): enough to change a greedy
draft. The price (the embedded model on a 2-core VM, 2026-12-07, docs/benchmarks.md): reading a
whole 8k context in 256-token pieces took 28 s against 23 s in one pass (64-token pieces 69 s,
128-token 35 s), and a reuse reads again up to CHUNK - 1 tokens before the first change.

Memory: a SmolLM2-135M cache is 30 layers x 2 x 3 heads x 64 values = 11,520 values a token (23 KB
in bf16, 46 KB in fp32): 189 MB for a full 8k window in bf16. Entries are evicted least recently
used first under a byte budget for the process (STUDIO_PREFIX_CACHE_MB, default 1024) and one per
demo visitor (STUDIO_PREFIX_CACHE_VISITOR_MB, default 256); a budget of 0 keeps nothing. Keys name
the visitor's folder, so one visitor's cache never answers another's text (nor tells them, by its
speed, what another wrote). The drafter drops every entry when its base changes and a pane's
entries when its adapter leaves memory.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

CHUNK = 256  # tokens read in one forward pass; reuse is cut at a multiple of it


def budget_bytes(name: str, default_mb: int) -> int:
    try:
        return max(0, int(float(os.environ.get(name, default_mb)) * 2**20))
    except ValueError:
        return default_mb * 2**20


@dataclass(frozen=True)
class CacheKey:
    """Whose cache: `scope` the folder the manuscripts are in (a demo visitor's own), `name` the
    manuscript, `visitor` whether the visitor's budget applies."""
    scope: str
    name: str
    visitor: bool = False


@dataclass
class Prefix:
    ids: list[int]  # the prompt read
    layers: list[tuple[Any, Any]]  # per layer (keys, values), each (1, kv heads, len(ids), head dim)
    logits: Any  # (vocabulary,) float32: the last token's
    nbytes: int = 0

    def __post_init__(self):
        self.nbytes = self.logits.numel() * self.logits.element_size() + sum(
            t.numel() * t.element_size() for pair in self.layers for t in pair)


def reusable(stored: list[int], ids: list[int], chunk: int | None = None) -> int:
    """How many leading tokens of `ids` can be taken from a cache of `stored`: the common prefix, cut
    down to a chunk boundary (the chunks read after it are then the ones an uncached read makes),
    and at least one token short of `ids` (its last logits come from reading it). The same prompt
    again is handled by the caller (the stored logits)."""
    chunk = chunk or CHUNK
    same = 0
    for a, b in zip(stored, ids):
        if a != b:
            break
        same += 1
    return min(same, len(ids) - 1) // chunk * chunk


class PrefixStore:
    """Prefixes by (CacheKey, adapter), least recently used first out under the budgets."""

    def __init__(self, budget: int | None = None, visitor_budget: int | None = None):
        self.budget = budget_bytes("STUDIO_PREFIX_CACHE_MB", 1024) if budget is None else budget
        self.visitor_budget = (budget_bytes("STUDIO_PREFIX_CACHE_VISITOR_MB", 256)
                               if visitor_budget is None else visitor_budget)
        self._entries: OrderedDict[tuple[CacheKey, str], Prefix] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey, adapter: str) -> Prefix | None:
        with self._lock:
            found = self._entries.get((key, adapter))
            if found is not None:
                self._entries.move_to_end((key, adapter))
            return found

    def put(self, key: CacheKey, adapter: str, prefix: Prefix) -> bool:
        """Keep `prefix` (replacing the key's last one); False when it alone is over a budget."""
        limit = min(self.budget, self.visitor_budget) if key.visitor else self.budget
        with self._lock:
            self._entries.pop((key, adapter), None)
            if prefix.nbytes > limit:
                return False
            self._entries[(key, adapter)] = prefix
            self._evict(lambda k: k[0].scope == key.scope, self.visitor_budget if key.visitor else None)
            self._evict(lambda k: True, self.budget)
            return True

    def _evict(self, mine, limit: int | None) -> None:
        if limit is None:
            return
        while sum(p.nbytes for k, p in self._entries.items() if mine(k)) > limit:
            oldest = next(k for k in self._entries if mine(k))
            del self._entries[oldest]

    def drop_adapter(self, adapter: str) -> None:
        with self._lock:
            for k in [k for k in self._entries if k[1] == adapter]:
                del self._entries[k]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def nbytes(self, scope: str | None = None) -> int:
        with self._lock:
            return sum(p.nbytes for k, p in self._entries.items() if scope is None or k[0].scope == scope)

    def keys(self) -> list[tuple[CacheKey, str]]:
        with self._lock:
            return list(self._entries)
