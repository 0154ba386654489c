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
                                    tiny_overrides(tiny_model_dir, max_steps=6, learning_rate=0.02, quantization="none"))
    assert jobs.wait(root, run_id, timeout=120)["state"] == "completed"
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
    log = runs.run_dir(root, trained_run) / "drafts.jsonl"
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
    with pytest.raises(ValueError, match="prompt is empty"):
        Drafter(root).compare(trained_run, "   ", GenConfig())
