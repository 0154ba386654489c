"""Recall of text that scrolled out of the context (as Kobold Lite's TextDB does).

A manuscript is longer than the model's context, and `context.py` keeps only the newest text that
fits. The older text is cut into passages (`chunks`), indexed with BM25 (the `bm25s` library) on
`terms`, and the passages most like the recent text, among those wholly before the cut, go back into
the context within a token budget of their own, oldest first.

Passages: each paragraph (a non-blank line, as in `context.py`) is a unit; a paragraph heavier than
PARAGRAPH_MAX is cut at its sentence ends (a run-on sentence at its commas, then at spaces, then every
SLICE_CHARS characters). Units are merged from the start until a passage weighs CHUNK_MIN or more
(weight: words, a CJK character counting half). A passage closes on what it holds, never on what comes
after it, so an edit or an append leaves every passage before the edited paragraph as it was.

Terms: Latin words casefolded after NFKC, without a small stopword list, a possessive 's and a plural s
taken off (Harman's S-stemmer: keepers -> keeper, stories -> story); CJK runs as character bigrams, and
a lone CJK character between punctuation as itself. Not every single character as well: on the planted
fact of tests/test_recall.py they halve the planted passage's lead over the next best (3.5x -> 1.7x:
common characters such as 人 and 看 match every passage) and double the postings, while a Chinese name
of two or three characters is found by its bigrams.

Query: each sentence of the recent text is a query of its own, its matches weighted from RECENCY_FLOOR
(the oldest sentence) up to 1 (the newest), and a passage scores its best match. Only telling terms
query: those in at most COMMON_SHARE of the passages. On bench/story_memory.py (50 planted facts, 200
continue points, recall alone) the context holds the fact at 90% of the points; 86% without the
recency weights, 30% with terms in up to a tenth of the passages allowed, 58% with pairs of neighbouring
words as terms too (the narrator's repeated phrases then outscore the one rare word). On 200,000 words
of real English prose (Vim's manual) a fact named once in the last 1,400 characters was recalled in 11
of 15 trials; with the whole window as one query, in 0 of 15.

Speed: one index holds every passage of the manuscript; a query scores them all and keeps those that
end before the cut. A changed manuscript is chunked again only from the edited paragraph on. The index
is built again (terms cached by passage text) only when a passage that could be recalled (one ending
before the cut) changed since the build: after an edit before the cut, and while the writer appends,
once the cut passes the end of the last build (about once per context length of new text). Until then
the newer passages stay out of the index (they are in the context anyway) and its term statistics
still count the replaced tail, a context's worth of passages. `python -m studio.write.recall` prints
the times and memory at 200,000 words.
"""
from __future__ import annotations

import bisect
import re
import sys
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from studio.messages import message

CHUNK_MIN = 60  # a passage closes once it weighs this much (words; a CJK character weighs half)
PARAGRAPH_MAX = 150  # a heavier paragraph is cut at its sentence ends
SLICE_CHARS = 240  # a run-on piece with no comma or space is cut every this many characters
COMMON_SHARE = 0.02  # a query term in more of the passages than this (and than COMMON_MIN) names nothing
COMMON_MIN = 5  # in particular: the setting's nouns, a main character's name, a phrase the narrator repeats
RECENCY_FLOOR = 0.75  # the oldest recent sentence's matches count this much, the newest sentence's in full
MIN_SCORE = 1.0  # one telling term shared scores about 1.5 in a passage of average length; below 1,
# it is a passing mention in a long passage from an old sentence of the recent text
INDEXES_KEPT = 3  # manuscripts whose index stays in memory (least recently used goes first; 10-70 MB each)
OPENING_WORDS = 8  # words (or twice as many CJK characters) that name a passage in describe()

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana and Han: written without spaces
_CJK_RUN = re.compile(f"[{_CJK}]+")
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+(?:['’][^\W_{_CJK}]+)*")
_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’」』)）\]]*\s*")
_QUERY_SPLIT = re.compile(_SENTENCE_END.pattern + r"|\n+")  # the recent text, a query a sentence
_CLAUSE_END = re.compile(r"[,;:，；：、—]+\s*")
_SPACE = re.compile(r"\s+")
_LINE = re.compile(r"[^\n]+")
_STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves don't didn't can't won't isn't wasn't i'm i'd i'll i've
""".split())


@dataclass(frozen=True)
class Chunk:
    start: int  # character offsets into the manuscript: text == manuscript[start:end]
    end: int
    text: str
    paragraph: int  # the number of the paragraph it starts in (1 = the first non-blank line)


@dataclass
class Recalled:
    text: str
    start: int
    end: int
    score: float  # BM25 score against the recent text
    tokens: int  # as the model counts them
    paragraph: int


# -- passages ---------------------------------------------------------------------------------
def weight(text: str) -> float:
    """Words (split at spaces), a CJK character counting half (120-300 Chinese characters weigh about
    60-150 words). Cheap: it is only compared with the limits above."""
    cjk = sum(map(len, _CJK_RUN.findall(text)))
    return len((_CJK_RUN.sub(" ", text) if cjk else text).split()) + cjk / 2


def _is_cjk(char: str) -> bool:
    return bool(_CJK_RUN.match(char))


def _cut(text: str, start: int, end: int, level: int = 0) -> list[tuple[int, int]]:
    """(start, end) pieces of text[start:end], each at most PARAGRAPH_MAX in weight and without its
    trailing spaces: cut at sentence ends, a piece still too heavy at clause marks, then at spaces,
    then every SLICE_CHARS characters."""
    if level == 3:
        return [(a, min(a + SLICE_CHARS, end)) for a in range(start, end, SLICE_CHARS)]
    pattern = (_SENTENCE_END, _CLAUSE_END, _SPACE)[level]
    cuts = [m.end() for m in pattern.finditer(text, start, end) if m.end() < end]
    pieces: list[tuple[int, int]] = []
    for a, b in zip([start] + cuts, cuts + [end]):
        b = a + len(text[a:b].rstrip())
        if weight(text[a:b]) > PARAGRAPH_MAX:
            pieces += _cut(text, a, b, level + 1)
        elif level == 2 and pieces and weight(text[pieces[-1][0]:b]) <= PARAGRAPH_MAX:
            pieces[-1] = (pieces[-1][0], b)  # words, not one piece each: fill the piece
        else:
            pieces.append((a, b))
    return pieces


def _chunks_from(text: str, pos: int, paragraph: int) -> list[Chunk]:
    """The passages of text from `pos` (a line start where no passage is open) to its end; the
    paragraph at `pos` is number `paragraph`."""
    out: list[Chunk] = []
    first = last = None  # the open passage's start, its end so far
    heavy = 0.0
    first_paragraph = paragraph
    for line in _LINE.finditer(text, pos):
        a, b = line.span()
        a += len(line.group()) - len(line.group().lstrip())
        b -= len(line.group()) - len(line.group().rstrip())
        if a >= b:
            continue
        heavy_line = weight(text[a:b])
        units = [(a, b, heavy_line)] if heavy_line <= PARAGRAPH_MAX else \
            [(u, v, weight(text[u:v])) for u, v in _cut(text, a, b)]
        for u, v, w in units:
            if first is None:
                first, first_paragraph, heavy = u, paragraph, 0.0
            last = v
            heavy += w
            if heavy >= CHUNK_MIN:
                out.append(Chunk(first, last, text[first:last], first_paragraph))
                first = None
        paragraph += 1
    if first is not None:  # the end of the manuscript: a passage lighter than CHUNK_MIN
        out.append(Chunk(first, last, text[first:last], first_paragraph))
    return out


def chunks(text: str) -> list[Chunk]:
    """The manuscript cut into passages for retrieval (about 60-150 words, or 120-300 Chinese
    characters); appending or editing leaves every passage before the edited paragraph unchanged."""
    return _chunks_from(text, 0, 1)


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (a binary search of string compares: fast in C)."""
    if b.startswith(a):
        return len(a)
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def rechunk(old_text: str, old: list[Chunk], text: str) -> tuple[list[Chunk], int]:
    """The passages of `text`, reusing those of `old_text` (`old`) before the first edited paragraph,
    and how many of `old` were kept."""
    changed = _common_prefix(old_text, text)
    line_start = text.rfind("\n", 0, changed) + 1
    keep = bisect.bisect_left([c.end for c in old], line_start)  # passages ending before the edited line
    keep = min(keep, len(old) - 1)  # the last passage may have been open (the manuscript ended in it)
    # resume after a passage that closed at a paragraph's end (not inside a paragraph cut in pieces)
    while keep > 0 and text[old[keep - 1].end:text.find("\n", old[keep - 1].end)].strip():
        keep -= 1
    if keep <= 0:
        return chunks(text), 0
    last = old[keep - 1]
    resume = text.find("\n", last.end) + 1
    paragraph = last.paragraph + sum(1 for line in last.text.split("\n") if line.strip())
    return old[:keep] + _chunks_from(text, resume, paragraph), keep


# -- terms ------------------------------------------------------------------------------------
def _stem(word: str) -> str:
    """A possessive 's off, then Harman's S-stemmer (plural to singular, only the sure cases)."""
    if word.endswith("'s"):
        word = word[:-2]
    elif word.endswith("s'"):
        word = word[:-1]
    if len(word) <= 3 or word in _STOPWORDS:
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Tokens for BM25: Latin words (stemmed lightly, no stopwords) and CJK character bigrams."""
    out = []
    for token in _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()):
        if _is_cjk(token[0]):
            out += [sys.intern(token[i:i + 2]) for i in range(len(token) - 1)] if len(token) > 1 else [token]
            continue
        token = token.replace("’", "'")
        if token in _STOPWORDS:
            continue
        token = _stem(token)
        if token not in _STOPWORDS:
            out.append(sys.intern(token))  # one string per distinct term in the cache
    return out


# -- the index --------------------------------------------------------------------------------
class RecallIndex:
    """The BM25 index of one manuscript's passages, built again only when a passage that could be
    recalled changed."""

    def __init__(self):
        self.text = ""  # the manuscript as last seen
        self.chunks: list[Chunk] = []  # its passages
        self.retriever = None  # bm25s.BM25 over built_chunks, the passages of built_text
        self.built_text = ""
        self.built_chunks: list[Chunk] = []
        self.valid = 0  # leading passages of the index that are still the same in self.chunks
        self.builds = 0
        self._terms: dict[str, list[str]] = {}  # by passage text, so a build tokenizes only new passages
        self.lock = threading.Lock()  # two browser tabs may continue the same manuscript at once

    def update(self, text: str) -> None:
        """Passages of `text`, chunked again only from its first edited paragraph on."""
        if text == self.text:
            return
        if not self.chunks:
            self.chunks, self.text = chunks(text), text
            return
        # after a continue from the cursor (the text before it: a prefix), the whole manuscript again
        # is nearer the one the index was built on than the one seen last
        if self.built_text is not self.text and \
                _common_prefix(self.built_text, text) > _common_prefix(self.text, text):
            self.chunks, kept = rechunk(self.built_text, self.built_chunks, text)
            self.valid = kept
        else:
            self.chunks, kept = rechunk(self.text, self.chunks, text)
            self.valid = min(self.valid, kept)
        self.text = text

    def build(self) -> None:
        import bm25s

        cache = self._terms
        self._terms = {c.text: cache.get(c.text) or terms(c.text) for c in self.chunks}
        self.retriever = bm25s.BM25()
        # an empty passage list still needs one document: bm25s cannot index nothing
        self.retriever.index([self._terms[c.text] for c in self.chunks] or [[]], show_progress=False)
        self.valid = len(self.chunks)
        self.built_text, self.built_chunks = self.text, self.chunks
        self.builds += 1

    def telling(self, query: list[str]) -> list[str]:
        """The query's distinct terms that are in few passages (COMMON_SHARE, at least COMMON_MIN): the
        sum of the common ones ("knocked at the tower door") outweighs the one rare one ("the curate")
        that says which passage is meant."""
        vocab, indptr = self.retriever.vocab_dict, self.retriever.scores["indptr"]
        most = max(COMMON_SHARE * self.retriever.scores["num_docs"], COMMON_MIN)
        return [t for t in dict.fromkeys(query) if t in vocab and indptr[vocab[t] + 1] - indptr[vocab[t]] <= most]

    def recall(self, text: str, cut: int, recent: str, count: Callable[[str], int], budget: int,
               k: int = 8) -> list[Recalled]:
        """The passages wholly before `cut` most like `recent`, as many of the best k as fit `budget`
        tokens, oldest first."""
        if cut <= 0 or budget <= 0 or not text:
            return []
        with self.lock:
            return self._recall(text, cut, recent, count, budget, k)

    def _recall(self, text: str, cut: int, recent: str, count: Callable[[str], int], budget: int,
                k: int) -> list[Recalled]:
        self.update(text)
        out_of_view = bisect.bisect_right([c.end for c in self.chunks], cut)  # passages ending by the cut
        if out_of_view == 0:
            return []
        if self.retriever is None or out_of_view > self.valid:
            self.build()
        queries = [q for q in map(self.telling, map(terms, _QUERY_SPLIT.split(recent))) if q]
        if not queries:
            return []
        # a passage scores its best match with any one recent sentence; the passages after the cut are
        # cut off the scores here rather than masked in `retrieve(weight_mask=...)`: its top-k takes
        # 0.5 ms a query when most scores tie at zero (numpy's argpartition), against 0.02 ms otherwise
        best = np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        for n, query in enumerate(queries):
            newer = RECENCY_FLOOR + (1 - RECENCY_FLOOR) * (n + 1) / len(queries)  # the newest sentence: 1
            np.maximum(best, newer * self.retriever.get_scores(query), out=best)
        best = best[:out_of_view]
        ranked = np.flatnonzero(best >= MIN_SCORE)
        ranked = ranked[np.argsort(-best[ranked], kind="stable")][:k]
        picked, used = [], 0
        for i, score in zip(ranked.tolist(), best[ranked].tolist()):
            chunk = self.chunks[i]
            tokens = count(chunk.text)
            if used + tokens <= budget:
                picked.append(Recalled(chunk.text, chunk.start, chunk.end, score, tokens, chunk.paragraph))
                used += tokens
        return sorted(picked, key=lambda r: r.start)


_indexes: OrderedDict[str, RecallIndex] = OrderedDict()
_indexes_lock = threading.Lock()


def index_for(key: str) -> RecallIndex:
    """The index of manuscript `key`, kept for the next continue (the INDEXES_KEPT most recent)."""
    with _indexes_lock:
        if key in _indexes:
            _indexes.move_to_end(key)
        else:
            _indexes[key] = RecallIndex()
            while len(_indexes) > INDEXES_KEPT:
                _indexes.popitem(last=False)
        return _indexes[key]


def recall(key: str, text: str, cut: int, recent: str, count: Callable[[str], int], budget: int,
           k: int = 8) -> list[Recalled]:
    """RecallIndex.recall on the cached index of manuscript `key`."""
    return index_for(key).recall(text, cut, recent, count, budget, k)


def describe(recalled: list[Recalled]) -> list[dict]:
    """Where each recalled passage came from, for the "what the model sees" view."""
    out = []
    for r in recalled:
        words = r.text.split()
        if len(words) > OPENING_WORDS:
            opening = " ".join(words[:OPENING_WORDS]) + " …"
        elif len(r.text) > 2 * OPENING_WORDS and any(_is_cjk(ch) for ch in r.text[:2 * OPENING_WORDS]):
            opening = r.text[:2 * OPENING_WORDS] + "……"
        else:
            opening = r.text
        out.append({"paragraph": r.paragraph, "start": r.start, "end": r.end, "opening": opening,
                     "score": round(r.score, 2), "tokens": r.tokens,
                     "label": message("recall.from", paragraph=r.paragraph, opening=opening, tokens=r.tokens)})
    return out


def _sample_manuscript(words: int, seed: int = 0) -> str:
    """The sample lamp log repeated to `words` words, each line with up to three names drawn from 8,000
    made-up ones (a novel's vocabulary, not one log's)."""
    import random
    from pathlib import Path

    rng = random.Random(seed)
    sample = (Path(__file__).resolve().parents[2] / "assets/samples/gannet-rock-lamp-log.txt").read_text(encoding="utf-8")
    lines = [line for line in sample.splitlines() if line.strip() not in ("", "---")]
    names = ["".join(rng.choice("bcdfghklmnprstvw") + rng.choice("aeiou") for _ in range(rng.randint(2, 4))).title()
             for _ in range(8000)]
    out: list[str] = []
    while sum(map(len, out)) < words * 5.6:  # characters a word, spaces included, in the sample
        out += [" ".join([line] + rng.sample(names, rng.randint(0, 3))) for line in lines]
    return "\n\n".join(out)


def _bench() -> None:
    """Cold build, re-index and warm recall times, and memory, on a 200,000-word manuscript."""
    import statistics
    import time
    import tracemalloc

    text = _sample_manuscript(200_000)
    count = lambda s: len(s.split())  # noqa: E731
    cut_at = lambda t: t.rfind("\n\n", 0, len(t) - 40_000)  # noqa: E731  (about 6,000 words kept)
    t0 = time.perf_counter()
    found = chunks(text)
    t1 = time.perf_counter()
    index = RecallIndex()
    index.recall(text, cut_at(text), text[-1500:], count, 1500)
    t2 = time.perf_counter()
    index.build()  # every passage's terms cached: what an edit before the cut costs
    t3 = time.perf_counter()
    print(f"{len(text.split()):,} words, {len(text):,} characters, {len(found):,} passages "
          f"(median {statistics.median(weight(c.text) for c in found):.0f} words)")
    print(f"cold: chunks {1000 * (t1 - t0):.0f} ms; chunks, terms, index and a first query {1000 * (t2 - t1):.0f} ms; "
          f"re-index with every passage's terms cached {1000 * (t3 - t2):.0f} ms")
    warm = []
    old = text.split("\n\n")
    for n in range(20):  # a continue appends a paragraph (names met before); the cut moves forward by about one
        text += "\n\n" + old[1000 + 97 * n]
        t4 = time.perf_counter()
        got = index.recall(text, cut_at(text), text[-1500:], count, 1500)
        warm.append(time.perf_counter() - t4)
    print(f"warm recall: median {1000 * statistics.median(warm):.1f} ms, max {1000 * max(warm):.1f} ms "
          f"({len(got)} passages, {index.builds} builds in all)")
    tracemalloc.start()
    index = RecallIndex()
    index.recall(text, cut_at(text), text[-1500:], count, 1500)
    print(f"memory of one index (passages, cached terms, BM25 arrays): {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MB, "
          f"{len(text) / 2**20:.1f} MB of it the passages' text (a second copy of the manuscript)")


if __name__ == "__main__":  # python -m studio.write.recall
    _bench()
