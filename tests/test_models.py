import pytest
import torch

from studio import models
from studio.messages import render
from studio.models import ModelUnavailable


def test_unknown_names_and_bad_folders_are_explained(tmp_path):
    with pytest.raises(ModelUnavailable, match="unknown model 'nope'"):
        models.resolve("nope", tmp_path)
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ModelUnavailable, match="no config.json"):
        models.resolve(str(tmp_path / "empty-model"), tmp_path)


def test_a_hub_model_that_cannot_be_fetched_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.resolve("qwen2.5-0.5b-instruct", tmp_path) == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(ModelUnavailable, match="cannot fetch model writing-studio-tests/absent: no network.*Models tab"):
        models.load_tokenizer("writing-studio-tests/absent")
    with pytest.raises(ModelUnavailable, match="cannot fetch model writing-studio-tests/absent: no network") as caught:
        models.load_base("writing-studio-tests/absent", "none", "cpu")
    assert "没有网络" in render("zh", caught.value) and "模型" in render("zh", caught.value)


def test_embedded_cache_is_all_or_nothing(tmp_path, monkeypatch):
    entry = models.registry()[models.EMBEDDED_DEFAULT]
    monkeypatch.setattr(models, "embedded_gguf_path", lambda e: tmp_path / "fake.gguf")

    def broken(gguf, out):
        (out / "config.json").write_text("{}")  # half written, then the process is interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "convert_gguf", broken)
    with pytest.raises(KeyboardInterrupt):
        models.ensure_embedded_cache(entry, tmp_path)
    cache = tmp_path / "models"
    assert not (cache / entry.name).exists()
    assert not list(cache.glob(".*tmp-*")), "no half cache is left behind"

    monkeypatch.setattr(models, "convert_gguf", lambda gguf, out: (out / "config.json").write_text("{}"))
    assert models.ensure_embedded_cache(entry, tmp_path) == cache / entry.name
    monkeypatch.setattr(models, "convert_gguf", broken)  # the cache is reused: no second conversion
    assert (models.ensure_embedded_cache(entry, tmp_path) / "config.json").exists()


def test_cpu_computes_in_float32_and_4bit_config_is_nf4_double_quant():
    assert models.compute_dtype("cpu") == torch.float32
    cfg = models.bnb_config("nf4", torch.float32)
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert models.bnb_config("none", torch.float32) is None


def test_tiny_local_model_loads_in_4bit_on_cpu(tiny_model_dir):
    model = models.load_base(str(tiny_model_dir), "nf4", "cpu")
    assert type(model.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    assert not model.config.to_dict().get("trust_remote_code", False)


def test_auto_quantization_is_nf4_on_a_gpu_and_fp32_where_it_fits_before_the_cpu_is_measured(tmp_path, monkeypatch):
    from studio import models
    from studio.train import calibrate

    monkeypatch.delenv(calibrate.FORCE_ENV, raising=False)
    monkeypatch.setattr(models, "memory_bytes", lambda: 16 * 2**30)

    def path(device, quantization="auto", params_m=135):
        found = calibrate.training_path(tmp_path, "m", device, quantization, "auto", params_m)
        return found.quantization, found.compute_dtype, found.note

    assert path("cuda:0")[0] == "nf4" and render("en", path("cuda:0")[2]).startswith("auto: 4-bit NF4 (QLoRA)")
    quantization, dtype, why = path("cpu")  # 0.5 GB of fp32 weights in 16 GB, no calibration yet
    assert (quantization, dtype) == ("none", "fp32") and "first run measures" in render("en", why)
    assert "第一次训练会先测" in render("zh", why)
    assert path("cpu", params_m=7000)[0] == "nf4"  # 28 GB of fp32 weights: too big
    assert path("cpu", params_m=None)[0] == "nf4"  # size unknown: the safe choice
    assert path("cpu", "int8")[0] == "int8"  # the writer's choice stays


def _first_layer_lora_grad(model, ids) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    return next(p.grad.clone() for n, p in model.named_parameters() if "lora_A" in n and ".0." in n)


def test_a_4bit_base_trained_on_the_cpu_keeps_its_gradients_after_an_evaluation_pass(tiny_model_dir):
    """bitsandbytes repacks a 4-bit layer for inference on CPUs with AVX512-BF16 the first time it
    runs in eval mode without gradients (the studio's base evaluation before training does that),
    and afterwards the layer passes no gradient back to its input: every LoRA below the last layer
    learns from a wrong gradient. The training base must stay trainable after an evaluation."""
    import bitsandbytes as bnb
    from peft import LoraConfig, get_peft_model

    from studio.models import keep_4bit_trainable

    model = keep_4bit_trainable(models.load_base(str(tiny_model_dir), "nf4", "cpu"))
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and not any(m.support_avx512bf16_for_cpu for m in layers)
    for m in layers:  # as on a CPU with AVX512-BF16, whatever this machine has
        m.support_avx512bf16_for_cpu = True
    model = get_peft_model(keep_4bit_trainable(model), LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    ids = torch.randint(3, 200, (1, 24), generator=torch.Generator().manual_seed(0))
    before = _first_layer_lora_grad(model, ids)
    model.eval()
    with torch.no_grad():
        model(input_ids=ids)  # the base evaluation
    after = _first_layer_lora_grad(model, ids)
    assert torch.allclose(before, after, atol=1e-5), "the evaluation pass changed the training gradients"
