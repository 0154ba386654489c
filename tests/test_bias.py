"""The bias probe: counterfactual pairs scored under base and tuned. A model tuned on a corpus
that repeats one side of every pair must move towards that side, in both directions."""
import json
import random

import pytest

from conftest import tiny_overrides
from studio import jobs, runs, service
from studio.train.bias import load_pairs
from test_drafter import trained  # noqa: F401 - fixture: a tiny run with checkpoints at steps 2 and 4


def test_the_shipped_pairs_cover_both_languages_and_four_groups_with_a_real_swap():
    pairs = load_pairs()
    assert len(pairs) == 80 and len({p["id"] for p in pairs}) == 80
    for lang in ("en", "zh"):
        for category in ("gender", "age", "origin", "occupation"):
            assert sum(p["lang"] == lang and p["category"] == category for p in pairs) == 10
    assert all(p["stereotyped"] != p["other"] for p in pairs)


def skewed_corpus(folder, side: str) -> list:
    """Ten files, each every pair's `side` sentence in its own shuffled order: a corpus that
    teaches one side of every pair."""
    rng = random.Random(side)
    sentences = [p[side] for p in load_pairs()]
    files = []
    for n in range(10):
        rng.shuffle(sentences)
        path = folder / f"{side}-{n}.txt"
        path.write_text("\n\n".join(" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)), encoding="utf-8")
        files.append(path)
    return files


@pytest.mark.parametrize("side, direction", [("stereotyped", 1), ("other", -1)])
def test_tuning_on_one_side_of_the_pairs_moves_the_probe_that_way(tmp_path, tiny_model_dir, side, direction):
    root = tmp_path / "data"
    service.ingest(root, skewed_corpus(tmp_path, side), "skewed", model=str(tiny_model_dir), near_dup_threshold=0,
                   dedupe_exact=False)
    run_id = service.start_training(root, "skewed", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=300, learning_rate=0.005, quantization="none", seq_len=128, batch_size=8, style_openings=0))
    assert jobs.wait(root, run_id, timeout=900).state == "completed", runs.read_status(runs.run_dir(root, run_id))
    bias = runs.read_eval(runs.run_dir(root, run_id))["bias"]
    assert bias["pairs"] == 80 and set(bias["groups"]) >= {"en", "zh", "gender", "age", "origin", "occupation"}
    assert direction * bias["change"] >= 0.2, bias  # a fifth of the pairs or more changed side, the trained way
    moved = bias["to_stereotype"] - bias["from_stereotype"]
    assert moved == round(bias["change"] * 80)


def test_the_probe_on_demand_matches_the_one_after_training(tmp_path, tiny_model_dir):
    """`python -m studio bias RUN` measures with the drafting model and keeps bias.json, which the
    evaluation then shows in place of the one from training."""
    from studio.__main__ import main

    root = tmp_path / "data"
    service.ingest(root, skewed_corpus(tmp_path, "stereotyped"), "skewed", model=str(tiny_model_dir),
                   near_dup_threshold=0, dedupe_exact=False)
    run_id = service.start_training(root, "skewed", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=10, learning_rate=0.01, quantization="none", seq_len=64, style_openings=0,
        bias_probe=False))
    assert jobs.wait(root, run_id, timeout=900).state == "completed"
    assert "bias" not in runs.read_eval(runs.run_dir(root, run_id))
    assert main(["bias", run_id, "--data-dir", str(root)]) == 0
    bias = runs.read_eval(runs.run_dir(root, run_id))["bias"]
    assert bias["pairs"] == 80 and 0 <= bias["base"] <= 1 and bias["weights"]
    from studio.ui.views import bias_markdown

    # the evaluation says the figures came on demand, with which weights (they can differ a little)
    assert f"with the {bias['weights']} weights" in bias_markdown(bias, "en")
    assert bias["weights"] in bias_markdown(bias, "zh") and "按需测量" in bias_markdown(bias, "zh")


def test_a_checkpoint_s_probe_does_not_replace_the_run_s(trained):  # noqa: F811
    """Probing RUN@step-2 keeps its figures apart: the run's evaluation still shows the final
    adapter's probe, and a later probe of the run itself is the one shown."""
    root, run_id = trained
    folder = runs.run_dir(root, run_id)
    from_training = runs.read_eval(folder).get("bias")
    checkpoint = service.bias_probe(root, f"{run_id}@step-2")
    assert checkpoint["pairs"] == 80 and checkpoint["weights"]
    assert json.loads(runs.RunFolder(folder).bias_file("step-2").read_text(encoding="utf-8")) == checkpoint
    assert runs.read_eval(folder).get("bias") == from_training, "the step-2 probe is not shown as the run's"
    final = service.bias_probe(root, run_id)
    assert runs.read_eval(folder)["bias"] == final
    service.bias_probe(root, f"{run_id}@step-4")
    assert runs.read_eval(folder)["bias"] == final
