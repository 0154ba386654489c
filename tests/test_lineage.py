"""Keep training (a run that continues its parent's adapter) and blends of finished runs'
adapters, on the tiny model through the service, as the UI and the CLI start them."""
import math

import pytest
import torch
from safetensors.torch import load_file

from conftest import SAMPLE, tiny_overrides
from studio import jobs, runs, service
from studio.jobs import JobError


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """Corpus lamp v1 (the sample log) and two runs of it with different seeds and learning rates;
    then lamp v2, the log with a clerk's stories added (a writer's new chapters)."""
    from layouts import short_stories

    root = tmp_path_factory.mktemp("lineage") / "data"
    service.ingest(root, [SAMPLE], "lamp", model=str(tiny_model_dir))
    first = service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=6, learning_rate=0.02, quantization="none", lora_r=4, lora_alpha=8, seed=1))
    second = service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=6, learning_rate=0.01, quantization="none", lora_r=4, lora_alpha=16, seed=2))
    for run_id in (first, second):
        assert jobs.wait(root, run_id, timeout=180).state == "completed", runs.read_status(runs.run_dir(root, run_id))
    stories = short_stories(tmp_path_factory.mktemp("stories"), seed=3)
    service.ingest(root, [SAMPLE, *stories], "lamp", model=str(tiny_model_dir))
    return root, first, second


def adapter(root, run_id) -> dict:
    return load_file(runs.run_dir(root, run_id) / "adapter" / "adapter_model.safetensors")


def test_a_continued_run_starts_from_its_parent_adapter_and_measures_both_splits(trained, tiny_model_dir):
    root, parent, _ = trained
    # a learning rate too small to move anything: what the child saves is what it started from
    child = service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=2, learning_rate=1e-9, quantization="none", init_adapter=parent, lora_r=16))
    assert jobs.wait(root, child, timeout=180).state == "completed"
    cfg = runs.read_config(runs.run_dir(root, child))
    assert (cfg.init_adapter, cfg.lora_r, cfg.lora_alpha) == (parent, 4, 8), "the adapter's shape is the parent's"
    before, after = adapter(root, parent), adapter(root, child)
    assert before.keys() == after.keys()
    lora_b = [k for k in before if "lora_B" in k]
    assert lora_b and all(before[k].abs().max() > 1e-3 for k in lora_b), "the parent learned (a fresh B is zero)"
    assert all(torch.allclose(before[k], after[k], atol=1e-5) for k in before), "the child starts from the parent"

    lineage = runs.read_eval(runs.run_dir(root, child))["lineage"]
    new, old = lineage["splits"]
    assert (lineage["parent"], new["split"], old["split"]) == (parent, "lamp v2", "lamp v1")
    parent_eval = runs.read_eval(runs.run_dir(root, parent))
    # the parent measured on its own split here is the parent's own evaluation, to the digit
    assert math.isclose(old["parent"]["loss"], parent_eval["tuned"]["loss"], abs_tol=1e-4)
    assert math.isclose(old["base"]["loss"], parent_eval["base"]["loss"], abs_tol=1e-4)
    assert math.isclose(new["child"]["loss"], new["parent"]["loss"], abs_tol=1e-3)
    assert abs(lineage["forgetting"]) < 1e-3
    assert lineage["parent_split_in_train"] == 0, "v2 held out what v1 held out (studio/corpus/split.py)"
    from studio.train.continual import chain

    assert chain(root, child) == [parent, child]
    assert next(r for r in service.list_runs(root) if r["run_id"] == child)["parent"] == parent


def test_continuing_for_real_learns_the_new_chapters(trained, tiny_model_dir):
    root, parent, _ = trained
    child = service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=6, learning_rate=0.02, quantization="none", init_adapter=parent))
    assert jobs.wait(root, child, timeout=180).state == "completed"
    new, old = runs.read_eval(runs.run_dir(root, child))["lineage"]["splits"]
    assert new["child"]["loss"] < new["parent"]["loss"], "six more steps on v2 lower the loss on v2's held-out text"


def test_keep_training_refuses_another_base_model_and_a_run_without_adapter(trained, tiny_model_dir, tmp_path):
    from conftest import finished_copy
    from studio.write.drafter import AdapterRefused

    root, parent, _ = trained
    with pytest.raises(JobError) as refused:
        service.start_training(root, "lamp", "quick-cpu-demo", [f"init_adapter={parent}", "model=smollm2-135m-instruct"])
    assert parent in str(refused.value) and "smollm2-135m-instruct" in str(refused.value)
    unfinished = finished_copy(root, parent)
    with pytest.raises(AdapterRefused, match=unfinished):
        service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(tiny_model_dir, init_adapter=unfinished))


def test_a_linear_half_and_half_blend_is_peft_s_weighted_sum_and_drafts(trained):
    from studio.config import GenConfig

    root, first, second = trained
    blend = service.start_blend(root, f"{first}:0.5, {second}:0.5", "linear")
    assert jobs.wait(root, blend, timeout=180).state == "completed", runs.read_status(runs.run_dir(root, blend))
    a, b, mixed = adapter(root, first), adapter(root, second), adapter(root, blend)
    scale_a, scale_b = 8 / 4, 16 / 4  # each source's alpha / r
    for key in a:  # PEFT's linear rule, A and B alike: sum of sqrt(weight * scale) * matrix
        want = math.sqrt(0.5 * scale_a) * a[key] + math.sqrt(0.5 * scale_b) * b[key]
        assert torch.allclose(mixed[key], want, atol=1e-6), key
    result = runs.read_eval(runs.run_dir(root, blend))
    (split,) = result["splits"]
    assert split["split"] == "lamp v1" and set(split["sources"]) == {first, second}
    assert split["base"]["loss"] > min(s["loss"] for s in split["sources"].values())
    drafts = service.draft_panes(root, ["base", blend], "Wind: north", GenConfig(max_new_tokens=6, temperature=0))
    base, tuned = (pane["drafts"][0] for pane in drafts["panes"])
    assert tuned and tuned != base


def test_a_cat_blend_adds_the_weighted_updates_exactly(trained):
    root, first, second = trained
    blend = service.start_blend(root, f"{first}:0.7, {second}:0.3", "cat")
    assert jobs.wait(root, blend, timeout=180).state == "completed"
    a, b, mixed = adapter(root, first), adapter(root, second), adapter(root, blend)
    assert runs.read_config(runs.run_dir(root, blend)).lora_r == 8  # the ranks joined
    for key in (k for k in a if "lora_A" in k):
        up = key.replace("lora_A", "lora_B")
        want = 0.7 * (8 / 4) * a[up] @ a[key] + 0.3 * (16 / 4) * b[up] @ b[key]
        assert torch.allclose(mixed[up] @ mixed[key], want, atol=1e-6), key  # the blend's own scale is 8/8


def test_blends_refuse_unequal_ranks_other_base_models_and_one_source(trained):
    from conftest import finished_copy

    root, first, second = trained
    other = finished_copy(root, first)
    folder = runs.run_dir(root, other)
    (folder / "adapter").mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (folder / "adapter" / name).write_bytes((runs.run_dir(root, first) / "adapter" / name).read_bytes())
    cfg = runs.read_config(folder)
    cfg.model = "qwen2.5-0.5b-instruct"
    runs.write_config(folder, cfg)
    with pytest.raises(JobError, match="qwen2.5-0.5b-instruct"):
        service.start_blend(root, f"{first}:0.5, {other}:0.5")
    with pytest.raises(ValueError, match=first):  # the setting blend_of, named with what it holds
        service.start_blend(root, f"{first}:1")
    cfg.model, cfg.lora_r = runs.read_config(runs.run_dir(root, first)).model, 4
    runs.write_config(folder, cfg)
    config = (folder / "adapter" / "adapter_config.json")
    config.write_text(config.read_text().replace('"r": 4', '"r": 8'))
    with pytest.raises(JobError) as refused:
        service.start_blend(root, f"{first}:0.5, {other}:0.5", "ties")
    assert f"{first} (r=4)" in str(refused.value) and f"{other} (r=8)" in str(refused.value)


def test_a_continued_run_cancels_and_resumes_like_any_run(trained, tiny_model_dir, monkeypatch):
    import time

    root, parent, _ = trained
    monkeypatch.setenv("STUDIO_FAULT", "slow@1")  # a second per step: time to cancel mid-run
    child = service.start_training(root, "lamp", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=12, learning_rate=0.02, quantization="none", init_adapter=parent))
    folder = runs.run_dir(root, child)
    deadline = time.time() + 120
    while runs.read_status(folder).step < 2:
        assert time.time() < deadline, runs.read_status(folder)
        time.sleep(0.5)
    jobs.cancel(root, child)
    assert jobs.wait(root, child, timeout=60).state == "cancelled"
    assert (folder / "parent_eval.json").exists()

    monkeypatch.delenv("STUDIO_FAULT")
    assert service.resume_run(root, child) == child
    assert jobs.wait(root, child, timeout=180).state == "completed"
    events = runs.read_events(folder)
    assert [e["kind"] for e in events].count("parent_eval") == 1, "the parent is measured once, not again on resume"
    resumed = [e for e in events if e["kind"] == "resumed"]
    assert resumed and resumed[0]["step"] >= 1, "training went on from a checkpoint, not from the parent again"
    lineage = runs.read_eval(folder)["lineage"]
    assert lineage["parent"] == parent and len(lineage["splits"]) == 2
    assert next(r for r in service.list_runs(root) if r["run_id"] == child)["parent"] == parent
