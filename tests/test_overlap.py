"""The corpus-overlap guard finds planted copied passages, in English and in Chinese, and flags
nothing in fresh text."""
import numpy as np

from conftest import SAMPLE
from studio import service
from studio.write.overlap import build_index, copied_spans, corpus_index, highlighted

ZH_CORPUS = ("灯塔日记。第一天。北风渐紧，海面灰暗，长浪从北方涌来。我带着两只箱子、一只猫和一颗不抱幻想的心登上了岛。"
             "前任守塔人留下一把椅子、一只水壶，还有一张写着海鸥名字的清单。海鸥们并不理会这些名字。")


def test_a_planted_english_passage_is_found_and_fresh_text_is_not():
    index = build_index([SAMPLE.read_text(encoding="utf-8")])
    planted = "The last keeper left a chair, a kettle and a list of the gulls by name."
    fresh = "Morning came slowly over the harbour while the baker argued with his neighbour about bread."
    draft = f"{fresh} {planted} Then everyone went home for supper."
    found = copied_spans(draft, index)
    assert len(found["spans"]) == 1
    a, b = found["spans"][0]
    assert draft[a:b] == planted.rstrip(".")
    assert 0.3 < found["share"] < 0.7
    assert copied_spans(fresh, index) == {"spans": [], "share": 0.0, "copied_chars": 0}
    # seven words in a row are not enough
    assert copied_spans("He said the last keeper left a chair, a spoon.", index)["spans"] == []


def test_a_planted_chinese_passage_is_found_and_fresh_text_is_not():
    index = build_index([ZH_CORPUS])
    planted = "前任守塔人留下一把椅子、一只水壶"  # 15 CJK characters across a comma
    fresh = "清晨的码头很安静，面包师和邻居为了一条面包争论不休，最后大家都笑了。"
    draft = fresh + planted + "。然后天就黑了。"
    found = copied_spans(draft, index)
    assert [draft[a:b] for a, b in found["spans"]] == [planted]
    assert copied_spans(fresh, index)["spans"] == []
    assert copied_spans("前任守塔人留下一把椅子", index)["spans"] == []  # 11 characters: below 13
    pieces = highlighted(draft, found["spans"])
    assert "".join(p for p, _ in pieces) == draft and (planted, "copied") in pieces


def test_the_corpus_index_is_built_once_and_cached(root, sample_corpus, monkeypatch):
    from studio.write import overlap

    monkeypatch.setattr(overlap, "_loaded", {})  # a fresh process: nothing in memory yet
    index = corpus_index(root, sample_corpus)
    assert index.dtype == np.uint64 and len(index) > 1000 and (np.diff(index.astype(np.float64)) >= 0).all()
    cached = list(root.glob("corpora/**/overlap-index.npy"))
    assert len(cached) == 1
    assert np.array_equal(np.load(cached[0]), index)  # what is kept on disk is the index itself

    def rebuilt(texts):
        raise AssertionError("the corpus index was built again")

    monkeypatch.setattr(overlap, "build_index", rebuilt)
    again = corpus_index(root, sample_corpus)  # the same process: from memory, not even a file read
    assert again is index
    monkeypatch.setattr(overlap, "_loaded", {})  # another process (the app restarted): read from disk
    from_disk = corpus_index(root, sample_corpus)
    assert from_disk is not index and np.array_equal(from_disk, index)


def test_a_draft_is_checked_against_the_corpus_version_its_run_trained_on(root, sample_corpus, tiny_model_dir, tmp_path):
    """A run that trained on v1 keeps flagging v1's passages after the writer ingests an edited v2."""
    import json

    from studio import runs
    from studio.config import TrainConfig

    planted = "The last keeper left a chair, a kettle and a list of the gulls by name."
    edited = tmp_path / "edited.txt"
    edited.write_text(SAMPLE.read_text(encoding="utf-8").replace(planted, ""), encoding="utf-8")
    assert service.ingest(root, [edited], sample_corpus, model=str(tiny_model_dir))["version"] == "v2"
    folder = runs.run_dir(root, "20250101-000000-lamp-v1v1")
    folder.mkdir(parents=True)
    runs.write_config(folder, TrainConfig(corpus=sample_corpus))  # corpus_version "" (the newest when it started)
    (folder / "corpus.json").write_text(json.dumps({"name": sample_corpus, "version": "v1"}), encoding="utf-8")
    draft = f"Morning came slowly over the harbour. {planted} Then everyone went home."
    result = {"panes": [{"source": "base", "run_id": "", "drafts": [draft]},
                        {"source": folder.name, "run_id": folder.name, "drafts": [draft]}]}
    service.annotate_overlap(root, result)
    assert [pane["copied"][0] > 0.3 for pane in result["panes"]] == [True, True], "flagged against v1, not v2"
