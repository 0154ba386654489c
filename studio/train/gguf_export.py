"""A merged model as one GGUF file, for llama.cpp, Ollama and LM Studio.

The `gguf` package (llama.cpp's gguf-py) does the format: the writer, the key names, the
Hugging Face to GGUF tensor-name maps, the Q8_0/BF16 packing and the vocabulary readers.
What is left here is what llama.cpp's convert_hf_to_gguf.py does per architecture, for the
architectures the registry offers: which hyperparameters to write, the llama Q/K row order,
llama 3 rope factors, the token types and the pre-tokenizer name.

Tensors are spooled to a temporary file as they are converted (`use_temp_file`), so a 7B model
does not need a second copy of its weights in memory.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from studio.messages import Keyed

QUANTS = ("f16", "bf16", "q8_0")
# model_type (config.json) -> GGUF architecture name; every other architecture is refused.
ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}


class GGUFUnsupported(Keyed, ValueError):
    """A model or tokenizer this exporter cannot write; the message (a key in studio/messages.py
    and its values) says which and why."""


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    # convert_hf_to_gguf.py LlamaModel.permute: HF stores llama's rotary halves apart
    # ([x0..x63, x64..x127]); llama.cpp's rope pairs neighbours, so rows are interleaved per head.
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def llama3_rope_factors(config) -> np.ndarray | None:
    """The `rope_freqs` tensor llama.cpp reads for Llama 3.x's long-context rope scaling
    (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors), or None when there is none."""
    scaling = getattr(config, "rope_scaling", None) or {}
    if str(scaling.get("rope_type", scaling.get("type", ""))).lower() != "llama3":
        return None
    base = getattr(config, "rope_theta", None) or scaling.get("rope_theta", 10000.0)
    dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    factor = scaling.get("factor", 8.0)
    low, high = scaling.get("low_freq_factor", 1.0), scaling.get("high_freq_factor", 4.0)
    old_context = scaling.get("original_max_position_embeddings", 8192)
    factors = []
    for freq in freqs:
        wavelength = 2 * math.pi / freq
        if wavelength < old_context / high:
            factors.append(1.0)
        elif wavelength > old_context / low:
            factors.append(factor)
        else:
            smooth = (old_context / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(factors, dtype=np.float32)


def _pre_tokenizer(vocab: dict) -> str:
    """llama.cpp's name for the text splitting done before BPE. llama.cpp recognises it by hashing
    the tokenizer's output; the tokenizers the registry offers are told apart by their tokens."""
    if "<|begin_of_text|>" in vocab:
        return "llama-bpe"  # Llama 3.x
    if "<|im_start|>" in vocab and len(vocab) >= 151000:
        return "qwen2"  # Qwen2, Qwen2.5, Qwen3
    if "<|im_start|>" in vocab and len(vocab) == 49152:
        return "smollm"  # SmolLM2
    raise GGUFUnsupported("gguf.tokenizer")


def _write_vocab(writer, tokenizer_dir: Path, n_vocab: int) -> None:
    import gguf

    try:
        bpe = gguf.vocab.BpeVocab(tokenizer_dir)
    except (FileNotFoundError, ValueError) as e:
        raise GGUFUnsupported("gguf.not_bpe", error=e) from None
    tokens = [text if isinstance(text, bytes) else text.encode("utf-8") for text, _, _ in bpe.all_tokens()]
    types = [gguf.TokenType.NORMAL] * len(tokens)
    # Added tokens that the tokenizer marks special are CONTROL (never printed), the rest
    # USER_DEFINED, as convert_hf_to_gguf.py get_vocab_base() does.
    added = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8")).get("added_tokens", [])
    for item in added:
        if item["id"] < len(types):
            types[item["id"]] = gguf.TokenType.CONTROL if item.get("special") else gguf.TokenType.USER_DEFINED
    for i in range(len(tokens), n_vocab):  # embedding rows past the tokenizer: padding
        tokens.append(f"[PAD{i}]".encode())
        types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(bpe.vocab))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    # Merges, bos/eos/unk/pad ids, add_bos and the chat template, read from the tokenizer files.
    gguf.SpecialVocab(tokenizer_dir, load_merges=True, n_vocab=n_vocab).add_to_gguf(writer, quiet=True)


def _write_hyperparameters(writer, config, arch: str, file_type) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    theta = getattr(config, "rope_theta", None) or (getattr(config, "rope_parameters", None) or {}).get("rope_theta")
    if theta:
        writer.add_rope_freq_base(float(theta))
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // config.num_attention_heads:  # Qwen3 0.6B/4B: 128-wide heads
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(file_type)


def _tensor_type(name: str, array: np.ndarray, quant: str):
    """GGUF keeps norms, biases and rope factors (1-D) in F32, as llama.cpp does; a matrix whose
    rows do not split into 32-value Q8_0 blocks falls back to F16."""
    import gguf

    if array.ndim == 1:
        return gguf.GGMLQuantizationType.F32
    if quant == "q8_0":
        return gguf.GGMLQuantizationType.Q8_0 if array.shape[-1] % 32 == 0 else gguf.GGMLQuantizationType.F16
    return {"f16": gguf.GGMLQuantizationType.F16, "bf16": gguf.GGMLQuantizationType.BF16}[quant]


def _pack(array: np.ndarray, qtype) -> np.ndarray:
    import gguf

    if qtype == gguf.GGMLQuantizationType.F32:
        return array.astype(np.float32)
    if qtype == gguf.GGMLQuantizationType.F16:
        return array.astype(np.float16)
    return gguf.quants.quantize(array.astype(np.float32), qtype)  # BF16 / Q8_0 packed as bytes


def write_gguf(model, tokenizer_dir: Path, path: Path, quant: str = "f16", name: str = "") -> Path:
    """Write `model` (a transformers causal LM, unquantized) and the tokenizer saved in
    `tokenizer_dir` as `path`, one GGUF file with weights, hyperparameters and vocabulary."""
    import gguf

    if quant not in QUANTS:
        raise GGUFUnsupported("gguf.quant", quant=quant, choices=", ".join(QUANTS))
    config = model.config
    arch = ARCHITECTURES.get(config.model_type)
    if arch is None:
        raise GGUFUnsupported("gguf.architecture", arch=config.model_type, model=getattr(config, "_name_or_path", ""),
                              supported=", ".join(ARCHITECTURES))
    file_type = {"f16": gguf.LlamaFileType.MOSTLY_F16, "bf16": gguf.LlamaFileType.MOSTLY_BF16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[quant]
    writer = gguf.GGUFWriter(path, arch, use_temp_file=True)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name or getattr(config, "_name_or_path", "") or "studio model")
    _write_hyperparameters(writer, config, arch, file_type)
    if quant == "q8_0":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _write_vocab(writer, Path(tokenizer_dir), config.vocab_size)

    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch.upper()), config.num_hidden_layers)
    n_head = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_head
    rope_factors = llama3_rope_factors(config) if arch == "llama" else None
    if rope_factors is not None:
        writer.add_tensor(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", rope_factors)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and getattr(config, "tie_word_embeddings", False):
            continue  # llama.cpp reuses token_embd for the output when the two are tied
        if "rotary_emb" in hf_name:
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise GGUFUnsupported("gguf.tensor", tensor=hf_name, arch=config.model_type)
        array = tensor.detach().float().cpu().numpy()
        if arch == "llama" and hf_name.endswith("q_proj.weight"):
            array = _permute(array, n_head)
        elif arch == "llama" and hf_name.endswith("k_proj.weight"):
            array = _permute(array, n_kv)
        qtype = _tensor_type(gguf_name, array, quant)
        writer.add_tensor(gguf_name, _pack(array, qtype), raw_dtype=qtype)  # shape read from the packed bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
