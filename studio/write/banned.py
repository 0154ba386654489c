"""Phrases to avoid: a writer's ban list, kept out of every draft while it is written.

Drafting never emits a banned phrase. When a token completes one, the row goes back to the token
where the phrase began, that token is banned at that position for that row, and drafting goes on
from there (the scheduler does it, studio/write/batching.py), as KoboldCpp's anti-slop does
(koboldcpp #1141). Deleting the phrase afterwards would leave a sentence that no longer reads.

Matching is forgiving the way a writer means it: casefolded and NFKC-normalized (full-width
letters, ligatures and compatibility forms count as their plain letters), any run of whitespace
as one space, control characters ignored. A phrase that starts with a letter or digit matches
only at the start of a word ("a testament to" is not found inside "Ea testament to"), and its end
may run on ("delve" catches "delves"). Chinese and other wide scripts have no spaces between
words, so their phrases match as plain substrings.

Checking is cheap: only the row's last few tokens are decoded (`window`: enough bytes for the
longest phrase written out with some slack), and requests without a ban list do no checking.

`overused_phrases` suggests bans: the 2-4 word (Chinese: 2-4 character) phrases a tuned model's
drafts use far more often than the writer's own corpus, by a log-likelihood keyness test, with
overlapping ones that always come together joined into the longer phrase they spell.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Callable

MAX_REWINDS = 64  # a row that had to go back this often ends with what it has, and a notice
MAX_BANS_AT = 16  # a row that banned more tokens than this at one position gives up there (nothing else leads on)
WINDOW_SLACK = 16  # tokens decoded beyond the longest phrase's bytes (what comes before it, spacing)
MIN_DRAFT_COUNT = 3  # overused_phrases: a phrase must occur at least this often in the drafts
MIN_KEYNESS = 10.83  # overused_phrases: G2 for p < 0.001 with one degree of freedom

_SPACES = re.compile(r"\s+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")  # not \t \n \v \f \r or NEL: they are spacing


def normalize(text: str) -> str:
    """`text` as phrases are compared: control characters dropped, NFKC, casefolded, every run of
    whitespace one space. A longer text never normalizes shorter than a prefix of it (the search
    for where a match began relies on that)."""
    text = unicodedata.normalize("NFKC", _CONTROLS.sub("", text)).casefold()
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text))


def is_wide(char: str) -> bool:
    """Chinese, Japanese, Korean and other full-width characters: words without spaces between."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def _wordlike(char: str) -> bool:
    return char.isalnum() and not is_wide(char)


class BanList:
    """A compiled ban list (build it once per draft with `of`): the phrases normalized, the
    prefixes of each (to hold back a streamed tail that may still become one), and how many
    tokens a check decodes."""

    def __init__(self, phrases: list[str]):
        self.phrases = list(dict.fromkeys(p.strip() for p in phrases if p and p.strip()))  # as the writer wrote them
        self.normalized = {}  # normalized -> as written (the first that normalizes so)
        for phrase in self.phrases:
            self.normalized.setdefault(normalize(phrase).strip(), phrase)
        self.normalized.pop("", None)  # a phrase of control characters only
        self.prefixes = {p[:k] for p in self.normalized for k in range(1, len(p) + 1)}
        self.longest = max((len(p) for p in self.normalized), default=0)
        # a token holds at least one byte, and the text a phrase matches rarely needs more than twice
        # its normalized bytes (full-width letters, runs of spaces)
        self.window = 2 * max((len(p.encode()) for p in self.normalized), default=0) + WINDOW_SLACK

    @classmethod
    def of(cls, phrases: list[str] | None) -> BanList | None:
        """The ban list of `phrases`, or None when there is nothing to ban (no checking at all then)."""
        banned = cls(phrases or [])
        return banned if banned.normalized else None

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, phrase as written) of every banned phrase in normalized `text`, earliest first."""
        found = []
        for phrase, written in self.normalized.items():
            start = text.find(phrase)
            while start >= 0:
                if _starts_word(text, start, phrase):
                    found.append((start, start + len(phrase), written))
                start = text.find(phrase, start + 1)
        return sorted(found)

    def held(self, before: str, text: str) -> int:
        """How many characters at the end of `text` (a streamed draft; `before`, the end of its prompt)
        to hold back because they may be the start of a banned phrase: "shivers down her" waits
        until it is clear it is not "shivers down her spine"."""
        whole = normalize(before + text)
        for k in range(min(self.longest, len(whole)), 0, -1):
            start = len(whole) - k
            if whole[start:] in self.prefixes and any(_starts_word(whole, start, p) for p in
                                                        self._starting_with(whole[start:])):
                return len(text) - _raw_length(before, text, start)
        return 0

    def _starting_with(self, prefix: str) -> list[str]:
        return [p for p in self.normalized if p.startswith(prefix)]

    def find(self, decode: Callable[[list[int]], str], ids: list[int], drafted: int) -> tuple[int, str] | None:
        """(t, phrase) when the row's text (`ids`: its prompt and then `drafted` tokens) holds a banned
        phrase that ends in the drafted part: t is the drafted token where the phrase's drafted part
        begins (0 when it began in the prompt). `decode` turns token ids into text. Only the last
        `window` tokens are decoded."""
        tail = ids[-self.window:]
        found = self.occurrences(normalize(decode(tail)))
        if not found:
            return None
        before_draft = max(0, len(tail) - drafted)  # tail tokens from the prompt
        boundary = len(normalize(decode(tail[:before_draft]))) if before_draft else 0
        ends_in_draft = [(start, phrase) for start, end, phrase in found if end > boundary]
        if not ends_in_draft:
            return None  # the writer's own text: theirs to keep
        start, phrase = ends_in_draft[0]
        # the last prefix of the tail that holds no character of the phrase: the next token begins it
        low, high = 0, len(tail) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if len(normalize(decode(tail[:middle]))) <= start:
                low = middle
            else:
                high = middle - 1
        first_drafted = len(ids) - drafted  # the index in ids of the first drafted token
        return max(0, len(ids) - len(tail) + low - first_drafted), phrase


def _starts_word(text: str, start: int, phrase: str) -> bool:
    """A phrase that begins with a letter or digit begins a word (wide scripts: anywhere)."""
    return start == 0 or not _wordlike(phrase[0]) or not _wordlike(text[start - 1])


def _raw_length(before: str, text: str, normalized_length: int) -> int:
    """The most characters of `text` such that normalize(before + them) is at most
    `normalized_length` long (normalized lengths grow with the text, so a binary search)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(normalize(before + text[:middle])) <= normalized_length:
            low = middle
        else:
            high = middle - 1
    return low


# -- suggestions: what the tuned model overuses ---------------------------------------------

_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+")  # words (an apostrophe inside), numbers
_BREAKS = re.compile(r"[^\w\s'’]+")  # punctuation ends a phrase: n-grams do not cross it
# the wide scripts (after NFKC: full-width Latin is plain Latin by then), each character a word of its own
_WIDE = re.compile("([\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
                   "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\U00020000-\U0003fffd])")


def _words(text: str) -> list[list[str]]:
    """The runs of words of `text` between punctuation, normalized: a Latin word is one word, a
    wide character (Chinese) is one word; a number breaks a run."""
    runs = []
    for segment in _BREAKS.split(_WIDE.sub(r" \1 ", normalize(text))):
        run: list[str] = []
        for word in _WORDS.findall(segment):
            if word.isdigit():
                runs.append(run)
                run = []
            else:
                run.append(word)
        runs.append(run)
    return [r for r in runs if r]


class _Side:
    """One side of the comparison (the drafts, or the writer's corpus): its count of words, of every
    2-4 word phrase (as word tuples; a run of wide characters gives 2-4 character phrases, never
    mixed with Latin words), and its runs joined, to count longer phrases."""

    def __init__(self, texts: list[str]):
        runs = [run for text in texts for run in _words(text)]
        self.words = sum(len(run) for run in runs)
        self.counts: Counter = Counter()
        for run in runs:
            wide = [is_wide(w[0]) for w in run]
            for n in (2, 3, 4):
                self.counts.update(tuple(run[i:i + n]) for i in range(len(run) - n + 1) if len(set(wide[i:i + n])) == 1)
        self._joined = "".join("\x00" + "\x00".join(run) + "\x00\x01" for run in runs)

    def count(self, words: tuple) -> int:
        if len(words) <= 4:
            return self.counts.get(words, 0)
        return self._joined.count("\x00" + "\x00".join(words) + "\x00")


def keyness(a: int, b: int, words_a: int, words_b: int) -> float:
    """Log-likelihood G2 (Rayson and Garside 2000) of a phrase seen `a` times in `words_a` words
    and `b` times in `words_b`."""
    expected_a = words_a * (a + b) / (words_a + words_b)
    expected_b = words_b * (a + b) / (words_a + words_b)
    return 2 * sum(o * math.log(o / e) for o, e in ((a, expected_a), (b, expected_b)) if o)


def _overused(words: tuple, drafts: _Side, corpus: _Side) -> dict | None:
    """The row of `words` if the drafts overuse it (MIN_DRAFT_COUNT, MIN_KEYNESS), else None."""
    a, b = drafts.count(words), corpus.count(words)
    if a < MIN_DRAFT_COUNT or a / drafts.words <= b / max(corpus.words, 1):
        return None
    score = keyness(a, b, drafts.words, max(corpus.words, 1))
    if score < MIN_KEYNESS:
        return None
    return {"phrase": ("" if is_wide(words[0][0]) else " ").join(words), "words": words, "drafts": a, "corpus": b,
            "keyness": round(score, 2), "drafts_per_10k": round(a * 10_000 / drafts.words, 2),
            "corpus_per_10k": round(b * 10_000 / max(corpus.words, 1), 2)}


def overused_phrases(drafts: list[str], corpus: list[str], top: int = 20) -> list[dict]:
    """The phrases the drafts use far more than the writer's corpus, most telling first:
    {"phrase", "drafts" and "corpus" (counts), "drafts_per_10k" and "corpus_per_10k" (per 10,000
    words of each; a Chinese character counts as a word), "keyness" (G2)}. A phrase must occur
    MIN_DRAFT_COUNT times in the drafts and be overused at p < 0.001. Overlapping 4-word phrases
    that always come together are one longer phrase ("a shiver ran down" + "shiver ran down her" +
    "ran down her spine"); a phrase nearly always inside a longer one, or holding a stronger shorter
    one (whose ban would cover it), is left out."""
    mine, theirs = _Side(drafts), _Side(corpus)
    if not mine.words:
        return []
    found = [row for words in mine.counts if (row := _overused(words, mine, theirs))]
    kept = _without_repeats(_chained(found, mine, theirs))
    return [{k: v for k, v in row.items() if k != "words"} for row in kept[:top]]


def _chained(found: list[dict], drafts: _Side, corpus: _Side) -> list[dict]:
    """`found` with each chain of same-length phrases that overlap all but one word, and occur about
    as often, replaced by the one phrase they spell (when that is overused as often)."""
    by_words = {row["words"]: row for row in found}
    following = {}
    for words, row in by_words.items():
        nexts = [w for w in by_words if len(w) == len(words) and w[:-1] == words[1:] and w != words]
        if len(nexts) == 1 and _alike(row, by_words[nexts[0]]):
            following[words] = nexts[0]
    starts = set(following) - set(following.values())
    for start in starts:
        chain, words = [start], start
        while words in following and following[words] not in chain:
            words = following[words]
            chain.append(words)
        spelled = chain[0] + tuple(w[-1] for w in chain[1:])
        row = _overused(spelled, drafts, corpus)
        if row and row["drafts"] >= 0.8 * min(by_words[w]["drafts"] for w in chain):
            for w in chain:
                by_words.pop(w, None)
            by_words[spelled] = row
    return list(by_words.values())


def _alike(a: dict, b: dict) -> bool:
    return min(a["drafts"], b["drafts"]) >= 0.8 * max(a["drafts"], b["drafts"])


def _without_repeats(found: list[dict]) -> list[dict]:
    """Most telling first, without a phrase found nearly always inside a longer one, nor one that holds a
    more telling shorter one."""
    kept: list[dict] = []
    for row in sorted(found, key=lambda r: -len(r["words"])):
        if not any(_inside(row["words"], k["words"]) and k["drafts"] >= 0.8 * row["drafts"] for k in kept):
            kept.append(row)
    kept.sort(key=lambda r: (-r["keyness"], len(r["words"]), r["phrase"]))
    return [row for row in kept if not any(k is not row and len(k["words"]) < len(row["words"]) and
                                           k["keyness"] >= row["keyness"] and _inside(k["words"], row["words"])
                                           for k in kept)]


def _inside(short: tuple, long: tuple) -> bool:
    return any(long[i:i + len(short)] == short for i in range(len(long) - len(short) + 1))
