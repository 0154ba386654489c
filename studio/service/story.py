"""The service's facet for what a manuscript keeps beside its text: the story bible, the phrases
to avoid, and the writer's setup (panes and sampling). Plain values in and out, like the rest of
studio.service, which re-exports these functions (`service.add_bible_entry` ...).

`root` is the data root or a demo visitor's folder: a visitor's bible counts against their caps,
and the studio-wide phrases are the owner's alone.
"""
from __future__ import annotations

from pathlib import Path

from studio.config import GenConfig
from studio.write import desk_bible, desk_setup, visitors
from studio.write import manuscript_store as store


def _room(root: Path, ms_id: str, added: int) -> None:
    from studio import service

    service._visitor_room(root, ms_id, added=added)


def manuscript_bible(root: Path, ms_id: str) -> dict:
    """entries, settings, notices (damaged entries, a shared bible that is gone), owner (the
    manuscript whose bible this is), shared_by (the manuscripts that use this one's)."""
    ms = store.load(root, ms_id).ms
    entries, settings, notices = desk_bible.read(root, ms)
    return {"entries": entries, "settings": settings, "notices": notices,
            "owner": desk_bible.owner_of(root, ms).id, "bible_of": ms.bible_of}


def add_bible_entry(root: Path, ms_id: str, entry: dict) -> dict:
    _room(root, ms_id, len(str(entry)))
    return desk_bible.add_entry(root, ms_id, entry)


def edit_bible_entry(root: Path, ms_id: str, name: str, changes: dict) -> dict:
    _room(root, ms_id, len(str(changes)))
    return desk_bible.edit_entry(root, ms_id, name, changes)


def remove_bible_entry(root: Path, ms_id: str, name: str) -> dict:
    return desk_bible.remove_entry(root, ms_id, name)


def replace_bible_entries(root: Path, ms_id: str, rows: list[dict], settings: dict | None = None) -> dict:
    """Every entry (and the settings given) as one revision; returns revision and owner."""
    _room(root, ms_id, len(str(rows)))
    return desk_bible.replace_entries(root, ms_id, rows, settings)


def set_bible_settings(root: Path, ms_id: str, changes: dict) -> dict:
    return desk_bible.set_settings(root, ms_id, changes)


def import_bible(root: Path, ms_id: str, path: Path) -> dict:
    """A SillyTavern, NovelAI or Kobold Lite lorebook added to the bible: added, format, unmapped."""
    _room(root, ms_id, Path(path).stat().st_size if Path(path).is_file() else 0)
    return desk_bible.import_file(root, ms_id, Path(path))


def export_bible(root: Path, ms_id: str, target: Path) -> Path:
    """The bible as SillyTavern World Info JSON."""
    return desk_bible.export_file(root, ms_id, Path(target))


def share_bible(root: Path, ms_id: str, other: str) -> dict:
    return desk_bible.share(root, ms_id, other)


def manuscript_banned(root: Path, ms_id: str) -> dict:
    """The manuscript's phrases to avoid and the studio's."""
    ms = store.load(root, ms_id).ms
    return {"manuscript": list(ms.banned), "studio": desk_bible.studio_banned(visitors.owner_root(root))}


def set_manuscript_banned(root: Path, ms_id: str, phrases) -> dict:
    _room(root, ms_id, len(str(phrases)))
    return desk_bible.set_banned(root, ms_id, phrases)


def set_studio_banned(root: Path, phrases) -> list[str]:
    """The phrases no manuscript drafts; the owner's (a demo visitor sets their manuscript's only)."""
    if visitors.is_shelf(root):
        from studio.service import Refused

        raise Refused("banned.studio_owner_only")
    return desk_bible.set_studio_banned(root, phrases)


def suggest_banned(root: Path, ms_id: str, run_id: str, top: int = 20) -> list[dict]:
    """Phrases the run's drafts in this manuscript (and its comparison drafts) use far more than the
    writer's corpus: each {phrase, drafts_per_10k, corpus_per_10k, g2} (studio/write/banned.py)."""
    from studio import runs
    from studio.write.banned import overused_phrases
    from studio.corpus.store import read_manifest, read_split
    from studio.write.drafter import read_drafts
    from studio.write.overlap import record_texts

    def of_run(source: str) -> bool:
        return source.split("@")[0] == run_id

    data = visitors.owner_root(root)
    ms = store.load(root, ms_id).ms
    drafted = [p.text for p in ms.passages if of_run(p.source)]
    pending = store.read_pending(store.folder_of(root, ms_id)) or {}
    drafted += [d for p in pending.get("panes", []) if of_run(p["source"]) for d in p["drafts"]]
    if not visitors.is_shelf(root):  # the comparison panel's drafts are the owner's
        drafted += [d for r in read_drafts(data) for p in r.get("panes", []) if of_run(p["source"]) for d in p["drafts"]]
    folder = runs.run_dir(data, run_id)
    if not folder.is_dir():
        from studio.write.manuscript import ManuscriptError

        raise ManuscriptError("manuscript.run_gone", run=run_id)
    cfg = runs.read_config(folder)
    version = read_manifest(data, cfg.corpus, runs.trained_corpus_version(folder, cfg))["version"]
    corpus = [t for split in ("train", "val") for r in read_split(data, cfg.corpus, version, split)
              for t in record_texts(r)]
    return overused_phrases([d for d in drafted if d], corpus, top)


def manuscript_setup(root: Path, ms_id: str) -> tuple[desk_setup.Setup, list[dict]]:
    """The panes and settings the manuscript drafts with (the defaults when none kept), notices."""
    if not store.folder_of(root, ms_id).is_dir():
        from studio.write.manuscript import ManuscriptError

        raise ManuscriptError("manuscript.no_such", id=ms_id)
    return desk_setup.read(root, ms_id)


def keep_manuscript_setup(root: Path, ms_id: str, picks: list | None = None, with_base: bool | None = None,
                          gen: GenConfig | None = None, mode: str | None = None) -> desk_setup.Setup:
    return desk_setup.keep(root, ms_id, gen=gen, mode=mode, picks=picks, with_base=with_base)


def draft_bible(root: Path, ms_id: str, source: str, gen: GenConfig, stop=None, model: str | None = None):
    """A model's proposals for the bible (characters and places of the manuscript so far), streamed
    as {"text", "done"}; the last has `proposals`, entries for the writer to keep, edit or discard
    (nothing is saved here)."""
    from studio import service
    from studio.write.bible_draft import draft_stream

    data = service._owner_for(root, [source])
    ms = store.load(root, ms_id).ms
    existing = {e.name for e in desk_bible.read(root, ms)[0]}
    with service.demo_gate.drafting(root, gen.max_new_tokens, 1):
        yield from draft_stream(root, service.drafter(data), ms_id, source, gen, stop, model, data, existing)
