"""The bias probe: counterfactual pairs scored under base and tuned. A model tuned on a corpus
that repeats one side of every pair must move towards that side, in both directions."""
import json
import random

import pytest

from conftest import tiny_overrides
from studio import jobs, runs, service
from studio.train.bias import LEAD_IN, load_pairs
from test_drafter import trained  # noqa: F401 - fixture: a tiny run with checkpoints at steps 2 and 4


def test_the_shipped_pairs_cover_both_languages_and_four_groups_with_a_real_swap():
    pairs = load_pairs()
    assert len(pairs) == 80 and len({p["id"] for p in pairs}) == 80
    for lang in ("en", "zh"):
        for category in ("gender", "age", "origin", "occupation"):
            assert sum(p["lang"] == lang and p["category"] == category for p in pairs) == 10
    assert all(p["stereotyped"] != p["other"] for p in pairs)


def preferences_one_by_one(model, tok, pairs: list[dict]) -> list[bool]:
    """Whether `model` finds each pair's stereotyped variant likelier, scored without the probe's code:
    one sentence at a time (no batch, no padding, no mask), its mean token loss after the lead-in of
    its language through transformers' own `labels` (lead-in positions -100)."""
    import torch

    def loss(lead: str, text: str) -> float:
        a = tok(lead, add_special_tokens=False)["input_ids"]
        b = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            return model(input_ids=torch.tensor([a + b]), labels=torch.tensor([[-100] * len(a) + b])).loss.item()

    return [loss(LEAD_IN[p["lang"]], p["stereotyped"]) < loss(LEAD_IN[p["lang"]], p["other"]) for p in pairs]


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

    # the figures are the run's own: its saved adapter, scored pair by pair outside the probe, agrees.
    # Batched and padded (the probe) against one row at a time (here) can differ in the last bits of
    # fp32, so a pair scored a hair apart may flip: two pairs either way are allowed.
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
                                      runs.run_dir(root, run_id) / "adapter").eval()
    pairs = load_pairs()
    with tuned.disable_adapter():
        base = preferences_one_by_one(tuned, tok, pairs)
    after = preferences_one_by_one(tuned, tok, pairs)
    mine = {"base": sum(base), "tuned": sum(after), "to_stereotype": sum(a and not b for b, a in zip(base, after)),
            "from_stereotype": sum(b and not a for b, a in zip(base, after))}
    reported = {"base": round(bias["base"] * 80), "tuned": round(bias["tuned"] * 80),
                "to_stereotype": bias["to_stereotype"], "from_stereotype": bias["from_stereotype"]}
    assert all(abs(mine[k] - reported[k]) <= 2 for k in mine), (mine, reported)


def test_the_probe_on_demand_matches_the_one_after_training(tmp_path, tiny_model_dir):
    """`python -m studio bias RUN` measures with the drafting model and keeps bias.json, which the
    evaluation then shows in place of the one from training."""
    from studio.__main__ import main
    from studio.ui.views import bias_markdown

    root = tmp_path / "data"
    service.ingest(root, skewed_corpus(tmp_path, "stereotyped"), "skewed", model=str(tiny_model_dir),
                   near_dup_threshold=0, dedupe_exact=False)
    run_id = service.start_training(root, "skewed", "quick-cpu-demo", tiny_overrides(
        tiny_model_dir, max_steps=60, learning_rate=0.01, quantization="none", seq_len=64, style_openings=0))
    assert jobs.wait(root, run_id, timeout=900).state == "completed"
    folder = runs.run_dir(root, run_id)
    trained = json.loads((folder / "eval.json").read_text(encoding="utf-8"))["bias"]  # the probe at the end of training
    assert "weights" not in trained and trained["change"] >= 0.1, trained  # tuning moved it: a comparison that can fail
    assert main(["bias", run_id, "--data-dir", str(root)]) == 0
    bias = runs.read_eval(folder)["bias"]
    assert bias == json.loads((folder / "bias.json").read_text(encoding="utf-8")) and bias["weights"]  # shown in its place

    # The same figures, up to rounding: training scored with the fp32 weights it trained, the probe on
    # demand with the drafting weights (bf16 on a CPU), so a pair whose two variants score a hair
    # apart may flip. Allowed: 4 of 80 pairs (5%) on each figure, and at most 8 flips in all.
    assert bias["pairs"] == trained["pairs"] == 80 and set(bias["groups"]) == set(trained["groups"])
    flips = {k: abs(round(bias[k] * 80) - round(trained[k] * 80)) for k in ("base", "tuned")}
    flips.update({k: abs(bias[k] - trained[k]) for k in ("to_stereotype", "from_stereotype")})
    assert max(flips.values()) <= 4 and sum(flips.values()) <= 8, (flips, bias, trained)

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
