"""Estimates before a run: steps, tokens, time and memory; and their display."""
from studio import jobs, runs, service
from studio.config import TrainConfig
from studio.estimate import memory_gb, plan
from studio.ui.views import estimate_markdown, eval_markdown

from conftest import tiny_overrides
from test_jobs import wait_until


def test_the_estimate_predicts_the_steps_the_run_takes(root, sample_corpus, tiny_model_dir):
    overrides = [o for o in tiny_overrides(tiny_model_dir) if not o.startswith("max_steps")] + ["epochs=2"]
    est = service.training_estimate(root, sample_corpus, "quick-cpu-demo", overrides)
    run_id = service.start_training(root, sample_corpus, "quick-cpu-demo", overrides)
    real_total = wait_until(lambda: runs.read_status(runs.run_dir(root, run_id)).total_steps, what="the run's plan")
    wait_until(lambda: runs.read_status(runs.run_dir(root, run_id)).pid, what="the worker's pid")
    service.cancel_run(root, run_id)
    jobs.wait(root, run_id, timeout=60)
    # packing makes a block per seq_len tokens plus one EOS per document: within a few percent
    assert abs(est["plan"]["steps"] - real_total) <= max(2, 0.1 * real_total), (est["plan"], real_total)
    assert est["memory"] is not None and est["params_m"] > 0  # the tiny model's config.json is read
    text = estimate_markdown(est)
    assert f"{est['plan']['steps']} steps" in text and "GB" in text


def test_four_bit_needs_less_memory_than_sixteen_bit_and_checkpointing_saves_activations():
    config = {"hidden_size": 2048, "num_hidden_layers": 24, "vocab_size": 32000}
    nf4 = memory_gb(TrainConfig(quantization="nf4", seq_len=1024), 1500, config, "cuda")
    full = memory_gb(TrainConfig(quantization="none", seq_len=1024), 1500, config, "cuda")
    checkpointed = memory_gb(TrainConfig(quantization="nf4", seq_len=1024, gradient_checkpointing=True), 1500, config, "cuda")
    assert nf4["base weights"] < full["base weights"] / 3
    assert checkpointed["activations"] < nf4["activations"] / 10
    assert memory_gb(TrainConfig(), None, None, "cpu") is None  # unknown model: no made-up figure


def test_plan_counts_steps_from_tokens_and_epochs():
    p = plan(TrainConfig(seq_len=100, batch_size=4, grad_accum=2, epochs=3), train_tokens=10_000, tokens_per_s=100)
    assert p["steps_per_epoch"] == 13 and p["steps"] == 39 and p["minutes"] == round(p["tokens"] / 100 / 60, 1)


def test_eval_table_shows_rouge_bleu_and_early_stopping():
    gen = {"rouge1": 20.0, "rouge2": 5.0, "rougeL": 18.0, "bleu": 3.0, "examples": 8}
    text = eval_markdown({"base": {"loss": 3.0, "perplexity": 20.1, "generation": gen},
                          "tuned": {"loss": 2.0, "perplexity": 7.4, "generation": {**gen, "rouge1": 31.5}},
                          "perplexity_change": -0.63, "tokens_seen": 1000, "train_seconds": 70,
                          "stopped_early": "stopped early at step 30"})
    assert "| ROUGE-1 (8 pairs) | 20.0 | 31.5 (+11.5) |" in text and "BLEU" in text and "Stopped early at step 30" in text
