"""Shared fixtures. Most tests run on a tiny random Llama built from a config, with a byte-level
BPE tokenizer trained on the sample corpus, saved as a local model folder: no hub, fast."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from studio.paths import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub
sys.path.insert(0, str(PROJECT_ROOT / "bench"))  # bench/layouts.py: corpora in writers' layouts, shared with the bench


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs the real embedded model end to end")
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU; skipped without one")


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-model")
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([SAMPLE.read_text(encoding="utf-8"), "写作工作室 中文 测试"], trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>")
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def small_corpora(monkeypatch):
    """For tests of readers and cleaning on inputs of a few sentences: the validation split may be
    one piece of 16 tokens instead of two and 256, and whole documents are held out from two
    documents on, so what was read comes back whole. The split itself is tested in test_split.py."""
    from studio.corpus import split

    monkeypatch.setattr(split, "MIN_VAL_TOKENS", 16)
    monkeypatch.setattr(split, "MIN_VAL_PIECES", 1)
    monkeypatch.setattr(split, "DOCUMENT_HOLDOUT_MIN_DOCS", 2)


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sample_corpus(root, tiny_model_dir) -> str:
    from studio import service

    service.ingest(root, [SAMPLE], "lamp", model=str(tiny_model_dir))
    return "lamp"


def tiny_overrides(model_dir: Path, **extra) -> list[str]:
    """--set pairs that make the quick preset run in seconds on the tiny model."""
    values = {"model": str(model_dir), "seq_len": 32, "batch_size": 2, "max_steps": 4, "learning_rate": 0.005, **extra}
    return [f"{k}={v}" for k, v in values.items()]


def free_port() -> int:
    """A loopback port nobody listens on now, for serving the app in a test."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finished_copy(root: Path, run_id: str, **status) -> str:
    """A second run of the same corpus with learning_rate doubled and lora_r 4, marked finished
    without training (for delete and compare)."""
    from studio import jobs, runs

    cfg = runs.read_config(runs.run_dir(root, run_id))
    cfg.learning_rate, cfg.lora_r = cfg.learning_rate * 2, 4
    other = jobs.create_run(root, cfg, preset="quick-cpu-demo")
    folder = runs.run_dir(root, other)
    finished = runs.read_status(folder)
    for name, value in {"state": runs.COMPLETED, **status}.items():
        setattr(finished, name, value)
    runs.RunFolder(folder).write_status(finished)
    return other

# Drafting tests run on the bf16 path the drafter used before it calibrated, training runs on the
# fp32 path the Train tab took before (tests/test_calibrate.py and tests/test_train_calibrate.py
# test the calibrations themselves): no test pays for timing three paths of its own tiny model.
os.environ.setdefault("STUDIO_DRAFT_PATH", "bf16")
os.environ.setdefault("STUDIO_TRAIN_PATH", "fp32")


# -- runs the desk drafts with (tests of the manuscript desk and its cache) ----------------------
@pytest.fixture
def made_run(root, tiny_model_dir, sample_corpus):
    """A run of the sample corpus that was never trained: enough for labels and the copied-text guard."""
    from studio import jobs, runs, service

    cfg = service.training_config(sample_corpus, "quick-cpu-demo", tiny_overrides(tiny_model_dir))
    run_id = jobs.create_run(root, cfg, preset="quick-cpu-demo")
    folder = runs.RunFolder.of(root, run_id)
    status = folder.status()
    status.state = runs.COMPLETED
    folder.write_status(status)
    return run_id


@pytest.fixture
def tuned_run(made_run, root, tiny_model_dir):
    """made_run with a final adapter of random LoRA weights (not zero: it drafts unlike the base)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio import runs

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    lora = LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(str(runs.run_dir(root, made_run) / "adapter"))
    return made_run
