"""Lorebooks from SillyTavern, NovelAI and Kobold Lite read into the story bible (what maps, and the
list of what does not), broken and foreign files refused with their line or the formats accepted,
and the bible written back out as SillyTavern world info."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.messages import render
from studio.write.bible import BibleError, Settings, entries_to_data
from studio.write.bible_formats import read_lorebook, to_sillytavern

SAMPLES = Path(__file__).resolve().parent / "data" / "bible"


def by_name(imported) -> dict:
    return {e.name: e for e in imported.entries}


def unmapped(imported) -> list[tuple[str, str, str]]:
    """(message key, entry, field or value) for each note, and every note renders in both languages."""
    for note in imported.unmapped:
        assert render("en", note) != render("zh", note)
    return [(n["key"], n["fields"].get("entry", ""), str(n["fields"].get("field", n["fields"].get("value", ""))))
            for n in imported.unmapped]


def test_sillytavern_world_info_maps_keys_logic_positions_and_lists_the_rest():
    book = read_lorebook(SAMPLES / "sillytavern.json")
    assert book.format == "sillytavern" and book.settings is None and len(book.entries) == 7
    e = by_name(book)
    assert e["林黛玉"].keys == ["林黛玉", "黛玉", "林姑娘"] and e["林黛玉"].order == 120
    ruth = e["Captain Ruth Ashdown"]
    assert (ruth.keys[0], ruth.secondary, ruth.logic) == ("/captain (?:Ruth|Ashdown)/i", ["harbour", "lamp"], "and_all")
    assert (e["Mei Harbour"].logic, e["Mei Harbour"].position) == ("not_any", "before_note")
    assert e["Rules of the lamp"].constant and e["Rules of the lamp"].keys == []
    fog = e["The fog"]
    assert (fog.position, fog.depth, fog.order, fog.scan_chars) == ("depth", 2, 90, 1200)
    bao = e["贾宝玉"]
    assert (bao.logic, bao.case_sensitive, bao.recursive, bao.position) == ("not_all", True, False, "before_note")
    assert not e["Old draft note"].enabled
    assert unmapped(book) == [("bible.scan_depth", "The fog", "3"), ("bible.position", "贾宝玉", "3"),
                              ("bible.probability", "贾宝玉", "50"), ("bible.unsupported", "贾宝玉", "group"),
                              ("bible.unsupported", "贾宝玉", "sticky")]


def test_novelai_lorebook_maps_force_activation_search_range_priority_and_depth():
    book = read_lorebook(SAMPLES / "novelai.lorebook")
    assert book.format == "novelai" and len(book.entries) == 6
    e = by_name(book)
    assert e["Storm season"].constant and e["Storm season"].order == 600
    ash = e["Captain Ashdown"]
    assert (ash.keys[0], ash.scan_chars, ash.order) == (r"/\bcaptain ashdown\b/i", 2000, 450)
    assert (e["The foghorn"].position, e["The foghorn"].depth) == ("depth", 3)
    assert e["林黛玉"].keys == ["林黛玉", "黛玉"] and not e["Unused"].enabled
    notes = unmapped(book)
    assert ("bible.bias", "Captain Ashdown", "") in notes
    assert ("bible.unsupported", "Captain Ashdown", "contextConfig.tokenBudget") in notes
    assert ("bible.unsupported", "林黛玉", "category") in notes
    assert ("bible.unsupported", "Gannet Rock", "category") in notes
    assert ("bible.book_unsupported", "", "categories") in notes and len(notes) == 6
    category = next(n for n in book.unmapped if n["fields"].get("entry") == "林黛玉")
    assert category["fields"]["value"] == "People"  # the category's name, not its id


def test_kobold_lite_saved_story_maps_comma_keys_secondary_and_anti_keys():
    book = read_lorebook(SAMPLES / "kobold_lite.json")
    assert book.format == "kobold" and book.settings == Settings(scan_chars=2048)  # wisearchdepth, saved as "2048"
    e = by_name(book)
    assert e["林黛玉"].keys == ["林黛玉", "黛玉", "林姑娘"]
    assert (e["Ruth Ashdown"].secondary, e["Ruth Ashdown"].logic) == (["harbour", "quay"], "and_any")
    assert (e["贾宝玉"].secondary, e["贾宝玉"].logic) == (["梦", "dream"], "not_any")  # anti-keys alone: not_any
    assert (e["Gannet Rock"].secondary, e["Gannet Rock"].logic) == (["boat"], "and_any")
    assert e["Setting"].constant and not e["Old note"].enabled
    assert unmapped(book) == [("bible.kobold_story", "", ""), ("bible.anti_keys", "Gannet Rock", ""),
                              ("bible.unsupported", "Gannet Rock", "wigroup"),
                              ("bible.probability", "Ghost story", "30")]


def test_kobold_lite_world_info_export_is_the_bare_list(tmp_path):
    story = json.loads((SAMPLES / "kobold_lite.json").read_text(encoding="utf-8"))
    (tmp_path / "world_info.json").write_text(json.dumps(story["worldinfo"]), encoding="utf-8")
    book = read_lorebook(tmp_path / "world_info.json")
    assert book.format == "kobold" and book.settings is None and len(book.entries) == 7
    assert [k for k, _, _ in unmapped(book)] == ["bible.anti_keys", "bible.unsupported", "bible.probability"]


def test_the_format_is_told_by_the_content_not_the_extension(tmp_path):
    shutil.copy(SAMPLES / "novelai.lorebook", tmp_path / "lore.json")
    shutil.copy(SAMPLES / "sillytavern.json", tmp_path / "world.lorebook")
    assert read_lorebook(tmp_path / "lore.json").format == "novelai"
    assert read_lorebook(tmp_path / "world.lorebook").format == "sillytavern"


def test_a_broken_entry_is_left_out_and_listed_while_the_rest_import(tmp_path):
    data = json.loads((SAMPLES / "sillytavern.json").read_text(encoding="utf-8"))
    data["entries"]["1"]["key"] = "not a list"
    data["entries"]["2"]["key"] = ["/unclosed (group/i"]
    (tmp_path / "w.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    book = read_lorebook(tmp_path / "w.json")
    assert len(book.entries) == 5 and "Captain Ruth Ashdown" not in by_name(book)
    bad = [n for n in book.unmapped if n["key"] == "bible.bad_entry"]
    assert [(n["fields"]["n"], n["fields"]["name"], n["fields"]["why"]["key"]) for n in bad] == \
        [(2, "Captain Ruth Ashdown", "bible.type"), (3, "Mei Harbour", "bible.bad_regex")]
    assert "keys" in render("en", bad[0]) and "/unclosed (group/i" in render("zh", bad[1])


def test_a_file_that_is_not_json_is_refused_naming_the_line_and_column(tmp_path):
    (tmp_path / "broken.json").write_text('{\n  "entries": {\n    "0": {"key": ["a"],, }\n  }\n}', encoding="utf-8")
    with pytest.raises(BibleError) as err:
        read_lorebook(tmp_path / "broken.json")
    assert err.value.key == "bible.not_json" and (err.value.fields["line"], err.value.fields["column"]) == (3, 24)
    assert "broken.json" in str(err.value) and "line 3" in str(err.value) and "第 3 行" in render("zh", err.value)


@pytest.mark.parametrize("content", ['{"characters": []}', "[1, 2, 3]", '"just text"', '{"entries": 5}'])
def test_json_of_another_shape_is_refused_naming_the_formats_read(tmp_path, content):
    (tmp_path / "other.json").write_text(content, encoding="utf-8")
    with pytest.raises(BibleError) as err:
        read_lorebook(tmp_path / "other.json")
    assert err.value.key == "bible.unknown_format"
    assert all(name in str(err.value) for name in ("other.json", "SillyTavern", "NovelAI", "Kobold Lite"))


def test_sillytavern_round_trip_keeps_keys_logic_constant_order_position_and_depth(tmp_path):
    original = json.loads((SAMPLES / "sillytavern.json").read_text(encoding="utf-8"))["entries"]
    book = read_lorebook(SAMPLES / "sillytavern.json")
    exported = to_sillytavern(book.entries, Settings())
    (tmp_path / "out.json").write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
    again = read_lorebook(tmp_path / "out.json")
    assert again.entries == book.entries and again.format == "sillytavern"
    for uid, before in original.items():
        after = exported["entries"][uid]
        for name in ("key", "keysecondary", "selectiveLogic", "constant", "order", "disable", "comment", "content"):
            assert after[name] == before[name], (uid, name)
        if before["position"] in (0, 2, 4):  # 1 (after the character) and 3 (bottom of the note) have no twin here
            assert after["position"] == before["position"]
        if before["position"] == 4:
            assert after["depth"] == before["depth"]
    assert exported["entries"]["4"]["scanDepth"] == 3


def test_the_studio_reads_its_own_saved_bible(tmp_path):
    book = read_lorebook(SAMPLES / "novelai.lorebook")
    (tmp_path / "bible.json").write_text(json.dumps(entries_to_data(book.entries, Settings(scan_chars=900))),
                                         encoding="utf-8")
    again = read_lorebook(tmp_path / "bible.json")
    assert (again.format, again.entries, again.settings.scan_chars, again.unmapped) == ("studio", book.entries, 900, [])
