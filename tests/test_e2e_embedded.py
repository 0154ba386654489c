"""End to end on the real embedded model (SmolLM2-135M-Instruct): the path a newcomer takes.

Ingest the sample corpus, train the quick preset on the CPU as a newcomer gets it (`auto`: the
unquantized base, since its fp32 weights fit), load the adapter with plain peft, and check that it
learned the corpus's voice. Takes a few minutes on 2 CPU cores. The 4-bit path is tested on the tiny
model (test_models, test_distributed, test_gpu_bench): since bitsandbytes' inference repacking is
kept off for training (models.keep_4bit_trainable), 4-bit training on this CPU runs at about a fifth
of the unquantized speed, and the real model's nf4 run alone took 10 minutes of make test.
"""
import math

import pytest
import torch

from conftest import SAMPLE
from studio import jobs, runs, service
from studio.config import GenConfig
from studio.corpus.store import read_split
from studio.messages import render
from studio.models import EMBEDDED_DEFAULT, resolve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "data"
    manifest = service.ingest(root, [SAMPLE], "lamp-log")
    assert manifest["tokens"]["tokenizer"] == EMBEDDED_DEFAULT and manifest["tokens"]["train"] > 3000
    run_id = service.start_training(root, "lamp-log", "quick-cpu-demo")
    status = jobs.wait(root, run_id, timeout=900)
    assert status.state == "completed", status
    return root, run_id


def plain_perplexity(model, tok, docs: list[str]) -> float:
    """Token-weighted perplexity over whole documents, computed without studio code."""
    total, count = 0.0, 0
    with torch.no_grad():
        for doc in docs:
            ids = tok(doc, return_tensors="pt")["input_ids"][:, :512]
            n = ids.shape[1] - 1
            total += float(model(input_ids=ids, labels=ids).loss) * n
            count += n
    return math.exp(total / count)


def test_quick_preset_lowers_validation_perplexity_by_a_fifth_with_a_plain_peft_load(finished_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, run_id = finished_run
    cfg = runs.read_config(runs.run_dir(root, run_id))
    assert cfg.quantization == "auto" and runs.read_status(runs.run_dir(root, run_id)).quantization == "none"
    source = resolve(EMBEDDED_DEFAULT, root)
    tok = AutoTokenizer.from_pretrained(source)
    base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, device_map={"": "cpu"})
    val = [r["text"] for r in read_split(root, "lamp-log", "", "val")]
    before = plain_perplexity(base, tok, val)
    tuned = PeftModel.from_pretrained(base, runs.run_dir(root, run_id) / "adapter")
    after = plain_perplexity(tuned, tok, val)
    assert after <= 0.8 * before, f"validation perplexity {before:.1f} -> {after:.1f}"

    ev = runs.read_eval(runs.run_dir(root, run_id))
    assert ev["tuned"]["perplexity"] <= 0.8 * ev["base"]["perplexity"]


def test_compare_returns_two_different_drafts_in_the_corpus_voice(finished_run):
    root, run_id = finished_run
    result = service.draft_panes(root, ["base", run_id], "LAMP LOG, GANNET ROCK. Day 41.",
                                 GenConfig(max_new_tokens=40, temperature=0.7, seed=1))
    base, tuned = (pane["drafts"][0] for pane in result["panes"])
    assert base.strip() and tuned.strip()
    assert base != tuned
    assert "Wind" in tuned or "Sea" in tuned or "Lamp" in tuned, tuned


def test_early_stopping_ends_a_real_run_before_its_last_epoch_and_keeps_the_best_adapter(finished_run):
    # 12 epochs at a high learning rate over a 15 KB corpus: validation loss bottoms out after
    # about two epochs and then rises as the adapter memorises the training split
    root, _ = finished_run
    run_id = service.start_training(root, "lamp-log", "quick-cpu-demo", [
        "epochs=12", "learning_rate=3e-3", "eval_every=3", "early_stopping_patience=2", "save_every=0",
        "time_budget_min=0"])  # twelve epochs, not the preset's five minutes
    status = jobs.wait(root, run_id, timeout=900)
    assert status.state == "completed", status
    assert status.quantization == "none" and "auto" in render("en", status.quantization_note)  # the preset's auto, on the CPU
    folder = runs.run_dir(root, run_id)
    ev = runs.read_eval(folder)
    assert ev["stopped_early"] and ev["steps"] < status.total_steps / 2, (ev, status.total_steps)
    evals = [e for e in runs.read_events(folder) if e["kind"] == "eval"][1:-1]  # during training
    best = min(evals, key=lambda e: e["val_loss"])
    assert [e["step"] for e in runs.read_events(folder) if e["kind"] == "early_stop"] == [evals[-1]["step"]]
    assert all(e["val_loss"] > best["val_loss"] for e in evals if e["step"] > best["step"])
    assert ev["tuned"]["loss"] == pytest.approx(best["val_loss"], abs=1e-3)  # the best adapter was kept


def test_gguf_export_of_the_real_run_loads_back_with_the_merged_models_logits(finished_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.train import export

    root, run_id = finished_run
    source = resolve(EMBEDDED_DEFAULT, root)
    tok = AutoTokenizer.from_pretrained(source)
    ids = tok(["LAMP LOG, GANNET ROCK. Day 41. Wind", "守夜人记下：雾很浓，灯亮着。"], return_tensors="pt", padding=True)
    mask = ids["attention_mask"].bool()
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32),
                                       runs.run_dir(root, run_id) / "adapter").merge_and_unload()
    with torch.no_grad():
        want = merged(**ids).logits
    for quant in ("f16", "q8_0"):
        folder = export.gguf_model(root, run_id, quant)
        path = folder / f"{run_id}-{quant}.gguf"
        ollama = (folder / "Modelfile").read_text(encoding="utf-8")
        assert f"FROM ./{path.name}" in ollama and 'TEMPLATE """' in ollama  # SmolLM2 talks ChatML
        with torch.no_grad():
            got = AutoModelForCausalLM.from_pretrained(folder, gguf_file=path.name, dtype=torch.float32)(**ids).logits
        same_top = float((want.argmax(-1) == got.argmax(-1))[mask].float().mean())
        if quant == "f16":
            assert float((want - got)[mask].abs().max()) < 0.1 and same_top == 1.0  # measured 0.03
        else:  # 8-bit blocks
            assert same_top >= 0.9, same_top


@pytest.mark.parametrize("language,temperature", [("en", 0.0), ("zh", 0.8)])
def test_the_desk_drafts_the_same_tokens_with_the_models_cache_as_without_it(finished_run, monkeypatch, language,
                                                                             temperature):
    """studio/write/prefix_cache.py on the real model (bf16 or fp32, as this machine's calibration
    chose): the walk of tests/test_prefix_cache.py, base then base and the trained run, with a
    1,024-token window so that it slides within the test."""
    from test_prefix_cache import EN, ZH, check_reuse, walk

    from studio.write import context, prefix_cache

    root, run_id = finished_run
    monkeypatch.setattr(prefix_cache, "CHUNK", 64)
    count, _ = context.counter_for(root, EMBEDDED_DEFAULT)
    monkeypatch.setitem(context._counters, EMBEDDED_DEFAULT, (count, 1024))
    text, grow = (EN, " The fog came in.") if language == "en" else (ZH, "雾来了。")
    ms = service.new_manuscript(root, f"cache {language}", text * 4, memory="A lighthouse.", note="Rain.")
    gen = GenConfig(max_new_tokens=6, temperature=temperature, seed=7, drafts=1 if temperature == 0 else 2)
    check_reuse(walk(root, ms.id, [["base"], ["base", run_id]], gen, text * 4, None, grow))
