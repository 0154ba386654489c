"""The desk reuses what the model read of a manuscript's last context (studio/write/prefix_cache.py):
the drafts are token for token those of a drafter that keeps nothing, across the edits a writer
makes; memory stays bounded; a demo visitor's cache is their own."""
import pytest
import torch

from studio import service
from studio.adapters import BASE
from studio.config import GenConfig
from studio.write import desk, prefix_cache
from studio.write.drafter import Drafter
from studio.write.prefix_cache import CacheKey, Prefix, PrefixStore, reusable

EN = ("The keeper climbed the stair at dusk. The lamp was cold and the glass was salted.\n"
      "Gulls cried over the rock. She wound the clock and lit the wick.\n" * 3)
ZH = "守夜人在黄昏爬上楼梯。灯是冷的，玻璃上结了盐。\n海鸥在礁石上叫。她上了钟，点亮了灯芯。\n" * 3


def last(items: list) -> dict:
    return items[-1]


def drafts(item: dict) -> list[list[str]]:
    return [p["drafts"] for p in item["panes"]]


def walk(root, ms_id: str, panes_seq: list[list[str]], gen: GenConfig, text: str, model: str | None,
         grow: str) -> list[dict]:
    """A writer's session on one manuscript: a continue after each change, drafted by the studio's
    drafter (which keeps its reads) and by a drafter that keeps nothing; both must agree token for
    token. Returns the kept drafter's last items, one a step."""
    bare = Drafter(root)
    bare.prefixes = PrefixStore(0, 0)
    steps = []

    def both(label: str, panes: list[str]) -> None:
        kept = last(list(service.continue_manuscript(root, ms_id, panes, gen, model=model)))
        plain = last(list(desk.continue_stream(root, bare, ms_id, panes, gen, model=model)))
        assert drafts(kept) == drafts(plain), f"{label}: the cached drafts differ from the uncached ones"
        assert not any(plain["reused_tokens"].values())
        steps.append({"label": label, **kept})

    panes = panes_seq[0]
    both("first read", panes)
    current = service.manuscript(root, ms_id)["text"]
    service.save_manuscript_text(root, ms_id, current + grow)
    both("a sentence added at the end", panes)
    both("retry", panes)
    middle = len(current) // 2
    service.save_manuscript_text(root, ms_id, current[:middle] + grow + current[middle:] + grow)
    both("an edit in the middle", panes)
    service.undo_manuscript(root, ms_id)
    both("undo", panes)
    service.set_manuscript_field(root, ms_id, "memory", "Later: the winter of the wreck.")
    both("a new memory", panes)
    for panes in panes_seq[1:]:
        both("another adapter", panes)
    service.save_manuscript_text(root, ms_id, service.manuscript(root, ms_id)["text"] + text * 6)
    both("the window slides", panes)
    service.save_manuscript_text(root, ms_id, service.manuscript(root, ms_id)["text"] + grow)
    both("a sentence after the slide", panes)
    return steps


def check_reuse(steps: list[dict]) -> None:
    """The cache was used where it can be, and not where it cannot."""
    by = {s["label"]: s for s in steps}
    for label in ("a sentence added at the end", "a sentence after the slide"):
        assert all(n > 0 for n in by[label]["reused_tokens"].values()), label
    assert all(n == by["retry"]["prompt_tokens"] for n in by["retry"]["reused_tokens"].values())
    middle = by["an edit in the middle"]
    assert all(0 < n < middle["prompt_tokens"] - prefix_cache.CHUNK for n in middle["reused_tokens"].values())
    assert not any(by["a new memory"]["reused_tokens"].values())  # the memory is read first: all again
    fresh = by["another adapter"]["reused_tokens"]
    assert 0 in fresh.values()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(prefix_cache, "CHUNK", 16)  # the tiny model's window is 512 tokens


@pytest.mark.parametrize("language,text,grow", [("en", EN, " The fog came in."), ("zh", ZH, "雾来了。")])
def test_greedy_and_sampled_drafts_are_those_of_a_drafter_that_keeps_nothing(root, tiny_model_dir, tuned_run,
                                                                               small_chunks, language, text, grow):
    for gen in (GenConfig(max_new_tokens=8, temperature=0, drafts=1),
                GenConfig(max_new_tokens=8, temperature=0.9, top_k=40, seed=11, drafts=2)):
        ms = service.new_manuscript(root, f"cache {language} {gen.temperature}", text, memory="A lighthouse.",
                                    note="Rain.")
        steps = walk(root, ms.id, [["base"], ["base", tuned_run]], gen, text, str(tiny_model_dir), grow)
        check_reuse(steps)


# -- the store ------------------------------------------------------------------------------
def prefix(tokens: int, layers: int = 2) -> Prefix:
    return Prefix(list(range(tokens)), [(torch.zeros(1, 2, tokens, 8), torch.zeros(1, 2, tokens, 8))] * layers,
                  torch.zeros(10))


def test_reuse_stops_at_the_first_change_cut_to_a_chunk_and_leaves_a_token_to_read():
    assert reusable(list(range(100)), list(range(100)) + [7], chunk=16) == 96
    assert reusable(list(range(100)), list(range(40)) + [0] * 60, chunk=16) == 32
    assert reusable(list(range(64)), list(range(64)), chunk=16) == 48  # (the same prompt: the stored logits)
    assert reusable([5] + list(range(99)), list(range(100)), chunk=16) == 0


def test_the_least_recently_used_prefix_goes_first_within_the_budget():
    one = prefix(100).nbytes
    store = PrefixStore(budget=3 * one, visitor_budget=one)
    keys = [CacheKey("/data", f"ms-{n}") for n in range(4)]
    for key in keys[:3]:
        assert store.put(key, "base", prefix(100))
    store.get(keys[0], "base")  # used again: the second is now the oldest
    store.put(keys[3], "base", prefix(100))
    assert {k.name for k, _ in store.keys()} == {"ms-0", "ms-2", "ms-3"}
    assert store.nbytes() == 3 * one
    assert not store.put(CacheKey("/data", "huge"), "base", prefix(400))  # alone over the budget: not kept
    store.drop_adapter("base")
    assert store.nbytes() == 0


def test_a_demo_visitor_has_a_budget_of_their_own_and_never_reads_another_visitors_cache():
    one = prefix(100).nbytes
    store = PrefixStore(budget=10 * one, visitor_budget=one)
    owner, mine, theirs = CacheKey("/data", "ms"), CacheKey("/data/demo-visitors/a", "ms", True), \
        CacheKey("/data/demo-visitors/b", "ms", True)
    for key in (owner, mine, theirs):
        store.put(key, "base", prefix(100))
    assert store.get(mine, "base") is not store.get(theirs, "base")
    store.put(CacheKey("/data/demo-visitors/a", "ms-2", True), "base", prefix(100))  # over a's budget: a's older goes
    assert store.get(mine, "base") is None and store.get(theirs, "base") is not None
    assert store.get(owner, "base") is not None


def test_visitors_drafting_the_same_text_read_it_each_in_their_own_cache(root, tiny_model_dir, small_chunks):
    """Two demo visitors' manuscripts with the same words: the second reads them all again (its
    speed tells nothing of the first's text); the drafter's cache is keyed by the visitor's folder."""
    from studio.write import visitors

    gen = GenConfig(max_new_tokens=4, temperature=0)
    reused = []
    for n in range(2):
        token = service.new_visitor_token(root, f"10.0.0.{n}")
        shelf = service.visitor_root(root, token)
        assert visitors.is_shelf(shelf)
        ms = service.new_manuscript(shelf, "same", EN)
        item = last(list(service.continue_manuscript(shelf, ms.id, ["base"], gen, model=str(tiny_model_dir))))
        reused.append(item["reused_tokens"][BASE])
    assert reused == [0, 0]
    scopes = {k.scope for k, _ in service.drafter(root).prefixes.keys()}
    assert len(scopes) == 2 and all(k.visitor for k, _ in service.drafter(root).prefixes.keys())


def test_a_new_base_or_an_adapter_leaving_memory_frees_its_reads(root, tiny_model_dir, tuned_run, small_chunks):
    ms = service.new_manuscript(root, "free", EN)
    gen = GenConfig(max_new_tokens=4, temperature=0)
    list(service.continue_manuscript(root, ms.id, ["base", tuned_run], gen, model=str(tiny_model_dir)))
    drafter = service.drafter(root)
    assert {a for _, a in drafter.prefixes.keys()} == {BASE, tuned_run}
    drafter.prefixes.drop_adapter(tuned_run)
    assert len(drafter.prefixes.keys()) == 1
    drafter._key = None  # as if another base were asked for: loading one clears every read
    drafter._ensure_base(str(tiny_model_dir), "none", "cpu")
    assert drafter.prefixes.nbytes() == 0


def test_a_continue_stopped_at_once_ends_and_leaves_the_drafter_free_for_the_next(root, tiny_model_dir, small_chunks):
    import threading

    ms = service.new_manuscript(root, "stopped", EN * 4)
    gen = GenConfig(max_new_tokens=4, temperature=0)
    stop = threading.Event()
    items = []
    for item in service.continue_manuscript(root, ms.id, ["base"], gen, stop=stop, model=str(tiny_model_dir)):
        items.append(item)
        stop.set()  # at the context: the drafter is asked with the stop already set
    assert "context" in items[0] and not any(i.get("panes") for i in items)
    assert service.drafter(root).busy() == {"rows": 0, "waiting": 0}
    again = last(list(service.continue_manuscript(root, ms.id, ["base"], gen, model=str(tiny_model_dir))))
    assert again["done"] and again["panes"][0]["drafts"][0]
