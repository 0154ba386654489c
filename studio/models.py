"""Base models: the registry, the embedded default's safetensors cache, and loading (4-bit or not).

Every model, embedded, hub id or local folder, ends in the same `from_pretrained` call, with
`trust_remote_code` off.
"""
from __future__ import annotations

import fcntl
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from studio.messages import Keyed
from studio.paths import PROJECT_ROOT, models_dir

log = logging.getLogger(__name__)

EMBEDDED_DEFAULT = "smollm2-135m-instruct"
REGISTRY_FILE = PROJECT_ROOT / "presets" / "models.yaml"


class ModelUnavailable(Keyed, RuntimeError):
    """A model that cannot be had here; the message says which and what to do (a key in
    studio/messages.py and its values)."""


@dataclass
class ModelEntry:
    name: str
    source: str  # embedded | hub | local
    id: str = ""
    package: str = ""
    file: str = ""
    params_m: float = 0
    licence: str = ""
    gated: bool = False  # the hub asks for the licence to be accepted and a token
    description: str = ""


def registry() -> dict[str, ModelEntry]:
    data = yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))
    return {m["name"]: ModelEntry(**m) for m in data["models"]}


def resolve(model: str, root: Path) -> str:
    """What to hand to from_pretrained for `model`: a local folder path or a hub id."""
    entry = registry().get(model)
    if entry and entry.source == "embedded":
        return str(ensure_embedded_cache(entry, root))
    if entry:
        return entry.id
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelUnavailable("model.no_config", path=path)
        return str(path.resolve())
    if model.count("/") == 1 and not model.startswith((".", "/")):
        return model  # a hub id
    raise ModelUnavailable("model.unknown", model=model, names=", ".join(registry()))


def embedded_gguf_path(entry: ModelEntry) -> Path:
    # Located through the wheel's metadata, not by importing it: its __init__ needs packages we skip.
    try:
        dist = importlib.metadata.distribution(entry.package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelUnavailable("model.embedded_missing", model=entry.name, package=entry.package, version="0.1.2") from None
    path = Path(dist.locate_file(entry.file))
    if not path.exists():
        raise ModelUnavailable("model.embedded_file", package=entry.package, file=entry.file)
    return path


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_embedded_cache(entry: ModelEntry, root: Path) -> Path:
    """Convert the embedded GGUF into a safetensors folder once; later loads take seconds, not ~30 s.

    The folder is built under a temporary name and renamed into place, so an interrupted
    conversion never leaves a half cache; a lock keeps two processes from converting at once.
    """
    dest = models_dir(root) / entry.name
    if (dest / "config.json").exists():
        return dest
    with _file_lock(models_dir(root) / f".{entry.name}.lock"):
        if (dest / "config.json").exists():
            return dest
        for stale in models_dir(root).glob(f".{entry.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        gguf = embedded_gguf_path(entry)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=models_dir(root)))
        try:
            convert_gguf(gguf, tmp)
            if dest.exists():  # a folder without config.json: an old broken cache
                shutil.rmtree(dest)
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors (once, about 30 s)", gguf.name)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # transformers dequantizes GGUF weights on load but keeps a GGUF marker that blocks saving;
    # the weights are plain tensors now, so the marker can go.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def pick_device(preference: str = "auto") -> str:
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("model.no_cuda")
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


def compute_dtype(device: str, preference: str = "auto"):
    """bf16 where the GPU supports it; float32 on the CPU, where bf16 matmuls without AVX512-BF16/AMX
    run about 60x slower than float32 (measured 0.8 vs 54 GFLOP/s on the 2-core dev machine)."""
    import torch

    if preference != "auto":
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[preference]
    if device.startswith("cuda"):  # "cuda:1" under torchrun
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def model_facts(root: Path, model: str) -> tuple[float | None, dict | None]:
    """(parameters in millions, config.json) of a model, from what is on disk: never downloads,
    never converts."""
    entry = registry().get(model)
    config_path = None
    if entry and entry.source == "embedded":
        config_path = models_dir(root) / entry.name / "config.json"
    elif Path(model).expanduser().is_dir():
        config_path = Path(model).expanduser() / "config.json"
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(entry.id if entry else model, "config.json")
            config_path = Path(cached) if isinstance(cached, str) else None
        except Exception:  # noqa: BLE001 - an odd name is simply not in the cache
            config_path = None
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path and config_path.exists() else None
    params_m = entry.params_m if entry and entry.params_m else None
    if params_m is None and config and config.get("hidden_size"):
        h, layers, vocab = config["hidden_size"], config.get("num_hidden_layers", 0), config.get("vocab_size", 0)
        params_m = (12 * layers * h * h + vocab * h) / 1e6
    return params_m, config


def memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def bnb_config(quantization: str, dtype, double_quant: bool = True, uniform_storage: bool = False):
    """uniform_storage: 4-bit weights stored in `dtype` rather than uint8, so FSDP can shard them
    with the other weights (studio/train/shard.py)."""
    if quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quantization,  # nf4 or fp4
        bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=dtype,
        **({"bnb_4bit_quant_storage": dtype} if uniform_storage else {}),
    )


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as e:
        raise ModelUnavailable("model.cannot_fetch", model=source, error=str(e).splitlines()[0]) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(source: str, quantization: str, device: str, dtype_preference: str = "auto", double_quant: bool = True,
              uniform_storage: bool = False, training: bool = False):
    """The frozen base model on `device`: 4-bit (NF4/FP4), 8-bit, or 16/32-bit; `training` keeps a
    4-bit base trainable (keep_4bit_trainable)."""
    from transformers import AutoModelForCausalLM

    dtype = compute_dtype(device, dtype_preference)
    quantization = "nf4" if quantization == "auto" else quantization  # a run's `auto` is resolved before (train/calibrate.py)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source,
            dtype=dtype,
            quantization_config=bnb_config(quantization, dtype, double_quant, uniform_storage),
            device_map={"": device},
            trust_remote_code=False,
        )
    except OSError as e:
        raise ModelUnavailable("model.cannot_fetch", model=source, error=str(e).splitlines()[0]) from None
    model.config.use_cache = False
    return keep_4bit_trainable(model) if training else model


def keep_4bit_trainable(model):
    """A 4-bit base for training on the CPU: bitsandbytes (0.50) repacks a 4-bit layer for fast
    inference on CPUs with AVX512-BF16 the first time it runs in eval mode without gradients, and
    a repacked layer passes no gradient back to its input (with a bias it fails outright). The
    base evaluation before training runs exactly such a pass, so training turns the repacking off;
    drafting (inference only) keeps it. FSDP, too, must shard the stored layout, not a repacked one."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return model


def compute_end_to_end(model, dtype, gradient_checkpointing: bool = False):
    """The frozen base ready for LoRA training in `dtype` (bf16) end to end, in place of peft's
    prepare_model_for_kbit_training, which upcasts every weight bitsandbytes left unquantized
    (embeddings, norms, the LM head) to float32 so that the residual stream, attention, the LoRA
    products and the LM head all run in float32 and only the 4-bit products in bf16. Here those
    weights stay in `dtype` and the decoder runs under autocast, so the float32 LoRA weights (the
    optimizer's master copy) multiply in `dtype` too (lora_in_compute_dtype, once they exist). Each
    norm still takes its statistics in float32, and the loss is reduced in float32."""
    import torch

    keep = getattr(model, "_keep_in_fp32_modules", None) or []  # what a model's authors keep in float32 stays so
    for name, param in model.named_parameters():
        param.requires_grad_(False)
        if param.is_floating_point() and param.dtype != dtype and not any(k in name for k in keep):  # not 4-bit
            param.data = param.data.to(dtype)
    decoder = model.get_decoder()
    device_type = next(model.parameters()).device.type
    contexts = []

    def enter(module, args):
        contexts.append(torch.autocast(device_type, dtype=dtype))
        contexts[-1].__enter__()

    def leave(module, args, output):
        contexts.pop().__exit__(None, None, None)

    decoder.register_forward_pre_hook(enter)
    decoder.register_forward_hook(leave, always_call=True)  # also when the forward fails (out of memory)
    decoder.autocast_dtype = dtype
    if gradient_checkpointing:  # the recomputed layers run under the autocast they first ran under
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return model


def prepare_for_training(model, quantization: str, dtype, gradient_checkpointing: bool = False):
    """A frozen base loaded by load_base(training=True), ready for a LoRA adapter: in bf16 end to
    end under autocast (compute_end_to_end: the GPU path, and the CPU's where it multiplies bf16
    fast), a k-bit base through peft's recipe (float32 around the k-bit products), or as it is; input
    gradients on when layers are recomputed."""
    import torch

    if dtype == torch.bfloat16 and quantization != "int8":
        return compute_end_to_end(model, dtype, gradient_checkpointing)
    if quantization != "none":
        from peft import prepare_model_for_kbit_training

        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                               gradient_checkpointing_kwargs={"use_reentrant": False})
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return model


def lora_in_compute_dtype(model) -> None:
    """LoRA layers inside a decoder prepared by compute_end_to_end take their input as it comes
    (bf16) instead of casting it to their float32 weights: autocast runs their products in bf16,
    and no float32 copy of every layer's input is made and kept for the backward pass."""
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = causal_lm.get_decoder()
    if getattr(decoder, "autocast_dtype", None) is None:
        return
    for module in decoder.modules():
        if hasattr(module, "cast_input_dtype_enabled"):
            module.cast_input_dtype_enabled = False


def overview(root: Path) -> list[dict]:
    """The registry: what is cached here, its size on disk, and the memory its weights need."""
    from studio.estimate import WEIGHT_BYTES

    rows = []
    for entry in registry().values():
        folder = models_dir(root) / entry.name if entry.source == "embedded" else _hub_cache_folder(entry.id)
        cached = bool(folder and (folder / "config.json").exists())
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if cached else 0
        params = entry.params_m * 1e6
        rows.append({"name": entry.name, "source": entry.source, "id": entry.id or entry.package,
                     "params_m": entry.params_m, "cached": cached, "disk_gb": round(size / 1e9, 2),
                     "gb_4bit": round(params * WEIGHT_BYTES["nf4"] / 1e9, 2), "gb_16bit": round(params * 2 / 1e9, 2),
                     "licence": entry.licence, "gated": entry.gated, "description": entry.description})
    return rows


def _hub_cache_folder(repo_id: str) -> Path | None:
    """The snapshot folder of a hub model in the local hub cache, or None; never downloads."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - an odd id is simply not cached
        return None
    return Path(cached).parent if isinstance(cached, str) else None
