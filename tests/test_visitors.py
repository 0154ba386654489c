"""A demo visitor's own manuscripts (studio/write/visitors.py): apart from the owner's and from each
other's, capped, cleaned after a week unused, reached only with a token the studio makes; served
over HTTP, two visitors do not see each other's manuscripts."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from studio import service
from studio.config import DemoLimits, GenConfig
from studio.messages import render
from studio.write import manuscript_store as store
from studio.write import demo_gate, visitors



@pytest.fixture
def keys(root) -> tuple[str, str]:
    """Two visitors' keys, as the server hands them out (signed: a key cannot be made up)."""
    return service.new_visitor_token(root, ""), service.new_visitor_token(root, "")


def age(folder: Path, days: float) -> None:
    """Make everything in `folder` look last changed `days` ago."""
    then = time.time() - days * 86400
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))


def test_each_visitor_writes_in_a_folder_of_their_own_never_in_the_owners(root, keys):
    A, B = keys
    owner = service.new_manuscript(root, "The owner's book", "Chapter one.")
    a, b = service.visitor_root(root, A), service.visitor_root(root, B)
    mine = service.new_manuscript(a, "Lamp", "The keeper climbed the stair.")
    service.save_manuscript_text(a, mine.id, "The keeper climbed the stair at dusk.")
    assert a == root / "demo-visitors" / A[:32] and (a / "manuscripts" / mine.id / store.HISTORY).exists()
    assert [r["title"] for r in service.manuscripts(a)] == ["Lamp"]
    assert service.manuscripts(b) == []  # the other visitor sees nothing
    assert [r["id"] for r in service.manuscripts(root)] == [owner.id]  # nor does the owner's list change
    with pytest.raises(ValueError, match="no manuscript"):
        service.manuscript(b, mine.id)  # a visitor cannot open another's, even by its id
    with pytest.raises(ValueError, match="no manuscript"):
        service.manuscript(a, owner.id)  # nor the owner's
    where = service.delete_manuscript(a, mine.id)
    assert not where.is_absolute() and (a / where).is_dir()  # in their own trash; no server path shown


@pytest.mark.parametrize("token", ["", None, "../" + "a" * 29, "A" * 32, "a" * 31, "a" * 33, "g" * 32, "/etc", 7])
def test_a_token_the_studio_did_not_make_is_refused(root, token):
    with pytest.raises(visitors.VisitorError) as refused:
        service.visitor_root(root, token)
    assert "reload the page" in str(refused.value) and "刷新页面" in render("zh", refused.value)
    assert not (root / "demo-visitors").exists()


def test_a_visitor_keeps_at_most_three_manuscripts_of_200000_characters(root, keys):
    A, B = keys
    a = service.visitor_root(root, A)
    made = [service.new_manuscript(a, f"Story {n}", "Once.") for n in range(visitors.MAX_MANUSCRIPTS)]
    with pytest.raises(visitors.VisitorError) as refused:
        service.new_manuscript(a, "One more")
    assert "at most 3 manuscripts" in str(refused.value) and "最多保留 3 份稿件" in render("zh", refused.value)
    service.new_manuscript(service.visitor_root(root, B), "Theirs")  # another visitor has caps of their own
    ms = made[0]
    service.set_manuscript_field(a, ms.id, "memory", "m" * 1000)
    with pytest.raises(visitors.VisitorError) as refused:  # text and memory together pass the cap
        service.save_manuscript_text(a, ms.id, "x" * (visitors.MAX_CHARS - 999))
    assert "200,000" in str(refused.value) and "200,000" in render("zh", refused.value)
    assert service.manuscript(a, ms.id)["text"] == "Once."  # nothing changed
    service.save_manuscript_text(a, ms.id, "x" * (visitors.MAX_CHARS - 1000))  # exactly at the cap: kept
    with pytest.raises(visitors.VisitorError):
        service.set_manuscript_field(a, ms.id, "note", "n")
    with pytest.raises(visitors.VisitorError):
        service.use_candidate(a, ms.id, " more", 0, "base")
    with pytest.raises(visitors.VisitorError):  # a title counts too
        service.new_manuscript(service.visitor_root(root, B), "t" * (visitors.MAX_CHARS + 1))
    service.delete_manuscript(a, made[1].id)
    service.new_manuscript(a, "Room again")  # a deleted one makes room


def test_past_the_disk_cap_the_trash_goes_first_then_changes_are_refused(root, monkeypatch, keys):
    A, B = keys
    a = service.visitor_root(root, A)
    ms = service.new_manuscript(a, "Long", "y" * 50_000)
    service.delete_manuscript(a, ms.id)
    monkeypatch.setattr(visitors, "MAX_BYTES", 40_000)
    kept = service.new_manuscript(a, "Short", "z")  # the trash held 50 kB: emptied, then there is room
    assert not (a / "manuscripts" / ".trash").exists()
    service.save_manuscript_text(a, kept.id, "w" * 45_000)
    with pytest.raises(visitors.VisitorError) as refused:
        service.save_manuscript_text(a, kept.id, "v" * 100)
    assert "8 MB" not in str(refused.value) and "MB" in str(refused.value)
    assert service.manuscript(a, kept.id)["text"] == "w" * 45_000


def test_the_number_of_visitors_is_capped(root, monkeypatch, keys):
    A, B = keys
    monkeypatch.setattr(demo_gate, "LIMITS", DemoLimits(visitors=1))
    service.new_manuscript(service.visitor_root(root, A), "First")
    with pytest.raises(visitors.VisitorError, match="this demo is full"):
        service.new_manuscript(service.visitor_root(root, B), "Second")
    service.new_manuscript(service.visitor_root(root, A), "The first visitor goes on")


def test_visitors_untouched_for_a_week_are_cleaned_and_nothing_else(root, tmp_path, keys):
    A, B = keys
    old, fresh = service.visitor_root(root, A), service.visitor_root(root, B)
    service.new_manuscript(old, "Old")
    service.new_manuscript(fresh, "Fresh")
    service.new_manuscript(root, "The owner's")
    outside = tmp_path / "outside" / ("c" * 32)
    outside.mkdir(parents=True)
    (root / "demo-visitors" / ("c" * 32)).symlink_to(outside)  # a link is never followed
    (root / "demo-visitors" / "notes").mkdir()  # nor a folder the studio did not name
    for folder in (old, outside, root / "demo-visitors" / "notes"):
        age(folder, visitors.KEEP_DAYS + 1)
    age(fresh, visitors.KEEP_DAYS - 1)
    assert service.clean_visitors(root) == [A[:32]]
    assert not any(str(folder).startswith(str(old)) for folder in store._open)  # nor kept in memory
    assert not old.exists() and fresh.is_dir() and outside.is_dir() and (root / "demo-visitors" / "notes").is_dir()
    assert [r["title"] for r in service.manuscripts(root)] == ["The owner's"]
    # once a day: a visit soon after does not clean again, one a day later does
    age(fresh, visitors.KEEP_DAYS + 1)
    assert service.clean_visitors(root, due_only=True) == []
    assert service.clean_visitors(root, now=time.time() + 86400 + 1, due_only=True) == [B[:32]]


def test_a_visitor_drafts_with_the_owners_models_and_published_runs_only(root, tiny_model_dir, keys):
    A, B = keys
    a = service.visitor_root(root, A)
    ms = service.new_manuscript(a, "Lamp", "The keeper climbed the stair.")
    gen = GenConfig(max_new_tokens=8, temperature=0, drafts=1)
    with pytest.raises(service.DemoRefused, match="not published"):
        list(service.continue_manuscript(a, ms.id, ["base", "someone-elses-run"], gen, model=str(tiny_model_dir)))
    *_, done = service.continue_manuscript(a, ms.id, ["base"], gen, model=str(tiny_model_dir))
    assert done["done"] and (a / "manuscripts" / ms.id / store.PENDING).exists()
    used = service.use_pending_candidate(a, ms.id, 1)
    assert used["manuscript"].passages[-1].source == "base"
    assert sorted(p.name for p in a.iterdir()) == ["manuscripts"]  # no model cache or run in the visitor's folder
    path = service.export_manuscript(a, ms.id, "md")
    assert path.parent == a / "exports"  # their export stays in their folder


def test_two_demo_visitors_over_http_see_only_their_own_manuscripts(root, tiny_model_dir, keys):
    A, B = keys
    from studio.ui.app import build_app, launch

    old = service.visitor_root(root, service.new_visitor_token(root, ""))
    service.new_manuscript(old, "Left a week ago")
    age(old, visitors.KEEP_DAYS + 1)
    app = build_app(root, str(tiny_model_dir), demo=True)
    assert not old.exists()  # the demo cleans old visitors when it starts
    launch(app, port=free_port(), block=False)
    url = app.local_url.rstrip("/")

    def reply(name: str, *data) -> str:
        event = httpx.post(f"{url}/gradio_api/call/{name}", json={"data": list(data)}).json()["event_id"]
        return httpx.get(f"{url}/gradio_api/call/{name}/{event}", timeout=60).text

    def call(name: str, *data) -> list:
        text = reply(name, *data)
        assert "event: complete" in text, text[:300]
        return json.loads(text.split("data: ", 1)[1])

    try:
        call("new_manuscript", A, "A's secret")
        call("new_manuscript", B, "B's diary")
        listed = {t: call("open_manuscript", t, None, None, None, None)[0]["choices"] for t in (A, B)}
        assert [c[0] for c in listed[A]] == ["A's secret (0 words)"]
        assert [c[0] for c in listed[B]] == ["B's diary (0 words)"]
        named = reply("open_manuscript", B, "a-s-secret", None, None, None)  # B names A's manuscript: refused, nothing of A's shown
        assert "event: error" in named and "diary" not in named
        for bad in ("../../x", A[:32] + "0" * 32, "d" * 32):  # a path, a made-up signature, an unsigned new key
            refused = reply("open_manuscript", bad, None, None, None, None)
            assert "event: error" in refused and "reload the page" in refused
        assert not (root / "manuscripts").exists()  # the owner's manuscripts were never written
    finally:
        app.close()
