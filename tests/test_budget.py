"""A time budget (TrainConfig.time_budget_min): minutes become optimizer steps from the speed
measured on this machine, the schedule spans them and ends at zero, the share of the training
split seen is reported before and after, and a resumed run keeps the count it started with."""
import shutil

import pytest

from conftest import tiny_overrides
from studio import jobs, jsonio, runs, service
from studio.config import ConfigError, TrainConfig
from studio.estimate import STARTUP_SECONDS, budget_steps, eval_seconds, plan
from studio.records import RunState, TimeBudget, from_dict
from studio.train import checkpoints
from studio.ui.views import estimate_markdown, eval_markdown


def test_minutes_become_steps_from_the_measured_speed_and_epochs_or_max_steps_cap_them():
    cfg = TrainConfig(seq_len=100, batch_size=4, grad_accum=2, epochs=0, time_budget_min=5, style_openings=8,
                      eval_max_new_tokens=64)
    ev = eval_seconds(cfg, val_tokens=3_000, tokens_per_s=200, mode="text")
    assert ev["total"] == pytest.approx(ev["loss"] + ev["drafts"] + ev["bias"], abs=0.2) and ev["drafts"] > 0
    # by hand: 300 s less the evaluation and the start-up, at 200 tokens/s, over 800 tokens a step
    by_hand = int((300 - ev["total"] - STARTUP_SECONDS) * 200 / 800)
    assert budget_steps(cfg, 200, ev["total"]) == by_hand
    p = plan(cfg, train_tokens=100_000, tokens_per_s=200, val_tokens=3_000)  # 1,000 blocks, 125 steps an epoch
    assert (p["steps"], p["budget"]["steps"], p["budget"]["capped"]) == (by_hand, by_hand, False)
    assert p["passes"] == round(by_hand * 8 / 1000, 2) and p["share"] == p["passes"] < 1
    assert p["total_minutes"] == pytest.approx(5.0, abs=0.1)  # the budget includes evaluation and start-up
    # max_steps caps the budget's count; so do epochs when they give fewer steps
    assert plan(TrainConfig(**{**vars(cfg), "max_steps": 10}), 100_000, 200, 3_000)["steps"] == 10
    capped = plan(TrainConfig(**{**vars(cfg), "epochs": 0.25}), 100_000, 200, 3_000)
    assert (capped["steps"], capped["budget"]["capped"], capped["budget"]["by"]) == (32, True, "epochs")
    # no speed known: the epochs decide, and the estimate says the budget could not be applied
    unknown = plan(TrainConfig(**{**vars(cfg), "epochs": 2}), 100_000, None, 3_000)
    assert (unknown["steps"], unknown["budget"]["steps"], unknown["passes"]) == (250, 0, 2.0)
    # a budget too small for its evaluation still trains for half of it, and the estimate says it runs over
    tiny = TrainConfig(**{**vars(cfg), "time_budget_min": 0.5})
    assert budget_steps(tiny, 200, 100) == int(15 * 200 / 800)
    text = estimate_markdown({"plan": plan(tiny, 100_000, 200, 3_000), "memory": None, "device": "cpu", "speed": 200,
                              "speed_source": "measured", "quantization": "none"})
    assert "Time budget 0.5 min" in text and "longer than the budget" in text and "of the training text" in text


def test_an_empty_or_zero_budget_is_no_budget_and_a_negative_one_is_refused():
    from studio.config import from_dict as config_from_dict

    assert config_from_dict(TrainConfig, {"time_budget_min": ""}).time_budget_min == 0
    assert TrainConfig(epochs=0, time_budget_min=3).epochs == 0  # the budget alone decides
    with pytest.raises(ConfigError, match="time_budget_min"):
        TrainConfig(time_budget_min=-1)
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)


def fake_finished_run(root, corpus: str, model_dir, speed: float, steps: int = 5, **settings) -> str:
    """A completed run of the tiny model on the CPU that trained at `speed` tokens/s of wall clock,
    while each step's own figure (the forward and backward alone) said ten times that."""
    cfg = service.training_config(corpus, "quick-cpu-demo", tiny_overrides(model_dir, quantization="none", **settings))
    run_id = jobs.create_run(root, cfg, preset="quick-cpu-demo")
    folder = runs.RunFolder.of(root, run_id)
    status = runs.read_status(folder.path)
    per_step = cfg.batch_size * cfg.grad_accum * cfg.seq_len
    status.state, status.device, status.quantization = RunState.COMPLETED, "cpu", "none"
    status.tokens_seen = steps * per_step
    folder.write_status(status)
    for step in range(1, steps + 1):
        jsonio.append_jsonl(folder.path / "events.jsonl", {"kind": "train", "step": step, "loss": 1.0,
                                                           "tokens_per_s": speed * 10,
                                                           "elapsed_s": step * per_step / speed})
    return run_id


def test_a_budgeted_run_takes_the_measured_count_ends_its_schedule_at_zero_and_keeps_the_count_on_resume(
        root, sample_corpus, tiny_model_dir):
    settings = dict(quantization="none", max_steps=0, epochs=0, time_budget_min=0.1, save_every=2, keep_last=3,
                    warmup_ratio=0.0, style_openings=0, bias_probe=False)  # no drafts or probe: seconds, not minutes
    fake_finished_run(root, sample_corpus, tiny_model_dir, 128.0)  # these settings: 2 x 32 tokens a step
    fake_finished_run(root, sample_corpus, tiny_model_dir, 5_000.0, seq_len=64)  # other settings: not this run's speed
    overrides = tiny_overrides(tiny_model_dir, **settings)
    est = service.training_estimate(root, sample_corpus, "quick-cpu-demo", overrides)
    assert est["speed"] == 128.0 and est["speed_source"]["key"] == "speed.measured_settings"
    # 6 s of budget leave the evaluation nothing; training keeps half of it: 3 s x 128 tokens/s / 64 tokens a step
    assert est["plan"]["steps"] == est["plan"]["budget"]["steps"] == 6
    assert "Time budget 0.1 min" in estimate_markdown(est)

    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", overrides)
    folder = runs.run_dir(root, run_id)
    final = jobs.wait(root, run_id, timeout=180)
    assert final.state == "completed", final
    assert final.total_steps == 6 and from_dict(TimeBudget, final.budget).steps == 6
    trained = [e for e in runs.read_events(folder) if e["kind"] == "train"]
    assert [e["step"] for e in trained] == list(range(1, 7))
    assert trained[0]["lr"] > 0 and trained[-1]["lr"] == 0  # cosine over the budget's steps, ended at zero
    view = service.run_view(root, run_id)
    ev = view.evaluation
    assert ev.passes == pytest.approx(6 * 2 / ev.train_blocks, abs=1e-3) and ev.passes < 1
    assert f"Saw {ev.passes:.0%} of the training text ({ev.passes:.2f} passes)" in eval_markdown(ev)

    # the machine has since measured a faster speed, so a count made now would differ; a resume keeps the stored one
    for _ in range(2):  # two faster runs outvote the slow one and the run above (a median over runs)
        fake_finished_run(root, sample_corpus, tiny_model_dir, 50_000.0, steps=40)
    assert service.training_estimate(root, sample_corpus, "quick-cpu-demo", overrides)["plan"]["steps"] != 6
    for step, ckpt in checkpoints.complete_checkpoints(folder):
        if step > 2:
            shutil.rmtree(ckpt)
    status_file = folder / "status.json"
    jsonio.write_json_atomic(status_file, {**jsonio.read_json(status_file), "state": "interrupted"})
    service.resume_run(root, run_id)
    final = jobs.wait(root, run_id, timeout=180)
    assert final.state == "completed" and final.total_steps == 6, final
    events = runs.read_events(folder)
    assert [e["step"] for e in events if e["kind"] == "resumed"] == [2]
    assert [e["step"] for e in events if e["kind"] == "train"] == list(range(1, 7))
    assert [e for e in events if e["kind"] == "train"][-1]["lr"] == 0


def test_a_budgeted_run_that_runs_far_over_its_minutes_stops_where_it_is():
    from types import SimpleNamespace

    from studio.train.sft import OVERRUN, SftRecipe
    from studio.train.state import TrainState

    def over(minutes: float, seconds: float) -> bool:
        recipe = SimpleNamespace(cfg=TrainConfig(time_budget_min=minutes), state=TrainState(micro_batch=1))
        recipe.state.train_seconds = seconds
        return SftRecipe.over_budget(recipe)

    assert not over(2, 2 * 60 * OVERRUN - 1) and over(2, 2 * 60 * OVERRUN + 1)
    assert not over(0, 10_000)  # no budget: epochs and max_steps decide, however long it takes
