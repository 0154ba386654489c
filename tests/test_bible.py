"""The story bible: which entries a draft sees. Keys (aliases, regular expressions, case, Chinese
without spaces, the Latin word boundary), secondary logic, the scan range, always-on entries,
recursion and the budget. No model: tokens are counted as words plus CJK characters."""
from __future__ import annotations

import re

import pytest

from studio.messages import render
from studio.write.bible import (BibleError, Entry, Settings, check_entry, entries_to_data, matches, parse_bible,
                                select)

_CJK = re.compile(r"[\u3400-\u9fff]")


def count(text: str) -> int:
    return len(text.split()) + len(_CJK.findall(text))


def entry(name, keys, text=None, **kw) -> Entry:
    return Entry(name=name, keys=list(keys), text=text or f"About {name}.", **kw)


def fired(entries, text, settings=None, budget=10_000):
    return select(entries, settings or Settings(), text, count, budget)


def names(selection) -> list[str]:
    return [f.entry.name for f in selection.fired]


# -- keys ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, fires", [
    ("Ann opened the door.", True), ("It was ann.", True), ("(Ann)", True), ("Anne opened the door.", False),
    ("They were planning it.", False), ("Joanna and Annabel", False), ("ann2 was a robot", False),
])
def test_a_latin_key_needs_a_word_boundary_on_its_latin_sides(text, fires):
    assert bool(matches(entry("Ann", ["Ann"]), text)) is fires


def test_chinese_keys_fire_inside_running_text_and_latin_keys_next_to_chinese():
    assert matches(entry("黛玉", ["林黛玉"]), "宝玉回头看见林黛玉站在廊下。") == [("林黛玉", 6)]
    assert matches(entry("Alice", ["Alice"]), "Alice在花园里") == [("Alice", 0)]
    assert matches(entry("Alice", ["Alice"]), "她叫Alice。") == [("Alice", 2)]
    assert not matches(entry("Alice", ["Alice"]), "她叫Alicea。")  # a Latin letter after it: another word


def test_full_width_latin_and_case_are_normalized_unless_the_entry_is_case_sensitive():
    assert matches(entry("Lin", ["Lin"]), "她签名ＬＩＮ。") == [("Lin", 3)]
    assert matches(entry("Lin", ["lin"]), "LIN wrote.") == [("lin", 0)]
    assert not matches(entry("Lin", ["Lin"], case_sensitive=True), "LIN wrote.")
    text = "ＬＩＮ wrote. Lin wrote."
    assert matches(entry("Lin", ["Lin"], case_sensitive=True), text) == [("Lin", text.index("Lin"))]


def test_the_offset_is_in_the_text_as_written_when_normalizing_changes_lengths():
    text = "Straße ﬁrst, then Ruth came."  # ß folds to ss and ﬁ to fi: two characters each
    assert matches(entry("Ruth", ["Ruth"]), text) == [("Ruth", text.index("Ruth"))]
    assert matches(entry("fi", ["first"]), text) == [("first", text.index("ﬁrst"))]


def test_aliases_fire_and_the_key_named_is_the_one_nearest_the_draft_point():
    ruth = entry("Ruth", ["Ruth", "the harbour master"])
    text = "Ruth waved. Later the harbour master came back."
    sel = fired([ruth], text)
    assert (sel.fired[0].key, sel.fired[0].at) == ("the harbour master", text.index("the harbour"))
    assert matches(ruth, text) == [("Ruth", 0), ("the harbour master", 18)]


def test_regex_keys_are_matched_as_written_with_their_flags():
    captain = entry("Captain", ["/captain (?:Ruth|Ashdown)/i"])
    assert matches(captain, "Then CAPTAIN Ashdown spoke.") == [("/captain (?:Ruth|Ashdown)/i", 5)]
    assert not matches(entry("C", ["/captain Ruth/"]), "Captain Ruth")  # no i: case matters
    assert matches(entry("C", ["/lamp.+dark/s"]), "the lamp\nwent dark")
    assert matches(entry("C", ["/^Ruth/m"]), "Intro.\nRuth said") == [("/^Ruth/m", 7)]
    assert matches(entry("C", [r"/黛玉|宝玉/"]), "他说宝玉来了")


# -- secondary logic, scan range, constants ---------------------------------------------------------
@pytest.mark.parametrize("logic, expected", [
    ("and_any", {"both": True, "one": True, "none": False}),
    ("and_all", {"both": True, "one": False, "none": False}),
    ("not_any", {"both": False, "one": False, "none": True}),
    ("not_all", {"both": False, "one": True, "none": True}),
])
def test_secondary_keys_gate_a_primary_match_by_their_logic(logic, expected):
    harbour = entry("Harbour", ["harbour"], secondary=["storm", "风暴"], logic=logic)
    texts = {"both": "A storm, 风暴, over the harbour.", "one": "A storm over the harbour.",
             "none": "Calm over the harbour."}
    for case, fires in expected.items():
        assert bool(fired([harbour], texts[case]).fired) is fires, (logic, case)
    assert not fired([harbour], "A storm and 风暴 but no port.").fired  # no primary match, no gate to open


def test_only_the_last_scan_chars_before_the_draft_point_are_searched():
    text = "Ruth left town. " + "The sea was grey. " * 200
    assert not fired([entry("Ruth", ["Ruth"])], text).fired
    assert names(fired([entry("Ruth", ["Ruth"], scan_chars=len(text))], text)) == ["Ruth"]
    assert names(fired([entry("Ruth", ["Ruth"])], text, Settings(scan_chars=len(text)))) == ["Ruth"]
    far = entry("Far", ["storm"], secondary=["Ruth"])  # secondary keys are searched in the same range
    assert not fired([far], text + " A storm.").fired


def test_a_key_cut_by_the_edge_of_the_scan_window_does_not_fire_as_a_word():
    text = "Annabel" + " x" * 1000
    assert not fired([entry("Ann", ["bel"])], text, Settings(scan_chars=len(text) - 4)).fired


def test_constants_always_fire_and_disabled_entries_never():
    rules = Entry("Rules", [], "The lamp is lit at dusk.", constant=True)
    off = entry("Off", ["Ruth"], enabled=False)
    sel = fired([rules, off, entry("Ruth", ["Ruth"])], "Ruth came.")
    assert names(sel) == ["Rules", "Ruth"] and sel.fired[0].key is None and sel.fired[0].at is None
    assert names(fired([rules], "")) == ["Rules"]


# -- recursion -------------------------------------------------------------------------------------
def test_recursion_follows_a_chain_and_says_which_entry_brought_each_in():
    a = entry("Ruth", ["Ruth"], "Ruth keeps the Aurelia's bell.")
    b = entry("Aurelia", ["Aurelia"], "The Aurelia sank near 塘鹅岩.")
    c = entry("Gannet Rock", ["塘鹅岩"], "The lighthouse island.")
    sel = fired([c, b, a], "Ruth came in.")
    by_name = {f.entry.name: f for f in sel.fired}
    assert set(by_name) == {"Ruth", "Aurelia", "Gannet Rock"}
    assert (by_name["Aurelia"].via, by_name["Aurelia"].at) == ("Ruth", None)
    assert by_name["Gannet Rock"].via == "Aurelia" and by_name["Ruth"].via is None


def test_recursion_between_two_entries_that_name_each_other_terminates():
    a = entry("A", ["Alpha"], "Alpha knows Beta.")
    b = entry("B", ["Beta"], "Beta knows Alpha.")
    sel = fired([a, b], "Alpha arrived.")
    assert names(sel) == ["A", "B"] and not sel.notices


def test_recursion_stops_at_the_limit_and_names_the_entries_still_waiting():
    chain = [entry(f"E{i}", [f"key{i}"], f"Mentions key{i + 1}.") for i in range(5)]
    sel = fired(chain, "key0 here.", Settings(recursion_steps=2))
    assert names(sel) == ["E0", "E1", "E2"]
    (notice,) = sel.notices
    assert notice["key"] == "bible.recursion_limit" and notice["fields"]["names"] == ["E3"]
    assert "E3" in render("en", notice) and "E3" in render("zh", notice)
    assert names(fired(chain, "key0 here.", Settings(recursion_steps=0))) == ["E0"]


def test_an_entry_that_is_not_recursive_is_only_found_in_the_manuscript():
    a = entry("A", ["Alpha"], "Alpha knows Beta.")
    b = entry("B", ["Beta"], recursive=False)
    assert names(fired([a, b], "Alpha arrived.")) == ["A"]
    assert names(fired([a, b], "Alpha and Beta arrived.")) == ["A", "B"]


# -- budget ----------------------------------------------------------------------------------------
def test_the_budget_keeps_higher_order_first_then_the_nearest_match_and_smaller_entries_still_fit():
    big = entry("Big", ["big"], "one two three four five six", order=50)  # 6 tokens
    near = entry("Near", ["near"], "one two three", order=100)
    far = entry("Far", ["far"], "one two three", order=100)
    small = entry("Small", ["small"], "one", order=10)
    sel = fired([big, near, far, small], "far ... near ... big ... small", budget=5)
    assert names(sel) == ["Near", "Small"]  # Near (the later of the two) 3; Far and Big do not fit; Small 1 does
    assert [f.entry.name for f in sel.left_out] == ["Far", "Big"] and sel.tokens == 4
    assert sel.notices[0]["key"] == "bible.over_budget"
    assert names(fired([far, near], "near ... far", budget=3)) == ["Far"]  # now Far is nearest the draft point


def test_placement_order_is_by_order_then_name_whatever_the_budget_order():
    entries = [entry("b", ["x"], order=5), entry("a", ["x"], order=5), entry("c", ["x"], order=9)]
    assert names(fired(entries, "x")) == ["c", "a", "b"]


def test_constants_over_the_budget_are_cut_and_named():
    c1 = Entry("Rules", [], "one two three four", constant=True, order=200)
    c2 = Entry("World", [], "one two three four five", constant=True, order=100)
    sel = fired([c1, c2, entry("Ruth", ["Ruth"], "one")], "Ruth", budget=6)
    assert names(sel) == ["Rules", "Ruth"]
    notice = next(n for n in sel.notices if n["key"] == "bible.constants_over")
    assert notice["fields"]["names"] == ["World"] and notice["fields"]["tokens"] == 9
    assert "World" in render("zh", notice)


def test_an_entry_brought_in_by_a_left_out_entry_is_left_out_too():
    a = entry("A", ["Alpha"], "Alpha knows Beta " + "word " * 20, order=1)
    b = entry("B", ["Beta"], "short", order=100)
    sel = fired([a, b], "Alpha.", budget=5)
    assert not sel.fired and {f.entry.name for f in sel.left_out} == {"A", "B"}
    sel = fired([a, b], "Alpha.", budget=100)  # B (higher order) waits for A, then both fit
    assert names(sel) == ["B", "A"]


def test_settings_budget_is_a_share_of_the_context_capped():
    assert Settings().budget(2048) == 512 and Settings().budget(32768) == 1024
    assert Settings(budget_share=0.5, budget_cap=4000).budget(4096) == 2048


# -- checking and saving ---------------------------------------------------------------------------
def test_check_entry_refuses_an_invalid_regex_naming_the_key_and_the_error():
    with pytest.raises(BibleError) as err:
        check_entry({"name": "Ruth", "keys": ["Ruth", "/captain (Ruth/i"], "text": "x"})
    assert err.value.key == "bible.bad_regex" and err.value.fields["pattern"] == "/captain (Ruth/i"
    assert "missing )" in str(err.value) and "Ruth" in str(err.value)
    with pytest.raises(BibleError) as err:
        check_entry({"name": "Ruth", "keys": ["/ruth/y"], "text": "x"})
    assert err.value.key == "bible.regex_flag" and err.value.fields["flag"] == "y"


@pytest.mark.parametrize("data, key, field", [
    ({"name": "R", "keys": "Ruth", "text": "x"}, "bible.type", "keys"),
    ({"name": "R", "keys": ["Ruth"], "text": "x", "order": "high"}, "bible.type", "order"),
    ({"name": "R", "keys": ["Ruth"], "text": "x", "constant": 1}, "bible.type", "constant"),
    ({"name": "R", "keys": ["Ruth"]}, "bible.no_text", None),
    ({"name": "R", "keys": ["Ruth"], "text": "  "}, "bible.no_text", None),
    ({"name": "R", "keys": [], "text": "x"}, "bible.no_keys", None),
    ({"name": "R", "keys": ["Ruth"], "text": "x", "logic": "or"}, "bible.choice", "logic"),
    ({"name": "R", "keys": ["Ruth"], "text": "x", "position": "top"}, "bible.choice", "position"),
    ({"name": "R", "keys": ["Ruth"], "text": "x", "depth": -1}, "bible.range", "depth"),
    ({"keys": [], "text": "x", "constant": True}, "bible.no_name", None),
])
def test_check_entry_names_the_field_that_is_wrong(data, key, field):
    with pytest.raises(BibleError) as err:
        check_entry(data)
    assert err.value.key == key and err.value.fields.get("field") == field
    assert render("zh", err.value) != str(err.value)


def test_from_dict_fills_defaults_and_names_an_entry_by_its_first_key():
    e = check_entry({"keys": [" Ruth ", "", "Ashdown"], "text": "x"})
    assert (e.name, e.keys, e.order, e.scan_chars) == ("Ruth", ["Ruth", "Ashdown"], 100, None)
    assert (e.position, e.logic, e.enabled, e.recursive) == ("after_memory", "and_any", True, True)


def test_parse_bible_keeps_the_good_entries_and_reports_the_rest():
    data = {"entries": [{"name": "Ruth", "keys": ["Ruth"], "text": "x"},
                        {"name": "Bad regex", "keys": ["/(/"], "text": "x"},
                        {"name": "No text", "keys": ["y"]},
                        "not an entry",
                        {"name": "林黛玉", "keys": ["黛玉"], "text": "y"}],
            "settings": {"scan_chars": 500, "budget_share": 2, "recursion_steps": "many"}}
    entries, settings, problems = parse_bible(data)
    assert [e.name for e in entries] == ["Ruth", "林黛玉"]
    assert (settings.scan_chars, settings.budget_share, settings.recursion_steps) == (500, 0.25, 3)
    bad = [p for p in problems if p["key"] == "bible.bad_entry"]
    assert [(p["fields"]["n"], p["fields"]["name"]) for p in bad] == [(2, "Bad regex"), (3, "No text"), (4, "?")]
    assert bad[0]["fields"]["why"]["key"] == "bible.bad_regex"
    assert sorted(p["fields"]["field"] for p in problems if p["key"] == "bible.setting") == \
        ["budget_share", "recursion_steps"]
    for p in problems:
        assert render("en", p) and render("zh", p)
    with pytest.raises(BibleError):
        Settings.from_dict({"budget_cap": -1})


def test_a_bible_saves_and_reads_back_the_same():
    entries = [check_entry({"name": "Ruth", "keys": ["Ruth", "/captain/i"], "text": "x", "secondary": ["sea"],
                            "logic": "not_all", "position": "depth", "depth": 3, "scan_chars": 800, "order": 7}),
               check_entry({"name": "Rules", "keys": [], "text": "y", "constant": True})]
    settings = Settings(scan_chars=1500, recursion_steps=1)
    again, settings_again, problems = parse_bible(entries_to_data(entries, settings))
    assert (again, settings_again, problems) == (entries, settings, [])
    assert parse_bible([e.to_dict() for e in entries])[0] == entries  # a bare list of entries


def test_selecting_from_500_entries_on_a_full_window_runs():
    entries = [entry(f"Person {i}", [f"name{i}", f"alias{i}", f"/title{i}\\b/i"], f"Person {i} knows name{i + 1}.",
                     secondary=[f"place{i % 7}"] if i % 3 == 0 else [], order=i % 10) for i in range(500)]
    entries.append(entry("林黛玉", ["林黛玉", "黛玉"]))
    text = " ".join(f"name{i} walked to place{i % 7}; 林黛玉 watched." for i in range(0, 500, 37)) * 3
    sel = fired(entries, text[-2000:] * 2, budget=200)
    assert sel.fired and sel.tokens <= 200
