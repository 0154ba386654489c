"""Style match: do the tuned model's drafts read more like the writer than the base model's?

Held-out openings from the validation split are continued by the base and the tuned model (same
seed, same settings); each continuation is scored against the writer's held-out text with Burrows'
Delta (Burrows 2002, "'Delta': a measure of stylistic difference"): the mean absolute difference of
z-scored relative frequencies over the writer's most frequent features. The features are

- the most frequent words (Latin script), and CJK characters and character bigrams (Chinese has
  no spaces; characters and bigrams are the usual units of Chinese stylometry);
- a punctuation profile (each mark per character);
- the mean sentence length, in words or characters;

each of the three weighs a third of the distance.

The z-scores use the spread of each feature across segments of the writer's training text cut to
the drafts' length, so a difference of one typical wobble within the writer's own text counts 1.

The answer leads with the mean distances (base, tuned, the writer's own held-out text) and an
interval on the change (tuned minus base, a paired bootstrap over the openings, seeded): "closer"
only when the whole interval lies below zero, "further" only when it lies above, else "no clear
change". The count of openings where the tuned draft won is kept as detail: over a handful of
short drafts it is mostly sampling noise.

Why not a library: faststylometry computes its z-scores across several candidate authors (here
there is one writer), tokenises English only, and pulls scikit-learn and wget; Delta itself is a
few lines of numpy.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from studio.corpus.paragraphs import sentences
from studio.records import StyleEvaluation, StyleVerdict
from studio.textclean import remove_debris

MOST_FREQUENT = 50  # the usual range for texts of a few hundred words (Burrows used 30-150)
OPENINGS = 24  # 16 gave one seed in five "no clear change" on a run the other four called closer (docs/benchmarks.md)
RESAMPLES = 2000  # bootstrap resamples of the openings
CONFIDENCE = 0.95
MIN_OPENINGS = 5  # fewer: every resample is nearly the same few openings, and the interval means little
OPENING_CHARS = {"latin": 160, "cjk": 40}  # about 40 tokens of English, 2-3 sentences of Chinese
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_UNIT = re.compile(rf"[{_CJK}]|[^\W\d_]+", re.UNICODE)
_CJK_RUN = re.compile(rf"[{_CJK}]{{2,}}")
_ENDS = tuple(".!?。！？…")
PUNCTUATION = list(",.;:!?\"'()-—…，。；：！？、“”‘’「」『』（）《》")


def units(text: str) -> list[str]:
    """Words (lower-cased) and CJK characters, then CJK character bigrams."""
    found = [u.lower() for u in _UNIT.findall(text)]
    bigrams = [run[i:i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)]
    return found + bigrams


def _sentence_length(text: str) -> float:
    """Mean units per sentence, over the finished sentences (a draft cut off at its token limit
    ends mid-sentence; that stub is not a short sentence)."""
    found = [s for _, s in sentences(text) if _UNIT.search(s)]
    finished = [s for s in found if s.rstrip("\"'”’」』)） ").endswith(_ENDS)] or found
    return float(np.mean([len(_UNIT.findall(s)) for s in finished])) if finished else 0.0


class Delta:
    """Burrows' Delta against one writer: the vocabulary and the spread come from the writer's
    training text, the profile from the writer's held-out text."""

    def __init__(self, writer_texts: list[str], heldout_texts: list[str], segment_chars: int):
        counts = Counter(u for t in writer_texts + heldout_texts for u in units(t))
        self.vocabulary = [u for u, _ in counts.most_common(MOST_FREQUENT)]
        self.index = {u: i for i, u in enumerate(self.vocabulary)}
        segments = _segments("\n\n".join(writer_texts), segment_chars)
        matrix = np.array([self.features(s) for s in segments]) if segments else np.zeros((1, self.size))
        self.mean = matrix.mean(axis=0)
        typical_units = max(np.mean([len(_UNIT.findall(s)) for s in segments]) if segments else 1.0, 1.0)
        # a feature that never varies in the writer's segments still counts: one occurrence per
        # segment is the smallest spread it may have
        floor = np.concatenate([np.full(len(self.vocabulary) + len(PUNCTUATION), 1.0 / typical_units), [1.0]])
        self.spread = np.maximum(matrix.std(axis=0), floor)
        self.profile = self.z(self.features("\n\n".join(heldout_texts)))

    @property
    def size(self) -> int:
        return len(self.vocabulary) + len(PUNCTUATION) + 1

    def features(self, text: str) -> np.ndarray:
        out = np.zeros(self.size)
        found = units(text)
        for u in found:
            if u in self.index:
                out[self.index[u]] += 1
        out[:len(self.vocabulary)] /= max(len(found), 1)
        chars = max(sum(1 for c in text if not c.isspace()), 1)
        for k, mark in enumerate(PUNCTUATION):
            out[len(self.vocabulary) + k] = text.count(mark) / chars
        out[-1] = _sentence_length(text)
        return out

    def z(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.spread

    def distance(self, text: str) -> float:
        """Delta of `text` from the writer's held-out text, 0 for the writer's own profile, larger
        farther: the mean over three equal parts, Delta over the frequent words, Delta over the
        punctuation marks, and the z-distance of the mean sentence length (so neither the 50 words
        nor the 30 marks drown the one sentence-length figure)."""
        gap = np.abs(self.z(self.features(text)) - self.profile)
        words = len(self.vocabulary)
        return float(np.mean([gap[:words].mean() if words else 0.0, gap[words:-1].mean(), gap[-1]]))


def _segments(text: str, size: int) -> list[str]:
    """The text cut at sentence ends into pieces of about `size` characters."""
    out, current = [], ""
    for sep, sentence in sentences(text):
        current = f"{current}{sep}{sentence}" if current else sentence
        if len(current) >= size:
            out.append(current)
            current = ""
    return out


def openings(val_texts: list[str], count: int = OPENINGS) -> list[dict]:
    """Up to `count` held-out openings, spread evenly over the validation text. An opening is
    whole sentences of about OPENING_CHARS, with the writer's own continuation of about twice
    that after it; openings start one after another, so a continuation may hold the next opening."""
    windows = []
    for text in val_texts:
        size = OPENING_CHARS["cjk" if len(re.findall(f"[{_CJK}]", text)) > len(text) / 3 else "latin"]
        parts, at = sentences(text), 0
        while at < len(parts):
            opening, after = _take(parts, at, size)
            writer, _ = _take(parts, after, 2 * size)
            if opening.strip() and writer.strip():
                windows.append({"opening": opening, "writer": writer.strip()})
            at = after
    step = max(len(windows) / max(count, 1), 1.0)
    return [windows[int(k * step)] for k in range(min(count, len(windows)))]


def _take(parts: list[tuple[str, str]], at: int, size: int) -> tuple[str, int]:
    """Whole sentences from parts[at:] until about `size` characters; (text, next index)."""
    text = ""
    while at < len(parts) and len(text) < size:
        sep, sentence = parts[at]
        text = f"{text}{sep}{sentence}" if text else sentence
        at += 1
    return text, at


def change_interval(base: list[float], tuned: list[float], resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                    seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of tuned minus base distance: the mean over openings and its percentile
    interval from a paired bootstrap (openings drawn with replacement, each keeping its base and
    tuned draft together), seeded so one set of distances always gives one interval."""
    diffs = np.asarray(tuned, dtype=float) - np.asarray(base, dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(diffs.mean()), float(low), float(high)


def verdict(low: float, high: float, openings: int) -> StyleVerdict:
    """Closer when the whole interval of the change is below zero, further when above, else no clear change."""
    if openings < MIN_OPENINGS:
        return StyleVerdict.TOO_FEW
    return StyleVerdict.CLOSER if high < 0 else StyleVerdict.FURTHER if low > 0 else StyleVerdict.UNCLEAR


def score(train_texts: list[str], val_texts: list[str], found: list[dict], base: list[str], tuned: list[str],
          copied_share=None) -> StyleEvaluation:
    """Distances of each base and tuned continuation from the writer's held-out text, their means,
    the interval on the change and the verdict; tuned wins an opening when it is closer (detail).
    `copied_share(text)`, when given, measures how much of the tuned drafts repeats the training
    corpus (a model can come closer by reciting)."""
    segment = int(np.mean([len(t) for t in base + tuned])) if base else 400
    delta = Delta(train_texts, val_texts, max(segment, 20))  # the spread of texts as long as the drafts
    rows = [{"opening": item["opening"], "base": b, "tuned": t, "base_distance": round(delta.distance(b), 4),
             "tuned_distance": round(delta.distance(t), 4)} for item, b, t in zip(found, base, tuned)]
    result = StyleEvaluation(openings=len(rows), tuned_closer=sum(r["tuned_distance"] < r["base_distance"] for r in rows),
                             rows=rows, measure="Burrows' Delta over the writer's most frequent words (CJK: characters "
                             "and bigrams), punctuation and sentence length; lower is closer")
    if not rows:
        return result
    base_d, tuned_d = [r["base_distance"] for r in rows], [r["tuned_distance"] for r in rows]
    result.base_mean, result.tuned_mean = round(float(np.mean(base_d)), 4), round(float(np.mean(tuned_d)), 4)
    mean, low, high = change_interval(base_d, tuned_d)
    result.difference, result.interval = round(mean, 4), [round(low, 4), round(high, 4)]
    result.confidence, result.resamples, result.verdict = CONFIDENCE, RESAMPLES, verdict(low, high, len(rows))
    # the writer's own continuations, scored the same way: how close "close" can be
    writers = [item["writer"][:max(len(t), 1)] for item, t in zip(found, tuned)]
    result.writer_mean = round(float(np.mean([delta.distance(w) for w in writers])), 4)
    if copied_share is not None:
        result.tuned_copied = round(float(np.mean([copied_share(t) for t in tuned])), 4)
        result.base_copied = round(float(np.mean([copied_share(b) for b in base])), 4)
    return result


def prose(root, corpus: str, version: str, split: str) -> list[str]:
    """The texts of one split of a corpus version (text-mode records only)."""
    from studio.corpus.store import read_split

    return [r["text"] for r in read_split(root, corpus, version, split) if "text" in r]


def score_on_corpus(root, corpus: str, version: str, found: list[dict], base: list[str],
                    tuned: list[str]) -> StyleEvaluation:
    """`score` against a corpus version: its training split gives the spread, its validation split
    the writer's profile, and its overlap index the copied share."""
    from studio.write.overlap import copied_spans, corpus_index

    index = corpus_index(root, corpus, version)
    return score(prose(root, corpus, version, "train"), prose(root, corpus, version, "val"), found, base, tuned,
                 lambda text: copied_spans(text, index)["share"])


def continuations(model, tokenizer, prompts: list[str], max_new_tokens: int, device: str, seed: int) -> tuple[list[str], list[str]]:
    """(base, tuned) continuations of `prompts` from a peft model: the base with the adapter
    switched off, both sampled with the same seed and settings, one batch each."""
    import torch

    from studio.config import GenConfig

    gen = GenConfig(max_new_tokens=max_new_tokens, seed=seed)
    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True).to(device)

    def sample() -> list[str]:
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=gen.max_new_tokens, do_sample=True, temperature=gen.temperature,
                                 top_p=gen.top_p, top_k=gen.top_k, repetition_penalty=gen.repetition_penalty,
                                 pad_token_id=tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        return [remove_debris(t).text.strip() for t in texts]  # as the writer would see them: no escape codes

    try:
        with model.disable_adapter():
            base = sample()
        tuned = sample()
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return base, tuned
