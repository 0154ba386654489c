import json

import pytest

from conftest import SAMPLE, tiny_overrides
from studio import jobs, runs, service
from studio.config import GenConfig
from studio.write.drafter import AdapterRefused, Drafter


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("drafter") / "data"
    service.ingest(root, [SAMPLE], "lamp", model=str(tiny_model_dir))
    run_id = service.start_training(root, "lamp", "quick-cpu-demo",
                                    tiny_overrides(tiny_model_dir, max_steps=6, save_every=2, eval_every=2, learning_rate=0.02,
                                                   quantization="none"))
    assert jobs.wait(root, run_id, timeout=120).state == "completed"
    return root, run_id


@pytest.fixture
def root(trained):
    return trained[0]


@pytest.fixture
def trained_run(trained):
    return trained[1]


def test_base_and_tuned_rows_of_one_batch_match_drafting_each_alone(root, trained_run):
    drafter = Drafter(root)
    greedy = GenConfig(max_new_tokens=12, temperature=0, repetition_penalty=1.0)
    both = drafter.compare(trained_run, "Wind: north", greedy)
    assert both["base"] != both["tuned"], "a trained adapter changes the greedy draft"

    tok, model = drafter.tokenizer, drafter.model
    enc = tok(["Wind: north"], return_tensors="pt")
    n = enc["input_ids"].shape[1]
    for row, adapter in (("base", "__base__"), ("tuned", trained_run)):
        alone = model.generate(**enc, adapter_names=[adapter], max_new_tokens=12, do_sample=False,
                               pad_token_id=tok.pad_token_id)
        assert tok.decode(alone[0, n:], skip_special_tokens=True) == both[row]


def test_the_same_seed_gives_the_same_sampled_drafts_and_drafts_are_logged(root, trained_run):
    log = root / "drafts" / "drafts.jsonl"
    logged_before = len(log.read_text().splitlines()) if log.exists() else 0
    drafter = Drafter(root)
    gen = GenConfig(max_new_tokens=10, temperature=1.0, seed=7)
    first = drafter.compare(trained_run, "The lamp", gen)
    second = drafter.compare(trained_run, "The lamp", gen)
    assert (first["base"], first["tuned"]) == (second["base"], second["tuned"])
    lines = log.read_text().splitlines()[logged_before:]
    assert len(lines) == 2 and json.loads(lines[0])["settings"]["seed"] == 7


def test_pickled_or_missing_adapters_are_refused(trained, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(trained[0], root)
    trained_run = trained[1]
    folder = runs.run_dir(root, trained_run) / "adapter"
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")
    with pytest.raises(AdapterRefused, match="pickle"):
        Drafter(root).compare(trained_run, "Hello", GenConfig())
    (folder / "adapter_model.bin").unlink()
    with pytest.raises(AdapterRefused, match="no adapter yet"):
        Drafter(root).compare(trained_run, "Hello", GenConfig())


def test_an_empty_prompt_is_refused(root, trained_run):
    from studio.messages import render
    from studio.write.drafter import DraftRefused

    with pytest.raises(ValueError, match="prompt is empty") as refused:
        Drafter(root).compare(trained_run, "   ", GenConfig())
    assert isinstance(refused.value, DraftRefused) and "提示为空" in render("zh", refused.value)
    with pytest.raises(DraftRefused, match="no panes"):  # refused before anything loads
        Drafter(root).draft([], "Hello", GenConfig())


def test_three_panes_of_one_batch_match_drafting_each_alone(root, trained_run):
    """base, the final adapter and the step-2 checkpoint in one generate call, greedy: each row is
    the text that row gives alone"""
    drafter = Drafter(root)
    greedy = GenConfig(max_new_tokens=12, temperature=0, repetition_penalty=1.0)
    panes = ["base", trained_run, f"{trained_run}@step-2"]
    result = drafter.draft(panes, "Wind: north", greedy)
    texts = {p["source"]: p["drafts"][0] for p in result["panes"]}
    assert list(texts) == panes and texts[trained_run] != texts["base"]
    tok, model = drafter.tokenizer, drafter.model
    enc = tok(["Wind: north"], return_tensors="pt")
    for source, adapter in zip(panes, ["__base__", trained_run, f"{trained_run}@step-2"]):
        alone = model.generate(**enc, adapter_names=[adapter], max_new_tokens=12, do_sample=False,
                               pad_token_id=tok.pad_token_id)
        assert tok.decode(alone[0, enc["input_ids"].shape[1]:], skip_special_tokens=True) == texts[source], source


def test_drafts_stream_token_by_token_and_stop_ends_generation(root, trained_run):
    import threading

    drafter = Drafter(root)
    stop = threading.Event()
    seen = []
    for item in drafter.stream(["base", trained_run], "The lamp", GenConfig(max_new_tokens=400, temperature=1.0, seed=3),
                               stop=stop):
        seen.append(item)
        if len(seen) == 5:
            stop.set()  # what the Stop button does
    final = seen[-1]
    assert final["done"] and final["stopped"]
    assert 4 <= final["tokens"] / 2 <= 8  # stopped after about 5 of 400 tokens per row
    growing = [item["panes"][0]["drafts"][0] for item in seen[:-1]]
    assert all(b.startswith(a) for a, b in zip(growing, growing[1:]))
    # the drafter is free again: the next draft runs to its end, on the base already loaded
    model = drafter.model
    assert not drafter.draft(["base"], "The lamp", GenConfig(max_new_tokens=5))["stopped"]
    assert drafter.model is model


def test_adapters_are_cached_least_recently_used_first_out(root, trained_run, monkeypatch):
    from studio.write import drafter as drafter_module

    monkeypatch.setattr(drafter_module, "CACHED_ADAPTERS", 2)
    drafter = Drafter(root)
    gen = GenConfig(max_new_tokens=2)
    drafter.draft(["base", f"{trained_run}@step-2"], "Wind", gen)
    drafter.draft(["base", f"{trained_run}@step-4"], "Wind", gen)
    model = drafter.model
    drafter.draft(["base", trained_run], "Wind", gen)
    assert drafter.model is model  # the base was not reloaded
    assert set(drafter.model.peft_config) == {f"{trained_run}@step-4", trained_run}  # step-2 was unloaded
    drafter.draft([f"{trained_run}@step-2"], "Wind", gen)  # evicted adapters load again
    assert set(drafter.model.peft_config) == {trained_run, f"{trained_run}@step-2"}  # step-4 was least recent


def test_modes_build_the_prompt_the_model_was_trained_with(root, trained_run):
    drafter = Drafter(root)
    gen = GenConfig(max_new_tokens=3)
    instruct = drafter.draft([trained_run], "Write a storm log.", gen, mode="instruct")
    assert instruct["prompt_text"].startswith("User: Write a storm log.") and instruct["prompt_text"].endswith("Assistant:")
    summary = drafter.draft([trained_run], "A long day on the rock.", gen, mode="summarize")
    assert "Summarize the following text.\n\nA long day on the rock." in summary["prompt_text"]
    with pytest.raises(ValueError, match="document is empty"):
        drafter.draft([trained_run], " ", gen, mode="summarize")
    with pytest.raises(ValueError, match="mode 'poem'"):
        drafter.draft([trained_run], "x", gen, mode="poem")


def test_checkpoints_are_listed_with_their_validation_loss(root, trained_run):
    from studio.write.drafter import checkpoints_of

    found = checkpoints_of(root, trained_run)
    assert [c["source"] for c in found] == [f"{trained_run}@step-2", f"{trained_run}@step-4", trained_run]
    assert [c["step"] for c in found] == [2, 4, 6] and found[-1]["final"]
    # the fixture validates every 2 steps: each checkpoint carries the loss measured at its own step
    measured = {e["step"]: e["val_loss"] for e in runs.read_events(runs.run_dir(root, trained_run)) if e["kind"] == "eval"}
    assert {0, 2, 4, 6} <= set(measured) and len(set(measured.values())) > 1  # the loss moved between validations
    assert [c["val_loss"] for c in found[:-1]] == [measured[2], measured[4]]


def test_a_draft_on_a_busy_gpu_is_queued_until_memory_frees_and_stop_ends_the_wait():
    import threading

    from studio.messages import render
    from studio.write.drafter import drafting_bytes, wait_for_gpu_memory

    smollm = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_size": 576,
              "vocab_size": 49152}
    need = drafting_bytes(smollm, rows=2, tokens=1024)
    kv = 2 * 30 * 3 * 64 * 2 * 2 * 1024  # keys and values, every layer, 16-bit, 2 rows of 1024 tokens
    assert need > kv and drafting_bytes(smollm, rows=4, tokens=1024) > need
    assert drafting_bytes(smollm, 2, 1024, weights=270 << 20) == need + (270 << 20)

    readings = iter([need // 4, need // 2, need])  # a training run ends and gives its memory back
    messages = list(wait_for_gpu_memory("cuda:0", need, threading.Event(), free=lambda _: next(readings), poll_s=0))
    assert len(messages) == 2 and all("queued" in render("en", m) and "GiB" in render("en", m) for m in messages)
    assert "排队中" in render("zh", messages[0])  # a message for the reader's language, not an English sentence

    stop = threading.Event()
    waiting = wait_for_gpu_memory("cuda:0", need, stop, free=lambda _: 0, poll_s=0)
    assert "queued" in render("en", next(waiting))
    stop.set()
    assert list(waiting) == []  # Stop ends the wait without drafting

    with pytest.raises(RuntimeError, match="GiB of GPU memory.*fewer panes") as gave_up:
        list(wait_for_gpu_memory("cuda:0", need, threading.Event(), free=lambda _: 0, poll_s=0.01, limit_s=0.03))
    assert "显存" in render("zh", gave_up.value)


def dpo_run(root, run_id: str = "20250101-000000-lamp-d0d0"):
    """A finished DPO run's folder as studio/train/dpo.py writes it: its eval events carry the
    preference accuracy and margin, not a validation loss; its train events no token speed."""
    from studio.config import TrainConfig

    folder = runs.run_dir(root, run_id)
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"")
    runs.write_config(folder, TrainConfig(corpus="lamp", objective="dpo", init_adapter="20250101-000000-lamp-a1a1"))
    runs.write_json_atomic(folder / "status.json", {"state": "completed", "run_id": run_id, "preset": "dpo",
                                                     "step": 2, "total_steps": 2, "started": 1.0, "finished": 9.0,
                                                     "device": "cpu"})
    runs.append_event(folder, {"kind": "eval", "step": 0, "preference_accuracy": 0.5, "margin": 0.1})
    for step in (1, 2):
        runs.append_event(folder, {"kind": "train", "step": step, "loss": [0.68, 0.67][step - 1], "lr": 5e-5,
                                   "grad_norm": 1.0, "reward_accuracy": 0.5, "reward_margin": 0.01})
    runs.append_event(folder, {"kind": "eval", "step": 2, "preference_accuracy": 1.0, "margin": 0.4})
    return run_id


def test_a_dpo_run_lists_its_adapter_without_a_loss_and_its_curve_shows_what_it_has(tmp_path):
    from studio.ui.views import loss_frame
    from studio.ui.write_tab import source_choices
    from studio.write.drafter import checkpoints_of

    root = tmp_path / "data"
    run_id = dpo_run(root)
    assert checkpoints_of(root, run_id) == [{"source": run_id, "step": 2, "val_loss": None, "final": True}]
    assert source_choices(root) == [(f"{run_id} (final)", run_id)], "the run list of the Write tab keeps the DPO run"
    frame = loss_frame(service.run_view(root, run_id).events)
    assert frame[frame["series"] == "train"]["loss"].tolist() == [0.68, 0.67]
    assert frame[frame["series"] == "validation"]["loss"].isna().all(), "no validation loss to draw"
    speed, _ = service.measured_speed(root, runs.read_config(runs.run_dir(root, run_id)).model, "cpu")
    assert speed, "a DPO run (no token speed) does not break the time estimate"
