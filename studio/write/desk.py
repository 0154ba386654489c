"""The writing desk: what the Write tab and `python -m studio manuscript` do with a manuscript.

Every change goes through manuscript_store.commit (a history line, then the snapshot); drafting
goes through the Drafter like any comparison, with the manuscript's context as the prompt. The last
continue's candidates are kept in the manuscript's folder (pending.json), so `use` works from
another process, after a reload, or from the CLI.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from studio import runs
from studio.adapters import parse_source
from studio.config import GenConfig
from studio.textclean import remove_debris
from studio.write import manuscript_store as store
from studio.write.context import Context, assemble, counter_for, fim_tokens
from studio.write.prefix_cache import CacheKey
from studio.write.visitors import is_shelf
from studio.write.manuscript import (HistoryMismatch, Manuscript, ManuscriptError, Passage,
                                     diff, insert_ops, replace_all_ops, replace_ops, words)

ANCHOR_CHARS = 200  # the text before a draft point, kept to find that point again after edits
REFUSED_KEPT = 3  # refused texts kept per manuscript, the newest
RECENT_CHARS = 1500  # the newest text recall searches with: what the next sentence most likely follows on from


def new_id(root: Path, title: str) -> str:
    """An id from the title (letters of any script, digits, '-'), made unique."""
    base = re.sub(r"[^\w]+", "-", title.strip().lower()).strip("-_.")[:40] or "manuscript"
    found, n = base, 1
    while store.folder_of(root, found).exists():
        n += 1
        found = f"{base}-{n}"
    return found


def new(root: Path, title: str, text: str = "", memory: str = "", note: str = "", ms_id: str | None = None) -> Manuscript:
    ms_id = ms_id or new_id(root, title)
    ops = [{"op": "set", "field": f, "old": "", "new": v} for f, v in (("title", title), ("memory", memory),
                                                                       ("note", note)) if v]
    if text:
        ops.append({"op": "splice", "at": 0, "del": [], "ins": [Passage(text).to_dict()]})
    return store.create(root, ms_id, title, ops).ms


def listing(root: Path) -> list[dict]:
    folder = store.manuscripts_dir(root)
    rows = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith(".") or not path.is_dir():
            continue
        opened = store.load(root, path.name)
        ms = opened.ms
        rows.append({"id": ms.id, "title": ms.title, "words": _words(opened), "revision": ms.revision,
                     "updated": ms.updated})
    return sorted(rows, key=lambda r: -r["updated"])


def _words(opened: store.Open) -> int:
    if opened.words[0] != opened.ms.revision:  # counting a long book's words takes a while: once per revision
        opened.words = (opened.ms.revision, words(opened.ms.text))
    return opened.words[1]


def view(root: Path, ms_id: str) -> dict:
    """The manuscript, the notices from opening it (damaged files; each shown once), and what
    undo/redo can do."""
    opened = store.load(root, ms_id)
    notices, opened.notices = opened.notices, []
    return {"manuscript": opened.ms, "text": opened.ms.text, "words": _words(opened), "notices": notices,
            "can_undo": bool(opened.done), "can_redo": bool(opened.undone)}


def rename(root: Path, ms_id: str, title: str) -> Manuscript:
    return store.commit(root, ms_id, "rename", lambda ms: [{"op": "set", "field": "title", "old": ms.title,
                                                            "new": title}] if ms.title != title else [])[0].ms


def delete(root: Path, ms_id: str) -> Path:
    """Move the manuscript's folder into manuscripts/.trash (nothing a writer made is destroyed)."""
    folder = store.folder_of(root, ms_id)
    if not folder.is_dir():
        raise ManuscriptError("manuscript.no_such", id=ms_id)
    trash = store.manuscripts_dir(root) / ".trash"
    trash.mkdir(exist_ok=True)
    target = trash / f"{ms_id}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}"
    shutil.move(str(folder), target)
    store.forget(folder)
    return target


def _result(opened: store.Open, behind: int, base: int | None) -> dict:
    from studio.messages import message

    notice = message("manuscript.conflict", base=base, current=behind, revision=opened.ms.revision) if behind else None
    return {"revision": opened.ms.revision, "notice": notice, "manuscript": opened.ms}


def save_text(root: Path, ms_id: str, text: str, base: int | None = None) -> dict:
    """The writer's text as it is in the editor now (their edits, anywhere); `base` is the revision
    the editor loaded. A save based on an older revision still wins, and says so."""
    def build(ms: Manuscript):
        return replace_ops(ms, *diff(ms.text, text))
    return _result(*store.commit(root, ms_id, "edit", build, base), base)


def keep_refused(root: Path, ms_id: str, text: str) -> Path:
    """A text the manuscript refused (too big) kept beside it, in refused/<time>.txt, so a writer's
    paste is never lost with the editor's reset."""
    folder = store.folder_of(root, ms_id) / "refused"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}.txt"
    path.write_text(text, encoding="utf-8")
    for old in sorted(folder.glob("*.txt"))[:-REFUSED_KEPT]:  # a script pasting again and again fills no disk
        old.unlink(missing_ok=True)
    return path


def set_field(root: Path, ms_id: str, name: str, value: str, base: int | None = None) -> dict:
    """The memory or the author's note."""
    if name not in ("memory", "note"):
        raise ValueError(name)
    def build(ms: Manuscript):
        return [{"op": "set", "field": name, "old": getattr(ms, name), "new": value}] if getattr(ms, name) != value else []
    return _result(*store.commit(root, ms_id, name, build, base), base)


def undo(root: Path, ms_id: str, redo: bool = False) -> dict:
    holder = {}

    def build(ms: Manuscript):
        holder["of"], ops = store.undo_ops(store.load(root, ms_id), redo)
        return ops, holder["of"]
    try:
        opened, _ = store.commit(root, ms_id, "redo" if redo else "undo", build)
    except HistoryMismatch:
        raise ManuscriptError("manuscript.undo_mismatch", revision=holder.get("of")) from None
    return {"revision": opened.ms.revision, "manuscript": opened.ms, "can_undo": bool(opened.done),
            "can_redo": bool(opened.undone)}


def history(root: Path, ms_id: str) -> list[dict]:
    opened = store.load(root, ms_id)
    return [{"revision": e["rev"], "kind": e.get("kind"), "time": e.get("time"), "of": e.get("of"),
             "base": e.get("base")} for _, e in sorted(opened.entries.items())]


def version(root: Path, ms_id: str, revision: int) -> Manuscript:
    return store.state_at(root, ms_id, revision)


def restore(root: Path, ms_id: str, revision: int) -> dict:
    old = store.state_at(root, ms_id, revision)
    opened, _ = store.commit(root, ms_id, "restore", lambda ms: replace_all_ops(ms, old), of=revision, snapshot=True)
    return {"revision": opened.ms.revision, "manuscript": opened.ms}


# -- drafting -------------------------------------------------------------------------------
def base_model(root: Path, panes: list[str], model: str | None = None) -> str:
    """The base model every pane shares; a pane naming a deleted run is refused by name."""
    from studio.models import EMBEDDED_DEFAULT

    tuned = [s for s in map(parse_source, panes) if s.run_id]
    for s in tuned:
        if not runs.run_dir(root, s.run_id).is_dir():
            raise ManuscriptError("manuscript.run_gone", run=s.run_id)
    if tuned:
        return runs.read_config(runs.run_dir(root, tuned[0].run_id)).model
    return model or EMBEDDED_DEFAULT


def context(root: Path, ms_id: str, panes: list[str], gen: GenConfig, cursor: int | None = None,
            model: str | None = None, data: Path | None = None) -> Context:
    """What the model would see for a continue (the 'what the model sees' view). `data`: where runs
    and models are, when the manuscripts are elsewhere (a demo visitor's, studio/write/visitors.py)."""
    from studio.write import desk_bible

    ms = store.load(root, ms_id).ms
    data = data or root
    count, length = counter_for(data, base_model(data, panes, model))
    if gen.max_new_tokens > length * 3 // 4:  # a quarter of the context at least is left for what it continues
        raise ManuscriptError("manuscript.draft_too_long", draft=gen.max_new_tokens, context=length, most=length * 3 // 4)
    text = ms.text
    if cursor is not None and not 0 <= cursor <= len(text):
        raise ManuscriptError("manuscript.cursor", cursor=cursor, length=len(text))
    at = len(text) if cursor is None else cursor
    fim = fim_tokens(count.tokenizer) if cursor is not None and at < len(text) else None
    entries, settings, notices = desk_bible.read(root, ms)
    recall_budget = settings.recall_budget(length)
    ctx = assemble(count, text[:at], ms.memory, ms.note, length - gen.max_new_tokens, text[at:] if fim else None,
                   fim, cursor=cursor is not None and at < len(text), bible=(entries, settings) if entries else None,
                   recall=_recaller(root, ms_id) if recall_budget else None, recall_budget=recall_budget,
                   context_length=length)
    ctx.notices[:0] = notices
    return ctx


def _recaller(root: Path, ms_id: str):
    """Recall of the manuscript's scrolled-out text: its index is the manuscript's own (keyed by
    its folder, so one demo visitor's text never answers another's)."""
    from studio.write.recall import index_for

    index = index_for(str(store.folder_of(root, ms_id)))

    def find(before: str, cut: int, count, tokens: int) -> list:
        return index.recall(before, cut, before[max(cut, len(before) - RECENT_CHARS):], count, tokens)
    return find


def continue_stream(root: Path, drafter, ms_id: str, panes: list[str], gen: GenConfig, cursor: int | None = None,
                    stop=None, model: str | None = None, data: Path | None = None):
    """Candidates (gen.drafts per pane) for the draft point, as they grow: first {"context": ...},
    then the drafter's items; the last is kept as the manuscript's pending candidates. The panes
    and settings are kept as the manuscript's setup (studio/write/desk_setup.py); the phrases to
    avoid, the manuscript's and the studio's, are never drafted (studio/write/banned.py)."""
    from studio.write import desk_bible, desk_setup

    ctx = context(root, ms_id, panes, gen, cursor, model, data)
    opened = store.load(root, ms_id)
    desk_setup.keep(root, ms_id, panes=panes, gen=gen)
    text = opened.ms.text
    at = len(text) if cursor is None else cursor
    yield {"context": ctx}
    model = base_model(data or root, panes, model)  # the model whose tokenizer counted the context drafts it
    banned = desk_bible.banned_for(root, opened.ms, data)

    def keep_pending(item: dict, cut: bool = False) -> None:
        store.write_pending(opened.folder, {
            "at": at, "anchor": text[max(0, at - ANCHOR_CHARS):at], "revision": opened.ms.revision,
            "mode": ctx.mode, "settings": vars(gen), "time": time.time(), "prompt": ctx.text, "model": model,
            "panes": [{"source": p["source"], "drafts": p["drafts"]} for p in item["panes"]], **({"cut": True} if cut else {})})
    last = None
    try:
        # the model's read of this manuscript's last context is reused (studio/write/prefix_cache.py);
        # a demo visitor's under their own key and budget
        key = CacheKey(str(root), ms_id, visitor=is_shelf(root))
        for item in drafter.stream(panes, ctx.text, gen, "continue", stop, model, save=False, banned=banned or None,
                                   cache_key=key):
            if item.get("done"):
                item.update(at=at, revision=opened.ms.revision, mode=ctx.mode)
                keep_pending(item)
            last = item
            yield item
    except GeneratorExit:
        # the page closed mid-draft: what was drafted so far is kept as the candidates (and said so on the
        # next opening), not lost with the tab
        if last and not last.get("done") and any(d.strip() for p in last.get("panes", []) for d in p["drafts"]):
            keep_pending(last, cut=True)
        raise


def candidates(root: Path, ms_id: str) -> list[dict]:
    """The last continue's candidates, numbered from 1 across panes (the CLI's `use N`)."""
    pending = store.read_pending(store.folder_of(root, ms_id))
    if not pending:
        raise ManuscriptError("manuscript.no_pending")
    out = []
    for pane in pending["panes"]:
        for k, text in enumerate(pane["drafts"], 1):
            # candidates kept before drafts were cleaned may hold escape codes: the writer never sees them
            out.append({"n": len(out) + 1, "source": pane["source"], "candidate": k, "text": remove_debris(text).text,
                        "at": pending.get("at"), "mode": pending.get("mode"),  # older pending files lack them
                        "settings": pending.get("settings", {}), "cut": bool(pending.get("cut")),
                        "time": pending.get("time"), "inline": bool(pending.get("inline"))})
    return out


def use_pending(root: Path, ms_id: str, n: int, data: Path | None = None, inline: bool = False) -> dict:
    """Candidate n of the last continue into the manuscript. `inline`: the desk's inline mode kept
    its draft in the text; the revision is noted, so Retry can replace it while nothing was written
    after it (take_back_inline)."""
    found = candidates(root, ms_id)
    if not 1 <= n <= len(found):
        raise ManuscriptError("manuscript.no_candidate", n=n, count=len(found))
    folder = store.folder_of(root, ms_id)
    pending = store.read_pending(folder)
    pick = found[n - 1]
    settings = {**pending["settings"], "candidate": pick["candidate"], "mode": pending["mode"]}
    guard = [p["source"] for p in pending["panes"]]
    result = use(root, ms_id, pick["text"], pending["at"], pick["source"], settings, pending["anchor"],
                 pending["revision"], guard, data)
    if inline:
        store.write_pending(folder, {**pending, "inline": True, "used_revision": result["revision"]})
    return result


def take_back_inline(root: Path, ms_id: str, editor_text: str | None = None) -> dict | None:
    """Undo the inline draft of the last continue when it is still the newest revision and the
    editor shows the manuscript as it is (the writer wrote nothing after it): Retry replaces it.
    None when there is nothing to take back (the writer kept it by writing on)."""
    folder = store.folder_of(root, ms_id)
    pending = store.read_pending(folder) or {}
    opened = store.load(root, ms_id)
    if not pending.get("inline") or pending.get("used_revision") != opened.ms.revision:
        return None
    if editor_text is not None and editor_text != opened.ms.text:
        return None
    result = undo(root, ms_id)
    store.write_pending(folder, {**pending, "inline": False, "used_revision": None})
    return {**result, "text": result["manuscript"].text}


def use(root: Path, ms_id: str, text: str, at: int, source: str, settings: dict | None = None,
        anchor: str | None = None, revision: int | None = None, guard: list[str] | None = None,
        data: Path | None = None) -> dict:
    """Insert a candidate at the point it was drafted for (found again by the text before it when
    the writer edited since), with its source, settings and the copied-text guard's finding."""
    source = "base" if parse_source(source).key == "base" else parse_source(source).key
    copied = copied_share(data or root, text, source, guard or [])
    passage = Passage(text, source, settings, copied[0] if copied else None, copied[1] if copied else None)
    notice = {}

    def build(ms: Manuscript):
        where = at
        if revision is not None and revision != ms.revision and anchor is not None:
            where = _find_again(ms.text, anchor, at)
            if where is None:
                from studio.messages import message

                where, notice["notice"] = len(ms.text), message("manuscript.moved")
        where = min(max(where, 0), len(ms.text))
        notice["at"] = where
        return insert_ops(ms, where, passage)
    opened, _ = store.commit(root, ms_id, "use", build)
    return {"revision": opened.ms.revision, "manuscript": opened.ms, "passage": passage, **notice}


def _find_again(text: str, anchor: str, at: int) -> int | None:
    if not anchor:
        return 0
    before = text.rfind(anchor, 0, min(len(text), at + len(anchor)))
    after = text.find(anchor, max(0, at - len(anchor)))
    found = [p for p in (before, after) if p >= 0]
    return min(found, key=lambda p: abs(p + len(anchor) - at)) + len(anchor) if found else None


def copied_share(root: Path, text: str, source: str, guard: list[str]) -> tuple[float, list] | None:
    """(share, spans) of text copied from the corpus of the source's run (the base: of the first
    tuned pane it was drafted beside); None when no corpus can be checked (no run, run deleted)."""
    from studio.write.overlap import copied_spans, corpus_index

    for name in [source] + guard:
        run_id = parse_source(name).run_id
        folder = runs.run_dir(root, run_id) if run_id else None
        if folder is None or not folder.is_dir():
            continue
        cfg = runs.read_config(folder)
        if not cfg.corpus:
            continue
        try:
            found = copied_spans(text, corpus_index(root, cfg.corpus, runs.trained_corpus_version(folder, cfg)))
        except (FileNotFoundError, ValueError, KeyError):
            continue
        return found["share"], [list(s) for s in found["spans"]]
    return None
