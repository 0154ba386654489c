"""Style match on a manuscript: do the passages a model wrote read like the writer?

Burrows' Delta (studio/write/style.py, as after training) of the model-written passages, grouped by
who wrote them (the base, each run or checkpoint), against the writer's held-out text of a run's
corpus (its validation split; the training split gives the spread). The writer's own passages of
the manuscript are scored the same way, as the measure of how close "close" is. Lower is closer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio import runs
from studio.adapters import parse_source
from studio.write import manuscript_store as store
from studio.write.manuscript import ManuscriptError

MIN_CHARS = 20  # a source with fewer characters in the manuscript is not measured


@dataclass
class StyleRow:
    source: str  # "writer", "base" or RUN[@step-N]
    chars: int
    distance: float


@dataclass
class ManuscriptStyle:
    run: str  # the run whose corpus holds the writer's held-out text
    corpus: str
    rows: list[StyleRow] = field(default_factory=list)


def _run_of(root: Path, sources: list[str], run_id: str | None) -> str:
    """The run named, else the first run that wrote a passage and still exists."""
    if run_id:
        if not runs.run_dir(root, run_id).is_dir():
            raise ManuscriptError("manuscript.run_gone", run=run_id)
        return run_id
    for source in sources:
        found = parse_source(source).run_id
        if found and runs.run_dir(root, found).is_dir():
            return found
    raise ManuscriptError("manuscript.style_no_run")


def style_match(root: Path, ms_id: str, run_id: str | None = None, data: Path | None = None) -> ManuscriptStyle:
    """`data`: the data root of the runs and corpora when the manuscript lives elsewhere (a demo visitor's)."""
    from studio.write.style import Delta, prose

    ms = store.load(root, ms_id).ms
    texts: dict[str, str] = {}
    for p in ms.passages:
        texts[p.source] = texts.get(p.source, "") + p.text
    written = [s for s in texts if s != "writer" and len(texts[s].strip()) >= MIN_CHARS]
    if not written:
        raise ManuscriptError("manuscript.style_no_drafts", chars=MIN_CHARS)
    data = data or root
    run = _run_of(data, written, run_id)
    folder = runs.run_dir(data, run)
    cfg = runs.read_config(folder)
    version = runs.trained_corpus_version(folder, cfg)
    train, heldout = prose(data, cfg.corpus, version, "train"), prose(data, cfg.corpus, version, "val")
    if not heldout:
        raise ManuscriptError("manuscript.style_no_heldout", run=run, corpus=cfg.corpus)
    measured = written + (["writer"] if len(texts.get("writer", "").strip()) >= MIN_CHARS else [])
    segment = min(max(int(sum(len(texts[s]) for s in measured) / len(measured)), MIN_CHARS), 2000)
    delta = Delta(train, heldout, segment)
    rows = [StyleRow(s, len(texts[s]), round(delta.distance(texts[s]), 4)) for s in measured]
    return ManuscriptStyle(run, cfg.corpus, rows)
