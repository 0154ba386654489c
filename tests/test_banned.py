"""Phrases to avoid (studio/write/banned.py): a draft never holds a banned phrase; the row goes back
to the token where the phrase began and draws again there, and the rows beside it draft what they
would alone. On the tiny random model in float32, as tests/test_batching.py."""
import queue
import re

import pytest

from studio.config import GenConfig
from studio.messages import render
from studio.textclean import remove_debris
from studio.write import batching
from studio.write import drafter as drafter_module
from studio.write.banned import BanList, is_wide, normalize, overused_phrases
from studio.write.drafter import Drafter, RowStreamer
from test_batching import WORDS, Drafting, alone, prompt, wait_until

# the tiny random model repeats one token greedily; a strong repetition penalty makes it wander
WANDERING = GenConfig(max_new_tokens=30, temperature=0, repetition_penalty=3.0)
CHOOSE_TOKENS = batching.choose_tokens  # unsteered
SAMPLED = GenConfig(max_new_tokens=30, temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, drafts=4)


@pytest.fixture(autouse=True)
def float32(monkeypatch):
    """Draft in float32, where a row alone and a row in a batch agree (see tests/test_batching.py)."""
    monkeypatch.setattr(drafter_module, "drafting_weights", lambda device, quantization, root, model: ("none", "fp32"))


@pytest.fixture
def tiny(tiny_model_dir, tmp_path):
    return Drafter(tmp_path / "data"), str(tiny_model_dir)


def draft(drafter, model, text, gen, banned=None) -> dict:
    return drafter.draft(["base"], text, gen, model=model, save=False, banned=banned)


def drafts(result: dict) -> list[str]:
    return result["panes"][0]["drafts"]


def holds(text: str, phrase: str, after: int = 0) -> bool:
    """Whether `phrase` (lowercase ASCII) occurs in `text` (whitespace runs as one space) at the start
    of a word, ending past `after`: written apart from the matcher under test."""
    text = " ".join(text.lower().split())
    return any(m.end() > after and (m.start() == 0 or not text[m.start() - 1].isalnum() or is_wide(text[m.start() - 1]))
               for m in re.finditer(re.escape(phrase), text))


def generated(drafter, text: str, gen: GenConfig, ban: tuple[int, int] | None = None) -> list[int]:
    """The greedy draft's token ids by `model.generate`, with `ban` = (drafted position, token) banned there."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    tok, model = drafter.tokenizer, drafter.model
    enc = tok([text], return_tensors="pt")
    start = enc["input_ids"].shape[1]

    class Ban(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if ban and input_ids.shape[1] - start == ban[0]:
                scores[:, ban[1]] = float("-inf")
            return scores

    with drafter._lock, torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=gen.max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                             repetition_penalty=gen.repetition_penalty, logits_processor=LogitsProcessorList([Ban()]))
    return out[0, start:].tolist()


def test_a_banned_phrase_of_a_greedy_draft_is_drawn_again_from_where_it_began(tiny):
    drafter, model = tiny
    text = prompt(5)
    before = drafts(draft(drafter, model, text, WANDERING))[0]
    found = next(m for m in re.finditer(r"[A-Za-z]+ [A-Za-z]+", before)
                 if m.start() > 2 and not before[m.start() - 1].isalnum())  # a word pair not at the start
    phrase = found.group().lower()
    after = drafts(draft(drafter, model, text, WANDERING, banned=[f"  {phrase.upper()} ", ""]))[0]
    assert holds(before, phrase) and not holds(after, phrase)
    # the same tokens up to the one where the phrase began; that token is banned there and the rest is
    # what generate drafts with it banned (the rewound row's cache is exact)
    tokens = generated(drafter, text, WANDERING)

    def decode(ids):  # as the writer sees it
        return remove_debris(drafter.tokenizer.decode(ids, skip_special_tokens=True)).text

    assert decode(tokens) == before
    began = max(j for j in range(len(tokens)) if len(decode(tokens[:j])) <= found.start())
    kept = decode(tokens[:began])
    assert kept and after.startswith(kept) and after != before and len(kept) < len(before)
    redrawn = decode(generated(drafter, text, WANDERING, ban=(began, tokens[began])))
    assert not holds(redrawn, phrase) and after == redrawn


def test_a_phrase_begun_in_the_prompt_and_finished_by_the_draft_is_caught(tiny):
    drafter, model = tiny
    text = prompt(5)
    before = drafts(draft(drafter, model, text, WANDERING))[0]
    first_word = re.search(r"[A-Za-z]+", before).group()
    phrase = f"{text.split()[-1]} {first_word}".lower()  # the prompt's last word and the draft's first
    assert holds(text + before, phrase, after=len(text)) and not holds(text, phrase)
    after = drafts(draft(drafter, model, text, WANDERING, banned=[phrase]))[0]
    assert not holds(text + after, phrase, after=len(text))
    # a phrase wholly in the writer's prompt is theirs: the draft is not touched
    assert drafts(draft(drafter, model, text, WANDERING, banned=[text.split()[-2]]))[0] == before


def test_sampled_drafts_never_hold_a_banned_phrase(tiny):
    drafter, model = tiny
    gens = [GenConfig(**{**SAMPLED.__dict__, "seed": seed}) for seed in range(8)]  # 8 drafts x 4 rows = 32 drafts
    free = [d for g in gens for d in drafts(draft(drafter, model, prompt(12), g))]
    words = [w for d in free for w in re.findall(r"(?<![a-z0-9])[a-z]{2,}", d.lower())]
    banned = sorted(set(words), key=words.count, reverse=True)[:6]
    assert sum(holds(d, w) for d in free for w in banned) >= 20, "the ban list is exercised"
    results = together(drafter, model, *[(prompt(12), g, banned) for g in gens])
    held = [d for r in results for d in r.texts()["base"]]
    assert len(held) == 32 and not [(d, w) for d in held for w in banned if holds(prompt(12)[-1] + d, w, after=1)]
    assert held != free


def test_a_banned_row_leaves_the_row_beside_it_as_it_is_alone(tiny):
    drafter, model = tiny
    text, other = prompt(5), prompt(20, 30)
    before = drafts(draft(drafter, model, text, WANDERING))[0]
    phrase = re.findall(r"(?<![A-Za-z])[A-Za-z]{2,}", before)[1]
    banned_alone = drafts(draft(drafter, model, text, WANDERING, banned=[phrase]))[0]
    assert banned_alone != before
    greedy = GenConfig(max_new_tokens=30, temperature=0, repetition_penalty=1.0)
    for order in ((0, 1), (1, 0)):  # the banned row first, then joining second
        pair = [(text, WANDERING, [phrase]), (other, greedy, None)]
        results = together(drafter, model, *[pair[i] for i in order])
        by_prompt = {r.args[1]: r.texts()["base"][0] for r in results}
        assert by_prompt[other] == alone(drafter, other, greedy)
        assert by_prompt[text] == banned_alone


def test_a_chinese_phrase_is_caught_in_the_draft_and_across_the_prompt(tiny, monkeypatch):
    """The tiny model drafts no Chinese of itself: the test steers it towards a planted sentence (a
    large bonus on the planted next token while the row follows it; a banned token stays banned).
    The byte-level tokenizer splits each character over several tokens."""
    drafter, model = tiny
    draft(drafter, model, "warm up", GenConfig(max_new_tokens=1))
    tok = drafter.tokenizer
    plant = tok("他不由得笑了，嘴角勾起一抹笑。")["input_ids"]
    assert len(plant) > len("他不由得笑了，嘴角勾起一抹笑。"), "characters span several tokens"
    steer(monkeypatch, plant)
    gen = GenConfig(max_new_tokens=len(plant) + 4, temperature=0, repetition_penalty=1.0)
    free = drafts(draft(drafter, model, "写作工作室。", gen))[0]
    assert free.startswith("他不由得笑了，嘴角勾起一抹笑。")
    kept = drafts(draft(drafter, model, "写作工作室。", gen, banned=["不由得", "嘴角勾起一抹"]))[0]
    assert kept.startswith("他") and "不由得" not in kept and "嘴角勾起一抹" not in kept
    # the phrase begun in the prompt ("不由") and finished by the draft ("得"): the draft may not start so
    steer(monkeypatch, tok("得笑了")["input_ids"])
    assert drafts(draft(drafter, model, "她不由", gen))[0].startswith("得笑了")
    assert not drafts(draft(drafter, model, "她不由", gen, banned=["不由得"]))[0].startswith("得")


def steer(monkeypatch, plant: list[int]) -> None:
    import torch

    choose = CHOOSE_TOKENS

    def steered(logits, rows):
        bonus = torch.zeros_like(logits)
        for i, row in enumerate(rows):
            drafted = row.ids[len(row.ids) - row.drafted:]
            if len(drafted) < len(plant) and drafted == plant[:len(drafted)]:
                bonus[i, plant[len(drafted)]] = 100.0
        return choose(logits + bonus, rows)

    monkeypatch.setattr(batching, "choose_tokens", steered)


def test_a_ban_list_that_bans_everything_ends_with_a_notice_not_a_hang(tiny):
    drafter, model = tiny
    everything = [chr(c) for c in range(33, 127)] + ["\ufffd"]  # every letter, digit and sign at a word start
    greedy = GenConfig(max_new_tokens=30, temperature=0, repetition_penalty=1.0)
    stuck = Drafting(drafter, ["base"], prompt(12, 40), greedy, model=model, banned=everything)
    stuck.start()
    stuck.join(30)
    assert not stuck.is_alive(), "it ended"
    result = stuck.result
    assert result["done"] and result["banned"] == everything
    [notice] = result["notices"]
    assert notice["key"] == "banned.stuck" and notice["fields"]["draft"] == 1
    assert "stopped early" in render("en", notice) and "提前停止" in render("zh", notice)
    assert not re.search(r"\S", drafts(result)[0])  # what it keeps holds nothing banned
    assert drafter.busy() == {"rows": 0, "waiting": 0}


def test_streamed_snapshots_never_show_a_banned_phrase(tiny):
    drafter, model = tiny
    text = prompt(12)
    gens = [GenConfig(**{**SAMPLED.__dict__, "seed": seed}) for seed in range(2)]
    free = [d for gen in gens for d in drafts(draft(drafter, model, text, gen))]
    words = [w for d in free for w in re.findall(r"(?<![a-z0-9])[a-z]{2,}", d.lower())]
    banned = sorted(set(words), key=words.count, reverse=True)[:4]
    for gen in gens:
        streaming = Drafting(drafter, ["base"], text, gen, model=model, banned=banned)
        streaming.start()
        assert streaming.result["done"]
        shown = [d for item in streaming.items if "panes" in item for d in item["panes"][0]["drafts"]]
        assert len(shown) > 10 and not [(d, w) for d in shown for w in banned if holds(text[-1] + d, w, after=1)]


def test_the_streamer_holds_back_what_may_still_become_a_banned_phrase(tiny_model_dir):
    from studio.models import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    streamer = RowStreamer(tok, 1, queue.Queue(), BanList.of(["shivers down her spine", "不由得"]))
    streamer.prompt_tail = "The wind sent"
    shown = []
    for token in tok(" shivers down her back. 他不由")["input_ids"]:
        streamer.add([token])
        shown.append(streamer.texts()[0])
    assert " shivers down her" not in shown and " shivers down her back" in shown[-1]
    assert shown[-1] == " shivers down her back. 他" and streamer.texts(final=True)[0].endswith("他不由")
    streamer.drop(0, 2)  # the row went back: its tokens from there are gone
    assert streamer.texts(final=True)[0] == tok.decode(tok(" shivers down her back. 他不由")["input_ids"][:2])
    streamer.prompt_tail = "It sent shivers down"
    streamer.drop(0, 0)
    for token in tok(" her")["input_ids"]:
        streamer.add([token])
    assert streamer.texts() == [""], "a phrase begun in the prompt is held too"


def test_matching_is_casefolded_normalized_and_starts_at_a_word():
    banned = BanList.of(["A  testament to", "不由得", "   ", "ｄｅｌｖｅ"])
    assert banned.phrases == ["A  testament to", "不由得", "ｄｅｌｖｅ"] and BanList.of(["", " \n"]) is None
    text = normalize("It was A\n\tTESTAMENT to; Ea testament to; he delves. 他不由得笑了")
    assert [(text[s:e], p) for s, e, p in banned.occurrences(text)] == [
        ("a testament to", "A  testament to"), ("delve", "ｄｅｌｖｅ"), ("不由得", "不由得")]


def test_overused_phrases_finds_a_planted_phrase_in_english_and_chinese():
    corpus = [" ".join(WORDS[i:i + 60]) + "." for i in range(0, len(WORDS) - 60, 60)]
    plain = [" ".join(WORDS[i:i + 30]) + "." for i in range(7, len(WORDS) - 30, 97)]
    planted = [p + " A shiver ran down her spine. " + q for p, q in zip(plain, plain[1:])]
    found = overused_phrases(planted, corpus)
    # its overlapping 4-word phrases, always together, are one suggestion; none of its parts is another
    assert found[0]["phrase"] == "a shiver ran down her spine" and found[0]["drafts"] == len(planted)
    assert found[0]["drafts_per_10k"] > 100 and found[0]["corpus"] == found[0]["corpus_per_10k"] == 0
    assert not [f for f in found[1:] if set(f["phrase"].split()) <= set(found[0]["phrase"].split())]
    assert overused_phrases(plain, corpus) == [], "the writer's own phrases are not overused"

    zh_corpus = ["灯塔看守人每天记录风向和海况。猫睡在最暖的台阶上。海鸥不理会它们的名字。"] * 20
    zh_drafts = ["他不由得笑了，海鸥飞走了。", "她不由得叹气。猫睡在最暖的台阶上。", "不由得想起灯塔。", "他嘴角勾起一抹笑意。"] * 4
    top = {f["phrase"]: f for f in overused_phrases(zh_drafts, zh_corpus)}
    assert top["不由得"]["drafts"] == 12 and [p for p in top if "嘴角勾起一抹笑意" in p]
    assert not [p for p in top if "台阶" in p], "a phrase the writer uses as often is not suggested"
    assert overused_phrases([], zh_corpus) == []


def together(drafter, model, *requests: tuple) -> list[Drafting]:
    """Start (prompt, gen, banned) drafts while the loop is held, so they join the batch one per step, in order."""
    with drafter.holding("base", model, tuned_only=False):
        started = []
        for text, gen, banned in requests:
            started.append(Drafting(drafter, ["base"], text, gen, model=model, banned=banned))
            started[-1].start()
            wait_until(lambda: drafter.busy()["waiting"] == len(started))
    return started


def test_a_draft_without_a_ban_list_does_no_checking(tiny, monkeypatch):
    drafter, model = tiny
    checked = []
    monkeypatch.setattr(BanList, "find", lambda *args: checked.append(args))
    draft(drafter, model, prompt(5), WANDERING, banned=["", "  "])
    assert checked == []
