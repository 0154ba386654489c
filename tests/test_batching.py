"""Concurrent drafts share one running batch (studio/write/batching.py): each draft is what it
would be alone, whoever joins or leaves the batch meanwhile. On the tiny random model in float32.

Most tests hold the drafter's lock (`Drafter.holding`, which the batch loop takes for each step)
while they submit drafts, so which drafts share which steps does not depend on thread timing: on
release the loop admits one waiting draft per step, each joining the ones already drafting."""
import threading
import time

import pytest

from conftest import SAMPLE
from studio.adapters import BASE
from studio.config import GenConfig
from studio.messages import render
from studio.write import drafter as drafter_module
from studio.write.drafter import Drafter
from test_drafter import root, trained, trained_run  # noqa: F401 - fixtures: a tiny run with checkpoints

WORDS = SAMPLE.read_text(encoding="utf-8").split()
GREEDY = GenConfig(max_new_tokens=24, temperature=0, repetition_penalty=1.0)


@pytest.fixture(autouse=True)
def float32(monkeypatch):
    """Draft in float32 (bf16 on the CPU otherwise), where a row alone and a row in a batch agree."""
    monkeypatch.setattr(drafter_module, "drafting_weights", lambda device, quantization, root, model: ("none", "fp32"))


def prompt(words: int, start: int = 0) -> str:
    return " ".join(WORDS[start:start + words])


class Drafting(threading.Thread):
    """One draft consumed in a thread, as a visitor's page does: every item it streamed, the result."""

    def __init__(self, drafter, panes, text, gen, **kwargs):
        super().__init__(daemon=True)
        self.drafter, self.args, self.kwargs = drafter, (panes, text, gen), {"save": False, **kwargs}
        self.items, self.error, self.stop = [], None, kwargs.get("stop") or threading.Event()
        self.kwargs["stop"] = self.stop

    def run(self):
        try:
            for item in self.drafter.stream(*self.args, **self.kwargs):
                self.items.append(item)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc

    @property
    def result(self) -> dict:
        self.join(60)
        assert self.error is None, self.error
        return self.items[-1]

    def texts(self) -> dict[str, list[str]]:
        return {p["source"]: p["drafts"] for p in self.result["panes"]}

    def waiting(self) -> list[str]:
        return [render("en", i["message"]) for i in self.items if i.get("waiting")]


def wait_until(condition, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.005)


def together(drafter, model, *drafts: tuple) -> list[Drafting]:
    """Start the drafts while the loop is held, so they join the batch one per step, in order."""
    with drafter.holding("base", model, tuned_only=False):
        started = []
        for panes, text, gen in drafts:
            started.append(Drafting(drafter, panes, text, gen, model=model))
            started[-1].start()
            wait_until(lambda: drafter.busy()["waiting"] == len(started))
    return started


def alone(drafter, text: str, gen: GenConfig, adapter: str | None = None) -> str:
    """The greedy draft of one row by `model.generate`, no batch (the model held: PEFT routes rows
    to adapters with hooks on the shared modules, so two forward passes at once would mix up)."""
    import torch

    tok, model = drafter.tokenizer, drafter.model
    enc = tok([text], return_tensors="pt")
    extra = {"adapter_names": [adapter]} if adapter else {}
    with drafter._lock, torch.inference_mode():
        out = model.generate(**enc, **extra, max_new_tokens=gen.max_new_tokens, do_sample=False,
                             repetition_penalty=gen.repetition_penalty, pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.fixture
def tiny(tiny_model_dir, tmp_path):
    return Drafter(tmp_path / "data"), str(tiny_model_dir)


def test_a_greedy_draft_alone_is_what_generate_gives(tiny):
    drafter, model = tiny
    penalised = GenConfig(max_new_tokens=24, temperature=0, repetition_penalty=1.3)
    for gen in (GREEDY, penalised):
        result = drafter.draft(["base"], prompt(30), gen, model=model, save=False)
        assert result["panes"][0]["drafts"][0] == alone(drafter, prompt(30), gen)
        assert result["tokens"] == 24 and result["first_token_s"] <= result["seconds"] and result["device"] == "cpu"
    assert drafter.busy() == {"rows": 0, "waiting": 0}


def test_drafts_joining_mid_way_with_other_prompt_lengths_are_what_each_gives_alone(tiny):
    drafter, model = tiny
    short, long_, middle = prompt(8, 5), prompt(60, 40), prompt(25, 200)
    drafts = together(drafter, model, (["base"], short, GREEDY),  # drafts first; the long prompt pads it
                      (["base"], long_, GenConfig(max_new_tokens=40, temperature=0, repetition_penalty=1.0)),
                      (["base"], middle, GenConfig(max_new_tokens=9, temperature=0, repetition_penalty=1.0, drafts=2)))
    for d in drafts:
        text, gen = d.args[1], d.args[2]
        assert d.texts()["base"] == [alone(drafter, text, gen)] * gen.drafts
    # the long draft ran on after the others left: the columns only they needed were dropped
    assert drafts[1].result["tokens"] == 40 and drafter._batch.rows == []
    late = drafter.draft(["base"], short, GREEDY, model=model, save=False)  # an empty batch starts afresh
    assert late["panes"][0]["drafts"][0] == alone(drafter, short, GREEDY)


def test_a_seeded_sampled_draft_is_the_same_alone_and_in_a_batch(tiny):
    drafter, model = tiny
    sampled = GenConfig(max_new_tokens=20, temperature=0.9, top_k=40, top_p=0.9, repetition_penalty=1.2, seed=5, drafts=2)
    first = drafter.draft(["base"], prompt(12), sampled, model=model, save=False)["panes"][0]["drafts"]
    assert first[0] != first[1], "two candidates of one pane draw different tokens"
    other = GenConfig(max_new_tokens=30, temperature=1.0, seed=9)
    _, joined = together(drafter, model, (["base"], prompt(40, 100), other), (["base"], prompt(12), sampled))
    assert joined.texts()["base"] == first
    reseeded = drafter.draft(["base"], prompt(12), GenConfig(**{**sampled.__dict__, "seed": 6}), model=model, save=False)
    assert reseeded["panes"][0]["drafts"] != first


def test_base_and_adapter_rows_of_several_drafts_share_steps_and_match_each_alone(root, trained_run,  # noqa: F811
                                                                                   tiny_model_dir):
    drafter, model = Drafter(root), str(tiny_model_dir)  # the run's base
    step2 = f"{trained_run}@step-2"
    drafts = together(drafter, model, (["base", trained_run], "Wind: north", GREEDY),
                      ([step2], prompt(20, 50), GREEDY),
                      (["base"], prompt(3, 80), GREEDY))
    for d, adapters in zip(drafts, (("__base__", trained_run), (step2,), ("__base__",))):
        texts = d.texts()
        for source, adapter in zip(texts, adapters):
            assert texts[source] == [alone(drafter, d.args[1], GREEDY, adapter)], source
    assert drafts[0].texts()["base"] != drafts[0].texts()[trained_run]


def test_stopping_one_draft_leaves_the_other_running_to_its_end(tiny):
    drafter, model = tiny
    long_gen = GenConfig(max_new_tokens=300, temperature=1.0, seed=1)
    stopped, other = together(drafter, model, (["base"], prompt(10), long_gen), (["base"], prompt(20, 30), GREEDY))
    wait_until(lambda: len(stopped.items) >= 3)
    stopped.stop.set()
    assert stopped.result["stopped"] and stopped.result["tokens"] < 300
    assert not other.result["stopped"] and other.texts()["base"] == [alone(drafter, prompt(20, 30), GREEDY)]


def test_a_reader_that_leaves_early_ends_its_draft(tiny):
    drafter, model = tiny
    stream = drafter.stream(["base"], prompt(10), GenConfig(max_new_tokens=400, temperature=1.0), model=model, save=False)
    next(stream)
    stream.close()  # the page was closed
    wait_until(lambda: drafter.busy() == {"rows": 0, "waiting": 0})


def test_an_error_in_a_step_fails_its_drafts_and_the_next_draft_works(tiny, monkeypatch):
    from studio.write.batching import Scheduler

    drafter, model = tiny
    decode = Scheduler._decode
    failures = iter([RuntimeError("the step broke")])

    def breaks_once(self):
        for failure in failures:
            raise failure
        decode(self)

    monkeypatch.setattr(Scheduler, "_decode", breaks_once)
    with pytest.raises(RuntimeError, match="the step broke"):
        drafter.draft(["base"], prompt(10), GREEDY, model=model, save=False)
    assert drafter.draft(["base"], prompt(10), GREEDY, model=model, save=False)["tokens"] == 24

    # a draft that cannot join (here: its prompt fails to build) fails alone; the batch goes on
    admit = drafter.admit
    monkeypatch.setattr(drafter, "admit", lambda request, keep: admit(request, keep) if request.payload["prompt"] != "bad"
                        else 1 / 0)
    running, bad = together(drafter, model, (["base"], prompt(10), GREEDY), (["base"], "bad", GREEDY))
    bad.join(30)
    assert isinstance(bad.error, ZeroDivisionError)
    assert running.texts()["base"] == [alone(drafter, prompt(10), GREEDY)]


def test_drafts_beyond_the_rows_of_a_batch_wait_and_are_told_their_place(tiny_model_dir, tmp_path):
    drafter, model = Drafter(tmp_path / "data", max_rows=2), str(tiny_model_dir)
    two_rows = GenConfig(max_new_tokens=30, temperature=0, repetition_penalty=1.0, drafts=2)
    first, second, third = together(drafter, model, (["base"], prompt(10), two_rows),
                                    (["base"], prompt(10, 20), GREEDY), (["base"], prompt(10, 40), GREEDY))
    assert all(d.result["done"] for d in (first, second, third))
    assert first.waiting() == []  # it joined at once
    assert second.waiting() == ["queued: number 1 in line; the draft joins the others being written as soon as there is room"]
    # when the first ends both fit: they join in one step, their prompts read in one forward pass
    assert [w.split(";")[0] for w in third.waiting()] == ["queued: number 2 in line"]
    assert third.result["queued_s"] == pytest.approx(second.result["queued_s"], abs=0.05)
    assert "排队中：第 2 位" in render("zh", next(i["message"] for i in third.items if i.get("waiting")))
    for d in (first, second, third):  # waiting changed nothing in what they drafted
        assert d.texts()["base"] == [alone(drafter, d.args[1], d.args[2])] * d.args[2].drafts


def test_a_draft_stopped_while_queued_drafts_nothing(tiny_model_dir, tmp_path):
    drafter, model = Drafter(tmp_path / "data", max_rows=1), str(tiny_model_dir)
    running, queued = together(drafter, model, (["base"], prompt(10), GenConfig(max_new_tokens=200, temperature=1.0)),
                               (["base"], prompt(10), GREEDY))
    wait_until(lambda: queued.waiting())
    queued.stop.set()
    queued.join(30)
    assert "stopped while queued" in queued.waiting()[-1] and not any("panes" in i for i in queued.items)
    assert running.result["done"] and not running.result["stopped"]


def test_holding_the_model_pauses_the_batch(tiny):
    drafter, model = tiny
    running = Drafting(drafter, ["base"], prompt(10), GenConfig(max_new_tokens=400, temperature=1.0), model=model)
    running.start()
    wait_until(lambda: len(running.items) >= 2)
    with drafter.holding("base", model, tuned_only=False) as (held, tok, device):
        drafted = [r.drafted for r in drafter._batch.rows]
        time.sleep(0.3)
        assert [r.drafted for r in drafter._batch.rows] == drafted and drafted, "no step ran while held"
        assert held is drafter.model and device == "cpu"
    assert running.result["done"] and not running.result["stopped"]


def test_a_draft_for_another_base_joins_only_an_empty_batch(tiny_model_dir, tmp_path):
    import shutil

    other_model = str(tmp_path / "other-tiny")
    shutil.copytree(tiny_model_dir, other_model)
    drafter, model = Drafter(tmp_path / "data"), str(tiny_model_dir)
    long_gen = GenConfig(max_new_tokens=80, temperature=0, repetition_penalty=1.0)
    with drafter.holding("base", model, tuned_only=False):
        first = Drafting(drafter, ["base"], prompt(10), long_gen, model=model)
        first.start()
        wait_until(lambda: drafter.busy()["waiting"] == 1)
        other = Drafting(drafter, ["base"], prompt(10), GREEDY, model=other_model)
        other.start()
        wait_until(lambda: drafter.busy()["waiting"] == 2)
        behind = Drafting(drafter, ["base"], prompt(12), GREEDY, model=model)
        behind.start()
        wait_until(lambda: drafter.busy()["waiting"] == 3)
    assert first.result["tokens"] == 80 and other.result["done"] and behind.result["done"]
    assert other.waiting() and behind.waiting(), "the other base waits for the batch to drain, the next in line behind it"
    assert other.result["queued_s"] >= first.result["seconds"] - 0.05
    assert drafter._key[0] == model  # the first base is loaded again for the draft behind


@pytest.mark.parametrize("padded,dtype,cast_up_to", [(True, "float32", None), (False, "float32", None),
                                                    (True, "bfloat16", 0), (True, "bfloat16", 10**9)])
def test_decode_attention_gives_the_logits_of_sdpa(tiny_model_dir, padded, dtype, cast_up_to, monkeypatch):
    """The drafter's CPU attention (studio/write/attention.py) against transformers' sdpa: a prompt and
    then decode steps of a batch, with left padding (a boolean mask) and without (no mask at all); in
    bf16 both ways it multiplies (a small cache cast to float32, a large one as it is)."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    from studio.write import attention
    from studio.write.attention import NAME, use_decode_attention

    if cast_up_to is not None:
        monkeypatch.setattr(attention, "CAST_UP_TO", cast_up_to)
    torch.manual_seed(1)
    ids = torch.randint(3, 500, (3, 40))
    mask = torch.ones_like(ids)
    if padded:
        mask[1, :7], mask[2, :19] = 0, 0
    results = []
    for decode in (False, True):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa",
                                                     dtype=getattr(torch, dtype)).eval()
        if decode:
            use_decode_attention(model)
            assert model.config._attn_implementation == NAME
        cache, step_mask, steps = DynamicCache(), mask, []
        with torch.inference_mode():
            out = model(ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0),
                        past_key_values=cache, use_cache=True)
            for _ in range(5):
                token = out.logits[:, -1:].argmax(-1)
                position = step_mask.sum(1, keepdim=True)
                step_mask = torch.cat([step_mask, torch.ones_like(token)], 1)
                out = model(token, attention_mask=step_mask, position_ids=position, past_key_values=cache, use_cache=True)
                steps.append(out.logits[:, -1])
        results.append(torch.stack(steps).float())
    tolerance = 1e-5 if dtype == "float32" else 0.02 * results[0].abs().max()  # bf16: 8 bits of mantissa
    assert torch.allclose(results[0], results[1], atol=tolerance), (results[0] - results[1]).abs().max()


def test_the_batch_sampler_draws_from_the_distribution_generate_would():
    """choose_tokens/top_probabilities against transformers' processors (repetition penalty,
    temperature, top-k, top-p in generate's order), row by row with settings of their own."""
    import torch
    from transformers import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                              TopKLogitsWarper, TopPLogitsWarper)

    from studio.write.batching import Request, Row, choose_tokens, top_probabilities

    torch.manual_seed(0)
    logits = torch.randn(4, 300) * 3
    gens = [GenConfig(temperature=0.8, top_k=50, top_p=0.95, repetition_penalty=1.1),
            GenConfig(temperature=1.3, top_k=0, top_p=0.5, repetition_penalty=1.0),
            GenConfig(temperature=0.5, top_k=7, top_p=1.0, repetition_penalty=1.5),
            GenConfig(temperature=0, top_k=50, top_p=0.9, repetition_penalty=1.2)]
    seen = [[3, 17, 17, 250], [5], [int(logits[2].argmax()), 9], [int(logits[3].argmax())]]
    rows = [Row(Request([BASE], None, g, None, None, None), 0, BASE, ids) for g, ids in zip(gens, seen)]
    for request in (r.request for r in rows):
        request.sampling = torch.Generator().manual_seed(1)

    def generate_would(i: int):
        g = gens[i]
        chain = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(g.repetition_penalty)])
        if g.temperature:
            chain += [TemperatureLogitsWarper(g.temperature)] + ([TopKLogitsWarper(g.top_k)] if g.top_k else [])
            chain += [TopPLogitsWarper(g.top_p)] if g.top_p < 1 else []
        return chain(torch.tensor([seen[i]]), logits[i:i + 1].clone())[0]

    penalised = torch.stack([generate_would(i) if gens[i].temperature == 0 else
                             RepetitionPenaltyLogitsProcessor(gens[i].repetition_penalty)(
                                 torch.tensor([seen[i]]), logits[i:i + 1].clone())[0] for i in range(4)])
    probs, ids = top_probabilities(penalised[:3], gens[:3])
    for i in range(3):
        mine = torch.zeros(300).scatter(0, ids[i], probs[i])
        assert torch.allclose(mine, generate_would(i).softmax(-1), atol=1e-6), i
    tokens = choose_tokens(logits.clone(), rows)
    assert tokens[3] == int(generate_would(3).argmax())  # greedy, after the penalty
    for i in range(3):
        assert generate_would(i).softmax(-1)[tokens[i]] > 0  # every draw is one generate could make


def test_waiting_drafts_are_prefilled_together_within_the_token_budget(tiny, monkeypatch):
    """Drafts that wait join in one step, their prompts left-padded into one forward pass, as many
    as PREFILL_TOKENS of padded prompt allow (the first always); each is still what it is alone."""
    from studio.write import batching

    drafter, model = tiny
    groups = []
    prefill = batching.Scheduler._prefill
    monkeypatch.setattr(batching.Scheduler, "_prefill", lambda self, requests: (groups.append(len(requests)),
                                                                                 prefill(self, requests))[1])
    texts = [prompt(12), prompt(30, 50), prompt(5, 200), prompt(40, 300)]
    lengths = [len(drafter_tokens(drafter, model, t)) for t in texts]
    monkeypatch.setattr(batching, "PREFILL_TOKENS", 2 * max(lengths[:2]))  # the first two fit, not a third
    drafts = together(drafter, model, *[(["base"], t, GREEDY) for t in texts])
    for d, text in zip(drafts, texts):
        assert d.texts()["base"] == [alone(drafter, text, GREEDY)]
    assert groups[0] == 2 and sum(groups) == 4, groups


def drafter_tokens(drafter, model, text: str) -> list[int]:
    from studio.models import load_tokenizer

    return load_tokenizer(model)(text)["input_ids"]
