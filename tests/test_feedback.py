"""Blind A/B judging, the preference log, win rates, DPO pairs, a DPO run on the tiny model, and
draft exports."""
import json

import pytest

from studio import jobs, runs, service
from studio.config import GenConfig
from studio.write import feedback
from studio.write.drafter import Drafter
from test_drafter import root, trained, trained_run  # noqa: F401 - fixtures


def compare(root, run_id, prompt="Wind: north", seed=0):
    return Drafter(root).draft(["base", run_id], prompt, GenConfig(max_new_tokens=8, temperature=1.0, seed=seed))


def test_blind_pick_hides_the_labels_until_judged_and_logs_a_correct_line(root, trained_run):
    drafts = compare(root, trained_run)
    texts = {p["source"]: p["drafts"][0] for p in drafts["panes"]}
    duel = feedback.start_duel(root, drafts["id"])
    shown = json.dumps(duel)
    assert set(duel) == {"duel", "A", "B"} and {duel["A"], duel["B"]} == set(texts.values())
    assert trained_run not in shown and "base" not in shown  # nothing tells the writer who wrote what

    revealed = feedback.judge(root, duel["duel"], "B")
    line = feedback.read_preferences(root)[-1]
    winner = "base" if duel["B"] == texts["base"] else trained_run
    assert line["chosen"] == duel["B"] and line["rejected"] == duel["A"] and not line["tie"]
    assert line["chosen_source"] == winner and {line["chosen_run"], line["rejected_run"]} == {"", trained_run}
    assert line["prompt"] == "Wind: north" and line["settings"]["seed"] == 0 and line["time"] > 0
    assert revealed["B"] == ("base model" if winner == "base" else trained_run)
    with pytest.raises(feedback.JudgingError, match="already judged"):
        feedback.judge(root, duel["duel"], "A")


def test_sides_are_shuffled(root, trained_run):
    drafts = compare(root, trained_run, seed=1)
    base_text = drafts["panes"][0]["drafts"][0]
    sides = {feedback.start_duel(root, drafts["id"])["A"] == base_text for _ in range(24)}
    assert sides == {True, False}


def test_win_rates_count_wins_losses_and_ties_against_the_base(tmp_path):
    root = tmp_path
    lines = [("x", "base", False), ("x", "base", False), ("base", "x", False), ("x", "base", True)]
    (root / "feedback").mkdir()
    (root / "feedback" / "preferences.jsonl").write_text("".join(
        json.dumps({"chosen_source": c, "rejected_source": r, "tie": t, "chosen": "a", "rejected": "b", "prompt_text": "p"}) + "\n"
        for c, r, t in lines))
    assert feedback.win_rates(root) == [{"source": "x", "wins": 2, "losses": 1, "ties": 1, "judged": 4, "win_rate": 0.625}]
    assert len(feedback.dpo_pairs(root)) == 3  # ties give no pair


def test_a_dpo_run_on_a_few_preference_pairs_completes(root, trained_run):
    for seed in range(3):
        drafts = compare(root, trained_run, prompt="The lamp", seed=10 + seed)
        duel = feedback.start_duel(root, drafts["id"])
        tuned_side = "A" if duel["A"] == drafts["panes"][1]["drafts"][0] else "B"
        feedback.judge(root, duel["duel"], tuned_side)
    path = feedback.export_dpo(root)
    pairs = [json.loads(line) for line in path.read_text().splitlines()]
    assert pairs and set(pairs[0]) == {"prompt", "chosen", "rejected"}

    run_id = service.start_dpo(root, trained_run, ["max_steps=3"])
    final = jobs.wait(root, run_id, timeout=300)
    folder = runs.run_dir(root, run_id)
    assert final.state == "completed", (final, (folder / "worker.log").read_text()[-3000:])
    ev = runs.read_eval(folder)
    assert ev["objective"] == "dpo" and ev["steps"] == 3 and ev["pairs"] == len(pairs)
    assert 0 <= ev["after"]["accuracy"] <= 1 and ev["after"]["mean_margin"] > ev["before"]["mean_margin"]
    assert [e["step"] for e in runs.read_events(folder) if e["kind"] == "train"] == [1, 2, 3]
    assert sorted(p.name for p in (folder / "adapter").iterdir()) == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert runs.read_config(folder).init_adapter == trained_run
    # the DPO adapter drafts like any other
    assert Drafter(root).draft(["base", run_id], "The lamp", GenConfig(max_new_tokens=4))["done"]


def test_drafts_export_as_markdown_and_json(root, trained_run):
    from studio.write.export import write_export

    drafts = compare(root, trained_run)
    md = write_export(root, drafts, "md").read_text(encoding="utf-8")
    assert "## Prompt" in md and "## base model" in md and f"## {trained_run}" in md
    assert json.loads(write_export(root, drafts, "json").read_text(encoding="utf-8"))["id"] == drafts["id"]


def test_a_dpo_run_needs_preferences_and_does_not_start_as_a_plain_training_run(tmp_path, root, trained_run):
    with pytest.raises(ValueError, match="python -m studio dpo RUN"):
        service.start_training(root, "lamp", "quick-cpu-demo", ["objective=dpo", f"init_adapter={trained_run}"])
    empty = tmp_path / "empty"
    import shutil

    shutil.copytree(root / "runs", empty / "runs")
    with pytest.raises(feedback.JudgingError, match="judge at least 2 blind comparisons"):
        service.start_dpo(empty, trained_run)


@pytest.fixture(scope="module")
def dpo_by_epochs(trained):
    """A DPO run with max_steps=0 and epochs=2: its length comes from its epochs (the trainer's own
    default is 3). Every status it writes is kept, read often enough to see the one before step 1."""
    root, trained_run = trained
    while len(feedback.dpo_pairs(root)) < 2:
        drafts = compare(root, trained_run, prompt="The lamp", seed=40 + len(feedback.read_preferences(root)))
        feedback.judge(root, feedback.start_duel(root, drafts["id"])["duel"], "A")
    run_id = service.start_dpo(root, trained_run, ["max_steps=0", "epochs=2", "batch_size=1", "grad_accum=1"])
    seen = []
    final = jobs.wait(root, run_id, timeout=300, poll=0.02, on_status=lambda s: seen.append(s.total_steps))
    folder = runs.run_dir(root, run_id)
    assert final.state == "completed", (final, (folder / "worker.log").read_text()[-3000:])
    return folder, final, seen


def test_a_dpo_run_with_max_steps_0_trains_its_epochs(dpo_by_epochs):
    folder, _, _ = dpo_by_epochs
    pairs = len(folder.joinpath("dpo-pairs.jsonl").read_text().splitlines())
    assert runs.read_eval(folder)["steps"] == 2 * pairs  # one pair a step, two passes


def test_a_dpo_run_reports_its_real_step_count(dpo_by_epochs):
    folder, final, seen = dpo_by_epochs
    pairs = len(folder.joinpath("dpo-pairs.jsonl").read_text().splitlines())
    assert final.total_steps == 2 * pairs and final.step == final.total_steps
    assert set(seen) <= {0, final.total_steps}, seen  # never -1, never a guess


def test_a_dpo_run_takes_no_time_budget_from_its_parent_and_refuses_one_it_is_given(dpo_by_epochs, root, trained_run):
    folder, _, _ = dpo_by_epochs
    assert runs.read_config(runs.run_dir(root, trained_run)).time_budget_min == 5  # quick-cpu-demo's budget
    assert runs.read_config(folder).time_budget_min == 0  # not inherited: the DPO run ran its epochs
    with pytest.raises(service.Refused, match="no time budget .*set epochs or max_steps"):
        service.start_dpo(root, trained_run, ["time_budget_min=3"])


def test_a_dpo_run_writes_preference_evaluations_not_loss_evaluations(dpo_by_epochs):
    folder, _, _ = dpo_by_epochs
    events = runs.read_events(folder)
    assert not [e for e in events if e["kind"] == "eval"]  # `eval` events carry a val_loss; DPO has none
    prefs = [e for e in events if e["kind"] == "preference_eval"]
    assert [e["step"] for e in prefs] == [0, runs.read_eval(folder)["steps"]]
    assert all(0 <= e["preference_accuracy"] <= 1 and "margin" in e for e in prefs)
