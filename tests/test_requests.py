"""Grow a corpus: requests generated for a writer's passages on the tiny model; the passages are
never changed, a stop keeps what was made, and the pairs version keeps every passage's split."""
import threading

import pytest

from studio import service
from studio.corpus.decode import CorpusError
from studio.corpus.store import read_manifest, read_split
from studio.write import requests


@pytest.fixture
def lamp(root, sample_corpus, tiny_model_dir):
    return root, sample_corpus, str(tiny_model_dir)


def test_requests_are_staged_as_made_a_stop_keeps_them_and_the_next_call_goes_on(lamp):
    root, name, model = lamp
    total = len(requests.passages(root, name)[1])
    assert total >= 4
    stop = threading.Event()
    made = []
    for progress in service.make_requests(root, name, model=model, stop=stop):
        made.append(progress)
        if len(made) == 2:
            stop.set()  # the writer presses Stop
    assert len(made) == 2 and len(requests.staged(root, name, "v1")) == 2
    rest = list(service.make_requests(root, name, model=model, limit=2))
    assert [p["done"] for p in rest] == [3, 4] and rest[-1]["total"] == total
    rows = service.requests_preview(root, name)
    asked = [r for r in rows if r["request"]]
    assert len(asked) == 4 and {r["made_by"] for r in asked} == {model}
    assert {r["split"] for r in asked} == {"train", "val"}, "a few requests already cover both splits"


def test_the_pairs_version_copies_every_passage_unchanged_in_its_split_and_marks_the_requests(lamp):
    root, name, model = lamp
    list(service.make_requests(root, name, model=model))
    rows = service.requests_preview(root, name)
    dropped = {1, 2}
    manifest = service.save_requests(root, name, drop="1, 2")
    assert (manifest["version"], manifest["mode"]) == ("v2", "pairs")
    assert manifest["generated"]["fields"] == ["prompt"] and manifest["derived_from"]["version"] == "v1"
    assert manifest["dropped_by_writer"] == [1, 2]
    original = {split: read_split(root, name, "v1", split) for split in ("train", "val")}
    for split in ("train", "val"):
        pairs = read_split(root, name, "v2", split)
        want = [(r["request"], r["text"]) for r in rows
                if r["split"] == split and r["request"] and r["index"] not in dropped]
        assert [(p["prompt"], p["response"]) for p in pairs] == want
        assert all(p["generated"] == ["prompt"] for p in pairs)
        # byte for byte: every kept passage is one of the writer's records of that split
        assert {p["response"] for p in pairs} <= {r["text"] for r in original[split]}
    assert not requests.staging_path(root, name, "v1").exists()
    assert read_manifest(root, name, "v1")["mode"] == "text", "the text version is still there"


def test_requests_refuse_a_pairs_corpus_and_a_drop_list_that_is_not_numbers(lamp):
    root, name, model = lamp
    list(service.make_requests(root, name, model=model))
    service.save_requests(root, name)
    with pytest.raises(CorpusError, match="pairs"):
        list(service.make_requests(root, name, model=model))
    with pytest.raises(CorpusError, match="three"):
        requests.parse_drop("1, three", 10)
    with pytest.raises(CorpusError, match="1 to 10"):
        requests.parse_drop("9-12", 10)


def test_the_request_is_the_first_line_of_the_reply_without_a_label_or_quotes():
    assert requests.clean('\n  Request: "Write a log entry for a foggy day."\nThanks!') == "Write a log entry for a foggy day."
    assert requests.clean("要求：「写一篇雾天的航海日志。」") == "写一篇雾天的航海日志。"
    assert "一段文字" in requests.ask("守灯人" * 30) and "passage by a writer" in requests.ask("The fog came in.")
    # a small model's stray bytes: control characters and U+FFFD never reach the corpus
    assert requests.clean("Write\x13 a  log\ufffd entry\x06 for a foggy day.") == "Write a log entry for a foggy day."


def test_the_pairs_version_s_report_states_its_own_split(lamp):
    """The corpus report of a pairs version made from requests gives that version's held-out
    pairs and tokens, not the numbers and method of the text version it came from."""
    import json

    from studio.ui.views import corpus_report

    root, name, model = lamp
    rows = service.requests_preview(root, name)
    with open(requests.staging_path(root, name, "v1"), "w", encoding="utf-8") as fh:  # requests made earlier
        for r in rows:
            fh.write(json.dumps({"index": r["index"], "split": r["split"], "origin": r["origin"],
                                 "request": f"Write passage {r['index']}.", "source": model}) + "\n")
    dropped = next(r["index"] for r in rows if r["split"] == "val")
    text = read_manifest(root, name, "v1")
    manifest = service.save_requests(root, name, drop=str(dropped))
    split, tokens = manifest["split"], manifest["tokens"]
    assert (split["train_tokens"], split["val_tokens"]) == (tokens["train"], tokens["val"]), (split, tokens)
    assert split["val_share"] == round(tokens["val"] / (tokens["train"] + tokens["val"]), 4)
    assert split["method"] != text["split"]["method"] and split["follows"] == "v1"
    report = corpus_report(manifest)
    assert f"Validation: {tokens['val']:,} of {tokens['train'] + tokens['val']:,} tokens" in report
    assert f"{manifest['val_documents']} of" in report and "v1" in report, report
